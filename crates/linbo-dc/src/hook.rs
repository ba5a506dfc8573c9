//! The DHCP post-import hook (SPEC §7): points the PXE hosts LINBO Docker manages at the Docker
//! TFTP server by giving their ISC DHCP host blocks exactly one `next-server LINBO_DOCKER_IP;`.
//!
//! `linuxmuster-import-devices` runs every executable in its hook directory as `<hook> -s
//! <school>` after writing `/etc/dhcp/devices/<school>.conf` and before restarting the DHCP
//! server; a non-zero exit aborts the restart. So the hook changes nothing it does not own (the
//! blocks of hosts the delta does not name stay byte for byte, whatever their `next-server`),
//! writes atomically with the temporary file outside `/etc/dhcp/devices/` (every file there is
//! included), checks the result with `dhcpd -t` and restores the original when dhcpd rejects it.
//!
//! Log lines go to `LOGFILE` and stdout, which the import prints; the lines explaining a failure
//! (exit 1) go to stderr as well, because the import runs hooks with `subprocess.check_output`,
//! which drops a failing hook's stdout and passes only its stderr on.
//!
//! The import names the block of host `H` plain `H` in default-school and `<school>-H` in every
//! other school, with the case devices.csv has (linuxmuster-base7 7.3 lib/functions.py:273-276,
//! 7.4 functions/network.py:128-130); the hook looks blocks up by that name, without regard to
//! case.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use dc_adapters::atomic::{ReplaceOptions, replace_file};
use dc_adapters::dhcpd;
use dc_adapters::samba_tool::school_host_name;
use devices_csv::{DevicesFile, PxeFlag};

use crate::conf_file::{ConfError, ConfFile};
use crate::paths::{Root, School};

/// Where the hook's configuration lives on a DC.
pub const DEFAULT_CONFIG: &str = "/etc/linbo-docker-dhcp.conf";

/// The tag of every log line, as the bash predecessor wrote it.
pub const LOG_TAG: &str = "[linbo-docker-dhcp]";

const KNOWN_KEYS: [&str; 8] = [
    "LINBO_DOCKER_IP",
    "SCHOOL",
    "DELTA_CSV",
    "DEVICES_DHCP",
    "LOGFILE",
    "DHCPD_CONF",
    "DHCPD",
    "DHCPD_TIMEOUT_SEC",
];

/// How many host names a log line lists before it says "and N more".
const NAMES_IN_LOG: usize = 20;

/// What the caller of the hook decides: which configuration, which school, which root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookArgs {
    /// The configuration file as the DC names it (default [`DEFAULT_CONFIG`]).
    pub config: PathBuf,
    /// `-s <school>` from `linuxmuster-import-devices`; wins over `SCHOOL` in the file.
    pub school: Option<String>,
    /// The directory standing for `/`.
    pub root: Root,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookSettings {
    /// `LINBO_DOCKER_IP`: the Docker host's TFTP address.
    pub linbo_docker_ip: Ipv4Addr,
    /// `-s`, else `SCHOOL`, else `default-school`.
    pub school: School,
    /// `DELTA_CSV` with `{school}` expanded, as the DC names it.
    pub delta_csv: PathBuf,
    /// `DEVICES_DHCP` with `{school}` expanded, as the DC names it (and `include` statements do).
    pub devices_dhcp: PathBuf,
    /// `LOGFILE`.
    pub logfile: PathBuf,
    /// `DHCPD_CONF`: the configuration `dhcpd -t` checks.
    pub dhcpd_conf: PathBuf,
    /// `DHCPD`: the server binary (default `/usr/sbin/dhcpd`); not under the root.
    pub dhcpd: PathBuf,
    /// `DHCPD_TIMEOUT_SEC` (default 30).
    pub dhcpd_timeout: Duration,
    /// The directory standing for `/`.
    pub root: Root,
    /// Problems worth a warning that do not stop the hook (unknown keys).
    pub warnings: Vec<String>,
}

/// The result of reading the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// No configuration file: the hook is installed but not configured, and does nothing.
    NotConfigured,
    /// Ready to run.
    Settings(Box<HookSettings>),
}

