//! A sandbox DC root: a directory standing for `/` with the fake DC commands of
//! `fixtures/fake-dc/` installed where linuxmuster keeps the real ones.
//!
//! The worker daemon resolves every DC path through a root directory
//! (`/usr/sbin/linuxmuster-import-devices` → `<root>/usr/sbin/linuxmuster-import-devices`), so an
//! end-to-end test hands it a [`SandboxDc`] root and the worker runs the fakes without knowing.
//! [`SandboxDc::new`] lays out:
//!
//! * the fake commands ([`FAKE_COMMANDS`]) as symlinks to the launcher
//!   `fixtures/fake-dc/sandboxed`, which sources the `env` file next to the link (`usr/bin/env`,
//!   `usr/sbin/env`: `LINBO_DC_ROOT='<root>'` plus the knobs set with [`SandboxDc::knobs`]) and
//!   runs the fake of the link's name; `usr/bin/python3` runs the system `python3` with that
//!   environment;
//! * the repair script [`REPAIR_SCRIPT`] as a symlink to `fixtures/fake-dc/repair_macct.py`;
//! * the directories the DC has and the worker and the fakes expect ([`DIRECTORIES`]), and
//!   `/etc/linuxmuster/subnets.csv` ([`SUBNETS_CSV`]).
//!
//! A test that hands a fake to an adapter directly, or needs two launchers of one command with
//! different knobs at once, makes a launcher of its own with [`SandboxDc::launcher`]. For the DHCP
//! post-import hook, [`SandboxDc::write_dhcpd_conf`] writes linuxmuster's DHCP server
//! configuration so that the real `dhcpd -t` reads the sandbox's files. [`SandboxDc::run`] runs a
//! program (a launcher, or a binary under test with `--root`) and returns how it ended.
//!
//! The fakes keep the DC's state as files under `var/lib/fake-dc/`: AD objects in `ad/<name>`,
//! DNS A records in `dns/<name>`, PTR records in `ptr/<ip>`, and every call in `calls.log`; the
//! inspection methods ([`ad_objects`](SandboxDc::ad_objects), [`calls`](SandboxDc::calls), …) read
//! them. The knobs each fake understands are listed in the fake's header comment.
//! [`SandboxDc::dns`] starts a [`FakeDns`] answering A and PTR queries from the same files, and
//! [`SandboxDc::dns_server`] is the address for the worker's `DNS_SERVER` in either kind of
//! sandbox.
//!
//! Every method takes paths relative to the root; a leading `/` is allowed, so the DC's name of a
//! file works as well (`"/etc/macct-worker.conf"`). Writes go through a temporary file in the root
//! and a rename, so a worker running at the same time never reads half a file. Failures panic with
//! the path: a failing helper is a failing test.
//!
//! Only symlinks to committed files are made executable here, never freshly written executables:
//! a fresh executable can be kept open for writing by another test thread's `fork` and then fail
//! to run with `ETXTBSY`.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::dns::FakeDns;
use crate::samba::SambaDc;

/// The fake commands, as the DC names them; each is a symlink to the launcher in the sandbox.
pub const FAKE_COMMANDS: [&str; 4] = [
    "/usr/sbin/linuxmuster-import-devices",
    "/usr/sbin/sophomorix-device",
    "/usr/bin/samba-tool",
    "/usr/bin/python3",
];

/// The repair script as the DC names it (the worker's default `REPAIR_SCRIPT`).
pub const REPAIR_SCRIPT: &str = "/usr/share/linuxmuster/linbo/repair_macct.py";

/// The worker's configuration file as the DC names it.
pub const WORKER_CONFIG: &str = "/etc/macct-worker.conf";

/// The DHCP hook's configuration file as the DC names it.
pub const HOOK_CONFIG: &str = "/etc/linbo-docker-dhcp.conf";

/// Directories [`SandboxDc::new`] creates (relative to the root).
pub const DIRECTORIES: [&str; 8] = [
    "etc/linuxmuster/sophomorix/default-school",
    "etc/dhcp/devices",
    "var/lib/linuxmuster/hooks/device-import.post.d",
    "var/log/macct",
    "var/log/linuxmuster",
    "var/lib/linbo-dc",
    "var/lock",
    "var/lib/fake-dc",
];

