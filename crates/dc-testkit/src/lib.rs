//! Test infrastructure for linbo-dc: real services started privately for each test.
//!
//! Everything here is for tests only (`publish = false`, used as a dev-dependency). A test that needs
//! a service this crate starts **fails** with a message naming the Debian package to install when the
//! service's binary is missing; it never passes silently.
//!
//! * [`redis`]: a private `redis-server` on a free loopback port ([`RedisServer`]), with helpers to add
//!   stream entries and to inspect pending lists and the dead-letter stream.
//! * [`fake_api`]: a fake LINBO Docker internal API on a free loopback port ([`FakeApi`]) that
//!   records every request and fails, stalls or goes down on demand.
//!
//! Planned additions by other work: a sandbox DC directory.
#![deny(missing_docs)]

pub mod fake_api;
pub mod redis;

pub use crate::fake_api::{FakeApi, RecordedRequest};
pub use crate::redis::{PendingEntry, PendingSummary, RedisServer, StreamEntry};
