//! A private `redis-server` per test, and helpers to look inside it.
//!
//! [`RedisServer::start`] launches the Debian `redis-server` binary on a free loopback port with its
//! own temporary directory, no persistence and no daemonising, and waits (bounded) until it answers
//! `PING`. Dropping the value kills the server and waits for it. [`RedisServer::stop`] and
//! [`RedisServer::start_again`] simulate an outage on the same port for fault tests;
//! [`RedisServer::start_persistent`] keeps an fsynced append-only file so data survives a `kill -9`.
//! [`RedisServer::start_tls`] listens with TLS only (`rediss://`), with a server certificate of a
//! [`TestCa`] made at run time; [`RedisServer::add_acl_user`] adds an ACL user with a password.
//!
//! The helpers use a short-lived synchronous connection each and panic with context on failure:
//! a failing helper is a failing test.

use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use redis::{FromRedisValue, Value};

use crate::tls::{ServerCertificate, TestCa};

/// How long a freshly started server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the Debian package installs the server; searched after `PATH`.
const FALLBACK_BINARIES: &[&str] = &["/usr/bin/redis-server", "/usr/sbin/redis-server"];

/// A `redis-server` process owned by one test.
///
/// It listens on `127.0.0.1:<port>` only and keeps its files in a private temporary directory that is
/// removed on drop.
#[derive(Debug)]
pub struct RedisServer {
    binary: PathBuf,
    port: u16,
    dir: tempfile::TempDir,
    persistent: bool,
    tls: Option<Tls>,
    child: Option<Child>,
}

/// The certificates of a server started with [`RedisServer::start_tls`].
#[derive(Debug)]
struct Tls {
    ca: TestCa,
    server: ServerCertificate,
}

/// The summary form of `XPENDING stream group`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingSummary {
    /// Number of entries delivered to some consumer and not yet acknowledged.
    pub count: u64,
    /// Pending entries per consumer name.
    pub per_consumer: BTreeMap<String, u64>,
}

/// One row of the extended form of `XPENDING stream group - + count [consumer]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingEntry {
    /// Stream entry id.
    pub id: String,
    /// Consumer that holds the entry.
    pub consumer: String,
    /// Milliseconds since the entry was last delivered.
    pub idle_ms: u64,
    /// How many times the entry was delivered.
    pub deliveries: u64,
}

/// An `XRANGE` row before decoding: id and field/value pairs with raw values.
type RawEntry = (String, Vec<(String, Vec<u8>)>);

/// A stream entry as read with `XRANGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// Stream entry id.
    pub id: String,
    /// Field/value pairs (values decoded as UTF-8, lossy).
    pub fields: HashMap<String, String>,
}

impl RedisServer {
    /// Starts a private server without persistence (`--save "" --appendonly no`).
    ///
    /// # Panics
    /// When `redis-server` is not installed (the message says `apt-get install redis-server`) or does
    /// not answer `PING` within 10 s.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// Starts a private server that keeps an append-only file fsynced on every write, so that
    /// [`stop`](Self::stop) (`kill -9`) followed by [`start_again`](Self::start_again) keeps the data.
    ///
    /// # Panics
    /// Like [`start`](Self::start).
    pub fn start_persistent() -> Self {
        Self::launch(true)
    }

    /// Starts a private server without persistence that speaks TLS only: `--port 0 --tls-port
    /// <port>`, a server certificate for `127.0.0.1` and `localhost` signed by a new [`TestCa`]
    /// ([`ca`](Self::ca)), no client certificates (`--tls-auth-clients no`). [`url`](Self::url) is
    /// then `rediss://...`, and [`client`](Self::client) and every helper trust that CA.
    ///
    /// # Panics
    /// Like [`start`](Self::start); also when `openssl` is not installed (`apt-get install
    /// openssl`) or `redis-server` was built without TLS.
    pub fn start_tls() -> Self {
        let ca = TestCa::new("dc-testkit redis CA");
        let server = ca.issue_server_certificate("redis-server");
        Self::launch_with(false, Some(Tls { ca, server }))
    }

    fn launch(persistent: bool) -> Self {
        Self::launch_with(persistent, None)
    }

