//! The other schools' devices files as the merge sees them: the MACs, fixed IPs, AD/DNS names
//! and host names of their records, with the host and line that use each.
//!
//! [`SchoolIndex`] indexes one school's file completely, so a caller can build it once per
//! version of the file and reuse it for every batch ([`merge_indexed`](crate::merge_indexed)).
//! The merge itself keeps only the values its jobs use ([`OtherIndex`]), taken from the texts
//! ([`merge`](crate::merge)) or from the prebuilt indexes.

use std::collections::HashMap as StdHashMap;
use std::net::Ipv4Addr;

use foldhash::fast::RandomState;

use crate::error::Location;
use crate::file::DevicesFile;
use crate::host::dns_prefix;
use crate::merge::{Interest, OtherSchool, mac_key};
use crate::value::Ip;

type HashMap<K, V> = StdHashMap<K, V, RandomState>;

/// A host of another school that uses a value, and where.
pub(crate) type Owner = (String, Location);

/// Values of other schools' records and who uses them; the first record wins.
#[derive(Debug, Clone, Default)]
pub(crate) struct Entries {
    /// Lowercase host names (without the `<school>-` prefix).
    pub(crate) names: HashMap<String, Location>,
    pub(crate) macs: HashMap<u64, Owner>,
    pub(crate) ips: HashMap<Ipv4Addr, Owner>,
    /// AD/DNS names: `<school>-<host>` outside default-school, lowercase.
    pub(crate) dns_names: HashMap<String, Owner>,
}

impl Entries {
    /// Adds the records of `school`'s `devices`; with `interest`, only the values it names.
    /// Returns how many records the file has.
    fn scan(&mut self, school: &str, devices: &str, interest: Option<&Interest>) -> usize {
        let prefix = dns_prefix(school);
        // One buffer for every line's AD/DNS name: no allocation per line of a large file.
        let mut line_name = String::new();
        let mut records = 0;
        for (line, record) in DevicesFile::parse(devices).records() {
            records += 1;
            let mut fields = record.fields().skip(3);
            let (mac, ip) = (fields.next(), fields.next());
            let (mac, ip) = match interest {
                Some(interest) => (
                    mac.and_then(|value| interest.mac(value)),
                    ip.and_then(|value| interest.ip(value)),
                ),
                None => (
                    mac.and_then(|value| Some(mac_key(value.parse().ok()?))),
                    ip.and_then(|value| value.parse::<Ip>().ok()?.fixed()),
                ),
            };
            line_name.clear();
            line_name.push_str(&prefix);
            line_name.extend(record.hostname().chars().map(|c| c.to_ascii_lowercase()));
            let bare = &line_name[prefix.len()..];
            let (name_used, old_name) = match interest {
                Some(interest) => (
                    interest.dns_names.contains(line_name.as_str()),
                    !interest.old_names.is_empty() && interest.old_names.contains(bare),
                ),
                None => (true, true),
            };
            if mac.is_none() && ip.is_none() && !name_used && !old_name {
                continue;
            }
            let location = Location::OtherSchool {
                school: school.to_owned(),
                line,
            };
            if old_name {
                self.names
                    .entry(bare.to_owned())
                    .or_insert_with(|| location.clone());
            }
            let owner = (record.hostname().to_owned(), location);
            if let Some(mac) = mac {
                self.macs.entry(mac).or_insert_with(|| owner.clone());
            }
            if let Some(ip) = ip {
                self.ips.entry(ip).or_insert_with(|| owner.clone());
            }
            if name_used {
                self.dns_names.entry(line_name.clone()).or_insert(owner);
            }
        }
        records
    }
}

/// Another school's devices file, indexed once: the MACs, fixed IPs, AD/DNS names and host
/// names of its records. Build it when the file changes and pass it to
/// [`merge_indexed`](crate::merge_indexed) for every batch; the result is the same as
/// [`merge`](crate::merge) with the file's text.
///
/// ```
/// use devices_csv::{HostSpec, Job, JobOutcome, MergeOptions, SchoolIndex, merge_indexed};
///
/// let gym = SchoolIndex::build("gym", "r1;pc01;nopxe;00:1A:2B:3C:4D:01;10.0.1.1;;;;;;1;;;;\n");
/// assert_eq!((gym.school(), gym.records()), ("gym", 1));
/// let job = Job::upsert(HostSpec {
///     hostname: "pc07".into(),
///     mac: "00-1a-2b-3c-4d-01".into(),
///     ..HostSpec::default()
/// });
/// let output = merge_indexed("", "", &[&gym], &[job], &MergeOptions::default());
/// let JobOutcome::Rejected(problem) = &output.outcomes[0] else { panic!("a MAC of gym") };
/// assert!(problem.to_string().contains("school gym"), "{problem}");
/// ```
#[derive(Debug, Clone)]
pub struct SchoolIndex {
    school: String,
    records: usize,
    entries: Entries,
}

impl SchoolIndex {
    /// Indexes `devices`, the devices.csv of `school`.
    pub fn build(school: &str, devices: &str) -> SchoolIndex {
        let mut entries = Entries::default();
        let records = entries.scan(school, devices, None);
        SchoolIndex {
            school: school.to_owned(),
            records,
            entries,
        }
    }

    /// The school.
    pub fn school(&self) -> &str {
        &self.school
    }

    /// How many records the file has.
    pub fn records(&self) -> usize {
        self.records
    }
}

/// The other schools' values a batch's jobs use.
#[derive(Debug)]
pub(crate) struct OtherIndex {
    pub(crate) entries: Entries,
    /// The `<school>-` prefix of this school's AD/DNS names, for looking up a job's host.
    pub(crate) dns_prefix: String,
}

impl OtherIndex {
    /// From the schools' texts, keeping only what `interest` names.
    pub(crate) fn from_texts(schools: &[OtherSchool<'_>], interest: &Interest) -> OtherIndex {
        let mut entries = Entries::default();
        for school in schools {
            entries.scan(school.school, school.devices, Some(interest));
        }
        OtherIndex {
            entries,
            dns_prefix: interest.dns_prefix.clone(),
        }
    }

    /// From prebuilt indexes (in school order, the first one that has a value wins), keeping
    /// only what `interest` names.
    pub(crate) fn from_indexes(indexes: &[&SchoolIndex], interest: &Interest) -> OtherIndex {
        fn first<K, V: Clone>(
            indexes: &[&SchoolIndex],
            wanted: impl Iterator<Item = K>,
            map: impl Fn(&Entries) -> &HashMap<K, V>,
        ) -> HashMap<K, V>
        where
            K: std::hash::Hash + Eq,
        {
            wanted
                .filter_map(|key| {
                    let value = indexes
                        .iter()
                        .find_map(|index| map(&index.entries).get(&key))?;
                    Some((key, value.clone()))
                })
                .collect()
        }
        let entries = Entries {
            names: first(indexes, interest.old_names.iter().cloned(), |e| &e.names),
            macs: first(indexes, interest.macs.iter().copied(), |e| &e.macs),
            ips: first(indexes, interest.ips.iter().copied(), |e| &e.ips),
            dns_names: first(indexes, interest.dns_names.iter().cloned(), |e| {
                &e.dns_names
            }),
        };
        OtherIndex {
            entries,
            dns_prefix: interest.dns_prefix.clone(),
        }
    }
}
