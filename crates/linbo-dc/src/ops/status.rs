//! `linbo-dc-worker status`: what the worker side of the job stream looks like right now.
//!
//! [`collect`] gathers, [`Status::render`] writes it for people, [`Status::to_json`] for scripts:
//!
//! * every consumer's heartbeat hash `linbo:workers:<consumer>` (found with `SCAN`): the age of
//!   its `last_seen`, `in_flight`, `lanes` (the worker's lanes are schools: shown as `schools`),
//!   `version`, `instance`, `pid`, `started_at`;
//! * the stream `linbo:jobs`: its length, its oldest entry and, per consumer group (`XINFO
//!   GROUPS`), the pending entries per consumer (`XPENDING` summary) with the oldest one's age,
//!   idle time and deliveries (extended `XPENDING`), and for the worker's group its attempts
//!   (`linbo:jobs:attempts`);
//! * the dead-letter stream: its length and the newest 5 entries (`failed_at`, `type`,
//!   `operation_id`, `last_error`);
//! * the outbox: reports waiting for the API, counted without touching it
//!   ([`count_queued`]);
//! * the retention settings (`STREAM_RETENTION_SEC`, `DLQ_MAXLEN`).
//!
//! Ages of entries are by the Redis server's clock (entry ids are its milliseconds); ages of
//! heartbeats by this machine's clock (the workers write `last_seen` by theirs).
//!
//! # The JSON object
//!
//! Stable: keys are only ever added. Absent values are `null`; durations are whole seconds.
//!
//! ```text
//! { "redis": "redis://host:6379/0", "time": "<RFC 3339>",
//!   "workers": [ { "consumer", "key", "last_seen", "age_sec", "started_at", "in_flight",
//!                  "schools": [..], "version", "instance", "pid", "problem" } ],
//!   "stream": { "name", "type", "length", "oldest_entry_id", "oldest_entry_age_sec",
//!               "groups": [ { "name", "consumers", "pending", "last_delivered_id", "lag",
//!                             "pending_by_consumer": [ { "consumer", "pending", "oldest_id",
//!                               "oldest_age_sec", "oldest_idle_sec", "oldest_deliveries",
//!                               "oldest_attempts" } ] } ] },
//!   "dead_letters": { "name", "type", "length",
//!                     "newest": [ { "id", "failed_at", "type", "operation_id", "last_error" } ] },
//!   "outbox": { "dir", "reports", "operations", "quarantined", "error" },
//!   "retention": { "stream_retention_sec", "dlq_maxlen" } }
//! ```
//!
//! `type` is what Redis's `TYPE` says of the key (`stream`, `none` when it does not exist).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use redis::streams::{StreamInfoGroupsReply, StreamPendingCountReply, StreamPendingReply};
use serde::Serialize;

use crate::ops::dlq::{self, Summary};
use crate::ops::{Link, Result, first_line, human_duration, id_ms, printable};
use crate::worker::config::Settings;
use crate::worker::outbox::count_queued;

/// How many of the newest dead letters are shown.
pub const NEWEST_DEAD_LETTERS: usize = 5;

/// Everything `status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The Redis URL, password redacted.
    pub redis: String,
    /// When it was collected (this machine's clock).
    pub time: String,
    /// One per heartbeat hash, by consumer name.
    pub workers: Vec<WorkerHeartbeat>,
    /// The job stream.
    pub stream: StreamStatus,
    /// The dead-letter stream.
    pub dead_letters: DeadLetterStatus,
    /// The outbox of undelivered API reports.
    pub outbox: OutboxStatus,
    /// `STREAM_RETENTION_SEC` and `DLQ_MAXLEN`.
    pub retention: RetentionStatus,
}

/// One heartbeat hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerHeartbeat {
    /// The consumer name (the key without its prefix).
    pub consumer: String,
    /// The key.
    pub key: String,
    /// `last_seen`.
    pub last_seen: Option<String>,
    /// Seconds since `last_seen`.
    pub age_sec: Option<u64>,
    /// `started_at`.
    pub started_at: Option<String>,
    /// `in_flight`: entries queued or being handled.
    pub in_flight: Option<u64>,
    /// `lanes`, split at commas: the schools whose batches the worker has run (its batching lanes
    /// are schools).
    pub schools: Vec<String>,
    /// `version`.
    pub version: Option<String>,
    /// `instance`: which installation holds the consumer name.
    pub instance: Option<String>,
    /// `pid`.
    pub pid: Option<u64>,
    /// What is wrong with the key (not a hash), if anything.
    pub problem: Option<String>,
}

