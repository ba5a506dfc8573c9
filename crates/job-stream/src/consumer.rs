//! The consumer: reader, claimer, heartbeat and lane tasks, and their shutdown.
//!
//! Task layout (all spawned on one [`TaskTracker`]):
//! * the **reader** owns a dedicated connection; it creates the group, replays this consumer's own
//!   pending entries, then blocks in `XREADGROUP ... >` and dispatches what it reads;
//! * the **claimer** periodically claims idle entries (`XPENDING ... IDLE` + `XCLAIM`);
//! * the **heartbeat** refreshes the liveness hash;
//! * one **batch lane** task per lane key collects and runs batches, one at a time per key;
//! * one task per **concurrent** entry, bounded by a semaphore.
//!
//! Every `select!` is `biased` towards cancellation, so a stop request always wins over new work.
//!
//! Every dispatched entry holds a [`Ticket`] in the in-flight set until its outcome is applied; the
//! set de-duplicates replays and claims of entries that are already being handled here.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use redis::RedisResult;
use redis::aio::MultiplexedConnection;
use tokio::sync::Notify;
use tokio::sync::Semaphore;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, error, info, info_span, warn};

use crate::backoff::Backoff;
use crate::batch::{Queued, collect_batch, collect_more};
use crate::commands::{self, Fields, RawEntry, Redis};
use crate::job::{
    Batch, DeadLetter, Delivery, Handler, Invalid, Job, Lane, Observer, Outcome, Recorder, Start,
};
use crate::{Result, Settings};

/// Now as RFC 3339 UTC with milliseconds: `failed_at`, `started_at`, `last_seen`.
fn now_rfc3339() -> String {
    rfc3339::format_millis(std::time::SystemTime::now())
}

/// Extra time after the grace period for abandoned tasks to unwind.
const ABANDON_TIMEOUT: Duration = Duration::from_secs(2);

/// Entries read per `XPENDING` page when looking for entries to claim.
const CLAIM_PAGE: usize = 100;

/// Most `XPENDING` pages inspected per claim round.
const CLAIM_PAGES_PER_ROUND: usize = 10;

/// A Redis Streams consumer: reads entries of one stream as one consumer of a group, decodes them
/// into [`Handler::Job`]s and runs them in their lanes until shut down.
///
/// See the crate documentation for the behaviour and an example.
pub struct Consumer<H: Handler> {
    client: redis::Client,
    settings: Settings,
    handler: Arc<H>,
    observer: Option<Arc<dyn Observer>>,
}

