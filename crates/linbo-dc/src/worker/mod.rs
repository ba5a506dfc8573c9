//! The worker daemon's application side (SPEC §5, §6): stream entries decoded into [`Task`]s, the
//! provisioning pipeline for batches of one school, the machine-account lane, and the reports to
//! the LINBO API through the durable outbox. [`Worker`] is the [`job_stream::Handler`];
//! [`Worker::run`] drives it with a [`job_stream::Consumer`] and re-sends the outbox; the binary
//! `linbo-dc-worker` adds signals, systemd and logging and turns [`Stopped`] into an exit code.
//! The worker's configuration is [`config`], its API client [`api`], its outbox [`outbox`].
//!
//! # Flow of one provisioning batch
//!
//! 1. Fetch every operation from the API, concurrently. An entry whose operation cannot be
//!    fetched (API down, a database error) stays pending and comes back after a backoff; an
//!    unknown operation (404) is dead-lettered after `MAX_DELIVERIES`; a cancelled operation is
//!    acknowledged without running; an answer saying `API_URL` is wrong stops the worker.
//! 2. Wait for the provisioning lock (`flock` on `PROVISION_LOCK_FILE`), as long as it takes: the
//!    jobs stay pending meanwhile, none fails. Batches of all schools run one at a time. The
//!    operations are looked up again: one cancelled while the batch waited is left alone.
//! 3. Report `running`, read master and delta (and the other schools' files for MAC, IP and
//!    AD/DNS-name conflicts), and merge (`devices-csv`): invalid and conflicting jobs fail with
//!    the precise reason and change nothing; dry-run jobs complete with their own diff.
//! 4. Write delta, then master, atomically (backups of both under `STATE_DIR/backup/<school>/`),
//!    run `sophomorix-device --dry-run` (`SOPHOMORIX_PRECHECK`, on by default), then
//!    `IMPORT_SCRIPT -s <school>`. When sophomorix answers that another command holds its lock,
//!    both files are restored and the batch waits in its lane (5 s doubling to 60 s) and starts
//!    again at step 2, so no later batch of the school overtakes it. When the check or the import
//!    fails, both files are restored, a failed import is run again on them (sophomorix may have
//!    synced AD and DNS already), and the batch's jobs fail with the relevant output lines (on
//!    linuxmuster 7.4 with what the import logged).
//! 5. Verify what the merge says each job wrote or removed (its host facts: name, role, fixed
//!    IP), concurrently within `VERIFY_TIMEOUT_SEC` (AD object for roles with an account, DNS A
//!    for fixed IPs, PTR and the DHCP host block for information), clean up what a delete or
//!    rename left behind, and report `completed` or `failed`.
//! 6. Acknowledge each entry once its final report is delivered or in the outbox.
//!
//! Re-running a batch is idempotent: a batch that wrote its files before the worker stopped goes
//! on from its journal (`provision/journal.rs`: the recorded outcomes stand, the import and verification run
//! again); one that had not written them is merged afresh. Handling starts (an attempt towards
//! `MAX_DELIVERIES`) after the `running` reports, before the files are read
//! ([`job_stream::Batch::begin`]); a wait or a restart before that counts nothing. An entry that
//! has to wait holds its school's lane, so later entries of the school never overtake it.

pub mod api;
mod bounded;
pub mod config;
mod macct;
pub mod outbox;
mod provision;
mod report;
mod run;
mod task;
mod verify;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use dc_adapters::dns;
use dc_adapters::samba_tool::{Auth, Credentials, SambaTool};
use job_stream::{Batch, DeadLetter, Delivery, Handler, Invalid, Outcome};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::paths::Root;
use crate::worker::api::{ApiClient, ApiError, ApiSettings, OperationId, StatusUpdate};
use crate::worker::config::{SambaToolAuth, Settings};
use crate::worker::outbox::{Outbox, OutboxError};

use crate::worker::bounded::bounded;
pub use crate::worker::report::Reporter;
pub use crate::worker::run::Stopped;
pub use crate::worker::task::Task;

/// How long a stop request waits for running jobs (an import, a repair) to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(60);

/// Entries the worker holds locally before it stops reading (about 1 KiB each).
pub const MAX_IN_FLIGHT: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(20_000) {
    Some(limit) => limit,
    None => panic!("20000 is not zero"),
};

/// Programs the worker runs besides the configured scripts; resolved through the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Programs {
    /// `IMPORT_SCRIPT`.
    pub import: PathBuf,
    /// `/usr/sbin/sophomorix-device`.
    pub sophomorix_device: PathBuf,
    /// `/usr/bin/samba-tool`.
    pub samba_tool: PathBuf,
    /// `/usr/bin/python3`, which runs `REPAIR_SCRIPT`.
    pub python: PathBuf,
}