/// The job stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamStatus {
    /// `linbo:jobs`.
    pub name: String,
    /// `TYPE` of the key: `stream`, or `none` before the first entry or group.
    #[serde(rename = "type")]
    pub key_type: String,
    /// `XLEN`.
    pub length: u64,
    /// The oldest entry's id.
    pub oldest_entry_id: Option<String>,
    /// Its age.
    pub oldest_entry_age_sec: Option<u64>,
    /// The consumer groups.
    pub groups: Vec<GroupStatus>,
}

/// One consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupStatus {
    /// Its name.
    pub name: String,
    /// Consumers it knows.
    pub consumers: u64,
    /// Entries delivered and not acknowledged.
    pub pending: u64,
    /// The last entry delivered to it.
    pub last_delivered_id: String,
    /// Entries not delivered to it yet, when Redis knows.
    pub lag: Option<u64>,
    /// Pending entries per consumer.
    pub pending_by_consumer: Vec<ConsumerPending>,
}

/// A consumer's pending entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerPending {
    /// The consumer name.
    pub consumer: String,
    /// How many.
    pub pending: u64,
    /// The oldest one's id.
    pub oldest_id: Option<String>,
    /// Its age (since it was added).
    pub oldest_age_sec: Option<u64>,
    /// Since it was last delivered.
    pub oldest_idle_sec: Option<u64>,
    /// How often Redis delivered it.
    pub oldest_deliveries: Option<u64>,
    /// How often the worker started handling it (`linbo:jobs:attempts`; the worker's group only).
    pub oldest_attempts: Option<u64>,
}

/// The dead-letter stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterStatus {
    /// `linbo:jobs:dlq`.
    pub name: String,
    /// `TYPE` of the key.
    #[serde(rename = "type")]
    pub key_type: String,
    /// `XLEN`.
    pub length: u64,
    /// The newest entries, newest first.
    pub newest: Vec<Summary>,
}

/// The outbox directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxStatus {
    /// `OUTBOX_DIR`.
    pub dir: String,
    /// Reports waiting for the API.
    pub reports: Option<u64>,
    /// Operations they belong to.
    pub operations: Option<u64>,
    /// Files in `quarantine/`.
    pub quarantined: Option<u64>,
    /// Why the directory could not be read.
    pub error: Option<String>,
}

/// The retention settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetentionStatus {
    /// `STREAM_RETENTION_SEC`; `null`: never trimmed.
    pub stream_retention_sec: Option<u64>,
    /// `DLQ_MAXLEN`; `null`: no cap.
    pub dlq_maxlen: Option<u64>,
}

/// Collects the status through `link`, with the outbox and retention of `settings`.
///
/// # Errors
/// Redis failed to answer a command. A key of an unexpected type is no error: it is shown.
pub async fn collect(link: &mut Link, settings: &Settings) -> Result<Status> {
    let now = SystemTime::now();
    let redis_now_ms = link.now_ms().await?;
    let workers = heartbeats(link, now).await?;
    let stream = stream_status(link, redis_now_ms).await?;
    let dead_letters = dead_letter_status(link).await?;
    let outbox = match count_queued(&settings.outbox_dir) {
        Ok(count) => OutboxStatus {
            dir: settings.outbox_dir.display().to_string(),
            reports: Some(count.reports as u64),
            operations: Some(count.operations as u64),
            quarantined: Some(count.quarantined as u64),
            error: None,
        },
        Err(error) => OutboxStatus {
            dir: settings.outbox_dir.display().to_string(),
            reports: None,
            operations: None,
            quarantined: None,
            error: Some(format!("{error}: {}", error.source)),
        },
    };
    Ok(Status {
        redis: link.url().to_owned(),
        time: rfc3339::format_seconds(now),
        workers,
        stream,
        dead_letters,
        outbox,
        retention: RetentionStatus {
            stream_retention_sec: settings
                .stream_retention
                .map(|retention| retention.as_secs()),
            dlq_maxlen: settings.dlq_maxlen.map(|cap| cap.get()),
        },
    })
}

impl Status {
    /// The JSON object described in the module docs, pretty-printed, with a final newline.
    pub fn to_json(&self) -> String {
        crate::ops::to_json(self)
    }

