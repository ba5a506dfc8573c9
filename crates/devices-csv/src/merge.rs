//! The merge engine: a pure function from (master text, delta text, other schools' files, jobs in
//! stream order) to (new master, new delta, per-job outcome, merge statistics, unified diff).
//!
//! The engine keeps one entry per host of the merged view (master hosts with the delta's managed
//! columns applied), indexed by hostname, MAC and fixed IP, so each job is checked and applied in
//! constant time. The other schools' files are indexed by MAC, fixed IP and AD/DNS name (the
//! hostname, `<school>-` prefixed outside default-school), again only for the values the jobs
//! use. Files are written once at the end from the original lines: a line no job touched is
//! copied byte for byte.

use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::collections::{HashMap as StdHashMap, HashSet as StdHashSet};
use std::hash::Hash;
use std::net::Ipv4Addr;

use foldhash::fast::RandomState;

use crate::device::Device;
use crate::diff::{self, Edit};
use crate::error::{Conflict, ConflictKind, Error, FieldError, Location, Refusal, RefusalReason};
use crate::file::{CANONICAL_FIELDS, DevicesFile, Line, LineKind, Record};
use crate::host::{DEFAULT_SCHOOL, HostFacts, Previous, dns_name, dns_prefix};
use crate::job::{DELTA_HEADER, DELTA_HEADER_PREFIX, Job, Operation};
use crate::others::{OtherIndex, SchoolIndex};
use crate::value::{Hostname, Ip, Mac, Room};

/// The maps of the merged view hold one key per master line and are built on every batch; foldhash
/// (hashbrown's own default hasher, randomly seeded) hashes these short keys several times faster
/// than SipHash.
type HashMap<K, V> = StdHashMap<K, V, RandomState>;
type HashSet<T> = StdHashSet<T, RandomState>;

/// Settings of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOptions {
    /// The school whose master and delta are merged (default `default-school`). Outside
    /// default-school, AD and DNS names carry a `<school>-` prefix, which the check against the
    /// other schools' host names needs.
    pub school: String,
    /// The room for jobs without one (`DEFAULT_ROOM`, default `unknown`).
    pub default_room: Room,
    /// Whether to build [`MergeOutput::diff`] (costs time on large files).
    pub diff: bool,
    /// The file name shown in diff headers.
    pub file_name: String,
    /// Host names no job may change besides the lines with role `server` or `addc`: the DC's own
    /// name (linuxmuster's `setup.ini` `servername`). Compared case-insensitively.
    pub protected_hosts: Vec<String>,
    /// Whether jobs may adopt hosts the administrator manages by hand (in the master, not in the
    /// delta): delete them, rename them, or take them over for another MAC. Default `false`: a
    /// job then adopts a hand-made host only by an update of the same device (same MAC).
    pub adopt_manual_hosts: bool,
}

impl Default for MergeOptions {
    fn default() -> MergeOptions {
        MergeOptions {
            school: DEFAULT_SCHOOL.to_owned(),
            default_room: "unknown".parse().expect("`unknown` is a valid room"),
            diff: true,
            file_name: "devices.csv".to_owned(),
            protected_hosts: Vec::new(),
            adopt_manual_hosts: false,
        }
    }
}

/// Another school's devices file, read only: its MACs, fixed IPs and AD/DNS names may not be
/// reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherSchool<'a> {
    /// The school's name, used in conflict messages and for the `<school>-` prefix of its hosts'
    /// AD/DNS names (none for `default-school`).
    pub school: &'a str,
    /// The file's text.
    pub devices: &'a str,
}

/// Everything a merge produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOutput {
    /// The new master devices.csv.
    pub master: String,
    /// The new delta file.
    pub delta: String,
    /// One outcome per job, in job order.
    pub outcomes: Vec<JobOutcome>,
    /// Line counts (SPEC §2.2 `mergeStats`).
    pub stats: MergeStats,
    /// Unified diff from the old to the new master; empty when unchanged or not requested.
    pub diff: String,
    /// Delta lines that are not valid canonical lines: kept as they are and not merged.
    pub ignored_delta_lines: Vec<FieldError>,
}

impl MergeOutput {
    /// Whether the master or delta text differs from the input.
    pub fn changed(&self, master: &str, delta: &str) -> bool {
        self.master != master || self.delta != delta
    }
}

/// Line counts of a merge, reported to the API as `mergeStats`. All counts are host records:
/// comment, blank and malformed lines are not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MergeStats {
    /// Records in the master before the merge.
    pub total_master_lines: usize,
    /// Records in the new delta.
    pub total_delta_lines: usize,
    /// Records in the new master.
    pub total_merged_lines: usize,
    /// Master records removed.
    pub deleted_hosts: usize,
    /// Jobs in the batch.
    pub batch_size: usize,
}

/// What happened to one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    /// The job was valid and conflict-free; for a dry run, nothing was written.
    Applied {
        /// What the job did to the merged view.
        change: Change,
        /// For dry-run jobs: what the job would change.
        dry_run: Option<DryRun>,
        /// The host as the job left it (its line in the new master): every change but
        /// [`Change::Deleted`] and [`Change::AlreadyAbsent`].
        written: Option<HostFacts>,
        /// For a delete, the host it names; for a rename, the old name (also when an earlier
        /// run carried the rename out already and the merge sees an update), each with the
        /// facts the files had before the batch.
        previous: Option<Previous>,
    },
    /// The job was refused; its change is not in the output.
    Rejected(Error),
}

