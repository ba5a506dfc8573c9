//! The end-to-end harness: Redis, the fake API, a sandbox DC and the worker process.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dc_testkit::fake_api::{macct_operation, provision_operation};
use dc_testkit::{FakeApi, RedisServer, SambaDc, SandboxDc};
use serde_json::Value;

pub(crate) const API_KEY: &str = "e2e-secret-key";
pub(crate) const LINBO_DOCKER_IP: &str = "10.0.0.13";
pub(crate) const STREAM: &str = "linbo:jobs";
pub(crate) const DLQ: &str = "linbo:jobs:dlq";
pub(crate) const GROUP: &str = "dc-workers";
pub(crate) const CONSUMER: &str = "dc-e2e";
/// Long enough for a batch with a debounce of 1 s on a busy 2-core machine.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// A master with two hand-managed hosts (one a printer with a role and extra columns).
pub(crate) const MASTER: &str = "\
# devices.csv of default-school, maintained by hand
r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;classroom-studentcomputer;;1;;;;hand-made
r100;r100-pr01;nopxe;00:1A:2B:3C:4D:02;10.0.100.2;;;;printer;;0;;;;
";

pub(crate) struct Harness {
    pub(crate) redis: RedisServer,
    pub(crate) api: FakeApi,
    pub(crate) dc: SandboxDc,
    samba: Option<&'static SambaDc>,
    worker: Option<Child>,
    starts: u32,
    next_id: AtomicU64,
}

impl Harness {
    /// Everything but the worker: Redis (with the group, as the API creates it), the fake API,
    /// the sandbox DC with `MASTER`, the hook installed, and the worker's configuration with
    /// `extra` lines appended (later lines win).
    pub(crate) async fn new(extra: &str) -> Harness {
        Harness::with_redis(RedisServer::start(), extra).await
    }

    pub(crate) async fn with_redis(redis: RedisServer, extra: &str) -> Harness {
        let dc = SandboxDc::new();
        dc.write_master("default-school", MASTER);
        dc.write(
            "/etc/linbo-dc/samba.auth",
            "username=administrator\npassword=e2e-samba-password\n",
        );
        Harness::assemble(redis, dc, extra).await
    }

    /// Like [`new`](Self::new), with the sandbox wired to the real Samba AD DC of this test
    /// process ([`SambaDc::shared`]): samba-tool, `host` and the import's AD/DNS sync act on it.
    /// `master` is default-school's devices.csv (hosts of its own: the DC is shared by every
    /// test of the process); `SAMBA_TOOL_AUTH_FILE` holds the DC's administrator and
    /// `SAMBA_DNS_SERVER` is its address.
    pub(crate) async fn with_samba(master: &str, extra: &str) -> Harness {
        let samba = SambaDc::shared();
        let dc = SandboxDc::with_samba(samba);
        dc.write_master("default-school", master);
        dc.write("/etc/linbo-dc/samba.auth", &samba.auth_file_text());
        let extra = format!("SAMBA_DNS_SERVER={}\n{extra}", samba.address());
        let mut harness = Harness::assemble(RedisServer::start(), dc, &extra).await;
        harness.samba = Some(samba);
        harness
    }

    async fn assemble(redis: RedisServer, dc: SandboxDc, extra: &str) -> Harness {
        redis.create_group(STREAM, GROUP);
        let api = FakeApi::start(API_KEY).await;
        dc.install_hook(&hook_binary(), LINBO_DOCKER_IP);
        dc.write_worker_config(&format!(
            "# end-to-end test configuration\n\
             REDIS_HOST=127.0.0.1\n\
             REDIS_PORT={port}\n\
             API_URL={api_url}\n\
             API_KEY={API_KEY}\n\
             CONSUMER_NAME={CONSUMER}\n\
             PROVISION_DEBOUNCE_SEC=1\n\
             DHCP_VERIFY_FILE=/etc/dhcp/devices/{{school}}.conf\n\
             SAMBA_TOOL_AUTH_FILE=/etc/linbo-dc/samba.auth\n\
             DNS_SERVER={dns}\n\
             API_TIMEOUT_SEC=2\n\
             MACCT_RETRY_BACKOFF_SEC=1\n\
             HEARTBEAT_INTERVAL_SEC=1\n\
             HEARTBEAT_TTL_SEC=3\n\
             IMPORT_TIMEOUT_SEC=60\n\
             {extra}\n",
            port = redis.port(),
            api_url = api.base_url(),
            dns = dc.dns_server(),
        ));
        Harness {
            redis,
            api,
            dc,
            samba: None,
            worker: None,
            starts: 0,
            next_id: AtomicU64::new(1),
        }
    }

