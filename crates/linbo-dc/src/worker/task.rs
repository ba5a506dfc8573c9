//! Stream entries decoded into tasks (SPEC §2.1). Every field is untrusted: an entry that does
//! not decode is dead-lettered with the reason, never handled.

use std::collections::HashMap;

use devices_csv::Hostname;
use job_stream::{Invalid, Job, Lane};

use crate::paths::School;
use crate::worker::api::{OperationId, ProvisionAction};

/// The longest stream value quoted in a reason (values are untrusted and may be huge).
const EXCERPT: usize = 64;

/// One stream entry of `linbo:jobs`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// `provision_host`: batched per school.
    Provision {
        /// `operation_id`.
        operation_id: OperationId,
        /// `action` (the operation's options say the same; the entry routes).
        action: ProvisionAction,
        /// `school`, or the configured `SCHOOL`.
        school: School,
    },
    /// `macct_repair`: the concurrent lane.
    MachineAccount {
        /// `operation_id`.
        operation_id: OperationId,
        /// `host`, a valid host name (never starting with `-`).
        host: Hostname,
        /// `school`, or the configured `SCHOOL`.
        school: School,
        /// `attempt`, numeric.
        attempt: u32,
    },
}

impl Task {
    /// The operation this entry is about.
    pub fn operation_id(&self) -> &OperationId {
        match self {
            Task::Provision { operation_id, .. } | Task::MachineAccount { operation_id, .. } => {
                operation_id
            }
        }
    }

    /// The school the entry is routed to.
    pub fn school(&self) -> &School {
        match self {
            Task::Provision { school, .. } | Task::MachineAccount { school, .. } => school,
        }
    }

    /// `provision_host` or `macct_repair`.
    pub fn kind(&self) -> &'static str {
        match self {
            Task::Provision { .. } => "provision_host",
            Task::MachineAccount { .. } => "macct_repair",
        }
    }

    /// Decodes `fields`; entries without `school` get `default_school`.
    pub fn decode(
        fields: &HashMap<String, String>,
        default_school: &School,
    ) -> Result<Task, Invalid> {
        let operation_id = match fields.get("operation_id") {
            None => return Err(Invalid::new("missing field operation_id")),
            Some(value) => OperationId::parse(value)
                .map_err(|error| Invalid::new(format!("field operation_id: {error}")))?,
        };
        let school = match fields.get("school").map(String::as_str) {
            None | Some("") => default_school.clone(),
            Some(value) => value
                .parse::<School>()
                .map_err(|problem| Invalid::new(format!("field school: {problem}")))?,
        };
        match fields.get("type").map(String::as_str) {
            Some("provision_host") => {
                let action = match fields.get("action").map(String::as_str) {
                    Some("create") => ProvisionAction::Create,
                    Some("update") => ProvisionAction::Update,
                    Some("delete") => ProvisionAction::Delete,
                    Some(other) => {
                        return Err(Invalid::new(format!(
                            "field action: expected create, update or delete, found {:?}",
                            excerpt(other)
                        )));
                    }
                    None => return Err(Invalid::new("missing field action")),
                };
                Ok(Task::Provision {
                    operation_id,
                    action,
                    school,
                })
            }
            Some("macct_repair") => {
                let host = match fields.get("host") {
                    None => return Err(Invalid::new("missing field host")),
                    // The API's rsync hook may send the client's FQDN (rsyncd's reverse lookup,
                    // UPSTREAM.md §A.10): the host is its first label, as linbo7 takes it.
                    Some(value) if value.parse::<std::net::Ipv4Addr>().is_ok() => {
                        return Err(Invalid::new(format!(
                            "field host {:?}: an IP address, not a host name",
                            excerpt(value)
                        )));
                    }
                    Some(value) => {
                        let short = value
                            .split_once('.')
                            .map_or(value.as_str(), |(first, _)| first);
                        short.parse::<Hostname>().map_err(|rule| {
                            Invalid::new(format!("field host {:?}: {rule}", excerpt(value)))
                        })?
                    }
                };
                let attempt = match fields.get("attempt") {
                    None => return Err(Invalid::new("missing field attempt")),
                    Some(value) => value.parse::<u32>().map_err(|_| {
                        Invalid::new(format!(
                            "field attempt: expected a whole number, found {:?}",
                            excerpt(value)
                        ))
                    })?,
                };
                Ok(Task::MachineAccount {
                    operation_id,
                    host,
                    school,
                    attempt,
                })
            }
            Some(other) => Err(Invalid::new(format!(
                "unknown type {:?} (expected provision_host or macct_repair)",
                excerpt(other)
            ))),
            None => Err(Invalid::new("missing field type")),
        }
    }
}