/// What an applied job did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A new host.
    Created,
    /// An existing host got new managed columns (or became managed).
    Updated,
    /// The host already had exactly these values.
    Unchanged,
    /// The host was renamed (and possibly updated).
    Renamed {
        /// The previous name.
        from: Hostname,
    },
    /// The host was removed.
    Deleted,
    /// A delete for a host that does not exist.
    AlreadyAbsent,
}

/// The evaluation of a dry-run job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    /// Unified diff of the master if this job were applied at its place in the batch.
    pub diff: String,
    /// Line counts if it were applied.
    pub stats: MergeStats,
}

/// Applies `jobs` in order to the merged view of `master` and `delta` and writes both files anew.
///
/// Each job is validated and checked for hostname, MAC and fixed-IP conflicts against every other
/// host of the merged view (including hosts created earlier in the batch) and for AD/DNS name,
/// MAC and fixed-IP conflicts against `other_schools`. sophomorix-device reads every school's file
/// and refuses an AD/DNS name used twice, so default-school's `gym-pc01` collides with `pc01` of
/// school `gym` ([`MergeOptions::school`] says which school `master` belongs to). A refused job
/// changes nothing; the others proceed. Dry-run jobs are evaluated at their place in the batch
/// and never written.
pub fn merge(
    master: &str,
    delta: &str,
    other_schools: &[OtherSchool<'_>],
    jobs: &[Job],
    options: &MergeOptions,
) -> MergeOutput {
    merge_with(master, delta, jobs, options, |interest| {
        OtherIndex::from_texts(other_schools, interest)
    })
}

/// [`merge`] with the other schools' files indexed beforehand ([`SchoolIndex::build`], once per
/// version of a file): the same result without reading every other school's file again.
pub fn merge_indexed(
    master: &str,
    delta: &str,
    other_schools: &[&SchoolIndex],
    jobs: &[Job],
    options: &MergeOptions,
) -> MergeOutput {
    merge_with(master, delta, jobs, options, |interest| {
        OtherIndex::from_indexes(other_schools, interest)
    })
}

/// The merge, with the other schools' values the jobs use from `others`.
fn merge_with(
    master: &str,
    delta: &str,
    jobs: &[Job],
    options: &MergeOptions,
    others: impl FnOnce(&Interest) -> OtherIndex,
) -> MergeOutput {
    let operations: Vec<Result<Operation, FieldError>> = jobs
        .iter()
        .map(|job| job.validate(&options.default_room))
        .collect();
    let interest = Interest::new(
        operations
            .iter()
            .filter_map(|operation| operation.as_ref().ok()),
        &dns_prefix(&options.school),
    );
    let master_file = DevicesFile::parse(master);
    let delta_file = DevicesFile::parse(delta);
    let others = others(&interest);
    let (mut view, ignored_delta_lines) = View::load(&master_file, &delta_file, &interest);
    let guard = Guard::new(options);

    let mut outcomes = Vec::with_capacity(jobs.len());
    for (index, (job, operation)) in jobs.iter().zip(operations).enumerate() {
        let operation = match operation {
            Ok(operation) => operation,
            Err(problem) => {
                outcomes.push(JobOutcome::Rejected(problem.into()));
                continue;
            }
        };
        let outcome = if job.dry_run {
            let mut trial = view.clone();
            match trial.apply(index, &operation, &others, &guard) {
                Ok(Applied {
                    change,
                    written,
                    previous,
                }) => {
                    let before = view.render_master(jobs.len());
                    let after = trial.render_master(jobs.len());
                    let dry_run = DryRun {
                        diff: diff::unified_texts(&options.file_name, &before.text, &after.text),
                        stats: after.stats,
                    };
                    JobOutcome::Applied {
                        change,
                        dry_run: Some(dry_run),
                        written,
                        previous,
                    }
                }
                Err(problem) => JobOutcome::Rejected(problem),
            }
        } else {
            match view.apply(index, &operation, &others, &guard) {
                Ok(Applied {
                    change,
                    written,
                    previous,
                }) => JobOutcome::Applied {
                    change,
                    dry_run: None,
                    written,
                    previous,
                },
                Err(problem) => JobOutcome::Rejected(problem),
            }
        };
        outcomes.push(outcome);
    }

    let master_out = view.render_master(jobs.len());
    let diff = if options.diff {
        diff::unified(&options.file_name, &master_out.edits(master_file.lines()))
    } else {
        String::new()
    };
    let (delta_text, delta_records) = view.render_delta();
    let mut stats = master_out.stats;
    stats.total_delta_lines = delta_records;
    MergeOutput {
        master: master_out.text,
        delta: delta_text,
        outcomes,
        stats,
        diff,
        ignored_delta_lines,
    }
}

/// Roles of the DC and other servers: jobs never change their lines.
const PROTECTED_ROLES: [&str; 2] = ["server", "addc"];

/// Which hosts jobs may change, from [`MergeOptions`].
#[derive(Debug)]
struct Guard {
    /// Lowercase names no job may change.
    protected: HashSet<String>,
    adopt_manual_hosts: bool,
    school: String,
}

impl Guard {
    fn new(options: &MergeOptions) -> Guard {
        Guard {
            protected: options
                .protected_hosts
                .iter()
                .map(|name| name.trim().to_ascii_lowercase())
                .filter(|name| !name.is_empty())
                .collect(),
            adopt_manual_hosts: options.adopt_manual_hosts,
            school: options.school.clone(),
        }
    }
}

/// A MAC as the index compares it: its six bytes in one word.
pub(crate) fn mac_key(mac: Mac) -> u64 {
    let [a, b, c, d, e, f] = mac.octets();
    u64::from_le_bytes([a, b, c, d, e, f, 0, 0])
}

/// What a batch can ask the merged view about: the hostnames, MACs and fixed IPs its jobs name.
/// Conflict checks only ever look up these values, so the view indexes only hosts that have one
/// of them (and the delta's hosts); the other master lines are copied without being looked at
/// twice. A 100,000-line master then costs one pass, not 100,000 index entries.
#[derive(Debug, Default)]
pub(crate) struct Interest {
    names: HashSet<String>,
    pub(crate) macs: HashSet<u64>,
    pub(crate) ips: HashSet<Ipv4Addr>,
    /// The AD/DNS names the jobs would write: checked against the other schools only.
    pub(crate) dns_names: HashSet<String>,
    /// The old names of renames: looked up in the other schools for the refusal message.
    pub(crate) old_names: HashSet<String>,
    /// The `<school>-` prefix of this school's AD/DNS names (empty in default-school).
    pub(crate) dns_prefix: String,
}

impl Interest {
    fn new<'o>(operations: impl Iterator<Item = &'o Operation>, dns_prefix: &str) -> Interest {
        let mut interest = Interest {
            dns_prefix: dns_prefix.to_owned(),
            ..Interest::default()
        };
        for operation in operations {
            match operation {
                Operation::Delete { hostname } => {
                    interest.names.insert(hostname.as_str().to_owned());
                }
                Operation::Upsert {
                    device,
                    old_hostname,
                } => {
                    interest.names.insert(device.hostname.as_str().to_owned());
                    // The old name of a rename is not written, so only the new one can collide.
                    let name = dns_name(&interest.dns_prefix, &device.hostname);
                    interest.dns_names.insert(name);
                    if let Some(old) = old_hostname {
                        interest.names.insert(old.as_str().to_owned());
                        interest.old_names.insert(old.as_str().to_owned());
                    }
                    interest.macs.insert(mac_key(device.mac));
                    interest.ips.extend(device.ip.fixed());
                }
            }
        }
        interest
    }

    /// The MAC of a written value, if it parses and a job uses it.
    pub(crate) fn mac(&self, value: &str) -> Option<u64> {
        let mac = mac_key(value.parse().ok()?);
        self.macs.contains(&mac).then_some(mac)
    }

    /// The fixed IP of a written value, if it parses and a job uses it.
    pub(crate) fn ip(&self, value: &str) -> Option<Ipv4Addr> {
        let ip = value.parse::<Ip>().ok()?.fixed()?;
        self.ips.contains(&ip).then_some(ip)
    }
}