    /// The real Samba DC of a harness made with [`with_samba`](Self::with_samba).
    pub(crate) fn samba(&self) -> &'static SambaDc {
        self.samba.expect("a harness made with Harness::with_samba")
    }

    /// Starts the worker; its log goes to `worker-<n>.log` in the sandbox.
    pub(crate) fn start_worker(&mut self) {
        self.start_worker_with_env(&[]);
    }

    /// Starts the worker with extra environment variables (they override the file).
    pub(crate) fn start_worker_with_env(&mut self, env: &[(&str, &str)]) {
        assert!(self.worker.is_none(), "the worker is already running");
        self.starts += 1;
        let log = File::create(self.log_path(self.starts)).expect("worker log file");
        #[allow(
            clippy::disallowed_methods,
            reason = "the test runs the binary under test"
        )]
        let child = Command::new(env!("CARGO_BIN_EXE_linbo-dc-worker"))
            .arg("--root")
            .arg(self.dc.root())
            .arg("-c")
            .arg("/etc/macct-worker.conf")
            .arg("-v")
            .env_remove("LINBO_DC_ROOT")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("starting linbo-dc-worker");
        self.worker = Some(child);
    }

    /// Runs another `linbo-dc-worker` to its end with this harness's root and configuration,
    /// `args` (a subcommand) and `env` overriding the file; stdout and stderr are captured.
    pub(crate) fn run_cli(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let args: Vec<&str> = ["-c", "/etc/macct-worker.conf"]
            .into_iter()
            .chain(args.iter().copied())
            .collect();
        run_cli_in(&self.dc, &args, env)
    }

    /// `kill -9` the worker.
    pub(crate) fn kill_worker(&mut self) {
        let mut child = self.worker.take().expect("a running worker");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaping the worker");
    }

    /// SIGTERM, then waits for the exit (at most 30 s).
    pub(crate) fn stop_worker(&mut self) -> ExitStatus {
        signal(self.worker.as_ref().expect("a running worker"), "-TERM");
        self.wait_for_exit(Duration::from_secs(30))
    }

    /// Waits (at most `patience`) for the worker to exit by itself; its exit status.
    pub(crate) fn wait_for_exit(&mut self, patience: Duration) -> ExitStatus {
        let mut child = self.worker.take().expect("a running worker");
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = child.try_wait().expect("waiting for the worker") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "the worker did not exit within {patience:?}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id of the running worker.
    #[allow(
        dead_code,
        reason = "used by the end-to-end benchmark, not by every test"
    )]
    pub(crate) fn worker_pid(&self) -> Option<u32> {
        self.worker.as_ref().map(Child::id)
    }

    /// Whether the worker process is still running.
    pub(crate) fn worker_running(&mut self) -> bool {
        self.worker
            .as_mut()
            .is_some_and(|child| child.try_wait().expect("polling the worker").is_none())
    }

    fn log_path(&self, start: u32) -> PathBuf {
        self.dc.root().join(format!("worker-{start}.log"))
    }

    /// Every worker log so far.
    pub(crate) fn logs(&self) -> String {
        (1..=self.starts)
            .map(|start| {
                format!(
                    "--- worker run {start} ---\n{}",
                    std::fs::read_to_string(self.log_path(start)).unwrap_or_default()
                )
            })
            .collect()
    }

    fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("00000000-0000-4000-8000-{n:012x}")
    }

    /// A provisioning operation in the API and its stream entry; returns the operation id.
    pub(crate) fn provision(&self, school: &str, options: Value) -> String {
        let (id, fields) = self.provision_entry(school, options);
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();
        self.redis.xadd(STREAM, &fields);
        id
    }

    /// Like [`provision`](Self::provision) for many jobs, in order, their stream entries added
    /// in one pipeline (the benchmark enqueues thousands); returns the operation ids.
    #[allow(
        dead_code,
        reason = "used by the end-to-end benchmark, not by every test"
    )]
    pub(crate) fn provision_many(&self, jobs: Vec<(&str, Value)>) -> Vec<String> {
        let (ids, entries): (Vec<String>, Vec<Vec<(String, String)>>) = jobs
            .into_iter()
            .map(|(school, options)| self.provision_entry(school, options))
            .unzip();
        self.redis.xadd_many(STREAM, &entries);
        ids
    }

    /// A provisioning operation put into the API; its id and the fields of its stream entry.
    fn provision_entry(&self, school: &str, options: Value) -> (String, Vec<(String, String)>) {
        let id = self.new_id();
        let action = options["action"]
            .as_str()
            .expect("options.action")
            .to_owned();
        self.api
            .insert_operation(provision_operation(&id, school, options));
        let fields = [
            ("type", "provision_host"),
            ("operation_id", id.as_str()),
            ("action", action.as_str()),
            ("school", school),
            ("attempt", "0"),
            ("created_at", "2026-11-26T08:00:00Z"),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .to_vec();
        (id, fields)
    }

    /// A machine-account operation in the API and its stream entry; returns the operation id.
    pub(crate) fn macct(&self, host: &str, school: &str) -> String {
        let id = self.new_id();
        self.api
            .insert_operation(macct_operation(&id, host, school, 0));
        self.redis.xadd(
            STREAM,
            &[
                ("type", "macct_repair"),
                ("operation_id", &id),
                ("host", host),
                ("school", school),
                ("attempt", "0"),
                ("created_at", "2026-11-26T08:00:00Z"),
            ],
        );
        id
    }

    /// The operation as the API holds it now.
    pub(crate) fn operation(&self, id: &str) -> Value {
        self.api.operation(id).expect("a known operation")
    }

    /// Waits until every operation is `completed` or `failed`; returns them.
    pub(crate) async fn finished(&self, ids: &[&str]) -> Vec<Value> {
        self.finished_within(ids, PATIENCE).await
    }

    /// Like [`finished`](Self::finished), with a deadline of `patience` instead of [`PATIENCE`]
    /// (the benchmark waits longer: it reports a slow worker instead of failing on it).
    pub(crate) async fn finished_within(&self, ids: &[&str], patience: Duration) -> Vec<Value> {
        let deadline = Instant::now() + patience;
        loop {
            let operations: Vec<Value> = ids.iter().map(|id| self.operation(id)).collect();
            if operations.iter().all(is_final) {
                return operations;
            }
            if Instant::now() > deadline {
                panic!(
                    "operations not finished within {patience:?}: {:#?}\n{}",
                    operations
                        .iter()
                        .filter(|op| !is_final(op))
                        .map(|op| (op["id"].clone(), op["status"].clone()))
                        .collect::<Vec<_>>(),
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until operation `id` is final, asserts it `failed`, and returns its error.
    pub(crate) async fn failure(&self, id: &str) -> String {
        let done = self.finished(&[id]).await;
        assert_eq!(
            done[0]["status"],
            "failed",
            "{:#}\n{}",
            done[0],
            self.logs()
        );
        done[0]["error"]
            .as_str()
            .expect("a failed operation has an error")
            .to_owned()
    }

    /// Like [`finished`](Self::finished), and asserts `completed` for each.
    pub(crate) async fn completed(&self, ids: &[&str]) -> Vec<Value> {
        self.completed_within(ids, PATIENCE).await
    }

    /// Like [`finished_within`](Self::finished_within), and asserts `completed` for each.
    pub(crate) async fn completed_within(&self, ids: &[&str], patience: Duration) -> Vec<Value> {
        let operations = self.finished_within(ids, patience).await;
        for operation in &operations {
            assert_eq!(
                operation["status"],
                "completed",
                "operation {} did not complete: {:#}\n{}",
                operation["id"],
                operation,
                self.logs()
            );
        }
        operations
    }

    /// Waits until nothing is pending in the group (every entry acknowledged or dead-lettered).
    pub(crate) async fn drained(&self) {
        let deadline = Instant::now() + PATIENCE;
        while self.redis.pending_summary(STREAM, GROUP).count > 0 {
            assert!(
                Instant::now() < deadline,
                "entries still pending\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The statuses reported for `id`, in order.
    pub(crate) fn statuses(&self, id: &str) -> Vec<String> {
        self.api
            .status_bodies(id)
            .iter()
            .map(|body| body["status"].as_str().unwrap_or("?").to_owned())
            .collect()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(mut child) = self.worker.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs `linbo-dc-worker --root <dc> ARGS` to its end, stdout and stderr captured. The worker's
/// configuration keys are removed from the environment the test process passes on, so only
/// `env` overrides the sandbox's files.
pub(crate) fn run_cli_in(
    dc: &SandboxDc,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    #[allow(
        clippy::disallowed_methods,
        reason = "the test runs the binary under test"
    )]
    let mut command = Command::new(env!("CARGO_BIN_EXE_linbo-dc-worker"));
    command
        .arg("--root")
        .arg(dc.root())
        .args(args)
        .env_remove("LINBO_DC_ROOT")
        .stdin(Stdio::null());
    for key in linbo_dc::worker::config::KEYS {
        command.env_remove(key);
    }
    command
        .envs(env.iter().copied())
        .output()
        .expect("running linbo-dc-worker")
}

/// Waits until `condition` holds, at most [`PATIENCE`]; panics with `what` and the logs.
pub(crate) async fn wait_until(harness: &Harness, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            harness.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn is_final(operation: &Value) -> bool {
    matches!(operation["status"].as_str(), Some("completed" | "failed"))
}

/// The options of a create and a delete job.
#[allow(
    unused_imports,
    reason = "the end-to-end benchmark includes this file and deletes nothing"
)]
pub(crate) use dc_testkit::fake_api::{create_options as create, delete_options as delete};

/// The `linbo-dc-dhcp-hook` binary next to this test's or benchmark's binary: tests run from
/// `target/debug/deps/` and find `target/debug/linbo-dc-dhcp-hook` (built by `cargo test
/// --workspace`, which `just test` runs); the end-to-end benchmark runs from
/// `target/release/deps/` and finds `target/release/linbo-dc-dhcp-hook` (built by `just bench`).
pub(crate) fn hook_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let hook = dir.join("linbo-dc-dhcp-hook");
    let build = if dir.ends_with("release") {
        "`cargo build --release -p linbo-dc-dhcp-hook`; `just bench` does"
    } else {
        "`cargo build -p linbo-dc-dhcp-hook`; `just test` and `cargo test --workspace` do"
    };
    assert!(
        hook.exists(),
        "{} is missing: build it first ({build})",
        hook.display()
    );
    hook
}

fn signal(child: &Child, name: &str) {
    #[allow(
        clippy::disallowed_methods,
        reason = "the test signals the process under test"
    )]
    let status = Command::new("kill")
        .arg(name)
        .arg(child.id().to_string())
        .status()
        .expect("running kill");
    assert!(status.success(), "kill {name} failed");
}

/// Devices file records (hostname → line) of `text`.
pub(crate) fn hosts(text: &str) -> Vec<String> {
    let file = devices_csv::DevicesFile::parse(text);
    file.records()
        .map(|(_, record)| record.hostname_key().into_owned())
        .collect()
}

/// The `next-server` of host block `name` in a DHCP file, via the lossless parser.
pub(crate) fn next_server(dhcp: &str, name: &str) -> Option<String> {
    let config = dhcpd_conf::Config::parse(dhcp).expect("the DHCP file parses");
    config
        .host(name)
        .unwrap_or_else(|| panic!("no host block {name} in:\n{dhcp}"))
        .next_server()
        .map(str::to_owned)
}
