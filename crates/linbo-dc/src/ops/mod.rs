//! The operator's commands of `linbo-dc-worker`: [`status`] (who consumes, what is pending, what
//! was dead-lettered, what waits in the outbox) and [`dlq`] (list, show, requeue and drop
//! dead-lettered entries).
//!
//! They talk to Redis and read the outbox directory directly, never to a running worker, so they
//! run next to it and take no lock. Stream field values are untrusted: the text renderings
//! escape control characters ([`printable`]), so a value cannot drive the terminal.

pub mod dlq;
pub mod status;

use std::borrow::Cow;
use std::io::Write;
use std::time::Duration;

use job_stream::retention::StreamId;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, RedisError};

use crate::worker::config::Settings;

/// How long connecting to Redis may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one Redis command may take.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpsError {
    /// Redis could not be reached, or the connection broke.
    #[error("Redis at {url} did not answer: {source}")]
    Unreachable {
        /// The Redis URL, password redacted.
        url: String,
        /// The redis crate's error.
        source: RedisError,
    },
    /// Redis refused the link as configured: a TLS certificate or handshake, or the
    /// credentials; the message names the key to fix.
    #[error("{0}")]
    Link(#[from] crate::redis_link::RedisLinkError),
    /// Redis answered a command with an error.
    #[error("Redis at {url} answered with an error: {source}")]
    Redis {
        /// The Redis URL, password redacted.
        url: String,
        /// The error reply.
        source: RedisError,
    },
    /// A key holds a value of another type than the command needs.
    #[error("{key} holds a {found}, not a stream; nothing was changed")]
    WrongType {
        /// The key.
        key: String,
        /// Its type as `TYPE` names it.
        found: String,
    },
    /// Dead-letter ids that are not in the dead-letter stream; nothing was changed.
    #[error(
        "not in {stream}: {}{} (linbo-dc-worker dlq list shows its entries)",
        ids.join(", "),
        if *changed_nothing { "; nothing was requeued or dropped" } else { "" }
    )]
    UnknownIds {
        /// The dead-letter stream.
        stream: String,
        /// The ids given that it does not hold, in stream order.
        ids: Vec<String>,
        /// The command would have changed the stream (requeue, drop), and changed nothing.
        changed_nothing: bool,
    },
    /// A dead-letter entry holds nothing but the dead-letter fields, so there is no job to
    /// requeue; nothing was changed.
    #[error("dead-letter entry {id} has no fields besides the dead-letter fields; drop it instead")]
    NothingToRequeue {
        /// The dead-letter entry's id.
        id: String,
    },
    /// The dead-letter stream kept changing between the check and the change (another requeue or
    /// drop, the worker dead-lettering); what is reported as done is done, the rest is unchanged.
    #[error("{stream} kept changing while the command ran; run it again for what is left")]
    Busy {
        /// The dead-letter stream.
        stream: String,
    },
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

/// `Result` with [`OpsError`].
pub type Result<T, E = OpsError> = std::result::Result<T, E>;

/// An operator command, as the binary's command line gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// `status [--json]`.
    Status {
        /// The JSON object instead of text.
        json: bool,
    },
    /// `dlq list [--json]`.
    DlqList {
        /// A JSON array instead of text.
        json: bool,
    },
    /// `dlq show ID [--json]`.
    DlqShow {
        /// The dead-letter entry.
        id: StreamId,
        /// A JSON object instead of text.
        json: bool,
    },
    /// `dlq requeue ID…`.
    DlqRequeue {
        /// The dead-letter entries.
        ids: Vec<StreamId>,
    },
    /// `dlq requeue --all`.
    DlqRequeueAll,
    /// `dlq drop ID…`.
    DlqDrop {
        /// The dead-letter entries.
        ids: Vec<StreamId>,
    },
}

