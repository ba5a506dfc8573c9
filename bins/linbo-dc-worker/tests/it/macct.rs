//! The machine-account lane end to end.

use std::time::{Duration, Instant};

use crate::support::{Harness, PATIENCE, STREAM, create};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_completes_with_the_flags_of_its_output() {
    let mut harness = Harness::new("").await;
    harness.dc.knobs(&[("FAKE_MACCT_MODE", "updated")]);
    harness.start_worker();
    let id = harness.macct("r100-pc01", "default-school");
    let done = harness.completed(&[&id]).await;
    assert_eq!(harness.statuses(&id), ["running", "completed"]);
    let result = &done[0]["result"];
    assert_eq!(result["processed"], true, "{result:#}");
    assert_eq!(result["unicodePwd_updated"], true, "{result:#}");
    assert!(
        result["stdout_lines"].as_u64().unwrap_or(0) > 0,
        "{result:#}"
    );
    assert!(
        harness.dc.exists(format!("/var/log/macct/{id}.log")),
        "per-job log"
    );
    let calls = harness.dc.calls().join("\n");
    assert!(
        calls.contains("repair_macct.py --only-hosts r100-pc01 -s default-school --log-file"),
        "{calls}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_repair_is_retried_by_the_api_until_attempt_3_then_fails() {
    let mut harness = Harness::new("").await;
    harness.api.forward_retries_to(&harness.redis.url());
    harness.dc.knobs(&[("FAKE_MACCT_MODE", "fail")]);
    harness.start_worker();
    let id = harness.macct("r100-pc01", "default-school");
    let error = harness.failure(&id).await;
    assert!(error.starts_with("Max retries (3) exceeded: "), "{error}");
    assert_eq!(
        harness.statuses(&id),
        [
            "running", "retrying", "running", "retrying", "running", "retrying", "running",
            "failed"
        ]
    );
    let attempts: Vec<u64> = harness
        .api
        .status_bodies(&id)
        .iter()
        .filter(|body| body["status"] == "retrying")
        .map(|body| body["attempt"].as_u64().expect("attempt"))
        .collect();
    assert_eq!(
        attempts,
        [0, 1, 2],
        "each retrying report carries the current attempt"
    );
    let retries = harness
        .api
        .requests()
        .iter()
        .filter(|request| request.method == "POST" && request.path.ends_with("/retry"))
        .count();
    assert_eq!(retries, 3);
    assert_eq!(
        harness.redis.stream_len(STREAM),
        4,
        "the API enqueued attempts 1, 2 and 3"
    );
    harness.drained().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_that_fails_once_succeeds_on_the_retry() {
    let mut harness = Harness::new("").await;
    harness.api.forward_retries_to(&harness.redis.url());
    harness.dc.knobs(&[("FAKE_MACCT_MODE", "fail")]);
    harness.start_worker();
    let id = harness.macct("r100-pc01", "default-school");
    let deadline = Instant::now() + PATIENCE;
    while !harness.statuses(&id).contains(&"retrying".to_owned()) {
        assert!(
            Instant::now() < deadline,
            "no retrying report\n{}",
            harness.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    harness.dc.knobs(&[("FAKE_MACCT_MODE", "updated")]);
    let done = harness.completed(&[&id]).await;
    assert_eq!(done[0]["attempt"], 1, "{:#}", done[0]);
    assert_eq!(
        harness.statuses(&id),
        ["running", "retrying", "running", "completed"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_does_not_wait_behind_a_slow_batch() {
    let mut harness = Harness::new("").await;
    harness
        .dc
        .knobs(&[("FAKE_IMPORT_SLEEP", "8"), ("FAKE_MACCT_MODE", "updated")]);
    harness.start_worker();
    let batch = harness.provision(
        "default-school",
        create("r200-pc50", "00:1a:2b:3c:20:50", ""),
    );
    let deadline = Instant::now() + PATIENCE;
    while harness.dc.import_calls().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the import did not start\n{}",
            harness.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let repair = harness.macct("r100-pc01", "default-school");
    harness.completed(&[&repair]).await;
    assert_eq!(
        harness.operation(&batch)["status"],
        "running",
        "the repair finished while the batch was still importing"
    );
    harness.completed(&[&batch]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_never_inherit_the_workers_secrets() {
    // A repair script that writes the names of its environment variables to its log file.
    let mut harness = Harness::new("REPAIR_SCRIPT=/usr/share/linuxmuster/linbo/env_names.py").await;
    harness.dc.write(
        "/usr/share/linuxmuster/linbo/env_names.py",
        "import os, sys\n\
         log = sys.argv[sys.argv.index('--log-file') + 1]\n\
         open(log, 'w').write('\\n'.join(sorted(os.environ)) + '\\n')\n\
         print('no changes')\n",
    );
    harness.start_worker_with_env(&[
        ("API_KEY", crate::support::API_KEY),
        ("SAMBA_TOOL_AUTH", "administrator%env-samba-secret"),
    ]);
    let id = harness.macct("r100-pc01", "default-school");
    let done = harness.completed(&[&id]).await;
    assert_eq!(done[0]["result"]["no_changes"], true, "{:#}", done[0]);
    let names = harness.dc.read(format!("/var/log/macct/{id}.log"));
    assert!(
        names.lines().any(|name| name == "LINBO_DC_ROOT"),
        "the log lists the environment: {names}"
    );
    for secret in ["API_KEY", "SAMBA_TOOL_AUTH", "REDIS_PASSWORD", "REDIS_URL"] {
        assert!(
            !names.lines().any(|name| name == secret),
            "{secret} reached the script: {names}"
        );
    }
}
