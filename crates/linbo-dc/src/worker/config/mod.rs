//! The worker's configuration, `/etc/macct-worker.conf` (SPEC §3.1): the predecessor's file read
//! unchanged, in stages — raw values from the file and the environment ([`RawConfig`]), then
//! validated [`Settings`]. Code after start-up sees only `Settings`.
//!
//! # Sources and precedence
//!
//! 1. The file, `KEY=VALUE` lines parsed by [`ConfFile`] (never executed). A later line for the
//!    same key wins, as in the shell.
//! 2. **Environment variables override the file**, key by key, with the same names
//!    (`REDIS_HOST=... linbo-dc-worker`). Only the keys listed below are taken from the
//!    environment. This library does not read the process environment: the binary passes it in,
//!    as it passes the host name (the default `CONSUMER_NAME`).
//! 3. An empty value (`KEY=` or `KEY=""`) means the key's default; for keys without a value by
//!    default (`REDIS_PASSWORD`, `REDIS_URL`, `REDIS_CA_FILE`, `DHCP_VERIFY_FILE`, `SAMBA_TOOL_AUTH`,
//!    `SAMBA_TOOL_AUTH_FILE`, `DEVICES_CSV_MASTER`) it means "not set".
//! 4. `{school}` placeholders are expanded after everything is read, so the order of lines does not
//!    matter: in the per-school keys (`DEVICES_CSV_MASTER`, `DEVICES_CSV_DELTA`,
//!    `DHCP_VERIFY_FILE`) with the school of each job, in every other path with `SCHOOL`. Other
//!    `{...}` placeholders are refused.
//!
//! Unknown keys in the file are warnings, not errors ([`Settings::warnings`]). A bad value is a
//! [`ConfError`] naming the file, the line (or the environment variable) and the key, and saying
//! what was expected; the binary exits with 78 (`EX_CONFIG`). Messages never
//! repeat a secret. Paths must be absolute; they are resolved through the [`Root`], so tests run in
//! a sandbox directory.
//!
//! # Keys
//!
//! Durations are whole seconds; counts marked "> 0" refuse 0.
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `REDIS_HOST` | `localhost` | Redis host name or address |
//! | `REDIS_PORT` | `6379` | Redis TCP port |
//! | `REDIS_PASSWORD` | – | Redis password (`AUTH`) |
//! | `REDIS_DB` | `0` | Redis database number |
//! | `REDIS_URL` | – | `redis://[[user]:password@]host[:port][/db]` or `rediss://` (TLS); when set it replaces the four keys above, which are then ignored with a warning |
//! | `REDIS_CA_FILE` | – (the system's CA store) | PEM file with the CA certificate(s) that signed the `rediss://` server's certificate (a private CA); then only these are trusted; read at start (missing, unreadable or without a certificate: an error); without TLS a warning and no effect |
//! | `API_URL` | `http://localhost:3000/api/v1` | LINBO Docker API base, `http://` or `https://` |
//! | `API_KEY` | `linbo-internal-secret` | `X-Internal-Key` header; the public default is a loud warning |
//! | `CONSUMER_NAME` | the host name | consumer name in the group `dc-workers`, 1–128 of `A-Za-z0-9.-_@:`; stable across restarts |
//! | `LOG_DIR` | `/var/log/macct` | per-job logs of the repair script |
//! | `REPAIR_SCRIPT` | `/usr/share/linuxmuster/linbo/repair_macct.py` | machine-account repair script |
//! | `SCHOOL` | `default-school` | school of stream entries without one |
//! | `DEVICES_CSV_MASTER` | `/etc/linuxmuster/sophomorix/{school}/devices.csv` for `default-school`, `/etc/linuxmuster/sophomorix/{school}/{school}.devices.csv` otherwise | the school's devices.csv |
//! | `DEVICES_CSV_DELTA` | `/etc/linuxmuster/sophomorix/{school}/linbo-docker.devices.csv` | the delta file the worker owns |
//! | `IMPORT_SCRIPT` | `/usr/sbin/linuxmuster-import-devices` | run with `-s <school>` |
//! | `PROVISION_LOCK_FILE` | `/var/lock/linbo-provision.lock` | `flock` file around commit and import |
//! | `LINBO_DOMAIN` | `linuxmuster.lan` | DNS domain for verification; `auto`: `/var/lib/linuxmuster/setup.ini` `[setup] domainname`, then `realm` in `/etc/samba/smb.conf`, else an error |
//! | `DHCP_VERIFY_FILE` | – (skip) | DHCP file to verify host blocks in, typically `/etc/dhcp/devices/{school}.conf` |
//! | `SAMBA_TOOL_AUTH` | – | `user%password` for `samba-tool` delete clean-up (ignored with a warning when `SAMBA_TOOL_AUTH_FILE` is set); none = no clean-up |
//! | `SAMBA_TOOL_AUTH_FILE` | – | samba authentication file (`username=`, `password=`, optional `domain=`) for the same clean-up; preferred; wins over `SAMBA_TOOL_AUTH`; must exist and be readable at start |
//! | `SAMBA_DNS_SERVER` | `localhost` | the DC's DNS server that `samba-tool dns delete` talks to (as sophomorix does), a host name or IPv4 address |
//! | `DNS_SERVER` | the first `nameserver` of `/etc/resolv.conf` (port 53) | the DNS server verification asks for A and PTR records, `address` or `address:port` (`[v6]:port`); asked directly, no cache |
//! | `REV_DNS_OCTETS` | `3` | network octets of the reverse zone, 1..=3 |
//! | `PROVISION_BATCH_SIZE` | `50` | jobs per import run, > 0 |
//! | `PROVISION_DEBOUNCE_SEC` | `5` | batching window after the first job (0 = no wait) |
//! | `STATE_DIR` | `/var/lib/linbo-dc` | durable state (outbox) |
//! | `OUTBOX_DIR` | `<STATE_DIR>/outbox` | durable outbox of undelivered API reports |
//! | `IMPORT_TIMEOUT_SEC` | `600` | limit for one `IMPORT_SCRIPT` run, > 0 (the predecessor's; the import runs sophomorix twice, each binding to AD and reading every device) |
//! | `COMMAND_TIMEOUT_SEC` | `120` | limit for other DC commands (repair script, samba-tool), > 0 |
//! | `VERIFY_TIMEOUT_SEC` | `60` | limit for a batch's verification, > 0 |
//! | `VERIFY_CONCURRENCY` | `8` | verification commands at once, > 0 |
//! | `MACCT_CONCURRENCY` | `2` | machine-account repairs at once, > 0 |
//! | `MACCT_RETRY_BACKOFF_SEC` | `10` | a failed repair is retried after this × 2^attempt, > 0 |
//! | `CLAIM_MIN_IDLE_SEC` | `2400` | claim entries of crashed consumers idle this long, > 0; a warning unless above `LOCK_TIMEOUT_SEC` + 3 × `IMPORT_TIMEOUT_SEC` + `VERIFY_TIMEOUT_SEC` (the longest batch: pre-check, import, and the import of the restored files after a failure) |
//! | `CLAIM_INTERVAL_SEC` | `30` | how often to look for such entries, 1..=60 |
//! | `MAX_DELIVERIES` | `5` | times handling of an entry may start before it is dead-lettered (replays, restarts and waits before a job's first command do not count), > 0 |
//! | `API_TIMEOUT_SEC` | `10` | limit for one API request, > 0 |
//! | `LOCK_TIMEOUT_SEC` | `120` | wait for the provisioning lock this long, then retry later (jobs stay pending), > 0 |
//! | `ADOPT_MANUAL_HOSTS` | `false` | let jobs delete, rename or take over (another MAC) hosts the administrator added to devices.csv by hand; without it a job adopts a hand-made host only as the same device (same MAC) |
//! | `SOPHOMORIX_PRECHECK` | `true` | run `sophomorix-device --dry-run` before the import (linuxmuster 7.3's import hides sophomorix's verdict and exits 0; its lock answer keeps the batch pending) |
//! | `DEFAULT_ROOM` | `unknown` | room of hosts without one, `[A-Za-z0-9-]+` starting with a letter or digit |
//! | `HEARTBEAT_INTERVAL_SEC` | `10` | refresh of `linbo:workers:<consumer>`, > 0 |
//! | `HEARTBEAT_TTL_SEC` | `30` | its expiry, greater than the interval |
//! | `STREAM_RETENTION_SEC` | `604800` (7 days) | acknowledged entries of `linbo:jobs` older than this are trimmed (at start and every 10 min), never one still pending or not yet delivered to every consumer group; `0`: never trim; at most 31536000 (365 days) |
//! | `DLQ_MAXLEN` | `10000` | the dead-letter stream `linbo:jobs:dlq` keeps at most this many entries (the newest; trimmed exactly); `0`: no cap |
//!
//! ```
//! use std::collections::HashMap;
//! use std::path::Path;
//!
//! use linbo_dc::conf_file::ConfFile;
//! use linbo_dc::paths::{Root, School};
//! use linbo_dc::worker::config::{Settings, Sources};
//!
//! let file = ConfFile::parse(
//!     Path::new("/etc/macct-worker.conf"),
//!     "DEVICES_CSV_DELTA=/srv/{school}/delta.csv\nSCHOOL=gym\nREDIS_PORT=6380\n",
//! )?;
//! let env = HashMap::from([("REDIS_PORT".to_owned(), "6381".to_owned())]);
//! let root = Root::system();
//! let settings = Settings::load(&Sources { file: &file, env: &env, host_name: "server", root: &root })?;
//! assert_eq!(settings.redis.port, 6381, "the environment overrides the file");
//! let gym: School = "gym".parse()?;
//! assert_eq!(settings.devices_csv_delta(&gym), Path::new("/srv/gym/delta.csv"));
//! assert_eq!(
//!     settings.devices_csv_master(&gym),
//!     Path::new("/etc/linuxmuster/sophomorix/gym/gym.devices.csv")
//! );
//! assert_eq!(settings.consumer_name, "server");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod domain;
mod redis_settings;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use dc_adapters::dns;
use devices_csv::Room;

