//! The LINBO API client against dc-testkit's fake API: wire format, errors, timeouts, secrecy.

use std::time::{Duration, Instant};

use dc_testkit::FakeApi;
use linbo_dc::worker::api::{
    ApiClient, ApiError, ApiSettings, OperationId, ProvisionAction, Secret, Status, StatusUpdate,
};
use serde_json::{Map, Value, json};

pub(crate) const KEY: &str = "s3cr3t-internal-key-4711";
pub(crate) const ID: &str = "0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d";
pub(crate) const OTHER_ID: &str = "11111111-2222-4333-8444-555555555555";

pub(crate) fn settings(base_url: String, timeout: Duration) -> ApiSettings {
    ApiSettings {
        base_url,
        api_key: Secret::new(KEY),
        timeout,
        connect_timeout: Duration::from_secs(1),
    }
}

pub(crate) fn client(api: &FakeApi) -> ApiClient {
    ApiClient::new(&settings(api.base_url(), Duration::from_secs(5))).expect("valid settings")
}

pub(crate) fn id(text: &str) -> OperationId {
    text.parse().expect("test ids are UUIDs")
}

fn provision_operation() -> Value {
    json!({
        "id": ID,
        "type": "provision_host",
        "status": "pending",
        "attempt": 0,
        "school": "default-school",
        "targetHost": "r100-pc01",
        "createdAt": "2026-11-25T10:00:00Z",
        "options": {
            "action": "update",
            "hostname": "r100-pc01",
            "mac": "00:1a:2b:3c:4d:01",
            "ip": "",
            "configName": "win11",
            "csvCol0": "r100",
            "oldHostname": null,
            "pxeFlag": 1,
            "dryRun": true,
            "hostId": "a7d1",
            "somethingNew": [1, 2]
        }
    })
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[tokio::test]
async fn get_operation_reads_data_and_sends_the_key() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(provision_operation());
    let operation = client(&api)
        .get_operation(&id(ID))
        .await
        .expect("operation exists");
    assert_eq!(operation.id, id(ID));
    assert_eq!(operation.kind, "provision_host");
    assert_eq!(operation.status, "pending");
    assert_eq!(operation.attempt, 0);
    assert_eq!(operation.school.as_deref(), Some("default-school"));
    assert_eq!(operation.target_host.as_deref(), Some("r100-pc01"));
    let options = operation.provision_options().expect("provision options");
    assert_eq!(options.action, ProvisionAction::Update);
    assert_eq!(options.hostname, "r100-pc01");
    assert_eq!(options.mac, "00:1a:2b:3c:4d:01");
    assert_eq!(options.ip, "");
    assert_eq!(options.config_name, "win11");
    assert_eq!(options.csv_col0, "r100");
    assert_eq!(options.old_hostname, None);
    assert_eq!(options.pxe_flag, Some(1));
    assert!(options.dry_run);
    assert_eq!(options.role, None);

    let requests = api.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(
        requests[0].path,
        format!("/api/v1/internal/operations/{ID}")
    );
    assert_eq!(requests[0].header("x-internal-key"), Some(KEY));
}

#[tokio::test]
async fn uppercase_ids_are_sent_lowercase() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(provision_operation());
    let upper = id(&ID.to_ascii_uppercase());
    client(&api).get_operation(&upper).await.expect("found");
    assert!(api.requests()[0].path.ends_with(ID));
}

#[tokio::test]
async fn patch_status_bodies_omit_absent_keys() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(provision_operation());
    let client = client(&api);
    let updates = [
        StatusUpdate::running(),
        StatusUpdate::retrying("import failed", 2),
        StatusUpdate::failed("Max retries (3) exceeded: import failed"),
        StatusUpdate::completed(object(json!({"processed": true, "stdout_lines": 3}))),
    ];
    for update in &updates {
        client
            .patch_status(&id(ID), update)
            .await
            .expect("accepted");
    }
    let expected = [
        json!({"status": "running"}),
        json!({"status": "retrying", "error": "import failed", "attempt": 2}),
        json!({"status": "failed", "error": "Max retries (3) exceeded: import failed"}),
        json!({"status": "completed", "result": {"processed": true, "stdout_lines": 3}}),
    ];
    assert_eq!(api.status_bodies(ID), expected);
    for request in api.requests() {
        assert_eq!(request.method, "PATCH");
        assert_eq!(
            request.path,
            format!("/api/v1/internal/operations/{ID}/status")
        );
        assert_eq!(request.header("x-internal-key"), Some(KEY));
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert!(
            !String::from_utf8_lossy(&request.body).contains("null"),
            "{:?}",
            request.body
        );
    }
    let operation = api.operation(ID).expect("still there");
    assert_eq!(operation["status"], "completed");
}

