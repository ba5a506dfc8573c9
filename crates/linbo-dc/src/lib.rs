//! The linbo-dc application core, composed from the workspace's libraries.
//!
//! * Shared by both programs: configuration files parsed, never executed ([`conf_file`]),
//!   sandboxable paths and school names ([`paths`]), credentials that redact themselves
//!   ([`secret`]), and the DHCP post-import hook workflow ([`hook`]).
//! * The worker daemon ([`worker`]): its configuration ([`worker::config`]), the LINBO API
//!   client ([`worker::api`]), the durable outbox for status reports ([`worker::outbox`]),
//!   provisioning batches, the machine-account lane and verification.
//! * Around the worker: its Redis client with TLS and ACL users and the check at start
//!   ([`redis_link`]), the Redis names of LINBO Docker's job queue ([`streams`]), the lock that
//!   keeps it to one worker per `STATE_DIR` ([`instance`]), the operator's commands `status` and
//!   `dlq` ([`ops`]) and `doctor` ([`doctor`]).
//!
//! Binaries in `bins/` are wiring only: they read arguments and the environment, call into this
//! crate, and turn its reports into exit codes.
//!
//! ```
//! use linbo_dc::hook::managed_host_blocks;
//! use linbo_dc::paths::School;
//!
//! let delta = "# managed-by: linbo-docker — DO NOT EDIT MANUALLY\n\
//!              r100;R100-PC01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;;;1;;;;\n\
//!              r100;r100-pr01;nopxe;00:1A:2B:3C:4D:02;10.0.100.2;;;;printer;;0;;;;\n";
//! let managed = managed_host_blocks(delta, &School::default_school());
//! assert!(managed.contains("r100-pc01"));
//! assert!(!managed.contains("r100-pr01"), "PXE flag 0: not booted by LINBO");
//! // Outside default-school linuxmuster names the block `<school>-<host>`.
//! let gym: School = "gym".parse().expect("a valid school name");
//! assert!(managed_host_blocks(delta, &gym).contains("gym-r100-pc01"));
//! ```
//!
//! # Limitations
//!
//! * The hook matches DHCP host blocks by the exact name linuxmuster gives them (`<school>-<host>`
//!   outside default-school, case-insensitive); a block named differently (hand-written aliases)
//!   is not patched.
//! * Log timestamps are UTC.
//! * After a failed import the worker restores both device files and imports them once more; when
//!   that import fails too, AD/DNS/DHCP keep whatever the failed import changed until the next
//!   successful one.
//! * A batch journal records final reports, not whether they were sent: a worker killed between
//!   a batch's reports and their acknowledgement sends the same final reports again after the
//!   restart (same status, never a different one).
//! * Other schools are found as directories of `/etc/linuxmuster/sophomorix/`; their files are
//!   read for MAC/IP conflicts on every batch.

#![deny(missing_docs)]

pub mod conf_file;
pub mod doctor;
pub mod hook;
pub mod instance;
pub mod ops;
pub mod paths;
pub mod redis_link;
pub mod secret;
pub mod streams;
pub mod worker;