use crate::conf_file::{ConfError, ConfFile};
use crate::paths::{Root, School};

pub use domain::{SETUP_INI, SMB_CONF, dc_host_name, setup_ini_domain, smb_conf_realm};
pub use redis_settings::{CaFile, RedisSettings, Secret};

/// Where the worker's configuration lives on a DC (`--config/-c` overrides it).
pub const DEFAULT_CONFIG: &str = "/etc/macct-worker.conf";

/// Where the DNS server comes from without `DNS_SERVER`.
pub const RESOLV_CONF: &str = "/etc/resolv.conf";

/// The API key LINBO Docker ships with; using it is a warning.
pub const DEFAULT_API_KEY: &str = "linbo-internal-secret";

/// Every key the worker reads, in the order of the example config and of [`Settings::effective`].
pub const KEYS: [&str; 45] = [
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_PASSWORD",
    "REDIS_DB",
    "REDIS_URL",
    "REDIS_CA_FILE",
    "API_URL",
    "API_KEY",
    "CONSUMER_NAME",
    "LOG_DIR",
    "REPAIR_SCRIPT",
    "SCHOOL",
    "DEVICES_CSV_MASTER",
    "DEVICES_CSV_DELTA",
    "IMPORT_SCRIPT",
    "PROVISION_LOCK_FILE",
    "LINBO_DOMAIN",
    "DHCP_VERIFY_FILE",
    "SAMBA_TOOL_AUTH",
    "SAMBA_TOOL_AUTH_FILE",
    "SAMBA_DNS_SERVER",
    "DNS_SERVER",
    "REV_DNS_OCTETS",
    "PROVISION_BATCH_SIZE",
    "PROVISION_DEBOUNCE_SEC",
    "STATE_DIR",
    "OUTBOX_DIR",
    "IMPORT_TIMEOUT_SEC",
    "COMMAND_TIMEOUT_SEC",
    "VERIFY_TIMEOUT_SEC",
    "VERIFY_CONCURRENCY",
    "MACCT_CONCURRENCY",
    "MACCT_RETRY_BACKOFF_SEC",
    "CLAIM_MIN_IDLE_SEC",
    "CLAIM_INTERVAL_SEC",
    "MAX_DELIVERIES",
    "API_TIMEOUT_SEC",
    "LOCK_TIMEOUT_SEC",
    "SOPHOMORIX_PRECHECK",
    "ADOPT_MANUAL_HOSTS",
    "DEFAULT_ROOM",
    "HEARTBEAT_INTERVAL_SEC",
    "HEARTBEAT_TTL_SEC",
    "STREAM_RETENTION_SEC",
    "DLQ_MAXLEN",
];