/// The `/etc/linuxmuster/subnets.csv` a new sandbox gets: linuxmuster-base7's template
/// (`share/templates/subnets.csv`) filled in for the server network `10.0.0.0/16` and a second
/// subnet `10.1.0.0/16`, so the fake import writes DHCP blocks for fixed IPs in both (it skips
/// fixed IPs outside every subnet, as the real one does). Tests may overwrite it.
pub const SUBNETS_CSV: &str = "\
# /etc/linuxmuster/subnets.csv
#
# Network/Prefix ; Router-IP (last available IP in network) ; 1. Range-IP ; Last-Range-IP ;Namserver(use lmn server if empty);nextserver (tftp server leave empty for default; SETUP-Flag
#
# server subnet definition
10.0.0.0/16;10.0.255.254;10.0.100.1;10.0.100.254;;;SETUP

# add your subnets below
10.1.0.0/16;10.1.255.254;10.1.100.1;10.1.100.254;;;
";

/// The `/etc/dhcp/subnets.conf` [`SandboxDc::write_dhcpd_conf`] writes: one subnet declaration
/// over `10.0.0.0/8`, which holds both networks of [`SUBNETS_CSV`], so that `dhcpd -t` finds a
/// subnet for every fixed address the fake import writes. A DC has one declaration per line of
/// subnets.csv; `dhcpd -t` needs no more than one that fits.
pub const DHCPD_SUBNETS_CONF: &str = "\
subnet 10.0.0.0 netmask 255.0.0.0 {
  option routers 10.0.0.254;
  range 10.0.200.1 10.0.200.254;
}
";

/// Where the post-import hook is installed by [`SandboxDc::install_hook`] (relative to the root).
pub const HOOK_LINK: &str = "var/lib/linuxmuster/hooks/device-import.post.d/50-linbo-docker-dhcp";

/// The directories holding a launcher link, and so an `env` file.
const LAUNCHER_DIRS: [&str; 2] = ["usr/bin", "usr/sbin"];

/// A directory standing for the DC's `/`, with fake DC commands installed.
///
/// Made by [`new`](Self::new) in a temporary directory that is removed on drop, or by
/// [`at`](Self::at) in a given directory that is kept.
#[derive(Debug)]
pub struct SandboxDc {
    /// The canonical root directory.
    root: PathBuf,
    /// The fake DNS server, started by the first [`dns`](Self::dns); stopped before the root
    /// goes.
    dns: OnceLock<FakeDns>,
    /// The temporary directory that owns `root`, when it is one; removed on drop.
    _temporary: Option<tempfile::TempDir>,
    /// With [`with_samba`](Self::with_samba): the knobs that wire `samba-tool` and the import
    /// to the real DC; written into the `env` files before any test knob.
    samba_knobs: Vec<(&'static str, String)>,
    /// With [`with_samba`](Self::with_samba): the DC's address.
    samba_address: Option<Ipv4Addr>,
    /// How many launchers [`launcher`](Self::launcher) made; names their directories.
    n_launchers: AtomicUsize,
}

/// How a program that [`SandboxDc::run`] ran ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Its standard output (invalid UTF-8 replaced).
    pub stdout: String,
    /// Its standard error (invalid UTF-8 replaced).
    pub stderr: String,
}

impl SandboxDc {
    /// A fresh sandbox in a temporary directory, removed when the value is dropped.
    ///
    /// # Panics
    /// When `python3` is not on `PATH` (the message says `apt-get install python3`; the fakes
    /// need it) or the sandbox cannot be laid out.
    pub fn new() -> SandboxDc {
        let temporary = tempfile::Builder::new()
            .prefix("dc-testkit-sandbox-")
            .tempdir()
            .expect("creating a temporary directory for the sandbox DC");
        let root = canonical(temporary.path());
        let sandbox = SandboxDc {
            root,
            dns: OnceLock::new(),
            _temporary: Some(temporary),
            samba_knobs: Vec::new(),
            samba_address: None,
            n_launchers: AtomicUsize::new(0),
        };
        sandbox.lay_out();
        sandbox
    }

