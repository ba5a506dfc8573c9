//! Properties of the file model and the merge engine over generated files and jobs.

use devices_csv::{
    Device, DevicesFile, Field, Group, HostSpec, Ip, Job, JobOutcome, MergeOptions, OtherSchool,
    PxeFlag, Role, SchoolIndex, merge, merge_indexed,
};
use proptest::prelude::*;

/// A hostname from a small pool, so jobs and master lines collide often.
fn arb_hostname() -> impl Strategy<Value = String> {
    (0u8..12, prop::bool::ANY).prop_map(|(n, upper)| {
        let name = format!("r1-pc{n:02}");
        if upper { name.to_uppercase() } else { name }
    })
}

fn arb_mac() -> impl Strategy<Value = String> {
    (0u8..16, 0usize..3).prop_map(|(n, style)| match style {
        0 => format!("00:1a:2b:3c:4d:{n:02x}"),
        1 => format!("00-1A-2B-3C-4D-{n:02X}"),
        _ => format!("001a2b3c4d{n:02x}"),
    })
}

fn arb_ip() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("DHCP".to_owned()),
        (1u8..10).prop_map(|n| format!("10.0.0.{n}"))
    ]
}

/// A master line: records with odd spacing and extra fields, comments, blank and malformed lines,
/// each with LF, CRLF or (possibly) no line ending.
fn arb_master_line() -> impl Strategy<Value = String> {
    let record = (
        arb_hostname(),
        arb_mac(),
        arb_ip(),
        11usize..18,
        prop::bool::ANY,
        "[a-z ]{0,6}",
    )
        .prop_map(|(host, mac, ip, width, spaced, comment)| {
            let mut fields = vec![
                "r1".to_owned(),
                if spaced { format!(" {host} ") } else { host },
                "win11".to_owned(),
                mac,
                ip,
            ];
            fields.resize(width, String::new());
            fields[10] = "1".to_owned();
            if width > 14 {
                fields[14] = comment;
            }
            fields.join(";")
        });
    let other = prop_oneof![
        Just("# comment; with ; separators".to_owned()),
        Just(String::new()),
        Just("   ".to_owned()),
        Just("r1;short;line".to_owned()),
    ];
    (
        prop_oneof![4 => record, 1 => other],
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(line, ending)| format!("{line}{ending}"))
}

fn arb_master() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(arb_master_line(), 0..25),
        prop::bool::ANY,
    )
        .prop_map(|(lines, cut_last)| {
            let mut text = lines.concat();
            if cut_last {
                while text.ends_with('\n') || text.ends_with('\r') {
                    text.pop();
                }
            }
            text
        })
}

fn arb_job() -> impl Strategy<Value = Job> {
    let upsert = (
        arb_hostname(),
        prop::option::of(arb_hostname()),
        arb_mac(),
        arb_ip(),
        prop::option::of(0i64..4),
        prop::bool::ANY,
    )
        .prop_map(|(hostname, old_hostname, mac, ip, pxe_flag, with_role)| {
            Job::upsert(HostSpec {
                hostname,
                old_hostname,
                room: "r1".into(),
                group: "ubuntu".into(),
                mac,
                ip,
                role: if with_role {
                    "staffcomputer".into()
                } else {
                    String::new()
                },
                pxe_flag,
            })
        });
    let delete = arb_hostname().prop_map(Job::delete);
    (
        prop_oneof![3 => upsert, 1 => delete],
        prop::bool::weighted(0.15),
    )
        .prop_map(|(job, dry)| if dry { job.dry_run() } else { job })
}

