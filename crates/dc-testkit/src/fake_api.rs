//! A fake LINBO Docker internal API (SPEC §2.2) on a free loopback port, with fault injection.
//!
//! [`FakeApi::start`] serves `{base}/internal/operations/{id}` (`GET`), `.../{id}/status`
//! (`PATCH`) and `.../{id}/retry` (`POST`) from operations the test inserts, records every
//! request, and can be told to fail: answer 500 ([`fail_next`](FakeApi::fail_next),
//! [`fail_always`](FakeApi::fail_always)) or the real API's 400 `DATABASE_ERROR`
//! ([`database_error_next`](FakeApi::database_error_next),
//! [`database_error_always`](FakeApi::database_error_always)), answer late or never
//! ([`delay`](FakeApi::delay), [`hang`](FakeApi::hang)), or go away entirely
//! ([`go_down`](FakeApi::go_down) closes the listener and every open connection;
//! [`come_back`](FakeApi::come_back) listens on the same port again). An admin's cancel is
//! [`cancel`](FakeApi::cancel).
//!
//! # Answers, as the real API gives them
//!
//! Read from amolani/linbo-docker @9dbd9c1 (`containers/api/src/index.js`,
//! `containers/api/src/routes/internal.js`, `containers/api/src/services/macct.service.js`,
//! `containers/api/src/services/provisioning.service.js`; UPSTREAM.md §A.2, §A.9, §A.14):
//!
//! | case | status | body |
//! | --- | --- | --- |
//! | `GET` an operation | 200 | `{"data": <operation>}` |
//! | `PATCH …/status` | 200 | `{"data": {"operationId", "status", "message": "Status updated successfully"}}` |
//! | `POST …/retry` below attempt 3 | 200 | `{"data": {"operationId", "attempt", "message": "Job re-queued for retry"}}`; the operation gets `status` `retrying`, `attempt` + 1, `error` `null` |
//! | `POST …/retry` at attempt 3 or more | 400 | `{"error": {"code": "RETRY_FAILED", "message": "Max retries exceeded, moved to DLQ"}}`; the operation gets `status` `failed`, `error` `Max retries (3) exceeded. Moved to DLQ.` |
//! | `PATCH` without `status` / with another status than `pending running completed failed retrying` | 400 | `VALIDATION_ERROR`, `status is required` / `Invalid status. Must be one of: …` |
//! | unknown operation | 404 | `{"error": {"code": "NOT_FOUND", "message": "Operation not found"}}` |
//! | unknown route (a wrong `API_URL`) | 404 | `{"error": {"code": "NOT_FOUND", "message": "Route GET /x/y not found", "requestId"}}` |
//! | wrong or missing key | 401 | `{"error": {"code": "UNAUTHORIZED", "message": "Invalid or missing internal API key"}}` |
//! | a database error (any Prisma error, e.g. the pool timeout P2024), injected | 400 | `{"error": {"code": "DATABASE_ERROR", "message": "Database operation failed", "requestId"}}` |
//! | an error without a code, injected | 500 | `{"error": {"code": "INTERNAL_ERROR", "message": …, "requestId"}}` |
//!
//! `PATCH` takes `null` values like the real API (`result: null` sets `null`); the real API does
//! not refuse to overwrite a `cancelled` operation either, so the fake does not.
//!
//! It is a small HTTP/1.1 server written on `tokio::net` (request line, headers,
//! `Content-Length` body, keep-alive), so the tests need no HTTP server dependency. Requests are
//! handled in this order: record, wait (delay or hang), injected 500, `X-Internal-Key` check
//! (401), routing. Everything must run inside a tokio runtime.
//!
//! Like the real API, the fake can re-enqueue retried operations: after
//! [`forward_retries_to`](FakeApi::forward_retries_to), a `POST .../retry` below attempt 3 also adds
//! an entry to the job stream [`JOB_STREAM`], and one at attempt 3 or more an entry to the
//! dead-letter stream [`DEAD_LETTER_STREAM`] (fields below). The entry is added before the answer
//! is sent, so a client that got its answer finds it in Redis; when Redis cannot be reached the
//! fake answers 500 (the operation keeps the changed attempt, as the real API's database would).
//! [`macct_operation`] and [`provision_operation`] build operations to insert.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// The path prefix of the fake API, like the real one's default `API_URL`.
pub const BASE_PATH: &str = "/api/v1";

/// Upper bound for a request head; larger heads get 431 and the connection is closed.
const MAX_HEAD: usize = 64 * 1024;

