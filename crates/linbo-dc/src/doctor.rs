//! `linbo-dc-worker doctor`: every part the worker needs, checked once, one line per check with
//! `ok`, `WARN` or `FAIL` and, when it is not ok, what to do. The predecessor's installer checked
//! Redis, the API and missing configuration keys; this checks those and the DC side.
//!
//! Nothing here changes state: Redis and the API are only read (the API is asked for an
//! operation that does not exist), the state directory gets a probe file that is removed at
//! once, and no lock is taken.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dc_adapters::process::{self, CommandSpec};

use crate::conf_file::ConfFile;
use crate::worker::Programs;
use crate::worker::api::{ApiClient, ApiError, ApiSettings, OperationId};
use crate::worker::config::{KEYS, SambaToolAuth, Settings};

/// Where linuxmuster runs post-import hooks, and the name the predecessor's hook had.
pub const HOOK_PATH: &str = "/var/lib/linuxmuster/hooks/device-import.post.d/50-linbo-docker-dhcp";

/// The operation id asked for to check the API: a valid UUID no operation has.
const PROBE_OPERATION: &str = "00000000-0000-4000-8000-00000000d0c7";

/// How long one network check waits.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(5);

/// Free space below this in `STATE_DIR` is a failure, below ten times this a warning.
const MIN_FREE_BYTES: u64 = 100 * 1024 * 1024;

/// samba-tool versions known to read `PASSWD_FILE` for `-U USER` (the worker's delete
/// credentials; see `dc_adapters::samba_tool`).
const SAMBA_TESTED: (u32, u32) = (15, 22);

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Works.
    Ok,
    /// Works, but something is worth a look.
    Warn,
    /// Does not work: jobs will fail or the worker will not run.
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked (`redis`, `api`, …).
    pub name: &'static str,
    /// How it ended.
    pub verdict: Verdict,
    /// What was found.
    pub detail: String,
    /// What to do, when it is not ok.
    pub hint: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Ok,
            detail: detail.into(),
            hint: None,
        }
    }

    fn warn(name: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Warn,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, hint: impl Into<String>) -> Check {
        Check {
            name,
            verdict: Verdict::Fail,
            detail: detail.into(),
            hint: Some(hint.into()),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = match self.verdict {
            Verdict::Ok => "ok  ",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        write!(f, "{verdict} {}: {}", self.name, self.detail)?;
        if let Some(hint) = &self.hint {
            write!(f, " — {hint}")?;
        }
        Ok(())
    }
}

/// Every check, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The checks.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether no check failed.
    pub fn passed(&self) -> bool {
        self.checks
            .iter()
            .all(|check| check.verdict != Verdict::Fail)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(f, "{check}")?;
        }
        Ok(())
    }
}

/// Runs every check. `config` is the configuration file as read (for the keys it leaves to
/// their defaults).
pub async fn run(settings: &Settings, config: &ConfFile, programs: &Programs) -> Report {
    let mut checks = vec![config_check(settings, config)];
    checks.push(redis_check(settings).await);
    checks.push(api_check(settings).await);
    checks.push(dns_check(settings).await);
    let blocking = {
        let (settings, programs) = (settings.clone(), programs.clone());
        tokio::task::spawn_blocking(move || dc_checks(&settings, &programs)).await
    };
    match blocking {
        Ok(more) => checks.extend(more),
        Err(error) => checks.push(Check::fail(
            "doctor",
            format!("the DC checks failed: {error}"),
            "run doctor again with -v and report the output",
        )),
    }
    Report { checks }
}