#[tokio::test]
async fn post_retry_increments_until_the_limit() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(provision_operation());
    let client = client(&api);
    for expected_attempt in 1..=3 {
        client.post_retry(&id(ID)).await.expect("below the limit");
        assert_eq!(
            api.operation(ID).expect("exists")["attempt"],
            expected_attempt
        );
    }
    let error = client
        .post_retry(&id(ID))
        .await
        .expect_err("attempt 3 is the limit");
    assert!(
        matches!(error, ApiError::RetryLimitReached { .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
    assert!(error.to_string().contains("RETRY_FAILED"), "{error}");
    let operation = api.operation(ID).expect("exists");
    assert_eq!(operation["status"], "failed");
    let requests = api.requests();
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(
            request.path,
            format!("/api/v1/internal/operations/{ID}/retry")
        );
        assert!(request.body.is_empty());
        assert_eq!(request.header("x-internal-key"), Some(KEY));
    }
}

#[tokio::test]
async fn unknown_operation_is_not_found_for_every_call() {
    let api = FakeApi::start(KEY).await;
    let client = client(&api);
    let unknown = id(OTHER_ID);
    let errors = [
        client.get_operation(&unknown).await.expect_err("unknown"),
        client
            .patch_status(&unknown, &StatusUpdate::running())
            .await
            .expect_err("unknown"),
        client.post_retry(&unknown).await.expect_err("unknown"),
    ];
    for error in errors {
        assert!(
            matches!(&error, ApiError::NotFound { id } if *id == unknown),
            "{error:?}"
        );
        assert!(!error.is_retryable());
        assert!(!error.is_configuration());
    }
}

#[tokio::test]
async fn server_errors_are_retryable_and_carry_the_body() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(provision_operation());
    api.fail_next(1);
    let client = client(&api);
    let error = client.get_operation(&id(ID)).await.expect_err("500");
    assert!(matches!(error, ApiError::Server { .. }), "{error:?}");
    assert!(error.is_retryable());
    assert_eq!(error.status().map(|status| status.as_u16()), Some(500));
    assert!(error.to_string().contains("injected failure"), "{error}");
    client
        .get_operation(&id(ID))
        .await
        .expect("only one failure");
}

#[tokio::test]
async fn a_database_error_is_retryable_on_every_route() {
    // The real API answers 400 DATABASE_ERROR for any database hiccup (index.js:330-338).
    let api = FakeApi::start(KEY).await;
    api.insert_operation(provision_operation());
    let client = client(&api);
    api.database_error_next(3);
    let errors = [
        client.get_operation(&id(ID)).await.expect_err("database"),
        client
            .patch_status(&id(ID), &StatusUpdate::running())
            .await
            .expect_err("database"),
        client.post_retry(&id(ID)).await.expect_err("database"),
    ];
    for error in errors {
        assert!(matches!(error, ApiError::Database { .. }), "{error:?}");
        assert!(error.is_retryable(), "{error:?}");
        assert!(!error.is_configuration());
        assert_eq!(error.status().map(|status| status.as_u16()), Some(400));
    }
    // Nothing changed: the retry that met the database error did not count.
    assert_eq!(api.operation(ID).expect("exists")["attempt"], 0);
    client
        .post_retry(&id(ID))
        .await
        .expect("the database is back");
    assert_eq!(api.operation(ID).expect("exists")["attempt"], 1);
}