/// The longest duration any `*_SEC` key accepts (one week), so that no timer arithmetic overflows.
const MAX_SECONDS: u64 = 7 * 24 * 3600;

/// The longest `STREAM_RETENTION_SEC` (365 days); it is only subtracted from Redis's clock.
const MAX_RETENTION_SECONDS: u64 = 365 * 24 * 3600;

const DEFAULT_MASTER_DEFAULT_SCHOOL: &str = "/etc/linuxmuster/sophomorix/{school}/devices.csv";
const DEFAULT_MASTER_OTHER_SCHOOL: &str =
    "/etc/linuxmuster/sophomorix/{school}/{school}.devices.csv";
const DEFAULT_DELTA: &str = "/etc/linuxmuster/sophomorix/{school}/linbo-docker.devices.csv";

/// What the binary reads from the system and hands to [`Settings::load`].
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The parsed configuration file (an empty one when there is none).
    pub file: &'a ConfFile,
    /// The process environment; values of known keys override the file.
    pub env: &'a HashMap<String, String>,
    /// The host name, the default `CONSUMER_NAME` (the binary reads it, e.g. from
    /// `/etc/hostname` or `uname`; surrounding white space is ignored).
    pub host_name: &'a str,
    /// The directory standing for `/`.
    pub root: &'a Root,
}

/// Where a raw value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line of the configuration file (1-based).
    File {
        /// The line number.
        line: usize,
    },
    /// The environment variable of the same name.
    Env,
}

/// One raw value and its origin. Its `Debug` output shows the value of a secret key as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct RawValue {
    /// The key.
    pub key: &'static str,
    /// The text, quotes removed, nothing expanded.
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

/// The first stage: the value of every known key, file overridden by environment, not yet
/// validated, plus warnings about unknown keys. Its `Debug` output shows secret values as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct RawConfig {
    path: PathBuf,
    values: HashMap<&'static str, RawValue>,
    warnings: Vec<String>,
}

/// Keys whose raw value is (or may contain) a secret.
const SECRET_KEYS: [&str; 4] = ["REDIS_PASSWORD", "REDIS_URL", "API_KEY", "SAMBA_TOOL_AUTH"];

impl fmt::Debug for RawValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = if SECRET_KEYS.contains(&self.key) && !self.value.is_empty() {
            "***"
        } else {
            &self.value
        };
        f.debug_struct("RawValue")
            .field("key", &self.key)
            .field("value", &value)
            .field("origin", &self.origin)
            .finish()
    }
}

impl fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut values: Vec<&RawValue> = self.values.values().collect();
        values.sort_unstable_by_key(|raw| raw.key);
        f.debug_struct("RawConfig")
            .field("path", &self.path)
            .field("values", &values)
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl RawConfig {
    /// Collects the known keys from `file`, then from `env` (which wins).
    pub fn collect(file: &ConfFile, env: &HashMap<String, String>) -> RawConfig {
        let mut values = HashMap::new();
        for key in KEYS {
            if let Some(entry) = file.get(key) {
                values.insert(
                    key,
                    RawValue {
                        key,
                        value: entry.value.clone(),
                        origin: Origin::File { line: entry.line },
                    },
                );
            }
            if let Some(value) = env.get(key) {
                values.insert(
                    key,
                    RawValue {
                        key,
                        value: value.clone(),
                        origin: Origin::Env,
                    },
                );
            }
        }
        let warnings = file
            .unknown(&KEYS)
            .map(|entry| {
                format!(
                    "{}, line {}: unknown key {} ignored",
                    file.path().display(),
                    entry.line,
                    entry.key
                )
            })
            .collect();
        RawConfig {
            path: file.path().to_owned(),
            values,
            warnings,
        }
    }

    /// The file the values were read from (named in messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw value of `key`, when the file or the environment sets it (even to "").
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.values.get(key)
    }

    /// The non-empty raw value of `key` (empty means "the default").
    fn set(&self, key: &str) -> Option<&RawValue> {
        self.get(key).filter(|raw| !raw.value.is_empty())
    }

    /// An error about `key`'s value: on its line, or naming the environment variable.
    fn error(&self, key: &str, problem: impl fmt::Display) -> ConfError {
        let (line, problem) = match self.get(key).map(|raw| &raw.origin) {
            Some(Origin::File { line }) => (Some(*line), problem.to_string()),
            Some(Origin::Env) => (
                None,
                format!("environment variable {key} (overrides the file): {problem}"),
            ),
            None => (None, problem.to_string()),
        };
        ConfError {
            path: self.path.clone(),
            line,
            key: Some(key.to_owned()),
            problem,
        }
    }

    /// `key` parsed by `parse`, or `default` when unset or empty.
    fn parsed<T>(
        &self,
        key: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfError> {
        match self.set(key) {
            None => Ok(default),
            Some(raw) => parse(&raw.value).map_err(|problem| self.error(key, problem)),
        }
    }

    /// A whole number of seconds in `min..=MAX_SECONDS`.
    fn seconds(&self, key: &str, default: u64, min: u64) -> Result<Duration, ConfError> {
        self.parsed(key, Duration::from_secs(default), |value| {
            value
                .parse::<u64>()
                .ok()
                .filter(|seconds| (min..=MAX_SECONDS).contains(seconds))
                .map(Duration::from_secs)
                .ok_or_else(|| {
                    format!(
                        "expected a whole number of seconds {min}..={MAX_SECONDS}, found {value:?}"
                    )
                })
        })
    }

    /// A count above 0.
    fn count(&self, key: &str, default: usize) -> Result<NonZeroUsize, ConfError> {
        let default = NonZeroUsize::new(default).expect("every default count is above 0");
        self.parsed(key, default, |value| {
            value
                .parse::<NonZeroUsize>()
                .map_err(|_| format!("expected a whole number above 0, found {value:?}"))
        })
    }
}

