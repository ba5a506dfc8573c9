//! Issue 13: what no job may touch (the DC's own entries, an administrator's hand-made hosts
//! unless adoption is allowed, renames from outside the school) and the value limits.

use devices_csv::{
    Error, HostSpec, Job, JobOutcome, MergeOptions, MergeOutput, OtherSchool, RefusalReason, merge,
};
use proptest::prelude::*;

use crate::{create, hostnames};

/// default-school as linuxmuster sets it up: the server itself (role addc), a second server, a
/// printer the administrator added by hand; one host LINBO Docker manages (in the delta).
const MASTER: &str = "\
server;server;nopxe;00:1A:2B:3C:4D:F0;10.0.0.1;;;;addc;;0;;;;
server;backup;nopxe;00:1A:2B:3C:4D:F1;10.0.0.2;;;;server;;0;;;;
r100;r100-pr01;nopxe;00:1A:2B:3C:4D:02;10.0.100.2;;;;printer;;0;;;;hand-made
r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;;;1;;;;
";
const DELTA: &str = "\
# managed-by: linbo-docker — DO NOT EDIT MANUALLY
r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;;;1;;;;
";

fn options() -> MergeOptions {
    MergeOptions {
        protected_hosts: vec!["SERVER".to_owned()],
        ..MergeOptions::default()
    }
}

fn rename(from: &str, to: &str, mac: &str) -> Job {
    Job::upsert(HostSpec {
        hostname: to.into(),
        old_hostname: Some(from.into()),
        room: "r100".into(),
        group: "win11".into(),
        mac: mac.into(),
        ..HostSpec::default()
    })
}

fn run(jobs: &[Job], options: &MergeOptions) -> MergeOutput {
    merge(MASTER, DELTA, &[], jobs, options)
}