#[tokio::test]
async fn a_validation_refusal_is_final_and_a_foreign_404_is_not() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(provision_operation());
    let client = client(&api);
    api.validation_error_next(1);
    let refused = client
        .patch_status(&id(ID), &StatusUpdate::running())
        .await
        .expect_err("refused");
    assert!(
        matches!(&refused, ApiError::Rejected { code: Some(code), .. } if code == "VALIDATION_ERROR"),
        "{refused:?}"
    );
    assert!(!refused.is_retryable(), "a validation refusal is final");
    // A 404 that is not the API's JSON (a proxy's page): passing, not a configuration error.
    api.foreign_not_found_next(1);
    let foreign = client.get_operation(&id(ID)).await.expect_err("404");
    assert!(
        matches!(&foreign, ApiError::Rejected { code: None, .. }),
        "{foreign:?}"
    );
    assert!(foreign.is_retryable() && !foreign.is_configuration());
    // Any other 400 is retryable: only a validation refusal is final.
    let other = ApiError::Rejected {
        method: reqwest::Method::PATCH,
        url: String::new(),
        status: reqwest::StatusCode::BAD_REQUEST,
        code: Some("SOMETHING_NEW".to_owned()),
        body: String::new(),
    };
    assert!(other.is_retryable());
    // `pending` and nulls are taken, as the real API takes them.
    let pending = raw_patch(&api, br#"{"status": "pending", "error": null}"#).await;
    assert_eq!(pending.0, 200, "{}", pending.1);
    assert_eq!(api.operation(ID).expect("exists")["status"], "pending");
    let missing = raw_patch(&api, br#"{"result": {}}"#).await;
    assert_eq!(missing.0, 400, "{}", missing.1);
    assert!(missing.1.contains("VALIDATION_ERROR"), "{}", missing.1);
}

/// `PATCH …/status` with `body` as it is, for requests the client would never make.
async fn raw_patch(api: &FakeApi, body: &[u8]) -> (u16, String) {
    dc_testkit::fake_api::send_raw(
        api.address(),
        "PATCH",
        &format!("/api/v1/internal/operations/{ID}/status"),
        KEY,
        body,
    )
    .await
}

#[tokio::test]
async fn a_wrong_api_url_is_a_configuration_error_not_an_unknown_operation() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(provision_operation());
    let wrong = format!("http://{}/api/v2", api.address());
    let client = ApiClient::new(&settings(wrong, Duration::from_secs(5))).expect("valid");
    let errors = [
        client.get_operation(&id(ID)).await.expect_err("no route"),
        client
            .patch_status(&id(ID), &StatusUpdate::running())
            .await
            .expect_err("no route"),
        client.post_retry(&id(ID)).await.expect_err("no route"),
    ];
    for error in errors {
        assert!(matches!(error, ApiError::UnknownRoute { .. }), "{error:?}");
        assert!(error.is_configuration(), "{error:?}");
        assert!(error.is_retryable(), "a report must not be dropped for it");
        let text = error.to_string();
        assert!(
            text.contains("Route ") && text.contains("/api/v2/internal/operations/"),
            "{text}"
        );
        assert!(text.contains("API_URL is wrong"), "{text}");
    }
}

#[tokio::test]
async fn hanging_api_times_out_within_the_configured_timeout() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(provision_operation());
    api.hang();
    let timeout = Duration::from_millis(300);
    let client = ApiClient::new(&settings(api.base_url(), timeout)).expect("valid");
    let started = Instant::now();
    let error = client
        .patch_status(&id(ID), &StatusUpdate::running())
        .await
        .expect_err("no answer");
    let elapsed = started.elapsed();
    assert!(matches!(error, ApiError::Timeout { .. }), "{error:?}");
    assert!(error.is_retryable() && error.is_unreachable());
    assert!(elapsed >= timeout, "gave up after {elapsed:?}");
    assert!(
        elapsed < timeout + Duration::from_secs(2),
        "took {elapsed:?}"
    );
}

#[tokio::test]
async fn down_api_is_a_retryable_transport_error() {
    let api = FakeApi::start(KEY).await;
    api.go_down().await;
    let error = client(&api)
        .get_operation(&id(ID))
        .await
        .expect_err("nobody listens");
    assert!(matches!(error, ApiError::Transport { .. }), "{error:?}");
    assert!(error.is_retryable() && error.is_unreachable());
}