/// The hosts that use each MAC or IP: one id, occasionally more (conflicts already in the input).
#[derive(Debug, Clone)]
enum Owners {
    One(u32),
    Many(Vec<u32>),
}

impl Owners {
    /// Records `id` as a user of `key`.
    fn add<K: Hash + Eq>(index: &mut HashMap<K, Owners>, key: K, id: u32) {
        match index.entry(key) {
            Entry::Vacant(vacant) => {
                vacant.insert(Owners::One(id));
            }
            Entry::Occupied(mut occupied) => {
                let owners = occupied.get_mut();
                match owners {
                    Owners::One(first) => *owners = Owners::Many(vec![*first, id]),
                    Owners::Many(ids) => ids.push(id),
                }
            }
        }
    }

    /// Forgets `id` as a user of `key`; the key goes when nobody uses it.
    fn remove<K: Hash + Eq>(index: &mut HashMap<K, Owners>, key: K, id: u32) {
        let Entry::Occupied(mut occupied) = index.entry(key) else {
            return;
        };
        let now_unused = match occupied.get_mut() {
            Owners::One(only) => *only == id,
            Owners::Many(ids) => {
                ids.retain(|&other| other != id);
                ids.is_empty()
            }
        };
        if now_unused {
            occupied.remove();
        }
    }

    /// An owner other than `id`.
    fn other_than(&self, id: Option<u32>) -> Option<u32> {
        match self {
            Owners::One(only) => (Some(*only) != id).then_some(*only),
            Owners::Many(ids) => ids.iter().copied().find(|&other| Some(other) != id),
        }
    }
}

/// Where a host of the view comes from, for conflict messages (compact: one per tracked host).
#[derive(Debug, Clone, Copy)]
enum Origin {
    Master(u32),
    Delta(u32),
    Batch(u32),
}

impl Origin {
    fn location(self) -> Location {
        match self {
            Origin::Master(line) => Location::Master {
                line: line as usize,
            },
            Origin::Delta(line) => Location::Delta {
                line: line as usize,
            },
            Origin::Batch(job) => Location::Batch { job: job as usize },
        }
    }
}

/// One host of the merged view.
#[derive(Debug, Clone)]
struct Host {
    /// Indices of the master lines of this host (more than one only if the administrator wrote
    /// the host twice).
    master_lines: Vec<u32>,
    /// The managed columns from the delta, if the host is managed.
    managed: Option<Box<Device>>,
    /// Index of the delta line this host owns.
    delta_line: Option<u32>,
    /// Whether the delta line must be rewritten.
    delta_dirty: bool,
    /// False once deleted; the host then only keeps its slot.
    present: bool,
    /// The MAC and IP under which the host is indexed (only values some job uses).
    mac: Option<u64>,
    ip: Option<Ipv4Addr>,
    origin: Origin,
}