/// How long [`FakeApi::come_back`] keeps trying to bind the old port.
const REBIND_TIMEOUT: Duration = Duration::from_secs(10);

/// The stream the real API adds jobs to, and the fake re-enqueues retries to (SPEC §2.1).
pub const JOB_STREAM: &str = "linbo:jobs";

/// The dead-letter stream the real API moves a job to when a retry is refused (SPEC §2.1).
pub const DEAD_LETTER_STREAM: &str = "linbo:jobs:dlq";

/// Retries are refused from this attempt on (the real API's `MAX_RETRIES`).
const MAX_RETRIES: u64 = 3;

/// How long forwarding waits for Redis to accept the connection, and then for each reply.
const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const REDIS_IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One request as the fake API received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `PATCH`, `POST`, ...
    pub method: String,
    /// The request target as sent (path-encoded), e.g. `/api/v1/internal/operations/<id>/status`.
    pub path: String,
    /// Headers in arrival order, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// When the request was complete.
    pub at: Instant,
}

impl RecordedRequest {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(header, _)| *header == name)
            .map(|(_, value)| value.as_str())
    }

    /// The body parsed as JSON.
    ///
    /// # Panics
    /// When the body is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "request body of {} {} is not JSON ({error}): {:?}",
                self.method,
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// How the fake delays its answers.
#[derive(Debug, Clone, Copy)]
enum Stall {
    None,
    Delay(Duration),
    Forever,
}

/// What an injected failure answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// 500 `INTERNAL_ERROR`.
    Internal,
    /// 400 `DATABASE_ERROR`.
    Database,
    /// 400 `VALIDATION_ERROR`.
    Validation,
    /// 404 with an HTML body: not the API answering (a proxy, another service on the port).
    ForeignNotFound,
}

#[derive(Debug)]
struct State {
    api_key: String,
    operations: HashMap<String, Value>,
    requests: Vec<RecordedRequest>,
    /// Injected failures: what, and for how many more requests (`None` = until cleared).
    failures: Option<(Failure, Option<u64>)>,
    /// Operations whose requests fail with `DATABASE_ERROR` until cleared.
    failing_operations: std::collections::HashSet<String>,
    /// Numbers the `requestId` of error bodies.
    next_request_id: u64,
    stall: Stall,
    /// Where retries are forwarded (`XADD`), once [`FakeApi::forward_retries_to`] was called.
    redis: Option<redis::Client>,
}

/// The fake's answer to one request.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    /// An entry to add to Redis before answering.
    forward: Option<Forward>,
}

impl Answer {
    fn new(status: u16, body: Value) -> Answer {
        Answer {
            status,
            body,
            forward: None,
        }
    }
}