/// Decoding is [`Task::decode`], which the worker's `Handler::decode` calls with the configured
/// `SCHOOL`.
impl Job for Task {
    fn lane(&self) -> Lane {
        match self {
            Task::Provision { school, .. } => Lane::Batched(school.to_string()),
            Task::MachineAccount { .. } => Lane::Concurrent,
        }
    }
}

fn excerpt(value: &str) -> String {
    value.chars().take(EXCERPT).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0b9c3e5a-1d2f-4a6b-8c7d-9e0f1a2b3c4d";

    fn decode(pairs: &[(&str, &str)]) -> Result<Task, Invalid> {
        let fields = pairs
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        Task::decode(&fields, &"gym".parse().expect("school"))
    }

    #[test]
    fn a_provisioning_entry_without_school_gets_the_configured_one() {
        let task = decode(&[
            ("type", "provision_host"),
            ("operation_id", ID),
            ("action", "create"),
        ])
        .expect("valid");
        assert_eq!(task.school().as_str(), "gym");
        assert_eq!(task.lane(), Lane::Batched("gym".to_owned()));
    }

    #[test]
    fn a_machine_account_entry_runs_in_the_concurrent_lane() {
        let task = decode(&[
            ("type", "macct_repair"),
            ("operation_id", ID),
            ("host", "R100-PC01"),
            ("school", "default-school"),
            ("attempt", "2"),
        ])
        .expect("valid");
        assert_eq!(task.lane(), Lane::Concurrent);
        let Task::MachineAccount { host, attempt, .. } = task else {
            panic!("not a machine-account task");
        };
        assert_eq!(host.as_str(), "r100-pc01");
        assert_eq!(attempt, 2);
    }

    #[test]
    fn a_machine_account_host_given_as_fqdn_is_its_first_label() {
        for (given, host) in [
            ("r100-pc01.linuxmuster.lan", "r100-pc01"),
            ("R100-PC01.Schule.Example.", "r100-pc01"),
            ("pc1", "pc1"),
        ] {
            let task = decode(&[
                ("type", "macct_repair"),
                ("operation_id", ID),
                ("host", given),
                ("attempt", "0"),
            ])
            .unwrap_or_else(|invalid| panic!("{given}: {invalid:?}"));
            let Task::MachineAccount { host: decoded, .. } = task else {
                panic!("not a machine-account task");
            };
            assert_eq!(decoded.as_str(), host, "{given}");
        }
        for bad in [".linuxmuster.lan", "-rf.x", "pc_1.lan", "10.0.0.5"] {
            let invalid = decode(&[
                ("type", "macct_repair"),
                ("operation_id", ID),
                ("host", bad),
                ("attempt", "0"),
            ])
            .expect_err(bad);
            assert!(format!("{invalid:?}").contains("field host"), "{invalid:?}");
        }
    }

    #[test]
    fn bad_entries_say_which_field_is_wrong() {
        let cases: [(&[(&str, &str)], &str); 8] = [
            (
                &[("type", "macct_repair"), ("host", "pc1"), ("attempt", "0")],
                "missing field operation_id",
            ),
            (
                &[
                    ("type", "macct_repair"),
                    ("operation_id", "../../etc"),
                    ("host", "pc1"),
                    ("attempt", "0"),
                ],
                "field operation_id",
            ),
            (
                &[
                    ("type", "macct_repair"),
                    ("operation_id", ID),
                    ("host", "-rf"),
                    ("attempt", "0"),
                ],
                "field host",
            ),
            (
                &[
                    ("type", "macct_repair"),
                    ("operation_id", ID),
                    ("host", "pc1"),
                ],
                "missing field attempt",
            ),
            (
                &[
                    ("type", "macct_repair"),
                    ("operation_id", ID),
                    ("host", "pc1"),
                    ("attempt", "x"),
                ],
                "field attempt",
            ),
            (
                &[("type", "format_disk"), ("operation_id", ID)],
                "unknown type \"format_disk\"",
            ),
            (
                &[
                    ("type", "provision_host"),
                    ("operation_id", ID),
                    ("action", "purge"),
                ],
                "field action",
            ),
            (
                &[
                    ("type", "provision_host"),
                    ("operation_id", ID),
                    ("action", "create"),
                    ("school", "../x"),
                ],
                "field school",
            ),
        ];
        for (fields, expected) in cases {
            let error = decode(fields).expect_err("invalid");
            assert!(
                error.reason().contains(expected),
                "{fields:?}: {:?} does not mention {expected:?}",
                error.reason()
            );
        }
    }
}