/// The DNS server verification asks answers (any answer: the domain's own A record is not
/// required).
async fn dns_check(settings: &Settings) -> Check {
    let hint = "set DNS_SERVER to the DC's address (or fix /etc/resolv.conf): verification asks it for A and PTR records";
    let Some((server, source)) = settings.resolved_dns_server() else {
        return Check::fail(
            "dns",
            "no DNS server: no DNS_SERVER and no nameserver in /etc/resolv.conf",
            hint,
        );
    };
    let from = source.map_or_else(
        || "DNS_SERVER".to_owned(),
        |file| file.display().to_string(),
    );
    let resolver = dc_adapters::dns::Resolver::new(server, NETWORK_TIMEOUT);
    match resolver.lookup_a(&settings.linbo_domain).await {
        Ok(_) => Check::ok("dns", format!("{server} (from {from}) answers")),
        Err(error) => Check::fail("dns", format!("{server} (from {from}): {error}"), hint),
    }
}

fn config_check(settings: &Settings, config: &ConfFile) -> Check {
    let set: Vec<&str> = KEYS
        .iter()
        .copied()
        .filter(|key| config.get(key).is_some())
        .collect();
    let defaults = KEYS.len() - set.len();
    let detail = format!(
        "{} parses: {} keys set, {defaults} at their defaults (check-config shows all)",
        config.path().display(),
        set.len()
    );
    // The keys the predecessor's installer insisted on: their defaults fit no real setup.
    let unset: Vec<&str> = ["REDIS_HOST", "API_URL", "API_KEY"]
        .into_iter()
        .filter(|key| config.get(key).is_none() && std::env::var_os(key).is_none())
        .collect();
    if !unset.is_empty() {
        return Check::warn(
            "config",
            detail,
            format!(
                "{} not set (neither in the file nor in the environment): the defaults point at localhost and the public API key",
                unset.join(", ")
            ),
        );
    }
    if settings.uses_default_api_key() {
        return Check::warn(
            "config",
            detail,
            "API_KEY is LINBO Docker's public default: set your own in the API and here",
        );
    }
    if !settings.warnings.is_empty() {
        return Check::warn("config", detail, settings.warnings.join("; "));
    }
    Check::ok("config", detail)
}

async fn redis_check(settings: &Settings) -> Check {
    let url = settings.redis.redacted_url();
    let client = match settings.redis.client() {
        Ok(client) => client,
        Err(error) => return Check::fail("redis", error.to_string(), "fix the key it names"),
    };
    let names = crate::streams::consumer_settings(settings.consumer_name.clone());
    let (stream, group_name) = (&names.stream, &names.group);
    let probe = async {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(NETWORK_TIMEOUT))
            .set_response_timeout(Some(NETWORK_TIMEOUT));
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        let length: u64 = redis::cmd("XLEN")
            .arg(stream)
            .query_async(&mut connection)
            .await?;
        let groups: redis::RedisResult<Vec<std::collections::HashMap<String, redis::Value>>> =
            redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(stream)
                .query_async(&mut connection)
                .await;
        let has_group = groups.map(|groups| {
            groups.iter().any(|group| {
                matches!(group.get("name"), Some(redis::Value::BulkString(name)) if name == group_name.as_bytes())
            })
        });
        Ok::<_, redis::RedisError>((length, has_group.unwrap_or(false)))
    };
    match tokio::time::timeout(NETWORK_TIMEOUT * 2, probe).await {
        Ok(Ok((length, true))) => Check::ok(
            "redis",
            format!("{url} answers; group {group_name} exists; {stream} holds {length} entries"),
        ),
        Ok(Ok((length, false))) => Check::warn(
            "redis",
            format!("{url} answers; {stream} holds {length} entries; no group {group_name} yet"),
            "the worker creates it when it starts; if it runs, check that the API and the worker use the same Redis database (REDIS_DB)",
        ),
        Ok(Err(error)) => match crate::redis_link::diagnose(&settings.redis, &error) {
            Some(problem) => Check::fail("redis", problem.to_string(), "fix the key it names"),
            None => Check::fail(
                "redis",
                format!("{url}: {error}"),
                "is redis-server running on the Docker host, is its port open to this DC, and are REDIS_HOST/REDIS_PORT (or REDIS_URL) and REDIS_PASSWORD right?",
            ),
        },
        Err(_) => Check::fail(
            "redis",
            format!("{url}: no answer within {:?}", NETWORK_TIMEOUT * 2),
            "is the Docker host reachable from the DC (firewall, REDIS_HOST), and does rediss:// point at the TLS port?",
        ),
    }
}