/// Reads and validates the hook's configuration. A missing file is [`Loaded::NotConfigured`].
pub fn load_settings(args: &HookArgs) -> Result<Loaded, ConfError> {
    let Some(conf) = ConfFile::read(&args.root, &args.config)? else {
        return Ok(Loaded::NotConfigured);
    };
    let path = conf.path();
    let file_error = |problem: String| ConfError {
        path: path.to_owned(),
        line: None,
        key: None,
        problem,
    };

    let ip_entry = conf.get("LINBO_DOCKER_IP").ok_or_else(|| ConfError {
        key: Some("LINBO_DOCKER_IP".to_owned()),
        ..file_error("required: the IPv4 address of the LINBO Docker TFTP server".to_owned())
    })?;
    let linbo_docker_ip: Ipv4Addr = ip_entry.value.parse().map_err(|_| {
        conf.value_error(
            ip_entry,
            format!(
                "expected an IPv4 address like 10.0.0.13, found {:?}",
                ip_entry.value
            ),
        )
    })?;
    let school = match (&args.school, conf.get("SCHOOL")) {
        (Some(school), _) => school.parse().map_err(|problem| ConfError {
            key: Some("-s".to_owned()),
            ..file_error(problem)
        })?,
        (None, Some(entry)) => entry
            .value
            .parse()
            .map_err(|problem: String| conf.value_error(entry, problem))?,
        (None, None) => School::default_school(),
    };
    let path_of = |key: &str, default: &str| {
        let template = conf.get(key).map_or(default, |entry| entry.value.as_str());
        PathBuf::from(school.expand(template))
    };
    let dhcpd_timeout = match conf.get("DHCPD_TIMEOUT_SEC") {
        None => Duration::from_secs(30),
        Some(entry) => entry
            .value
            .parse::<u64>()
            .ok()
            .filter(|&seconds| seconds > 0)
            .map(Duration::from_secs)
            .ok_or_else(|| conf.value_error(entry, "expected a whole number of seconds above 0"))?,
    };
    let warnings = conf
        .unknown(&KNOWN_KEYS)
        .map(|entry| {
            format!(
                "{}, line {}: unknown key {} ignored",
                path.display(),
                entry.line,
                entry.key
            )
        })
        .collect();
    Ok(Loaded::Settings(Box::new(HookSettings {
        linbo_docker_ip,
        delta_csv: path_of(
            "DELTA_CSV",
            "/etc/linuxmuster/sophomorix/{school}/linbo-docker.devices.csv",
        ),
        devices_dhcp: path_of("DEVICES_DHCP", "/etc/dhcp/devices/{school}.conf"),
        logfile: path_of("LOGFILE", "/var/log/linuxmuster/linbo-docker-dhcp.log"),
        dhcpd_conf: path_of("DHCPD_CONF", "/etc/dhcp/dhcpd.conf"),
        dhcpd: path_of("DHCPD", dhcpd::DEFAULT_BINARY),
        dhcpd_timeout,
        school,
        root: args.root.clone(),
        warnings,
    })))
}

/// What a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HookReport {
    /// The hook failed (the file is left or restored as it was); else it is done or had nothing
    /// to do.
    pub failed: bool,
    /// Managed hosts whose block was changed.
    pub patched: usize,
    /// Managed hosts whose block already had exactly our `next-server`.
    pub already_correct: usize,
    /// Managed hosts without a host block in the devices file.
    pub not_found: usize,
    /// Whether the devices file was written.
    pub written: bool,
}

/// Writes `[timestamp] [linbo-docker-dhcp] message` lines to the log file and stdout (the import
/// prints the hook's stdout when the hook succeeds), and the lines explaining a failure to stderr
/// as well: the import runs hooks with `subprocess.check_output`, which drops the stdout of a
/// hook that exits non-zero and passes only its stderr on (linuxmuster-base7 7.3
/// sbin/linuxmuster-import-devices:360). Lines never start with `ERROR:`, which the worker's
/// import output scan treats as a sophomorix failure.
struct HookLog<'c> {
    file: Option<File>,
    stdout: &'c mut dyn Write,
    stderr: &'c mut dyn Write,
}