/// How `samba-tool` authenticates for the delete clean-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SambaToolAuth {
    /// Neither key set: no clean-up after a delete that left objects behind.
    None,
    /// `SAMBA_TOOL_AUTH_FILE`: a samba authentication file (resolved path), readable and holding
    /// a user name and a password when the settings were made.
    File(PathBuf),
    /// `SAMBA_TOOL_AUTH`: `user%password`, redacted in every output.
    Credentials(Secret),
}

/// The validated configuration: the only form code after start-up sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The Redis connection.
    pub redis: RedisSettings,
    /// `API_URL` without a trailing `/`; `http://` or `https://`.
    pub api_url: String,
    /// `API_KEY`.
    pub api_key: Secret,
    /// `CONSUMER_NAME`, default the host name.
    pub consumer_name: String,
    /// `LOG_DIR`.
    pub log_dir: PathBuf,
    /// `REPAIR_SCRIPT`.
    pub repair_script: PathBuf,
    /// `SCHOOL`.
    pub school: School,
    /// `DEVICES_CSV_MASTER` as a template; `None` = the linuxmuster convention.
    devices_csv_master: Option<String>,
    /// `DEVICES_CSV_DELTA` as a template.
    devices_csv_delta: String,
    /// `DHCP_VERIFY_FILE` as a template; `None` = skip the DHCP check.
    dhcp_verify_file: Option<String>,
    /// `IMPORT_SCRIPT`.
    pub import_script: PathBuf,
    /// `PROVISION_LOCK_FILE`.
    pub provision_lock_file: PathBuf,
    /// `LINBO_DOMAIN`, lowercase; with `auto` the domain found.
    pub linbo_domain: String,
    /// With `LINBO_DOMAIN=auto`: the file (as the DC names it) the domain came from.
    pub linbo_domain_source: Option<PathBuf>,
    /// `SAMBA_TOOL_AUTH_FILE` or `SAMBA_TOOL_AUTH`.
    pub samba_tool_auth: SambaToolAuth,
    /// `SAMBA_DNS_SERVER`: the server argument of `samba-tool dns delete`.
    pub samba_dns_server: String,
    /// `DNS_SERVER`; `None`: the first `nameserver` of `/etc/resolv.conf`
    /// ([`resolved_dns_server`](Settings::resolved_dns_server), read when the worker starts).
    pub dns_server: Option<SocketAddr>,
    /// `REV_DNS_OCTETS`, 1..=3.
    pub rev_dns_octets: u8,
    /// `PROVISION_BATCH_SIZE`.
    pub provision_batch_size: NonZeroUsize,
    /// `PROVISION_DEBOUNCE_SEC`.
    pub provision_debounce: Duration,
    /// `STATE_DIR`.
    pub state_dir: PathBuf,
    /// `OUTBOX_DIR`.
    pub outbox_dir: PathBuf,
    /// `IMPORT_TIMEOUT_SEC`.
    pub import_timeout: Duration,
    /// `COMMAND_TIMEOUT_SEC`.
    pub command_timeout: Duration,
    /// `VERIFY_TIMEOUT_SEC`.
    pub verify_timeout: Duration,
    /// `VERIFY_CONCURRENCY`.
    pub verify_concurrency: NonZeroUsize,
    /// `MACCT_CONCURRENCY`.
    pub macct_concurrency: NonZeroUsize,
    /// `MACCT_RETRY_BACKOFF_SEC`: base of the retry delay (× 2^attempt).
    pub macct_retry_backoff: Duration,
    /// `CLAIM_MIN_IDLE_SEC`.
    pub claim_min_idle: Duration,
    /// `CLAIM_INTERVAL_SEC`, at most 60 s.
    pub claim_interval: Duration,
    /// `MAX_DELIVERIES`.
    pub max_deliveries: NonZeroU32,
    /// `API_TIMEOUT_SEC`.
    pub api_timeout: Duration,
    /// `LOCK_TIMEOUT_SEC`.
    pub lock_timeout: Duration,
    /// `SOPHOMORIX_PRECHECK`.
    pub sophomorix_precheck: bool,
    /// `ADOPT_MANUAL_HOSTS`.
    pub adopt_manual_hosts: bool,
    /// The DC's own host name (no job may change it) and the file it came from (`setup.ini`
    /// `servername`, else `smb.conf` `netbios name`); `None` when neither names it.
    pub dc_host_name: Option<(String, PathBuf)>,
    /// `DEFAULT_ROOM`.
    pub default_room: Room,
    /// `HEARTBEAT_INTERVAL_SEC`.
    pub heartbeat_interval: Duration,
    /// `HEARTBEAT_TTL_SEC`, greater than the interval.
    pub heartbeat_ttl: Duration,
    /// `STREAM_RETENTION_SEC`; `None` (0): the stream is never trimmed.
    pub stream_retention: Option<Duration>,
    /// `DLQ_MAXLEN`; `None` (0): no cap.
    pub dlq_maxlen: Option<NonZeroU64>,
    /// The directory standing for `/`; every path above is already resolved through it.
    pub root: Root,
    /// Problems worth a warning that do not stop the worker (unknown keys, the default API key,
    /// keys that another key overrides). They never contain a secret.
    pub warnings: Vec<String>,
}

impl Settings {
    /// Reads the raw values from the file and the environment and validates them.
    pub fn load(sources: &Sources<'_>) -> Result<Settings, ConfError> {
        let raw = RawConfig::collect(sources.file, sources.env);
        Settings::validate(&raw, sources.host_name, sources.root)
    }

