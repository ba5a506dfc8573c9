//! `linbo-dc-worker`: the LINBO Docker worker daemon on the domain controller. Wiring only: the
//! configuration is `linbo_dc::worker::config`, the work is `linbo_dc::worker`, the stream
//! runtime is `job_stream`.
//!
//! One worker per `STATE_DIR`: before it touches Redis or the state directory the worker takes
//! `linbo_dc::instance::InstanceLock` (`STATE_DIR/worker.lock`) and holds it until it exits;
//! `check-config` does not take it, so it runs next to a live worker.
//!
//! Exit codes: 0 stopped by SIGTERM/SIGINT (or `check-config` found the configuration valid);
//! 1 the worker could not start or failed (message on stderr); 2 bad command line; 78
//! (`EX_CONFIG`) the configuration is invalid (the message names file, line and key; or the
//! configured `SCHOOL` has no directory on this DC), Redis refused the link at start (a TLS
//! certificate or handshake, or the credentials: `linbo_dc::redis_link`), the API
//! answered that it is (`API_URL` reaches no API route; the worker stopped consuming), or
//! another worker already runs on the same `STATE_DIR` (the message names its pid and lock
//! file). systemd does not restart the worker after 78 (`RestartPreventExitStatus=78`).

mod cli;
mod systemd;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{Cli, Command, DlqCommand};
use anyhow::Context as _;
use clap::Parser as _;
use linbo_dc::instance::{InstanceError, InstanceLock};
use linbo_dc::ops::Request;
use linbo_dc::paths::Root;
use linbo_dc::worker::config::{self, FileCheck, KEYS, Settings, Sources};
use linbo_dc::worker::{Programs, Stopped, Worker};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// How long the runtime waits for abandoned blocking work at exit.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// How often systemd's `STATUS=` is brought up to date (sent only when it changed).
const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// The exit code of a configuration error (`EX_CONFIG` of sysexits.h).
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(&cli) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!("linbo-dc-worker failed: {error:#}");
            let _ = writeln!(std::io::stderr(), "linbo-dc-worker: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command `cli` asks for; the exit code says how it ended.
fn run(cli: &Cli) -> anyhow::Result<ExitCode> {
    let root = cli.root.root();
    let (settings, file) = match load_settings(cli, &root) {
        Ok(loaded) => loaded,
        Err(message) if matches!(cli.command, Some(Command::Doctor)) => {
            let _ = writeln!(
                std::io::stdout(),
                "FAIL config: {message} — fix the key it names"
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(message) => return Ok(misconfigured(&message)),
    };
    for warning in &settings.warnings {
        tracing::warn!("configuration: {warning}");
    }
    if let Some(request) = cli.command.as_ref().and_then(ops_request) {
        return operate(&settings, &request);
    }
    if let Some(Command::Doctor) = cli.command {
        return doctor(&settings, &file, &root);
    }
    let files = settings.check_files();
    if let Some(Command::CheckConfig) = cli.command {
        return Ok(check_config(&settings, &files));
    }
    for warning in &files.warnings {
        tracing::warn!("{warning}");
    }
    if let Some(error) = files.errors.first() {
        return Ok(misconfigured(error));
    }
    let _instance = match InstanceLock::acquire(&settings.state_dir) {
        Ok(lock) => lock,
        Err(error @ InstanceError::Running { .. }) => return Ok(refused(&error)),
        Err(error) => return Err(error).context("linbo-dc-worker cannot start"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let stopped = runtime.block_on(serve(settings, &root));
    runtime.shutdown_timeout(SHUTDOWN_TIMEOUT);
    Ok(match stopped? {
        Stopped::Misconfigured(problem) => misconfigured(&problem),
        _ => {
            tracing::info!("linbo-dc-worker stopped");
            ExitCode::SUCCESS
        }
    })
}

/// `EX_CONFIG` (78) after saying that the configuration is invalid and why.
fn misconfigured(problem: &dyn std::fmt::Display) -> ExitCode {
    refused(&format_args!("invalid configuration: {problem}"))
}

/// `EX_CONFIG` (78) after saying why the worker does not run; systemd does not restart it then.
fn refused(why: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!("{why}");
    let _ = writeln!(std::io::stderr(), "linbo-dc-worker: {why}");
    ExitCode::from(EXIT_CONFIG)
}

/// `check-config`: the effective settings, the DC's own name, warnings and errors.
fn check_config(settings: &Settings, files: &FileCheck) -> ExitCode {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{settings}");
    if let Some((name, source)) = &settings.dc_host_name {
        let _ = writeln!(
            out,
            "# the DC's own host name, never changed by jobs: {name} (from {})",
            source.display()
        );
    }
    match settings.resolved_dns_server() {
        Some((server, Some(file))) => {
            let _ = writeln!(
                out,
                "# DNS server of verification: {server} (from {})",
                file.display()
            );
        }
        Some((server, None)) => {
            let _ = writeln!(out, "# DNS server of verification: {server}");
        }
        None => {
            let _ = writeln!(
                out,
                "# warning: no DNS server: set DNS_SERVER or a nameserver in /etc/resolv.conf; DNS checks of verification fail until then"
            );
        }
    }
    for warning in settings.warnings.iter().chain(&files.warnings) {
        let _ = writeln!(out, "# warning: {warning}");
    }
    for error in &files.errors {
        let _ = writeln!(out, "# error: {error}");
    }
    if files.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_CONFIG)
    }
}

fn init_logging(verbose: bool) {
    let default = if verbose { "debug" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINBO_DC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
}

/// The file (when it exists; a missing `--config` file is an error) and the environment.
/// `doctor`: runs every check and prints one line each; exit 1 when one failed.
fn doctor(
    settings: &Settings,
    file: &linbo_dc::conf_file::ConfFile,
    root: &Root,
) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let programs = Programs::standard(root, settings.import_script.clone());
    let report = runtime.block_on(linbo_dc::doctor::run(settings, file, &programs));
    let _ = write!(std::io::stdout(), "{report}");
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn load_settings(
    cli: &Cli,
    root: &Root,
) -> Result<(Settings, linbo_dc::conf_file::ConfFile), String> {
    let path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_CONFIG));
    let file = match linbo_dc::conf_file::ConfFile::read(root, &path).map_err(|e| e.to_string())? {
        Some(file) => file,
        None if cli.config.is_some() => {
            return Err(format!("{}: no such file", path.display()));
        }
        None => {
            tracing::warn!(path = %path.display(), "no configuration file; using the defaults and the environment");
            linbo_dc::conf_file::ConfFile::parse(&path, "").map_err(|e| e.to_string())?
        }
    };
    let env: HashMap<String, String> = KEYS
        .iter()
        .filter_map(|key| Some(((*key).to_owned(), std::env::var(key).ok()?)))
        .collect();
    let host_name = host_name();
    let settings = Settings::load(&Sources {
        file: &file,
        env: &env,
        host_name: &host_name,
        root,
    })
    .map_err(|error| error.to_string())?;
    Ok((settings, file))
}

/// The kernel's host name (the default consumer name).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

/// Why the worker stopped.
/// Runs the worker until a signal asks it to stop or it stops itself.
async fn serve(settings: Settings, root: &Root) -> anyhow::Result<Stopped> {
    let programs = Programs::standard(root, settings.import_script.clone());
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        consumer = %settings.consumer_name,
        redis = %settings.redis.redacted_url(),
        api = %settings.api_url,
        school = %settings.school,
        "linbo-dc-worker starting"
    );
    if settings.uses_default_api_key() {
        tracing::warn!(
            "API_KEY is LINBO Docker's public default; set your own in the API and here"
        );
    }
    let client = match linbo_dc::redis_link::connect(&settings.redis).await {
        Ok(client) => client,
        Err(problem) => return Ok(Stopped::Misconfigured(problem.to_string())),
    };
    let worker = Worker::new(settings, programs).context("setting up the worker")?;
    let recovery = worker.reporter().outbox().recovery();
    if recovery.entries > 0 || recovery.torn_lines > 0 || recovery.corrupt_lines > 0 {
        tracing::info!(
            queued = recovery.entries,
            torn = recovery.torn_lines,
            corrupt = recovery.corrupt_lines,
            "outbox recovered"
        );
    }
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone())?;
    let systemd = Arc::new(systemd::Systemd::from_env());
    {
        let (worker, systemd, shutdown) = (worker.clone(), Arc::clone(&systemd), shutdown.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(STATUS_INTERVAL);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                if systemd.is_ready() {
                    systemd.status(&worker.status_line());
                }
            }
            systemd.stopping();
        });
    }
    let observer = Arc::clone(&systemd) as Arc<dyn job_stream::Observer>;
    worker
        .run(client, Some(observer), shutdown)
        .await
        .context("the job stream consumer stopped")
}

