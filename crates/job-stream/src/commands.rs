//! The Redis commands of the runtime, one function each, and the parsing of their replies.
//!
//! Replies are parsed from raw [`Value`]s so that entries deleted from the stream while still
//! pending (`[id, nil]` in a history read) and values that are not UTF-8 are represented instead of
//! failing the whole reply.

use std::sync::Mutex;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, FromRedisValue, RedisError, RedisResult, Value};

use crate::Settings;
use crate::job::DeadLetter;

/// Field/value pairs of an entry in stream order, values as raw bytes.
pub(crate) type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// Field names the dead-letter entry sets itself; original fields of the same name are replaced.
/// Without them a dead-letter entry holds the original entry's fields.
pub const DEAD_LETTER_FIELDS: [&str; 4] = ["last_error", "failed_at", "original_id", "deliveries"];

/// A stream entry as read; `fields` is `None` when the entry was deleted from the stream while it
/// was still pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub(crate) id: String,
    pub(crate) fields: Option<Fields>,
}

/// One row of extended `XPENDING`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingRow {
    pub(crate) id: String,
    pub(crate) consumer: String,
    pub(crate) deliveries: u64,
}

/// Opens connections and keeps the shared one for short commands.
#[derive(Debug)]
pub(crate) struct Redis {
    client: redis::Client,
    command_config: AsyncConnectionConfig,
    reader_config: AsyncConnectionConfig,
    command: Mutex<Option<MultiplexedConnection>>,
}

impl Redis {
    pub(crate) fn new(client: redis::Client, settings: &Settings) -> Self {
        let base =
            AsyncConnectionConfig::new().set_connection_timeout(Some(settings.connect_timeout));
        Self {
            client,
            command_config: base
                .clone()
                .set_response_timeout(Some(settings.command_timeout)),
            // redis-rs times out responses after 500 ms by default; a blocking XREADGROUP answers only
            // after up to `block_timeout`, so the reader's limit must be longer than that.
            reader_config: base
                .set_response_timeout(Some(settings.block_timeout + settings.command_timeout)),
            command: Mutex::new(None),
        }
    }