fn host_of(job: &Job) -> Vec<String> {
    match &job.action {
        devices_csv::Action::Upsert(spec) => {
            let mut names = vec![spec.hostname.to_lowercase()];
            names.extend(spec.old_hostname.iter().map(|old| old.to_lowercase()));
            names
        }
        devices_csv::Action::Delete { hostname } => vec![hostname.to_lowercase()],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any text comes back byte for byte from the file model.
    #[test]
    fn file_model_round_trips(text in "(\\PC|[;\\r\\n#])*") {
        prop_assert_eq!(DevicesFile::parse(&text).to_string(), text);
    }

    /// Master lines of hosts no job touches (and that are not in the delta) are byte-identical and
    /// in their original order in the output.
    #[test]
    fn untouched_lines_are_byte_identical(master in arb_master(), jobs in prop::collection::vec(arb_job(), 0..8)) {
        let touched: Vec<String> = jobs.iter().flat_map(host_of).collect();
        let output = merge(&master, "", &[], &jobs, &MergeOptions::default());
        let input = DevicesFile::parse(&master);
        let expected: Vec<&str> = input
            .lines()
            .iter()
            .filter(|line| line.record().is_none_or(|record| !touched.contains(&record.hostname_key().into_owned())))
            .map(|line| line.raw())
            .collect();
        let result = DevicesFile::parse(&output.master);
        let mut found = result.lines().iter().map(|line| line.raw());
        for line in &expected {
            let line = line.trim_end_matches(['\r', '\n']);
            // The last input line may have gained a line ending; everything else is exact.
            prop_assert!(found.any(|candidate| candidate.trim_end_matches(['\r', '\n']) == line
                && (candidate.len() - line.len() <= 2)), "line {:?} missing from\n{}", line, output.master);
        }
        for line in expected.iter().filter(|line| line.ends_with('\n')) {
            prop_assert!(output.master.contains(line));
        }
    }

    /// Merging the output again without jobs changes nothing.
    #[test]
    fn merge_is_idempotent(master in arb_master(), jobs in prop::collection::vec(arb_job(), 0..8)) {
        let first = merge(&master, "", &[], &jobs, &MergeOptions::default());
        let second = merge(&first.master, &first.delta, &[], &[], &MergeOptions::default());
        prop_assert_eq!(&second.master, &first.master);
        prop_assert_eq!(&second.delta, &first.delta);
        prop_assert_eq!(second.diff, "");
    }

    /// Running the same job again (a redelivered stream entry) changes nothing more.
    #[test]
    fn job_applied_twice_equals_once(master in arb_master(), job in arb_job()) {
        let once = merge(&master, "", &[], std::slice::from_ref(&job), &MergeOptions::default());
        let twice = merge(&once.master, &once.delta, &[], &[job], &MergeOptions::default());
        prop_assert_eq!(&twice.master, &once.master);
        prop_assert_eq!(&twice.delta, &once.delta);
    }

    /// A batch whose jobs all applied and touch distinct hosts, run again after a crash before the
    /// acknowledgement, changes nothing more. (With jobs of one batch fighting over one host or
    /// one MAC, a replay may refuse a job the first run applied; the final files are the same as
    /// long as the later job wins, which is stream order.)
    #[test]
    fn batch_replay_changes_nothing(master in arb_master(), jobs in prop::collection::vec(arb_job(), 0..6)) {
        // A dry run is evaluated against the state at its place; after a replay that state holds
        // the batch's own effects, so dry runs are left out here.
        let jobs: Vec<Job> = jobs.into_iter().map(|job| Job { dry_run: false, ..job }).collect();
        let hosts: Vec<String> = jobs.iter().flat_map(host_of).collect();
        let mut distinct = hosts.clone();
        distinct.sort();
        distinct.dedup();
        prop_assume!(distinct.len() == hosts.len());
        let once = merge(&master, "", &[], &jobs, &MergeOptions::default());
        prop_assume!(once.outcomes.iter().all(|outcome| matches!(outcome, devices_csv::JobOutcome::Applied { .. })));
        let twice = merge(&once.master, &once.delta, &[], &jobs, &MergeOptions::default());
        prop_assert_eq!(&twice.master, &once.master);
        prop_assert_eq!(&twice.delta, &once.delta);
        let all_applied = twice.outcomes.iter().all(|outcome| matches!(outcome, devices_csv::JobOutcome::Applied { .. }));
        prop_assert!(all_applied, "{:?}", twice.outcomes);
    }

    /// The facts an applied job reports are what its host's line says: `written` the first line
    /// of the new master with its name (for the last job on that name), `previous` the first line
    /// of the old master with the old name (what a re-parse of the files found before).
    #[test]
    fn reported_facts_are_the_files_lines(master in arb_master(), jobs in prop::collection::vec(arb_job(), 0..8)) {
        let options = MergeOptions { adopt_manual_hosts: true, ..MergeOptions::default() };
        let output = merge(&master, "", &[], &jobs, &options);
        let line_of = |text: &str, name: &str| {
            DevicesFile::parse(text).records().map(|(_, record)| record.clone()).find(|record| record.hostname_key() == name)
                .map(|record| (
                    record.get(Field::Role).to_ascii_lowercase().parse::<Role>().ok(),
                    record.get(Field::Ip).parse::<std::net::Ipv4Addr>().ok(),
                    record.get(Field::PxeFlag).parse::<PxeFlag>().ok(),
                ))
        };
        for (index, (job, outcome)) in jobs.iter().zip(&output.outcomes).enumerate() {
            let JobOutcome::Applied { written, previous, dry_run: None, .. } = outcome else { continue };
            if let Some(previous) = previous {
                let before = previous.before.as_ref().map(|host| (host.role, host.ip, host.pxe_flag));
                prop_assert_eq!(before, line_of(&master, previous.name.as_str()), "job {}", index);
            }
            let later = jobs[index + 1..].iter().filter(|job| !job.dry_run).flat_map(host_of).collect::<Vec<_>>();
            if let Some(written) = written && !later.contains(&written.name.as_str().to_owned()) {
                let now = Some((written.role, written.ip, written.pxe_flag));
                prop_assert_eq!(now, line_of(&output.master, written.name.as_str()), "job {} {:?}", index, job);
            }
        }
    }

    /// Merging with the other schools indexed beforehand gives what merging with their texts
    /// gives: files, outcomes and messages.
    #[test]
    fn indexed_other_schools_merge_alike(
        master in arb_master(),
        gym in arb_master(),
        other in arb_master(),
        jobs in prop::collection::vec(arb_job(), 0..8),
    ) {
        // School r1's `pcNN` is `r1-pcNN` in AD and DNS, the name of default-school's jobs.
        let r1 = other.replace(";r1-pc", ";pc").replace(";R1-PC", ";PC");
        let texts = [
            OtherSchool { school: "gym", devices: &gym },
            OtherSchool { school: "r1", devices: &r1 },
        ];
        let indexes: Vec<SchoolIndex> = texts.iter().map(|school| SchoolIndex::build(school.school, school.devices)).collect();
        let options = MergeOptions::default();
        let by_text = merge(&master, "", &texts, &jobs, &options);
        let by_index = merge_indexed(&master, "", &indexes.iter().collect::<Vec<_>>(), &jobs, &options);
        prop_assert_eq!(by_index, by_text);
    }

    /// Taking a batch back out of a file an administrator appended hosts to afterwards gives the
    /// old hosts plus the administrator's lines, each byte for byte.
    #[test]
    fn undo_keeps_the_administrators_appends(
        old in arb_master(),
        jobs in prop::collection::vec(arb_job(), 0..8),
        appended in prop::collection::vec(0u8..50, 0..4),
    ) {
        let options = MergeOptions { adopt_manual_hosts: true, ..MergeOptions::default() };
        let written = merge(&old, "", &[], &jobs, &options).master;
        let admin: Vec<String> = appended
            .iter()
            .map(|n| format!("r9;admin{n:02};nopxe;00:1A:2B:3C:9F:{n:02X};DHCP;;;;printer;;0;;;;"))
            .collect();
        let mut current = written.clone();
        for line in &admin {
            if !current.is_empty() && !current.ends_with('\n') {
                current.push('\n');
            }
            current.push_str(line);
            current.push('\n');
        }
        let undone = devices_csv::undo(&old, &written, &current).expect("only new hosts were added");
        let records = |text: &str| {
            let mut lines: Vec<String> = DevicesFile::parse(text)
                .lines()
                .iter()
                .filter(|line| line.record().is_some())
                .map(|line| line.content().to_owned())
                .collect();
            lines.sort();
            lines
        };
        let mut expected = records(&old);
        expected.extend(admin.iter().cloned());
        expected.sort();
        prop_assert_eq!(records(&undone), expected);
        for line in &admin {
            prop_assert!(undone.contains(line.as_str()));
        }
    }

    /// A device written as a canonical line parses back to the same device.
    #[test]
    fn device_line_round_trips(
        host in "[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?",
        mac in any::<[u8; 6]>(),
        ip in prop::option::of((1u8..=254, any::<u8>(), any::<u8>(), 1u8..=254)),
        role in prop::option::of(prop::sample::select(Role::ALL.to_vec())),
        pxe in 0i64..4,
        free in "[^;\\r\\n\\x00]{0,8}",
    ) {
        let ip = match ip {
            Some((a, b, c, d)) => Ip::Fixed([a, b, c, d].into()),
            None => Ip::Dhcp,
        };
        let mut device = Device::new("r1".parse().unwrap(), host.parse().unwrap(), Group::nopxe(), mac.into(), ip);
        device.role = role;
        device.pxe_flag = PxeFlag::from_number(pxe).unwrap();
        device.comment = free.clone();
        device.office_key = free;
        let line = device.to_line();
        prop_assert_eq!(line.split(';').count(), 15);
        prop_assert_eq!(line.parse::<Device>(), Ok(device));
    }
}