/// What becomes of a master line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MasterLine {
    /// Not a record, or the record of a host no job and no delta line concerns: copied.
    Untouched,
    /// The record of a tracked host: patched when the host is managed.
    Host(u32),
    /// The record of a deleted host: dropped.
    Removed,
}

/// What becomes of a delta line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeltaLine {
    /// Not a valid record: copied as it is.
    Raw,
    /// The line of a managed host.
    Host(u32),
    /// An earlier duplicate of a host written again further down: dropped.
    Superseded,
}

/// The merged view: tracked hosts, their indexes, and which output line each comes from.
#[derive(Debug, Clone)]
struct View<'f, 'a> {
    master: &'f DevicesFile<'a>,
    delta: &'f DevicesFile<'a>,
    hosts: Vec<Host>,
    /// Lowercase hostname → host; names from the master are borrowed from its text.
    by_name: HashMap<Cow<'a, str>, u32>,
    by_mac: HashMap<u64, Owners>,
    by_ip: HashMap<Ipv4Addr, Owners>,
    /// Job hostnames found only on malformed master lines: a job may not create them again.
    malformed_names: HashMap<String, usize>,
    master_lines: Vec<MasterLine>,
    delta_lines: Vec<DeltaLine>,
    /// Hosts that may need a line appended to the master / delta, in order of creation.
    master_appends: Vec<u32>,
    delta_appends: Vec<u32>,
    /// The widest master record, in fields: appended lines are padded to it.
    widest: usize,
    /// The line ending for appended lines: CRLF only when every master line uses it.
    new_line_ending: &'static str,
    /// Lowercase hostname → its first master line and its delta line, as loaded: the hosts
    /// before the batch, for [`Previous::before`].
    before: HashMap<Cow<'a, str>, (Option<u32>, Option<u32>)>,
    /// The `<school>-` prefix of this school's AD/DNS names (empty in default-school).
    dns_prefix: String,
}

/// What an applied job did, and the hosts it concerns (see [`JobOutcome::Applied`]).
struct Applied {
    change: Change,
    written: Option<HostFacts>,
    previous: Option<Previous>,
}

impl<'f, 'a> View<'f, 'a> {
    fn load(
        master: &'f DevicesFile<'a>,
        delta: &'f DevicesFile<'a>,
        interest: &Interest,
    ) -> (View<'f, 'a>, Vec<FieldError>) {
        let n_lines = master.lines().len();
        let all_crlf = n_lines > 0 && master.lines().iter().all(|l| l.ending() == "\r\n");
        let mut view = View {
            master,
            delta,
            hosts: Vec::new(),
            by_name: HashMap::default(),
            by_mac: HashMap::default(),
            by_ip: HashMap::default(),
            malformed_names: HashMap::default(),
            master_lines: vec![MasterLine::Untouched; n_lines],
            delta_lines: vec![DeltaLine::Raw; delta.lines().len()],
            master_appends: Vec::new(),
            delta_appends: Vec::new(),
            widest: CANONICAL_FIELDS,
            new_line_ending: if all_crlf { "\r\n" } else { "\n" },
            before: HashMap::default(),
            dns_prefix: interest.dns_prefix.clone(),
        };
        // The delta first: its hosts are tracked whatever the jobs say.
        let mut ignored = Vec::new();
        for (index, line) in delta.lines().iter().enumerate() {
            match &line.kind {
                LineKind::Record(record) => {
                    let fields: Vec<&str> = record.fields().collect();
                    match Device::from_fields(&fields, Some(line.number)) {
                        Ok(device) => view.load_delta_line(index, line, device),
                        Err(problem) => ignored.push(problem),
                    }
                }
                LineKind::Malformed(problem) => ignored.push(problem.clone()),
                LineKind::Blank | LineKind::Comment => {}
            }
        }
        for (index, line) in master.lines().iter().enumerate() {
            match &line.kind {
                LineKind::Record(record) => {
                    view.widest = view.widest.max(record.len());
                    let name = record.hostname_key();
                    let tracked = view.by_name.contains_key(name.as_ref())
                        || interest.names.contains(name.as_ref())
                        || {
                            let mut fields = record.fields().skip(3);
                            let mac = fields.next().and_then(|value| interest.mac(value));
                            let ip = fields.next().and_then(|value| interest.ip(value));
                            mac.is_some() || ip.is_some()
                        };
                    if tracked {
                        let origin = Origin::Master(line.number as u32);
                        let id = view.host_for(name, origin);
                        let host = &mut view.hosts[id as usize];
                        if host.master_lines.is_empty() {
                            // A delta host found in the master is reported by its master line.
                            host.origin = origin;
                        }
                        host.master_lines.push(index as u32);
                        view.master_lines[index] = MasterLine::Host(id);
                    }
                }
                LineKind::Malformed(_) => {
                    if let Some(name) = line.content().split(';').nth(1).map(str::trim_ascii)
                        && !name.is_empty()
                        && interest.names.contains(&name.to_ascii_lowercase())
                    {
                        view.malformed_names
                            .entry(name.to_ascii_lowercase())
                            .or_insert(line.number);
                    }
                }
                LineKind::Blank | LineKind::Comment => {}
            }
        }
        for id in 0..view.hosts.len() as u32 {
            if view.hosts[id as usize].master_lines.is_empty() {
                view.master_appends.push(id);
            }
            view.index(id, interest);
        }
        view.before = view
            .by_name
            .iter()
            .map(|(name, &id)| {
                let host = &view.hosts[id as usize];
                (
                    name.clone(),
                    (host.master_lines.first().copied(), host.delta_line),
                )
            })
            .collect();
        (view, ignored)
    }