    /// The shared connection for short commands, connecting when there is none.
    pub(crate) async fn command(&self) -> RedisResult<MultiplexedConnection> {
        if let Some(connection) = self.lock().clone() {
            return Ok(connection);
        }
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&self.command_config)
            .await?;
        *self.lock() = Some(connection.clone());
        Ok(connection)
    }

    /// The client, for tasks that open connections of their own.
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A new connection used only by the blocking reader.
    pub(crate) async fn reader(&self) -> RedisResult<MultiplexedConnection> {
        self.client
            .get_multiplexed_async_connection_with_config(&self.reader_config)
            .await
    }

    /// Forgets the shared connection after a connection-level failure so the next command
    /// reconnects. Error replies from the server (they carry a code) keep it.
    pub(crate) fn note_error(&self, error: &RedisError) {
        if is_connection_error(error) {
            *self.lock() = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        // A panic while holding this lock cannot leave the Option inconsistent; keep using it.
        self.command
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Whether `error` is about the connection (I/O, timeout, dropped) rather than an error reply.
pub(crate) fn is_connection_error(error: &RedisError) -> bool {
    error.code().is_none()
}

/// Whether Redis answered `NOGROUP` (stream or group missing).
pub(crate) fn is_nogroup(error: &RedisError) -> bool {
    error.code() == Some("NOGROUP")
}

/// `XGROUP CREATE stream group <start> MKSTREAM`; `BUSYGROUP` (exists) is success. Returns whether
/// the group was created.
pub(crate) async fn create_group(
    mut connection: MultiplexedConnection,
    settings: &Settings,
    start: &str,
) -> RedisResult<bool> {
    let result: RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&settings.stream)
        .arg(&settings.group)
        .arg(start)
        .arg("MKSTREAM")
        .query_async(&mut connection)
        .await;
    match result {
        Ok(()) => Ok(true),
        Err(error) if error.code() == Some("BUSYGROUP") => Ok(false),
        Err(error) => Err(error),
    }
}

/// `XREADGROUP GROUP g c COUNT n [BLOCK ms] STREAMS s <id>`.
pub(crate) async fn read_group(
    connection: &mut MultiplexedConnection,
    settings: &Settings,
    id: &str,
    count: usize,
    block: Option<Duration>,
) -> RedisResult<Vec<RawEntry>> {
    let mut command = redis::cmd("XREADGROUP");
    command
        .arg("GROUP")
        .arg(&settings.group)
        .arg(&settings.consumer)
        .arg("COUNT")
        .arg(count);
    if let Some(block) = block {
        command.arg("BLOCK").arg(block.as_millis().max(1) as u64);
    }
    command.arg("STREAMS").arg(&settings.stream).arg(id);
    let reply: Value = command.query_async(connection).await?;
    parse_read_reply(reply)
}

/// Extended `XPENDING s g [IDLE ms] start end count [consumer]`.
pub(crate) async fn pending(
    mut connection: MultiplexedConnection,
    settings: &Settings,
    min_idle: Option<Duration>,
    range: (&str, &str),
    count: usize,
    consumer: Option<&str>,
) -> RedisResult<Vec<PendingRow>> {
    let mut command = redis::cmd("XPENDING");
    command.arg(&settings.stream).arg(&settings.group);
    if let Some(min_idle) = min_idle {
        command.arg("IDLE").arg(min_idle.as_millis() as u64);
    }
    command.arg(range.0).arg(range.1).arg(count);
    if let Some(consumer) = consumer {
        command.arg(consumer);
    }
    let rows: Vec<(String, String, u64, u64)> = command.query_async(&mut connection).await?;
    Ok(rows
        .into_iter()
        .map(|(id, consumer, _idle_ms, deliveries)| PendingRow {
            id,
            consumer,
            deliveries,
        })
        .collect())
}

/// `XCLAIM s g <this consumer> min_idle id...`: entries still idle that long move to this consumer.
/// Entries deleted from the stream are dropped from the pending list by Redis and not returned.
pub(crate) async fn claim(
    mut connection: MultiplexedConnection,
    settings: &Settings,
    min_idle: Duration,
    ids: &[String],
) -> RedisResult<Vec<RawEntry>> {
    let reply: Value = redis::cmd("XCLAIM")
        .arg(&settings.stream)
        .arg(&settings.group)
        .arg(&settings.consumer)
        .arg(min_idle.as_millis() as u64)
        .arg(ids)
        .query_async(&mut connection)
        .await?;
    parse_entries(reply)
}

/// Resets the idle time of those of `ids` that are pending at this consumer (`XCLAIM ... 0 id
/// JUSTID`, which counts no delivery), so entries this process holds are never claimed by another
/// consumer. An entry another consumer owns is left alone. Returns how many were touched.
const TOUCH_SCRIPT: &str = r"
local touched = 0
for i = 3, #ARGV do
  local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if row[1] and row[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    touched = touched + 1
  end
end
return touched
";

pub(crate) async fn touch(
    mut connection: MultiplexedConnection,
    settings: &Settings,
    ids: &[String],
) -> RedisResult<u64> {
    redis::Script::new(TOUCH_SCRIPT)
        .key(&settings.stream)
        .arg(&settings.group)
        .arg(&settings.consumer)
        .arg(ids)
        .invoke_async(&mut connection)
        .await
}

/// `HMGET attempts id...`: how many times handling of each entry started (0 when never).
pub(crate) async fn attempts(
    mut connection: MultiplexedConnection,
    settings: &Settings,
    ids: &[&str],
) -> RedisResult<Vec<u64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let counts: Vec<Option<u64>> = redis::cmd("HMGET")
        .arg(&settings.attempts_key)
        .arg(ids)
        .query_async(&mut connection)
        .await?;
    Ok(counts.into_iter().map(Option::unwrap_or_default).collect())
}

/// `HINCRBY attempts id 1` for each of `ids`, in one round trip; the new counts.
pub(crate) async fn record_attempts(
    mut connection: MultiplexedConnection,
    settings: &Settings,
    ids: &[&str],
) -> RedisResult<Vec<u64>> {
    let mut pipeline = redis::pipe();
    for id in ids {
        pipeline
            .cmd("HINCRBY")
            .arg(&settings.attempts_key)
            .arg(*id)
            .arg(1);
    }
    pipeline.query_async(&mut connection).await
}

/// `MULTI; XACK s g id...; HDEL attempts id...; EXEC`.
pub(crate) async fn ack(
    mut connection: MultiplexedConnection,
    settings: &Settings,
    ids: &[String],
) -> RedisResult<()> {
    let mut pipeline = redis::pipe();
    pipeline.atomic();
    pipeline
        .cmd("XACK")
        .arg(&settings.stream)
        .arg(&settings.group)
        .arg(ids)
        .ignore();
    pipeline
        .cmd("HDEL")
        .arg(&settings.attempts_key)
        .arg(ids)
        .ignore();
    let _replies: Value = pipeline.query_async(&mut connection).await?;
    Ok(())
}

/// `TYPE dlq`, then `MULTI; XADD dlq * <fields> last_error .. failed_at .. original_id .. deliveries ..;
/// XACK s g id; HDEL attempts id; EXEC`.
pub(crate) async fn dead_letter(
    mut connection: MultiplexedConnection,
    settings: &Settings,
    fields: &Fields,
    letter: &DeadLetter,
) -> RedisResult<()> {
    // MULTI does not roll back: an XADD failing inside it (the key holds another type) would still
    // let the XACK through and lose the entry. Check the type first so that case fails before
    // anything is written and the entry stays pending.
    let key_type: String = redis::cmd("TYPE")
        .arg(&settings.dead_letter_stream)
        .query_async(&mut connection)
        .await?;
    if key_type != "none" && key_type != "stream" {
        return Err(RedisError::from((
            redis::ErrorKind::Client,
            "dead-letter key is not a stream",
            format!("{} holds a {key_type}", settings.dead_letter_stream),
        )));
    }
    let mut pipeline = redis::pipe();
    pipeline.atomic();
    let xadd = pipeline
        .cmd("XADD")
        .arg(&settings.dead_letter_stream)
        .arg("*");
    for (field, value) in fields {
        if !DEAD_LETTER_FIELDS
            .iter()
            .any(|reserved| reserved.as_bytes() == field.as_slice())
        {
            xadd.arg(field.as_slice()).arg(value.as_slice());
        }
    }
    xadd.arg("last_error")
        .arg(&letter.reason)
        .arg("failed_at")
        .arg(&letter.failed_at)
        .arg("original_id")
        .arg(&letter.original_id)
        .arg("deliveries")
        .arg(letter.deliveries);
    pipeline
        .cmd("XACK")
        .arg(&settings.stream)
        .arg(&settings.group)
        .arg(&letter.original_id);
    pipeline
        .cmd("HDEL")
        .arg(&settings.attempts_key)
        .arg(&letter.original_id);
    let _replies: Value = pipeline.query_async(&mut connection).await?;
    Ok(())
}

/// Writes the heartbeat hash only while it belongs to this instance: `instance` absent or equal.
/// Returns `false` with nothing written when another instance holds it.
const HEARTBEAT_SCRIPT: &str = r"
local holder = redis.call('HGET', KEYS[1], 'instance')
if holder and holder ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'instance', ARGV[1], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// Sets `fields` (and `instance`) on the heartbeat hash `key` with expiry `ttl`, unless another
/// instance holds it: then `Some(its fields)`.
pub(crate) async fn heartbeat(
    mut connection: MultiplexedConnection,
    key: &str,
    instance: &str,
    fields: &[(&str, String)],
    ttl: Duration,
) -> RedisResult<Option<std::collections::HashMap<String, String>>> {
    let script = redis::Script::new(HEARTBEAT_SCRIPT);
    let mut script = script.prepare_invoke();
    script
        .key(key)
        .arg(instance)
        .arg(ttl.as_millis().max(1) as u64);
    for (field, value) in fields {
        script.arg(*field).arg(value);
    }
    let written: u64 = script.invoke_async(&mut connection).await?;
    if written == 1 {
        return Ok(None);
    }
    let holder: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
        .arg(key)
        .query_async(&mut connection)
        .await?;
    Ok(Some(holder))
}

/// `DEL key`.
pub(crate) async fn delete(mut connection: MultiplexedConnection, key: &str) -> RedisResult<()> {
    let _deleted: u64 = redis::cmd("DEL")
        .arg(key)
        .query_async(&mut connection)
        .await?;
    Ok(())
}

/// Parses an `XREADGROUP` reply: nil (timeout) or `[[stream, entries]]` (RESP2) or a map (RESP3).
pub(crate) fn parse_read_reply(reply: Value) -> RedisResult<Vec<RawEntry>> {
    let streams: Vec<(Value, Value)> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(pairs) => pairs,
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(pair) if pair.len() == 2 => {
                    let mut pair = pair.into_iter();
                    match (pair.next(), pair.next()) {
                        (Some(name), Some(entries)) => Ok((name, entries)),
                        _ => Err(unexpected("stream row", "two items")),
                    }
                }
                _ => Err(unexpected("stream row", "an array of two items")),
            })
            .collect::<RedisResult<_>>()?,
        other => return Err(unexpected_value("XREADGROUP reply", &other)),
    };
    let mut entries = Vec::new();
    for (_stream_name, stream_entries) in streams {
        entries.extend(parse_entries(stream_entries)?);
    }
    Ok(entries)
}

