//! The domain controller's side effects for linbo-dc, in one place: running external commands,
//! replacing files atomically, and the provisioning lock.
//!
//! * [`process::run`] is the **only** place in the workspace that spawns a process (clippy's
//!   `disallowed-methods` enforces it). Every call has an explicit argv (no shell), a timeout that
//!   kills the whole process group, bounded captured output, secrets redacted from logs and
//!   errors, and one `tracing` line with duration and exit status.
//! * [`atomic::replace_file`] writes a file so that readers and crashes see the old or the new
//!   version, never a mix, keeping mode, owner and (optionally) a backup.
//! * [`lock::ProvisionLock`] is the `flock` that serialises provisioning.
//! * One module per external command, each building its argv explicitly and parsing the output
//!   in a pure function tested against recorded output in `fixtures/cmd-output/`:
//!   [`dhcpd`] (`dhcpd -t`).
//!
//! ```
//! use std::time::Duration;
//! use dc_adapters::process::{CommandSpec, run};
//!
//! let output = run(&CommandSpec::new("/bin/echo").arg("hello").timeout(Duration::from_secs(5)))?;
//! assert!(output.success());
//! assert_eq!(output.stdout, "hello\n");
//! # Ok::<(), dc_adapters::Error>(())
//! ```
//!
//! # Limitations
//!
//! * Commands run on a thread each (blocking); async callers use `spawn_blocking`.
//! * A process that moves itself out of the command's process group (`setsid`) survives the
//!   timeout kill; its pipes are abandoned after [`process::KILL_GRACE`].
//! * Keeping the owner of a replaced file needs the privileges to `chown` to it (root on a DC).

#![deny(missing_docs)]

pub mod atomic;
pub mod dhcpd;
mod error;
pub mod lock;
pub mod process;

pub use error::{Error, Result};
