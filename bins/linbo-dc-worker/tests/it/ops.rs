//! The operator's commands `status` and `dlq` against a real redis-server, and the worker's
//! stream retention.

use std::process::Output;

use dc_testkit::fake_api::macct_operation;
use dc_testkit::{RedisServer, SandboxDc};
use serde_json::Value;

use crate::support::{CONSUMER, DLQ, GROUP, Harness, STREAM, run_cli_in, wait_until};

/// A sandbox DC whose worker configuration points at `redis`.
fn sandbox(redis: &RedisServer) -> SandboxDc {
    let dc = SandboxDc::new();
    dc.write_worker_config(&format!(
        "REDIS_HOST=127.0.0.1\nREDIS_PORT={}\nAPI_KEY=ops-test-key\nCONSUMER_NAME=dc-ops\n",
        redis.port()
    ));
    dc
}

/// Runs `linbo-dc-worker -c /etc/macct-worker.conf ARGS` in `dc`.
fn run(dc: &SandboxDc, args: &[&str]) -> Output {
    let args: Vec<&str> = ["-c", "/etc/macct-worker.conf"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    run_cli_in(dc, &args, &[("LINBO_DC_LOG", "error")])
}

/// Runs and asserts exit 0; stdout.
#[track_caller]
fn ok(dc: &SandboxDc, args: &[&str]) -> String {
    let output = run(dc, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{args:?}\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Runs and asserts exit 1; stderr.
#[track_caller]
fn fails(dc: &SandboxDc, args: &[&str]) -> String {
    let output = run(dc, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{args:?}\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// A dead-letter entry as job-stream writes it: the original fields, then the four of its own.
fn dead_letter(redis: &RedisServer, operation_id: &str, error: &str) -> String {
    redis.xadd(
        DLQ,
        &[
            ("type", "macct_repair"),
            ("operation_id", operation_id),
            ("host", "r100-pc01"),
            ("school", "default-school"),
            ("attempt", "0"),
            ("created_at", "2026-11-26T08:00:00.000Z"),
            ("last_error", error),
            ("failed_at", "2026-11-26T08:05:00.000Z"),
            ("original_id", "1764144000000-0"),
            ("deliveries", "5"),
        ],
    )
}

/// Fields of an entry in stream order (`XRANGE id id`), values as text.
fn fields_in_order(redis: &RedisServer, stream: &str, id: &str) -> Vec<(String, String)> {
    let rows: Vec<(String, Vec<(String, String)>)> =
        redis.query(redis::cmd("XRANGE").arg(stream).arg(id).arg(id));
    rows.into_iter()
        .next()
        .map(|(_, fields)| fields)
        .unwrap_or_default()
}

fn ids(redis: &RedisServer, stream: &str) -> Vec<String> {
    redis
        .range(stream)
        .into_iter()
        .map(|entry| entry.id)
        .collect()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("not JSON ({error}): {text}"))
}

/// A worker's heartbeat hash as job-stream writes it, last seen now.
fn heartbeat(redis: &RedisServer, consumer: &str) {
    let now = rfc3339::format_millis(std::time::SystemTime::now());
    redis.query::<()>(
        redis::cmd("HSET")
            .arg(format!("linbo:workers:{consumer}"))
            .arg("version")
            .arg("linbo-dc-worker 0.1.0")
            .arg("started_at")
            .arg("2026-11-26T07:00:00.000Z")
            .arg("last_seen")
            .arg(now)
            .arg("lanes")
            .arg("default-school,gym")
            .arg("in_flight")
            .arg("2")
            .arg("instance")
            .arg("host dc01 boot b state /var/lib/linbo-dc")
            .arg("pid")
            .arg("4242"),
    );
}

/// Two heartbeats, five entries of which three are pending at two consumers (one begun once),
/// six dead letters, and an outbox with two reports of one operation and a torn line.
fn busy_redis(redis: &RedisServer, dc: &SandboxDc) -> (Vec<String>, Vec<String>) {
    redis.create_group(STREAM, GROUP);
    heartbeat(redis, "dc01");
    heartbeat(redis, "dc02");
    let entries: Vec<String> = (0..5)
        .map(|i| {
            redis.xadd(
                STREAM,
                &[
                    ("type", "macct_repair"),
                    ("operation_id", &format!("op-{i}")),
                ],
            )
        })
        .collect();
    let held = redis.read_as(STREAM, GROUP, "dc01", 2);
    redis.read_as(STREAM, GROUP, "dc02", 2);
    redis.query::<u64>(redis::cmd("XACK").arg(STREAM).arg(GROUP).arg(&entries[3]));
    redis.query::<u64>(
        redis::cmd("HINCRBY")
            .arg("linbo:jobs:attempts")
            .arg(&held[0])
            .arg(1),
    );
    let letters: Vec<String> = (0..6)
        .map(|i| {
            dead_letter(
                redis,
                &format!("00000000-0000-4000-8000-00000000000{i}"),
                &format!("failure {i}\nsecond line"),
            )
        })
        .collect();
    dc.write(
        "/var/lib/linbo-dc/outbox/00000000-0000-4000-8000-0000000000aa.jsonl",
        "{\"status\":\"running\"}\n{\"status\":\"completed\",\"result\":{}}\n{\"status\":\"fai",
    );
    (entries, letters)
}

#[test]
fn status_shows_heartbeats_stream_pending_dead_letters_and_outbox() {
    let redis = RedisServer::start();
    let dc = sandbox(&redis);
    let (entries, letters) = busy_redis(&redis, &dc);
    let text = ok(&dc, &["status"]);
    for expected in [
        format!("Redis redis://127.0.0.1:{}/0 answered", redis.port()),
        "dc01: last seen ".to_owned(),
        " s ago, 2 in flight, schools default-school, gym\n".to_owned(),
        "linbo-dc-worker 0.1.0, pid 4242, started 2026-11-26T07:00:00.000Z".to_owned(),
        "instance host dc01 boot b state /var/lib/linbo-dc".to_owned(),
        "dc02: last seen".to_owned(),
        format!("Stream linbo:jobs: 5 entries, oldest {}", entries[0]),
        format!(
            "group dc-workers: 2 consumers, 3 pending, last delivered {}, 1 not delivered yet",
            entries[3]
        ),
        format!("dc01: 2 pending, oldest {} (", entries[0]),
        "delivered 1 time, 1 attempt)".to_owned(),
        format!("dc02: 1 pending, oldest {} (", entries[2]),
        "retention: acknowledged entries older than 7 d are trimmed; dead letters capped at 10000"
            .to_owned(),
        "Dead letters linbo:jobs:dlq: 6 entries; newest first".to_owned(),
        format!(
            "{}  2026-11-26T08:05:00.000Z  macct_repair 00000000-0000-4000-8000-000000000005: failure 5…",
            letters[5]
        ),
        "Outbox /".to_owned(),
        "var/lib/linbo-dc/outbox: 2 reports waiting for the API (1 operation)".to_owned(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains(&letters[0]),
        "only the newest 5 dead letters:\n{text}"
    );
}

#[test]
fn status_json_is_one_object_with_stable_keys() {
    let redis = RedisServer::start();
    let dc = sandbox(&redis);
    let (entries, letters) = busy_redis(&redis, &dc);
    let status = json(&ok(&dc, &["status", "--json"]));

    let workers = status["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2);
    let dc01 = &workers[0];
    assert_eq!(dc01["consumer"], "dc01");
    assert_eq!(dc01["key"], "linbo:workers:dc01");
    assert!(dc01["age_sec"].as_u64().expect("age_sec") < 30, "{dc01:#}");
    assert_eq!(dc01["in_flight"], 2);
    assert_eq!(
        dc01["schools"],
        serde_json::json!(["default-school", "gym"])
    );
    assert_eq!(dc01["version"], "linbo-dc-worker 0.1.0");
    assert_eq!(dc01["pid"], 4242);
    assert_eq!(dc01["instance"], "host dc01 boot b state /var/lib/linbo-dc");
    assert_eq!(dc01["problem"], Value::Null);

    let stream = &status["stream"];
    assert_eq!(stream["name"], "linbo:jobs");
    assert_eq!(stream["type"], "stream");
    assert_eq!(stream["length"], 5);
    assert_eq!(stream["oldest_entry_id"], entries[0].as_str());
    let group = &stream["groups"][0];
    assert_eq!(group["name"], "dc-workers");
    assert_eq!(group["pending"], 3);
    assert_eq!(group["lag"], 1);
    let by_consumer = group["pending_by_consumer"]
        .as_array()
        .expect("per consumer");
    assert_eq!(by_consumer.len(), 2);
    assert_eq!(by_consumer[0]["consumer"], "dc01");
    assert_eq!(by_consumer[0]["pending"], 2);
    assert_eq!(by_consumer[0]["oldest_id"], entries[0].as_str());
    assert_eq!(by_consumer[0]["oldest_deliveries"], 1);
    assert_eq!(by_consumer[0]["oldest_attempts"], 1);
    assert!(by_consumer[0]["oldest_age_sec"].as_u64().is_some());
    assert!(by_consumer[0]["oldest_idle_sec"].as_u64().is_some());
    assert_eq!(by_consumer[1]["consumer"], "dc02");
    assert_eq!(by_consumer[1]["oldest_attempts"], 0);

    let dead = &status["dead_letters"];
    assert_eq!(dead["name"], "linbo:jobs:dlq");
    assert_eq!(dead["length"], 6);
    let newest = dead["newest"].as_array().expect("newest");
    assert_eq!(newest.len(), 5);
    assert_eq!(newest[0]["id"], letters[5].as_str());
    assert_eq!(newest[0]["type"], "macct_repair");
    assert_eq!(
        newest[0]["operation_id"],
        "00000000-0000-4000-8000-000000000005"
    );
    assert_eq!(newest[0]["last_error"], "failure 5\nsecond line");
    assert_eq!(newest[0]["failed_at"], "2026-11-26T08:05:00.000Z");

    let outbox = &status["outbox"];
    assert_eq!(outbox["reports"], 2);
    assert_eq!(outbox["operations"], 1);
    assert_eq!(outbox["error"], Value::Null);
    assert_eq!(
        status["retention"],
        serde_json::json!({"stream_retention_sec": 604800, "dlq_maxlen": 10000})
    );
    // The outbox was only read: the torn line is still there.
    assert!(
        dc.read("/var/lib/linbo-dc/outbox/00000000-0000-4000-8000-0000000000aa.jsonl")
            .ends_with("{\"status\":\"fai")
    );
}

#[test]
fn status_on_an_empty_redis_says_so() {
    let redis = RedisServer::start();
    let dc = sandbox(&redis);
    let text = ok(&dc, &["status"]);
    assert!(text.contains("Workers: none"), "{text}");
    assert!(
        text.contains("Stream linbo:jobs: does not exist yet"),
        "{text}"
    );
    assert!(
        text.contains("Dead letters linbo:jobs:dlq: 0 entries"),
        "{text}"
    );
    let status = json(&ok(&dc, &["status", "--json"]));
    assert_eq!(status["stream"]["type"], "none");
    assert_eq!(status["workers"], serde_json::json!([]));
    assert_eq!(status["outbox"]["reports"], 0);
}

#[test]
fn status_exits_1_naming_redis_when_it_does_not_answer() {
    let mut redis = RedisServer::start();
    let dc = sandbox(&redis);
    redis.stop();
    let stderr = fails(&dc, &["status"]);
    assert!(
        stderr.contains(&format!(
            "linbo-dc-worker: Redis at redis://127.0.0.1:{}/0 did not answer",
            redis.port()
        )),
        "{stderr}"
    );
    fails(&dc, &["status", "--json"]);
    fails(&dc, &["dlq", "list"]);
}

#[test]
fn dlq_list_and_show() {
    let redis = RedisServer::start();
    let dc = sandbox(&redis);
    assert_eq!(
        ok(&dc, &["dlq", "list"]),
        "ID  FAILED AT  TYPE  OPERATION  LAST ERROR\n0 dead-letter entries\n"
    );
    let first = dead_letter(
        &redis,
        "00000000-0000-4000-8000-000000000001",
        "boom\nat line 2",
    );
    let second = dead_letter(
        &redis,
        "00000000-0000-4000-8000-000000000002",
        "\u{1b}[2Jcleared",
    );

    let text = ok(&dc, &["dlq", "list"]);
    assert_eq!(
        text,
        format!(
            "\
ID{pad}  FAILED AT                 TYPE          OPERATION                             LAST ERROR
{first}  2026-11-26T08:05:00.000Z  macct_repair  00000000-0000-4000-8000-000000000001  boom…
{second}  2026-11-26T08:05:00.000Z  macct_repair  00000000-0000-4000-8000-000000000002  \\u{{1b}}[2Jcleared
2 dead-letter entries
",
            pad = " ".repeat(first.len() - 2)
        )
    );
    let list = json(&ok(&dc, &["dlq", "list", "--json"]));
    assert_eq!(list.as_array().map(Vec::len), Some(2));
    assert_eq!(list[0]["id"], first.as_str());
    assert_eq!(list[0]["last_error"], "boom\nat line 2");
    assert_eq!(list[1]["type"], "macct_repair");

    let shown = ok(&dc, &["dlq", "show", &first]);
    assert_eq!(
        shown,
        format!(
            "id: {first}\ntype: macct_repair\noperation_id: 00000000-0000-4000-8000-000000000001\n\
             host: r100-pc01\nschool: default-school\nattempt: 0\ncreated_at: 2026-11-26T08:00:00.000Z\n\
             last_error: boom\n  at line 2\nfailed_at: 2026-11-26T08:05:00.000Z\n\
             original_id: 1764144000000-0\ndeliveries: 5\n"
        )
    );
    let shown = json(&ok(&dc, &["dlq", "show", "--json", &second]));
    assert_eq!(shown["id"], second.as_str());
    assert_eq!(shown["fields"]["deliveries"], "5");
    assert_eq!(shown["fields"]["last_error"], "\u{1b}[2Jcleared");
    assert_eq!(shown["fields"].as_object().map(|f| f.len()), Some(10));

    let stderr = fails(&dc, &["dlq", "show", "1-0"]);
    assert!(
        stderr.contains("not in linbo:jobs:dlq: 1-0 (linbo-dc-worker dlq list shows its entries)"),
        "{stderr}"
    );
    let output = run(&dc, &["dlq", "show", "1764144000000"]);
    assert_eq!(output.status.code(), Some(2), "a bare millisecond is no id");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("is not a stream entry id"),
        "{output:?}"
    );
}

#[test]
fn requeue_moves_the_original_fields_back_and_drops_the_dead_letter_in_one_step() {
    let redis = RedisServer::start();
    let dc = sandbox(&redis);
    redis.create_group(STREAM, GROUP);
    let first = dead_letter(&redis, "00000000-0000-4000-8000-000000000001", "boom");
    let second = dead_letter(&redis, "00000000-0000-4000-8000-000000000002", "boom");
    // The API's own dead letters (UPSTREAM §A.20) have no original_id or deliveries.
    let from_api = redis.xadd(
        DLQ,
        &[
            ("type", "provision_host"),
            ("operation_id", "00000000-0000-4000-8000-000000000003"),
            ("host", "r100-pc02"),
            ("school", "gym"),
            ("attempt", "3"),
            ("last_error", "Unknown error"),
            ("failed_at", "2026-11-26T09:00:00.000Z"),
        ],
    );

    // Given twice and out of order: each once, in stream order.
    let text = ok(&dc, &["dlq", "requeue", &from_api, &first, &from_api]);
    let requeued = ids(&redis, STREAM);
    assert_eq!(requeued.len(), 2, "{text}");
    assert_eq!(
        text,
        format!(
            "requeued {first} (macct_repair, operation 00000000-0000-4000-8000-000000000001) as {} in linbo:jobs\n\
             requeued {from_api} (provision_host, operation 00000000-0000-4000-8000-000000000003) as {} in linbo:jobs\n",
            requeued[0], requeued[1]
        )
    );
    let pairs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(field, value)| ((*field).to_owned(), (*value).to_owned()))
            .collect()
    };
    assert_eq!(
        fields_in_order(&redis, STREAM, &requeued[0]),
        pairs(&[
            ("type", "macct_repair"),
            ("operation_id", "00000000-0000-4000-8000-000000000001"),
            ("host", "r100-pc01"),
            ("school", "default-school"),
            ("attempt", "0"),
            ("created_at", "2026-11-26T08:00:00.000Z"),
        ])
    );
    assert_eq!(
        fields_in_order(&redis, STREAM, &requeued[1]),
        pairs(&[
            ("type", "provision_host"),
            ("operation_id", "00000000-0000-4000-8000-000000000003"),
            ("host", "r100-pc02"),
            ("school", "gym"),
            ("attempt", "3"),
        ])
    );
    assert_eq!(ids(&redis, DLQ), std::slice::from_ref(&second));

    // Requeued once: asking again is an unknown id, and changes nothing.
    let stderr = fails(&dc, &["dlq", "requeue", &first]);
    assert!(
        stderr.contains(&format!(
            "not in linbo:jobs:dlq: {first}; nothing was requeued or dropped"
        )),
        "{stderr}"
    );
    assert_eq!(redis.stream_len(STREAM), 2);
    assert_eq!(ids(&redis, DLQ), [second]);
}

#[test]
fn a_value_that_is_not_utf8_is_requeued_byte_for_byte() {
    let redis = RedisServer::start();
    let dc = sandbox(&redis);
    let letter: String = redis.query(
        redis::cmd("XADD")
            .arg(DLQ)
            .arg("*")
            .arg("type")
            .arg("macct_repair")
            .arg("host")
            .arg(&[0xff_u8, 0xfe][..])
            .arg("last_error")
            .arg("field \"host\" is not valid UTF-8"),
    );
    ok(&dc, &["dlq", "requeue", &letter]);
    type RawRow = (String, Vec<(String, Vec<u8>)>);
    let rows: Vec<RawRow> = redis.query(redis::cmd("XRANGE").arg(STREAM).arg("-").arg("+"));
    assert_eq!(
        rows[0].1,
        [
            ("type".to_owned(), b"macct_repair".to_vec()),
            ("host".to_owned(), vec![0xff, 0xfe])
        ]
    );
}

#[test]
fn unknown_ids_are_named_and_nothing_is_changed() {
    let redis = RedisServer::start();
    let dc = sandbox(&redis);
    let known = dead_letter(&redis, "00000000-0000-4000-8000-000000000001", "boom");
    for command in ["requeue", "drop"] {
        let stderr = fails(&dc, &["dlq", command, &known, "2-0", "1-5"]);
        assert!(
            stderr.contains(
                "linbo-dc-worker: not in linbo:jobs:dlq: 1-5, 2-0; nothing was requeued or dropped"
            ),
            "{stderr}"
        );
        assert_eq!(ids(&redis, DLQ), std::slice::from_ref(&known), "{command}");
        assert_eq!(redis.stream_len(STREAM), 0, "{command}");
    }
    // Neither requeue nor drop has a wildcard.
    assert_eq!(run(&dc, &["dlq", "drop"]).status.code(), Some(2));
    assert_eq!(run(&dc, &["dlq", "drop", "--all"]).status.code(), Some(2));
    assert_eq!(run(&dc, &["dlq", "drop", "*"]).status.code(), Some(2));
    assert_eq!(run(&dc, &["dlq", "requeue"]).status.code(), Some(2));
    assert_eq!(
        run(&dc, &["dlq", "requeue", "--all", &known]).status.code(),
        Some(2)
    );
    assert_eq!(ids(&redis, DLQ), [known]);
}

#[test]
fn drop_deletes_only_the_named_entries() {
    let redis = RedisServer::start();
    let dc = sandbox(&redis);
    let letters: Vec<String> = (1..=3)
        .map(|i| {
            dead_letter(
                &redis,
                &format!("00000000-0000-4000-8000-00000000000{i}"),
                "boom",
            )
        })
        .collect();
    let text = ok(&dc, &["dlq", "drop", &letters[2], &letters[0]]);
    assert_eq!(
        text,
        format!(
            "dropped {} (macct_repair, operation 00000000-0000-4000-8000-000000000001)\n\
             dropped {} (macct_repair, operation 00000000-0000-4000-8000-000000000003)\n",
            letters[0], letters[2]
        )
    );
    assert_eq!(ids(&redis, DLQ), [letters[1].clone()]);
    assert_eq!(redis.stream_len(STREAM), 0, "drop requeues nothing");
}

#[test]
fn requeue_all_takes_every_entry_there_is_in_order() {
    let redis = RedisServer::start();
    let dc = sandbox(&redis);
    // More than one page of 100.
    let letters: Vec<Vec<(String, String)>> = (0..250)
        .map(|i| {
            vec![
                ("type".to_owned(), "macct_repair".to_owned()),
                ("operation_id".to_owned(), format!("op-{i:03}")),
                ("last_error".to_owned(), "boom".to_owned()),
                ("deliveries".to_owned(), "5".to_owned()),
            ]
        })
        .collect();
    redis.xadd_many(DLQ, &letters);
    let text = ok(&dc, &["dlq", "requeue", "--all"]);
    assert_eq!(text.lines().count(), 250, "{text}");
    assert_eq!(redis.stream_len(DLQ), 0);
    let operations: Vec<String> = redis
        .range(STREAM)
        .into_iter()
        .map(|entry| entry.fields["operation_id"].clone())
        .collect();
    let expected: Vec<String> = (0..250).map(|i| format!("op-{i:03}")).collect();
    assert_eq!(operations, expected, "stream order kept");
    assert_eq!(
        ok(&dc, &["dlq", "requeue", "--all"]),
        "linbo:jobs:dlq: nothing to requeue\n"
    );
}

/// An administrator's flow: a repair was dead-lettered because the API did not know its
/// operation; once it does, `dlq requeue` hands the job to the running worker again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_requeued_job_is_handled_by_the_running_worker() {
    let mut harness = Harness::new("MAX_DELIVERIES=1\n").await;
    harness.dc.knobs(&[("FAKE_MACCT_MODE", "updated")]);
    harness.start_worker();
    let id = "00000000-0000-4000-8000-0000000000f1";
    harness.redis.xadd(
        STREAM,
        &[
            ("type", "macct_repair"),
            ("operation_id", id),
            ("host", "r100-pc01"),
            ("school", "default-school"),
            ("attempt", "0"),
            ("created_at", "2026-11-26T08:00:00Z"),
        ],
    );
    wait_until(&harness, "the unknown operation is dead-lettered", || {
        harness.redis.stream_len(DLQ) == 1
    })
    .await;
    harness.drained().await;
    let letter = ids(&harness.redis, DLQ).remove(0);

    harness
        .api
        .insert_operation(macct_operation(id, "r100-pc01", "default-school", 0));
    let output = run(&harness.dc, &["dlq", "requeue", &letter]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let done = harness.completed(&[id]).await;
    assert_eq!(
        done[0]["result"]["unicodePwd_updated"], true,
        "{:#}",
        done[0]
    );
    assert_eq!(harness.redis.stream_len(DLQ), 0);
    harness.drained().await;
    let status = json(&ok(&harness.dc, &["status", "--json"]));
    assert_eq!(status["workers"][0]["consumer"], CONSUMER);
    assert_eq!(status["stream"]["groups"][0]["pending"], 0);
    harness.stop_worker();
}

/// `XGROUP CREATE linbo:jobs <group> 0`.
fn create_group_at_start(redis: &RedisServer, group: &str) {
    redis.query::<()>(
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(STREAM)
            .arg(group)
            .arg("0"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_trims_old_acknowledged_entries_but_not_what_a_lagging_group_needs() {
    let mut harness = Harness::new("STREAM_RETENTION_SEC=3600\nDLQ_MAXLEN=3\n").await;
    let redis = &harness.redis;
    // Entries from 1970, acknowledged by the workers' group long ago.
    let old: Vec<String> = (1000..1006)
        .map(|ms| {
            redis.query::<String>(
                redis::cmd("XADD")
                    .arg(STREAM)
                    .arg(format!("{ms}-0"))
                    .arg("type")
                    .arg("macct_repair")
                    .arg("operation_id")
                    .arg(format!("old-{ms}")),
            )
        })
        .collect();
    assert_eq!(redis.read_as(STREAM, GROUP, "dc-gone", 100), old);
    redis.query::<u64>(redis::cmd("XACK").arg(STREAM).arg(GROUP).arg(&old));
    // A second group lags behind: 1002 is pending in it, 1003.. were never delivered to it.
    create_group_at_start(redis, "monitor");
    redis.read_as(STREAM, "monitor", "m1", 3);
    redis.query::<u64>(
        redis::cmd("XACK")
            .arg(STREAM)
            .arg("monitor")
            .arg(&old[0])
            .arg(&old[1]),
    );
    for i in 0..5 {
        dead_letter(
            redis,
            &format!("00000000-0000-4000-8000-00000000000{i}"),
            "boom",
        );
    }
    let newest_letters = ids(redis, DLQ)[2..].to_vec();

    harness.start_worker();
    wait_until(&harness, "the streams are trimmed at start", || {
        harness.redis.stream_len(STREAM) == 4 && harness.redis.stream_len(DLQ) == 3
    })
    .await;
    assert_eq!(ids(&harness.redis, STREAM), old[2..]);
    assert_eq!(ids(&harness.redis, DLQ), newest_letters);
    let pending = harness.redis.pending_entries(STREAM, "monitor", None);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, old[2], "still pending in the lagging group");
    // New jobs are not touched by the retention.
    let id = harness.macct("r100-pc01", "default-school");
    harness.completed(&[&id]).await;
    harness.stop_worker();
    let logs = harness.logs();
    assert!(logs.contains("retention: trimmed old entries"), "{logs}");
    assert_eq!(harness.redis.stream_len(STREAM), 5);
}

#[test]
fn requeue_all_while_jobs_and_dead_letters_arrive_requeues_each_entry_once() {
    let redis = RedisServer::start();
    let dc = sandbox(&redis);
    let letters: Vec<Vec<(String, String)>> = (0..300)
        .map(|i| {
            vec![
                ("type".to_owned(), "macct_repair".to_owned()),
                ("operation_id".to_owned(), format!("dead-{i:03}")),
                ("last_error".to_owned(), "boom".to_owned()),
            ]
        })
        .collect();
    redis.xadd_many(DLQ, &letters);
    // Meanwhile the API adds a job every millisecond, and the worker dead-letters one entry every
    // 10 ms (each fires the requeue's WATCH).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (stop, port) = (std::sync::Arc::clone(&stop), redis.port());
        std::thread::spawn(move || {
            let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
            let mut connection = client.get_connection().unwrap();
            let (mut jobs, mut late) = (0_usize, 0_usize);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (key, name) = if jobs % 10 == 9 {
                    late += 1;
                    (DLQ, format!("late-{late}"))
                } else {
                    (STREAM, format!("new-{jobs}"))
                };
                let _: String = redis::cmd("XADD")
                    .arg(key)
                    .arg("*")
                    .arg("type")
                    .arg("macct_repair")
                    .arg("operation_id")
                    .arg(name)
                    .query(&mut connection)
                    .unwrap();
                jobs += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            late
        })
    };
    let text = ok(&dc, &["dlq", "requeue", "--all"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let late = writer.join().expect("the writer");
    let operations = |stream: &str| -> Vec<String> {
        redis
            .range(stream)
            .into_iter()
            .map(|entry| entry.fields["operation_id"].clone())
            .collect()
    };
    let (in_stream, in_dlq) = (operations(STREAM), operations(DLQ));
    let requeued: Vec<&String> = in_stream
        .iter()
        .filter(|operation| operation.starts_with("dead-"))
        .collect();
    let expected: Vec<String> = (0..300).map(|i| format!("dead-{i:03}")).collect();
    assert_eq!(
        requeued,
        expected.iter().collect::<Vec<_>>(),
        "each once, in order"
    );
    assert!(
        in_dlq
            .iter()
            .all(|operation| operation.starts_with("late-"))
    );
    // A letter that arrived while the command ran is in one of the two streams, once.
    for i in 1..=late {
        let name = format!("late-{i}");
        let copies = in_stream
            .iter()
            .chain(&in_dlq)
            .filter(|op| **op == name)
            .count();
        assert_eq!(copies, 1, "{name}");
    }
    let n_late_requeued = in_stream
        .iter()
        .filter(|op| op.starts_with("late-"))
        .count();
    assert_eq!(text.lines().count(), 300 + n_late_requeued, "{text}");
}