/// Parses a list of entries `[[id, [f, v, ...] | nil], ...]`; nil items (deleted entries in some
/// replies) are skipped.
pub(crate) fn parse_entries(reply: Value) -> RedisResult<Vec<RawEntry>> {
    let items = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(items) => items,
        other => return Err(unexpected_value("entry list", &other)),
    };
    let mut entries = Vec::with_capacity(items.len());
    for item in items {
        let parts = match item {
            Value::Nil => continue,
            Value::Array(parts) if parts.len() == 2 => parts,
            other => return Err(unexpected_value("entry", &other)),
        };
        let mut parts = parts.into_iter();
        let id = parts
            .next()
            .ok_or_else(|| unexpected("entry", "an id"))
            .and_then(|id| String::from_redis_value(id).map_err(RedisError::from))?;
        let fields = match parts.next() {
            None | Some(Value::Nil) => None,
            Some(Value::Array(flat)) => Some(parse_flat_fields(flat)?),
            Some(Value::Map(pairs)) => Some(
                pairs
                    .into_iter()
                    .map(|(field, value)| Ok((bytes(field)?, bytes(value)?)))
                    .collect::<RedisResult<_>>()?,
            ),
            Some(other) => return Err(unexpected_value("entry fields", &other)),
        };
        entries.push(RawEntry { id, fields });
    }
    Ok(entries)
}