async fn api_check(settings: &Settings) -> Check {
    let api = match ApiClient::new(&ApiSettings {
        base_url: settings.api_url.clone(),
        api_key: settings.api_key.clone(),
        timeout: NETWORK_TIMEOUT,
        connect_timeout: NETWORK_TIMEOUT,
    }) {
        Ok(api) => api,
        Err(error) => return Check::fail("api", error.to_string(), "fix API_URL or API_KEY"),
    };
    let probe = OperationId::parse(PROBE_OPERATION).expect("a valid UUID");
    let url = &settings.api_url;
    match api.get_operation(&probe).await {
        Err(ApiError::NotFound { .. }) | Ok(_) => Check::ok(
            "api",
            format!("{url} answers the internal routes and accepts the key"),
        ),
        Err(error @ ApiError::Unauthorized { .. }) => Check::fail(
            "api",
            error.to_string(),
            "API_KEY must be the API container's INTERNAL_API_KEY",
        ),
        Err(error @ ApiError::UnknownRoute { .. }) => Check::fail(
            "api",
            error.to_string(),
            "API_URL must be the API's base including the version, e.g. http://<docker-host>:3000/api/v1",
        ),
        Err(error) if error.is_unreachable() => Check::fail(
            "api",
            error.to_string(),
            "is the API container running, and are API_URL's host and port reachable from the DC?",
        ),
        Err(error) => Check::fail(
            "api",
            error.to_string(),
            "the API answered, but not as expected: check its logs",
        ),
    }
}

/// The checks of the DC's own programs and files.
fn dc_checks(settings: &Settings, programs: &Programs) -> Vec<Check> {
    let mut checks = vec![
        executable(
            "import",
            &programs.import,
            "IMPORT_SCRIPT must be linuxmuster's import (linuxmuster-base7: /usr/sbin/linuxmuster-import-devices)",
        ),
        match settings.repair_script.is_file() {
            true => Check::ok(
                "repair script",
                settings.repair_script.display().to_string(),
            ),
            false => Check::fail(
                "repair script",
                format!("{} does not exist", settings.repair_script.display()),
                "machine-account repairs fail until REPAIR_SCRIPT names the script your LINBO installation has",
            ),
        },
        samba_tool_check(settings, programs),
        executable(
            "sophomorix-device",
            &programs.sophomorix_device,
            "the import and the pre-check need it: is this the linuxmuster DC?",
        ),
        hook_check(settings),
    ];
    checks.push(devices_check(settings));
    checks.push(writable(
        "lock file",
        &settings.provision_lock_file,
        "PROVISION_LOCK_FILE must be creatable by the worker",
    ));
    checks.push(state_dir_check(&settings.state_dir));
    checks.push(outbox_check(settings));
    checks
}

fn executable(name: &'static str, path: &Path, hint: &str) -> Check {
    use std::os::unix::fs::PermissionsExt as _;
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() && metadata.permissions().mode() & 0o111 != 0 => {
            Check::ok(name, path.display().to_string())
        }
        Ok(_) => Check::fail(name, format!("{} is not executable", path.display()), hint),
        Err(error) => Check::fail(name, format!("{}: {error}", path.display()), hint),
    }
}

