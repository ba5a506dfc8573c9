//! Async client for LINBO Docker's internal HTTP API (SPEC §2.2): fetch an operation, report its
//! status, ask for a retry.
//!
//! # Wire contract
//!
//! The base URL is the worker's `API_URL` (default `http://localhost:3000/api/v1`); the caller
//! passes it, with the key and the timeouts, in [`ApiSettings`]. This module never reads the
//! environment (it also turns off reqwest's proxy lookup, which would read `HTTP_PROXY`).
//!
//! | call | request | success |
//! | --- | --- | --- |
//! | [`ApiClient::get_operation`] | `GET {base}/internal/operations/{id}` | `200 {"data": Operation}` |
//! | [`ApiClient::patch_status`] | `PATCH {base}/internal/operations/{id}/status`, body [`StatusUpdate`] | any 2xx |
//! | [`ApiClient::post_retry`] | `POST {base}/internal/operations/{id}/retry`, no body | any 2xx |
//!
//! * Every request carries `X-Internal-Key: <key>`. The key is marked sensitive in the header map,
//!   is never logged, and never appears in `Debug` output or error messages (response excerpts in
//!   errors have it blanked out in case a server echoes it).
//! * `{id}` is an [`OperationId`]: a canonical UUID, checked when the value is made, so an invalid
//!   id is refused before any request exists. It is path-encoded all the same.
//! * Status bodies are `{"status": S, "result"?: {...}, "error"?: "...", "attempt"?: n}` with
//!   `S ∈ running | completed | failed | retrying`; absent keys are omitted, never sent as `null`.
//! * Every call has a total timeout and a connect timeout ([`ApiSettings`]). Redirects are not
//!   followed: a redirect would carry the key to wherever it points.
//!
//! # Errors and retries
//!
//! The real API answers errors as `{"error": {"code", "message"}}` (amolani/linbo-docker
//! `containers/api/src/index.js`, `routes/internal.js`; UPSTREAM.md §A.2, §A.9); the client reads
//! that body to sort them. [`ApiError::is_retryable`] separates "try again later" from "this
//! request will never succeed":
//!
//! | answer | error | retryable |
//! | --- | --- | --- |
//! | timeout, connection failure | [`ApiError::Timeout`], [`ApiError::Transport`] | yes |
//! | 5xx | [`ApiError::Server`] | yes |
//! | 400 `DATABASE_ERROR` — the API's answer to *any* database error, e.g. a pool timeout | [`ApiError::Database`] | yes |
//! | 400 `VALIDATION_ERROR` (the request itself is wrong) | [`ApiError::Rejected`] | no |
//! | 400 `RETRY_FAILED` on `POST …/retry` (attempts used up; the API moved the job to its DLQ) | [`ApiError::RetryLimitReached`] | no |
//! | any other 400 | [`ApiError::Rejected`] | yes: only a validation refusal is final |
//! | 404 `Operation not found` | [`ApiError::NotFound`] | no |
//! | 404 `Route GET /api/v2/… not found` (the API's own answer for a path it has no route for): `API_URL` is wrong | [`ApiError::UnknownRoute`] | yes, and [`ApiError::is_configuration`]: no request can succeed until the configuration is fixed |
//! | any other 404 (not the API's JSON: a proxy, another service on the port) | [`ApiError::Rejected`] | yes: it may be passing |
//! | 401/403 (wrong key: the whole worker's problem, not the report's) | [`ApiError::Unauthorized`] | yes |
//! | 408, 429 | [`ApiError::Rejected`] | yes |
//! | other 4xx, an unreadable success body | [`ApiError::Rejected`], [`ApiError::InvalidResponse`] | no |

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use reqwest::header::HeaderValue;
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use crate::secret::Secret;

/// The header that authenticates the worker to the internal API.
pub const KEY_HEADER: &str = "X-Internal-Key";

/// `error.code` of the API's answer to any database error (400, every route).
pub const DATABASE_ERROR: &str = "DATABASE_ERROR";
/// `error.code` of a request the API refuses as invalid (400).
pub const VALIDATION_ERROR: &str = "VALIDATION_ERROR";
/// `error.code` of a refused `POST …/retry` (400): the attempts are used up.
pub const RETRY_FAILED: &str = "RETRY_FAILED";
/// `error.message` of a 404 about an unknown operation (any other 404 is a route the API lacks).
pub const OPERATION_NOT_FOUND: &str = "Operation not found";