    /// The second stage: validates `raw`. `host_name` is the default `CONSUMER_NAME`; paths are
    /// resolved through `root`.
    pub fn validate(raw: &RawConfig, host_name: &str, root: &Root) -> Result<Settings, ConfError> {
        let mut warnings = raw.warnings.clone();
        // SCHOOL first: every other path is expanded with it, wherever its line is.
        let school = raw.parsed("SCHOOL", School::default_school(), str::parse)?;
        let path = |key: &str, default: &str| -> Result<PathBuf, ConfError> {
            let template = raw.parsed(key, default.to_owned(), |value| {
                check_template(value).map(|()| value.to_owned())
            })?;
            Ok(root.resolve(Path::new(&school.expand(&template))))
        };
        let template = |key: &str| -> Result<Option<String>, ConfError> {
            raw.parsed(key, None, |value| {
                check_template(value).map(|()| Some(value.to_owned()))
            })
        };

        let mut redis = redis_settings(raw, &mut warnings)?;
        // Read now, so a missing or broken CA file stops the start (exit 78) instead of failing
        // every TLS handshake.
        redis.ca_file = raw.parsed("REDIS_CA_FILE", None, |value| {
            check_template(value)?;
            CaFile::read(&root.resolve(Path::new(&school.expand(value)))).map(Some)
        })?;
        if redis.ca_file.is_some() && !redis.tls {
            warnings.push(
                "REDIS_CA_FILE is set, but the Redis connection does not use TLS (only \
                 REDIS_URL=rediss://... does): the CA file has no effect"
                    .to_owned(),
            );
        }
        let api_url = raw.parsed(
            "API_URL",
            "http://localhost:3000/api/v1".to_owned(),
            parse_api_url,
        )?;
        let api_key = raw.parsed("API_KEY", Secret::new(DEFAULT_API_KEY), |key| {
            if key.chars().any(|c| c.is_control()) {
                Err(
                    "expected a key without control characters (it becomes an HTTP header)"
                        .to_owned(),
                )
            } else {
                Ok(Secret::new(key))
            }
        })?;
        if api_key.expose() == DEFAULT_API_KEY {
            warnings.push(
                "API_KEY is LINBO Docker's public default key: anyone who can reach the API can \
                 use its internal endpoints; set the same new API_KEY here and in the API"
                    .to_owned(),
            );
        }
        let consumer_name = match raw.set("CONSUMER_NAME") {
            Some(raw_name) => parse_consumer_name(&raw_name.value)
                .map_err(|problem| raw.error("CONSUMER_NAME", problem))?,
            None => parse_consumer_name(host_name).map_err(|problem| {
                raw.error(
                    "CONSUMER_NAME",
                    format!("not set, and the host name cannot be used: {problem}"),
                )
            })?,
        };

        let devices_csv_master = template("DEVICES_CSV_MASTER")?;
        let devices_csv_delta =
            raw.parsed("DEVICES_CSV_DELTA", DEFAULT_DELTA.to_owned(), |value| {
                check_template(value).map(|()| value.to_owned())
            })?;
        let dhcp_verify_file = template("DHCP_VERIFY_FILE")?;

        let (linbo_domain, linbo_domain_source) = match raw.set("LINBO_DOMAIN") {
            None => ("linuxmuster.lan".to_owned(), None),
            Some(value) if value.value.eq_ignore_ascii_case("auto") => {
                let (domain, source) = domain::auto_domain(root)
                    .map_err(|problem| raw.error("LINBO_DOMAIN", problem))?;
                (domain, Some(source))
            }
            Some(value) => (
                domain::parse_domain(&value.value)
                    .map_err(|problem| raw.error("LINBO_DOMAIN", problem))?,
                None,
            ),
        };

        let dns_server = raw.parsed("DNS_SERVER", None, |value| {
            dns::parse_server(value)
                .map(Some)
                .map_err(|error| error.to_string())
        })?;

        let auth_file = raw.parsed("SAMBA_TOOL_AUTH_FILE", None, |value| {
            check_template(value).map(|()| Some(root.resolve(Path::new(&school.expand(value)))))
        })?;
        let samba_tool_auth = match (auth_file, raw.set("SAMBA_TOOL_AUTH")) {
            (Some(file), credentials) => {
                if credentials.is_some() {
                    warnings.push(
                        "SAMBA_TOOL_AUTH and SAMBA_TOOL_AUTH_FILE are both set: SAMBA_TOOL_AUTH is \
                         ignored, the authentication file is used"
                            .to_owned(),
                    );
                }
                // Read now, so a missing or unreadable file stops the start (exit 78) instead of
                // failing the first clean-up after a delete.
                if let Err(error) = dc_adapters::samba_tool::Credentials::from_auth_file(&file) {
                    return Err(raw.error("SAMBA_TOOL_AUTH_FILE", error));
                }
                SambaToolAuth::File(file)
            }
            (None, Some(credentials)) => {
                if !credentials.value.contains('%') {
                    return Err(raw.error(
                        "SAMBA_TOOL_AUTH",
                        "expected user%password (without a password samba-tool would wait for one \
                         on the terminal); better, set SAMBA_TOOL_AUTH_FILE",
                    ));
                }
                // The same check the worker applies when it uses them (never quotes the value).
                if let Err(error) = dc_adapters::samba_tool::Credentials::parse(&credentials.value)
                {
                    return Err(raw.error(
                        "SAMBA_TOOL_AUTH",
                        format!("{error}; expected user%password, better set SAMBA_TOOL_AUTH_FILE"),
                    ));
                }
                SambaToolAuth::Credentials(Secret::new(&credentials.value))
            }
            (None, None) => SambaToolAuth::None,
        };

        let samba_dns_server = raw.parsed("SAMBA_DNS_SERVER", "localhost".to_owned(), |value| {
            let valid = !value.is_empty()
                && value.len() <= 253
                && !value.starts_with(['-', '.'])
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'));
            if valid {
                Ok(value.to_ascii_lowercase())
            } else {
                Err(format!(
                    "expected a host name or IPv4 address of the DC (samba-tool dns delete's \
                     server), found {value:?}"
                ))
            }
        })?;
        let rev_dns_octets = raw.parsed("REV_DNS_OCTETS", 3, |value| {
            value
                .parse::<u8>()
                .ok()
                .filter(|octets| (1..=3).contains(octets))
                .ok_or_else(|| {
                    format!(
                        "expected 1, 2 or 3 (network octets of the reverse zone), found {value:?}"
                    )
                })
        })?;
        let state_dir = path("STATE_DIR", "/var/lib/linbo-dc")?;
        let outbox_dir = match raw.set("OUTBOX_DIR") {
            Some(_) => path("OUTBOX_DIR", "")?,
            None => state_dir.join("outbox"),
        };
        let import_timeout = raw.seconds("IMPORT_TIMEOUT_SEC", 600, 1)?;
        let verify_timeout = raw.seconds("VERIFY_TIMEOUT_SEC", 60, 1)?;
        let lock_timeout = raw.seconds("LOCK_TIMEOUT_SEC", 120, 1)?;
        let claim_min_idle = raw.seconds("CLAIM_MIN_IDLE_SEC", 2400, 1)?;
        // A batch's longest run: the lock, the sophomorix pre-check and the import (each up to
        // IMPORT_TIMEOUT_SEC), the import of the restored files after a failure, verification.
        let longest_batch = lock_timeout + import_timeout * 3 + verify_timeout;
        if claim_min_idle <= longest_batch {
            warnings.push(format!(
                "CLAIM_MIN_IDLE_SEC ({}) is not above LOCK_TIMEOUT_SEC + 3 × IMPORT_TIMEOUT_SEC + \
                 VERIFY_TIMEOUT_SEC ({}): another worker may claim the entries of a batch that is \
                 still running",
                claim_min_idle.as_secs(),
                longest_batch.as_secs()
            ));
        }
        let claim_interval =
            raw.parsed("CLAIM_INTERVAL_SEC", Duration::from_secs(30), |value| {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|seconds| (1..=60).contains(seconds))
                    .map(Duration::from_secs)
                    .ok_or_else(|| {
                        format!("expected a whole number of seconds 1..=60, found {value:?}")
                    })
            })?;
        let max_deliveries = raw.parsed(
            "MAX_DELIVERIES",
            NonZeroU32::MIN.saturating_add(4),
            |value| {
                value
                    .parse::<NonZeroU32>()
                    .map_err(|_| format!("expected a whole number above 0, found {value:?}"))
            },
        )?;
        let heartbeat_interval = raw.seconds("HEARTBEAT_INTERVAL_SEC", 10, 1)?;
        let heartbeat_ttl = raw.seconds("HEARTBEAT_TTL_SEC", 30, 1)?;
        if heartbeat_ttl <= heartbeat_interval {
            let key = if raw.set("HEARTBEAT_TTL_SEC").is_some() {
                "HEARTBEAT_TTL_SEC"
            } else {
                "HEARTBEAT_INTERVAL_SEC"
            };
            return Err(raw.error(
                key,
                format!(
                    "expected HEARTBEAT_TTL_SEC ({}) above HEARTBEAT_INTERVAL_SEC ({}), or the \
                     worker would look dead between two refreshes",
                    heartbeat_ttl.as_secs(),
                    heartbeat_interval.as_secs()
                ),
            ));
        }
        let stream_retention = raw.parsed(
            "STREAM_RETENTION_SEC",
            Some(Duration::from_secs(7 * 24 * 3600)),
            |value| {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|seconds| *seconds <= MAX_RETENTION_SECONDS)
                    .map(|seconds| (seconds > 0).then(|| Duration::from_secs(seconds)))
                    .ok_or_else(|| {
                        format!(
                            "expected a whole number of seconds 0..={MAX_RETENTION_SECONDS} (0: \
                             never trim), found {value:?}"
                        )
                    })
            },
        )?;
        let dlq_maxlen = raw.parsed("DLQ_MAXLEN", NonZeroU64::new(10_000), |value| {
            value
                .parse::<u64>()
                .map(NonZeroU64::new)
                .map_err(|_| format!("expected a whole number (0: no cap), found {value:?}"))
        })?;

        Ok(Settings {
            redis,
            api_url,
            api_key,
            consumer_name,
            log_dir: path("LOG_DIR", "/var/log/macct")?,
            repair_script: path(
                "REPAIR_SCRIPT",
                "/usr/share/linuxmuster/linbo/repair_macct.py",
            )?,
            devices_csv_master,
            devices_csv_delta,
            dhcp_verify_file,
            import_script: path("IMPORT_SCRIPT", "/usr/sbin/linuxmuster-import-devices")?,
            provision_lock_file: path("PROVISION_LOCK_FILE", "/var/lock/linbo-provision.lock")?,
            linbo_domain,
            linbo_domain_source,
            samba_tool_auth,
            samba_dns_server,
            dns_server,
            rev_dns_octets,
            provision_batch_size: raw.count("PROVISION_BATCH_SIZE", 50)?,
            provision_debounce: raw.seconds("PROVISION_DEBOUNCE_SEC", 5, 0)?,
            state_dir,
            outbox_dir,
            import_timeout,
            verify_timeout,
            command_timeout: raw.seconds("COMMAND_TIMEOUT_SEC", 120, 1)?,
            verify_concurrency: raw.count("VERIFY_CONCURRENCY", 8)?,
            macct_concurrency: raw.count("MACCT_CONCURRENCY", 2)?,
            macct_retry_backoff: raw.seconds("MACCT_RETRY_BACKOFF_SEC", 10, 1)?,
            claim_min_idle,
            claim_interval,
            max_deliveries,
            api_timeout: raw.seconds("API_TIMEOUT_SEC", 10, 1)?,
            lock_timeout,
            sophomorix_precheck: raw.parsed("SOPHOMORIX_PRECHECK", true, parse_bool)?,
            adopt_manual_hosts: raw.parsed("ADOPT_MANUAL_HOSTS", false, parse_bool)?,
            dc_host_name: domain::dc_host_name(root),
            default_room: raw.parsed(
                "DEFAULT_ROOM",
                "unknown".parse().expect("a valid room"),
                |value| {
                    value
                        .parse::<Room>()
                        .map_err(|rule| format!("not a devices.csv room: {rule}, found {value:?}"))
                },
            )?,
            heartbeat_interval,
            heartbeat_ttl,
            stream_retention,
            dlq_maxlen,
            school,
            root: root.clone(),
            warnings,
        })
    }

    /// Whether `API_KEY` is LINBO Docker's public default, so the binary can repeat the warning
    /// as loudly as it likes (at start and with every heartbeat, say).
    pub fn uses_default_api_key(&self) -> bool {
        self.api_key.expose() == DEFAULT_API_KEY
    }

    /// The school's `devices.csv`: `DEVICES_CSV_MASTER` with `{school}` expanded, or the
    /// linuxmuster convention (`.../{school}/devices.csv` for `default-school`,
    /// `.../{school}/{school}.devices.csv` otherwise). Resolved through the root.
    pub fn devices_csv_master(&self, school: &School) -> PathBuf {
        let template = match &self.devices_csv_master {
            Some(template) => template.as_str(),
            None if school.is_default() => DEFAULT_MASTER_DEFAULT_SCHOOL,
            None => DEFAULT_MASTER_OTHER_SCHOOL,
        };
        self.root.resolve(Path::new(&school.expand(template)))
    }

    /// The schools of this DC: the directories of `/etc/linuxmuster/sophomorix/` (under the
    /// root), sorted.
    pub fn schools(&self) -> Vec<School> {
        let sophomorix = self.root.resolve(Path::new("/etc/linuxmuster/sophomorix"));
        let Ok(entries) = std::fs::read_dir(&sophomorix) else {
            return Vec::new();
        };
        let mut schools: Vec<School> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
            .filter_map(|entry| entry.file_name().to_str()?.parse::<School>().ok())
            .collect();
        schools.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        schools
    }
    /// The DNS server verification asks: `DNS_SERVER`, else the first `nameserver` of
    /// `/etc/resolv.conf` under the root (port 53), with the file it came from; `None` when
    /// neither names one.
    pub fn resolved_dns_server(&self) -> Option<(SocketAddr, Option<PathBuf>)> {
        if let Some(server) = self.dns_server {
            return Some((server, None));
        }
        let file = Path::new(RESOLV_CONF);
        let text = std::fs::read_to_string(self.root.resolve(file)).ok()?;
        let address = dns::nameserver_from_resolv_conf(&text)?;
        Some((
            SocketAddr::new(address, dns::DEFAULT_PORT),
            Some(file.to_owned()),
        ))
    }

    /// What the DC's files say about this configuration: `errors` (the configured `SCHOOL` is not
    /// set up here) and `warnings` (a school without devices.csv, whose jobs fail until it
    /// exists). `check-config` prints both; the worker does not start with errors.
    pub fn check_files(&self) -> FileCheck {
        let mut check = FileCheck::default();
        let master = self.devices_csv_master(&self.school);
        let directory = master.parent().unwrap_or(Path::new("/"));
        if !directory.is_dir() {
            let schools: Vec<String> = self.schools().iter().map(School::to_string).collect();
            check.errors.push(format!(
                "SCHOOL {}: {} does not exist; the schools of this DC are: {}",
                self.school,
                directory.display(),
                if schools.is_empty() {
                    "none (/etc/linuxmuster/sophomorix/ has no school directory)".to_owned()
                } else {
                    schools.join(", ")
                }
            ));
        }
        let mut schools = self.schools();
        if !schools.contains(&self.school) {
            schools.insert(0, self.school.clone());
        }
        for school in schools {
            let master = self.devices_csv_master(&school);
            if master.parent().is_some_and(Path::is_dir) && !master.exists() {
                check.warnings.push(format!(
                    "school {school}: {} does not exist; its provisioning jobs fail until it \
                     does (the worker never creates it)",
                    master.display()
                ));
            }
        }
        check
    }

    /// The school's delta file (`DEVICES_CSV_DELTA`), resolved through the root.
    pub fn devices_csv_delta(&self, school: &School) -> PathBuf {
        self.root
            .resolve(Path::new(&school.expand(&self.devices_csv_delta)))
    }

    /// The school's DHCP file to verify host blocks in (`DHCP_VERIFY_FILE`); `None` = skip.
    pub fn dhcp_verify_file(&self, school: &School) -> Option<PathBuf> {
        self.dhcp_verify_file
            .as_ref()
            .map(|template| self.root.resolve(Path::new(&school.expand(template))))
    }

    /// Every key with its effective value, in the order of [`KEYS`], for `check-config`. Secrets
    /// are `***` (an unset one is empty); per-school paths are shown for `SCHOOL`; unset optional
    /// keys are empty. The rendering is stable: one entry per key, always the same keys.
    pub fn effective(&self) -> Vec<(&'static str, String)> {
        let path = |path: &Path| path.display().to_string();
        let seconds = |duration: Duration| duration.as_secs().to_string();
        let redacted =
            |secret: Option<&Secret>| secret.map(|_| "***".to_owned()).unwrap_or_default();
        let (auth, auth_file) = match &self.samba_tool_auth {
            SambaToolAuth::None => (String::new(), String::new()),
            SambaToolAuth::File(file) => (String::new(), path(file)),
            SambaToolAuth::Credentials(_) => ("***".to_owned(), String::new()),
        };
        let domain = match &self.linbo_domain_source {
            Some(source) => format!("{} (auto, from {})", self.linbo_domain, source.display()),
            None => self.linbo_domain.clone(),
        };
        let dns_server = match &self.dns_server {
            Some(server) => server.to_string(),
            None => format!("the nameserver of {RESOLV_CONF}"),
        };
        let school = &self.school;
        vec![
            ("REDIS_HOST", self.redis.host.clone()),
            ("REDIS_PORT", self.redis.port.to_string()),
            ("REDIS_PASSWORD", redacted(self.redis.password.as_ref())),
            ("REDIS_DB", self.redis.db.to_string()),
            ("REDIS_URL", self.redis.redacted_url()),
            (
                "REDIS_CA_FILE",
                self.redis
                    .ca_file
                    .as_ref()
                    .map(|file| path(file.path()))
                    .unwrap_or_default(),
            ),
            ("API_URL", self.api_url.clone()),
            ("API_KEY", "***".to_owned()),
            ("CONSUMER_NAME", self.consumer_name.clone()),
            ("LOG_DIR", path(&self.log_dir)),
            ("REPAIR_SCRIPT", path(&self.repair_script)),
            ("SCHOOL", school.to_string()),
            ("DEVICES_CSV_MASTER", path(&self.devices_csv_master(school))),
            ("DEVICES_CSV_DELTA", path(&self.devices_csv_delta(school))),
            ("IMPORT_SCRIPT", path(&self.import_script)),
            ("PROVISION_LOCK_FILE", path(&self.provision_lock_file)),
            ("LINBO_DOMAIN", domain),
            (
                "DHCP_VERIFY_FILE",
                self.dhcp_verify_file(school)
                    .map(|file| path(&file))
                    .unwrap_or_default(),
            ),
            ("SAMBA_TOOL_AUTH", auth),
            ("SAMBA_TOOL_AUTH_FILE", auth_file),
            ("SAMBA_DNS_SERVER", self.samba_dns_server.clone()),
            ("DNS_SERVER", dns_server),
            ("REV_DNS_OCTETS", self.rev_dns_octets.to_string()),
            (
                "PROVISION_BATCH_SIZE",
                self.provision_batch_size.to_string(),
            ),
            ("PROVISION_DEBOUNCE_SEC", seconds(self.provision_debounce)),
            ("STATE_DIR", path(&self.state_dir)),
            ("OUTBOX_DIR", path(&self.outbox_dir)),
            ("IMPORT_TIMEOUT_SEC", seconds(self.import_timeout)),
            ("COMMAND_TIMEOUT_SEC", seconds(self.command_timeout)),
            ("VERIFY_TIMEOUT_SEC", seconds(self.verify_timeout)),
            ("VERIFY_CONCURRENCY", self.verify_concurrency.to_string()),
            ("MACCT_CONCURRENCY", self.macct_concurrency.to_string()),
            ("MACCT_RETRY_BACKOFF_SEC", seconds(self.macct_retry_backoff)),
            ("CLAIM_MIN_IDLE_SEC", seconds(self.claim_min_idle)),
            ("CLAIM_INTERVAL_SEC", seconds(self.claim_interval)),
            ("MAX_DELIVERIES", self.max_deliveries.to_string()),
            ("API_TIMEOUT_SEC", seconds(self.api_timeout)),
            ("LOCK_TIMEOUT_SEC", seconds(self.lock_timeout)),
            ("SOPHOMORIX_PRECHECK", self.sophomorix_precheck.to_string()),
            ("ADOPT_MANUAL_HOSTS", self.adopt_manual_hosts.to_string()),
            ("DEFAULT_ROOM", self.default_room.to_string()),
            ("HEARTBEAT_INTERVAL_SEC", seconds(self.heartbeat_interval)),
            ("HEARTBEAT_TTL_SEC", seconds(self.heartbeat_ttl)),
            (
                "STREAM_RETENTION_SEC",
                self.stream_retention
                    .map_or(0, |retention| retention.as_secs())
                    .to_string(),
            ),
            (
                "DLQ_MAXLEN",
                self.dlq_maxlen.map_or(0, NonZeroU64::get).to_string(),
            ),
        ]
    }
}

