//! The `devices.csv` of linuxmuster.net: a lossless file model, typed and validated columns, delta
//! operations and the merge engine LINBO Docker's DC worker uses to provision hosts.
//!
//! `devices.csv` is the `;`-separated, 15-column device list that `linuxmuster-import-devices`
//! turns into AD computer accounts, DNS records and DHCP host blocks. The LINBO Docker worker owns
//! a *delta* file with one canonical line per host it manages and merges it into the
//! administrator's *master* file. This crate does that merge as a pure function, with no I/O:
//!
//! * [`DevicesFile`] parses any text into classified lines (blank, comment, record, malformed)
//!   and writes it back byte for byte.
//! * [`Device`] is one validated 15-column line; [`Mac`], [`Ip`], [`Role`], [`PxeFlag`],
//!   [`Hostname`], [`Room`] and [`Group`] enforce the rules of sophomorix, the import and the
//!   web UI, and every refusal is a [`FieldError`] naming line, field, value and rule.
//! * [`Job`] is a delta operation (create/update = upsert, rename via `old_hostname`, delete).
//! * [`merge()`] applies jobs in stream order and returns the new master and delta, one
//!   [`JobOutcome`] per job, [`MergeStats`] and a unified diff. An applied job carries the
//!   [`HostFacts`] of the line it wrote and, for a delete or rename, the [`Previous`] host as the
//!   files had it before the batch (AD/DNS name, role, fixed IP, PXE flag): what a caller
//!   verifying the import needs, without parsing the files again.
//!
//! # Example
//!
//! ```
//! use devices_csv::{Change, HostSpec, Job, JobOutcome, MergeOptions, merge};
//!
//! let master = "# room;host;group;mac;ip;;;;;;pxe\n\
//!               r100;pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;teacher;;1;;;;note;\n";
//! let jobs = [
//!     // Move pc01 to another group; its role and comment stay as the administrator wrote them.
//!     Job::upsert(HostSpec {
//!         hostname: "PC01".into(),
//!         room: "r100".into(),
//!         group: "ubuntu".into(),
//!         mac: "00-1a-2b-3c-4d-01".into(),
//!         ip: "10.0.100.1".into(),
//!         ..HostSpec::default()
//!     }),
//!     // A second host with pc01's MAC is refused; the first job still lands.
//!     Job::upsert(HostSpec {
//!         hostname: "pc02".into(),
//!         mac: "001A2B3C4D01".into(),
//!         ..HostSpec::default()
//!     }),
//! ];
//! let output = merge(master, "", &[], &jobs, &MergeOptions::default());
//!
//! assert!(matches!(output.outcomes[0], JobOutcome::Applied { change: Change::Updated, .. }));
//! let JobOutcome::Rejected(problem) = &output.outcomes[1] else { panic!("pc02 must be refused") };
//! assert_eq!(
//!     problem.to_string(),
//!     "MAC 00:1A:2B:3C:4D:01 is already used by host pc01 (devices.csv line 2)"
//! );
//! assert_eq!(
//!     output.master,
//!     "# room;host;group;mac;ip;;;;;;pxe\n\
//!      r100;pc01;ubuntu;00:1A:2B:3C:4D:01;10.0.100.1;;;;teacher;;1;;;;note;\n"
//! );
//! assert_eq!(
//!     output.delta,
//!     "# managed-by: linbo-docker — DO NOT EDIT MANUALLY\n\
//!      r100;pc01;ubuntu;00:1A:2B:3C:4D:01;10.0.100.1;;;;;;1;;;;\n"
//! );
//! assert!(output.diff.contains("-r100;pc01;win11;"));
//! ```
//!
//! # Value rules (SPEC §4)
//!
//! * hostname: 1–15 characters of `A-Z a-z 0-9 -`, not starting or ending with `-`; written
//!   lowercase and compared case-insensitively;
//! * room: one or more characters of `A-Z a-z 0-9 -`, **the first a letter or digit** —
//!   linuxmuster-import-devices skips every line whose room starts otherwise, so the host would
//!   get AD/DNS entries from sophomorix but no DHCP block and no LINBO links; empty → the
//!   default room ([`MergeOptions::default_room`]);
//! * device group: one or more characters of `A-Z a-z 0-9 _ -`; empty → `nopxe`;
//! * MAC: `aa:bb:..`, `aa-bb-..` or 12 hex digits; written `AA:BB:CC:DD:EE:FF`;
//! * IP: empty or `DHCP` → `DHCP`, else a strict dotted quad with first and last octet 1–254;
//! * role: empty (keep the host's role) or one of the fifteen sophomorix roles ([`Role::ALL`]);
//! * PXE flag: 0–3, absent → 1;
//! * no value may contain `;`, CR, LF or NUL.
//!
//! # Merge rules (SPEC §5)
//!
//! A master line whose hostname (case-insensitive) is in the delta gets the managed columns
//! 0, 1, 2, 3, 4 and 10 from the delta, and column 8 when the delta has a role; every other field
//! and the line ending stay as written. Master lines not in the delta, comments, blank lines and
//! malformed lines are copied byte for byte. Delta hosts missing from the master are appended,
//! padded with empty fields to the widest master line. Deleted hosts are removed from both files.
//! The merge of the whole delta is repeated on every call, so a master that lost a managed line
//! (an interrupted write, a manual edit) is repaired by the next batch.
//!
//! A job is refused — and changes nothing — when a value breaks a rule, when its MAC or fixed IP
//! is used by another host of the merged view or of another school, when its AD/DNS name is that
//! of a host of another school, when a rename's new name belongs to another host, or when its
//! hostname only exists on a malformed master line. AD/DNS names are what sophomorix makes of the
//! hostname: `<school>-<host>` outside default-school, the bare `<host>` in default-school
//! ([`MergeOptions::school`] says which school the master belongs to). sophomorix-device reads
//! every school's file and stops at a name used twice, so default-school's `gym-pc01` and
//! school `gym`'s `pc01` collide. Jobs see
//! the effects of earlier jobs in the batch: create then delete leaves the host absent, delete then
//! create leaves it present (as a new line at the end).
//!
//! # Limitations
//!
//! * A host written twice in the master (same hostname on two lines) is one host: both lines are
//!   patched alike, and conflicts are checked with the first line's MAC and IP.
//! * Conflicts already present in the input (two admin-managed hosts sharing a MAC) are not
//!   reported; only the values a job writes are checked.
//! * Delta lines that are not valid canonical lines are kept as they are, not merged, and listed
//!   in [`MergeOutput::ignored_delta_lines`].
//! * Appended lines end with LF unless every master line ends with CRLF; a master whose last
//!   line has no line ending gets one when lines are appended after it.
//! * A dry-run job renders the whole master twice to build its diff (linear in the file size).
//! * Text must be UTF-8; reading bytes and reporting invalid UTF-8 is the caller's job.

#![deny(missing_docs)]

mod device;
mod diff;
mod error;
mod file;
mod host;
mod job;
mod merge;
mod others;
mod undo;
mod value;

pub use device::Device;
pub use error::{
    Conflict, ConflictKind, Error, Field, FieldError, Location, Refusal, RefusalReason, Result,
    Rule,
};
pub use file::{CANONICAL_FIELDS, DevicesFile, Line, LineKind, MIN_FIELDS, Record};
pub use host::{HostFacts, Previous};
pub use job::{Action, DELTA_HEADER, HostSpec, Job, MAX_GROUP_LEN, MAX_ROOM_LEN, Operation};
pub use merge::{
    Change, DryRun, JobOutcome, MergeOptions, MergeOutput, MergeStats, OtherSchool, merge,
    merge_indexed,
};
pub use others::SchoolIndex;
pub use undo::{UndoConflict, undo};
pub use value::{Group, Hostname, Ip, Mac, PxeFlag, Role, Room};