fn samba_tool_check(settings: &Settings, programs: &Programs) -> Check {
    let spec = CommandSpec::new(&programs.samba_tool)
        .arg("--version")
        .timeout(NETWORK_TIMEOUT);
    let version = match process::run(&spec) {
        Ok(output) if output.code == Some(0) => samba_version(&output.stdout).to_owned(),
        Ok(output) => {
            return Check::fail(
                "samba-tool",
                format!("--version failed: {}", output.stderr.trim()),
                "is samba installed and working on this DC?",
            );
        }
        Err(error) => {
            return Check::fail(
                "samba-tool",
                error.to_string(),
                "verification and clean-up need it: is this the Samba AD DC?",
            );
        }
    };
    let minor = samba_minor(&version);
    let credentials = match &settings.samba_tool_auth {
        SambaToolAuth::None => {
            return Check::warn(
                "samba-tool",
                format!("{version}; no credentials for deletes"),
                "set SAMBA_TOOL_AUTH_FILE, or what a delete or rename leaves in AD and DNS is reported, not cleaned up",
            );
        }
        SambaToolAuth::File(path) => format!("credentials from {}", path.display()),
        SambaToolAuth::Credentials(_) => "credentials from SAMBA_TOOL_AUTH".to_owned(),
    };
    match minor {
        Some(minor) if (SAMBA_TESTED.0..=SAMBA_TESTED.1).contains(&minor) => Check::ok(
            "samba-tool",
            format!("{version}; {credentials}, passed as -U USER with PASSWD_FILE"),
        ),
        _ => Check::warn(
            "samba-tool",
            format!("{version}; {credentials}"),
            format!(
                "deletes pass the password through PASSWD_FILE, known to work with samba 4.{}–4.{}: try one delete by hand",
                SAMBA_TESTED.0, SAMBA_TESTED.1
            ),
        ),
    }
}

/// The version `samba-tool --version` printed: its last line (4.22 prints "samba-tool: missing
/// subcommand" first; recorded in `../shared/recorded/samba/samba-4.22/samba-tool_version.txt`).
fn samba_version(stdout: &str) -> &str {
    stdout
        .lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .unwrap_or("unknown version")
}

/// The minor number of a samba 4.x version (`4.17.12-Debian` → 17).
fn samba_minor(version: &str) -> Option<u32> {
    let mut parts = version.split(['.', '-']);
    (parts.next()? == "4").then_some(())?;
    parts.next()?.parse().ok()
}

fn hook_check(settings: &Settings) -> Check {
    let hook = settings.root.resolve(Path::new(HOOK_PATH));
    let installed = executable(
        "hook",
        &hook,
        &format!("install it: ln -s /usr/sbin/linbo-dc-dhcp-hook {HOOK_PATH}"),
    );
    if installed.verdict != Verdict::Ok {
        return installed;
    }
    let config_path = PathBuf::from(crate::hook::DEFAULT_CONFIG);
    let ip = ConfFile::read(&settings.root, &config_path)
        .ok()
        .flatten()
        .and_then(|file| file.get("LINBO_DOCKER_IP").map(|entry| entry.value.clone()))
        .filter(|value| !value.trim().is_empty());
    match ip {
        Some(ip) => Check::ok("hook", format!("{}; LINBO_DOCKER_IP={ip}", hook.display())),
        None => Check::fail(
            "hook",
            format!("{} has no LINBO_DOCKER_IP", crate::hook::DEFAULT_CONFIG),
            "set LINBO_DOCKER_IP to the Docker host's address, or PXE hosts keep booting from the DC's TFTP",
        ),
    }
}

fn devices_check(settings: &Settings) -> Check {
    let files = settings.check_files();
    let schools = settings.schools();
    let mut unreadable = Vec::new();
    for school in &schools {
        let path = settings.devices_csv_master(school);
        if let Err(error) = std::fs::read(&path) {
            unreadable.push(format!("{}: {error}", path.display()));
        }
    }
    if let Some(error) = files.errors.first() {
        return Check::fail("devices.csv", error.clone(), "fix SCHOOL");
    }
    if !unreadable.is_empty() {
        return Check::fail(
            "devices.csv",
            unreadable.join("; "),
            "jobs of these schools fail until their devices.csv is readable (the worker never creates it)",
        );
    }
    let names: Vec<String> = schools.iter().map(ToString::to_string).collect();
    Check::ok(
        "devices.csv",
        format!(
            "readable for {} school(s): {}",
            names.len(),
            names.join(", ")
        ),
    )
}

