//! The merge engine: a pure function from (master text, delta text, other schools' files, jobs in
//! stream order) to (new master, new delta, per-job outcome, merge statistics, unified diff).
//!
//! The engine keeps one entry per host of the merged view (master hosts with the delta's managed
//! columns applied), indexed by hostname, MAC and fixed IP, so each job is checked and applied in
//! constant time. Files are written once at the end from the original lines: a line no job
//! touched is copied byte for byte.

use std::collections::HashMap;

use crate::device::Device;
use crate::diff::{self, Edit};
use crate::error::{Conflict, ConflictKind, Error, FieldError, Location};
use crate::file::{CANONICAL_FIELDS, DevicesFile, Line, LineKind, Record};
use crate::job::{DELTA_HEADER, DELTA_HEADER_PREFIX, Job, Operation};
use crate::value::{Hostname, Ip, Mac, Room};

/// Settings of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeOptions {
    /// The room for jobs without one (`DEFAULT_ROOM`, default `unknown`).
    pub default_room: Room,
    /// Whether to build [`MergeOutput::diff`] (costs time on large files).
    pub diff: bool,
    /// The file name shown in diff headers.
    pub file_name: String,
}

impl Default for MergeOptions {
    fn default() -> MergeOptions {
        MergeOptions {
            default_room: "unknown".parse().expect("`unknown` is a valid room"),
            diff: true,
            file_name: "devices.csv".to_owned(),
        }
    }
}

