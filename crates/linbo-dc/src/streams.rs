//! The Redis names of LINBO Docker's job queue (SPEC §2.1, §6), in one place: the worker's
//! consumer and the operator's commands (`status`, `dlq`, `doctor`) take them from here.

/// The job stream LINBO Docker's API adds jobs to.
const JOB_STREAM: &str = "linbo:jobs";
/// The consumer group of the DC workers.
const GROUP: &str = "dc-workers";
/// The dead-letter stream; the API writes to it too, when it refuses a retry.
const DEAD_LETTER_STREAM: &str = "linbo:jobs:dlq";
/// The hash of attempts per entry.
const ATTEMPTS_KEY: &str = "linbo:jobs:attempts";
/// The heartbeat hashes are `linbo:workers:<consumer>`.
const HEARTBEAT_PREFIX: &str = "linbo:workers:";

/// job-stream's settings for consumer `consumer` with the names above and job-stream's other
/// defaults; the worker sets its numbers on top
/// ([`Worker::consumer_settings`](crate::worker::Worker::consumer_settings)).
///
/// ```
/// let names = linbo_dc::streams::consumer_settings("dc01");
/// assert_eq!(names.stream, "linbo:jobs");
/// assert_eq!(names.group, "dc-workers");
/// assert_eq!(names.dead_letter_stream, "linbo:jobs:dlq");
/// assert_eq!(names.attempts_key, "linbo:jobs:attempts");
/// assert_eq!(names.heartbeat_key(), "linbo:workers:dc01");
/// ```
pub fn consumer_settings(consumer: impl Into<String>) -> job_stream::Settings {
    let mut settings = job_stream::Settings::new(JOB_STREAM, GROUP, consumer);
    settings.dead_letter_stream = DEAD_LETTER_STREAM.to_owned();
    settings.attempts_key = ATTEMPTS_KEY.to_owned();
    settings.heartbeat.key_prefix = HEARTBEAT_PREFIX.to_owned();
    settings
}