    /// A fresh sandbox wired to the real Samba AD DC `dc`: `usr/bin/samba-tool` runs the real
    /// samba-tool with `SMB_CONF_PATH` pointing at `dc`, [`dns_server`](Self::dns_server) is
    /// `dc`'s DNS server, and the fake import does what `sophomorix-device --sync` does to
    /// AD and DNS on `dc` (computer objects, A and PTR records; see
    /// `fixtures/fake-dc/sophomorix_ad.py`). Each sandbox's imports only ever remove objects
    /// they made, so tests sharing one DC do not disturb each other as long as they use host
    /// names and addresses of their own.
    ///
    /// The file-based readers [`ad_objects`](Self::ad_objects), [`dns_names`](Self::dns_names)
    /// and [`ptr_records`](Self::ptr_records) panic in such a sandbox: ask `dc` instead.
    ///
    /// # Panics
    /// Like [`new`](Self::new).
    pub fn with_samba(dc: &SambaDc) -> SandboxDc {
        let mut sandbox = SandboxDc::new();
        sandbox.samba_knobs = vec![
            ("FAKE_DC_SAMBA_CONF", dc.smb_conf().display().to_string()),
            ("FAKE_DC_SAMBA_ADDRESS", dc.address().to_string()),
            (
                "FAKE_DC_SAMBA_PASSWD_FILE",
                dc.password_file().display().to_string(),
            ),
        ];
        sandbox.samba_address = Some(dc.address());
        sandbox.knobs(&[]);
        sandbox
    }

    /// Whether the sandbox is wired to a real Samba DC ([`with_samba`](Self::with_samba)).
    pub fn is_samba(&self) -> bool {
        !self.samba_knobs.is_empty()
    }