impl<H: Handler + std::fmt::Debug> std::fmt::Debug for Consumer<H> {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Consumer")
            .field("settings", &self.settings)
            .field("handler", &self.handler)
            .field("observed", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Consumer<H> {
    /// A consumer of `settings.stream` reached through `client`, handing jobs to `handler`.
    pub fn new(client: redis::Client, settings: Settings, handler: H) -> Self {
        Self::with_shared_handler(client, settings, Arc::new(handler))
    }

    /// Like [`new`](Self::new), for a handler the caller keeps a reference to.
    pub fn with_shared_handler(client: redis::Client, settings: Settings, handler: Arc<H>) -> Self {
        Self {
            client,
            settings,
            handler,
            observer: None,
        }
    }

    /// Tells `observer` when the consumer is ready and that its reading loop goes round.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs until `shutdown` is cancelled, then stops reading, gives running handlers
    /// [`shutdown_grace`](Settings::shutdown_grace) to finish (their outcomes are still applied),
    /// abandons the rest (their entries stay pending) and returns: at the latest
    /// `shutdown_grace` + 2 s for abandoned tasks to unwind + 2 s to remove the heartbeat hash.
    ///
    /// Redis being unreachable is not an error: the consumer reconnects with backoff for as long as
    /// it runs. Dropping the returned future also stops every task of this consumer at its next
    /// `.await`.
    ///
    /// # Errors
    /// [`Error::InvalidSettings`](crate::Error::InvalidSettings) when the settings do not
    /// [`validate`](Settings::validate).
    pub async fn run(self, shutdown: CancellationToken) -> Result<()> {
        self.settings.validate()?;
        let stop = shutdown.child_token();
        let hard_stop = CancellationToken::new();
        // Dropping `run` (instead of cancelling `shutdown`) must not leave tasks running.
        let _stop_on_drop = stop.clone().drop_guard();
        let _hard_stop_on_drop = hard_stop.clone().drop_guard();

        let shared = Arc::new(Shared {
            redis: Redis::new(self.client, &self.settings),
            concurrency: Arc::new(Semaphore::new(self.settings.concurrent_limit.get())),
            settings: self.settings,
            handler: self.handler,
            in_flight: Arc::new(InFlight::default()),
            stop,
            hard_stop,
            tracker: TaskTracker::new(),
            lanes: Mutex::new(HashMap::new()),
            started_at: now_rfc3339(),
            lane_keys: Mutex::new(BTreeSet::new()),
            fatal: Mutex::new(None),
            named: tokio::sync::watch::channel(false).0,
            observer: self.observer,
        });
        info!(
            stream = %shared.settings.stream,
            group = %shared.settings.group,
            consumer = %shared.settings.consumer,
            "job-stream consumer starting"
        );
        shared.tracker.spawn(read_loop(Arc::clone(&shared)));
        shared.tracker.spawn(claim_loop(Arc::clone(&shared)));
        shared.tracker.spawn(heartbeat_loop(Arc::clone(&shared)));
        let (client, stop) = (shared.redis.client().clone(), shared.stop.clone());
        let retention = crate::retention::run(client, shared.settings.clone(), stop);
        shared.tracker.spawn(retention);

        // `stop` is also cancelled by the consumer itself on a fatal error (its name is in use).
        shared.stop.cancelled().await;
        info!("job-stream consumer stopping");
        shared.tracker.close();
        let grace = shared.settings.shutdown_grace;
        if tokio::time::timeout(grace, shared.tracker.wait())
            .await
            .is_err()
        {
            warn!(
                in_flight = shared.in_flight.len(),
                "handlers did not finish within {grace:?}; abandoning them, their entries stay pending"
            );
            shared.hard_stop.cancel();
            if tokio::time::timeout(ABANDON_TIMEOUT, shared.tracker.wait())
                .await
                .is_err()
            {
                warn!("some tasks did not unwind within {ABANDON_TIMEOUT:?}");
            }
        }
        lock(&shared.lanes).clear();
        if let Some(error) = lock(&shared.fatal).take() {
            // The hash belongs to the other instance: leave it.
            error!(%error, "job-stream consumer stopped");
            return Err(error);
        }
        remove_heartbeat(&shared).await;
        info!("job-stream consumer stopped");
        Ok(())
    }
}

/// State shared by all tasks of one running consumer.
struct Shared<H: Handler> {
    settings: Settings,
    redis: Redis,
    handler: Arc<H>,
    in_flight: Arc<InFlight>,
    /// Stop reading and claiming; handed to handlers as their shutdown signal.
    stop: CancellationToken,
    /// The grace period is over: abandon handlers and retries at the next `.await`.
    hard_stop: CancellationToken,
    tracker: TaskTracker,
    lanes: Mutex<HashMap<String, LaneSender<H::Job>>>,
    concurrency: Arc<Semaphore>,
    started_at: String,
    lane_keys: Mutex<BTreeSet<String>>,
    /// Why the consumer stopped itself.
    fatal: Mutex<Option<crate::Error>>,
    /// Set once the consumer name is ours; the heartbeat and the claimer wait for it.
    named: tokio::sync::watch::Sender<bool>,
    observer: Option<Arc<dyn Observer>>,
}

impl<H: Handler> Shared<H> {
    fn observe(&self, event: impl FnOnce(&dyn Observer)) {
        if let Some(observer) = &self.observer {
            event(observer.as_ref());
        }
    }

    /// Waits until the consumer name is ours; `false` when stopping first.
    async fn wait_for_name(&self) -> bool {
        let mut named = self.named.subscribe();
        tokio::select! {
            biased;
            () = self.stop.cancelled() => false,
            result = named.wait_for(|named| *named) => result.is_ok(),
        }
    }

    /// Stops the consumer because of `error`, which `run` returns.
    fn stop_fatally(&self, error: crate::Error) {
        lock(&self.fatal).get_or_insert(error);
        self.stop.cancel();
    }
}

/// The sending side of one batching lane.
type LaneSender<J> = UnboundedSender<Queued<Work<J>>>;

/// A decoded entry on its way through a lane, with what is needed to settle it.
struct Work<J> {
    delivery: Delivery<J>,
    settle: Settle,
}

/// What the runtime keeps of an entry to apply its outcome, and to hand it over again.
struct Settle {
    ticket: Ticket,
    fields: Fields,
    /// Attempts started before this handling.
    attempts: u64,
    /// Whether this handling began (the attempt is recorded).
    start: Start,
}

impl Settle {
    /// Attempts including this handling's, when it began.
    fn attempts_now(&self) -> u64 {
        self.attempts + u64::from(self.start.begun())
    }
}

/// Records attempts in the Redis hash for [`Delivery::begin`](crate::Delivery::begin).
struct AttemptRecorder<H: Handler> {
    shared: std::sync::Weak<Shared<H>>,
}

impl<H: Handler> Recorder for AttemptRecorder<H> {
    fn record<'a>(
        &'a self,
        ids: Vec<String>,
    ) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            let Some(shared) = self.shared.upgrade() else {
                return false;
            };
            record_attempts(&shared, &ids).await
        })
    }
}

/// `HINCRBY` for each of `ids`, retried until it succeeds; `false` when the grace period ended.
async fn record_attempts<H: Handler>(shared: &Shared<H>, ids: &[String]) -> bool {
    let settings = &shared.settings;
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    retry_redis(shared, "recording attempts", |connection| {
        commands::record_attempts(connection, settings, &ids)
    })
    .await
    .is_some()
}

/// Entry ids queued or being handled in this process.
#[derive(Debug, Default)]
struct InFlight {
    ids: Mutex<HashSet<String>>,
    released: Notify,
}

impl InFlight {
    fn len(&self) -> usize {
        lock(&self.ids).len()
    }

