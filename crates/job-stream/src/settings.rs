//! Every number and name the runtime uses, each with a documented default. The stream, the
//! group and the consumer have none: the application names them, and the other keys are derived
//! from the stream's name.

use std::num::{NonZeroU64, NonZeroUsize};
use std::time::Duration;

use crate::{Error, Result};

/// Configuration of a [`Consumer`](crate::Consumer).
///
/// Build it with [`Settings::new`] (the stream, group and consumer, plus the defaults documented
/// on each field) and change fields as needed; [`Consumer::run`](crate::Consumer::run) checks them with
/// [`validate`](Settings::validate) before it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// Stream to consume. No default.
    pub stream: String,
    /// Consumer group. No default. Created with `XGROUP CREATE stream group $ MKSTREAM` on start;
    /// re-created at id `0` when Redis reports `NOGROUP` later (see the crate docs).
    pub group: String,
    /// This consumer's name in the group; must be stable across restarts so the consumer replays its
    /// own pending entries. No default (the application passes its configured name or host name).
    pub consumer: String,
    /// Dead-letter stream. Default `<stream>:dlq` (derived by [`Settings::new`]).
    pub dead_letter_stream: String,
    /// Hash of attempts: entry id → how many times handling of the entry started
    /// ([`Batch::begin`](crate::Batch::begin)). Default `<stream>:attempts` (derived by
    /// [`Settings::new`]). An entry's field is removed together with its acknowledgement or
    /// dead-letter write.
    pub attempts_key: String,
    /// `BLOCK` time of the reading `XREADGROUP`. Default 5 s. The reading connection's client-side
    /// response timeout is this plus [`command_timeout`](Self::command_timeout).
    pub block_timeout: Duration,
    /// Client-side timeout of every other Redis command. Default 10 s.
    pub command_timeout: Duration,
    /// Timeout for establishing a connection. Default 5 s.
    pub connect_timeout: Duration,
    /// How often pending entries of any consumer are checked for claiming. Default 30 s.
    pub claim_interval: Duration,
    /// Entries idle (delivered but not acknowledged) at least this long are claimed from their
    /// consumer, this one included (that is how [`Outcome::Retry`](crate::Outcome::Retry) entries come
    /// back). Default 10 min: well above the longest batch.
    pub claim_min_idle: Duration,
    /// An entry whose handling already started this many times (see
    /// [`Batch::begin`](crate::Batch::begin)) is dead-lettered instead of being handled again.
    /// Replays, claims, deferrals and stops before the handler began do not count; Redis's own
    /// delivery counter is not used. Default 5.
    pub max_deliveries: u64,
    /// Most entries in one batch of a batching lane; also the `COUNT` of each read. Default 50.
    pub batch_size: NonZeroUsize,
    /// A batch is handed over at the latest this long after its first entry was queued. Default 5 s.
    pub batch_window: Duration,
    /// Most concurrent-lane entries handled at the same time. Default 2.
    pub concurrent_limit: NonZeroUsize,
    /// The reader stops reading new entries while this many entries are queued or being handled.
    /// Default 1000.
    pub max_in_flight: NonZeroUsize,
    /// First delay of the reconnect/retry backoff. Default 250 ms.
    pub backoff_base: Duration,
    /// Longest delay of the reconnect/retry backoff (jitter keeps delays within `[cap/2, cap]`).
    /// Default 30 s.
    pub backoff_cap: Duration,
    /// After shutdown is requested, handlers get this long to finish before they are abandoned at
    /// their next `.await`. Default 10 s.
    pub shutdown_grace: Duration,
    /// Acknowledged entries older than this are trimmed from the stream (`XTRIM stream MINID`),
    /// never one still pending in a group or not yet delivered to every group (see
    /// [`retention`](crate::retention)). Default `None`: the stream is never trimmed.
    pub stream_retention: Option<Duration>,
    /// The dead-letter stream is trimmed to this many (the newest) entries, exactly
    /// (`XTRIM dlq MAXLEN n`). Default `None`: no cap.
    pub dead_letter_max_len: Option<NonZeroU64>,
    /// How often the retention round runs while either limit is set; the first round runs at
    /// start. Default 10 min.
    pub retention_interval: Duration,
    /// The liveness hash.
    pub heartbeat: HeartbeatSettings,
}