/// `{"error": {"code", "message"}}`, the real API's error body; both `None` for any other body.
#[derive(Debug, Default)]
struct ErrorBody {
    code: Option<String>,
    message: Option<String>,
}

impl ErrorBody {
    fn parse(bytes: &[u8]) -> ErrorBody {
        let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
            return ErrorBody::default();
        };
        let text = |key: &str| {
            value
                .pointer(&format!("/error/{key}"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        ErrorBody {
            code: text("code"),
            message: text("message"),
        }
    }
}

/// How many bytes of a response body an error keeps.
pub const BODY_EXCERPT_LIMIT: usize = 512;

/// Result of an API call.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Where the API is and how long to wait for it. Built by the caller from its configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Base URL including the version prefix, e.g. `http://localhost:3000/api/v1`.
    pub base_url: String,
    /// Sent as `X-Internal-Key` on every request.
    pub api_key: Secret,
    /// Total time for one request, from connecting to the last byte of the response.
    pub timeout: Duration,
    /// Time for establishing the TCP (and TLS) connection.
    pub connect_timeout: Duration,
}

/// A LINBO operation id: a canonical UUID (`8-4-4-4-12` hex digits), stored lowercase.
///
/// Stream fields and API data are untrusted; the id ends up in URL paths and file names, so
/// nothing else is accepted.
///
/// ```
/// use linbo_dc::worker::api::OperationId;
///
/// let id: OperationId = "0B9C3E5A-1D2F-4A6B-8C7D-9E0F1A2B3C4D".parse().unwrap();
/// assert_eq!(id.as_str(), "0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d");
/// assert!("../../etc/passwd".parse::<OperationId>().is_err());
/// assert!("0b9c3e5a1d2f4a6b8c7d9e0f1a2b3c4d".parse::<OperationId>().is_err(), "no hyphens");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OperationId(String);

/// A value that is not a canonical UUID, refused as an [`OperationId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid operation id {excerpt:?}: expected a UUID like 0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d"
)]
pub struct InvalidOperationId {
    /// The refused value, cut to 64 characters (it is untrusted input).
    pub excerpt: String,
}

impl OperationId {
    /// Checks `text` and keeps it in lowercase.
    pub fn parse(text: &str) -> Result<OperationId, InvalidOperationId> {
        let bytes = text.as_bytes();
        let well_formed = bytes.len() == 36
            && bytes.iter().enumerate().all(|(index, byte)| match index {
                8 | 13 | 18 | 23 => *byte == b'-',
                _ => byte.is_ascii_hexdigit(),
            });
        if well_formed {
            Ok(OperationId(text.to_ascii_lowercase()))
        } else {
            Err(InvalidOperationId {
                excerpt: text.chars().take(64).collect(),
            })
        }
    }

    /// The id, lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OperationId {
    type Err = InvalidOperationId;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        OperationId::parse(text)
    }
}

impl TryFrom<String> for OperationId {
    type Error = InvalidOperationId;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        OperationId::parse(&text)
    }
}

impl From<OperationId> for String {
    fn from(id: OperationId) -> String {
        id.0
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The status values the worker reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The worker started the job.
    Running,
    /// The job succeeded; usually with a `result`.
    Completed,
    /// The job failed for good; with an `error`.
    Failed,
    /// The job failed and will be retried; with an `error` and the current `attempt`.
    Retrying,
}

/// The body of `PATCH .../status`. Absent fields are omitted from the JSON, never `null`.
///
/// ```
/// use linbo_dc::worker::api::StatusUpdate;
///
/// let update = StatusUpdate::retrying("timeout", 1);
/// assert_eq!(
///     serde_json::to_string(&update).unwrap(),
///     r#"{"status":"retrying","error":"timeout","attempt":1}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    /// The new status.
    pub status: Status,
    /// The result object the UI shows (SPEC §2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Map<String, Value>>,
    /// A human-readable error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The attempt the status refers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

impl StatusUpdate {
    /// A bare status without result, error or attempt.
    pub fn new(status: Status) -> StatusUpdate {
        StatusUpdate {
            status,
            result: None,
            error: None,
            attempt: None,
        }
    }

    /// `{"status": "running"}`.
    pub fn running() -> StatusUpdate {
        StatusUpdate::new(Status::Running)
    }