    fn load_delta_line(&mut self, index: usize, line: &Line<'a>, device: Device) {
        let name = Cow::Owned(device.hostname.as_str().to_owned());
        let id = self.host_for(name, Origin::Delta(line.number as u32));
        let host = &mut self.hosts[id as usize];
        if let Some(previous) = host.delta_line.replace(index as u32) {
            self.delta_lines[previous as usize] = DeltaLine::Superseded;
        }
        host.managed = Some(Box::new(device));
        self.delta_lines[index] = DeltaLine::Host(id);
    }

    /// The host named `name`, created with `origin` when new.
    fn host_for(&mut self, name: Cow<'a, str>, origin: Origin) -> u32 {
        let id = self.hosts.len() as u32;
        match self.by_name.entry(name) {
            Entry::Occupied(existing) => return *existing.get(),
            Entry::Vacant(vacant) => vacant.insert(id),
        };
        self.hosts.push(Host {
            master_lines: Vec::new(),
            managed: None,
            delta_line: None,
            delta_dirty: false,
            present: true,
            mac: None,
            ip: None,
            origin,
        });
        id
    }

    /// The first master record of a host.
    fn master_record(&self, id: u32) -> Option<&'f Record<'a>> {
        let index = *self.hosts[id as usize].master_lines.first()?;
        self.master.lines()[index as usize].record()
    }

    /// The hostname key of a host: the managed name, else the master's.
    fn name(&self, id: u32) -> String {
        match &self.hosts[id as usize].managed {
            Some(device) => device.hostname.as_str().to_owned(),
            None => self
                .master_record(id)
                .map(|record| record.hostname_key().into_owned())
                .unwrap_or_default(),
        }
    }

    /// Indexes a host under its MAC and IP as the merged view shows them, when a job uses them.
    fn index(&mut self, id: u32, interest: &Interest) {
        let (mac, ip) = match &self.hosts[id as usize].managed {
            Some(device) => (
                Some(mac_key(device.mac)).filter(|mac| interest.macs.contains(mac)),
                device.ip.fixed().filter(|ip| interest.ips.contains(ip)),
            ),
            None => match self.master_record(id) {
                Some(record) => {
                    let mut fields = record.fields().skip(3);
                    let mac = fields.next().and_then(|value| interest.mac(value));
                    (mac, fields.next().and_then(|value| interest.ip(value)))
                }
                None => (None, None),
            },
        };
        self.index_as(id, mac, ip);
    }

    fn index_as(&mut self, id: u32, mac: Option<u64>, ip: Option<Ipv4Addr>) {
        if let Some(mac) = mac {
            Owners::add(&mut self.by_mac, mac, id);
        }
        if let Some(ip) = ip {
            Owners::add(&mut self.by_ip, ip, id);
        }
        let host = &mut self.hosts[id as usize];
        host.mac = mac;
        host.ip = ip;
    }

    fn unindex(&mut self, id: u32) {
        let host = &mut self.hosts[id as usize];
        if let Some(mac) = host.mac.take() {
            Owners::remove(&mut self.by_mac, mac, id);
        }
        if let Some(ip) = host.ip.take() {
            Owners::remove(&mut self.by_ip, ip, id);
        }
    }

    fn conflict(&self, kind: ConflictKind, value: String, other: u32) -> Error {
        Conflict {
            kind,
            value,
            other_host: self.name(other),
            location: self.hosts[other as usize].origin.location(),
        }
        .into()
    }

    /// Checks `device`'s AD/DNS name against the other schools, and its MAC and fixed IP against
    /// every other host and the other schools. `id` is the host the device will be stored in, if
    /// it exists already. (Its hostname is checked against this school's hosts by the caller.)
    fn check_conflicts(
        &self,
        id: Option<u32>,
        device: &Device,
        others: &OtherIndex,
    ) -> Result<(), Error> {
        if !others.entries.dns_names.is_empty() {
            let name = dns_name(&others.dns_prefix, &device.hostname);
            if let Some((host, location)) = others.entries.dns_names.get(&name) {
                return Err(foreign_conflict(
                    ConflictKind::DnsName,
                    name,
                    host,
                    location,
                ));
            }
        }
        let mac = mac_key(device.mac);
        if let Some(other) = self
            .by_mac
            .get(&mac)
            .and_then(|owners| owners.other_than(id))
        {
            return Err(self.conflict(ConflictKind::Mac, device.mac.to_string(), other));
        }
        if let Some((host, location)) = others.entries.macs.get(&mac) {
            return Err(foreign_conflict(
                ConflictKind::Mac,
                device.mac.to_string(),
                host,
                location,
            ));
        }
        if let Some(ip) = device.ip.fixed() {
            if let Some(other) = self.by_ip.get(&ip).and_then(|owners| owners.other_than(id)) {
                return Err(self.conflict(ConflictKind::Ip, ip.to_string(), other));
            }
            if let Some((host, location)) = others.entries.ips.get(&ip) {
                return Err(foreign_conflict(
                    ConflictKind::Ip,
                    ip.to_string(),
                    host,
                    location,
                ));
            }
        }
        Ok(())
    }

