//! Test infrastructure for linbo-dc: real services started privately for each test.
//!
//! Everything here is for tests only (`publish = false`, used as a dev-dependency). A test that needs
//! a service this crate starts **fails** with a message naming the Debian package to install when the
//! service's binary is missing; it never passes silently.
//!
//! * [`redis`]: a private `redis-server` on a free loopback port ([`RedisServer`]), with helpers to add
//!   stream entries and to inspect pending lists and the dead-letter stream.
//!
//! Planned additions by other work: a fake LINBO API HTTP server and a sandbox DC directory.
#![deny(missing_docs)]

pub mod redis;

pub use crate::redis::{PendingEntry, PendingSummary, RedisServer, StreamEntry};