    /// `{"status": "completed", "result": result}`.
    pub fn completed(result: Map<String, Value>) -> StatusUpdate {
        StatusUpdate::new(Status::Completed).with_result(result)
    }

    /// `{"status": "failed", "error": error}`.
    pub fn failed(error: impl Into<String>) -> StatusUpdate {
        StatusUpdate::new(Status::Failed).with_error(error)
    }

    /// `{"status": "retrying", "error": error, "attempt": attempt}`.
    pub fn retrying(error: impl Into<String>, attempt: u32) -> StatusUpdate {
        StatusUpdate::new(Status::Retrying)
            .with_error(error)
            .with_attempt(attempt)
    }

    /// Sets `result`.
    pub fn with_result(mut self, result: Map<String, Value>) -> StatusUpdate {
        self.result = Some(result);
        self
    }

    /// Sets `error`.
    pub fn with_error(mut self, error: impl Into<String>) -> StatusUpdate {
        self.error = Some(error.into());
        self
    }

    /// Sets `attempt`.
    pub fn with_attempt(mut self, attempt: u32) -> StatusUpdate {
        self.attempt = Some(attempt);
        self
    }
}

/// An operation as `GET .../operations/{id}` returns it (`data`). Fields the worker does not use
/// are ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    /// The operation id.
    pub id: OperationId,
    /// The job type, e.g. `provision_host` or `macct_repair` (kept as text: unknown types are
    /// the caller's decision).
    #[serde(rename = "type")]
    pub kind: String,
    /// The API's status of the operation (`pending`, `running`, ...).
    pub status: String,
    /// How many times the job was retried so far.
    #[serde(default)]
    pub attempt: u32,
    /// The school, when the API knows it.
    #[serde(default)]
    pub school: Option<String>,
    /// The host the operation is about, when there is one.
    #[serde(default)]
    pub target_host: Option<String>,
    /// Type-specific options; see [`Operation::provision_options`].
    #[serde(default)]
    pub options: Value,
}

impl Operation {
    /// Whether an administrator cancelled the operation in the web UI (`status` `cancelled`).
    pub fn is_cancelled(&self) -> bool {
        self.status == "cancelled"
    }

    /// Whether the operation has ended: `completed`, `failed` or `cancelled`. Running it again
    /// or reporting on it would overwrite that.
    pub fn has_ended(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "cancelled")
    }

    /// Reads `options` as the options of a `provision_host` operation.
    pub fn provision_options(&self) -> Result<ProvisionOptions, serde_json::Error> {
        ProvisionOptions::deserialize(&self.options)
    }
}

/// What a `provision_host` operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProvisionAction {
    /// Add the host.
    Create,
    /// Change the host (possibly renaming it, see `oldHostname`).
    Update,
    /// Remove the host.
    Delete,
}

/// `options` of a `provision_host` operation (SPEC §2.2). The values are untrusted: they are
/// validated by `devices-csv` before they reach a file. Unknown keys are ignored; a `null` text
/// value reads as `""`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionOptions {
    /// create, update or delete.
    pub action: ProvisionAction,
    /// The host name.
    pub hostname: String,
    /// MAC address, lowercase `aa:bb:...`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub mac: String,
    /// Fixed IP, `""` = dynamic.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub ip: String,
    /// Device group (hardware class), `""` = none.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub config_name: String,
    /// Room: column 0 of `devices.csv`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub csv_col0: String,
    /// The previous host name when the update renames the host.
    #[serde(default)]
    pub old_hostname: Option<String>,
    /// PXE flag, 0..3 (checked by `devices-csv`); absent or `null` = not given (1).
    #[serde(default)]
    pub pxe_flag: Option<i64>,
    /// Evaluate only, write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// The API's own host id; not used on the DC.
    #[serde(default)]
    pub host_id: Option<Value>,
    /// The sophomorix role (column 8), only when the job sets it.
    #[serde(default)]
    pub role: Option<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.unwrap_or_default())
}