/// A stream entry a retry adds, and where.
#[derive(Debug)]
struct Forward {
    client: redis::Client,
    stream: &'static str,
    fields: Vec<(&'static str, String)>,
}

impl Forward {
    /// `XADD stream * field value ...` on a fresh blocking connection in tokio's blocking pool:
    /// its timeouts are real time, so tests with a paused tokio clock cannot fire them early, and
    /// a paused clock does not auto-advance while a blocking task runs.
    async fn send(self) -> Result<(), String> {
        tokio::task::spawn_blocking(move || {
            let mut connection = self
                .client
                .get_connection_with_timeout(REDIS_CONNECT_TIMEOUT)?;
            connection.set_read_timeout(Some(REDIS_IO_TIMEOUT))?;
            connection.set_write_timeout(Some(REDIS_IO_TIMEOUT))?;
            let mut command = redis::cmd("XADD");
            command.arg(self.stream).arg("*");
            for (field, value) in &self.fields {
                command.arg(*field).arg(value);
            }
            command.query::<String>(&mut connection).map(drop)
        })
        .await
        .map_err(|error| format!("the XADD task failed: {error}"))?
        .map_err(|error| error.to_string())
    }
}

/// The fake API server. Dropping it stops it and closes every connection.
#[derive(Debug)]
pub struct FakeApi {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    /// The accept loop and every connection task; aborted by [`go_down`](Self::go_down).
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl FakeApi {
    /// Starts the fake on `127.0.0.1:<free port>`; requests must carry `X-Internal-Key: api_key`.
    pub async fn start(api_key: &str) -> FakeApi {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .unwrap_or_else(|error| panic!("binding the fake LINBO API: {error}"));
        let address = listener
            .local_addr()
            .expect("a bound listener has a local address");
        let api = FakeApi {
            address,
            state: Arc::new(Mutex::new(State {
                api_key: api_key.to_owned(),
                operations: HashMap::new(),
                requests: Vec::new(),
                failures: None,
                failing_operations: std::collections::HashSet::new(),
                next_request_id: 1,
                stall: Stall::None,
                redis: None,
            })),
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        api.serve(listener);
        api
    }

    /// `http://127.0.0.1:<port>/api/v1`, the value for the client's base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}{BASE_PATH}", self.address)
    }

    /// The listening address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Adds or replaces an operation; it must have a string `id` (stored lowercase).
    ///
    /// # Panics
    /// When `operation` has no string `id`.
    pub fn insert_operation(&self, operation: Value) {
        let id = operation
            .get("id")
            .and_then(Value::as_str)
            .expect("a fake operation needs a string \"id\"")
            .to_ascii_lowercase();
        self.lock().operations.insert(id, operation);
    }

    /// The operation as it is now (after the PATCHes and retries it received).
    pub fn operation(&self, id: &str) -> Option<Value> {
        self.lock()
            .operations
            .get(&id.to_ascii_lowercase())
            .cloned()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// The JSON bodies of the `PATCH .../status` requests for operation `id`, in order.
    pub fn status_bodies(&self, id: &str) -> Vec<Value> {
        let suffix = format!("/internal/operations/{}/status", id.to_ascii_lowercase());
        self.requests()
            .iter()
            .filter(|request| request.method == "PATCH" && request.path.ends_with(&suffix))
            .map(RecordedRequest::json)
            .collect()
    }

    /// Waits until at least `count` requests were recorded and returns them.
    ///
    /// # Panics
    /// When `timeout` passes first.
    pub async fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<RecordedRequest> {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "fake LINBO API: expected {count} requests within {timeout:?}, got {}: {:?}",
                requests.len(),
                requests
                    .iter()
                    .map(|request| format!("{} {}", request.method, request.path))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Cancels operation `id` as an administrator does in the web UI (`POST
    /// /operations/:id/cancel`, operations.js:988-1011): `status` becomes `cancelled`. Unknown
    /// ids are ignored.
    pub fn cancel(&self, id: &str) {
        if let Some(operation) = self.lock().operations.get_mut(&id.to_ascii_lowercase()) {
            operation["status"] = json!("cancelled");
            operation["completedAt"] = json!(rfc3339::format_millis(SystemTime::now()));
        }
    }

    /// From now on, a successful `POST .../retry` (attempt below 3; the fake sets `attempt` to
    /// attempt + 1, `status` to `retrying` and `error` to `null`) also adds an entry to
    /// [`JOB_STREAM`] on the Redis server at `redis_url`, as the real API re-enqueues a job:
    ///
    /// * `macct_repair` (and any other type): `type`, `operation_id`, `host` (the `targetHost`),
    ///   `school`, `attempt` (the new attempt), `created_at`;
    /// * `provision_host`: `type`, `operation_id`, `action` (from `options`), `school`, `attempt`,
    ///   `created_at` — no `host`, like the real API.
    ///
    /// A `POST .../retry` at attempt 3 or more (answered 400) also adds an entry to
    /// [`DEAD_LETTER_STREAM`] with `type`, `operation_id`, `host`, `school`, `attempt` (unchanged),
    /// `last_error` (the operation's `error`, else `Unknown error`) and `failed_at`, the real API's
    /// dead-letter fields.
    ///
    /// `school` is the operation's, or `default-school` when it has none; `created_at` is the
    /// operation's `createdAt` when it has one, else the time of the retry; times are RFC 3339 UTC
    /// with milliseconds. Fields the operation lacks (`type`, `targetHost`, `options.action`) are
    /// left out, so a test can provoke bad entries. The entry is added before the answer is sent;
    /// when Redis cannot be reached the answer is 500.
    ///
    /// # Panics
    /// When `redis_url` is not a valid Redis URL.
    pub fn forward_retries_to(&self, redis_url: &str) {
        let client = redis::Client::open(redis_url)
            .unwrap_or_else(|error| panic!("fake LINBO API: redis URL {redis_url:?}: {error}"));
        self.lock().redis = Some(client);
    }

    /// Answers the next `count` requests with 500.
    pub fn fail_next(&self, count: u64) {
        self.lock().failures = Some((Failure::Internal, Some(count)));
    }

    /// Answers every request with 500 until [`clear_failures`](Self::clear_failures).
    pub fn fail_always(&self) {
        self.lock().failures = Some((Failure::Internal, None));
    }

    /// Answers the next `count` requests with the real API's 400 `DATABASE_ERROR` (what it says
    /// for any database hiccup, index.js:330-338).
    pub fn database_error_next(&self, count: u64) {
        self.lock().failures = Some((Failure::Database, Some(count)));
    }

    /// Answers every request with 400 `DATABASE_ERROR` until
    /// [`clear_failures`](Self::clear_failures).
    pub fn database_error_always(&self) {
        self.lock().failures = Some((Failure::Database, None));
    }

    /// Answers the next `count` requests with 400 `VALIDATION_ERROR`, the API's refusal of a
    /// request it considers invalid.
    pub fn validation_error_next(&self, count: u64) {
        self.lock().failures = Some((Failure::Validation, Some(count)));
    }

    /// Answers the next `count` requests with a 404 whose body is an HTML page, as a reverse
    /// proxy or another service on the port would: not the API's own answer.
    pub fn foreign_not_found_next(&self, count: u64) {
        self.lock().failures = Some((Failure::ForeignNotFound, Some(count)));
    }

    /// Answers every request about operation `id` with 400 `DATABASE_ERROR` (as the real API
    /// does when its database query fails, index.js:330-338) until
    /// [`clear_failures`](Self::clear_failures); other operations are answered normally.
    pub fn database_error_for(&self, id: &str) {
        self.lock()
            .failing_operations
            .insert(id.to_ascii_lowercase());
    }

    /// Stops injecting failures (every kind).
    pub fn clear_failures(&self) {
        let mut state = self.lock();
        state.failures = None;
        state.failing_operations.clear();
    }

    /// Answers each request only after `delay`.
    pub fn delay(&self, delay: Duration) {
        self.lock().stall = Stall::Delay(delay);
    }

    /// Accepts requests but never answers them (until [`clear_stall`](Self::clear_stall); the
    /// requests already hanging stay unanswered).
    pub fn hang(&self) {
        self.lock().stall = Stall::Forever;
    }

    /// Answers at once again.
    pub fn clear_stall(&self) {
        self.lock().stall = Stall::None;
    }

    /// Stops listening and closes every open connection: when this returns, clients get
    /// "connection refused".
    pub async fn go_down(&self) {
        // The accept loop may have started a connection task after the first drain; repeat
        // until the accept loop is gone and nothing new appeared.
        loop {
            let tasks: Vec<JoinHandle<()>> = self.lock_tasks().drain(..).collect();
            if tasks.is_empty() {
                return;
            }
            for task in &tasks {
                task.abort();
            }
            for task in tasks {
                // An aborted task ends with a cancellation error; that is the point.
                let _ = task.await;
            }
        }
    }

    /// Listens on the same port again after [`go_down`](Self::go_down).
    ///
    /// # Panics
    /// When the port cannot be bound again within 10 s.
    pub async fn come_back(&self) {
        let deadline = Instant::now() + REBIND_TIMEOUT;
        let listener = loop {
            match bind(self.address) {
                Ok(listener) => break listener,
                Err(error) if Instant::now() < deadline => {
                    let _ = error;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(error) => panic!("fake LINBO API: rebinding {}: {error}", self.address),
            }
        };
        self.serve(listener);
    }

    fn serve(&self, listener: TcpListener) {
        let state = Arc::clone(&self.state);
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let connection = tokio::spawn(handle_connection(stream, Arc::clone(&state)));
                let mut tasks = tasks.lock().unwrap_or_else(|poison| poison.into_inner());
                tasks.retain(|task| !task.is_finished());
                tasks.push(connection);
            }
        });
        self.lock_tasks().push(accept);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread may poison the lock; the state is still usable for the rest.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_tasks(&self) -> MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        // Drop cannot wait; the runtime closes the sockets when it next polls the tasks.
        for task in self.lock_tasks().drain(..) {
            task.abort();
        }
    }
}

/// Binds with `SO_REUSEADDR`, so the port of a closed listener can be taken again at once.
fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(128)
}

/// Serves requests on one connection until the client closes it.
async fn handle_connection(stream: TcpStream, state: Arc<Mutex<State>>) {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    loop {
        let request = match read_request(&mut reader).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(status) => {
                let body = error_body("INTERNAL_ERROR", "the request could not be read");
                let _ = writer.write_all(&response(status, &body, false)).await;
                return;
            }
        };
        let keep_alive = !request
            .header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"));
        let stall = {
            let mut state = state.lock().unwrap_or_else(|poison| poison.into_inner());
            state.requests.push(request.clone());
            state.stall
        };
        match stall {
            Stall::None => {}
            Stall::Delay(delay) => tokio::time::sleep(delay).await,
            Stall::Forever => std::future::pending::<()>().await,
        }
        let Answer {
            status,
            body,
            forward,
        } = {
            let mut state = state.lock().unwrap_or_else(|poison| poison.into_inner());
            answer(&mut state, &request)
        };
        let (status, body) = match forward {
            None => (status, body),
            Some(forward) => {
                let stream = forward.stream;
                match forward.send().await {
                    Ok(()) => (status, body),
                    Err(error) => (
                        500,
                        error_body(
                            "INTERNAL_ERROR",
                            &format!("fake LINBO API: XADD to {stream} failed: {error}"),
                        ),
                    ),
                }
            }
        };
        if writer
            .write_all(&response(status, &body, keep_alive))
            .await
            .is_err()
            || !keep_alive
        {
            return;
        }
    }
}

