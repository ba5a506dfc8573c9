//! The host facts an applied job hands its caller (`JobOutcome::Applied::written` and
//! `previous`): what verification builds its expectations from instead of parsing the files again.

use devices_csv::{
    Change, Field, HostFacts, HostSpec, Job, JobOutcome, MergeOptions, Previous, PxeFlag, Role,
    merge,
};

use crate::create;

/// Before the batch: pc01 written by hand with a role and a room-less comment; pc02 managed
/// (master and delta disagree on its IP, as after a crash between the two writes); pc03 only in
/// the delta; sw01 with a role sophomorix does not know.
const MASTER: &str = "\
r100;pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;faculty-teachercomputer;;1;;;;hand
r100;pc02;win11;00:1A:2B:3C:4D:02;10.0.100.2;;;;;;2;;;;
r100;sw01;nopxe;00:1A:2B:3C:4D:09;DHCP;;;;Coffee-Machine;;0;;;;
";
const DELTA: &str = "\
# managed-by: linbo-docker — DO NOT EDIT MANUALLY
r100;pc02;win11;00:1A:2B:3C:4D:02;10.0.100.22;;;;;;2;;;;
r100;pc03;win11;00:1A:2B:3C:4D:03;10.0.100.3;;;;printer;;0;;;;
";

fn options(school: &str) -> MergeOptions {
    MergeOptions {
        school: school.to_owned(),
        adopt_manual_hosts: true,
        ..MergeOptions::default()
    }
}

/// `written` and `previous` of each job, panicking on a refused one.
fn facts(school: &str, jobs: &[Job]) -> Vec<(Change, Option<HostFacts>, Option<Previous>)> {
    merge(MASTER, DELTA, &[], jobs, &options(school))
        .outcomes
        .into_iter()
        .map(|outcome| match outcome {
            JobOutcome::Applied {
                change,
                written,
                previous,
                ..
            } => (change, written, previous),
            JobOutcome::Rejected(problem) => panic!("refused: {problem}"),
        })
        .collect()
}

fn rename(from: &str, to: &str, mac: &str) -> Job {
    Job::upsert(HostSpec {
        hostname: to.into(),
        old_hostname: Some(from.into()),
        room: "r100".into(),
        mac: mac.into(),
        ip: "10.0.100.50".into(),
        ..HostSpec::default()
    })
}

#[test]
fn an_update_without_a_role_writes_the_role_the_line_had() {
    let [(change, written, previous)] = facts(
        "default-school",
        &[create("PC01", "00:1a:2b:3c:4d:01", "10.0.100.11")],
    )
    .try_into()
    .expect("one job");
    assert_eq!(change, Change::Updated);
    assert_eq!(previous, None, "no delete, no rename");
    let written = written.expect("an update writes the host");
    assert_eq!(written.name.as_str(), "pc01");
    assert_eq!(written.dns_name, "pc01", "no prefix in default-school");
    assert_eq!(written.role, Some(Role::FacultyTeacherComputer));
    assert_eq!(written.ip, Some("10.0.100.11".parse().expect("ip")));
    assert_eq!(written.pxe_flag, Some(PxeFlag::Linbo));
    assert!(written.has_computer_account() && !written.is_server());
}

#[test]
fn a_created_host_outside_default_school_carries_the_school_prefix() {
    let [(change, written, _)] = facts("Gym", &[create("pc10", "00:1A:2B:3C:4D:10", "")])
        .try_into()
        .expect("one job");
    assert_eq!(change, Change::Created);
    let written = written.expect("written");
    assert_eq!(written.dns_name, "gym-pc10");
    assert_eq!(
        (written.role, written.ip),
        (None, None),
        "default role, DHCP"
    );
}