impl<'c> HookLog<'c> {
    fn open(path: &Path, stdout: &'c mut dyn Write, stderr: &'c mut dyn Write) -> HookLog<'c> {
        let file = OpenOptions::new().create(true).append(true).open(path);
        let mut log = HookLog {
            file: file.as_ref().ok().and_then(|file| file.try_clone().ok()),
            stdout,
            stderr,
        };
        if let Err(error) = file {
            log.line(&format!(
                "warning: cannot write log file {}: {error}",
                path.display()
            ));
        }
        log
    }

    /// A line for the log file and stdout.
    fn line(&mut self, message: &str) {
        self.write(message, false);
    }

    /// A line that explains why the hook exits 1: on stderr too, or the worker never sees it.
    fn failure(&mut self, message: &str) {
        self.write(message, true);
    }

    /// `headline` and then dhcpd's `messages`, indented: a failure, or (when `failure` is
    /// false) a warning of a run that still succeeds.
    fn dhcpd_lines(&mut self, failure: bool, headline: &str, messages: &[String]) {
        self.write(headline, failure);
        for message in messages {
            self.write(&format!("  dhcpd: {message}"), failure);
        }
    }

    fn write(&mut self, message: &str, to_stderr: bool) {
        let line = format!(
            "[{}] {LOG_TAG} {message}\n",
            rfc3339::format_seconds(SystemTime::now())
        );
        // Logging must never make the hook fail; a full disk shows up in the write that matters.
        let _ = self.stdout.write_all(line.as_bytes());
        if to_stderr {
            let _ = self.stderr.write_all(line.as_bytes());
        }
        if let Some(file) = &mut self.file {
            let _ = file.write_all(line.as_bytes());
        }
    }

    fn names(&mut self, what: &str, names: &[String]) {
        if names.is_empty() {
            return;
        }
        let shown = names[..names.len().min(NAMES_IN_LOG)].join(", ");
        let more = names.len().saturating_sub(NAMES_IN_LOG);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        self.line(&format!("{what}: {shown}{tail}"));
    }
}

/// The names of the DHCP host blocks of the delta's hosts whose PXE flag is 1, 2 or 3, lowercase:
/// `<school>-<host>` outside default-school, `<host>` in it, as `linuxmuster-import-devices`
/// names the blocks (linuxmuster-base7 7.3 lib/functions.py:273-276, 7.4
/// functions/network.py:128-130). Comments, short and malformed lines are ignored, as the import
/// ignores them.
pub fn managed_host_blocks(delta: &str, school: &School) -> HashSet<String> {
    DevicesFile::parse(delta)
        .records()
        .filter(|(_, record)| {
            record
                .value(10)
                .parse::<PxeFlag>()
                .is_ok_and(|flag| flag != PxeFlag::None)
        })
        .map(|(_, record)| school_host_name(school.as_str(), record.hostname()))
        .collect()
}

/// Runs the hook with validated settings, logging to the log file and `stdout`; the lines that
/// explain a failure (exit code 1) go to `stderr` as well.
pub fn run(settings: &HookSettings, stdout: &mut dyn Write, stderr: &mut dyn Write) -> HookReport {
    let root = &settings.root;
    let mut log = HookLog::open(&root.resolve(&settings.logfile), stdout, stderr);
    for warning in &settings.warnings {
        log.line(&format!("warning: {warning}"));
    }
    let devices_path = root.resolve(&settings.devices_dhcp);
    let devices_name = settings.devices_dhcp.display().to_string();
    let mut report = HookReport::default();

    let delta_path = root.resolve(&settings.delta_csv);
    let managed = match fs::read(&delta_path) {
        Ok(bytes) => managed_host_blocks(&String::from_utf8_lossy(&bytes), &settings.school),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => HashSet::new(),
        Err(error) => {
            log.failure(&format!(
                "failed: cannot read {}: {error}",
                settings.delta_csv.display()
            ));
            report.failed = true;
            return report;
        }
    };
    let original = match fs::read(&devices_path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            log.line(&format!(
                "Nothing to do: {devices_name} does not exist (school {})",
                settings.school
            ));
            return report;
        }
        Err(error) => {
            log.failure(&format!("failed: cannot read {devices_name}: {error}"));
            report.failed = true;
            return report;
        }
    };
    let Ok(text) = std::str::from_utf8(&original) else {
        log.failure(&format!(
            "failed: {devices_name} is not UTF-8 text; left unchanged"
        ));
        report.failed = true;
        return report;
    };
    let mut config = match dhcpd_conf::parse(text) {
        Ok(config) => config,
        Err(error) => {
            log.failure(&format!(
                "failed: cannot parse {devices_name}: {error}; left unchanged"
            ));
            report.failed = true;
            return report;
        }
    };

    let ip = settings.linbo_docker_ip;
    let mut seen = HashSet::new();
    let mut patched = Vec::new();
    // Blocks of hosts not managed stay as they are, even with a `next-server` naming our address:
    // the import rewrote the file from devices.csv just before, copying column 7 verbatim, so
    // such a statement can only be the administrator's own.
    config.patch_hosts(|host| {
        // linuxmuster writes the host name with the case devices.csv has.
        let name = host.name().trim_matches('"').to_lowercase();
        if managed.contains(&name) {
            seen.insert(name.clone());
            if host.set_next_server(ip) {
                patched.push(name);
            } else {
                report.already_correct += 1;
            }
        }
    });
    report.patched = patched.len();
    report.not_found = managed.len() - seen.len();
    log.names(&format!("next-server {ip} set for"), &patched);
    let mut missing: Vec<String> = managed.difference(&seen).cloned().collect();
    missing.sort();
    log.names(
        &format!("managed hosts without a host block in {devices_name}"),
        &missing,
    );

    if patched.is_empty() {
        log_summary(&mut log, &report, &devices_name);
        return report;
    }
    let new_text = config.to_string();
    // The temporary file goes next to the devices directory, never into it: devices.conf
    // includes every file there.
    let temp_dir = devices_path
        .parent()
        .and_then(Path::parent)
        .map(Path::to_owned);
    let options = ReplaceOptions {
        temp_dir,
        ..ReplaceOptions::default()
    };
    if let Err(error) = replace_file(&devices_path, new_text.as_bytes(), &options) {
        log.failure(&format!("failed: {error}; {devices_name} left unchanged"));
        report.failed = true;
        return report;
    }
    report.written = true;

    match check_with_dhcpd(settings, &mut log) {
        Check::Skipped(reason) => log.line(&format!("dhcpd -t check skipped: {reason}")),
        Check::Valid => log.line(&format!(
            "dhcpd -t accepts {} with the patched {devices_name}",
            settings.dhcpd_conf.display()
        )),
        Check::Invalid(messages) => {
            // Our change made dhcpd fail, or the configuration failed already: find out which
            // by checking the original again.
            if let Err(error) = replace_file(&devices_path, &original, &options) {
                log.dhcpd_lines(
                    true,
                    &format!(
                        "failed: dhcpd -t rejects the patched {devices_name} and restoring it failed: {error}"
                    ),
                    &messages,
                );
                report.failed = true;
                return report;
            }
            report.written = false;
            match check_with_dhcpd(settings, &mut log) {
                Check::Invalid(_) => {
                    log.dhcpd_lines(
                        false,
                        &format!(
                            "warning: dhcpd -t fails even without our change; {devices_name} left unpatched:"
                        ),
                        &messages,
                    );
                    report.patched = 0;
                    return report;
                }
                Check::Skipped(_) | Check::Valid | Check::Failed(_) => {
                    log.dhcpd_lines(
                        true,
                        &format!(
                            "failed: dhcpd -t rejects the patched {devices_name}; original restored:"
                        ),
                        &messages,
                    );
                    report.failed = true;
                    return report;
                }
            }
        }
        Check::Failed(problem) => {
            log.line(&format!("warning: could not run dhcpd -t: {problem}"));
        }
    }
    log_summary(&mut log, &report, &devices_name);
    report
}