    fn launch_with(persistent: bool, tls: Option<Tls>) -> Self {
        let binary = find_binary().unwrap_or_else(|| {
            panic!(
                "redis-server not found: apt-get install redis-server \
                 (searched PATH and {FALLBACK_BINARIES:?})"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("dc-testkit-redis-")
            .tempdir()
            .expect("creating a temporary directory for redis-server");
        let mut server = Self {
            binary,
            port: 0,
            dir,
            persistent,
            tls,
            child: None,
        };
        // Another process may grab the free port between our probe and redis-server's bind; try a
        // few ports before giving up.
        let mut last_error = String::new();
        for _ in 0..5 {
            server.port = free_port();
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(error) => last_error = error,
            }
        }
        panic!("redis-server did not start: {last_error}");
    }

    /// The TCP port the server listens on (on `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`, or `rediss://...` for a server started with
    /// [`start_tls`](Self::start_tls).
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}/", self.scheme(), self.port)
    }

    /// [`url`](Self::url) with the ACL user `user` and `password` (both used as given: keep
    /// them to letters, digits and `-`).
    pub fn url_for_user(&self, user: &str, password: &str) -> String {
        format!(
            "{}://{user}:{password}@127.0.0.1:{}/",
            self.scheme(),
            self.port
        )
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        }
    }

    /// The CA that signed the certificate of a server started with [`start_tls`](Self::start_tls);
    /// `None` for a plain server.
    pub fn ca(&self) -> Option<&TestCa> {
        self.tls.as_ref().map(|tls| &tls.ca)
    }

    /// A client for this server (as the default user; trusting [`ca`](Self::ca) over TLS).
    pub fn client(&self) -> redis::Client {
        match &self.tls {
            None => redis::Client::open(self.url()).expect("a loopback redis URL is valid"),
            Some(tls) => {
                // The redis crate asks rustls for the process's crypto provider; install ring
                // (the one the workspace builds) in case no other code did. An error means one
                // is installed already.
                let _ = rustls::crypto::ring::default_provider().install_default();
                redis::Client::build_with_tls(
                    self.url(),
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(tls.ca.cert_pem().into_bytes()),
                    },
                )
                .expect("the test CA's certificate is valid PEM")
            }
        }
    }

    /// The server's private directory (log file, append-only file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Whether the server process is running (it was not [`stop`](Self::stop)ped).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kills the server (`SIGKILL`) and waits for it: an abrupt outage. Does nothing when stopped.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The process may already have exited; either way `wait` reaps it.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port after [`stop`](Self::stop).
    ///
    /// # Panics
    /// When the server is still running or does not come back within 10 s (for example because
    /// another process took the port in the meantime).
    pub fn start_again(&mut self) {
        assert!(
            self.child.is_none(),
            "start_again: redis-server is still running"
        );
        // The kernel may need a moment to release the port; retry briefly.
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(error) if Instant::now() >= deadline => {
                    panic!(
                        "redis-server did not restart on port {}: {error}",
                        self.port
                    )
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// [`stop`](Self::stop) then [`start_again`](Self::start_again).
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    // Test infrastructure: this is the one place that starts redis-server for tests, so it builds the
    // command itself instead of going through dc-adapters' production spawn choke point.
    #[allow(clippy::disallowed_methods)]
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log_file = self.dir.path().join("redis.log");
        let port = self.port.to_string();
        let mut command = std::process::Command::new(&self.binary);
        match &self.tls {
            None => command.arg("--port").arg(&port),
            Some(tls) => command
                .args(["--port", "0", "--tls-port"])
                .arg(&port)
                .arg("--tls-cert-file")
                .arg(&tls.server.cert)
                .arg("--tls-key-file")
                .arg(&tls.server.key)
                .arg("--tls-ca-cert-file")
                .arg(tls.ca.cert_file())
                .args(["--tls-auth-clients", "no"]),
        };
        command
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--daemonize", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(&log_file);
        if self.persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Errors in the arguments (an option this build lacks, such as --tls-port without
            // TLS support) go to stderr, not to the log file.
            .stderr(
                std::fs::File::create(self.dir.path().join("redis.stderr"))
                    .map_err(|error| format!("creating redis.stderr: {error}"))?,
            )
            .spawn()
            .map_err(|error| format!("spawning {}: {error}", self.binary.display()))?;
        self.child = Some(child);

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                let log = std::fs::read_to_string(&log_file).unwrap_or_default();
                let stderr = std::fs::read_to_string(self.dir.path().join("redis.stderr"))
                    .unwrap_or_default();
                return Err(format!(
                    "exited with {status}; stderr:\n{stderr}\nlog:\n{log}"
                ));
            }
            if self.ping().is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.stop();
                let log = std::fs::read_to_string(&log_file).unwrap_or_default();
                return Err(format!(
                    "no PING answer within {START_TIMEOUT:?}; log:\n{log}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ping(&self) -> redis::RedisResult<()> {
        let mut connection = self
            .client()
            .get_connection_with_timeout(Duration::from_millis(500))?;
        redis::cmd("PING").query::<String>(&mut connection)?;
        Ok(())
    }

    /// A fresh synchronous connection (1 s connect timeout, 10 s read timeout).
    ///
    /// # Panics
    /// When the server does not accept the connection.
    pub fn connection(&self) -> redis::Connection {
        let connection = self
            .client()
            .get_connection_with_timeout(Duration::from_secs(1))
            .unwrap_or_else(|error| panic!("connecting to redis on port {}: {error}", self.port));
        connection
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("setting a read timeout on a fresh connection");
        connection
    }

    /// Runs one command on a fresh connection and converts the reply.
    ///
    /// # Panics
    /// When the command fails.
    pub fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> T {
        command
            .query(&mut self.connection())
            .unwrap_or_else(|error| panic!("redis command failed: {error}"))
    }

    /// `XADD stream * k v ...`; returns the new entry's id.
    pub fn xadd(&self, stream: &str, fields: &[(&str, &str)]) -> String {
        let mut command = redis::cmd("XADD");
        command.arg(stream).arg("*");
        for (key, value) in fields {
            command.arg(key).arg(value);
        }
        self.query(&command)
    }

    /// Adds many entries in one pipeline; returns their ids in order.
    pub fn xadd_many(&self, stream: &str, entries: &[Vec<(String, String)>]) -> Vec<String> {
        let mut pipeline = redis::pipe();
        for fields in entries {
            let command = pipeline.cmd("XADD").arg(stream).arg("*");
            for (key, value) in fields {
                command.arg(key).arg(value);
            }
        }
        pipeline
            .query(&mut self.connection())
            .unwrap_or_else(|error| panic!("pipelined XADD failed: {error}"))
    }

    /// `XGROUP CREATE stream group $ MKSTREAM`; an existing group is fine.
    pub fn create_group(&self, stream: &str, group: &str) {
        let result: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg("$")
            .arg("MKSTREAM")
            .query(&mut self.connection());
        match result {
            Ok(()) => {}
            Err(error) if error.code() == Some("BUSYGROUP") => {}
            Err(error) => panic!("XGROUP CREATE failed: {error}"),
        }
    }

    /// `XREADGROUP GROUP group consumer COUNT count STREAMS stream >` without acknowledging: makes
    /// `consumer` hold entries as a crashed worker would. Returns the delivered ids.
    pub fn read_as(&self, stream: &str, group: &str, consumer: &str, count: usize) -> Vec<String> {
        let reply: Value = self.query(
            redis::cmd("XREADGROUP")
                .arg("GROUP")
                .arg(group)
                .arg(consumer)
                .arg("COUNT")
                .arg(count)
                .arg("STREAMS")
                .arg(stream)
                .arg(">"),
        );
        let mut ids = Vec::new();
        if let Value::Array(streams) = reply {
            for stream in streams {
                if let Value::Array(mut pair) = stream
                    && pair.len() == 2
                    && let Value::Array(entries) = pair.remove(1)
                {
                    for entry in entries {
                        if let Value::Array(mut parts) = entry
                            && !parts.is_empty()
                        {
                            ids.push(
                                String::from_redis_value(parts.swap_remove(0))
                                    .expect("a stream entry id is a string"),
                            );
                        }
                    }
                }
            }
        }
        ids
    }

    /// `XPENDING stream group` (summary form).
    pub fn pending_summary(&self, stream: &str, group: &str) -> PendingSummary {
        let reply: Value = self.query(redis::cmd("XPENDING").arg(stream).arg(group));
        let Value::Array(items) = reply else {
            panic!("unexpected XPENDING reply: {reply:?}");
        };
        let mut items = items.into_iter();
        let count = items
            .next()
            .map(|value| u64::from_redis_value(value).expect("XPENDING count is an integer"))
            .unwrap_or(0);
        let mut per_consumer = BTreeMap::new();
        if let Some(Value::Array(consumers)) = items.nth(2) {
            for consumer in consumers {
                let (name, n_pending): (String, String) =
                    FromRedisValue::from_redis_value(consumer).expect("XPENDING consumer row");
                per_consumer.insert(name, n_pending.parse().expect("pending count is numeric"));
            }
        }
        PendingSummary {
            count,
            per_consumer,
        }
    }

    /// `XPENDING stream group - + 10000 [consumer]` (extended form), in id order.
    pub fn pending_entries(
        &self,
        stream: &str,
        group: &str,
        consumer: Option<&str>,
    ) -> Vec<PendingEntry> {
        let mut command = redis::cmd("XPENDING");
        command.arg(stream).arg(group).arg("-").arg("+").arg(10_000);
        if let Some(consumer) = consumer {
            command.arg(consumer);
        }
        let rows: Vec<(String, String, u64, u64)> = self.query(&command);
        rows.into_iter()
            .map(|(id, consumer, idle_ms, deliveries)| PendingEntry {
                id,
                consumer,
                idle_ms,
                deliveries,
            })
            .collect()
    }

    /// All entries of a stream (`XRANGE stream - +`), for example the dead-letter stream.
    pub fn range(&self, stream: &str) -> Vec<StreamEntry> {
        let rows: Vec<RawEntry> = self.query(redis::cmd("XRANGE").arg(stream).arg("-").arg("+"));
        rows.into_iter()
            .map(|(id, pairs)| StreamEntry {
                id,
                fields: pairs
                    .into_iter()
                    .map(|(key, value)| (key, String::from_utf8_lossy(&value).into_owned()))
                    .collect(),
            })
            .collect()
    }

    /// The entries of the dead-letter stream `dlq` (same as [`range`](Self::range)).
    pub fn dead_letters(&self, dlq: &str) -> Vec<StreamEntry> {
        self.range(dlq)
    }

    /// `XLEN stream`.
    pub fn stream_len(&self, stream: &str) -> u64 {
        self.query(redis::cmd("XLEN").arg(stream))
    }

    /// `HGETALL key`.
    pub fn hgetall(&self, key: &str) -> HashMap<String, String> {
        self.query(redis::cmd("HGETALL").arg(key))
    }

    /// `ACL SETUSER name on >password ~* &* +@all`: an ACL user with every right, who
    /// authenticates with `AUTH name password` (see [`url_for_user`](Self::url_for_user)).
    pub fn add_acl_user(&self, name: &str, password: &str) {
        self.acl_setuser(name, &["on", &format!(">{password}"), "~*", "&*", "+@all"]);
    }

    /// `ACL SETUSER name rules...`, for users with fewer rights than
    /// [`add_acl_user`](Self::add_acl_user) gives.
    pub fn acl_setuser(&self, name: &str, rules: &[&str]) {
        self.query::<()>(redis::cmd("ACL").arg("SETUSER").arg(name).arg(rules));
    }

    /// The user name of every connected client (`CLIENT LIST`'s `user=`), this query's own
    /// connection (the default user) included: who authenticated as whom.
    pub fn client_users(&self) -> Vec<String> {
        let list: String = self.query(redis::cmd("CLIENT").arg("LIST"));
        list.lines()
            .filter_map(|line| {
                line.split(' ')
                    .find_map(|field| field.strip_prefix("user="))
                    .map(str::to_owned)
            })
            .collect()
    }

    /// `FLUSHALL`: simulates Redis losing its data.
    pub fn flushall(&self) {
        self.query::<()>(&redis::cmd("FLUSHALL"));
    }

    /// Calls per command from `INFO commandstats`, keyed by lower-case command name (`xack`,
    /// `xreadgroup`, ...).
    pub fn command_calls(&self) -> BTreeMap<String, u64> {
        let info: String = self.query(redis::cmd("INFO").arg("commandstats"));
        parse_commandstats(&info)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Parses `cmdstat_xack:calls=3,usec=...` lines of `INFO commandstats`.
fn parse_commandstats(info: &str) -> BTreeMap<String, u64> {
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .split(',')
                .find_map(|stat| stat.strip_prefix("calls="))?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

fn find_binary() -> Option<PathBuf> {
    crate::program::find_program(
        "redis-server",
        std::env::var_os("PATH").as_deref(),
        FALLBACK_BINARIES,
    )
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free loopback port");
    listener
        .local_addr()
        .expect("a bound listener has an address")
        .port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commandstats_lines_are_parsed() {
        let info = "# Commandstats\r\ncmdstat_xack:calls=3,usec=10,usec_per_call=3.33\r\n\
                    cmdstat_xreadgroup:calls=12,usec=1,usec_per_call=0.1,rejected_calls=0\r\n";
        let calls = parse_commandstats(info);
        assert_eq!(calls.get("xack"), Some(&3));
        assert_eq!(calls.get("xreadgroup"), Some(&12));
    }

    #[test]
    fn server_starts_answers_and_survives_a_restart_with_persistence() {
        let mut server = RedisServer::start_persistent();
        let id = server.xadd("s", &[("a", "1")]);
        server.restart();
        let entries = server.range("s");
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].id, id);
        assert_eq!(entries[0].fields["a"], "1");
    }

    #[test]
    fn a_tls_server_speaks_only_tls_and_its_helpers_trust_its_ca() {
        let mut server = RedisServer::start_tls();
        assert!(
            server.url().starts_with("rediss://127.0.0.1:"),
            "{}",
            server.url()
        );
        let id = server.xadd("s", &[("a", "1")]);
        server.restart();
        assert!(
            server.range("s").is_empty(),
            "no persistence, and the restart worked"
        );
        assert_ne!(server.xadd("s", &[("a", "2")]), id);
        // Plain TCP on the TLS port gets no answer.
        let plain = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port()))
            .expect("a valid URL");
        let refused = plain
            .get_connection_with_timeout(Duration::from_secs(2))
            .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection));
        assert!(refused.is_err(), "{refused:?}");
    }

    #[test]
    fn an_acl_user_authenticates_with_its_password_only() {
        let server = RedisServer::start();
        server.add_acl_user("worker", "pw-1");
        let as_user = |password: &str| {
            let client =
                redis::Client::open(server.url_for_user("worker", password)).expect("valid URL");
            let mut connection = client.get_connection_with_timeout(Duration::from_secs(2))?;
            redis::cmd("ACL")
                .arg("WHOAMI")
                .query::<String>(&mut connection)
        };
        assert_eq!(as_user("pw-1").expect("the right password"), "worker");
        let wrong = as_user("pw-2").expect_err("a wrong password");
        assert_eq!(
            wrong.kind(),
            redis::ErrorKind::AuthenticationFailed,
            "{wrong}"
        );
        let users = server.client_users();
        assert!(users.contains(&"default".to_owned()), "{users:?}");
    }

    #[test]
    fn pending_helpers_see_a_reader_that_did_not_ack() {
        let server = RedisServer::start();
        server.create_group("s", "g");
        server.xadd("s", &[("a", "1")]);
        server.xadd("s", &[("a", "2")]);
        let ids = server.read_as("s", "g", "dead", 10);
        assert_eq!(ids.len(), 2);
        let summary = server.pending_summary("s", "g");
        assert_eq!(summary.count, 2);
        assert_eq!(summary.per_consumer.get("dead"), Some(&2));
        let rows = server.pending_entries("s", "g", Some("dead"));
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].deliveries, 1);
    }
}