fn parse_flat_fields(flat: Vec<Value>) -> RedisResult<Fields> {
    if !flat.len().is_multiple_of(2) {
        return Err(unexpected("entry fields", "an even number of items"));
    }
    let mut fields = Vec::with_capacity(flat.len() / 2);
    let mut flat = flat.into_iter();
    while let (Some(field), Some(value)) = (flat.next(), flat.next()) {
        fields.push((bytes(field)?, bytes(value)?));
    }
    Ok(fields)
}

fn bytes(value: Value) -> RedisResult<Vec<u8>> {
    match value {
        Value::BulkString(bytes) => Ok(bytes),
        Value::SimpleString(text) => Ok(text.into_bytes()),
        Value::Int(number) => Ok(number.to_string().into_bytes()),
        other => Err(unexpected_value("string", &other)),
    }
}

fn unexpected(what: &str, expected: &str) -> RedisError {
    RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected reply shape",
        format!("{what}: expected {expected}"),
    ))
}

fn unexpected_value(what: &str, value: &Value) -> RedisError {
    RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected reply shape",
        format!("{what}: got {value:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn timeout_reply_is_empty() {
        assert_eq!(parse_read_reply(Value::Nil).unwrap(), []);
    }

    #[test]
    fn entries_deleted_while_pending_have_no_fields() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("jobs"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("1-0"),
                    Value::Array(vec![bulk("type"), bulk("x")]),
                ]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let entries = parse_read_reply(reply).unwrap();
        assert_eq!(
            entries,
            [
                RawEntry {
                    id: "1-0".into(),
                    fields: Some(vec![(b"type".to_vec(), b"x".to_vec())])
                },
                RawEntry {
                    id: "2-0".into(),
                    fields: None
                },
            ]
        );
    }

    #[test]
    fn non_utf8_values_are_kept_as_bytes() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("k"), Value::BulkString(vec![0xff, 0xfe])]),
        ])]);
        let entries = parse_entries(reply).unwrap();
        assert_eq!(entries[0].fields.as_ref().unwrap()[0].1, [0xff, 0xfe]);
    }

    #[test]
    fn odd_field_lists_are_rejected() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("k")]),
        ])]);
        assert!(parse_entries(reply).is_err());
    }
}
