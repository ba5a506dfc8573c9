//! One worker per `STATE_DIR`: a second worker on the same state refuses to start (exit 78) and
//! names the running one; the lock goes with its holder, also after `kill -9`.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::{CONSUMER, Harness, wait_until};

/// How long a refused worker may take to say so and exit (it stops before the runtime starts).
const REFUSAL_PATIENCE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_worker_on_the_same_state_dir_exits_78_naming_the_first() {
    let mut harness = Harness::new("").await;
    harness.start_worker();
    let first = running_worker(&harness).await;

    let (status, stderr) = run_beside(&harness, &[], "second");
    assert_eq!(status.code(), Some(78), "{stderr}\n{}", harness.logs());
    let lock_file = lock_file(&harness);
    let message = format!(
        "linbo-dc-worker: another linbo-dc-worker is running on STATE_DIR {} (pid {first}, started ",
        harness.dc.path("/var/lib/linbo-dc").display()
    );
    assert!(stderr.contains(&message), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "; lock file {}); stop it first",
            lock_file.display()
        )),
        "{stderr}"
    );
    assert!(
        !stderr.contains("linbo-dc-worker starting"),
        "the refused worker stops before it connects to anything: {stderr}"
    );
    assert!(harness.worker_running(), "{}", harness.logs());
    assert!(
        std::fs::read_to_string(&lock_file)
            .expect("lock file")
            .starts_with(&format!("pid={first}\n")),
        "the refused worker leaves the holder's lock file alone"
    );

    // check-config takes no lock: it runs next to the live worker.
    let (status, stderr) = run_beside(&harness, &["check-config"], "check-config");
    assert_eq!(status.code(), Some(0), "{stderr}");

    let status = harness.stop_worker();
    assert_eq!(status.code(), Some(0), "{}", harness.logs());
    harness.start_worker();
    let again = running_worker(&harness).await;
    assert_ne!(again, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_of_a_worker_killed_with_sigkill_is_released() {
    let mut harness = Harness::new("").await;
    harness.start_worker();
    let first = running_worker(&harness).await;
    harness.kill_worker();
    // Its heartbeat outlives it by up to HEARTBEAT_TTL_SEC; the next one must write its own.
    let _: () = harness.redis.query(redis::cmd("DEL").arg(heartbeat_key()));

    harness.start_worker();
    let again = running_worker(&harness).await;
    assert_ne!(again, first);
    // The new holder is refused to a third worker in turn.
    let (status, stderr) = run_beside(&harness, &[], "third");
    assert_eq!(status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains(&format!("(pid {again}, started ")),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_installation_with_the_same_consumer_name_exits_78_naming_the_first() {
    let mut harness = Harness::new("").await;
    harness.start_worker();
    let first = running_worker(&harness).await;
    let id = harness.provision(
        "default-school",
        crate::support::create("r200-pc95", "00:1a:2b:3c:20:95", ""),
    );
    // Another STATE_DIR (as a second unit, or a cloned VM, would have): its own lock, but the
    // consumer name is taken by a worker that keeps its heartbeat fresh.
    let (status, stderr) = run_beside_with_env(
        &harness,
        &[],
        &[("STATE_DIR", "/var/lib/linbo-dc-second")],
        "second-installation",
    );
    assert_eq!(status.code(), Some(78), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "consumer name \"{CONSUMER}\" is in use by another worker"
        )) && stderr.contains(&format!("pid {first}"))
            && stderr.contains(&format!(
                "state {}",
                harness.dc.path("/var/lib/linbo-dc").display()
            )),
        "{stderr}"
    );
    harness.completed(&[&id]).await;
    assert_eq!(
        harness.statuses(&id),
        ["running", "completed"],
        "only the first worker handled the job"
    );
    assert_eq!(
        harness.redis.hgetall(&heartbeat_key())["pid"],
        first.to_string(),
        "the refused worker left the holder's heartbeat alone"
    );
}

/// Waits until the harness's worker holds the lock and beats (it consumes); its pid.
async fn running_worker(harness: &Harness) -> u32 {
    let pid = harness.worker_pid().expect("a started worker");
    let lock_file = lock_file(harness);
    wait_until(harness, "the worker's lock file", || {
        std::fs::read_to_string(&lock_file)
            .is_ok_and(|text| text.starts_with(&format!("pid={pid}\n")))
    })
    .await;
    wait_until(harness, "the worker's heartbeat", || {
        !harness.redis.hgetall(&heartbeat_key()).is_empty()
    })
    .await;
    pid
}

/// Runs another `linbo-dc-worker` with the harness's root and configuration (so the same
/// `STATE_DIR`) and `args`; waits for its exit (at most [`REFUSAL_PATIENCE`]) and returns it
/// with what it wrote to stderr.
fn run_beside(harness: &Harness, args: &[&str], name: &str) -> (ExitStatus, String) {
    run_beside_with_env(harness, args, &[], name)
}

/// [`run_beside`] with extra environment variables (they override the file).
fn run_beside_with_env(
    harness: &Harness,
    args: &[&str],
    env: &[(&str, &str)],
    name: &str,
) -> (ExitStatus, String) {
    let stderr_path = harness.dc.root().join(format!("{name}.stderr"));
    let stderr = File::create(&stderr_path).expect("stderr file");
    #[allow(
        clippy::disallowed_methods,
        reason = "the test runs the binary under test"
    )]
    let mut child = Command::new(env!("CARGO_BIN_EXE_linbo-dc-worker"))
        .arg("--root")
        .arg(harness.dc.root())
        .arg("-c")
        .arg("/etc/macct-worker.conf")
        .args(args)
        .env_remove("LINBO_DC_ROOT")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("starting another linbo-dc-worker");
    let deadline = Instant::now() + REFUSAL_PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the worker") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "`{}` did not exit within {REFUSAL_PATIENCE:?}\n{}",
                ["linbo-dc-worker"]
                    .iter()
                    .chain(args)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" "),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&stderr_path).expect("stderr file");
    (status, stderr)
}

fn lock_file(harness: &Harness) -> PathBuf {
    harness.dc.path("/var/lib/linbo-dc/worker.lock")
}

fn heartbeat_key() -> String {
    format!("linbo:workers:{CONSUMER}")
}
