//! One test per devices.csv defect of the Python predecessor (SPEC §9), each asserting the fixed
//! behaviour directly on the merge output.

use devices_csv::{Change, ConflictKind, DevicesFile, Error, Job, JobOutcome, MergeOptions, merge};

use crate::{conflict_kinds, create, hostnames};

const MASTER: &str = "# r100\n\
r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;KEY;;;classroom-teachercomputer;;1;;;;asset 17;\n";

#[test]
fn conflicting_job_is_not_written_when_others_of_the_batch_survive() {
    let jobs = [
        create("r100-pc02", "00:1A:2B:3C:4D:02", "10.0.100.2"),
        create("r100-pc03", "00:1a:2b:3c:4d:01", "10.0.100.3"),
        create("r100-pc04", "00:1A:2B:3C:4D:04", "10.0.100.1"),
        create("r100-pc05", "00:1A:2B:3C:4D:05", "10.0.100.5"),
    ];
    let output = merge(MASTER, "", &[], &jobs, &MergeOptions::default());
    let kinds = conflict_kinds(&output);
    assert_eq!(
        kinds,
        [None, Some(ConflictKind::Mac), Some(ConflictKind::Ip), None]
    );
    for text in [&output.master, &output.delta] {
        let names = hostnames(text);
        assert!(!names.contains(&"r100-pc03".to_owned()), "{text}");
        assert!(!names.contains(&"r100-pc04".to_owned()), "{text}");
        assert!(names.contains(&"r100-pc05".to_owned()), "{text}");
    }
}

#[test]
fn update_without_role_keeps_the_sophomorix_role() {
    let output = merge(
        MASTER,
        "",
        &[],
        &[create("r100-pc01", "00:1A:2B:3C:4D:01", "10.0.100.1")],
        &MergeOptions::default(),
    );
    assert!(matches!(
        output.outcomes[0],
        JobOutcome::Applied {
            change: Change::Updated,
            ..
        }
    ));
    let file = DevicesFile::parse(&output.master);
    let (_, record) = file.records().next().expect("pc01 is still there");
    assert_eq!(record.value(8), "classroom-teachercomputer");
    assert_eq!(record.value(5), "KEY");
    assert_eq!(record.value(14), "asset 17");
}

#[test]
fn separator_and_line_break_in_values_cannot_inject_lines() {
    let mut room = create("r100-pc02", "00:1A:2B:3C:4D:02", "");
    let Job {
        action: devices_csv::Action::Upsert(spec),
        ..
    } = &mut room
    else {
        unreachable!()
    };
    spec.room = "r100;x;nopxe;00:1A:2B:3C:4D:09;10.0.0.9;;;;addc;;1\nr100".into();
    let mut group = create("r100-pc03", "00:1A:2B:3C:4D:03", "");
    let Job {
        action: devices_csv::Action::Upsert(spec),
        ..
    } = &mut group
    else {
        unreachable!()
    };
    spec.group = "win11\nr100;evil;nopxe;00:1A:2B:3C:4D:08;DHCP;;;;;;1".into();
    let output = merge(MASTER, "", &[], &[room, group], &MergeOptions::default());
    for outcome in &output.outcomes {
        assert!(
            matches!(outcome, JobOutcome::Rejected(Error::Invalid(_))),
            "{outcome:?}"
        );
    }
    assert_eq!(output.master, MASTER);
    assert_eq!(hostnames(&output.delta), Vec::<String>::new());
}

#[test]
fn dry_run_of_the_first_job_does_not_apply_to_the_batch() {
    let jobs = [
        create("r100-pc02", "00:1A:2B:3C:4D:02", "").dry_run(),
        create("r100-pc03", "00:1A:2B:3C:4D:03", ""),
    ];
    let output = merge(MASTER, "", &[], &jobs, &MergeOptions::default());
    let JobOutcome::Applied {
        dry_run: Some(dry_run),
        ..
    } = &output.outcomes[0]
    else {
        panic!("first job is a dry run: {:?}", output.outcomes[0]);
    };
    assert!(
        dry_run.diff.contains("+r100;r100-pc02;"),
        "{}",
        dry_run.diff
    );
    assert!(matches!(
        output.outcomes[1],
        JobOutcome::Applied { dry_run: None, .. }
    ));
    assert_eq!(hostnames(&output.master), ["r100-pc01", "r100-pc03"]);
    assert_eq!(hostnames(&output.delta), ["r100-pc03"]);
}

#[test]
fn delete_then_create_of_one_host_in_a_batch_keeps_it() {
    let jobs = [
        Job::delete("r100-pc01"),
        create("r100-pc01", "00:1A:2B:3C:4D:01", "10.0.100.1"),
    ];
    let output = merge(MASTER, "", &[], &jobs, &MergeOptions::default());
    assert_eq!(hostnames(&output.master), ["r100-pc01"]);
    assert_eq!(hostnames(&output.delta), ["r100-pc01"]);
    let reversed = merge(
        MASTER,
        "",
        &[],
        &[jobs[1].clone(), jobs[0].clone()],
        &MergeOptions::default(),
    );
    assert_eq!(hostnames(&reversed.master), Vec::<String>::new());
    assert_eq!(reversed.stats.deleted_hosts, 1);
}