/// A failed API call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The settings cannot make a client (bad base URL, key not usable as a header value).
    #[error("invalid API settings: {problem}")]
    Settings {
        /// What is wrong.
        problem: String,
    },
    /// No answer within the configured timeout (retryable).
    #[error("{method} {url}: no answer within the timeout")]
    Timeout {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
    },
    /// Connecting, sending or receiving failed (retryable).
    #[error("{method} {url}: transport error")]
    Transport {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// The server failed with HTTP 5xx (retryable).
    #[error("{method} {url}: server error {status}: {body}")]
    Server {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// The status code.
        status: StatusCode,
        /// The start of the response body.
        body: String,
    },
    /// The API does not know the operation (404 `Operation not found`).
    #[error("operation {id} not found")]
    NotFound {
        /// The operation.
        id: OperationId,
    },
    /// A 404 that is not about the operation: the API has no such route, so `API_URL` points at
    /// the wrong place (retryable, and a configuration error: see [`ApiError::is_configuration`]).
    #[error(
        "{method} {url}: the API has no such route ({message}); API_URL is wrong: it must be the \
         API's base including the version, e.g. http://<docker-host>:3000/api/v1"
    )]
    UnknownRoute {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// The API's message (`Route GET /x not found`), or the start of a body that is not the
        /// API's.
        message: String,
    },
    /// 400 `DATABASE_ERROR`: the API's database failed (retryable; the API answers it for any
    /// database hiccup, on every route).
    #[error("{method} {url}: the API's database failed (400 DATABASE_ERROR): {body}")]
    Database {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// The start of the response body.
        body: String,
    },
    /// `POST .../retry` answered 400 `RETRY_FAILED`: the attempts are used up and the API moved
    /// the job to its dead-letter stream and marked the operation failed.
    #[error("operation {id}: retry refused, attempts exhausted: {body}")]
    RetryLimitReached {
        /// The operation.
        id: OperationId,
        /// The start of the response body.
        body: String,
    },
    /// The API refused the key (401/403); retryable, as it is not the request's fault.
    #[error("{method} {url}: the API refused the key ({status})")]
    Unauthorized {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// 401 or 403.
        status: StatusCode,
    },
    /// Any other status that is not success; retryable for 408, 429, a 400 that is not a
    /// validation refusal, and a 404 that is not the API's own answer.
    #[error("{method} {url}: rejected with {status}: {body}")]
    Rejected {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// The status code.
        status: StatusCode,
        /// `error.code` of the body, when it is the API's JSON.
        code: Option<String>,
        /// The start of the response body.
        body: String,
    },
    /// A success response whose body is not the expected JSON.
    #[error("{method} {url}: invalid response body: {problem}; body: {body}")]
    InvalidResponse {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// What did not parse.
        problem: String,
        /// The start of the response body.
        body: String,
    },
}

impl ApiError {
    /// Whether the same request may succeed later (the API is down, slow, overloaded or
    /// misconfigured), as opposed to a request the API will always refuse.
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Timeout { .. }
            | ApiError::Transport { .. }
            | ApiError::Server { .. }
            | ApiError::Database { .. }
            | ApiError::UnknownRoute { .. }
            | ApiError::Unauthorized { .. } => true,
            ApiError::Rejected { status, code, .. } => {
                *status == StatusCode::REQUEST_TIMEOUT
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::NOT_FOUND
                    || (*status == StatusCode::BAD_REQUEST
                        && code.as_deref() != Some(VALIDATION_ERROR))
            }
            ApiError::Settings { .. }
            | ApiError::NotFound { .. }
            | ApiError::RetryLimitReached { .. }
            | ApiError::InvalidResponse { .. } => false,
        }
    }

    /// Whether the API could not be reached at all (timeout, transport failure, or no such route
    /// under `API_URL`): other requests to it will fail the same way right now.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ApiError::Timeout { .. } | ApiError::Transport { .. } | ApiError::UnknownRoute { .. }
        )
    }

    /// Whether the error says the worker's configuration is wrong (`API_URL` reaches no API
    /// route), so that no job can be handled until it is fixed: stop consuming, loudly, rather
    /// than fail or dead-letter entries one by one.
    pub fn is_configuration(&self) -> bool {
        matches!(self, ApiError::UnknownRoute { .. })
    }

    /// The HTTP status, when the API answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Server { status, .. }
            | ApiError::Unauthorized { status, .. }
            | ApiError::Rejected { status, .. } => Some(*status),
            ApiError::NotFound { .. } | ApiError::UnknownRoute { .. } => {
                Some(StatusCode::NOT_FOUND)
            }
            ApiError::RetryLimitReached { .. } | ApiError::Database { .. } => {
                Some(StatusCode::BAD_REQUEST)
            }
            _ => None,
        }
    }
}