/// Another school's devices file, read only: its MACs and fixed IPs may not be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtherSchool<'a> {
    /// The school's name, used in conflict messages.
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
/// host of the merged view (including hosts created earlier in the batch) and MAC/IP conflicts
/// against `other_schools`. A refused job changes nothing; the others proceed. Dry-run jobs are
/// evaluated at their place in the batch and never written.
pub fn merge(
    master: &str,
    delta: &str,
    other_schools: &[OtherSchool<'_>],
    jobs: &[Job],
    options: &MergeOptions,
) -> MergeOutput {
    let master_file = DevicesFile::parse(master);
    let delta_file = DevicesFile::parse(delta);
    let others = OtherIndex::new(other_schools);
    let (mut view, ignored_delta_lines) = View::load(&master_file, &delta_file);

    let mut outcomes = Vec::with_capacity(jobs.len());
    for (index, job) in jobs.iter().enumerate() {
        let operation = match job.validate(&options.default_room) {
            Ok(operation) => operation,
            Err(problem) => {
                outcomes.push(JobOutcome::Rejected(problem.into()));
                continue;
            }
        };
        let outcome = if job.dry_run {
            let mut trial = view.clone();
            match trial.apply(index, &operation, &others) {
                Ok(change) => {
                    let before = view.render_master(jobs.len());
                    let after = trial.render_master(jobs.len());
                    let dry_run = DryRun {
                        diff: diff::unified_texts(&options.file_name, &before.text, &after.text),
                        stats: after.stats,
                    };
                    JobOutcome::Applied {
                        change,
                        dry_run: Some(dry_run),
                    }
                }
                Err(problem) => JobOutcome::Rejected(problem),
            }
        } else {
            match view.apply(index, &operation, &others) {
                Ok(change) => JobOutcome::Applied {
                    change,
                    dry_run: None,
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

/// The MAC key of a master value: canonical when it parses, else the trimmed text in upper case,
/// so even a MAC sophomorix would refuse is not reused.
fn mac_key(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some(match value.parse::<Mac>() {
        Ok(mac) => mac.to_string(),
        Err(_) => value.to_ascii_uppercase(),
    })
}

/// The IP key of a master value: `None` for dynamic hosts, which never conflict.
fn ip_key(value: &str) -> Option<String> {
    let value = value.trim();
    match value.parse::<Ip>() {
        Ok(Ip::Dhcp) => None,
        Ok(Ip::Fixed(address)) => Some(address.to_string()),
        Err(_) => Some(value.to_owned()),
    }
}

/// MACs and fixed IPs of the other schools.
struct OtherIndex {
    macs: HashMap<String, (String, Location)>,
    ips: HashMap<String, (String, Location)>,
}

impl OtherIndex {
    fn new(schools: &[OtherSchool<'_>]) -> OtherIndex {
        let mut index = OtherIndex {
            macs: HashMap::new(),
            ips: HashMap::new(),
        };
        for school in schools {
            for (line, record) in DevicesFile::parse(school.devices).records() {
                let location = Location::OtherSchool {
                    school: school.school.to_owned(),
                    line,
                };
                let owner = (record.hostname().to_owned(), location);
                if let Some(mac) = mac_key(record.value(3)) {
                    index.macs.entry(mac).or_insert_with(|| owner.clone());
                }
                if let Some(ip) = ip_key(record.value(4)) {
                    index.ips.entry(ip).or_insert(owner);
                }
            }
        }
        index
    }
}

/// One host of the merged view.
#[derive(Debug, Clone)]
struct Entry {
    /// The hostname key (lowercase).
    name: String,
    /// Indices of the master lines of this host (more than one only if the administrator wrote
    /// the host twice).
    master_lines: Vec<usize>,
    /// The managed columns from the delta, if the host is managed.
    managed: Option<Device>,
    /// Index of the delta line this entry owns.
    delta_line: Option<usize>,
    /// Whether the delta line must be rewritten.
    delta_dirty: bool,
    /// False once deleted; the entry then only keeps its slot.
    present: bool,
    /// The keys under which the entry is indexed.
    mac: Option<String>,
    ip: Option<String>,
    /// Where the host comes from, for conflict messages.
    origin: Location,
}

/// What a delta line becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeltaLine {
    /// Not a valid record: copied as it is.
    Raw,
    /// The line of a managed host.
    Owned(usize),
    /// An earlier duplicate of a host written again further down: dropped.
    Superseded,
}

/// The merged view: hosts, their indexes, and which output line each comes from.
#[derive(Debug, Clone)]
struct View<'f, 'a> {
    master: &'f DevicesFile<'a>,
    delta: &'f DevicesFile<'a>,
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
    by_mac: HashMap<String, Vec<usize>>,
    by_ip: HashMap<String, Vec<usize>>,
    /// Hostnames on malformed master lines: a job may not create them a second time.
    malformed_names: HashMap<String, usize>,
    /// For each master line, the entry it belongs to (`None` for non-records and deleted hosts).
    line_owner: Vec<Option<usize>>,
    delta_lines: Vec<DeltaLine>,
    /// Entries that may need a line appended to the master / delta, in order of creation.
    master_appends: Vec<usize>,
    delta_appends: Vec<usize>,
    /// The widest master record, in fields: appended lines are padded to it.
    widest: usize,
    /// The line ending for appended lines: CRLF only when every master line uses it.
    new_line_ending: &'static str,
}

impl<'f, 'a> View<'f, 'a> {
    fn load(
        master: &'f DevicesFile<'a>,
        delta: &'f DevicesFile<'a>,
    ) -> (View<'f, 'a>, Vec<FieldError>) {
        let all_crlf =
            !master.lines().is_empty() && master.lines().iter().all(|l| l.ending() == "\r\n");
        let mut view = View {
            master,
            delta,
            entries: Vec::with_capacity(master.lines().len()),
            by_name: HashMap::with_capacity(master.lines().len()),
            by_mac: HashMap::with_capacity(master.lines().len()),
            by_ip: HashMap::with_capacity(master.lines().len()),
            malformed_names: HashMap::new(),
            line_owner: vec![None; master.lines().len()],
            delta_lines: vec![DeltaLine::Raw; delta.lines().len()],
            master_appends: Vec::new(),
            delta_appends: Vec::new(),
            widest: CANONICAL_FIELDS,
            new_line_ending: if all_crlf { "\r\n" } else { "\n" },
        };
        for (index, line) in master.lines().iter().enumerate() {
            match &line.kind {
                LineKind::Record(record) => {
                    view.widest = view.widest.max(record.len());
                    let origin = Location::Master { line: line.number };
                    let id = view.entry_for(record.hostname_key(), origin);
                    view.entries[id].master_lines.push(index);
                    view.line_owner[index] = Some(id);
                }
                LineKind::Malformed(_) => {
                    if let Some(name) = line.content().split(';').nth(1).map(str::trim)
                        && !name.is_empty()
                    {
                        view.malformed_names
                            .entry(name.to_ascii_lowercase())
                            .or_insert(line.number);
                    }
                }
                LineKind::Blank | LineKind::Comment => {}
            }
        }
        let mut ignored = Vec::new();
        for (index, line) in delta.lines().iter().enumerate() {
            match &line.kind {
                LineKind::Record(record) => {
                    match Device::from_fields(record.fields(), Some(line.number)) {
                        Ok(device) => view.load_delta_line(index, line, device),
                        Err(problem) => ignored.push(problem),
                    }
                }
                LineKind::Malformed(problem) => ignored.push(problem.clone()),
                LineKind::Blank | LineKind::Comment => {}
            }
        }
        for id in 0..view.entries.len() {
            view.index(id);
        }
        (view, ignored)
    }

    fn load_delta_line(&mut self, index: usize, line: &Line<'a>, device: Device) {
        let origin = Location::Delta { line: line.number };
        let id = self.entry_for(device.hostname.as_str().to_owned(), origin);
        let entry = &mut self.entries[id];
        if let Some(previous) = entry.delta_line.replace(index) {
            self.delta_lines[previous] = DeltaLine::Superseded;
        }
        entry.managed = Some(device);
        if entry.master_lines.is_empty() {
            self.master_appends.push(id);
        }
        self.delta_lines[index] = DeltaLine::Owned(id);
    }

    /// The entry for `name`, created with `origin` when new.
    fn entry_for(&mut self, name: String, origin: Location) -> usize {
        if let Some(&id) = self.by_name.get(&name) {
            return id;
        }
        let id = self.entries.len();
        self.by_name.insert(name.clone(), id);
        self.entries.push(Entry {
            name,
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

    /// The MAC and IP keys of an entry as the merged view shows it.
    fn keys(&self, id: usize) -> (Option<String>, Option<String>) {
        let entry = &self.entries[id];
        if let Some(device) = &entry.managed {
            return (
                Some(device.mac.to_string()),
                device.ip.fixed().map(|address| address.to_string()),
            );
        }
        match entry
            .master_lines
            .first()
            .and_then(|&index| self.master.lines()[index].record())
        {
            Some(record) => (mac_key(record.value(3)), ip_key(record.value(4))),
            None => (None, None),
        }
    }

    fn index(&mut self, id: usize) {
        let (mac, ip) = self.keys(id);
        if let Some(mac) = &mac {
            self.by_mac.entry(mac.clone()).or_default().push(id);
        }
        if let Some(ip) = &ip {
            self.by_ip.entry(ip.clone()).or_default().push(id);
        }
        let entry = &mut self.entries[id];
        entry.mac = mac;
        entry.ip = ip;
    }

    fn unindex(&mut self, id: usize) {
        let entry = &mut self.entries[id];
        for (key, index) in [
            (entry.mac.take(), &mut self.by_mac),
            (entry.ip.take(), &mut self.by_ip),
        ] {
            if let Some(key) = key
                && let Some(ids) = index.get_mut(&key)
            {
                ids.retain(|&other| other != id);
                if ids.is_empty() {
                    index.remove(&key);
                }
            }
        }
    }

    fn conflict(&self, kind: ConflictKind, value: &str, other: usize) -> Error {
        let entry = &self.entries[other];
        Conflict {
            kind,
            value: value.to_owned(),
            other_host: entry.name.clone(),
            location: entry.origin.clone(),
        }
        .into()
    }

    /// Checks `device`'s MAC and fixed IP against every other host and the other schools.
    /// `id` is the entry the device will be stored in, if it exists already.
    fn check_conflicts(
        &self,
        id: Option<usize>,
        device: &Device,
        others: &OtherIndex,
    ) -> Result<(), Error> {
        let mac = device.mac.to_string();
        let ip = device.ip.fixed().map(|address| address.to_string());
        let checks = [
            (ConflictKind::Mac, Some(mac), &self.by_mac, &others.macs),
            (ConflictKind::Ip, ip, &self.by_ip, &others.ips),
        ];
        for (kind, key, index, other_index) in checks {
            let Some(key) = key else { continue };
            if let Some(&other) = index
                .get(&key)
                .and_then(|ids| ids.iter().find(|&&other| Some(other) != id))
            {
                return Err(self.conflict(kind, &key, other));
            }
            if let Some((other_host, location)) = other_index.get(&key) {
                return Err(Conflict {
                    kind,
                    value: key,
                    other_host: other_host.clone(),
                    location: location.clone(),
                }
                .into());
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
    ) -> Result<Change, Error> {
        let (device, old_hostname) = match operation {
            Operation::Delete { hostname } => {
                return Ok(match self.by_name.get(hostname.as_str()) {
                    Some(&id) => {
                        self.remove(id);
                        Change::Deleted
                    }
                    None => Change::AlreadyAbsent,
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
        let id = match (rename_from, existing) {
            (Some(_), Some(other)) => {
                return Err(self.conflict(ConflictKind::Hostname, target, other));
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
                .and_then(|id| self.entries[id].managed.as_ref())
                .and_then(|managed| managed.role);
        }
        self.check_conflicts(id, &device, others)?;

        let Some(id) = id else {
            let origin = Location::Batch { job: job_index };
            let id = self.entry_for(target.to_owned(), origin);
            self.set_managed(id, device);
            return Ok(Change::Created);
        };
        let renamed = rename_from.map(|(old, _)| old.clone());
        if let Some(old) = &renamed {
            self.by_name.remove(old.as_str());
            self.by_name.insert(target.to_owned(), id);
            self.entries[id].name = target.to_owned();
        } else if self.entries[id].managed.as_ref() == Some(&device) {
            return Ok(Change::Unchanged);
        }
        self.set_managed(id, device);
        Ok(match renamed {
            Some(from) => Change::Renamed { from },
            None => Change::Updated,
        })
    }

    fn set_managed(&mut self, id: usize, device: Device) {
        self.unindex(id);
        let entry = &mut self.entries[id];
        entry.managed = Some(device);
        entry.delta_dirty = true;
        if entry.delta_line.is_none() {
            self.delta_appends.push(id);
        }
        if entry.master_lines.is_empty() {
            self.master_appends.push(id);
        }
        self.index(id);
    }

    fn remove(&mut self, id: usize) {
        self.unindex(id);
        let entry = &mut self.entries[id];
        entry.present = false;
        entry.managed = None;
        for &index in &entry.master_lines {
            self.line_owner[index] = None;
        }
        entry.master_lines.clear();
        self.by_name.remove(&entry.name);
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
            let Some(owner) = self.line_owner[index] else {
                stats.deleted_hosts += 1;
                pieces.push(Piece::Remove(index));
                continue;
            };
            stats.total_merged_lines += 1;
            pieces.push(match &self.entries[owner].managed {
                Some(device) => {
                    let patched = patch_line(line, record, device);
                    if patched == line.raw() {
                        Piece::Keep(index)
                    } else {
                        Piece::Replace(index, patched)
                    }
                }
                None => Piece::Keep(index),
            });
        }
        let padding = ";".repeat(self.widest - CANONICAL_FIELDS);
        let mut appended = vec![false; self.entries.len()];
        for &id in &self.master_appends {
            let entry = &self.entries[id];
            let Some(device) = &entry.managed else {
                continue;
            };
            if !entry.present || !entry.master_lines.is_empty() || appended[id] {
                continue;
            }
            appended[id] = true;
            stats.total_merged_lines += 1;
            let text = format!("{device}{padding}{}", self.new_line_ending);
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
                DeltaLine::Owned(id) => {
                    let entry = &self.entries[id];
                    match &entry.managed {
                        Some(device) if entry.present && entry.delta_line == Some(index) => {
                            records += 1;
                            if entry.delta_dirty {
                                let ending = if line.ending().is_empty() {
                                    ""
                                } else {
                                    line.ending()
                                };
                                Piece::Replace(index, format!("{device}{ending}"))
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
        let mut appended = vec![false; self.entries.len()];
        for &id in &self.delta_appends {
            let entry = &self.entries[id];
            let Some(device) = &entry.managed else {
                continue;
            };
            if !entry.present || entry.delta_line.is_some() || appended[id] {
                continue;
            }
            appended[id] = true;
            records += 1;
            push_added(&mut pieces, lines, format!("{device}\n"), "\n");
        }
        (
            Rendered::new(lines, pieces, MergeStats::default()).text,
            records,
        )
    }
}

/// The master line of a managed host: the managed columns from the delta, every other field
/// exactly as written, the line's own ending.
fn patch_line(line: &Line<'_>, record: &Record<'_>, device: &Device) -> String {
    let mut fields: Vec<std::borrow::Cow<'_, str>> =
        record.fields().iter().map(|&field| field.into()).collect();
    for (column, value) in device.managed_columns() {
        // A record has at least 11 fields, so every managed column (at most 10) exists.
        if let Some(field) = fields.get_mut(column) {
            *field = value.into();
        }
    }
    let bom = if line.has_byte_order_mark() {
        "\u{feff}"
    } else {
        ""
    };
    format!("{bom}{}{}", fields.join(";"), line.ending())
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