/// Runs `request` against the Redis of `settings`, writing what it shows to `out`.
///
/// # Errors
/// [`OpsError::Unreachable`] when Redis does not answer; the others as the command finds them.
pub async fn run(settings: &Settings, request: &Request, out: &mut dyn Write) -> Result<()> {
    let mut link = Link::connect(settings).await?;
    match request {
        Request::Status { json: as_json } => {
            let status = status::collect(&mut link, settings).await?;
            let text = if *as_json {
                status.to_json()
            } else {
                status.render()
            };
            out.write_all(text.as_bytes())?;
        }
        Request::DlqList { json: as_json } => {
            let entries = dlq::list(&mut link).await?;
            let text = if *as_json {
                let summaries: Vec<dlq::Summary> =
                    entries.iter().map(dlq::DeadLetterEntry::summary).collect();
                to_json(&summaries)
            } else {
                dlq::render_list(&entries)
            };
            out.write_all(text.as_bytes())?;
        }
        Request::DlqShow { id, json: as_json } => {
            let entry = dlq::get(&mut link, *id).await?;
            let text = if *as_json {
                to_json(&entry.shown())
            } else {
                dlq::render_entry(&entry)
            };
            out.write_all(text.as_bytes())?;
        }
        Request::DlqRequeue { ids } => {
            dlq::requeue(&mut link, ids, out).await?;
        }
        Request::DlqRequeueAll => {
            let n = dlq::requeue_all(&mut link, out).await?;
            if n == 0 {
                writeln!(
                    out,
                    "{}: nothing to requeue",
                    link.names().dead_letter_stream
                )?;
            }
        }
        Request::DlqDrop { ids } => {
            dlq::drop(&mut link, ids, out).await?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Pretty JSON with a final newline, for the `--json` outputs.
fn to_json<T: serde::Serialize>(value: &T) -> String {
    let mut json = serde_json::to_string_pretty(value).expect("plain data always encodes as JSON");
    json.push('\n');
    json
}

/// A connection to the worker's Redis with the names the worker uses.
#[derive(Debug)]
pub struct Link {
    connection: MultiplexedConnection,
    url: String,
    names: job_stream::Settings,
}

impl Link {
    /// Connects to the Redis of `settings` (each step within [`CONNECT_TIMEOUT`] and
    /// [`COMMAND_TIMEOUT`]) and checks that it answers (`PING`). The connection is this link's
    /// alone, so the `WATCH` of [`dlq`]'s changes is not shared with anything else.
    pub async fn connect(settings: &Settings) -> Result<Link> {
        let url = settings.redis.redacted_url();
        let unreachable = |source| OpsError::Unreachable {
            url: url.clone(),
            source,
        };
        // TLS with REDIS_CA_FILE and ACL users as the worker connects.
        let client = settings.redis.client()?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT));
        let check = async {
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            let _pong: String = redis::cmd("PING").query_async(&mut connection).await?;
            Ok(connection)
        };
        let connection = check.await.map_err(|error| {
            match crate::redis_link::diagnose(&settings.redis, &error) {
                Some(problem) => OpsError::Link(problem),
                None => unreachable(error),
            }
        })?;
        Ok(Link {
            connection,
            names: crate::streams::consumer_settings(settings.consumer_name.clone()),
            url,
        })
    }

    /// The Redis URL, password redacted.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The stream, group, dead-letter stream, attempts hash and heartbeat prefix the worker uses
    /// ([`streams::consumer_settings`](crate::streams::consumer_settings)).
    pub fn names(&self) -> &job_stream::Settings {
        &self.names
    }

    /// Runs `command`, sorting a failure into unreachable or an error reply.
    async fn query<T: redis::FromRedisValue>(&mut self, command: &redis::Cmd) -> Result<T> {
        command
            .query_async(&mut self.connection)
            .await
            .map_err(|error| self.error(error))
    }

    fn error(&self, source: RedisError) -> OpsError {
        if source.code().is_some() {
            OpsError::Redis {
                url: self.url.clone(),
                source,
            }
        } else {
            OpsError::Unreachable {
                url: self.url.clone(),
                source,
            }
        }
    }

    /// `TYPE key`.
    async fn key_type(&mut self, key: &str) -> Result<String> {
        self.query(redis::cmd("TYPE").arg(key)).await
    }

    /// `TIME`: the Redis server's clock in milliseconds (stream ids are in its milliseconds).
    async fn now_ms(&mut self) -> Result<u64> {
        let (seconds, micros): (u64, u64) = self.query(&redis::cmd("TIME")).await?;
        Ok(seconds.saturating_mul(1000) + micros / 1000)
    }
}

/// `text` with every control character (C0, DEL, C1) written as an escape (`\n`, `\u{1b}`), for
/// a terminal; other characters as they are.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for character in text.chars() {
        if character.is_control() {
            out.extend(character.escape_default());
        } else {
            out.push(character);
        }
    }
    Cow::Owned(out)
}

/// The first line of `text`, control characters escaped, at most `max` characters; `…` when
/// something was left out.
fn first_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    let mut shown: String = printable(line).chars().take(max).collect();
    if shown.chars().count() < printable(text).chars().count() {
        shown.push('…');
    }
    shown
}

/// A duration for people: `42 s`, `5 min`, `3 h 20 min`, `2 d 4 h`.
pub fn human_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => match seconds % 3600 / 60 {
            0 => format!("{} h", seconds / 3600),
            minutes => format!("{} h {minutes} min", seconds / 3600),
        },
        _ => match seconds % 86_400 / 3600 {
            0 => format!("{} d", seconds / 86_400),
            hours => format!("{} d {hours} h", seconds / 86_400),
        },
    }
}

/// Milliseconds of a stream id `<ms>-<seq>` (the Redis clock when it was added with `*`).
fn id_ms(id: &str) -> Option<u64> {
    id.parse::<job_stream::retention::StreamId>()
        .ok()
        .map(|id| id.ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(printable("plain text ü"), "plain text ü");
        assert_eq!(printable("a\nb\tc"), "a\\nb\\tc");
        assert_eq!(printable("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(printable("c1 \u{9b}2J"), "c1 \\u{9b}2J");
    }

    #[test]
    fn durations_read_like_people_say_them() {
        let check = |seconds, expect: &str| {
            assert_eq!(human_duration(Duration::from_secs(seconds)), expect)
        };
        check(0, "0 s");
        check(59, "59 s");
        check(60, "1 min");
        check(3599, "59 min");
        check(3600, "1 h");
        check(3600 * 3 + 20 * 60 + 5, "3 h 20 min");
        check(86_400, "1 d");
        check(86_400 * 2 + 4 * 3600, "2 d 4 h");
    }
}
