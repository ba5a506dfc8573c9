//! A real Samba AD domain controller for tests, provisioned into a temporary directory and bound
//! to a loopback address of its own.
//!
//! [`SambaDc::start`] provisions a throwaway domain the way a linuxmuster.net server has one
//! (realm `LINUXMUSTER.LAN`, NetBIOS domain `LINUXMUSTER`, host name `server`, the internal DNS
//! server), following the recipe of `../shared/recorded/samba/README.md`:
//!
//! * every file samba writes (databases, pid file, sockets, logs) stays under the DC's temporary
//!   directory: `smb.conf` gets its own pid, ncalrpc, winbindd and ntp_signd directories and log
//!   file, no `dns forwarder` (nothing leaves the machine) and `server services = -dnsupdate`;
//! * it binds one loopback address `127.0.0.x` only (`interfaces = 127.0.0.x/8`,
//!   `bind interfaces only`), chosen free and locked for the DC's lifetime, so test processes
//!   running at once do not collide on ports 53, 88, 389 or 445;
//! * the administrator's password is the one provisioning generated; it lives in a 0600 file that
//!   samba-tool reads through `PASSWD_FILE` ([`password_file`](SambaDc::password_file)), so no
//!   command line ever carries it;
//! * `samba` runs in the foreground in its own process group; dropping the value stops the whole
//!   process tree. It is started through `setpriv --pdeathsig TERM` from a thread that lives as
//!   long as samba does, and with `--maximum-runtime`, so a test process that dies or exits never
//!   leaves a DC behind.
//!
//! Once samba answers, the linuxmuster OU layout `OU=SCHOOLS` / `OU=Devices,OU=<school>` is created
//! for [`SCHOOLS`], and the reverse zones [`REVERSE_ZONES`] of the test subnets.
//!
//! Provisioning and start take 5–10 s, so one DC per test process is the rule:
//! [`SambaDc::shared`]. Tests sharing it use host names and IP addresses of their own.
//!
//! The DC needs root and the Debian packages `samba`, `samba-ad-dc`, `samba-ad-provision` and
//! `bind9-host`; without them it panics with the `apt-get install` line.

use std::fs::File;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

use crate::sandbox::fake_dc_file;

/// The Kerberos realm.
pub const REALM: &str = "LINUXMUSTER.LAN";
/// The NetBIOS domain.
pub const NETBIOS_DOMAIN: &str = "LINUXMUSTER";
/// The DNS domain (`LINBO_DOMAIN`).
pub const DNS_DOMAIN: &str = "linuxmuster.lan";
/// The DC's host name.
pub const HOST_NAME: &str = "server";
/// The administrator account samba-tool authenticates as.
pub const ADMIN_USER: &str = "administrator";
/// Schools whose `OU=Devices,OU=<school>,OU=SCHOOLS` the DC has from the start (others are
/// created on demand, as sophomorix does).
pub const SCHOOLS: [&str; 2] = ["default-school", "gym"];
/// Reverse zones created at start: the test subnets `10.0.100.0/24`, `10.0.200.0/24`,
/// `10.0.210.0/24` and `10.1.100.0/24`. sophomorix creates a missing reverse zone itself, and so
/// does the fake import (`fixtures/fake-dc/sophomorix_ad.py`).
pub const REVERSE_ZONES: [&str; 4] = [
    "100.0.10.in-addr.arpa",
    "200.0.10.in-addr.arpa",
    "210.0.10.in-addr.arpa",
    "100.1.10.in-addr.arpa",
];

/// The Debian packages the DC needs.
pub const PACKAGES: &str = "samba samba-ad-dc samba-ad-provision bind9-host";

/// The files the DC needs, with the package that has each.
const PROGRAMS: [(&str, &str); 6] = [
    ("/usr/sbin/samba", "samba"),
    ("/usr/bin/samba-tool", "samba-common-bin"),
    (
        "/usr/share/samba/setup/provision.ldif",
        "samba-ad-provision",
    ),
    ("/usr/bin/python3", "python3"),
    ("/usr/bin/host", "bind9-host"),
    ("/usr/bin/setpriv", "util-linux"),
];