/// Reads one request; `Ok(None)` when the client closed the connection between requests,
/// `Err(status)` for a request we cannot read.
async fn read_request<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Result<Option<RecordedRequest>, u16> {
    let mut head = Vec::new();
    loop {
        let mut line = Vec::new();
        let read = tokio::io::AsyncBufReadExt::read_until(reader, b'\n', &mut line)
            .await
            .map_err(|_| 400u16)?;
        if read == 0 {
            return if head.is_empty() { Ok(None) } else { Err(400) };
        }
        if head.is_empty() && (line == b"\r\n" || line == b"\n") {
            continue;
        }
        let end = line == b"\r\n" || line == b"\n";
        head.extend_from_slice(&line);
        if head.len() > MAX_HEAD {
            return Err(431);
        }
        if end {
            break;
        }
    }
    let head = String::from_utf8(head).map_err(|_| 400u16)?;
    let mut lines = head.lines();
    let request_line = lines.next().ok_or(400u16)?;
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(path), Some(_version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(400);
    };
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(400u16)?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut request = RecordedRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        body: Vec::new(),
        at: Instant::now(),
    };
    if request
        .header("transfer-encoding")
        .is_some_and(|value| value.eq_ignore_ascii_case("chunked"))
    {
        // The client sends bodies of known length; chunked bodies are not needed.
        return Err(501);
    }
    let length: usize = match request.header("content-length") {
        Some(value) => value.parse().map_err(|_| 400u16)?,
        None => 0,
    };
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.map_err(|_| 400u16)?;
    request.body = body;
    request.at = Instant::now();
    Ok(Some(request))
}

