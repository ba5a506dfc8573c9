//! Dead-lettering: too many attempts, entries that do not decode or are not UTF-8, and a
//! dead-letter key that cannot take them.

use std::time::Duration;

use crate::support::{
    DLQ, Fixture, GROUP, LONG, Mode, Recorder, STREAM, assert_rfc3339_utc, fast_settings,
    wait_until,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_left_pending_is_dead_lettered_after_max_attempts() {
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::Retry);
    let mut settings = fast_settings();
    settings.max_deliveries = 3;
    settings.claim_min_idle = Duration::from_millis(100);
    settings.claim_interval = Duration::from_millis(100);
    settings.batch_window = Duration::from_millis(50);
    let running = server.start_consumer(settings, recorder.clone());
    let id = server.add_provisions("poison", 1).remove(0);

    wait_until("the entry is dead-lettered", LONG, || {
        server.stream_len(DLQ) == 1
    })
    .await;
    let letters = server.dead_letters(DLQ);
    let fields = &letters[0].fields;
    assert_eq!(fields["type"], "provision");
    assert_eq!(fields["operation_id"], "poison-0");
    assert_eq!(fields["school"], "school-a");
    assert_eq!(fields["original_id"], id);
    assert_eq!(fields["deliveries"], "3");
    assert!(
        fields["last_error"].contains("handling started 3 times"),
        "{fields:?}"
    );
    assert_rfc3339_utc(&fields["failed_at"]);
    wait_until("the original is acknowledged", LONG, || {
        server.pending_count() == 0
    })
    .await;
    assert_eq!(recorder.n_seen(), 3, "handled once per attempt");
    let dead = recorder.dead.lock().unwrap().clone();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].original_id, id);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_entries_are_dead_lettered_at_once_with_their_reason() {
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::Ack);
    let running = server.start_consumer(fast_settings(), recorder.clone());
    let unknown = server.xadd(STREAM, &[("type", "format_disk"), ("operation_id", "op-1")]);
    let bad_id = server.xadd(
        STREAM,
        &[("type", "provision"), ("operation_id", "../../etc")],
    );

    wait_until("both are dead-lettered", LONG, || {
        server.stream_len(DLQ) == 2
    })
    .await;
    wait_until("both are acknowledged", LONG, || {
        server.pending_count() == 0
    })
    .await;
    // Dead-letter writes run concurrently; find each letter by its original id.
    let letters = server.dead_letters(DLQ);
    let letter = |id: &str| {
        letters
            .iter()
            .find(|letter| letter.fields["original_id"] == id)
            .unwrap_or_else(|| panic!("no dead letter for {id}: {letters:?}"))
            .fields
            .clone()
    };
    let unknown = letter(&unknown);
    assert_eq!(unknown["last_error"], "unknown type Some(\"format_disk\")");
    assert_eq!(unknown["deliveries"], "0", "never handled");
    let bad_id = letter(&bad_id);
    assert_eq!(bad_id["last_error"], "invalid operation_id \"../../etc\"");
    assert_eq!(bad_id["operation_id"], "../../etc");
    assert_eq!(
        recorder.n_seen(),
        0,
        "invalid entries never reach the handler"
    );
    assert_eq!(recorder.dead.lock().unwrap().len(), 2);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_key_of_the_wrong_type_keeps_the_entry_pending_until_fixed() {
    let server = Fixture::new();
    server.query::<()>(redis::cmd("SET").arg(DLQ).arg("not a stream"));
    let recorder = Recorder::new(Mode::Ack);
    let running = server.start_consumer(fast_settings(), recorder.clone());
    let id = server.xadd(STREAM, &[("type", "bogus"), ("operation_id", "op-1")]);

    wait_until("the consumer has seen the entry", LONG, || {
        !recorder.dead.lock().unwrap().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pending = server.pending_entries(STREAM, GROUP, None);
    assert_eq!(
        pending.len(),
        1,
        "not acknowledged while the dead letter cannot be written"
    );
    assert_eq!(pending[0].id, id);

    server.query::<()>(redis::cmd("DEL").arg(DLQ));
    wait_until("the dead letter is written", LONG, || {
        server.stream_len(DLQ) == 1
    })
    .await;
    wait_until("the entry is acknowledged", LONG, || {
        server.pending_count() == 0
    })
    .await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_that_is_not_utf8_is_dead_lettered_with_its_bytes() {
    let server = Fixture::new();
    let recorder = Recorder::new(Mode::Ack);
    let running = server.start_consumer(fast_settings(), recorder.clone());
    let id: String = server.query(
        redis::cmd("XADD")
            .arg(STREAM)
            .arg("*")
            .arg("type")
            .arg("provision")
            .arg("host")
            .arg(&[0xffu8, 0xfe][..]),
    );

    wait_until("it is dead-lettered", LONG, || server.stream_len(DLQ) == 1).await;
    // XRANGE rows with raw values: (id, [(field, bytes)]).
    type RawRow = (String, Vec<(String, Vec<u8>)>);
    let raw: Vec<RawRow> = server.query(redis::cmd("XRANGE").arg(DLQ).arg("-").arg("+"));
    let fields: std::collections::HashMap<String, Vec<u8>> = raw[0].1.iter().cloned().collect();
    assert_eq!(fields["host"], [0xff, 0xfe], "the original bytes are kept");
    assert_eq!(fields["original_id"], id.as_bytes());
    assert_eq!(fields["last_error"], b"field \"host\" is not valid UTF-8");
    wait_until("it is acknowledged", LONG, || server.pending_count() == 0).await;
    running.stop().await;
}