fn writable(name: &'static str, path: &Path, hint: &str) -> Check {
    match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        Ok(_) => Check::ok(name, format!("{} is writable", path.display())),
        Err(error) => Check::fail(name, format!("{}: {error}", path.display()), hint),
    }
}

fn state_dir_check(state_dir: &Path) -> Check {
    let probe = state_dir.join(format!(".doctor-{}", std::process::id()));
    let written = std::fs::create_dir_all(state_dir)
        .and_then(|()| std::fs::write(&probe, b"probe"))
        .and_then(|()| std::fs::remove_file(&probe));
    if let Err(error) = written {
        return Check::fail(
            "state dir",
            format!("{}: {error}", state_dir.display()),
            "STATE_DIR must be writable by the worker (it holds the outbox and the backups)",
        );
    }
    match free_bytes(state_dir) {
        Some(free) if free < MIN_FREE_BYTES => Check::fail(
            "state dir",
            format!("{}: only {} MiB free", state_dir.display(), free >> 20),
            "free space: the outbox and the backups of devices.csv live here",
        ),
        Some(free) if free < 10 * MIN_FREE_BYTES => Check::warn(
            "state dir",
            format!("{}: {} MiB free", state_dir.display(), free >> 20),
            "space is getting low",
        ),
        Some(free) => Check::ok(
            "state dir",
            format!(
                "{} is writable, {} MiB free",
                state_dir.display(),
                free >> 20
            ),
        ),
        None => Check::ok("state dir", format!("{} is writable", state_dir.display())),
    }
}

/// Free bytes of the filesystem holding `dir`, as `df` reports them.
fn free_bytes(dir: &Path) -> Option<u64> {
    let spec = CommandSpec::new("/bin/df")
        .arg("-P")
        .arg("-k")
        .arg(dir)
        .timeout(NETWORK_TIMEOUT);
    let output = process::run(&spec).ok()?;
    let line = output.stdout.lines().nth(1)?;
    let available_kib: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(available_kib * 1024)
}

fn outbox_check(settings: &Settings) -> Check {
    let queued = std::fs::read_dir(&settings.outbox_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_file()))
                .count()
        })
        .unwrap_or(0);
    if queued == 0 {
        Check::ok("outbox", "empty: every report reached the API")
    } else {
        Check::warn(
            "outbox",
            format!(
                "reports of {queued} operation(s) wait in {}",
                settings.outbox_dir.display()
            ),
            "they are sent when the API answers again; see the api line",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samba_versions_as_recorded() {
        // samba-tool_version.txt (Debian 12) and samba-4.22/samba-tool_version.txt.
        let v417 = samba_version("4.17.12-Debian\n");
        let v422 = samba_version(
            "samba-tool: missing subcommand\n\n4.22.6-Debian-4.22.6+dfsg-0+deb13u1~bpo12+1\n",
        );
        assert_eq!(v417, "4.17.12-Debian");
        assert_eq!(samba_minor(v417), Some(17));
        assert_eq!(samba_minor(v422), Some(22));
        assert_eq!(samba_minor("5.0.1"), None);
        assert_eq!(samba_version(""), "unknown version");
    }

    #[test]
    fn a_report_fails_when_one_check_fails() {
        let report = Report {
            checks: vec![
                Check::ok("redis", "answers"),
                Check::warn("outbox", "2 waiting", "they are sent later"),
            ],
        };
        assert!(report.passed());
        assert_eq!(
            report.to_string(),
            "ok   redis: answers\nWARN outbox: 2 waiting — they are sent later\n"
        );
        let failed = Report {
            checks: vec![Check::fail("api", "refused", "check API_KEY")],
        };
        assert!(!failed.passed());
    }
}