impl Programs {
    /// The standard locations on a linuxmuster DC under `root`, with `import` as configured.
    pub fn standard(root: &Root, import: PathBuf) -> Programs {
        let at = |path: &str| root.resolve(std::path::Path::new(path));
        Programs {
            import,
            sophomorix_device: at("/usr/sbin/sophomorix-device"),
            samba_tool: at("/usr/bin/samba-tool"),
            python: at("/usr/bin/python3"),
        }
    }
}

/// Why the worker could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// The API client could not be built from the settings.
    #[error("API client: {0}")]
    Api(#[from] ApiError),
    /// The outbox directory could not be opened.
    #[error("outbox: {0}")]
    Outbox(#[from] OutboxError),
    /// `SAMBA_TOOL_AUTH` is not `user%password`.
    #[error("SAMBA_TOOL_AUTH: {0}")]
    SambaAuth(dc_adapters::Error),
    /// A state directory could not be created.
    #[error("creating {}: {source}", path.display())]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
}

/// Everything the handlers share.
#[derive(Debug)]
struct Context {
    settings: Settings,
    programs: Programs,
    samba_tool: SambaTool,
    reporter: Reporter,
    /// One provisioning batch at a time, whatever the school (the lock file is global too).
    provisioning: tokio::sync::Mutex<()>,
    /// Machine-account entries waiting for their retry: entry id → the error that failed them.
    awaiting_retry: std::sync::Mutex<HashMap<String, String>>,
    /// Entries deferred because something outside them failed (API, lock, outbox): entry id →
    /// how many times in a row, for the growing delay.
    deferrals: std::sync::Mutex<HashMap<String, u32>>,
    /// Batches being handled: school → jobs, for the status line.
    batches: std::sync::Mutex<std::collections::BTreeMap<String, usize>>,
    /// The other schools' devices.csv, indexed, kept while a file does not change.
    other_schools: provision::OtherSchools,
    /// The DNS client of verification (`DNS_SERVER` or `/etc/resolv.conf`); `None` without a
    /// server, when DNS checks fail saying so.
    dns: Option<dns::Resolver>,
}

/// How long a DNS query of verification waits for its answer (it is sent twice within it).
const DNS_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// First delay of a deferred entry; doubled with each deferral of the same entry up to
/// [`DEFER_CAP`].
const DEFER_BASE: Duration = Duration::from_secs(2);
/// Longest delay of a deferred entry.
const DEFER_CAP: Duration = Duration::from_secs(60);

impl Context {
    /// Defers entry `id` again: `Outcome::Defer` with a delay that grows with each deferral.
    fn defer(&self, id: &str) -> Outcome {
        let mut deferrals = self.deferrals.lock().expect("deferral map lock");
        let count = deferrals.entry(id.to_owned()).or_insert(0);
        let delay = DEFER_BASE
            .saturating_mul(1_u32 << (*count).min(10))
            .min(DEFER_CAP);
        *count += 1;
        Outcome::Defer(delay)
    }

    /// Forgets the deferrals of entry `id` (it was settled).
    fn settled(&self, id: &str) {
        self.deferrals.lock().expect("deferral map lock").remove(id);
    }
}

/// The [`Handler`] of the worker: provisioning batches and machine-account repairs.
#[derive(Debug, Clone)]
pub struct Worker {
    context: Arc<Context>,
}

impl Worker {
    /// Builds the worker: API client, outbox (opened and recovered), samba-tool with its
    /// credentials, and `programs`.
    pub fn new(settings: Settings, programs: Programs) -> Result<Worker, SetupError> {
        let api = ApiClient::new(&ApiSettings {
            base_url: settings.api_url.clone(),
            api_key: settings.api_key.clone(),
            timeout: settings.api_timeout,
            connect_timeout: settings.api_timeout.min(Duration::from_secs(5)),
        })?;
        let outbox = Outbox::open(&settings.outbox_dir)?;
        if !settings.repair_script.is_file() {
            tracing::warn!(
                script = %settings.repair_script.display(),
                "REPAIR_SCRIPT does not exist: machine-account repairs will fail at once until it is installed or REPAIR_SCRIPT names it"
            );
        }
        remove_stale_backup_temp_files(&settings.state_dir.join("backup"));
        let private_dir = settings.state_dir.join("tmp");
        create_private_dir(&private_dir)?;
        purge_auth_files(&private_dir);
        let auth = match &settings.samba_tool_auth {
            SambaToolAuth::None => Auth::None,
            SambaToolAuth::File(path) => Auth::File(path.clone()),
            SambaToolAuth::Credentials(secret) => Auth::Credentials(
                Credentials::parse(secret.expose()).map_err(SetupError::SambaAuth)?,
            ),
        };
        let samba_tool = SambaTool::new(&programs.samba_tool, auth, settings.command_timeout)
            .temp_dir(private_dir);
        let dns = match settings.resolved_dns_server() {
            Some((server, source)) => {
                let from =
                    source.map_or("DNS_SERVER".to_owned(), |file| file.display().to_string());
                tracing::info!(%server, from, "verification asks this DNS server");
                Some(dns::Resolver::new(server, DNS_QUERY_TIMEOUT))
            }
            None => {
                tracing::warn!(
                    "no DNS server: neither DNS_SERVER nor a nameserver in /etc/resolv.conf; DNS checks of verification fail until one is set"
                );
                None
            }
        };
        Ok(Worker {
            context: Arc::new(Context {
                reporter: Reporter::new(api, Arc::new(outbox)),
                settings,
                programs,
                samba_tool,
                provisioning: tokio::sync::Mutex::new(()),
                awaiting_retry: std::sync::Mutex::new(HashMap::new()),
                deferrals: std::sync::Mutex::new(HashMap::new()),
                batches: std::sync::Mutex::default(),
                other_schools: provision::OtherSchools::default(),
                dns,
            }),
        })
    }

    /// The settings the worker runs with.
    pub fn settings(&self) -> &Settings {
        &self.context.settings
    }

    /// The reporter (API client and outbox), e.g. to flush the outbox.
    pub fn reporter(&self) -> &Reporter {
        &self.context.reporter
    }

    /// Cancelled when the API answered that the worker's configuration is wrong (`API_URL`
    /// reaches no API route): the caller stops consuming; [`configuration_error`] says why.
    ///
    /// [`configuration_error`]: Worker::configuration_error
    pub fn configuration_stop(&self) -> CancellationToken {
        self.context.reporter.stop()
    }

    /// Why the worker stopped itself, when the API answered that its configuration is wrong.
    pub fn configuration_error(&self) -> Option<String> {
        self.context.reporter.configuration_error()
    }

    /// What the worker is doing, in a few words (systemd's `STATUS=`): `idle`, `batch of N for
    /// school S`, and `waiting for the API, outbox N` while reports pile up in the outbox.
    pub fn status_line(&self) -> String {
        let batches = self.context.batches.lock().expect("batch map lock");
        let mut parts: Vec<String> = batches
            .iter()
            .map(|(school, jobs)| format!("batch of {jobs} for school {school}"))
            .collect();
        if parts.is_empty() {
            parts.push("idle".to_owned());
        }
        let reporter = &self.context.reporter;
        let outbox = reporter.outbox().pending();
        if reporter.api_down() {
            parts.push(format!("waiting for the API, outbox {outbox}"));
        } else if outbox > 0 {
            parts.push(format!("outbox {outbox}"));
        }
        parts.join("; ")
    }

    /// The [`job_stream::Settings`] for this worker's consumer, from the configuration.
    pub fn consumer_settings(&self) -> job_stream::Settings {
        let settings = &self.context.settings;
        let mut consumer = crate::streams::consumer_settings(settings.consumer_name.clone());
        consumer.batch_size = settings.provision_batch_size;
        consumer.batch_window = settings.provision_debounce;
        consumer.concurrent_limit = settings.macct_concurrency;
        consumer.claim_min_idle = settings.claim_min_idle;
        consumer.claim_interval = settings.claim_interval;
        consumer.max_deliveries = u64::from(settings.max_deliveries.get());
        consumer.heartbeat.interval = settings.heartbeat_interval;
        consumer.heartbeat.ttl = settings.heartbeat_ttl;
        consumer.heartbeat.version = format!("linbo-dc-worker {}", env!("CARGO_PKG_VERSION"));
        consumer.heartbeat.instance = instance_id(&settings.state_dir);
        // A stop request during an import lets the import finish (a command boundary) rather
        // than abandon it half-way; the systemd unit's TimeoutStopSec is above this.
        consumer.shutdown_grace = SHUTDOWN_GRACE;
        // A bulk import of thousands of hosts must not stop the reader, or machine-account
        // entries behind it would wait for the whole backlog.
        consumer.max_in_flight = MAX_IN_FLIGHT;
        // Nothing else trims the streams: the API adds every job without MAXLEN.
        consumer.stream_retention = settings.stream_retention;
        consumer.dead_letter_max_len = settings.dlq_maxlen;
        consumer
    }
}

/// Who this worker is, for the consumer name's owner check: the machine's boot, host name and
/// `STATE_DIR`. A restart of the same installation (the `STATE_DIR` lock says the previous process
/// is gone) is the same instance and takes its name over at once; a cloned VM (another boot id)
/// or a second installation on this machine (another `STATE_DIR`) is another one.
fn instance_id(state_dir: &std::path::Path) -> String {
    let kernel = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
            .map(|value| value.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned())
    };
    format!(
        "host {} boot {} state {}",
        kernel("hostname"),
        kernel("random/boot_id"),
        state_dir.display()
    )
}