/// The refusal of job `index`, as its message.
fn refusal(output: &MergeOutput, index: usize) -> String {
    match &output.outcomes[index] {
        JobOutcome::Rejected(error @ Error::Refused(_)) => error.to_string(),
        other => panic!("job {index}: expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_dcs_own_entries_are_never_renamed_deleted_or_updated() {
    let jobs = [
        rename("server", "r100-pc50", "00:1A:2B:3C:4D:F0"),
        rename("r100-pc01", "server", "00:1A:2B:3C:4D:01"),
        Job::delete("backup"),
        create("backup", "00:1A:2B:3C:4D:F1", "10.0.0.2"),
        Job::delete("SERVER"),
    ];
    let output = run(&jobs, &options());
    assert_eq!(
        refusal(&output, 0),
        "server: the DC's own entries are never changed by jobs (role addc, devices.csv line 1)"
    );
    assert_eq!(
        refusal(&output, 1),
        "server: the DC's own entries are never changed by jobs (role addc, devices.csv line 1)"
    );
    assert!(refusal(&output, 2).contains("(role server, devices.csv line 2)"));
    assert!(refusal(&output, 3).contains("(role server, devices.csv line 2)"));
    assert!(refusal(&output, 4).starts_with("server: "));
    assert_eq!(output.master, MASTER, "nothing changed");
    assert_eq!(output.delta, DELTA);
}

#[test]
fn the_dcs_name_is_protected_even_when_devices_csv_lacks_it() {
    let master = "r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;;;1;;;;\n";
    let jobs = [
        create("server", "00:1A:2B:3C:4D:77", ""),
        Job::delete("server"),
    ];
    let output = merge(master, "", &[], &jobs, &options());
    assert_eq!(
        refusal(&output, 0),
        "server: the DC's own entries are never changed by jobs (the DC's host name)"
    );
    assert!(refusal(&output, 1).contains("the DC's host name"));
}

#[test]
fn hand_made_hosts_are_not_deleted_renamed_or_taken_over() {
    let jobs = [
        rename("r100-pr01", "r100-pr02", "00:1A:2B:3C:4D:02"),
        Job::delete("r100-pr01"),
        create("r100-pr01", "00:1A:2B:3C:4D:99", ""),
    ];
    let output = run(&jobs, &options());
    assert_eq!(
        refusal(&output, 0),
        "r100-pr01: managed by hand (devices.csv line 3, not created by LINBO Docker): a job may \
         not rename it; set ADOPT_MANUAL_HOSTS=true to let jobs adopt hand-made hosts"
    );
    assert!(refusal(&output, 1).contains("a job may not delete it"));
    assert!(
        refusal(&output, 2).contains(
            "take it over for another device (the line has MAC 00:1A:2B:3C:4D:02; a job adopts a \
             hand-made host only for the same MAC)"
        ),
        "{}",
        refusal(&output, 2)
    );
    assert_eq!(output.master, MASTER);
}

#[test]
fn a_create_of_the_same_device_adopts_a_hand_made_host() {
    // Same MAC, other notation: the administrator's printer becomes managed, its role and
    // comment stay.
    let output = run(
        &[create("R100-PR01", "00-1a-2b-3c-4d-02", "10.0.100.2")],
        &options(),
    );
    assert!(
        matches!(output.outcomes[0], JobOutcome::Applied { .. }),
        "{:?}",
        output.outcomes
    );
    assert!(
        output.master.contains(
            "r100;r100-pr01;win11;00:1A:2B:3C:4D:02;10.0.100.2;;;;printer;;1;;;;hand-made"
        ),
        "{}",
        output.master
    );
    assert_eq!(hostnames(&output.delta), ["r100-pc01", "r100-pr01"]);
    // Adopted, it is the worker's: a later job may rename it.
    let again = merge(
        &output.master,
        &output.delta,
        &[],
        &[rename("r100-pr01", "r100-pr02", "00:1A:2B:3C:4D:02")],
        &options(),
    );
    assert!(
        matches!(again.outcomes[0], JobOutcome::Applied { .. }),
        "{:?}",
        again.outcomes
    );
}

#[test]
fn adopt_manual_hosts_lets_jobs_take_hand_made_hosts() {
    let adopting = MergeOptions {
        adopt_manual_hosts: true,
        ..options()
    };
    let jobs = [
        rename("r100-pr01", "r100-pr02", "00:1A:2B:3C:4D:02"),
        Job::delete("r100-pr02"),
    ];
    let output = run(&jobs, &adopting);
    assert!(
        output
            .outcomes
            .iter()
            .all(|outcome| matches!(outcome, JobOutcome::Applied { .. })),
        "{:?}",
        output.outcomes
    );
    assert!(!hostnames(&output.master).contains(&"r100-pr01".to_owned()));
    // The DC's own entries stay protected whatever the flag says.
    let output = run(&[Job::delete("server")], &adopting);
    assert!(refusal(&output, 0).contains("role addc"));
}

#[test]
fn a_rename_from_a_host_outside_the_school_is_refused() {
    let gym = "r1;pc07;win11;00:1A:2B:3C:4E:07;DHCP;;;;;;1;;;;\n";
    let others = [OtherSchool {
        school: "gym",
        devices: gym,
    }];
    let jobs = [
        rename("pc07", "r100-pc07", "00:1A:2B:3C:4D:07"),
        rename("r100-nowhere", "r100-pc08", "00:1A:2B:3C:4D:08"),
    ];
    let output = merge(MASTER, DELTA, &others, &jobs, &options());
    assert_eq!(
        refusal(&output, 0),
        "pc07: the old hostname of this rename is not a host of school default-school (devices \
         file of school gym, line 1); a rename stays within its school"
    );
    assert_eq!(
        refusal(&output, 1),
        "r100-nowhere: the old hostname of this rename is not a host of school default-school \
         (not in its devices.csv or delta file)"
    );
    match &output.outcomes[1] {
        JobOutcome::Rejected(Error::Refused(refusal)) => assert!(matches!(
            refusal.reason,
            RefusalReason::UnknownOldHostname {
                elsewhere: None,
                ..
            }
        )),
        other => panic!("{other:?}"),
    }
    assert_eq!(output.master, MASTER, "no silent create");
}

#[test]
fn a_rename_carried_out_already_is_no_refusal() {
    let first = run(
        &[rename("r100-pc01", "r100-pc02", "00:1A:2B:3C:4D:01")],
        &options(),
    );
    assert!(matches!(first.outcomes[0], JobOutcome::Applied { .. }));
    let again = merge(
        &first.master,
        &first.delta,
        &[],
        &[rename("r100-pc01", "r100-pc02", "00:1A:2B:3C:4D:01")],
        &options(),
    );
    assert!(
        matches!(again.outcomes[0], JobOutcome::Applied { .. }),
        "{:?}",
        again.outcomes
    );
    assert_eq!(again.master, first.master);
}

#[test]
fn rooms_and_device_groups_have_limits_and_long_values_are_not_echoed() {
    let mut long_room = create("r100-pc60", "00:1A:2B:3C:4D:60", "");
    let mut long_group = create("r100-pc61", "00:1A:2B:3C:4D:61", "");
    let mut fifteen = create("r100-pc62", "00:1A:2B:3C:4D:62", "");
    if let devices_csv::Action::Upsert(spec) = &mut long_room.action {
        spec.room = "a".repeat(1 << 20);
    }
    if let devices_csv::Action::Upsert(spec) = &mut long_group.action {
        spec.group = "g".repeat(65);
    }
    if let devices_csv::Action::Upsert(spec) = &mut fifteen.action {
        spec.room = "r".repeat(15);
    }
    let output = run(&[long_room, long_group, fifteen], &options());
    let message = |index: usize| match &output.outcomes[index] {
        JobOutcome::Rejected(error) => error.to_string(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        message(0),
        format!(
            "room (column 0) {:?}… : expected at most 15 characters, found 1048576",
            "a".repeat(40)
        )
    );
    assert!(
        message(1).ends_with("expected at most 64 characters, found 65"),
        "{}",
        message(1)
    );
    assert!(matches!(output.outcomes[2], JobOutcome::Applied { .. }));
    assert!(
        output.master.len() < MASTER.len() + 200,
        "nothing long was written"
    );
}

/// A master with the DC's lines, hand-made lines and managed lines mixed, from a small name pool.
fn arb_master_and_delta() -> impl Strategy<Value = (String, String)> {
    let line =
        (0u8..10, 0u8..16, 0usize..4, prop::bool::ANY).prop_map(|(n, mac, role, managed)| {
            let role = ["", "addc", "server", "printer"][role];
            let line =
                format!("r1;r1-pc{n:02};nopxe;00:1A:2B:3C:4D:{mac:02X};DHCP;;;;{role};;0;;;;");
            (line, managed && role.is_empty())
        });
    prop::collection::vec(line, 0..12).prop_map(|mut lines| {
        // One line per host name, as in a devices.csv sophomorix accepts.
        let mut seen = std::collections::HashSet::new();
        lines.retain(|(line, _)| seen.insert(line.split(';').nth(1).map(str::to_owned)));
        let master: String = lines.iter().map(|(line, _)| format!("{line}\n")).collect();
        let delta: String = lines
            .iter()
            .filter(|(_, managed)| *managed)
            .map(|(line, _)| format!("{line}\n"))
            .collect();
        (master, delta)
    })
}

fn arb_job() -> impl Strategy<Value = Job> {
    let name = (0u8..12).prop_map(|n| format!("r1-pc{n:02}"));
    let upsert = (name.clone(), prop::option::of(name.clone()), 0u8..16).prop_map(
        |(hostname, old_hostname, mac)| {
            Job::upsert(HostSpec {
                hostname,
                old_hostname,
                room: "r1".into(),
                mac: format!("00:1a:2b:3c:4d:{mac:02x}"),
                ..HostSpec::default()
            })
        },
    );
    prop_oneof![3 => upsert, 1 => name.prop_map(Job::delete)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the jobs: every line with role server or addc, and every line of the DC's own name,
    /// comes out byte for byte; no hand-made host disappears or changes its MAC unless a job
    /// adopted it (an upsert of the same name and MAC, after which it is the worker's).
    #[test]
    fn no_job_touches_the_dc_or_an_administrators_host(
        (master, delta) in arb_master_and_delta(),
        jobs in prop::collection::vec(arb_job(), 0..8),
    ) {
        let options = MergeOptions {
            protected_hosts: vec!["r1-pc00".to_owned()],
            ..MergeOptions::default()
        };
        let output = merge(&master, &delta, &[], &jobs, &options);
        let managed = hostnames(&delta);
        let adopted = |name: &str, mac: &str| jobs.iter().any(|job| matches!(&job.action,
            devices_csv::Action::Upsert(spec) if spec.hostname == name && spec.mac.eq_ignore_ascii_case(mac)));
        for line in master.lines() {
            let fields: Vec<&str> = line.split(';').collect();
            let (name, mac, role) = (fields[1], fields[3], fields[8]);
            if role == "addc" || role == "server" || name == "r1-pc00" {
                prop_assert!(output.master.lines().any(|out| out == line), "{} changed:\n{}", line, output.master);
            } else if !managed.contains(&name.to_owned()) && !adopted(name, mac) {
                let kept = output.master.lines().any(|out| {
                    let out: Vec<&str> = out.split(';').collect();
                    out[1] == name && out[3].eq_ignore_ascii_case(mac)
                });
                prop_assert!(kept, "hand-made {} lost or taken over:\n{}", name, output.master);
            }
        }
    }
}
