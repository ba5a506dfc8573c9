//! Test infrastructure for linbo-dc: real services started privately for each test, and a sandbox
//! DC directory with fake DC commands.
//!
//! Everything here is for tests only (`publish = false`, used as a dev-dependency). A test that needs
//! a service this crate starts **fails** with a message naming the Debian package to install when the
//! service's binary is missing; it never passes silently.
//!
//! * [`redis`]: a private `redis-server` on a free loopback port ([`RedisServer`]), with helpers to add
//!   stream entries and to inspect pending lists and the dead-letter stream; also TLS-only
//!   ([`RedisServer::start_tls`]) and with ACL users ([`RedisServer::add_acl_user`]).
//! * [`tls`]: a throwaway certificate authority ([`TestCa`]) made with `openssl` at run time
//!   (Debian package `openssl`), which signs server certificates for `127.0.0.1`.
//! * [`fake_api`]: a fake LINBO Docker internal API on a free loopback port ([`FakeApi`]) that
//!   records every request and fails, stalls or goes down on demand.
//!   It can re-enqueue retried operations in Redis as the real API does
//!   ([`forward_retries_to`](FakeApi::forward_retries_to)); [`fake_api::macct_operation`] and
//!   [`fake_api::provision_operation`] build the operations a test inserts.
//! * [`samba`]: a real Samba AD DC ([`SambaDc`]) provisioned into a temporary directory and bound
//!   to a loopback address of its own, one per test process ([`SambaDc::shared`]), with helpers
//!   to read and add computer objects and DNS records. It needs root and the Debian packages
//!   `samba`, `samba-ad-dc`, `samba-ad-provision` and `bind9-host`.
//! * [`sandbox`]: a sandbox DC root ([`SandboxDc`]) with the fake DC commands of
//!   `fixtures/fake-dc/` installed where linuxmuster keeps the real ones, for end-to-end tests of
//!   the worker and the DHCP hook; helpers to set the fakes' knobs and to inspect the AD, DNS and
//!   DHCP state and the calls the fakes recorded. It needs `python3` (Debian package `python3`).
//!   [`SandboxDc::with_samba`] wires it to a [`SambaDc`]: `samba-tool` is then the real
//!   program asking that DC, [`SandboxDc::dns_server`] that DC's DNS server, and the fake import syncs AD and DNS on it as sophomorix does.
//! * [`dns`]: a fake DNS server on a free loopback UDP port ([`FakeDns`]) answering A and PTR
//!   queries from a sandbox's fake DC state as the Samba DC's DNS server answers, and failing
//!   (SERVFAIL, REFUSED, slow, silent) on demand; [`SandboxDc::dns`] starts one for a sandbox.
#![deny(missing_docs)]

pub mod dns;
pub mod fake_api;
mod program;
pub mod redis;
pub mod samba;
pub mod sandbox;
pub mod tls;

pub use crate::dns::FakeDns;
pub use crate::fake_api::{FakeApi, RecordedRequest};
pub use crate::redis::{PendingEntry, PendingSummary, RedisServer, StreamEntry};
pub use crate::samba::SambaDc;
pub use crate::sandbox::SandboxDc;
pub use crate::tls::TestCa;