/// The prefix of a DC's temporary directory.
const DIR_PREFIX: &str = "dc-testkit-samba-";
/// The file in a DC's directory naming the test process that owns it.
const OWNER_FILE: &str = "owner.pid";

/// How long samba may take to answer after it was started.
const READY_TIMEOUT: Duration = Duration::from_secs(90);
/// How long samba gets between SIGTERM and SIGKILL when it is stopped.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// samba stops by itself after this long (`--maximum-runtime`), should nothing else stop it.
const MAXIMUM_RUNTIME_SEC: u32 = 3600;

/// A running Samba AD DC owned by this test process.
#[derive(Debug)]
pub struct SambaDc {
    /// Holds every file of the DC; removed on drop.
    dir: tempfile::TempDir,
    address: Ipv4Addr,
    password: String,
    process: Mutex<Option<Process>>,
    /// `flock`ed for the DC's lifetime, so no other test process takes the address.
    _address_lock: File,
}

/// The samba process and the thread that started it and waits for it.
#[derive(Debug)]
struct Process {
    pid: Pid,
    waiter: JoinHandle<()>,
}

impl SambaDc {
    /// The DC shared by every test of this process: started on first use, stopped when the
    /// process ends.
    ///
    /// # Panics
    /// Like [`start`](Self::start); every later call panics with the same message.
    pub fn shared() -> &'static SambaDc {
        static SHARED: OnceLock<Result<SambaDc, String>> = OnceLock::new();
        let started = SHARED.get_or_init(|| {
            std::panic::catch_unwind(SambaDc::start).map_err(|panic| {
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                    .unwrap_or_else(|| "the Samba DC did not start".to_owned())
            })
        });
        match started {
            Ok(dc) => dc,
            Err(message) => panic!("{message}"),
        }
    }

    /// Provisions and starts a DC of its own; dropping it stops samba and removes its files.
    ///
    /// # Panics
    /// When not run as root, when a program is missing (the message names the packages), when no
    /// loopback address is free, or when samba does not answer within 90 s (the message has the
    /// tail of its log).
    pub fn start() -> SambaDc {
        require_programs();
        assert!(
            rustix::process::geteuid().is_root(),
            "a Samba AD DC needs root (samba binds privileged ports and owns its databases): run \
             the tests as root"
        );
        remove_abandoned_dirs();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .expect("creating a temporary directory for the Samba DC");
        std::fs::write(dir.path().join(OWNER_FILE), std::process::id().to_string())
            .expect("writing the Samba DC's owner file");
        let (address, address_lock) = free_address();
        let password = provision(dir.path(), address);
        let dc = SambaDc {
            dir,
            address,
            password,
            process: Mutex::new(None),
            _address_lock: address_lock,
        };
        dc.write_password_file();
        dc.spawn();
        dc.wait_until_ready();
        dc.lay_out();
        dc
    }

    /// The loopback address the DC listens on.
    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    /// The DC's DNS server: its address, port 53 (the worker's `DNS_SERVER`).
    pub fn dns_server(&self) -> SocketAddr {
        SocketAddr::from((self.address, 53))
    }

    /// The DC's directory (databases, `etc/smb.conf`, `log/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The DC's `smb.conf`, for `SMB_CONF_PATH`.
    pub fn smb_conf(&self) -> PathBuf {
        self.dir().join("etc/smb.conf")
    }

    /// A 0600 file holding only the administrator's password, for samba's `PASSWD_FILE`.
    pub fn password_file(&self) -> PathBuf {
        self.dir().join("administrator.password")
    }

    /// The administrator's password (generated at provisioning), e.g. to write a samba
    /// authentication file for the worker.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The text of a samba authentication file (`username=`, `password=`, `domain=`) for the
    /// administrator.
    pub fn auth_file_text(&self) -> String {
        format!(
            "username={ADMIN_USER}\npassword={}\ndomain={NETBIOS_DOMAIN}\n",
            self.password
        )
    }

    /// Runs the real samba-tool against this DC (`SMB_CONF_PATH`), authenticated as the
    /// administrator (`-U administrator`, password through `PASSWD_FILE`).
    pub fn samba_tool(&self, words: &[&str]) -> Output {
        #[allow(
            clippy::disallowed_methods,
            reason = "test infrastructure runs the real samba-tool"
        )]
        let output = Command::new("/usr/bin/samba-tool")
            .args(words)
            .args(["-U", ADMIN_USER])
            .env("SMB_CONF_PATH", self.smb_conf())
            .env("PASSWD_FILE", self.password_file())
            .env_remove("PASSWD")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|error| panic!("running samba-tool {words:?}: {error}"));
        output
    }

    /// Like [`samba_tool`](Self::samba_tool), and panics with its output when it fails.
    pub fn samba_tool_ok(&self, words: &[&str]) -> String {
        let output = self.samba_tool(words);
        assert!(
            output.status.success(),
            "samba-tool {} failed ({}): {}{}",
            words.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The computer accounts, lowercase and without the trailing `$`, sorted.
    pub fn computers(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .samba_tool_ok(&["computer", "list"])
            .lines()
            .map(|line| line.trim().trim_end_matches('$').to_lowercase())
            .filter(|name| !name.is_empty())
            .collect();
        names.sort();
        names
    }

    /// Whether the computer account `name` exists (any case, without `$`).
    pub fn has_computer(&self, name: &str) -> bool {
        self.computers().contains(&name.to_lowercase())
    }

    /// The distinguished name of computer `name`, if it exists.
    pub fn computer_dn(&self, name: &str) -> Option<String> {
        let output = self.samba_tool(&["computer", "show", name]);
        if !output.status.success() {
            return None;
        }
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("dn: ").map(str::to_owned))
    }

    /// The addresses of the A records of `name` (a host name in [`DNS_DOMAIN`], or a FQDN), as
    /// the DC's DNS server answers.
    pub fn a_records(&self, name: &str) -> Vec<String> {
        let fqdn = if name.contains('.') {
            name.to_owned()
        } else {
            format!("{name}.{DNS_DOMAIN}")
        };
        self.host_answers(&["-t", "A", &fqdn], " has address ")
    }

    /// The names the PTR records of `ip` point to (without the trailing dot).
    pub fn ptr_records(&self, ip: &str) -> Vec<String> {
        self.host_answers(&["-t", "PTR", ip], " domain name pointer ")
    }

    fn host_answers(&self, words: &[&str], marker: &str) -> Vec<String> {
        let output = self
            .host(words)
            .unwrap_or_else(|error| panic!("running host {words:?}: {error}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let answers: Vec<String> = stdout
            .lines()
            .filter_map(|line| line.split_once(marker))
            .map(|(_, data)| data.trim().trim_end_matches('.').to_owned())
            .collect();
        let not_found = stdout.contains("NXDOMAIN") || stdout.contains(" has no ");
        assert!(
            output.status.success() || not_found,
            "host {} {} failed ({}): {stdout}{}",
            words.join(" "),
            self.address,
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        answers
    }

    /// Adds computer `host` of `school` in `room` the way sophomorix does (uppercase
    /// `<school>-<host>` outside default-school, `sAMAccountName` with `$`, `dNSHostName`, SPNs),
    /// through `fixtures/fake-dc/sophomorix_ad.py`.
    pub fn add_computer(&self, school: &str, room: &str, host: &str) {
        #[allow(
            clippy::disallowed_methods,
            reason = "test infrastructure runs samba's Python bindings"
        )]
        let output = Command::new("/usr/bin/python3")
            .arg(fake_dc_file("sophomorix_ad.py"))
            .args(self.sophomorix_ad_options())
            .args([
                "add-computer",
                "--school",
                school,
                "--room",
                room,
                "--host",
                host,
            ])
            .stdin(Stdio::null())
            .output()
            .expect("running /usr/bin/python3 sophomorix_ad.py");
        assert!(
            output.status.success(),
            "adding computer {host}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The common options of `sophomorix_ad.py` for this DC.
    pub fn sophomorix_ad_options(&self) -> Vec<String> {
        vec![
            "--smb-conf".to_owned(),
            self.smb_conf().display().to_string(),
            "--server".to_owned(),
            self.address.to_string(),
            "--passwd-file".to_owned(),
            self.password_file().display().to_string(),
        ]
    }

    /// Adds an A record `name` → `ip` in [`DNS_DOMAIN`].
    pub fn add_a(&self, name: &str, ip: &str) {
        self.samba_tool_ok(&["dns", "add", &self.server(), DNS_DOMAIN, name, "A", ip]);
    }

    /// Adds a PTR record `ip` → `fqdn` in the reverse zone of `ip`'s first three octets.
    pub fn add_ptr(&self, ip: &str, fqdn: &str) {
        let octets: Vec<&str> = ip.split('.').collect();
        assert_eq!(octets.len(), 4, "{ip} is not an IPv4 address");
        let zone = format!("{}.{}.{}.in-addr.arpa", octets[2], octets[1], octets[0]);
        self.samba_tool_ok(&["dns", "add", &self.server(), &zone, octets[3], "PTR", fqdn]);
    }

    /// The tail of samba's own log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir().join("log/samba.out")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn server(&self) -> String {
        self.address.to_string()
    }

    fn write_password_file(&self) {
        let path = self.password_file();
        let mut file = File::create(&path)
            .unwrap_or_else(|error| panic!("creating {}: {error}", path.display()));
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .and_then(|()| file.write_all(self.password.as_bytes()))
            .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
    }

    /// Starts samba from a thread that waits for it: `setpriv --pdeathsig TERM` makes the kernel
    /// signal samba when that thread ends, which is when samba ends or this process exits.
    fn spawn(&self) {
        let log_path = self.dir().join("log/samba.out");
        let smb_conf = self.smb_conf();
        let (started, receiver) = mpsc::channel();
        let waiter = std::thread::Builder::new()
            .name("samba-dc".to_owned())
            .spawn(move || {
                let log = match File::create(&log_path) {
                    Ok(log) => log,
                    Err(error) => {
                        let _ =
                            started.send(Err(format!("creating {}: {error}", log_path.display())));
                        return;
                    }
                };
                let log_err = log.try_clone().expect("duplicating a file handle");
                #[allow(
                    clippy::disallowed_methods,
                    reason = "test infrastructure runs the real samba"
                )]
                let spawned = Command::new("/usr/bin/setpriv")
                    .args(["--pdeathsig", "TERM", "--", "/usr/sbin/samba"])
                    .args([
                        "--foreground",
                        "--no-process-group",
                        "--debug-stdout",
                        "-d",
                        "1",
                        &format!("--maximum-runtime={MAXIMUM_RUNTIME_SEC}"),
                        "-s",
                    ])
                    .arg(&smb_conf)
                    .env_remove("SMB_CONF_PATH")
                    .stdin(Stdio::null())
                    .stdout(log)
                    .stderr(log_err)
                    // Its own process group, so stopping it stops smbd, winbindd and the workers.
                    .process_group(0)
                    .spawn();
                match spawned {
                    Ok(mut child) => {
                        let pid = child.id();
                        let _ = started.send(Ok(pid));
                        let _ = child.wait();
                    }
                    Err(error) => {
                        let _ = started.send(Err(format!("starting samba: {error}")));
                    }
                }
            })
            .expect("starting the samba-dc thread");
        let pid = match receiver.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(message)) => panic!("{message}"),
            Err(_) => panic!("the samba-dc thread ended without starting samba"),
        };
        let pid = Pid::from_raw(i32::try_from(pid).expect("a pid fits i32"))
            .expect("a child's pid is positive");
        *self.process.lock().expect("samba process lock") = Some(Process { pid, waiter });
    }

    fn running(&self) -> bool {
        self.process
            .lock()
            .expect("samba process lock")
            .as_ref()
            .is_some_and(|process| !process.waiter.is_finished())
    }

    /// Waits until the DNS RPC server (which `samba-tool dns` uses) and the DNS server answer.
    /// `host WORDS… ADDRESS`: asks the DC's own DNS server.
    fn host(&self, words: &[&str]) -> std::io::Result<Output> {
        #[allow(
            clippy::disallowed_methods,
            reason = "test infrastructure asks the DC's DNS server"
        )]
        Command::new("/usr/bin/host")
            .args(words)
            .arg(self.address.to_string())
            .stdin(Stdio::null())
            .output()
    }

    fn wait_until_ready(&self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let server = self.server();
        let fqdn = format!("{HOST_NAME}.{DNS_DOMAIN}");
        loop {
            assert!(
                self.running(),
                "samba exited during its start; its log ends with:\n{}",
                self.log_tail()
            );
            let rpc = self
                .samba_tool(&["dns", "zonelist", &server])
                .status
                .success();
            if rpc {
                let dns = self
                    .host(&["-W", "2", "-t", "A", &fqdn])
                    .is_ok_and(|output| {
                        String::from_utf8_lossy(&output.stdout).contains(" has address ")
                    });
                if dns {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "samba did not answer within {READY_TIMEOUT:?}; its log ends with:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The OUs of [`SCHOOLS`] and the zones of [`REVERSE_ZONES`].
    fn lay_out(&self) {
        self.samba_tool_ok(&["ou", "create", "OU=SCHOOLS"]);
        for school in SCHOOLS {
            self.samba_tool_ok(&["ou", "create", &format!("OU={school},OU=SCHOOLS")]);
            self.samba_tool_ok(&[
                "ou",
                "create",
                &format!("OU=Devices,OU={school},OU=SCHOOLS"),
            ]);
        }
        let server = self.server();
        for zone in REVERSE_ZONES {
            self.samba_tool_ok(&["dns", "zonecreate", &server, zone]);
        }
    }

    /// SIGTERM to samba's process group, SIGKILL after [`STOP_GRACE`].
    fn stop(&self) {
        let Some(process) = self.process.lock().expect("samba process lock").take() else {
            return;
        };
        // The group may already be gone; then there is nothing to stop.
        let _ = kill_process_group(process.pid, Signal::TERM);
        let deadline = Instant::now() + STOP_GRACE;
        while !process.waiter.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = kill_process_group(process.pid, Signal::KILL);
        let _ = process.waiter.join();
    }
}

impl Drop for SambaDc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes the directories of DCs whose test process is gone. The [`shared`](SambaDc::shared)
/// DC is never dropped, so its directory (about 45 MB) outlives its process until the next start.
fn remove_abandoned_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if !entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let path = entry.path();
        let owner = std::fs::read_to_string(path.join(OWNER_FILE)).unwrap_or_default();
        let alive = owner
            .trim()
            .parse::<u32>()
            .is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        // A directory without an owner file is one being set up right now, or a broken one that
        // a later start (with its owner file written) does not create: keep it unless it is old.
        let old = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .is_ok_and(|modified| {
                modified.elapsed().unwrap_or_default() > Duration::from_secs(3600)
            });
        if !alive && (!owner.is_empty() || old) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn require_programs() {
    let missing: Vec<String> = PROGRAMS
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .map(|(path, package)| format!("{path} (package {package})"))
        .collect();
    assert!(
        missing.is_empty(),
        "a real Samba AD DC is needed and {} missing: apt-get install {PACKAGES}",
        missing.join(", ")
    );
}

/// A loopback address `127.0.0.x` that no other test process holds and nothing listens on, and
/// the lock that keeps it ours.
fn free_address() -> (Ipv4Addr, File) {
    let start = std::process::id() % 240;
    for offset in 0..240 {
        let last = 10 + u8::try_from((start + offset) % 240).expect("below 240");
        let address = Ipv4Addr::new(127, 0, 0, last);
        let lock_path = std::env::temp_dir().join(format!("dc-testkit-samba-{address}.lock"));
        let Ok(lock) = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
        else {
            continue;
        };
        if lock.try_lock().is_err() {
            continue;
        }
        // A DC of a killed test run may still be on it (until its maximum runtime).
        let free = [53, 88, 135, 389, 445]
            .iter()
            .all(|port| TcpListener::bind((address, *port)).is_ok())
            && UdpSocket::bind((address, 53)).is_ok();
        if free {
            return (address, lock);
        }
    }
    panic!("no free loopback address 127.0.0.10..=249 for a Samba DC");
}

/// `samba-tool domain provision` into `dir`, then the `smb.conf` edits of the recipe. Returns the
/// administrator's password provisioning generated (so none is given on its command line).
fn provision(dir: &Path, address: Ipv4Addr) -> String {
    #[allow(
        clippy::disallowed_methods,
        reason = "test infrastructure provisions a real Samba domain"
    )]
    let output = Command::new("/usr/bin/samba-tool")
        .args([
            "domain",
            "provision",
            "--use-rfc2307",
            &format!("--realm={REALM}"),
            &format!("--domain={NETBIOS_DOMAIN}"),
            "--server-role=dc",
            "--dns-backend=SAMBA_INTERNAL",
            &format!("--host-name={HOST_NAME}"),
            &format!("--host-ip={address}"),
            &format!("--option=interfaces={address}/8"),
            "--option=bind interfaces only=yes",
        ])
        .arg(format!("--targetdir={}", dir.display()))
        .env_remove("SMB_CONF_PATH")
        .stdin(Stdio::null())
        .output()
        .expect("running samba-tool domain provision");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The generated password stays out of every message (CI logs show panics).
    let shown: String = text
        .lines()
        .map(|line| match line.split_once("Admin password:") {
            Some((before, _)) => format!("{before}Admin password: ***\n"),
            None => format!("{line}\n"),
        })
        .collect();
    assert!(
        output.status.success(),
        "samba-tool domain provision failed ({}):\n{shown}",
        output.status
    );
    let password = text
        .lines()
        .find_map(|line| {
            line.split_once("Admin password:")
                .map(|(_, rest)| rest.trim())
        })
        .filter(|password| !password.is_empty())
        .unwrap_or_else(|| panic!("provisioning printed no generated admin password:\n{shown}"))
        .to_owned();

    let smb_conf = dir.join("etc/smb.conf");
    let original = std::fs::read_to_string(&smb_conf)
        .unwrap_or_else(|error| panic!("reading {}: {error}", smb_conf.display()));
    let dir_text = dir.display();
    let ours = format!(
        "[global]\n\
         \tpid directory = {dir_text}/run\n\
         \tncalrpc dir = {dir_text}/run/ncalrpc\n\
         \twinbindd socket directory = {dir_text}/run/winbindd\n\
         \tntp signd socket directory = {dir_text}/run/ntp_signd\n\
         \tlog file = {dir_text}/log/log.%m\n\
         \tserver services = -dnsupdate\n"
    );
    let edited: String = original
        .lines()
        .filter(|line| {
            let key = line.trim_start();
            !(key.starts_with("dns forwarder") || key.starts_with("log file"))
        })
        .map(|line| {
            if line.trim() == "[global]" {
                ours.clone()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    assert!(
        edited.contains("pid directory"),
        "no [global] section in {}",
        smb_conf.display()
    );
    for sub in ["run", "log"] {
        std::fs::create_dir_all(dir.join(sub)).expect("creating the DC's run and log directories");
    }
    std::fs::write(&smb_conf, edited)
        .unwrap_or_else(|error| panic!("writing {}: {error}", smb_conf.display()));
    password
}