/// The liveness hash `<key_prefix><consumer>` with fields `version`, `started_at`, `last_seen`,
/// `lanes`, `in_flight`, `instance` and `pid`.
///
/// The hash also makes the consumer name exclusive: it is written only while its `instance`
/// field is this consumer's [`instance`](Self::instance). A consumer that finds another instance's
/// hash at start waits until that hash expires (a stopped or crashed holder) and refuses to run
/// when the holder keeps it fresh ([`Error::ConsumerInUse`](crate::Error::ConsumerInUse)); a
/// running consumer whose hash was taken over (it was away longer than the TTL) stops with the
/// same error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeartbeatSettings {
    /// Key prefix; the consumer name is appended. Default `<stream>:heartbeat:<group>:` (derived
    /// by [`Settings::new`]), so consumers of the same name in different groups do not collide.
    pub key_prefix: String,
    /// Refresh interval. Default 10 s.
    pub interval: Duration,
    /// Expiry of the hash, refreshed with each beat. Default 30 s.
    pub ttl: Duration,
    /// Value of the `version` field. Default: this crate's version; applications set their own.
    pub version: String,
    /// Value of the `lanes` field, comma-separated. Default empty, which means: the
    /// [`Lane::Batched`](crate::Lane::Batched) keys seen so far.
    pub lanes: Vec<String>,
    /// Who runs this consumer: stable across restarts of the same installation, different for
    /// another process that must not use the same consumer name (another machine, another state
    /// directory). Default `pid <process id>` (a restart then waits for the old hash to expire).
    pub instance: String,
}

impl Settings {
    /// Consumer `consumer` of `group` on `stream`, with the defaults documented on each field:
    /// the dead-letter stream `<stream>:dlq`, the attempts hash `<stream>:attempts` and the
    /// heartbeat prefix `<stream>:heartbeat:<group>:` are derived from the names given here (set
    /// them again after changing `stream` or `group`).
    ///
    /// ```
    /// let settings = job_stream::Settings::new("jobs", "workers", "host-1");
    /// assert_eq!(settings.dead_letter_stream, "jobs:dlq");
    /// assert_eq!(settings.attempts_key, "jobs:attempts");
    /// assert_eq!(settings.heartbeat_key(), "jobs:heartbeat:workers:host-1");
    /// ```
    pub fn new(
        stream: impl Into<String>,
        group: impl Into<String>,
        consumer: impl Into<String>,
    ) -> Self {
        let stream = stream.into();
        let group = group.into();
        Self {
            dead_letter_stream: format!("{stream}:dlq"),
            attempts_key: format!("{stream}:attempts"),
            heartbeat: HeartbeatSettings::with_key_prefix(format!("{stream}:heartbeat:{group}:")),
            stream,
            group,
            consumer: consumer.into(),
            block_timeout: Duration::from_secs(5),
            command_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            claim_interval: Duration::from_secs(30),
            claim_min_idle: Duration::from_secs(600),
            max_deliveries: 5,
            batch_size: NonZeroUsize::new(50).expect("50 is not zero"),
            batch_window: Duration::from_secs(5),
            concurrent_limit: NonZeroUsize::new(2).expect("2 is not zero"),
            max_in_flight: NonZeroUsize::new(1000).expect("1000 is not zero"),
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            stream_retention: None,
            dead_letter_max_len: None,
            retention_interval: Duration::from_secs(600),
        }
    }

    /// The heartbeat key, `<prefix><consumer>`.
    pub fn heartbeat_key(&self) -> String {
        format!("{}{}", self.heartbeat.key_prefix, self.consumer)
    }