    /// A sandbox in `dir` (created when missing), kept after the value is dropped, for example
    /// for a demo to look at. Laying out an existing sandbox again replaces its links and `env`
    /// files and keeps every other file.
    ///
    /// # Panics
    /// Like [`new`](Self::new), and when the canonical path of `dir` contains `'` or a newline
    /// (it could not be written into the `env` files).
    pub fn at(dir: impl AsRef<Path>) -> SandboxDc {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)
            .unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
        let sandbox = SandboxDc {
            root: canonical(dir),
            dns: OnceLock::new(),
            _temporary: None,
            samba_knobs: Vec::new(),
            samba_address: None,
            n_launchers: AtomicUsize::new(0),
        };
        sandbox.lay_out();
        sandbox
    }

    fn lay_out(&self) {
        require_python3();
        let root = self
            .root
            .to_str()
            .unwrap_or_else(|| panic!("the sandbox root {} is not UTF-8", self.root.display()));
        if let Err(problem) = check_env_value(root) {
            panic!("the sandbox root {root:?} cannot be an env value: {problem}");
        }
        for directory in DIRECTORIES.iter().chain(&LAUNCHER_DIRS) {
            let path = self.path(directory);
            std::fs::create_dir_all(&path)
                .unwrap_or_else(|error| panic!("creating {}: {error}", path.display()));
        }
        let launcher = fake_dc_file("sandboxed");
        for command in FAKE_COMMANDS {
            self.symlink(&launcher, command);
        }
        self.symlink(&fake_dc_file("repair_macct.py"), REPAIR_SCRIPT);
        if !self.exists("/etc/linuxmuster/subnets.csv") {
            self.write("/etc/linuxmuster/subnets.csv", SUBNETS_CSV);
        }
        self.knobs(&[]);
    }

    /// The root directory (canonical, so it compares equal to paths the worker derives from it).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `relative` (`"etc/x"`, or the DC's name `"/etc/x"`) is in the sandbox. A path that
    /// already lies in the sandbox (from [`master_path`](Self::master_path), say) stays as it is.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        let relative = relative.as_ref();
        if relative.starts_with(&self.root) {
            return relative.to_owned();
        }
        self.root
            .join(relative.strip_prefix("/").unwrap_or(relative))
    }

    /// Rewrites both `env` files with `LINBO_DC_ROOT` plus `knobs` (and nothing else: knobs set
    /// before are dropped). Every fake started afterwards sees them.
    ///
    /// # Panics
    /// When a key is not a shell variable name or is `LINBO_DC_ROOT`, or a value contains `'` or a
    /// newline (the launcher sources the file as `KEY='VALUE'` lines).
    pub fn knobs(&self, knobs: &[(&str, &str)]) {
        let text = self.env_text("SandboxDc::knobs", knobs);
        for directory in LAUNCHER_DIRS {
            self.write(format!("{directory}/env"), &text);
        }
    }

    /// A launcher of its own for `command` (a fake of `fixtures/fake-dc/` such as `"samba-tool"`,
    /// or `"python3"`), with `knobs` in an `env` file of its own: `launchers/<n>/<command>` in the
    /// sandbox, returned as a full path for an adapter to run. Its knobs are the sandbox's Samba
    /// wiring ([`with_samba`](Self::with_samba)) plus `knobs`, not those of
    /// [`knobs`](Self::knobs), and later calls of either do not change them; so one test can
    /// hold a failing and a working launcher of the same command at once. What the fake runs in
    /// turn (the import's `sophomorix-device` and hooks) is the sandbox's: it inherits these
    /// knobs, with the sandbox's `env` file read on top.
    ///
    /// # Panics
    /// Like [`knobs`](Self::knobs), and when the launcher cannot be made.
    pub fn launcher(&self, command: &str, knobs: &[(&str, &str)]) -> PathBuf {
        let text = self.env_text("SandboxDc::launcher", knobs);
        let n = self.n_launchers.fetch_add(1, Ordering::Relaxed) + 1;
        let directory = format!("launchers/{n}");
        self.write(format!("{directory}/env"), &text);
        let link = format!("{directory}/{command}");
        self.symlink(&fake_dc_file("sandboxed"), &link);
        self.path(link)
    }

    /// The text of an `env` file: `LINBO_DC_ROOT`, the Samba wiring, then `knobs`.
    fn env_text(&self, caller: &str, knobs: &[(&str, &str)]) -> String {
        let all: Vec<(&str, &str)> = self
            .samba_knobs
            .iter()
            .map(|(key, value)| (*key, value.as_str()))
            .chain(knobs.iter().copied())
            .collect();
        env_file(&self.root.display().to_string(), &all)
            .unwrap_or_else(|problem| panic!("{caller}: {problem}"))
    }

    /// The master `devices.csv` of `school` (linuxmuster's convention, SPEC §3.1):
    /// `etc/linuxmuster/sophomorix/default-school/devices.csv`, or
    /// `etc/linuxmuster/sophomorix/<school>/<school>.devices.csv` for other schools.
    pub fn master_path(&self, school: &str) -> PathBuf {
        let file = if school == "default-school" {
            "devices.csv".to_owned()
        } else {
            format!("{school}.devices.csv")
        };
        self.path(format!("etc/linuxmuster/sophomorix/{school}/{file}"))
    }

    /// The worker's delta file of `school`:
    /// `etc/linuxmuster/sophomorix/<school>/linbo-docker.devices.csv`.
    pub fn delta_path(&self, school: &str) -> PathBuf {
        self.path(format!(
            "etc/linuxmuster/sophomorix/{school}/linbo-docker.devices.csv"
        ))
    }

    /// Writes the master `devices.csv` of `school`.
    pub fn write_master(&self, school: &str, text: &str) {
        self.write(self.master_path(school), text);
    }

    /// The master `devices.csv` of `school`.
    ///
    /// # Panics
    /// When it does not exist.
    pub fn master(&self, school: &str) -> String {
        self.read(self.master_path(school))
    }

    /// The delta file of `school`; empty when it does not exist.
    pub fn delta(&self, school: &str) -> String {
        read_or_empty(&self.delta_path(school))
    }

    /// Writes the delta file of `school` (`text` as it is: the worker's header line is the
    /// caller's).
    pub fn write_delta(&self, school: &str, text: &str) {
        self.write(self.delta_path(school), text);
    }

    /// The DHCP host blocks of `school` as the import writes them (SPEC §12):
    /// `etc/dhcp/devices/<school>.conf`.
    pub fn dhcp_devices_path(&self, school: &str) -> PathBuf {
        self.path(format!("etc/dhcp/devices/{school}.conf"))
    }

    /// The DHCP host blocks of `school` ([`dhcp_devices_path`](Self::dhcp_devices_path)).
    ///
    /// # Panics
    /// When the file does not exist.
    pub fn dhcp_devices(&self, school: &str) -> String {
        self.read(self.dhcp_devices_path(school))
    }

    /// Writes linuxmuster's DHCP server configuration for `schools`, so that the real
    /// `dhcpd -t -cf <root>/etc/dhcp/dhcpd.conf` checks the sandbox's files:
    /// `etc/dhcp/dhcpd.conf` as linuxmuster-base7 writes it (SPEC §12; the committed
    /// `fixtures/dhcpd/dhcpd_conf_skeleton/in.conf`), `subnets.conf` ([`DHCPD_SUBNETS_CONF`]),
    /// empty `events.conf` and `custom.conf`, and `devices.conf` including
    /// [`dhcp_devices_path`](Self::dhcp_devices_path) of each school. dhcpd reads an `include` by
    /// the path written in it, so every include names the file in the sandbox, not the DC's
    /// `/etc/dhcp/…`. The devices files themselves are the caller's (or the import's).
    ///
    /// The fake import rewrites `devices.conf` with the DC's names, as the real one does; after an
    /// import, call this again before running the real dhcpd.
    pub fn write_dhcpd_conf(&self, schools: &[&str]) {
        let skeleton = std::fs::read_to_string(fixture_file("dhcpd/dhcpd_conf_skeleton/in.conf"))
            .unwrap_or_else(|error| panic!("reading the dhcpd.conf skeleton fixture: {error}"));
        let in_sandbox = format!("\"{}/etc/dhcp/", self.root.display());
        self.write(
            "etc/dhcp/dhcpd.conf",
            &skeleton.replace("\"/etc/dhcp/", &in_sandbox),
        );
        self.write("etc/dhcp/subnets.conf", DHCPD_SUBNETS_CONF);
        self.write("etc/dhcp/events.conf", "");
        self.write("etc/dhcp/custom.conf", "");
        let includes: String = schools
            .iter()
            .map(|school| {
                format!(
                    "include \"{}\";\n",
                    self.dhcp_devices_path(school).display()
                )
            })
            .collect();
        self.write("etc/dhcp/devices.conf", &includes);
    }

    /// Writes `text` to `relative`, creating the directories above it. The file gets mode 0644
    /// and is replaced atomically.
    pub fn write(&self, relative: impl AsRef<Path>, text: &str) {
        let path = self.path(relative);
        let parent = path.parent().expect("a path under the root has a parent");
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|error| panic!("creating {}: {error}", parent.display()));
        // The temporary file lives in the root, not next to the target: the fake import includes
        // every file of etc/dhcp/devices/, so a stray temporary file there would be read.
        let mut temporary = tempfile::Builder::new()
            .prefix(".dc-testkit-write-")
            .tempfile_in(&self.root)
            .unwrap_or_else(|error| panic!("creating a temporary file in the sandbox: {error}"));
        temporary
            .write_all(text.as_bytes())
            .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
        temporary
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|error| panic!("setting the mode of {}: {error}", path.display()));
        temporary
            .persist(&path)
            .unwrap_or_else(|error| panic!("replacing {}: {error}", path.display()));
    }

    /// The text of `relative`.
    ///
    /// # Panics
    /// When it cannot be read.
    pub fn read(&self, relative: impl AsRef<Path>) -> String {
        let path = self.path(relative);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
    }

    /// Whether `relative` exists (a dangling symlink does not).
    pub fn exists(&self, relative: impl AsRef<Path>) -> bool {
        self.path(relative).exists()
    }

    /// The names in directory `relative`, sorted; empty when it does not exist.
    pub fn list(&self, relative: impl AsRef<Path>) -> Vec<String> {
        let path = self.path(relative);
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(error) => panic!("listing {}: {error}", path.display()),
        };
        let mut names: Vec<String> = entries
            .map(|entry| {
                entry
                    .unwrap_or_else(|error| panic!("listing {}: {error}", path.display()))
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// The AD computer objects the fakes keep, by lowercase name (`r100-pc01`, or
    /// `<school>-<host>` outside default-school), sorted.
    pub fn ad_objects(&self) -> Vec<String> {
        self.fake_state("var/lib/fake-dc/ad")
    }

    /// The names with a DNS A record, sorted (same naming as [`ad_objects`](Self::ad_objects)).
    pub fn dns_names(&self) -> Vec<String> {
        self.fake_state("var/lib/fake-dc/dns")
    }

    /// The IP addresses with a PTR record, sorted as text.
    pub fn ptr_records(&self) -> Vec<String> {
        self.fake_state("var/lib/fake-dc/ptr")
    }

    /// The sandbox's fake DNS server, started on first use: A and PTR answers from the fake
    /// state (`var/lib/fake-dc/dns`, `ptr`) as the fake import and `samba-tool` leave it.
    ///
    /// # Panics
    /// In a sandbox wired to a real Samba DC (its DNS server answers there:
    /// [`dns_server`](Self::dns_server)), or when the server cannot start.
    pub fn dns(&self) -> &FakeDns {
        assert!(
            !self.is_samba(),
            "this sandbox is wired to a real Samba DC: ask its DNS server (SandboxDc::dns_server)"
        );
        self.dns
            .get_or_init(|| FakeDns::start(self.path("var/lib/fake-dc")))
    }

    /// The DNS server that answers for this sandbox's DC, for the worker's `DNS_SERVER`: the
    /// Samba DC's (port 53) when wired to one, else the fake one's ([`dns`](Self::dns), started
    /// now if it was not).
    pub fn dns_server(&self) -> SocketAddr {
        match self.samba_address {
            Some(address) => SocketAddr::from((address, 53)),
            None => self.dns().address(),
        }
    }

    fn fake_state(&self, relative: &str) -> Vec<String> {
        assert!(
            !self.is_samba(),
            "this sandbox is wired to a real Samba DC: ask the SambaDc, not the fake state"
        );
        self.list(relative)
    }

    /// Every fake's call, one line each in call order (`samba-tool computer show x`, …); samba-tool
    /// adds a `passwd-file mode=…` line after a call with `PASSWD_FILE` set.
    pub fn calls(&self) -> Vec<String> {
        self.call_log().lines().map(str::to_owned).collect()
    }

    /// The fakes' call log as one text, a line per call and each line ending in `\n`: what
    /// [`calls`](Self::calls) splits. For a call together with the line after it
    /// (`…-U admin\npasswd-file mode=600\n`) or counting a piece of text; empty before the first
    /// call.
    pub fn call_log(&self) -> String {
        read_or_empty(&self.path("var/lib/fake-dc/calls.log"))
    }

    /// The calls of the import, e.g. `linuxmuster-import-devices -s default-school`.
    pub fn import_calls(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|line| line.starts_with("linuxmuster-import-devices "))
            .collect()
    }

    /// Installs `binary` as the post-import hook ([`HOOK_LINK`], a symlink) and writes
    /// [`HOOK_CONFIG`] with `LINBO_DOCKER_IP=<linbo_docker_ip>`.
    ///
    /// The fake import runs the hook as `HOOK -s SCHOOL` with the launcher's environment, so the
    /// hook finds the sandbox in `LINBO_DC_ROOT`.
    ///
    /// # Panics
    /// When `binary` does not exist.
    pub fn install_hook(&self, binary: &Path, linbo_docker_ip: &str) {
        let binary = std::fs::canonicalize(binary)
            .unwrap_or_else(|error| panic!("the hook binary {}: {error}", binary.display()));
        self.symlink(&binary, HOOK_LINK);
        self.write(
            HOOK_CONFIG,
            &format!("# written by dc-testkit\nLINBO_DOCKER_IP={linbo_docker_ip}\n"),
        );
    }

    /// Writes the worker's configuration [`WORKER_CONFIG`] (`lines` as they are) and returns its
    /// name as the DC sees it, `/etc/macct-worker.conf`, for the worker's `--config`.
    pub fn write_worker_config(&self, lines: &str) -> PathBuf {
        self.write(WORKER_CONFIG, lines);
        PathBuf::from(WORKER_CONFIG)
    }

    /// Runs `program` with `args` and, added to the test's environment, `env`; waits for it and
    /// returns how it ended. `program` is run as given: a command of the sandbox is
    /// [`path`](Self::path)`("/usr/sbin/…")` or a [`launcher`](Self::launcher), a binary under test
    /// its own path (with `--root` and [`root`](Self::root) among `args`). `LINBO_DC_ROOT` is
    /// removed from the inherited environment, so only the sandbox's `env` files, `args` or
    /// `env` can name a root: a program never finds a root the test did not give it.
    ///
    /// # Panics
    /// When `program` cannot be started or is ended by a signal.
    pub fn run(&self, program: impl AsRef<Path>, args: &[&str], env: &[(&str, &str)]) -> Run {
        let program = program.as_ref();
        #[allow(
            clippy::disallowed_methods,
            reason = "test infrastructure: tests run the sandbox's launchers and the binaries under test"
        )]
        let mut command = std::process::Command::new(program);
        command
            .args(args)
            .env_remove("LINBO_DC_ROOT")
            .envs(env.iter().copied());
        let output = command
            .output()
            .unwrap_or_else(|error| panic!("running {}: {error}", program.display()));
        Run {
            code: output.status.code().unwrap_or_else(|| {
                panic!(
                    "{} was ended by a signal: {}",
                    program.display(),
                    output.status
                )
            }),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Makes `relative` a symlink to `target`, replacing what was there.
    fn symlink(&self, target: &Path, relative: &str) {
        let link = self.path(relative);
        let parent = link.parent().expect("a path under the root has a parent");
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|error| panic!("creating {}: {error}", parent.display()));
        if link.symlink_metadata().is_ok() {
            std::fs::remove_file(&link)
                .unwrap_or_else(|error| panic!("replacing {}: {error}", link.display()));
        }
        std::os::unix::fs::symlink(target, &link).unwrap_or_else(|error| {
            panic!(
                "linking {} to {}: {error}",
                link.display(),
                target.display()
            )
        });
    }
}