    /// Applies job `job_index` to the view, or refuses it without changing anything.
    fn apply(
        &mut self,
        job_index: usize,
        operation: &Operation,
        others: &OtherIndex,
        guard: &Guard,
    ) -> Result<Applied, Error> {
        let (device, old_hostname) = match operation {
            Operation::Delete { hostname } => {
                let id = self.by_name.get(hostname.as_str()).copied();
                self.check_protected(id, hostname.as_str(), guard)?;
                let change = match id {
                    Some(id) => {
                        self.check_hand_managed(id, hostname.as_str(), "delete", None, guard)?;
                        self.remove(id);
                        Change::Deleted
                    }
                    None => Change::AlreadyAbsent,
                };
                return Ok(Applied {
                    change,
                    written: None,
                    previous: Some(self.previous(hostname)),
                });
            }
            Operation::Upsert {
                device,
                old_hostname,
            } => (device, old_hostname),
        };
        let target = device.hostname.as_str();
        let existing = self.by_name.get(target).copied();
        // A rename whose old host is gone was already carried out (or never existed): it is an
        // upsert of the new name, which keeps re-running a job idempotent.
        let rename_from = old_hostname
            .as_ref()
            .and_then(|old| self.by_name.get(old.as_str()).map(|&id| (old, id)));
        // Neither the DC's own entries nor an administrator's hosts are a job's to change.
        self.check_protected(existing, target, guard)?;
        if let Some(old) = old_hostname {
            let old_id = rename_from.map(|(_, id)| id);
            self.check_protected(old_id, old.as_str(), guard)?;
            match old_id {
                Some(old_id) => {
                    self.check_hand_managed(old_id, old.as_str(), "rename", None, guard)?;
                }
                // Gone, and the new name is there: the rename was carried out already.
                None if existing.is_some() => {}
                None => {
                    return Err(Refusal {
                        host: old.as_str().to_owned(),
                        reason: RefusalReason::UnknownOldHostname {
                            school: guard.school.clone(),
                            elsewhere: others.entries.names.get(old.as_str()).cloned(),
                        },
                    }
                    .into());
                }
            }
        }
        if rename_from.is_none()
            && let Some(id) = existing
        {
            self.check_hand_managed(id, target, "update", Some(device.mac), guard)?;
        }
        let id = match (rename_from, existing) {
            (Some(_), Some(other)) => {
                return Err(self.conflict(ConflictKind::Hostname, target.to_owned(), other));
            }
            (Some((_, old_id)), None) => Some(old_id),
            (None, existing) => existing,
        };
        if id.is_none()
            && let Some(&line) = self.malformed_names.get(target)
        {
            return Err(Conflict {
                kind: ConflictKind::Hostname,
                value: target.to_owned(),
                other_host: target.to_owned(),
                location: Location::MalformedMaster { line },
            }
            .into());
        }
        let mut device = Device::clone(device);
        if device.role.is_none() {
            // No role in the job: the host keeps the role it has (the merge then keeps the
            // master's column 8 when the delta has none).
            device.role = id
                .and_then(|id| self.hosts[id as usize].managed.as_ref())
                .and_then(|managed| managed.role);
        }
        self.check_conflicts(id, &device, others)?;

        let previous = old_hostname.as_ref().map(|old| self.previous(old));
        let Some(id) = id else {
            let origin = Origin::Batch(job_index as u32);
            let id = self.host_for(Cow::Owned(target.to_owned()), origin);
            self.set_managed(id, device);
            return Ok(self.applied(Change::Created, id, previous));
        };
        let renamed = rename_from.map(|(old, _)| old.clone());
        if let Some(old) = &renamed {
            self.by_name.remove(old.as_str());
            self.by_name.insert(Cow::Owned(target.to_owned()), id);
        } else if self.hosts[id as usize].managed.as_deref() == Some(&device) {
            return Ok(self.applied(Change::Unchanged, id, previous));
        }
        self.set_managed(id, device);
        let change = match renamed {
            Some(from) => Change::Renamed { from },
            None => Change::Updated,
        };
        Ok(self.applied(change, id, previous))
    }

    /// The outcome of a job that left managed host `id` in the view.
    fn applied(&self, change: Change, id: u32, previous: Option<Previous>) -> Applied {
        let device = self.hosts[id as usize]
            .managed
            .as_deref()
            .expect("an applied upsert leaves a managed host");
        let written = HostFacts {
            name: device.hostname.clone(),
            dns_name: dns_name(&self.dns_prefix, &device.hostname),
            // Without a role of its own the line keeps the master's column 8.
            role: self.role(id).and_then(|role| role.parse().ok()),
            ip: device.ip.fixed(),
            pxe_flag: Some(device.pxe_flag),
        };
        Applied {
            change,
            written: Some(written),
            previous,
        }
    }

    /// Host `name` as the files described it before the batch (the master's line first).
    fn previous(&self, name: &Hostname) -> Previous {
        let record = self.before.get(name.as_str()).and_then(|&(master, delta)| {
            let master = master.and_then(|index| self.master.lines()[index as usize].record());
            master.or_else(|| delta.and_then(|index| self.delta.lines()[index as usize].record()))
        });
        Previous {
            name: name.clone(),
            dns_name: dns_name(&self.dns_prefix, name),
            before: record
                .map(|record| HostFacts::from_record(name.clone(), &self.dns_prefix, record)),
        }
    }