    /// Checks names and numbers; the error names the field.
    pub fn validate(&self) -> Result<()> {
        fn invalid(field: &'static str, reason: &str) -> Result<()> {
            Err(Error::InvalidSettings {
                field,
                reason: reason.to_owned(),
            })
        }
        for (field, value) in [
            ("stream", &self.stream),
            ("group", &self.group),
            ("consumer", &self.consumer),
            ("dead_letter_stream", &self.dead_letter_stream),
            ("attempts_key", &self.attempts_key),
            ("heartbeat.instance", &self.heartbeat.instance),
        ] {
            if value.is_empty() {
                return invalid(field, "must not be empty");
            }
        }
        if self.dead_letter_stream == self.stream {
            return invalid("dead_letter_stream", "must differ from the stream");
        }
        if self.attempts_key == self.stream || self.attempts_key == self.dead_letter_stream {
            return invalid("attempts_key", "must differ from both streams");
        }
        if self.block_timeout.is_zero() || self.block_timeout > Duration::from_secs(60) {
            return invalid("block_timeout", "must be between 1 ms and 60 s");
        }
        for (field, value) in [
            ("command_timeout", self.command_timeout),
            ("connect_timeout", self.connect_timeout),
            ("claim_interval", self.claim_interval),
            ("claim_min_idle", self.claim_min_idle),
            ("backoff_base", self.backoff_base),
            ("heartbeat.interval", self.heartbeat.interval),
            ("retention_interval", self.retention_interval),
        ] {
            if value.is_zero() {
                return invalid(field, "must be greater than zero");
            }
        }
        if self.max_deliveries == 0 {
            return invalid("max_deliveries", "must be at least 1");
        }
        if self.backoff_cap < self.backoff_base {
            return invalid("backoff_cap", "must not be below backoff_base");
        }
        if self.heartbeat.ttl <= self.heartbeat.interval || self.heartbeat.ttl.as_secs() == 0 {
            return invalid(
                "heartbeat.ttl",
                "must be at least 1 s and longer than heartbeat.interval",
            );
        }
        Ok(())
    }
}

impl HeartbeatSettings {
    /// The defaults documented on each field, with `key_prefix`.
    fn with_key_prefix(key_prefix: String) -> Self {
        Self {
            key_prefix,
            interval: Duration::from_secs(10),
            ttl: Duration::from_secs(30),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            lanes: Vec::new(),
            instance: format!("pid {}", std::process::id()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let settings = Settings::new("jobs", "workers", "host-1");
        assert_eq!(settings.stream, "jobs");
        assert_eq!(settings.group, "workers");
        assert_eq!(settings.consumer, "host-1");
        assert_eq!(settings.dead_letter_stream, "jobs:dlq");
        assert_eq!(settings.attempts_key, "jobs:attempts");
        assert!(settings.block_timeout <= Duration::from_secs(5));
        assert!(settings.claim_interval <= Duration::from_secs(60));
        assert_eq!(settings.claim_min_idle, Duration::from_secs(600));
        assert_eq!(settings.max_deliveries, 5);
        assert_eq!(settings.batch_size.get(), 50);
        assert_eq!(settings.batch_window, Duration::from_secs(5));
        assert_eq!(settings.concurrent_limit.get(), 2);
        assert_eq!(settings.backoff_cap, Duration::from_secs(30));
        assert_eq!(settings.heartbeat.interval, Duration::from_secs(10));
        assert_eq!(settings.heartbeat.ttl, Duration::from_secs(30));
        assert_eq!(settings.heartbeat_key(), "jobs:heartbeat:workers:host-1");
        assert_eq!(
            settings.stream_retention, None,
            "trimming is the application's choice"
        );
        assert_eq!(settings.dead_letter_max_len, None);
        assert_eq!(settings.retention_interval, Duration::from_secs(600));
        settings.validate().unwrap();
    }

    #[track_caller]
    fn check_invalid(change: impl FnOnce(&mut Settings), expect_field: &str) {
        let mut settings = Settings::new("jobs", "workers", "host-1");
        change(&mut settings);
        match settings.validate() {
            Err(Error::InvalidSettings { field, .. }) => assert_eq!(field, expect_field),
            other => panic!("expected an invalid {expect_field}, got {other:?}"),
        }
    }

    #[test]
    fn empty_consumer() {
        check_invalid(|s| s.consumer.clear(), "consumer");
    }

    #[test]
    fn dead_letter_stream_equal_to_stream() {
        check_invalid(
            |s| s.dead_letter_stream = s.stream.clone(),
            "dead_letter_stream",
        );
    }

    #[test]
    fn zero_max_deliveries() {
        check_invalid(|s| s.max_deliveries = 0, "max_deliveries");
    }

    #[test]
    fn ttl_not_above_interval() {
        check_invalid(|s| s.heartbeat.ttl = s.heartbeat.interval, "heartbeat.ttl");
    }

    #[test]
    fn zero_block_timeout() {
        check_invalid(|s| s.block_timeout = Duration::ZERO, "block_timeout");
    }
}