impl Default for SandboxDc {
    fn default() -> Self {
        Self::new()
    }
}

/// The committed fake DC file `name` of `fixtures/fake-dc/`, canonical (the launcher finds the
/// fakes next to itself): for a fake run without a sandbox, or one run directly with an
/// environment of the test's making (`dhcpd`, which the hook runs as `DHCPD`).
///
/// # Panics
/// When it does not exist.
pub fn fake_dc_file(name: &str) -> PathBuf {
    fixture_file(&format!("fake-dc/{name}"))
}

/// The committed file `relative` of the workspace's `fixtures/`, canonical.
fn fixture_file(relative: &str) -> PathBuf {
    canonical(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(relative),
    )
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .unwrap_or_else(|error| panic!("resolving {}: {error}", path.display()))
}

fn read_or_empty(path: &Path) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => panic!("reading {}: {error}", path.display()),
    }
}

/// The fakes are Python and shell scripts; the Python ones start with `#!/usr/bin/env python3`
/// and the launcher runs `python3` from `PATH`, so that is where it must be.
fn require_python3() {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("python3").is_file()));
    assert!(
        found,
        "python3 not found on PATH: apt-get install python3 (the fake DC commands need it)"
    );
}

/// The `env` file the launcher sources: `LINBO_DC_ROOT='<root>'` then one `KEY='VALUE'` line per
/// knob, or why it cannot be written.
fn env_file(root: &str, knobs: &[(&str, &str)]) -> Result<String, String> {
    check_env_value(root).map_err(|problem| format!("LINBO_DC_ROOT {root:?}: {problem}"))?;
    let mut text = format!("LINBO_DC_ROOT='{root}'\n");
    for (key, value) in knobs {
        let key_ok = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !key_ok {
            return Err(format!("knob name {key:?} is not a shell variable name"));
        }
        if *key == "LINBO_DC_ROOT" {
            return Err("LINBO_DC_ROOT is the sandbox root, not a knob".to_owned());
        }
        check_env_value(value).map_err(|problem| format!("knob {key}={value:?}: {problem}"))?;
        text.push_str(&format!("{key}='{value}'\n"));
    }
    Ok(text)
}