/// A batch in the status line while it is handled (also when its handler panics or is dropped).
struct BatchShown<'c> {
    context: &'c Context,
    school: String,
}

impl<'c> BatchShown<'c> {
    fn new(context: &'c Context, school: &str, jobs: usize) -> BatchShown<'c> {
        context
            .batches
            .lock()
            .expect("batch map lock")
            .insert(school.to_owned(), jobs);
        BatchShown {
            context,
            school: school.to_owned(),
        }
    }
}

impl Drop for BatchShown<'_> {
    fn drop(&mut self) {
        if let Ok(mut batches) = self.context.batches.lock() {
            batches.remove(&self.school);
        }
    }
}

/// Removes the temporary files of rollback-point and journal writes a killed worker left in
/// `STATE_DIR/backup/<school>/`.
fn remove_stale_backup_temp_files(backup: &std::path::Path) {
    let Ok(schools) = std::fs::read_dir(backup) else {
        return;
    };
    for dir in schools.filter_map(Result::ok).map(|entry| entry.path()) {
        match dc_adapters::atomic::remove_stale_temp_files(&dir) {
            Ok(0) => {}
            Ok(removed) => {
                tracing::warn!(removed, dir = %dir.display(), "removed temporary files of an interrupted backup or journal write")
            }
            Err(error) => {
                tracing::error!(%error, dir = %dir.display(), "cannot remove temporary files left behind")
            }
        }
    }
}

