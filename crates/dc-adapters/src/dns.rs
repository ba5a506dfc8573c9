//! DNS lookups for provisioning's verification: what a lookup found ([`Answer`]), and the lookups
//! through `host` ([`host`]).

pub mod host;

/// The `host`-based lookups the worker calls; see [`host`].
pub use host::{lookup_a, lookup_ptr};

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The records' data: addresses for A, names (without the trailing dot) for PTR.
    Found(Vec<String>),
    /// NXDOMAIN, or the name exists without a record of this type.
    NotFound,
}