fn spawn_signal_handler(shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
                _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
                _ = hup.recv() => {
                    tracing::warn!("SIGHUP: the configuration is read only at start; restart the worker to apply changes");
                }
            }
        }
        shutdown.cancel();
    });
    Ok(())
}

/// The operator's request of `status` and `dlq`; `None` for the other commands.
fn ops_request(command: &Command) -> Option<Request> {
    Some(match command {
        Command::CheckConfig | Command::Doctor => return None,
        Command::Status { json } => Request::Status { json: *json },
        Command::Dlq { command } => match command {
            DlqCommand::List { json } => Request::DlqList { json: *json },
            DlqCommand::Show { id, json } => Request::DlqShow {
                id: *id,
                json: *json,
            },
            DlqCommand::Requeue { all: true, .. } => Request::DlqRequeueAll,
            DlqCommand::Requeue { ids, .. } => Request::DlqRequeue { ids: ids.clone() },
            DlqCommand::Drop { ids } => Request::DlqDrop { ids: ids.clone() },
        },
    })
}

/// `status` and `dlq` (`linbo_dc::ops`): they talk to Redis directly and take no instance lock,
/// so they run next to the worker. Exit 0 done, 1 failed (Redis did not answer, an unknown
/// dead-letter id: the message says which).
fn operate(settings: &Settings, request: &Request) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut out = std::io::stdout().lock();
    let done = runtime.block_on(linbo_dc::ops::run(settings, request, &mut out));
    let _ = out.flush();
    done?;
    Ok(ExitCode::SUCCESS)
}
