//! Integration tests of the job-stream runtime against a real, private redis-server per test
//! (`support::Fixture`).

mod batching;
mod dead_letter;
mod lifecycle;
mod order;
mod outage;
mod replay;
mod retention;
mod retries;
mod support;