/// The result of [`Settings::check_files`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCheck {
    /// The worker cannot run like this.
    pub errors: Vec<String>,
    /// Jobs of some school will fail.
    pub warnings: Vec<String>,
}

/// `KEY=value` lines of [`Settings::effective`], secrets as `***`.
impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (key, value) in self.effective() {
            writeln!(f, "{key}={value}")?;
        }
        Ok(())
    }
}

/// The Redis keys, or `REDIS_URL` when set (the four keys are then ignored with a warning).
fn redis_settings(raw: &RawConfig, warnings: &mut Vec<String>) -> Result<RedisSettings, ConfError> {
    const PARTS: [&str; 4] = ["REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB"];
    if let Some(url) = raw.set("REDIS_URL") {
        let redis = redis_settings::parse_redis_url(&url.value)
            .map_err(|problem| raw.error("REDIS_URL", problem))?;
        let ignored: Vec<&str> = PARTS
            .into_iter()
            .filter(|key| raw.set(key).is_some())
            .collect();
        if !ignored.is_empty() {
            warnings.push(format!(
                "REDIS_URL is set, so {} ignored",
                match ignored.as_slice() {
                    [one] => format!("{one} is"),
                    more => format!("{} are", more.join(", ")),
                }
            ));
        }
        return Ok(redis);
    }
    Ok(RedisSettings {
        tls: false,
        host: raw.parsed("REDIS_HOST", "localhost".to_owned(), |host| {
            if redis_settings::valid_host(host) {
                Ok(host.to_owned())
            } else {
                Err(format!(
                    "expected a host name or IP address, found {host:?}"
                ))
            }
        })?,
        port: raw.parsed("REDIS_PORT", 6379, redis_settings::parse_port)?,
        username: None,
        password: raw.parsed("REDIS_PASSWORD", None, |password| {
            Ok(Some(Secret::new(password)))
        })?,
        db: raw.parsed("REDIS_DB", 0, |db| {
            db.parse::<u32>()
                .map_err(|_| format!("expected a database number (0, 1, ...), found {db:?}"))
        })?,
        ca_file: None,
    })
}