    /// Registers `id`; `None` when it is already in flight.
    fn ticket(self: &Arc<Self>, id: &str) -> Option<Ticket> {
        lock(&self.ids).insert(id.to_owned()).then(|| Ticket {
            id: id.to_owned(),
            in_flight: Arc::clone(self),
        })
    }

    fn contains(&self, id: &str) -> bool {
        lock(&self.ids).contains(id)
    }

    /// Waits until fewer than `limit` entries are in flight.
    async fn wait_below(&self, limit: usize) {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Register before checking so a release between check and await is not missed.
            released.as_mut().enable();
            if self.len() < limit {
                return;
            }
            released.await;
        }
    }
}

/// Membership of one entry in the in-flight set; leaving it (drop) frees the entry for replays and
/// claims, also when a task panics or is abandoned.
struct Ticket {
    id: String,
    in_flight: Arc<InFlight>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        lock(&self.in_flight.ids).remove(&self.id);
        self.in_flight.released.notify_waiters();
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked (sets and maps updated in
/// single calls).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Reader

/// The reader's connection state.
struct Reader<H: Handler> {
    shared: Arc<Shared<H>>,
    connection: Option<MultiplexedConnection>,
    name_taken: bool,
    group_created: bool,
    needs_replay: bool,
    /// `Observer::ready` was called.
    ready: bool,
}

async fn read_loop<H: Handler>(shared: Arc<Shared<H>>) {
    let settings = &shared.settings;
    let mut backoff = Backoff::new(settings.backoff_base, settings.backoff_cap);
    let mut reader = Reader {
        shared: Arc::clone(&shared),
        connection: None,
        name_taken: false,
        group_created: false,
        needs_replay: true,
        ready: false,
    };
    loop {
        shared.observe(|observer| observer.alive());
        let result = tokio::select! {
            biased;
            () = shared.stop.cancelled() => return,
            result = reader.step() => result,
        };
        match result {
            Ok(()) => backoff.reset(),
            Err(error) if commands::is_nogroup(&error) => {
                recover_group(&shared).await;
                reader.needs_replay = true;
                if !sleep_or_stop(&shared.stop, backoff.next_delay()).await {
                    return;
                }
            }
            Err(error) => {
                let delay = backoff.next_delay();
                warn!(%error, ?delay, "reading from Redis failed; reconnecting after the delay");
                if commands::is_connection_error(&error) {
                    reader.connection = None;
                }
                // Entries delivered in a reply we did not receive are in our pending list.
                reader.needs_replay = true;
                if !sleep_or_stop(&shared.stop, delay).await {
                    return;
                }
            }
        }
    }
}

impl<H: Handler> Reader<H> {
    /// One unit of reading: connect and set up when needed, otherwise one blocking read.
    async fn step(&mut self) -> RedisResult<()> {
        let shared = Arc::clone(&self.shared);
        let settings = &shared.settings;
        if self.connection.is_none() {
            self.connection = Some(shared.redis.reader().await?);
            debug!("reader connected");
        }
        let connection = self
            .connection
            .as_mut()
            .expect("the connection was set just above");
        if !self.name_taken {
            if let Err(error) = take_consumer_name(&shared, connection.clone()).await? {
                shared.stop_fatally(error);
                return Ok(());
            }
            self.name_taken = true;
            shared.named.send_replace(true);
        }
        if !self.group_created {
            // Start-up: the same command the API uses. Later losses are handled by `recover_group`.
            if commands::create_group(connection.clone(), settings, "$").await? {
                info!(stream = %settings.stream, group = %settings.group, "created consumer group");
            }
            self.group_created = true;
        }
        if self.needs_replay {
            replay_own_pending(&shared, connection).await?;
            self.needs_replay = false;
            if !self.ready {
                self.ready = true;
                info!("job-stream consumer ready");
                shared.observe(|observer| observer.ready());
            }
        }
        // A full in-flight set is a wait, not a hang: the loop says so while it waits.
        while tokio::time::timeout(
            settings.block_timeout,
            shared.in_flight.wait_below(settings.max_in_flight.get()),
        )
        .await
        .is_err()
        {
            shared.observe(|observer| observer.alive());
        }
        let entries = commands::read_group(
            connection,
            settings,
            ">",
            settings.batch_size.get(),
            Some(settings.block_timeout),
        )
        .await?;
        // A new entry normally has no attempts, unless the group was re-created.
        dispatch_counted(&shared, connection.clone(), entries).await
    }
}

/// Looks up the attempts of `entries` and dispatches them, in order.
async fn dispatch_counted<H: Handler>(
    shared: &Arc<Shared<H>>,
    connection: MultiplexedConnection,
    entries: Vec<RawEntry>,
) -> RedisResult<()> {
    let ids: Vec<&str> = entries.iter().map(|entry| entry.id.as_str()).collect();
    let attempts = commands::attempts(connection, &shared.settings, &ids).await?;
    for (entry, attempts) in entries.into_iter().zip(attempts) {
        dispatch(shared, entry, attempts);
    }
    Ok(())
}

/// How long to watch another instance's heartbeat hash before deciding it is alive: its expiry,
/// plus a beat.
fn holder_watch<H: Handler>(shared: &Shared<H>) -> Duration {
    shared.settings.heartbeat.ttl + shared.settings.heartbeat.interval
}

/// Makes this consumer's name ours: writes the heartbeat hash with our instance; when another
/// instance holds it, watches it until it expires (the holder is gone) or is refreshed (the
/// holder is alive: `Err(ConsumerInUse)`).
async fn take_consumer_name<H: Handler>(
    shared: &Shared<H>,
    connection: MultiplexedConnection,
) -> RedisResult<std::result::Result<(), crate::Error>> {
    let settings = &shared.settings;
    let key = settings.heartbeat_key();
    let mut first_seen: Option<HashMap<String, String>> = None;
    let deadline = tokio::time::Instant::now() + holder_watch(shared);
    loop {
        let fields = heartbeat_fields(shared);
        let held = commands::heartbeat(
            connection.clone(),
            &key,
            &settings.heartbeat.instance,
            &fields,
            settings.heartbeat.ttl,
        )
        .await?;
        let Some(holder) = held else {
            if first_seen.is_some() {
                info!(consumer = %settings.consumer, "the consumer name's previous holder is gone; taking it over");
            }
            return Ok(Ok(()));
        };
        let alive = first_seen
            .as_ref()
            .is_some_and(|first| first.get("last_seen") != holder.get("last_seen"));
        if alive || tokio::time::Instant::now() >= deadline {
            return Ok(Err(crate::Error::ConsumerInUse {
                consumer: settings.consumer.clone(),
                holder: describe_holder(&holder),
            }));
        }
        if first_seen.is_none() {
            warn!(
                consumer = %settings.consumer,
                holder = %describe_holder(&holder),
                "another instance holds this consumer name; waiting until its heartbeat expires or is refreshed"
            );
            first_seen = Some(holder);
        }
        if !sleep_or_stop(&shared.stop, Duration::from_millis(500)).await {
            return Ok(Ok(()));
        }
    }
}

/// The other holder of a heartbeat hash, for messages.
fn describe_holder(fields: &HashMap<String, String>) -> String {
    let field = |name: &str| fields.get(name).map_or("?", String::as_str);
    format!(
        "instance {:?}, pid {}, last seen {}",
        field("instance"),
        field("pid"),
        field("last_seen")
    )
}

/// Replays this consumer's pending entries (`XREADGROUP ... 0`), page by page.
async fn replay_own_pending<H: Handler>(
    shared: &Arc<Shared<H>>,
    connection: &mut MultiplexedConnection,
) -> RedisResult<()> {
    let settings = &shared.settings;
    let mut after = "0".to_owned();
    let mut n_replayed = 0usize;
    let mut pending = HashSet::new();
    loop {
        let entries = commands::read_group(
            connection,
            settings,
            &after,
            settings.batch_size.get(),
            None,
        )
        .await?;
        let Some(last) = entries.last() else {
            break;
        };
        after = last.id.clone();
        n_replayed += entries.len();
        pending.extend(entries.iter().map(|entry| entry.id.clone()));
        dispatch_counted(shared, connection.clone(), entries).await?;
    }
    shared.handler.replayed(&pending).await;
    if n_replayed > 0 {
        info!(
            entries = n_replayed,
            "replayed this consumer's pending entries"
        );
    }
    Ok(())
}

/// Re-creates the group after Redis answered `NOGROUP`.
///
/// The group is created at id `0`, not `$`: when Redis lost its data, every entry now in the stream
/// was added after the loss and has not been handled, so none may be skipped.
async fn recover_group<H: Handler>(shared: &Shared<H>) {
    let settings = &shared.settings;
    let result = async {
        let connection = shared.redis.command().await?;
        commands::create_group(connection, settings, "0").await
    }
    .await;
    match result {
        Ok(_) => error!(
            stream = %settings.stream,
            group = %settings.group,
            "consumer group was missing (Redis lost its data?); re-created it at id 0"
        ),
        Err(error) => {
            shared.redis.note_error(&error);
            warn!(%error, "re-creating the missing consumer group failed; will retry");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dispatch

/// Routes one entry read from Redis: skip if already here, acknowledge if deleted, dead-letter if
/// its handling started too often or it is invalid, else queue it in its lane.
fn dispatch<H: Handler>(shared: &Arc<Shared<H>>, entry: RawEntry, attempts: u64) {
    let Some(ticket) = shared.in_flight.ticket(&entry.id) else {
        debug!(entry_id = %entry.id, "entry already in flight here; skipped");
        return;
    };
    let id = entry.id;
    let Some(fields) = entry.fields else {
        warn!(entry_id = %id, "pending entry was deleted from the stream; acknowledging it");
        let shared_task = Arc::clone(shared);
        shared.tracker.spawn(async move {
            acknowledge(&shared_task, std::slice::from_ref(&id)).await;
            drop(ticket);
        });
        return;
    };
    let settle = Settle {
        ticket,
        fields,
        attempts,
        start: Start::default(),
    };
    if let Some(work) = prepare(shared, settle) {
        route(shared, work);
    }
}

/// Makes a fresh handling of a settled-for-now entry: dead-lettered when its attempts reached
/// the limit or it does not decode, else a [`Work`] with a new start marker.
fn prepare<H: Handler>(shared: &Arc<Shared<H>>, mut settle: Settle) -> Option<Work<H::Job>> {
    let id = settle.ticket.id.clone();
    let attempts = settle.attempts;
    if attempts >= shared.settings.max_deliveries {
        let reason = format!(
            "handling started {attempts} times without finishing (max_deliveries {})",
            shared.settings.max_deliveries
        );
        spawn_dead_letter(shared, settle, reason, attempts);
        return None;
    }
    let job = decode_fields(&settle.fields).and_then(|map| shared.handler.decode(&id, &map));
    let job = match job {
        Ok(job) => job,
        Err(invalid) => {
            spawn_dead_letter(shared, settle, invalid.reason().to_owned(), attempts);
            return None;
        }
    };
    let recorder: Arc<dyn Recorder> = Arc::new(AttemptRecorder {
        shared: Arc::downgrade(shared),
    });
    settle.start = Start {
        id: id.clone(),
        begun: Arc::default(),
        recorder: Some(recorder),
    };
    let delivery = Delivery::new(id, job, attempts).with_start(settle.start.clone());
    Some(Work { delivery, settle })
}

/// Hands `work` to its lane.
fn route<H: Handler>(shared: &Arc<Shared<H>>, work: Work<H::Job>) {
    match work.delivery.job.lane() {
        Lane::Concurrent => {
            let task = run_concurrent(Arc::clone(shared), work);
            shared.tracker.spawn(task);
        }
        Lane::Batched(key) => send_to_lane(shared, key, work),
    }
}

/// Decodes raw fields into strings; a field or value that is not UTF-8 makes the entry invalid.
fn decode_fields(fields: &Fields) -> std::result::Result<HashMap<String, String>, Invalid> {
    fields
        .iter()
        .map(|(field, value)| {
            let field = std::str::from_utf8(field)
                .map_err(|_| Invalid::new("a field name is not valid UTF-8"))?;
            let value = std::str::from_utf8(value)
                .map_err(|_| Invalid::new(format!("field {field:?} is not valid UTF-8")))?;
            Ok((field.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Queues `work` in the batching lane `key`, starting the lane task when needed.
fn send_to_lane<H: Handler>(shared: &Arc<Shared<H>>, key: String, work: Work<H::Job>) {
    let mut lanes = lock(&shared.lanes);
    let queued = Queued::now(work);
    let queued = match lanes.get(&key) {
        Some(sender) => match sender.send(queued) {
            Ok(()) => return,
            // The lane task ended (only on stop); start a new one below.
            Err(returned) => returned.0,
        },
        None => queued,
    };
    if shared.stop.is_cancelled() {
        // Stopping: the entry stays pending and is replayed on the next start.
        return;
    }
    let (sender, receiver) = unbounded_channel();
    sender
        .send(queued)
        .expect("the receiver is alive: it is moved into the lane task below");
    lanes.insert(key.clone(), sender);
    lock(&shared.lane_keys).insert(key.clone());
    let task = batch_lane(Arc::clone(shared), key, receiver);
    shared.tracker.spawn(task);
}

// ---------------------------------------------------------------------------------------------
// Lanes

async fn batch_lane<H: Handler>(
    shared: Arc<Shared<H>>,
    key: String,
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<Queued<Work<H::Job>>>,
) {
    let settings = &shared.settings;
    // Entries that must wait, and until when: they hold the lane, and come back first.
    let mut held: Vec<Settle> = Vec::new();
    let mut resume_at = tokio::time::Instant::now();
    loop {
        let works = if held.is_empty() {
            tokio::select! {
                biased;
                () = shared.stop.cancelled() => break,
                works = collect_batch(&mut receiver, settings.batch_size.get(), settings.batch_window) => works,
            }
        } else {
            tokio::select! {
                biased;
                () = shared.stop.cancelled() => break,
                () = tokio::time::sleep_until(resume_at) => {}
            }
            let front: Vec<Work<H::Job>> = std::mem::take(&mut held)
                .into_iter()
                .filter_map(|settle| prepare(&shared, settle))
                .collect();
            if front.is_empty() {
                continue;
            }
            Some(collect_more(
                front,
                &mut receiver,
                settings.batch_size.get(),
            ))
        };
        let Some(mut works) = works else { break };
        // Claimed or re-read entries may be older than ones already queued.
        works.sort_by(|a, b| stream_order(&a.delivery.id, &b.delivery.id));
        let (deliveries, settles): (Vec<_>, Vec<_>) = works
            .into_iter()
            .map(|work| (work.delivery, work.settle))
            .unzip();
        let n_entries = deliveries.len();
        let span = info_span!("batch", lane = %key, entries = n_entries);
        let batch = Batch {
            key: key.clone(),
            deliveries,
            shutdown: shared.stop.clone(),
        };
        let handler = Arc::clone(&shared.handler);
        let handled = shared
            .tracker
            .spawn(async move { handler.handle_batch(batch).await }.instrument(span.clone()));
        let Some(outcomes) = join_handler(&shared, handled, Vec::new())
            .instrument(span.clone())
            .await
        else {
            break;
        };
        if outcomes.len() != n_entries {
            warn!(
                parent: &span,
                expected = n_entries,
                got = outcomes.len(),
                "handler returned a different number of outcomes; missing ones count as Retry"
            );
        }
        let mut outcomes = outcomes.into_iter();
        let settled = settles
            .into_iter()
            .map(|settle| (settle, outcomes.next().unwrap_or(Outcome::Retry)))
            .collect();
        let waiting = apply_outcomes(&shared, settled, true)
            .instrument(span.clone())
            .await;
        if let Some(delay) = waiting.iter().map(|(_, delay)| *delay).max() {
            info!(
                parent: &span,
                entries = waiting.len(),
                ?delay,
                "the lane waits: these entries come back first after the delay, later ones of the lane behind them"
            );
            resume_at = tokio::time::Instant::now() + delay;
            held = waiting.into_iter().map(|(settle, _)| settle).collect();
        }
    }
    // Entries still queued or held here stay pending in Redis; dropping them releases their
    // tickets.
    receiver.close();
}

async fn run_concurrent<H: Handler>(shared: Arc<Shared<H>>, work: Work<H::Job>) {
    let permit = tokio::select! {
        biased;
        () = shared.stop.cancelled() => return,
        permit = Arc::clone(&shared.concurrency).acquire_owned() => {
            permit.expect("the semaphore is never closed")
        }
    };
    let span = info_span!("job", entry_id = %work.delivery.id, lane = "concurrent");
    let handler = Arc::clone(&shared.handler);
    let shutdown = shared.stop.clone();
    let delivery = work.delivery;
    let handled = shared
        .tracker
        .spawn(async move { handler.handle(delivery, shutdown).await }.instrument(span.clone()));
    let Some(outcome) = join_handler(&shared, handled, Outcome::Retry)
        .instrument(span.clone())
        .await
    else {
        return;
    };
    drop(permit);
    let waiting = apply_outcomes(&shared, vec![(work.settle, outcome)], false)
        .instrument(span)
        .await;
    for (settle, delay) in waiting {
        let shared_task = Arc::clone(&shared);
        shared.tracker.spawn(async move {
            // The ticket is held meanwhile, so neither replays nor the claimer take the entry.
            if sleep_or_stop(&shared_task.stop, delay).await
                && let Some(work) = prepare(&shared_task, settle)
            {
                route(&shared_task, work);
            }
        });
    }
}

/// Awaits a spawned handler; `None` when it was abandoned at the end of the grace period. A panic
/// gives `on_panic` (no outcome, so the entries stay pending).
async fn join_handler<H: Handler, T>(
    shared: &Shared<H>,
    mut handled: tokio::task::JoinHandle<T>,
    on_panic: T,
) -> Option<T> {
    tokio::select! {
        // A handler that has finished wins over an abandon at the same instant.
        biased;
        joined = &mut handled => match joined {
            Ok(value) => Some(value),
            Err(join_error) => {
                error!(%join_error, "handler failed; its entries stay pending");
                Some(on_panic)
            }
        },
        () = shared.hard_stop.cancelled() => {
            handled.abort();
            warn!("handler abandoned at shutdown; its entries stay pending");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Settling entries

/// Applies the outcomes: acknowledges, dead-letters, counts attempts. Returns the entries that
/// come back after a delay (`RetryAfter`, `Defer`, and in a batching lane `Retry`), in the order
/// given; the caller holds them until then.
async fn apply_outcomes<H: Handler>(
    shared: &Arc<Shared<H>>,
    settled: Vec<(Settle, Outcome)>,
    in_lane: bool,
) -> Vec<(Settle, Duration)> {
    let mut acked = Vec::new();
    let mut acked_ids = Vec::new();
    let mut waiting = Vec::new();
    let mut to_count = Vec::new();
    for (mut settle, outcome) in settled {
        let (counts, delay) = match outcome {
            Outcome::Ack => {
                acked_ids.push(settle.ticket.id.clone());
                acked.push(settle);
                continue;
            }
            Outcome::Retry if in_lane && !shared.stop.is_cancelled() => {
                (true, shared.settings.claim_interval)
            }
            Outcome::Retry => {
                // A stop before the handler began counts nothing.
                if !settle.start.begun() && !shared.stop.is_cancelled() {
                    to_count.push(settle.ticket.id.clone());
                }
                info!(
                    entry_id = %settle.ticket.id,
                    attempts = settle.attempts_now(),
                    "entry left pending for a later retry"
                );
                continue;
            }
            Outcome::DeadLetter(reason) => {
                let attempts = settle.attempts_now();
                dead_letter(shared, settle, reason, attempts).await;
                continue;
            }
            Outcome::RetryAfter(delay) => (true, delay),
            Outcome::Defer(delay) => (false, delay),
        };
        let begun = settle.start.begun();
        if counts && !begun {
            to_count.push(settle.ticket.id.clone());
        }
        settle.attempts += u64::from(begun || counts);
        info!(
            entry_id = %settle.ticket.id,
            attempts = settle.attempts,
            ?delay,
            counted = counts,
            "entry will be handled again after the delay"
        );
        waiting.push((settle, delay));
    }
    if !to_count.is_empty() && !record_attempts(shared, &to_count).await {
        warn!("recording attempts abandoned at shutdown; the entries stay pending");
    }
    if !acked_ids.is_empty() {
        acknowledge(shared, &acked_ids).await;
    }
    drop(acked);
    waiting
}

/// Orders stream entry ids (`<ms>-<seq>`) as Redis does.
fn stream_order(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |id: &str| -> (u64, u64) {
        let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    };
    parse(a).cmp(&parse(b))
}

/// `XACK`, retried with backoff until it succeeds or the grace period ends.
async fn acknowledge<H: Handler>(shared: &Shared<H>, ids: &[String]) {
    let settings = &shared.settings;
    if retry_redis(shared, "acknowledging entries", |connection| {
        commands::ack(connection, settings, ids)
    })
    .await
    .is_some()
    {
        debug!(entries = ids.len(), "acknowledged");
    }
}

fn spawn_dead_letter<H: Handler>(
    shared: &Arc<Shared<H>>,
    settle: Settle,
    reason: String,
    deliveries: u64,
) {
    let task_shared = Arc::clone(shared);
    shared.tracker.spawn(async move {
        dead_letter(&task_shared, settle, reason, deliveries).await;
    });
}

/// Tells the handler, then writes the dead-letter entry and acknowledges the original in one
/// `MULTI`, retried until it succeeds or the grace period ends.
async fn dead_letter<H: Handler>(
    shared: &Shared<H>,
    settle: Settle,
    reason: String,
    deliveries: u64,
) {
    let letter = DeadLetter {
        original_id: settle.ticket.id.clone(),
        fields: settle
            .fields
            .iter()
            .map(|(field, value)| {
                (
                    String::from_utf8_lossy(field).into_owned(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            })
            .collect(),
        reason,
        deliveries,
        failed_at: now_rfc3339(),
    };
    error!(
        entry_id = %letter.original_id,
        reason = %letter.reason,
        deliveries,
        dead_letter_stream = %shared.settings.dead_letter_stream,
        "dead-lettering entry"
    );
    tokio::select! {
        biased;
        () = shared.hard_stop.cancelled() => return,
        () = shared.handler.dead_lettered(&letter) => {}
    }
    let settings = &shared.settings;
    let fields = &settle.fields;
    let letter = &letter;
    retry_redis(shared, "dead-lettering an entry", |connection| {
        commands::dead_letter(connection, settings, fields, letter)
    })
    .await;
    drop(settle);
}

/// Runs `operation` on the shared command connection until it succeeds, backing off between
/// attempts; `None` when the grace period ended first.
async fn retry_redis<H, T, F, Fut>(shared: &Shared<H>, what: &str, mut operation: F) -> Option<T>
where
    H: Handler,
    F: FnMut(MultiplexedConnection) -> Fut,
    Fut: Future<Output = RedisResult<T>>,
{
    let settings = &shared.settings;
    let mut backoff = Backoff::new(settings.backoff_base, settings.backoff_cap);
    loop {
        let attempt = async {
            let connection = shared.redis.command().await?;
            operation(connection).await
        };
        let result = tokio::select! {
            biased;
            () = shared.hard_stop.cancelled() => return None,
            result = attempt => result,
        };
        match result {
            Ok(value) => return Some(value),
            Err(error) => {
                shared.redis.note_error(&error);
                let delay = backoff.next_delay();
                warn!(%error, ?delay, "{what} failed; retrying after the delay");
                if !sleep_or_stop(&shared.hard_stop, delay).await {
                    warn!("{what} abandoned at shutdown; the entries stay pending");
                    return None;
                }
            }
        }
    }
}

/// Sleeps `delay`; `false` when `token` was cancelled first.
async fn sleep_or_stop(token: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        biased;
        () = token.cancelled() => false,
        () = tokio::time::sleep(delay) => true,
    }
}

// ---------------------------------------------------------------------------------------------
// Claimer

async fn claim_loop<H: Handler>(shared: Arc<Shared<H>>) {
    let settings = &shared.settings;
    let mut backoff = Backoff::new(settings.backoff_base, settings.backoff_cap);
    let mut delay = settings.claim_interval;
    if !shared.wait_for_name().await {
        return;
    }
    loop {
        if !sleep_or_stop(&shared.stop, delay).await {
            return;
        }
        let result = tokio::select! {
            biased;
            () = shared.stop.cancelled() => return,
            result = async {
                touch_in_flight(&shared).await?;
                claim_round(&shared).await
            } => result,
        };
        delay = match result {
            Ok(0) => {
                backoff.reset();
                settings.claim_interval
            }
            Ok(n_claimed) => {
                backoff.reset();
                info!(entries = n_claimed, "claimed idle entries");
                settings.claim_interval
            }
            Err(error) if commands::is_nogroup(&error) => {
                recover_group(&shared).await;
                settings.claim_interval
            }
            Err(error) => {
                shared.redis.note_error(&error);
                let retry_delay = backoff.next_delay().min(settings.claim_interval);
                warn!(%error, ?retry_delay, "claiming idle entries failed");
                retry_delay
            }
        };
    }
}

/// Resets the idle time of the entries held here (queued, waiting for a retry, or being handled)
/// that are pending at this consumer, so that however long a batch waits (for a lock, for its
/// retry), no other consumer claims them. Runs every `claim_interval`, which is below
/// `claim_min_idle`.
async fn touch_in_flight<H: Handler>(shared: &Arc<Shared<H>>) -> RedisResult<()> {
    let ids: Vec<String> = lock(&shared.in_flight.ids).iter().cloned().collect();
    for page in ids.chunks(CLAIM_PAGE) {
        let connection = shared.redis.command().await?;
        let touched = commands::touch(connection, &shared.settings, page).await?;
        debug!(entries = page.len(), touched, "touched entries held here");
    }
    Ok(())
}

/// One claim round: page through entries idle for at least `claim_min_idle`, claim those not
/// already handled here, and dispatch them. Returns how many were claimed.
async fn claim_round<H: Handler>(shared: &Arc<Shared<H>>) -> RedisResult<usize> {
    let settings = &shared.settings;
    let mut start = "-".to_owned();
    let mut n_claimed = 0;
    for _ in 0..CLAIM_PAGES_PER_ROUND {
        let connection = shared.redis.command().await?;
        let rows = commands::pending(
            connection.clone(),
            settings,
            Some(settings.claim_min_idle),
            (&start, "+"),
            CLAIM_PAGE,
            None,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        // Exclusive range start: the next page begins after the last row seen.
        start = format!("({}", last.id);
        let n_rows = rows.len();
        let ids: Vec<String> = rows
            .into_iter()
            .filter(|row| !shared.in_flight.contains(&row.id))
            .map(|row| {
                debug!(entry_id = %row.id, from = %row.consumer, "claiming idle entry");
                row.id
            })
            .collect();
        if !ids.is_empty() {
            let entries =
                commands::claim(connection.clone(), settings, settings.claim_min_idle, &ids)
                    .await?;
            n_claimed += entries.len();
            dispatch_counted(shared, connection, entries).await?;
        }
        if n_rows < CLAIM_PAGE {
            break;
        }
    }
    Ok(n_claimed)
}

// ---------------------------------------------------------------------------------------------
// Heartbeat

async fn heartbeat_loop<H: Handler>(shared: Arc<Shared<H>>) {
    let settings = &shared.settings;
    let key = settings.heartbeat_key();
    if !shared.wait_for_name().await {
        return;
    }
    let mut interval = tokio::time::interval(settings.heartbeat.interval);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = shared.stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        let fields = heartbeat_fields(&shared);
        let result = tokio::select! {
            biased;
            () = shared.stop.cancelled() => return,
            result = async {
                let connection = shared.redis.command().await?;
                commands::heartbeat(connection, &key, &settings.heartbeat.instance, &fields, settings.heartbeat.ttl).await
            } => result,
        };
        match result {
            Ok(None) => {}
            Ok(Some(holder)) => {
                // Our hash expired (Redis was away longer than its TTL) and another instance
                // started with this consumer name: two consumers of one name would handle the
                // same entries, so this one stops.
                shared.stop_fatally(crate::Error::ConsumerInUse {
                    consumer: settings.consumer.clone(),
                    holder: describe_holder(&holder),
                });
                return;
            }
            Err(error) => {
                shared.redis.note_error(&error);
                warn!(%error, "heartbeat failed");
            }
        }
    }
}

/// The heartbeat hash's fields besides `instance`.
fn heartbeat_fields<H: Handler>(shared: &Shared<H>) -> Vec<(&'static str, String)> {
    let settings = &shared.settings;
    let lanes = if settings.heartbeat.lanes.is_empty() {
        lock(&shared.lane_keys)
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    } else {
        settings.heartbeat.lanes.join(",")
    };
    vec![
        ("version", settings.heartbeat.version.clone()),
        ("started_at", shared.started_at.clone()),
        ("last_seen", now_rfc3339()),
        ("lanes", lanes),
        ("in_flight", shared.in_flight.len().to_string()),
        ("pid", std::process::id().to_string()),
    ]
}

/// Removes the liveness hash at a clean stop, so the UI does not show a stopped worker as alive for
/// the rest of the TTL. Best effort, bounded.
async fn remove_heartbeat<H: Handler>(shared: &Shared<H>) {
    let key = shared.settings.heartbeat_key();
    let removal = async {
        let connection = shared.redis.command().await?;
        commands::delete(connection, &key).await
    };
    match tokio::time::timeout(ABANDON_TIMEOUT, removal).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => debug!(%error, "removing the heartbeat failed; it expires by itself"),
        Err(_) => debug!("removing the heartbeat timed out; it expires by itself"),
    }
}

#[cfg(test)]
mod tests {
    use super::stream_order;

    #[test]
    fn stream_ids_order_numerically_not_as_text() {
        let mut ids = vec!["10-0", "9-1", "9-10", "9-2"];
        ids.sort_by(|a, b| stream_order(a, b));
        assert_eq!(ids, ["9-1", "9-2", "9-10", "10-0"]);
    }
}