/// Removes samba password files a killed worker left behind.
fn purge_auth_files(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(dc_adapters::samba_tool::PASSWORD_FILE_PREFIX)
        {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::warn!(file = %entry.path().display(), "removed a samba password file left behind")
                }
                Err(error) => {
                    tracing::error!(file = %entry.path().display(), %error, "cannot remove a samba password file left behind")
                }
            }
        }
    }
}

fn create_private_dir(dir: &std::path::Path) -> Result<(), SetupError> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    let error = |source| SetupError::StateDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(error)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(error)
}

impl Handler for Worker {
    type Job = Task;

    fn decode(&self, _id: &str, fields: &HashMap<String, String>) -> Result<Task, Invalid> {
        Task::decode(fields, &self.context.settings.school)
    }

    async fn handle_batch(&self, batch: Batch<Task>) -> Vec<Outcome> {
        let span = tracing::info_span!("batch", school = %batch.key, jobs = batch.deliveries.len());
        let _shown = BatchShown::new(&self.context, &batch.key, batch.deliveries.len());
        provision::run(&self.context, batch).instrument(span).await
    }

    async fn handle(&self, delivery: Delivery<Task>, shutdown: CancellationToken) -> Outcome {
        let task = &delivery.job;
        let span = tracing::info_span!(
            "job",
            operation_id = %task.operation_id(),
            r#type = task.kind(),
            school = %task.school()
        );
        macct::run(&self.context, delivery, shutdown)
            .instrument(span)
            .await
    }

    async fn replayed(&self, pending: &std::collections::HashSet<String>) {
        provision::remove_settled_journals(
            &self.context.settings.state_dir.join("backup"),
            pending,
        );
    }

    async fn dead_lettered(&self, letter: &DeadLetter) {
        let Some(id) = letter
            .fields
            .get("operation_id")
            .and_then(|value| OperationId::parse(value).ok())
        else {
            tracing::error!(
                entry = %letter.original_id,
                reason = %letter.reason,
                "entry dead-lettered; it names no valid operation, so nothing is reported"
            );
            return;
        };
        tracing::error!(
            operation_id = %id,
            entry = %letter.original_id,
            reason = %letter.reason,
            "entry dead-lettered"
        );
        let update = StatusUpdate::failed(format!(
            "Job moved to the dead-letter stream linbo:jobs:dlq: {}",
            letter.reason
        ));
        // Nothing more to do when even the outbox fails: the dead-letter entry keeps the job.
        let _recorded = self.context.reporter.report(&id, update).await;
    }
}