    /// The role of a host as the merged view shows it (lowercase), if it has one.
    fn role(&self, id: u32) -> Option<String> {
        if let Some(role) = self.hosts[id as usize]
            .managed
            .as_ref()
            .and_then(|device| device.role)
        {
            return Some(role.as_str().to_owned());
        }
        let role = self.master_record(id)?.value(8).trim_ascii();
        (!role.is_empty()).then(|| role.to_ascii_lowercase())
    }

    /// Refuses a job that touches host `name` (with id `id`, when it exists) when it is the DC
    /// itself or another server: role `server` or `addc`, or a name of [`Guard::protected`].
    fn check_protected(&self, id: Option<u32>, name: &str, guard: &Guard) -> Result<(), Error> {
        let role = id
            .and_then(|id| self.role(id))
            .filter(|role| PROTECTED_ROLES.contains(&role.as_str()));
        if role.is_none() && !guard.protected.contains(name) {
            return Ok(());
        }
        Err(Refusal {
            host: name.to_owned(),
            reason: RefusalReason::Protected {
                location: id.map(|id| self.hosts[id as usize].origin.location()),
                role,
            },
        }
        .into())
    }

    /// Refuses `action` on host `id` when the administrator manages it by hand (in the master,
    /// not in the delta), unless [`Guard::adopt_manual_hosts`]. An update (`mac` given) adopts
    /// the host when the MAC is the hand-made line's.
    fn check_hand_managed(
        &self,
        id: u32,
        name: &str,
        action: &'static str,
        mac: Option<Mac>,
        guard: &Guard,
    ) -> Result<(), Error> {
        let host = &self.hosts[id as usize];
        if guard.adopt_manual_hosts || host.managed.is_some() || host.master_lines.is_empty() {
            return Ok(());
        }
        let line_mac = self
            .master_record(id)
            .map(|record| record.value(3).trim_ascii());
        if let Some(mac) = mac
            && line_mac.and_then(|value| value.parse::<Mac>().ok()) == Some(mac)
        {
            return Ok(());
        }
        Err(Refusal {
            host: name.to_owned(),
            reason: RefusalReason::HandManaged {
                location: host.origin.location(),
                action,
                mac: mac.and(line_mac).map(str::to_owned),
            },
        }
        .into())
    }

    fn set_managed(&mut self, id: u32, device: Device) {
        self.unindex(id);
        let mac = mac_key(device.mac);
        let ip = device.ip.fixed();
        let host = &mut self.hosts[id as usize];
        host.managed = Some(Box::new(device));
        host.delta_dirty = true;
        if host.delta_line.is_none() {
            self.delta_appends.push(id);
        }
        if host.master_lines.is_empty() {
            self.master_appends.push(id);
        }
        // Every job value is of interest by construction, so the new values are indexed.
        self.index_as(id, Some(mac), ip);
    }

    fn remove(&mut self, id: u32) {
        let name = self.name(id);
        self.by_name.remove(name.as_str());
        self.unindex(id);
        let host = &mut self.hosts[id as usize];
        host.present = false;
        host.managed = None;
        for &index in &host.master_lines {
            self.master_lines[index as usize] = MasterLine::Removed;
        }
        host.master_lines.clear();
    }

    /// Writes the master: records of deleted hosts dropped, managed hosts patched, new managed
    /// hosts appended.
    fn render_master(&self, batch_size: usize) -> Rendered {
        let lines = self.master.lines();
        let mut pieces = Vec::with_capacity(lines.len() + self.master_appends.len());
        let mut stats = MergeStats {
            batch_size,
            ..MergeStats::default()
        };
        for (index, line) in lines.iter().enumerate() {
            let LineKind::Record(record) = &line.kind else {
                pieces.push(Piece::Keep(index));
                continue;
            };
            stats.total_master_lines += 1;
            let piece = match self.master_lines[index] {
                MasterLine::Untouched => Piece::Keep(index),
                MasterLine::Removed => Piece::Remove(index),
                MasterLine::Host(id) => match &self.hosts[id as usize].managed {
                    Some(device) => {
                        let patched = patch_line(line, record, device);
                        if patched == line.raw() {
                            Piece::Keep(index)
                        } else {
                            Piece::Replace(index, patched)
                        }
                    }
                    None => Piece::Keep(index),
                },
            };
            match piece {
                Piece::Remove(_) => stats.deleted_hosts += 1,
                _ => stats.total_merged_lines += 1,
            }
            pieces.push(piece);
        }
        let padding = ";".repeat(self.widest - CANONICAL_FIELDS);
        let mut appended = vec![false; self.hosts.len()];
        for &id in &self.master_appends {
            let host = &self.hosts[id as usize];
            let Some(device) = &host.managed else {
                continue;
            };
            if !host.present || !host.master_lines.is_empty() || appended[id as usize] {
                continue;
            }
            appended[id as usize] = true;
            stats.total_merged_lines += 1;
            let text = canonical_line(device, &[&padding, self.new_line_ending]);
            push_added(&mut pieces, lines, text, self.new_line_ending);
        }
        Rendered::new(lines, pieces, stats)
    }

