//! The systemd unit and the notify protocol: `systemd-analyze verify` on the shipped unit, and
//! READY=1 / STATUS= / WATCHDOG=1 / STOPPING=1 received on a datagram socket as `NOTIFY_SOCKET`.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{Harness, create, wait_until};

#[test]
fn the_unit_passes_systemd_analyze_verify() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/linbo-dc-worker.service"),
    )
    .expect("config/linbo-dc-worker.service");
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "Conflicts=macct-worker.service",
    ] {
        assert!(unit.contains(line), "the unit has {line}");
    }
    let settings: Vec<&str> = unit
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect();
    for cap in [
        "CPUQuota=",
        "CPUWeight=",
        "MemoryMax=",
        "MemoryHigh=",
        "TasksMax=",
    ] {
        assert!(
            !settings.iter().any(|line| line.starts_with(cap)),
            "no {cap}: it would throttle or kill imports"
        );
    }
    // verify checks that ExecStart's program exists: point it at the binary under test.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("linbo-dc-worker.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/sbin/linbo-dc-worker",
            env!("CARGO_BIN_EXE_linbo-dc-worker"),
        ),
    )
    .expect("unit copy");
    #[allow(
        clippy::disallowed_methods,
        reason = "the test runs systemd's own checker"
    )]
    let output = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap_or_else(|error| {
            panic!("systemd-analyze: {error}; install it with apt-get install systemd")
        });
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        !stderr.contains("linbo-dc-worker.service"),
        "no warning about the unit: {stderr}"
    );
}

/// Every datagram the worker sent, in order.
fn listen(socket: UnixDatagram) -> Arc<Mutex<Vec<String>>> {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&received);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..n]).into_owned();
            sink.lock().unwrap().extend(text.lines().map(str::to_owned));
        }
    });
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_speaks_systemds_notify_protocol() {
    let mut harness = Harness::new("").await;
    harness.dc.knobs(&[("FAKE_IMPORT_SLEEP", "3")]);
    let socket_dir = tempfile::tempdir().expect("temp dir");
    let socket_path = socket_dir.path().join("notify.sock");
    let messages = listen(UnixDatagram::bind(&socket_path).expect("bind"));
    let has = |line: &str| messages.lock().unwrap().iter().any(|m| m == line);
    // Redis is down at first: alive (watchdog pings), not ready.
    harness.redis.stop();
    harness.start_worker_with_env(&[
        ("NOTIFY_SOCKET", socket_path.to_str().expect("UTF-8 path")),
        ("WATCHDOG_USEC", "2000000"),
    ]);
    wait_until(&harness, "a watchdog ping", || has("WATCHDOG=1")).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!has("READY=1"), "not ready while Redis is down");

    harness.redis.start_again();
    wait_until(&harness, "READY=1", || has("READY=1")).await;
    wait_until(&harness, "STATUS=idle", || has("STATUS=idle")).await;
    let id = harness.provision(
        "default-school",
        create("r200-pc75", "00:1a:2b:3c:20:75", ""),
    );
    wait_until(&harness, "the batch in the status", || {
        has("STATUS=batch of 1 for school default-school")
    })
    .await;
    harness.completed(&[&id]).await;
    let pings = || {
        messages
            .lock()
            .unwrap()
            .iter()
            .filter(|m| *m == "WATCHDOG=1")
            .count()
    };
    let before = pings();
    wait_until(&harness, "more watchdog pings", || pings() > before).await;
    let last_status = || {
        messages
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m.starts_with("STATUS="))
            .cloned()
    };
    wait_until(&harness, "STATUS=idle after the batch", || {
        last_status().as_deref() == Some("STATUS=idle")
    })
    .await;

    // The API goes away: the next job's reports wait in the outbox, and the status says so.
    harness.api.go_down().await;
    let waiting = harness.provision(
        "default-school",
        create("r200-pc76", "00:1a:2b:3c:20:76", ""),
    );
    wait_until(&harness, "the status names the API and the outbox", || {
        messages
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.starts_with("STATUS=") && m.contains("waiting for the API, outbox"))
    })
    .await;
    harness.api.come_back().await;
    harness.completed(&[&waiting]).await;

    let status = harness.stop_worker();
    assert!(status.success(), "{status:?}");
    assert!(has("STOPPING=1"), "{:?}", messages.lock().unwrap());
}
