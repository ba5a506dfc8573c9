//! The domain controller's side effects for linbo-dc, in one place: running external commands,
//! replacing files atomically, the provisioning lock, and DNS lookups.
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
//!   [`dhcpd`] (`dhcpd -t`), [`import_devices`] (`linuxmuster-import-devices -s SCHOOL`),
//!   [`sophomorix_device`] (`sophomorix-device --dry-run`), [`repair_macct`]
//!   (`python3 repair_macct.py`), [`samba_tool`] (`samba-tool computer …`, `samba-tool dns
//!   delete`). Program paths and timeouts always come from the
//!   caller; a non-zero exit that the module understands becomes [`Error::CommandFailed`] (or a
//!   more precise variant) carrying the output lines that explain it, bounded (at most 20 lines
//!   of at most 300 characters).
//! * [`dns::Resolver`] asks the DC's DNS server for A and PTR records in process (asynchronous,
//!   no cache, one timeout per query), with the verdicts `host` gives for the same answers.
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
//! * Commands run on a thread each (blocking); async callers use `spawn_blocking`. DNS lookups
//!   are `async` and need a tokio runtime.
//! * A process that moves itself out of the command's process group (`setsid`) survives the
//!   timeout kill; its pipes are abandoned after [`process::KILL_GRACE`].
//! * Output scans match fixed substrings (`ERROR:`, `errors detected`, `Unable to find
//!   computer`, `NXDOMAIN`, ...) of the English messages; a localised or reworded tool defeats
//!   them. The samba-tool verdicts are tested on output recorded from a real Samba AD
//!   DC (samba-tool 4.17.12 and 4.22.6, bind9-host 9.18) and against a live DC
//!   (`dc_testkit::SambaDc`); the `import-devices`, `sophomorix-device` and `repair_macct`
//!   outputs are reconstructions.
//! * `sophomorix-device --dry-run` is assumed to take no school and to exit like `--sync`.
//! * Temporary samba password files go to the system temp directory unless
//!   [`samba_tool::SambaTool::temp_dir`] says otherwise; a kill -9 during a samba-tool call can
//!   leave one behind (0600, owned by the worker's user, named
//!   [`samba_tool::PASSWORD_FILE_PREFIX`]`…`).
//! * Redaction replaces every occurrence of a secret in captured output, so a very short samba
//!   password also masks unrelated text that happens to contain it.
//! * Keeping the owner of a replaced file needs the privileges to `chown` to it (root on a DC).

#![deny(missing_docs)]

mod argv;
pub mod atomic;
pub mod dhcpd;
pub mod dns;
mod error;
pub mod import_devices;
mod lines;
pub mod lock;
pub mod process;
pub mod repair_macct;
pub mod samba_tool;
pub mod sophomorix_device;

pub use error::{Error, Result};