/// A value must survive `KEY='VALUE'` quoting in a file sourced by `sh`.
fn check_env_value(value: &str) -> Result<(), &'static str> {
    if value.contains('\'') {
        Err("contains ', which the env file's quoting cannot hold")
    } else if value.contains(['\n', '\r']) {
        Err("contains a line break, which would end the env file's line")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_quotes_root_and_knobs() {
        assert_eq!(
            env_file(
                "/tmp/x",
                &[("FAKE_IMPORT_SLEEP", "1.5"), ("FAKE_DC_DOMAIN", "a b")]
            ),
            Ok(
                "LINBO_DC_ROOT='/tmp/x'\nFAKE_IMPORT_SLEEP='1.5'\nFAKE_DC_DOMAIN='a b'\n"
                    .to_owned()
            )
        );
    }

    #[track_caller]
    fn check_refused(root: &str, knobs: &[(&str, &str)], expect: &str) {
        let problem = env_file(root, knobs).expect_err("must be refused");
        assert!(problem.contains(expect), "{problem:?} lacks {expect:?}");
    }

    #[test]
    fn env_file_refuses_what_sh_would_misread() {
        check_refused("/tmp/x", &[("FAKE_MACCT_MODE", "it's")], "contains '");
        check_refused("/tmp/x", &[("FAKE_MACCT_MODE", "a\nB=1")], "line break");
        check_refused("/tmp/x", &[("FAKE_MACCT_MODE", "a\r")], "line break");
        check_refused("/tmp/it's", &[], "LINBO_DC_ROOT");
        check_refused("/tmp/x", &[("1BAD", "v")], "not a shell variable name");
        check_refused("/tmp/x", &[("A-B", "v")], "not a shell variable name");
        check_refused("/tmp/x", &[("LINBO_DC_ROOT", "/")], "not a knob");
    }

    #[test]
    fn knobs_panics_with_the_reason() {
        let sandbox = SandboxDc::new();
        let panic = std::panic::catch_unwind(|| sandbox.knobs(&[("FAKE_IMPORT_FAIL", "'")]))
            .expect_err("a quote in a value must be refused");
        let message = panic
            .downcast_ref::<String>()
            .expect("a formatted panic message");
        assert!(message.contains("FAKE_IMPORT_FAIL"), "{message}");
        // The env files were not touched.
        assert_eq!(
            sandbox.read("usr/sbin/env"),
            format!("LINBO_DC_ROOT='{}'\n", sandbox.root().display())
        );
        let panic = std::panic::catch_unwind(|| sandbox.launcher("samba-tool", &[("A-B", "1")]))
            .expect_err("a bad knob name must be refused");
        let message = panic
            .downcast_ref::<String>()
            .expect("a formatted panic message");
        assert!(message.starts_with("SandboxDc::launcher: "), "{message}");
        assert!(!sandbox.exists("launchers"), "no launcher was made");
    }

    #[test]
    fn paths_follow_the_linuxmuster_conventions() {
        let sandbox = SandboxDc::new();
        let root = sandbox.root();
        assert_eq!(
            sandbox.master_path("default-school"),
            root.join("etc/linuxmuster/sophomorix/default-school/devices.csv")
        );
        assert_eq!(
            sandbox.master_path("school2"),
            root.join("etc/linuxmuster/sophomorix/school2/school2.devices.csv")
        );
        assert_eq!(
            sandbox.delta_path("school2"),
            root.join("etc/linuxmuster/sophomorix/school2/linbo-docker.devices.csv")
        );
        assert_eq!(sandbox.path("/etc/x"), root.join("etc/x"));
        assert_eq!(sandbox.path("etc/x"), root.join("etc/x"));
        assert_eq!(sandbox.path(root.join("etc/x")), root.join("etc/x"));
    }
}
