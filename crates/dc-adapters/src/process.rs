//! The single process-spawn choke point: every external command linbo-dc runs goes through
//! [`run`]. Explicit argv (never a shell), a timeout that kills the whole process group, bounded
//! captured output, one log line per call with duration and exit status, secrets redacted.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};

use crate::error::{Error, Result};

/// How long a command gets between SIGTERM and SIGKILL after its timeout.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

/// Default cap on captured bytes per stream (stdout and stderr each).
pub const DEFAULT_MAX_OUTPUT: usize = 1 << 20;

/// What to run. Built explicitly; nothing goes through a shell.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    program: PathBuf,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    current_dir: Option<PathBuf>,
    timeout: Duration,
    max_output: usize,
    secrets: Vec<String>,
}

impl CommandSpec {
    /// `program` with no arguments, a 60 s timeout and 1 MiB of captured output per stream.
    pub fn new(program: impl Into<PathBuf>) -> CommandSpec {
        CommandSpec {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            current_dir: None,
            timeout: Duration::from_secs(60),
            max_output: DEFAULT_MAX_OUTPUT,
            secrets: Vec::new(),
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> CommandSpec {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<I: IntoIterator<Item = A>, A: Into<OsString>>(mut self, args: I) -> CommandSpec {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable for the child (the rest of the environment is inherited).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> CommandSpec {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Runs the child in `dir`.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> CommandSpec {
        self.current_dir = Some(dir.into());
        self
    }

    /// Kills the child's process group when it runs longer than `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> CommandSpec {
        self.timeout = timeout;
        self
    }

    /// Captures at most `bytes` of stdout and of stderr; the rest is read and dropped.
    pub fn max_output(mut self, bytes: usize) -> CommandSpec {
        self.max_output = bytes;
        self
    }

    /// A value that must never appear in logs or errors (replaced by `***`).
    pub fn secret(mut self, secret: impl Into<String>) -> CommandSpec {
        let secret = secret.into();
        if !secret.is_empty() {
            self.secrets.push(secret);
        }
        self
    }

    /// The program.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The arguments, as given.
    pub fn arguments(&self) -> &[OsString] {
        &self.args
    }

    /// The command line for logs and errors, with secrets redacted.
    pub fn display(&self) -> String {
        let mut words = vec![self.program.display().to_string()];
        words.extend(
            self.args
                .iter()
                .map(|arg| arg.to_string_lossy().into_owned()),
        );
        self.redact(&words.join(" "))
    }

    /// `text` with every secret replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |text, secret| text.replace(secret, "***"))
    }
}

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit code, or `None` when a signal ended the process.
    pub code: Option<i32>,
    /// The signal that ended the process, if any.
    pub signal: Option<i32>,
    /// Captured stdout (at most the limit), lossily decoded, secrets redacted.
    pub stdout: String,
    /// Captured stderr (at most the limit), lossily decoded, secrets redacted.
    pub stderr: String,
    /// Whether either stream was cut at the limit.
    pub truncated: bool,
    /// Wall time from spawn to exit.
    pub duration: Duration,
}

impl Output {
    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `exit code N` or `killed by signal N`, for messages.
    pub fn status_text(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => "unknown status".to_owned(),
        }
    }
}

/// Environment variables that hold linbo-dc's secrets, and samba's own credential variables
/// (`PASSWD`, `PASSWD_FD`, `PASSWD_FILE`, which samba-tool reads); they are removed from every
/// child's environment (a systemd `Environment=` line may set them for the worker), so neither
/// the import, its hooks nor any script inherits them. A command that needs one gets it through
/// [`CommandSpec::env`].
pub const SECRET_ENVIRONMENT: [&str; 7] = [
    "API_KEY",
    "REDIS_PASSWORD",
    "REDIS_URL",
    "SAMBA_TOOL_AUTH",
    "PASSWD",
    "PASSWD_FD",
    "PASSWD_FILE",
];

/// Runs `spec` to completion or until its timeout, then kills its whole process group (SIGTERM,
/// [`KILL_GRACE`], SIGKILL). A non-zero exit is not an error here: callers interpret [`Output`].
pub fn run(spec: &CommandSpec) -> Result<Output> {
    let command_line = spec.display();
    let start = Instant::now();
    #[allow(
        clippy::disallowed_methods,
        reason = "this is the one place that builds a command"
    )]
    let mut command = Command::new(&spec.program);
    for key in SECRET_ENVIRONMENT {
        command.env_remove(key);
    }
    command
        .args(&spec.args)
        .envs(spec.env.iter().map(|(key, value)| (key, value)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so a timeout kills the children it started too.
        .process_group(0);
    if let Some(dir) = &spec.current_dir {
        command.current_dir(dir);
    }
    let mut child = command.spawn().map_err(|source| Error::Spawn {
        command: command_line.clone(),
        source,
    })?;
    let readers = spawn_readers(&mut child, spec.max_output);
    let (status, timed_out) = wait_with_timeout(child, spec.timeout);
    let ((stdout, stdout_cut), (stderr, stderr_cut)) = readers.collect();
    let duration = start.elapsed();
    let output = Output {
        code: status.and_then(|status| status.code()),
        signal: status.and_then(|status| status.signal()),
        stdout: spec.redact(&String::from_utf8_lossy(&stdout)),
        stderr: spec.redact(&String::from_utf8_lossy(&stderr)),
        truncated: stdout_cut || stderr_cut,
        duration,
    };
    if timed_out {
        tracing::warn!(
            command = %command_line,
            duration_ms = duration.as_millis() as u64,
            "command timed out after {:?} and was killed",
            spec.timeout
        );
        return Err(Error::Timeout {
            command: command_line,
            timeout: spec.timeout,
            output: Box::new(output),
        });
    }
    tracing::info!(
        command = %command_line,
        status = %output.status_text(),
        duration_ms = duration.as_millis() as u64,
        "command finished"
    );
    Ok(output)
}

type Captured = (Vec<u8>, bool);

/// Threads that drain stdout and stderr so the child never blocks on a full pipe.
struct Readers {
    group: Pid,
    results: mpsc::Receiver<(usize, Captured)>,
    n_streams: usize,
}

impl Readers {
    /// The captured streams. A process that left the pipes open behind the exited command (a
    /// daemon it started) gets [`KILL_GRACE`], then its group is killed; what was read is kept.
    fn collect(self) -> (Captured, Captured) {
        let mut captured: [Captured; 2] = Default::default();
        let mut received = 0;
        let mut killed = false;
        while received < self.n_streams {
            match self.results.recv_timeout(KILL_GRACE) {
                Ok((stream, result)) => {
                    captured[stream] = result;
                    received += 1;
                }
                Err(mpsc::RecvTimeoutError::Timeout) if !killed => {
                    killed = true;
                    let _ = kill_process_group(self.group, Signal::KILL);
                }
                Err(_) => break,
            }
        }
        let [stdout, stderr] = captured;
        (stdout, stderr)
    }
}

fn spawn_readers(child: &mut Child, limit: usize) -> Readers {
    fn drain<R: Read + Send + 'static>(
        mut stream: R,
        index: usize,
        limit: usize,
        results: mpsc::Sender<(usize, Captured)>,
    ) {
        thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buffer = [0u8; 8192];
            let mut truncated = false;
            loop {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let room = limit.saturating_sub(kept.len());
                        kept.extend_from_slice(&buffer[..n.min(room)]);
                        truncated |= n > room;
                    }
                }
            }
            // The collector may have given up on this stream; then the result is not needed.
            let _ = results.send((index, (kept, truncated)));
        });
    }
    let (sender, results) = mpsc::channel();
    let stdout: Option<ChildStdout> = child.stdout.take();
    let stderr: Option<ChildStderr> = child.stderr.take();
    let n_streams = usize::from(stdout.is_some()) + usize::from(stderr.is_some());
    if let Some(stream) = stdout {
        drain(stream, 0, limit, sender.clone());
    }
    if let Some(stream) = stderr {
        drain(stream, 1, limit, sender);
    }
    Readers {
        group: Pid::from_child(child),
        results,
        n_streams,
    }
}

/// Waits for `child`; after `timeout` signals its process group: SIGTERM, then SIGKILL after
/// [`KILL_GRACE`]. Returns the exit status and whether the timeout struck.
fn wait_with_timeout(mut child: Child, timeout: Duration) -> (Option<ExitStatus>, bool) {
    let group = Pid::from_child(&child);
    let (sender, receiver) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let status = child.wait();
        // The receiver may be gone only if this function already returned, which it does not
        // before receiving; ignoring a send error is therefore safe.
        let _ = sender.send(());
        status
    });
    let mut timed_out = false;
    if receiver.recv_timeout(timeout).is_err() {
        timed_out = true;
        // The group may already be gone; then there is nothing to kill.
        let _ = kill_process_group(group, Signal::TERM);
        if receiver.recv_timeout(KILL_GRACE).is_err() {
            let _ = kill_process_group(group, Signal::KILL);
        }
    }
    // `wait` fails only for a child that was already reaped, which nothing else here does.
    let status = waiter.join().ok().and_then(Result::ok);
    if timed_out {
        // Processes the command started may outlive it in its group; they go with it.
        let _ = kill_process_group(group, Signal::KILL);
    }
    (status, timed_out)
}