    /// Writes the delta: header first, one canonical line per managed host. Returns the text and
    /// its number of records.
    fn render_delta(&self) -> (String, usize) {
        let lines = self.delta.lines();
        let mut pieces = Vec::with_capacity(lines.len() + self.delta_appends.len() + 1);
        let has_header = lines.first().is_some_and(|line| {
            line.content()
                .trim_start_matches('\u{feff}')
                .starts_with(DELTA_HEADER_PREFIX)
        });
        if !has_header {
            pieces.push(Piece::Add(format!("{DELTA_HEADER}\n")));
        }
        let mut records = 0;
        for (index, line) in lines.iter().enumerate() {
            let piece = match self.delta_lines[index] {
                DeltaLine::Raw => Piece::Keep(index),
                DeltaLine::Superseded => Piece::Remove(index),
                DeltaLine::Host(id) => {
                    let host = &self.hosts[id as usize];
                    match &host.managed {
                        Some(device) if host.present && host.delta_line == Some(index as u32) => {
                            records += 1;
                            if host.delta_dirty {
                                Piece::Replace(index, canonical_line(device, &[line.ending()]))
                            } else {
                                Piece::Keep(index)
                            }
                        }
                        _ => Piece::Remove(index),
                    }
                }
            };
            pieces.push(piece);
        }
        let mut appended = vec![false; self.hosts.len()];
        for &id in &self.delta_appends {
            let host = &self.hosts[id as usize];
            let Some(device) = &host.managed else {
                continue;
            };
            if !host.present || host.delta_line.is_some() || appended[id as usize] {
                continue;
            }
            appended[id as usize] = true;
            records += 1;
            push_added(&mut pieces, lines, canonical_line(device, &["\n"]), "\n");
        }
        (
            Rendered::new(lines, pieces, MergeStats::default()).text,
            records,
        )
    }
}

/// The canonical line of `device` followed by `suffixes` (padding, line ending).
fn canonical_line(device: &Device, suffixes: &[&str]) -> String {
    let mut text = String::with_capacity(96);
    device.write_line(&mut text);
    suffixes.iter().for_each(|suffix| text.push_str(suffix));
    text
}

/// The master line of a managed host: the managed columns from the delta, every other field
/// exactly as written, the line's own ending.
fn patch_line(line: &Line<'_>, record: &Record<'_>, device: &Device) -> String {
    let mut out = String::with_capacity(line.raw().len() + 16);
    if line.has_byte_order_mark() {
        out.push('\u{feff}');
    }
    for (column, field) in record.fields().enumerate() {
        if column > 0 {
            out.push(';');
        }
        // A record has at least 11 fields, so every managed column (at most 10) is present.
        if device.is_managed_column(column) {
            device.write_column(column, &mut out);
        } else {
            out.push_str(field);
        }
    }
    out.push_str(line.ending());
    out
}

/// One line of an output file, in output order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Input line `n`, unchanged.
    Keep(usize),
    /// Input line `n`, replaced by this text (with ending).
    Replace(usize, String),
    /// Input line `n`, dropped.
    Remove(usize),
    /// A new line (with ending).
    Add(String),
}

/// Appends a new line, first giving the previous last line the line ending it may lack.
fn push_added(pieces: &mut Vec<Piece>, lines: &[Line<'_>], text: String, ending: &str) {
    if let Some(last) = pieces
        .iter_mut()
        .rev()
        .find(|piece| !matches!(piece, Piece::Remove(_)))
    {
        match last {
            Piece::Keep(index) if !lines[*index].raw().ends_with('\n') => {
                *last = Piece::Replace(*index, format!("{}{ending}", lines[*index].raw()));
            }
            Piece::Replace(_, text) | Piece::Add(text) if !text.ends_with('\n') => {
                text.push_str(ending);
            }
            _ => {}
        }
    }
    pieces.push(Piece::Add(text));
}

/// An output file: its text and how it came from the input lines.
struct Rendered {
    text: String,
    pieces: Vec<Piece>,
    stats: MergeStats,
}

impl Rendered {
    fn new(lines: &[Line<'_>], pieces: Vec<Piece>, stats: MergeStats) -> Rendered {
        let size = lines.iter().map(|line| line.raw().len()).sum::<usize>() + 64;
        let mut text = String::with_capacity(size);
        for piece in &pieces {
            match piece {
                Piece::Keep(index) => text.push_str(lines[*index].raw()),
                Piece::Replace(_, new) | Piece::Add(new) => text.push_str(new),
                Piece::Remove(_) => {}
            }
        }
        Rendered {
            text,
            pieces,
            stats,
        }
    }

    /// The edit script from the input lines to this output. Within a run of changed lines all
    /// removals come before all additions, as `diff -u` shows them.
    fn edits<'s>(&'s self, lines: &'s [Line<'_>]) -> Vec<Edit<'s>> {
        let mut edits = Vec::with_capacity(self.pieces.len() + 8);
        let mut added: Vec<Edit<'s>> = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Keep(index) => {
                    edits.append(&mut added);
                    edits.push(Edit::Keep(lines[*index].raw()));
                }
                Piece::Replace(index, new) => {
                    edits.push(Edit::Remove(lines[*index].raw()));
                    added.push(Edit::Add(new));
                }
                Piece::Remove(index) => edits.push(Edit::Remove(lines[*index].raw())),
                Piece::Add(new) => added.push(Edit::Add(new)),
            }
        }
        edits.append(&mut added);
        edits
    }
}

/// A conflict with a host of another school.
fn foreign_conflict(kind: ConflictKind, value: String, host: &str, location: &Location) -> Error {
    Conflict {
        kind,
        value,
        other_host: host.to_owned(),
        location: location.clone(),
    }
    .into()
}