/// The fake's answer to `request`: status, JSON body and the stream entry to add first.
fn answer(state: &mut State, request: &RecordedRequest) -> Answer {
    let request_id = state.next_request_id;
    state.next_request_id += 1;
    let with_request_id = |mut body: Value| {
        body["error"]["requestId"] = json!(format!("fake-{request_id}"));
        body
    };
    if let Some((failure, remaining)) = &mut state.failures {
        let failure = *failure;
        match remaining {
            Some(0) => state.failures = None,
            Some(count) => {
                *count -= 1;
                if *count == 0 {
                    state.failures = None;
                }
                return injected(failure, with_request_id);
            }
            None => return injected(failure, with_request_id),
        }
    }
    // Express routes first: a path outside the internal operations routes is the app's 404,
    // whatever the key (index.js:316-324; the key is checked by the route's middleware).
    let route_not_found = || {
        let path = request.path.split('?').next().unwrap_or_default();
        Answer::new(
            404,
            with_request_id(error_body(
                "NOT_FOUND",
                &format!("Route {} {path} not found", request.method),
            )),
        )
    };
    let Some(rest) = request
        .path
        .strip_prefix(BASE_PATH)
        .and_then(|rest| rest.strip_prefix("/internal/operations/"))
    else {
        return route_not_found();
    };
    let segments: Vec<String> = rest.split('/').map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let (id, action) = match (request.method.as_str(), segments.as_slice()) {
        ("GET", [id]) => (id.to_ascii_lowercase(), None),
        ("PATCH", [id, "status"]) | ("POST", [id, "retry"]) => {
            (id.to_ascii_lowercase(), segments.get(1).copied())
        }
        _ => return route_not_found(),
    };
    if state.failing_operations.contains(&id) {
        return injected(Failure::Database, with_request_id);
    }
    if request.header("x-internal-key") != Some(state.api_key.as_str()) {
        return Answer::new(
            401,
            error_body("UNAUTHORIZED", "Invalid or missing internal API key"),
        );
    }
    let redis = state.redis.clone();
    let Some(operation) = state.operations.get_mut(&id) else {
        return Answer::new(404, error_body("NOT_FOUND", "Operation not found"));
    };
    match action {
        None => Answer::new(200, json!({"data": operation})),
        Some("status") => {
            let (status, body) = patch_status(operation, &request.body);
            Answer::new(status, body)
        }
        _ => {
            let attempt = operation
                .get("attempt")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            if attempt >= MAX_RETRIES {
                // moveToDLQ: the DLQ entry (with the error as it was), then the operation failed.
                let fields = dead_letter_fields(operation, SystemTime::now());
                operation["status"] = json!("failed");
                operation["error"] = json!(format!(
                    "Max retries ({MAX_RETRIES}) exceeded. Moved to DLQ."
                ));
                return Answer {
                    status: 400,
                    body: error_body("RETRY_FAILED", "Max retries exceeded, moved to DLQ"),
                    forward: redis.map(|client| Forward {
                        client,
                        stream: DEAD_LETTER_STREAM,
                        fields,
                    }),
                };
            }
            operation["attempt"] = json!(attempt + 1);
            operation["status"] = json!("retrying");
            operation["error"] = Value::Null;
            Answer {
                status: 200,
                body: json!({"data": {
                    "operationId": operation["id"],
                    "attempt": attempt + 1,
                    "message": "Job re-queued for retry",
                }}),
                forward: redis.map(|client| Forward {
                    client,
                    stream: JOB_STREAM,
                    fields: job_fields(operation, SystemTime::now()),
                }),
            }
        }
    }
}