/// The client. Cheap to clone (the connection pool is shared).
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base_url: Url,
    key_header: HeaderValue,
    key: Secret,
}

impl fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiClient")
            .field("base_url", &self.base_url.as_str())
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The request a call makes, before it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Get,
    PatchStatus,
    PostRetry,
}

impl ApiClient {
    /// Builds a client. Fails when the base URL is not an `http`/`https` URL or the key is not a
    /// valid header value; nothing is sent.
    pub fn new(settings: &ApiSettings) -> Result<ApiClient> {
        let settings_error = |problem: String| ApiError::Settings { problem };
        let base_url = Url::parse(&settings.base_url).map_err(|error| {
            settings_error(format!("base URL {:?}: {error}", settings.base_url))
        })?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(settings_error(format!(
                "base URL {:?}: expected http:// or https://",
                settings.base_url
            )));
        }
        let mut key_header = HeaderValue::from_str(settings.api_key.expose()).map_err(|_| {
            settings_error("the API key contains characters not allowed in a header".into())
        })?;
        key_header.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|error| settings_error(format!("building the HTTP client: {error}")))?;
        Ok(ApiClient {
            http,
            base_url,
            key_header,
            key: settings.api_key.clone(),
        })
    }

    /// The base URL requests are made under.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// `GET {base}/internal/operations/{id}`: the operation, or [`ApiError::NotFound`].
    pub async fn get_operation(&self, id: &OperationId) -> Result<Operation> {
        #[derive(Deserialize)]
        struct Envelope {
            data: Operation,
        }
        let (method, url, body) = self.send(Call::Get, id, None).await?;
        serde_json::from_slice::<Envelope>(&body)
            .map(|envelope| envelope.data)
            .map_err(|error| ApiError::InvalidResponse {
                method,
                url,
                problem: error.to_string(),
                body: self.excerpt(&body),
            })
    }

    /// `PATCH {base}/internal/operations/{id}/status` with `update` as the body.
    pub async fn patch_status(&self, id: &OperationId, update: &StatusUpdate) -> Result<()> {
        let body = serde_json::to_vec(update).map_err(|error| ApiError::Settings {
            problem: format!("encoding the status update: {error}"),
        })?;
        self.send(Call::PatchStatus, id, Some(body)).await?;
        Ok(())
    }

    /// `POST {base}/internal/operations/{id}/retry`: the API increments `attempt` and re-enqueues
    /// the job, or answers 400 ([`ApiError::RetryLimitReached`]) when `attempt >= 3`.
    pub async fn post_retry(&self, id: &OperationId) -> Result<()> {
        self.send(Call::PostRetry, id, None).await?;
        Ok(())
    }

    fn url(&self, call: Call, id: &OperationId) -> Url {
        let mut url = self.base_url.clone();
        {
            // `new` refused URLs that cannot be a base, so the path can always be extended.
            let mut segments = url
                .path_segments_mut()
                .expect("the base URL was checked to be a base in ApiClient::new");
            segments
                .pop_if_empty()
                .extend(["internal", "operations", id.as_str()]);
            match call {
                Call::Get => {}
                Call::PatchStatus => {
                    segments.push("status");
                }
                Call::PostRetry => {
                    segments.push("retry");
                }
            }
        }
        url
    }

    /// Sends one request and sorts the answer: `Ok((method, url, body))` for 2xx, else the
    /// matching error.
    async fn send(
        &self,
        call: Call,
        id: &OperationId,
        body: Option<Vec<u8>>,
    ) -> Result<(Method, String, Vec<u8>)> {
        let method = match call {
            Call::Get => Method::GET,
            Call::PatchStatus => Method::PATCH,
            Call::PostRetry => Method::POST,
        };
        let url = self.url(call, id);
        let url_text = url.to_string();
        let mut request = self
            .http
            .request(method.clone(), url)
            .header(KEY_HEADER, self.key_header.clone());
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let transport_error = |error: reqwest::Error| {
            if error.is_timeout() {
                ApiError::Timeout {
                    method: method.clone(),
                    url: url_text.clone(),
                }
            } else {
                ApiError::Transport {
                    method: method.clone(),
                    url: url_text.clone(),
                    source: error.without_url(),
                }
            }
        };
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport_error)?;
        tracing::debug!(%method, url = %url_text, status = status.as_u16(), "LINBO API call");
        if status.is_success() {
            return Ok((method, url_text, bytes.to_vec()));
        }
        let body = self.excerpt(&bytes);
        let error_body = ErrorBody::parse(&bytes);
        let code = error_body.code.as_deref();
        Err(match status {
            StatusCode::NOT_FOUND if error_body.message.as_deref() == Some(OPERATION_NOT_FOUND) => {
                ApiError::NotFound { id: id.clone() }
            }
            // Express's 404 for a path it has no route for (index.js:316-324): API_URL is wrong.
            StatusCode::NOT_FOUND
                if error_body
                    .message
                    .as_deref()
                    .is_some_and(|message| message.starts_with("Route ")) =>
            {
                ApiError::UnknownRoute {
                    method,
                    url: url_text,
                    message: error_body
                        .message
                        .map_or(body, |message| self.excerpt(message.as_bytes())),
                }
            }
            StatusCode::BAD_REQUEST if code == Some(DATABASE_ERROR) => ApiError::Database {
                method,
                url: url_text,
                body,
            },
            StatusCode::BAD_REQUEST if call == Call::PostRetry && code == Some(RETRY_FAILED) => {
                ApiError::RetryLimitReached {
                    id: id.clone(),
                    body,
                }
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ApiError::Unauthorized {
                method,
                url: url_text,
                status,
            },
            status if status.is_server_error() => ApiError::Server {
                method,
                url: url_text,
                status,
                body,
            },
            status => ApiError::Rejected {
                method,
                url: url_text,
                status,
                code: error_body.code,
                body,
            },
        })
    }

    /// The start of a response body for an error message: at most [`BODY_EXCERPT_LIMIT`] bytes,
    /// cut at a character boundary, with the key blanked out should the server echo it.
    fn excerpt(&self, body: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(body).into_owned();
        // Blank the key out before cutting, so that no prefix of it survives a cut.
        let key = self.key.expose();
        if !key.is_empty() && text.contains(key) {
            text = text.replace(key, "<redacted>");
        }
        let mut end = text.len().min(BODY_EXCERPT_LIMIT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let truncated = end < text.len();
        text.truncate(end);
        if truncated {
            text.push('…');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(key: &str) -> ApiClient {
        ApiClient::new(&ApiSettings {
            base_url: "http://127.0.0.1:9/api/v1".into(),
            api_key: Secret::new(key),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
        })
        .expect("valid settings")
    }

    #[test]
    fn excerpts_are_bounded_and_never_show_the_key() {
        let client = client("topsecret");
        assert_eq!(client.excerpt(b"{\"error\":\"x\"}"), "{\"error\":\"x\"}");
        let echoed = client.excerpt(b"bad key topsecret given");
        assert_eq!(echoed, "bad key <redacted> given");
        let long = "ä".repeat(BODY_EXCERPT_LIMIT);
        let excerpt = client.excerpt(long.as_bytes());
        assert!(excerpt.len() <= BODY_EXCERPT_LIMIT + '…'.len_utf8());
        assert!(excerpt.ends_with('…'));
        // The key straddling the cut must not leave a prefix behind.
        let mut straddling = "x".repeat(BODY_EXCERPT_LIMIT - 4);
        straddling.push_str("topsecret");
        assert!(!client.excerpt(straddling.as_bytes()).contains("tops"));
    }

    #[test]
    fn urls_are_built_under_the_base_path() {
        let id = OperationId::parse("0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d").expect("uuid");
        let client = client("k");
        assert_eq!(
            client.url(Call::PatchStatus, &id).as_str(),
            "http://127.0.0.1:9/api/v1/internal/operations/0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d/status"
        );
        let mut settings = ApiSettings {
            base_url: "http://h/api/v1/".into(),
            api_key: Secret::new("k"),
            timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
        };
        let trailing = ApiClient::new(&settings).expect("valid");
        assert_eq!(
            trailing.url(Call::Get, &id).as_str(),
            "http://h/api/v1/internal/operations/0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d"
        );
        settings.base_url = "https://h".into();
        let bare = ApiClient::new(&settings).expect("valid");
        assert_eq!(
            bare.url(Call::PostRetry, &id).as_str(),
            "https://h/internal/operations/0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d/retry"
        );
    }
}