#[test]
fn a_delete_reports_the_host_as_the_files_had_it_before_the_batch() {
    let jobs = [
        // The master's line wins over the delta's (it is what the last import saw).
        Job::delete("pc02"),
        // Only in the delta.
        Job::delete("pc03"),
        // Deleted twice: the second delete still names what was there before the batch.
        Job::delete("pc02"),
        Job::delete("nowhere"),
    ];
    let outcomes = facts("default-school", &jobs);
    let before = |index: usize| {
        let (_, written, previous) = &outcomes[index];
        assert_eq!(written, &None, "a delete writes nothing");
        previous
            .clone()
            .expect("a delete has a previous host")
            .before
    };
    let pc02 = before(0).expect("pc02 was in the files");
    assert_eq!(pc02.ip, Some("10.0.100.2".parse().expect("ip")));
    assert_eq!(pc02.pxe_flag, Some(PxeFlag::LinboOpsi));
    let pc03 = before(1).expect("pc03 was in the delta");
    assert_eq!(pc03.role, Some(Role::Printer));
    assert_eq!(before(2), Some(pc02));
    assert_eq!(outcomes[3].0, Change::AlreadyAbsent);
    assert_eq!(before(3), None);
}

#[test]
fn a_host_created_in_the_batch_was_not_there_before_it() {
    let outcomes = facts(
        "default-school",
        &[
            create("pc20", "00:1A:2B:3C:4D:20", "10.0.100.20"),
            Job::delete("pc20"),
        ],
    );
    assert_eq!(outcomes[1].0, Change::Deleted);
    let previous = outcomes[1].2.clone().expect("previous");
    assert_eq!(previous.name.as_str(), "pc20");
    assert_eq!(previous.before, None);
}

#[test]
fn a_rename_reports_both_names_also_when_it_was_carried_out_before() {
    let first = facts("gym", &[rename("pc01", "pc50", "00:1A:2B:3C:4D:01")]);
    let (change, written, previous) = &first[0];
    assert!(matches!(change, Change::Renamed { from } if from.as_str() == "pc01"));
    assert_eq!(
        written.as_ref().map(|host| host.dns_name.as_str()),
        Some("gym-pc50")
    );
    let previous = previous.as_ref().expect("previous");
    assert_eq!(previous.dns_name, "gym-pc01");
    let before = previous.before.as_ref().expect("pc01 was in the master");
    assert_eq!(before.ip, Some("10.0.100.1".parse().expect("ip")));

    // The same job again after the first run wrote its files: an update, still naming pc01.
    let once = merge(
        MASTER,
        DELTA,
        &[],
        &[rename("pc01", "pc50", "00:1A:2B:3C:4D:01")],
        &options("gym"),
    );
    let again = merge(
        &once.master,
        &once.delta,
        &[],
        &[rename("pc01", "pc50", "00:1A:2B:3C:4D:01")],
        &options("gym"),
    );
    let JobOutcome::Applied {
        change, previous, ..
    } = &again.outcomes[0]
    else {
        panic!("{:?}", again.outcomes)
    };
    assert_eq!(change, &Change::Unchanged);
    let previous = previous.as_ref().expect("the old name");
    assert_eq!((previous.name.as_str(), &previous.before), ("pc01", &None));
}

#[test]
fn an_unknown_role_counts_as_an_account_and_no_server() {
    let [(_, _, previous)] = facts("default-school", &[Job::delete("sw01")])
        .try_into()
        .expect("one job");
    let before = previous.and_then(|previous| previous.before).expect("sw01");
    assert_eq!(before.role, None, "Coffee-Machine is no sophomorix role");
    assert!(before.has_computer_account(), "verification looks in AD");
    assert!(!before.is_server());
    assert_eq!(before.ip, None, "DHCP");
}

#[test]
fn a_record_gives_its_columns_by_field() {
    let file = devices_csv::DevicesFile::parse(MASTER);
    let (_, record) = file.records().next().expect("a record");
    assert_eq!(record.get(Field::Role), "faculty-teachercomputer");
    assert_eq!(record.get(Field::Ip), "10.0.100.1");
    assert_eq!(record.get(Field::Comment), "hand");
    assert_eq!(record.get(Field::OldHostname), "", "no column");
}