/// An absolute path whose only placeholder is `{school}`.
fn check_template(value: &str) -> Result<(), String> {
    let expanded = value.replace("{school}", "");
    if expanded.contains(['{', '}']) {
        return Err(format!(
            "expected a path whose only placeholder is {{school}}, found {value:?}"
        ));
    }
    if !value.starts_with('/') {
        return Err(format!("expected an absolute path, found {value:?}"));
    }
    if value.contains(['\0', '\n', '\r']) {
        return Err(format!(
            "expected a path without control characters, found {value:?}"
        ));
    }
    Ok(())
}

/// `http://` or `https://` with a host (and optional port and path); no user info, query or
/// fragment, no white space. The trailing `/` is removed, as the API paths are appended.
fn parse_api_url(url: &str) -> Result<String, String> {
    let expected = "expected an http:// or https:// URL like http://localhost:3000/api/v1";
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("{expected}, found {url:?}"))?;
    if url.contains(|c: char| c.is_whitespace() || c.is_control()) || url.contains(['?', '#']) {
        return Err(format!(
            "{expected} without spaces, query or fragment, found {url:?}"
        ));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(format!(
            "{expected}; credentials in the URL are not supported (API_KEY authenticates)"
        ));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("{expected}, found {url:?}"))?;
        let port = match after {
            "" => None,
            after => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("{expected}, found {url:?}"))?,
            ),
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if !redis_settings::valid_host(host) {
        return Err(format!(
            "{expected}; the host is missing or not valid, found {url:?}"
        ));
    }
    if let Some(port) = port {
        redis_settings::parse_port(port).map_err(|problem| format!("{expected}; {problem}"))?;
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// A consumer name: 1–128 characters of letters, digits, `.`, `-`, `_`, `@`, `:`.
fn parse_consumer_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@' | ':'));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "expected 1 to 128 letters, digits, '.', '-', '_', '@' or ':', found {name:?}"
        ))
    }
}

/// `true/yes/on/1` or `false/no/off/0`, any case.
fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!(
            "expected true or false (also yes/no, on/off, 1/0), found {value:?}"
        )),
    }
}