/// The answer of an injected failure.
fn injected(failure: Failure, with_request_id: impl Fn(Value) -> Value) -> Answer {
    match failure {
        Failure::Internal => Answer::new(
            500,
            with_request_id(error_body("INTERNAL_ERROR", "injected failure")),
        ),
        Failure::Database => Answer::new(
            400,
            with_request_id(error_body("DATABASE_ERROR", "Database operation failed")),
        ),
        Failure::Validation => {
            Answer::new(400, error_body("VALIDATION_ERROR", "status is required"))
        }
        Failure::ForeignNotFound => Answer::new(
            404,
            Value::String("<html><body><h1>404 Not Found</h1>nginx</body></html>".to_owned()),
        ),
    }
}

/// `{"error": {"code": code, "message": message}}`, the real API's error body.
fn error_body(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// The fields of the job entry the real API adds when it (re-)enqueues `operation`.
fn job_fields(operation: &Value, now: SystemTime) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    push_string(&mut fields, "type", operation.get("type"));
    push_string(&mut fields, "operation_id", operation.get("id"));
    if operation.get("type").and_then(Value::as_str) == Some("provision_host") {
        push_string(&mut fields, "action", operation.pointer("/options/action"));
    } else {
        push_string(&mut fields, "host", operation.get("targetHost"));
    }
    fields.push(("school", school_of(operation)));
    fields.push(("attempt", attempt_of(operation)));
    let created_at = operation
        .get("createdAt")
        .and_then(Value::as_str)
        .map_or_else(|| rfc3339::format_millis(now), str::to_owned);
    fields.push(("created_at", created_at));
    fields
}

/// The fields of the dead-letter entry the real API adds when it refuses a retry.
fn dead_letter_fields(operation: &Value, now: SystemTime) -> Vec<(&'static str, String)> {
    let mut fields = Vec::new();
    push_string(&mut fields, "type", operation.get("type"));
    push_string(&mut fields, "operation_id", operation.get("id"));
    push_string(&mut fields, "host", operation.get("targetHost"));
    fields.push(("school", school_of(operation)));
    fields.push(("attempt", attempt_of(operation)));
    let last_error = operation
        .get("error")
        .and_then(Value::as_str)
        .filter(|error| !error.is_empty())
        .unwrap_or("Unknown error");
    fields.push(("last_error", last_error.to_owned()));
    fields.push(("failed_at", rfc3339::format_millis(now)));
    fields
}