fn log_summary(log: &mut HookLog<'_>, report: &HookReport, devices_name: &str) {
    log.line(&format!(
        "Done: {} patched, {} already correct, {} not found in {devices_name}",
        report.patched, report.already_correct, report.not_found
    ));
}

enum Check {
    /// dhcpd is not installed, or `DHCPD_CONF` does not include the devices file; why.
    Skipped(String),
    Valid,
    Invalid(Vec<String>),
    /// dhcpd could not be run (timeout, not executable).
    Failed(String),
}

/// `dhcpd -t -cf DHCPD_CONF`, when dhcpd is installed and the configuration includes the devices
/// file (followed through `include` statements with the parser, not grep).
fn check_with_dhcpd(settings: &HookSettings, log: &mut HookLog<'_>) -> Check {
    let root = &settings.root;
    if !settings.dhcpd.exists() {
        return Check::Skipped(format!("{} is not installed", settings.dhcpd.display()));
    }
    let conf_name = settings.dhcpd_conf.display();
    let conf_path = root.resolve(&settings.dhcpd_conf);
    let Ok(conf_text) = fs::read_to_string(&conf_path) else {
        return Check::Skipped(format!("cannot read {conf_name}"));
    };
    let conf = match dhcpd_conf::parse(&conf_text) {
        Ok(conf) => conf,
        Err(error) => {
            log.line(&format!("warning: cannot parse {conf_name}: {error}"));
            return Check::Skipped(format!("{conf_name} cannot be parsed"));
        }
    };
    let devices = root.resolve(&settings.devices_dhcp);
    let graph = conf.walk_includes(|path| fs::read_to_string(root.resolve(Path::new(path))).ok());
    let included = graph
        .files()
        .iter()
        .any(|file| root.resolve(Path::new(&file.path)) == devices);
    if !included {
        return Check::Skipped(format!(
            "{conf_name} does not include {}",
            settings.devices_dhcp.display()
        ));
    }
    match dhcpd::check(&settings.dhcpd, &conf_path, settings.dhcpd_timeout) {
        Ok(verdict) if verdict.valid => Check::Valid,
        Ok(verdict) => Check::Invalid(verdict.messages),
        Err(error) => Check::Failed(error.to_string()),
    }
}