#[tokio::test]
async fn wrong_key_is_unauthorized_and_the_key_stays_secret() {
    let api = FakeApi::start("the-right-key").await;
    api.insert_operation(provision_operation());
    let client = client(&api);
    let error = client.get_operation(&id(ID)).await.expect_err("wrong key");
    assert!(matches!(error, ApiError::Unauthorized { .. }), "{error:?}");
    for text in [
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
        format!("{:?}", settings(api.base_url(), Duration::from_secs(1))),
    ] {
        assert!(!text.contains(KEY), "key leaked: {text}");
    }
}

#[tokio::test]
async fn the_key_never_appears_in_transport_or_timeout_errors() {
    let api = FakeApi::start(KEY).await;
    api.hang();
    let client = ApiClient::new(&settings(api.base_url(), Duration::from_millis(100))).expect("ok");
    let timeout = client.get_operation(&id(ID)).await.expect_err("hangs");
    api.go_down().await;
    let transport = client.get_operation(&id(ID)).await.expect_err("down");
    for error in [timeout, transport] {
        let mut text = format!("{error} {error:?}");
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(&format!(" {cause} {cause:?}"));
            source = cause.source();
        }
        assert!(!text.contains(KEY), "key leaked: {text}");
    }
}

#[track_caller]
fn check_id(input: &str, expect: Option<&str>) {
    let parsed = input.parse::<OperationId>();
    assert_eq!(
        parsed.as_ref().ok().map(OperationId::as_str),
        expect,
        "{input:?}: {parsed:?}"
    );
}

#[test]
fn operation_ids_are_canonical_uuids() {
    check_id(ID, Some(ID));
    check_id(
        "0B9C3E5A-1D2F-4A6B-8C7D-9E0F1A2B3C4D",
        Some("0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d"),
    );
    check_id("", None);
    check_id("0b9c3e5a1d2f4a6b8c7d9e0f1a2b3c4d", None);
    check_id("{0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d}", None);
    check_id(" 0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d", None);
    check_id("0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4g", None);
    check_id("0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d/../x", None);
    check_id("../../../etc/passwd/0b9c3e5a-1d2f-4a6b", None);
    check_id("0b9c3e5a_1d2f_4a6b_8c7d_9e0f1a2b3c4d", None);
    check_id("0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4dé", None);
}

#[tokio::test]
async fn invalid_ids_never_reach_the_api() {
    let api = FakeApi::start(KEY).await;
    let _client = client(&api);
    for bad in [
        "../retry",
        "1; DROP TABLE",
        "0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d%2F",
    ] {
        assert!(bad.parse::<OperationId>().is_err(), "{bad}");
        assert!(
            serde_json::from_value::<OperationId>(json!(bad)).is_err(),
            "{bad}"
        );
    }
    assert!(api.requests().is_empty(), "{:?}", api.requests());
}

#[tokio::test]
async fn invalid_response_json_is_reported() {
    let api = FakeApi::start(KEY).await;
    api.insert_operation(json!({"id": ID, "type": "macct_repair"}));
    let error = client(&api)
        .get_operation(&id(ID))
        .await
        .expect_err("status is missing");
    assert!(
        matches!(error, ApiError::InvalidResponse { .. }),
        "{error:?}"
    );
    assert!(!error.is_retryable());
}

#[test]
fn settings_are_checked() {
    for base_url in ["localhost:3000", "ftp://x/api", "not a url", "mailto:a@b"] {
        let error =
            ApiClient::new(&settings(base_url.into(), Duration::from_secs(1))).expect_err(base_url);
        assert!(matches!(error, ApiError::Settings { .. }), "{error:?}");
    }
    let mut bad_key = settings(
        "http://localhost:3000/api/v1".into(),
        Duration::from_secs(1),
    );
    bad_key.api_key = Secret::new("line\nbreak-secret");
    let error = ApiClient::new(&bad_key).expect_err("newline in key");
    assert!(!error.to_string().contains("break-secret"), "{error}");
}

#[test]
fn status_update_wire_format() {
    let update: StatusUpdate = serde_json::from_value(json!({"status": "running"})).expect("ok");
    assert_eq!(update, StatusUpdate::new(Status::Running));
    assert!(serde_json::from_value::<StatusUpdate>(json!({"status": "pending"})).is_err());
}