    /// For people: a few lines per part; stream values with control characters escaped.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Redis {} answered at {}", self.redis, self.time);
        self.render_workers(&mut out);
        self.render_stream(&mut out);
        self.render_dead_letters(&mut out);
        let outbox = &self.outbox;
        let _ = match (&outbox.error, outbox.reports, outbox.operations) {
            (Some(error), _, _) => writeln!(out, "\nOutbox {}: {}", outbox.dir, printable(error)),
            (None, Some(reports), Some(operations)) => writeln!(
                out,
                "\nOutbox {}: {reports} report{} waiting for the API ({operations} operation{})",
                outbox.dir,
                plural(reports),
                plural(operations)
            ),
            _ => Ok(()),
        };
        if let Some(quarantined) = outbox.quarantined.filter(|n| *n > 0) {
            let _ = writeln!(
                out,
                "  {quarantined} file{} set aside in quarantine/ (never re-sent)",
                plural(quarantined)
            );
        }
        out
    }

    fn render_workers(&self, out: &mut String) {
        if self.workers.is_empty() {
            let _ = writeln!(
                out,
                "\nWorkers: none (no heartbeat hash linbo:workers:*: no worker ran within its \
                 HEARTBEAT_TTL_SEC)"
            );
            return;
        }
        let _ = writeln!(out, "\nWorkers (heartbeats):");
        for worker in &self.workers {
            let name = printable(&worker.consumer);
            if let Some(problem) = &worker.problem {
                let _ = writeln!(out, "  {name}: {problem}");
                continue;
            }
            let seen = match (worker.age_sec, &worker.last_seen) {
                (Some(age), _) => format!("last seen {} ago", human_duration(secs(age))),
                (None, Some(last_seen)) => format!("last seen {:?}", printable(last_seen)),
                (None, None) => "no last_seen".to_owned(),
            };
            let in_flight = worker
                .in_flight
                .map_or_else(|| "? in flight".to_owned(), |n| format!("{n} in flight"));
            let schools = if worker.schools.is_empty() {
                "no schools yet".to_owned()
            } else {
                format!("schools {}", printable(&worker.schools.join(", ")))
            };
            let _ = writeln!(out, "  {name}: {seen}, {in_flight}, {schools}");
            let optional = |value: &Option<String>| {
                value
                    .as_deref()
                    .map_or_else(|| "?".to_owned(), |text| printable(text).into_owned())
            };
            let _ = writeln!(
                out,
                "    {}, pid {}, started {}",
                optional(&worker.version),
                worker
                    .pid
                    .map_or_else(|| "?".to_owned(), |pid| pid.to_string()),
                optional(&worker.started_at)
            );
            let _ = writeln!(out, "    instance {}", optional(&worker.instance));
        }
    }

    fn render_stream(&self, out: &mut String) {
        let stream = &self.stream;
        match stream.key_type.as_str() {
            "stream" => {}
            "none" => {
                let _ = writeln!(out, "\nStream {}: does not exist yet", stream.name);
                return;
            }
            other => {
                let _ = writeln!(
                    out,
                    "\nStream {}: holds a {other}, not a stream (the worker cannot read it)",
                    stream.name
                );
                return;
            }
        }
        let _ = write!(
            out,
            "\nStream {}: {} entr{}",
            stream.name,
            stream.length,
            if stream.length == 1 { "y" } else { "ies" }
        );
        if let Some(oldest) = &stream.oldest_entry_id {
            let _ = write!(out, ", oldest {oldest}");
            if let Some(age) = stream.oldest_entry_age_sec {
                let _ = write!(out, " ({} old)", human_duration(secs(age)));
            }
        }
        out.push('\n');
        if stream.groups.is_empty() {
            let _ = writeln!(out, "  no consumer group");
        }
        for group in &stream.groups {
            let lag = group
                .lag
                .map_or_else(String::new, |lag| format!(", {lag} not delivered yet"));
            let _ = writeln!(
                out,
                "  group {}: {} consumer{}, {} pending, last delivered {}{lag}",
                printable(&group.name),
                group.consumers,
                plural(group.consumers),
                group.pending,
                group.last_delivered_id
            );
            for pending in &group.pending_by_consumer {
                let mut line = format!(
                    "    {}: {} pending",
                    printable(&pending.consumer),
                    pending.pending
                );
                if let Some(oldest) = &pending.oldest_id {
                    let mut details = Vec::new();
                    if let Some(age) = pending.oldest_age_sec {
                        details.push(format!("{} old", human_duration(secs(age))));
                    }
                    if let Some(idle) = pending.oldest_idle_sec {
                        details.push(format!("idle {}", human_duration(secs(idle))));
                    }
                    if let Some(n) = pending.oldest_deliveries {
                        details.push(format!("delivered {n} time{}", plural(n)));
                    }
                    if let Some(n) = pending.oldest_attempts {
                        details.push(format!("{n} attempt{}", plural(n)));
                    }
                    let _ = write!(line, ", oldest {oldest} ({})", details.join(", "));
                }
                let _ = writeln!(out, "{line}");
            }
        }
        let retention = &self.retention;
        let _ = writeln!(
            out,
            "  retention: {}; dead letters {}",
            retention.stream_retention_sec.map_or_else(
                || "never trimmed (STREAM_RETENTION_SEC=0)".to_owned(),
                |seconds| format!(
                    "acknowledged entries older than {} are trimmed",
                    human_duration(secs(seconds))
                )
            ),
            retention.dlq_maxlen.map_or_else(
                || "not capped (DLQ_MAXLEN=0)".to_owned(),
                |cap| format!("capped at {cap}")
            )
        );
    }

    fn render_dead_letters(&self, out: &mut String) {
        let letters = &self.dead_letters;
        match letters.key_type.as_str() {
            "stream" | "none" => {}
            other => {
                let _ = writeln!(
                    out,
                    "\nDead letters {}: holds a {other}, not a stream (dead-lettering waits until \
                     it is fixed)",
                    letters.name
                );
                return;
            }
        }
        let _ = write!(
            out,
            "\nDead letters {}: {} entr{}",
            letters.name,
            letters.length,
            if letters.length == 1 { "y" } else { "ies" }
        );
        if letters.newest.is_empty() {
            out.push('\n');
            return;
        }
        let _ = writeln!(out, "; newest first (linbo-dc-worker dlq list shows all):");
        for summary in &letters.newest {
            let text = |value: &Option<String>| {
                value
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), |text| printable(text).into_owned())
            };
            let error = first_line(summary.last_error.as_deref().unwrap_or("-"), 120);
            let _ = writeln!(
                out,
                "  {}  {}  {} {}: {error}",
                summary.id,
                text(&summary.failed_at),
                text(&summary.kind),
                text(&summary.operation_id)
            );
        }
    }
}

