//! The fake API re-enqueues retried operations in a private Redis like the real API.

use std::net::SocketAddr;

use dc_testkit::fake_api::{
    DEAD_LETTER_STREAM, JOB_STREAM, macct_operation, provision_operation, send_raw,
};
use dc_testkit::{FakeApi, RedisServer};
use serde_json::json;

const KEY: &str = "key";
const MACCT_ID: &str = "0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d";
const PROVISION_ID: &str = "7f3e2d1c-0b9a-4877-8665-544332211000";

/// `POST {base}/internal/operations/{id}/retry` over raw HTTP; returns the status code and body.
async fn post_retry(address: SocketAddr, id: &str) -> (u16, String) {
    send_raw(
        address,
        "POST",
        &format!("/api/v1/internal/operations/{id}/retry"),
        KEY,
        b"",
    )
    .await
}

#[tokio::test]
async fn a_retry_is_re_enqueued_with_the_new_attempt() {
    let redis = RedisServer::start();
    let api = FakeApi::start(KEY).await;
    api.forward_retries_to(&redis.url());
    api.insert_operation(macct_operation(MACCT_ID, "r100-pc01", "school2", 1));

    let (status, body) = post_retry(api.address(), MACCT_ID).await;

    assert_eq!(status, 200, "{body}");
    let operation = api.operation(MACCT_ID).expect("still there");
    assert_eq!(operation["attempt"], 2);
    // As the real API: `retrying`, and the error cleared while the next attempt waits.
    assert_eq!(operation["status"], "retrying");
    assert_eq!(operation["error"], serde_json::Value::Null);
    let entries = redis.range(JOB_STREAM);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let fields = &entries[0].fields;
    assert_eq!(fields["type"], "macct_repair");
    assert_eq!(fields["operation_id"], MACCT_ID);
    assert_eq!(fields["host"], "r100-pc01");
    assert_eq!(fields["school"], "school2");
    assert_eq!(fields["attempt"], "2");
    let created_at = &fields["created_at"];
    assert!(
        created_at.len() == 24 && created_at.starts_with("20") && created_at.ends_with('Z'),
        "{created_at}"
    );
    assert_eq!(fields.len(), 6, "{fields:?}");
    assert_eq!(redis.stream_len(DEAD_LETTER_STREAM), 0);
}

#[tokio::test]
async fn a_provisioning_retry_carries_the_action_not_the_host() {
    let redis = RedisServer::start();
    let api = FakeApi::start(KEY).await;
    api.forward_retries_to(&redis.url());
    api.insert_operation(provision_operation(
        PROVISION_ID,
        "default-school",
        json!({"action": "create", "hostname": "r100-pc01", "mac": "00:1a:2b:3c:10:01"}),
    ));

    let (status, body) = post_retry(api.address(), PROVISION_ID).await;

    assert_eq!(status, 200, "{body}");
    let entries = redis.range(JOB_STREAM);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let fields = &entries[0].fields;
    assert_eq!(fields["type"], "provision_host");
    assert_eq!(fields["operation_id"], PROVISION_ID);
    assert_eq!(fields["action"], "create");
    assert_eq!(fields["school"], "default-school");
    assert_eq!(fields["attempt"], "1");
    assert!(!fields.contains_key("host"), "{fields:?}");
}

#[tokio::test]
async fn a_refused_retry_is_dead_lettered() {
    let redis = RedisServer::start();
    let api = FakeApi::start(KEY).await;
    api.forward_retries_to(&redis.url());
    let mut operation = macct_operation(MACCT_ID, "r100-pc01", "default-school", 3);
    operation["error"] = json!("repair_macct.py exited with 1");
    api.insert_operation(operation);

    let (status, body) = post_retry(api.address(), MACCT_ID).await;

    assert_eq!(status, 400, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("a JSON body");
    assert_eq!(
        answer,
        json!({"error": {"code": "RETRY_FAILED", "message": "Max retries exceeded, moved to DLQ"}})
    );
    // moveToDLQ (macct.service.js:251-257): the operation fails with the API's own message.
    let operation = api.operation(MACCT_ID).expect("still there");
    assert_eq!(operation["attempt"], 3);
    assert_eq!(operation["status"], "failed");
    assert_eq!(
        operation["error"],
        "Max retries (3) exceeded. Moved to DLQ."
    );
    assert_eq!(redis.stream_len(JOB_STREAM), 0);
    let entries = redis.dead_letters(DEAD_LETTER_STREAM);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let fields = &entries[0].fields;
    assert_eq!(fields["type"], "macct_repair");
    assert_eq!(fields["operation_id"], MACCT_ID);
    assert_eq!(fields["host"], "r100-pc01");
    assert_eq!(fields["school"], "default-school");
    assert_eq!(fields["attempt"], "3");
    assert_eq!(fields["last_error"], "repair_macct.py exited with 1");
    assert!(fields["failed_at"].ends_with('Z'), "{fields:?}");
}

#[tokio::test]
async fn retries_go_nowhere_until_forwarding_is_asked_for() {
    let redis = RedisServer::start();
    let api = FakeApi::start(KEY).await;
    api.insert_operation(macct_operation(MACCT_ID, "r100-pc01", "default-school", 0));

    assert_eq!(post_retry(api.address(), MACCT_ID).await.0, 200);
    assert_eq!(redis.stream_len(JOB_STREAM), 0);

    api.forward_retries_to(&redis.url());
    assert_eq!(post_retry(api.address(), MACCT_ID).await.0, 200);
    let entries = redis.range(JOB_STREAM);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].fields["attempt"], "2");
}

#[tokio::test]
async fn an_unreachable_redis_makes_the_retry_fail() {
    let mut redis = RedisServer::start();
    let api = FakeApi::start(KEY).await;
    api.forward_retries_to(&redis.url());
    api.insert_operation(macct_operation(MACCT_ID, "r100-pc01", "default-school", 0));
    redis.stop();

    let (status, body) = post_retry(api.address(), MACCT_ID).await;

    assert_eq!(status, 500, "{body}");
    assert!(body.contains("XADD to linbo:jobs failed"), "{body}");
}