/// Adds `field` when `value` is a string.
fn push_string(
    fields: &mut Vec<(&'static str, String)>,
    field: &'static str,
    value: Option<&Value>,
) {
    if let Some(value) = value.and_then(Value::as_str) {
        fields.push((field, value.to_owned()));
    }
}

/// The operation's school; `default-school` when it has none (or an empty one), like the real API.
fn school_of(operation: &Value) -> String {
    operation
        .get("school")
        .and_then(Value::as_str)
        .filter(|school| !school.is_empty())
        .unwrap_or("default-school")
        .to_owned()
}

fn attempt_of(operation: &Value) -> String {
    operation
        .get("attempt")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .to_string()
}

/// Sends one raw HTTP/1.1 request to `address` (with `X-Internal-Key: key` and `body` as JSON)
/// and returns the status code and the body: for requests a client would never make, or to see
/// the exact bytes an answer has.
///
/// # Panics
/// When the connection fails or the answer is not HTTP.
pub async fn send_raw(
    address: SocketAddr,
    method: &str,
    path: &str,
    key: &str,
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(address)
        .await
        .unwrap_or_else(|error| panic!("connecting to the fake LINBO API: {error}"));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nx-internal-key: {key}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .await
        .and(stream.write_all(body).await)
        .unwrap_or_else(|error| panic!("writing to the fake LINBO API: {error}"));
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .unwrap_or_else(|error| panic!("reading the fake LINBO API's answer: {error}"));
    let status = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A `macct_repair` operation as the real API stores it (SPEC §2.2): `status` `pending`, empty
/// `options`.
pub fn macct_operation(id: &str, host: &str, school: &str, attempt: u64) -> Value {
    json!({
        "id": id,
        "type": "macct_repair",
        "status": "pending",
        "attempt": attempt,
        "school": school,
        "targetHost": host,
        "options": {},
    })
}

/// The `options` of a create job as the web UI sends them (SPEC §2.2): room r200, device group
/// win11, PXE flag 1, no dry run; `ip` empty for a dynamic address.
pub fn create_options(hostname: &str, mac: &str, ip: &str) -> Value {
    json!({
        "action": "create",
        "hostname": hostname,
        "mac": mac,
        "ip": ip,
        "configName": "win11",
        "csvCol0": "r200",
        "oldHostname": null,
        "pxeFlag": 1,
        "dryRun": false,
        "hostId": 17
    })
}

/// The `options` of a delete job.
pub fn delete_options(hostname: &str) -> Value {
    json!({"action": "delete", "hostname": hostname, "dryRun": false})
}

/// A `provision_host` operation as the real API stores it (SPEC §2.2): `status` `pending`,
/// `attempt` 0, `targetHost` taken from `options.hostname` (`null` when absent). `options` holds
/// `action`, `hostname`, `mac`, `ip`, `configName`, `csvCol0`, `pxeFlag`, `dryRun`, ….
pub fn provision_operation(id: &str, school: &str, options: Value) -> Value {
    let target_host = options.get("hostname").cloned().unwrap_or(Value::Null);
    json!({
        "id": id,
        "type": "provision_host",
        "status": "pending",
        "attempt": 0,
        "school": school,
        "targetHost": target_host,
        "options": options,
    })
}

/// Applies a status body as the real API does (internal.js:857-915): `status` is required and one
/// of `pending running completed failed retrying`; `result`, `error` and `attempt` are taken when
/// present, `null` included.
fn patch_status(operation: &mut Value, body: &[u8]) -> (u16, Value) {
    let Ok(Value::Object(update)) = serde_json::from_slice::<Value>(body) else {
        // Express's JSON parser fails before the route: the global handler's 400.
        return (
            400,
            error_body("INTERNAL_ERROR", "Unexpected token in JSON"),
        );
    };
    let Some(status) = update.get("status").filter(|status| !status.is_null()) else {
        return (400, error_body("VALIDATION_ERROR", "status is required"));
    };
    let valid = status.as_str().is_some_and(|status| {
        matches!(
            status,
            "pending" | "running" | "completed" | "failed" | "retrying"
        )
    });
    if !valid {
        return (
            400,
            error_body(
                "VALIDATION_ERROR",
                "Invalid status. Must be one of: pending, running, completed, failed, retrying",
            ),
        );
    }
    for (key, value) in update {
        if matches!(key.as_str(), "status" | "result" | "error" | "attempt") {
            operation[key] = value;
        }
    }
    (
        200,
        json!({"data": {
            "operationId": operation["id"],
            "status": operation["status"],
            "message": "Status updated successfully",
        }}),
    )
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && let Some(hex) = segment.get(index + 1..index + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            decoded.push(byte);
            index += 3;
            continue;
        }
        decoded.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn response(status: u16, body: &Value, keep_alive: bool) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        _ => "Unknown",
    };
    // A JSON string stands for a body that is not JSON (a foreign HTML page).
    let (body, content_type) = match body {
        Value::String(text) => (text.clone(), "text/html"),
        other => (other.to_string(), "application/json"),
    };
    let connection = if keep_alive { "keep-alive" } else { "close" };
    format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: {connection}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_an_operation_over_raw_http() {
        let api = FakeApi::start("key").await;
        api.insert_operation(json!({"id": "0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d", "attempt": 0}));
        let mut stream = TcpStream::connect(api.address()).await.expect("connecting");
        stream
            .write_all(
                b"GET /api/v1/internal/operations/0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d HTTP/1.1\r\n\
                  host: x\r\nx-internal-key: key\r\nconnection: close\r\n\r\n",
            )
            .await
            .expect("writing");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("reading");
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.contains(r#""attempt":0"#), "{answer}");
        assert_eq!(api.requests().len(), 1);
    }

    #[tokio::test]
    async fn wrong_key_is_401_and_injected_failures_count_down() {
        let api = FakeApi::start("key").await;
        let request = |key: &str| RecordedRequest {
            method: "GET".into(),
            path: "/api/v1/internal/operations/x".into(),
            headers: vec![("x-internal-key".into(), key.into())],
            body: Vec::new(),
            at: Instant::now(),
        };
        let mut state = api.lock();
        assert_eq!(answer(&mut state, &request("wrong")).status, 401);
        assert_eq!(answer(&mut state, &request("key")).status, 404);
        state.failures = Some((Failure::Internal, Some(2)));
        assert_eq!(answer(&mut state, &request("key")).status, 500);
        assert_eq!(answer(&mut state, &request("key")).status, 500);
        assert_eq!(answer(&mut state, &request("key")).status, 404);
        state.failures = Some((Failure::Database, Some(1)));
        let database = answer(&mut state, &request("key"));
        assert_eq!(database.status, 400);
        assert_eq!(database.body["error"]["code"], "DATABASE_ERROR");
        assert_eq!(answer(&mut state, &request("key")).status, 404);
    }

    #[test]
    fn entry_fields_follow_the_real_api() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut macct = macct_operation("id-1", "r100-pc01", "", 2);
        macct["error"] = json!("sam.ldb is locked");
        assert_eq!(
            job_fields(&macct, now),
            [
                ("type", "macct_repair".to_owned()),
                ("operation_id", "id-1".to_owned()),
                ("host", "r100-pc01".to_owned()),
                ("school", "default-school".to_owned()),
                ("attempt", "2".to_owned()),
                ("created_at", "2023-11-14T22:13:20.000Z".to_owned()),
            ]
        );
        assert_eq!(
            dead_letter_fields(&macct, now),
            [
                ("type", "macct_repair".to_owned()),
                ("operation_id", "id-1".to_owned()),
                ("host", "r100-pc01".to_owned()),
                ("school", "default-school".to_owned()),
                ("attempt", "2".to_owned()),
                ("last_error", "sam.ldb is locked".to_owned()),
                ("failed_at", "2023-11-14T22:13:20.000Z".to_owned()),
            ]
        );
        let mut provision = provision_operation(
            "id-2",
            "school2",
            json!({"action": "delete", "hostname": "pc01"}),
        );
        provision["createdAt"] = json!("2024-01-02T03:04:05.678Z");
        assert_eq!(provision["targetHost"], "pc01");
        assert_eq!(
            job_fields(&provision, now),
            [
                ("type", "provision_host".to_owned()),
                ("operation_id", "id-2".to_owned()),
                ("action", "delete".to_owned()),
                ("school", "school2".to_owned()),
                ("attempt", "0".to_owned()),
                ("created_at", "2024-01-02T03:04:05.678Z".to_owned()),
            ]
        );
        // Missing fields stay missing, so tests can provoke bad entries.
        let bare = json!({"id": "id-3"});
        let names: Vec<&str> = job_fields(&bare, now)
            .iter()
            .map(|(name, _)| *name)
            .collect();
        assert_eq!(names, ["operation_id", "school", "attempt", "created_at"]);
        assert_eq!(
            dead_letter_fields(&bare, now)[2..4],
            [
                ("attempt", "0".to_owned()),
                ("last_error", "Unknown error".to_owned())
            ]
        );
    }

    #[tokio::test]
    async fn goes_down_and_comes_back_on_the_same_port() {
        let api = FakeApi::start("key").await;
        let address = api.address();
        let open_connection = TcpStream::connect(address).await.expect("listening");
        api.go_down().await;
        TcpStream::connect(address)
            .await
            .expect_err("nobody listens while down");
        let mut open_connection = open_connection;
        let mut rest = Vec::new();
        // The open connection was closed too (end of stream or reset).
        let _ = open_connection.read_to_end(&mut rest).await;
        assert!(rest.is_empty());
        api.come_back().await;
        assert_eq!(api.address(), address);
        TcpStream::connect(address).await.expect("listening again");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb%zz"), "a/b%zz");
    }
}