fn secs(seconds: u64) -> Duration {
    Duration::from_secs(seconds)
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Every heartbeat hash (`SCAN MATCH <prefix>*`), sorted by consumer.
async fn heartbeats(link: &mut Link, now: SystemTime) -> Result<Vec<WorkerHeartbeat>> {
    let prefix = link.names().heartbeat.key_prefix.clone();
    let pattern = format!("{}*", escape_glob(&prefix));
    let mut keys = BTreeSet::new();
    let mut cursor = 0_u64;
    loop {
        let (next, page): (u64, Vec<String>) = link
            .query(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(100),
            )
            .await?;
        keys.extend(page);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    let mut workers = Vec::with_capacity(keys.len());
    for key in keys {
        let consumer = key.strip_prefix(&prefix).unwrap_or(&key).to_owned();
        let key_type = link.key_type(&key).await?;
        if key_type != "hash" {
            if key_type != "none" {
                workers.push(WorkerHeartbeat {
                    problem: Some(format!("{key} holds a {key_type}, not a heartbeat hash")),
                    ..heartbeat_of(consumer, key, &BTreeMap::new(), now)
                });
            }
            continue;
        }
        let fields: BTreeMap<String, String> = link.query(redis::cmd("HGETALL").arg(&key)).await?;
        if !fields.is_empty() {
            workers.push(heartbeat_of(consumer, key, &fields, now));
        }
    }
    Ok(workers)
}

fn heartbeat_of(
    consumer: String,
    key: String,
    fields: &BTreeMap<String, String>,
    now: SystemTime,
) -> WorkerHeartbeat {
    let field = |name: &str| fields.get(name).cloned();
    let number = |name: &str| fields.get(name).and_then(|value| value.parse().ok());
    let last_seen = field("last_seen");
    let age_sec = last_seen
        .as_deref()
        .and_then(rfc3339::parse)
        // A clock a little ahead of ours is "just now".
        .map(|seen| now.duration_since(seen).unwrap_or_default().as_secs());
    WorkerHeartbeat {
        consumer,
        key,
        age_sec,
        last_seen,
        started_at: field("started_at"),
        in_flight: number("in_flight"),
        schools: fields
            .get("lanes")
            .map(|lanes| {
                lanes
                    .split(',')
                    .filter(|school| !school.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        version: field("version"),
        instance: field("instance"),
        pid: number("pid"),
        problem: None,
    }
}

/// `pattern` with the glob characters of `SCAN MATCH` escaped.
fn escape_glob(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}

async fn stream_status(link: &mut Link, now_ms: u64) -> Result<StreamStatus> {
    let names = link.names().clone();
    let key_type = link.key_type(&names.stream).await?;
    let mut status = StreamStatus {
        name: names.stream.clone(),
        key_type,
        length: 0,
        oldest_entry_id: None,
        oldest_entry_age_sec: None,
        groups: Vec::new(),
    };
    if status.key_type != "stream" {
        return Ok(status);
    }
    status.length = link.query(redis::cmd("XLEN").arg(&names.stream)).await?;
    let oldest: Vec<(String, redis::Value)> = link
        .query(
            redis::cmd("XRANGE")
                .arg(&names.stream)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1),
        )
        .await?;
    if let Some((id, _)) = oldest.into_iter().next() {
        status.oldest_entry_age_sec = age_of_id(&id, now_ms);
        status.oldest_entry_id = Some(id);
    }
    let groups: StreamInfoGroupsReply = link
        .query(redis::cmd("XINFO").arg("GROUPS").arg(&names.stream))
        .await?;
    for group in groups.groups {
        let summary: StreamPendingReply = link
            .query(redis::cmd("XPENDING").arg(&names.stream).arg(&group.name))
            .await?;
        let mut pending_by_consumer = Vec::new();
        if let StreamPendingReply::Data(data) = summary {
            for consumer in data.consumers {
                let oldest: StreamPendingCountReply = link
                    .query(
                        redis::cmd("XPENDING")
                            .arg(&names.stream)
                            .arg(&group.name)
                            .arg("-")
                            .arg("+")
                            .arg(1)
                            .arg(&consumer.name),
                    )
                    .await?;
                let oldest = oldest.ids.into_iter().next();
                let oldest_attempts = match &oldest {
                    Some(row) if group.name == names.group => Some(
                        link.query::<Option<u64>>(
                            redis::cmd("HGET").arg(&names.attempts_key).arg(&row.id),
                        )
                        .await?
                        .unwrap_or(0),
                    ),
                    _ => None,
                };
                pending_by_consumer.push(ConsumerPending {
                    consumer: consumer.name,
                    pending: consumer.pending as u64,
                    oldest_age_sec: oldest.as_ref().and_then(|row| age_of_id(&row.id, now_ms)),
                    oldest_idle_sec: oldest
                        .as_ref()
                        .map(|row| row.last_delivered_ms as u64 / 1000),
                    oldest_deliveries: oldest.as_ref().map(|row| row.times_delivered as u64),
                    oldest_id: oldest.map(|row| row.id),
                    oldest_attempts,
                });
            }
        }
        status.groups.push(GroupStatus {
            name: group.name,
            consumers: group.consumers as u64,
            pending: group.pending as u64,
            last_delivered_id: group.last_delivered_id,
            lag: group.lag.map(|lag| lag as u64),
            pending_by_consumer,
        });
    }
    Ok(status)
}

/// Seconds between the Redis time `now_ms` and entry `id`'s milliseconds.
fn age_of_id(id: &str, now_ms: u64) -> Option<u64> {
    id_ms(id).map(|ms| now_ms.saturating_sub(ms) / 1000)
}

async fn dead_letter_status(link: &mut Link) -> Result<DeadLetterStatus> {
    let name = link.names().dead_letter_stream.clone();
    let key_type = link.key_type(&name).await?;
    let mut status = DeadLetterStatus {
        name,
        key_type,
        length: 0,
        newest: Vec::new(),
    };
    if status.key_type == "stream" {
        status.length = link.query(redis::cmd("XLEN").arg(&status.name)).await?;
        status.newest = dlq::newest(link, NEWEST_DEAD_LETTERS)
            .await?
            .iter()
            .map(dlq::DeadLetterEntry::summary)
            .collect();
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(escape_glob("linbo:workers:"), "linbo:workers:");
        assert_eq!(escape_glob("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn a_heartbeat_reads_its_fields() {
        let now = rfc3339::parse("2026-11-26T08:00:10.000Z").unwrap();
        let fields: BTreeMap<String, String> = [
            ("last_seen", "2026-11-26T08:00:00.500Z"),
            ("started_at", "2026-11-26T07:00:00.000Z"),
            ("in_flight", "3"),
            ("lanes", "default-school,gym"),
            ("version", "linbo-dc-worker 0.1.0"),
            ("instance", "host dc01"),
            ("pid", "4242"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let worker = heartbeat_of("dc01".into(), "linbo:workers:dc01".into(), &fields, now);
        assert_eq!(worker.age_sec, Some(9));
        assert_eq!(worker.in_flight, Some(3));
        assert_eq!(worker.schools, ["default-school", "gym"]);
        assert_eq!(worker.pid, Some(4242));
        let empty = heartbeat_of("x".into(), "k".into(), &BTreeMap::new(), now);
        assert_eq!(
            (empty.age_sec, empty.pid, empty.schools.len()),
            (None, None, 0)
        );
    }
}
