//! Conflicts with the other schools' device files: sophomorix-device reads every school's file
//! and refuses a MAC, a fixed IP or an AD/DNS name used twice. AD/DNS names carry a `<school>-`
//! prefix outside default-school, so `gym-pc01` of default-school and `pc01` of school `gym` are
//! the same name.

use devices_csv::{
    Conflict, ConflictKind, Error, HostSpec, Job, JobOutcome, Location, MergeOptions, OtherSchool,
    merge,
};

use crate::{conflict_kinds, create, hostnames};

const MASTER: &str = "r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;;;1;;;;;\n";

fn options(school: &str) -> MergeOptions {
    MergeOptions {
        school: school.to_owned(),
        ..MergeOptions::default()
    }
}

/// Merges one `job` into `MASTER` of `school` next to `others` (school, text) and compares the
/// outcome (`applied` or the refusal's message) with `expect`.
#[track_caller]
fn check(school: &str, others: &[(&str, &str)], job: Job, expect: &str) {
    let others: Vec<OtherSchool<'_>> = others
        .iter()
        .map(|&(school, devices)| OtherSchool { school, devices })
        .collect();
    let output = merge(MASTER, "", &others, &[job], &options(school));
    let actual = match &output.outcomes[0] {
        JobOutcome::Applied { .. } => "applied".to_owned(),
        JobOutcome::Rejected(problem) => problem.to_string(),
    };
    assert_eq!(actual, expect);
}

/// The devices file of another school with `pc01` on line 3.
const GYM: &str = "# gym\n\
r200;pc00;win11;00:1A:2B:3C:4E:00;10.0.200.10;;;;;;1;;;;;\n\
r200;pc01;win11;00:1A:2B:3C:4E:01;10.0.200.1;;;;;;1;;;;;\n";

/// default-school's file with `gym-pc01` on line 2.
const DEFAULT: &str = "r100;r100-pc09;win11;00:1A:2B:3C:4D:09;10.0.100.9;;;;;;1;;;;;\n\
r100;gym-pc01;win11;00:1A:2B:3C:4D:0A;10.0.100.10;;;;;;1;;;;;\n";

#[test]
fn default_school_host_named_like_a_prefixed_host_of_another_school_is_refused() {
    let others = [("gym", GYM)];
    let job = create("GYM-PC01", "00:1A:2B:3C:4D:02", "");
    let output = merge(
        MASTER,
        "",
        &[OtherSchool {
            school: "gym",
            devices: GYM,
        }],
        std::slice::from_ref(&job),
        &MergeOptions::default(),
    );
    assert_eq!(
        output.outcomes,
        [JobOutcome::Rejected(Error::Conflict(Conflict {
            kind: ConflictKind::DnsName,
            value: "gym-pc01".to_owned(),
            other_host: "pc01".to_owned(),
            location: Location::OtherSchool {
                school: "gym".to_owned(),
                line: 3,
            },
        }))]
    );
    assert_eq!(output.master, MASTER);
    assert_eq!(hostnames(&output.delta), Vec::<String>::new());
    check(
        "default-school",
        &others,
        job,
        "AD/DNS name gym-pc01 is already used by host pc01 (devices file of school gym, line 3)",
    );
}

#[test]
fn host_of_a_school_named_like_a_default_school_host_is_refused() {
    // In school `gym`, host pc01 is `gym-pc01` in AD and DNS.
    check(
        "gym",
        &[("default-school", DEFAULT)],
        create("pc01", "00:1A:2B:3C:4D:02", ""),
        "AD/DNS name gym-pc01 is already used by host gym-pc01 (devices file of school default-school, line 2)",
    );
}

#[test]
fn hosts_of_two_non_default_schools_with_the_same_prefixed_name_collide() {
    // School `a` host `b-pc01` and school `a-b` host `pc01` are both `a-b-pc01`.
    let school_a_b = "r1;pc01;nopxe;00:1A:2B:3C:4F:01;DHCP;;;;;;0;;;;;\n";
    check(
        "a",
        &[("a-b", school_a_b)],
        create("b-pc01", "00:1A:2B:3C:4D:02", ""),
        "AD/DNS name a-b-pc01 is already used by host pc01 (devices file of school a-b, line 1)",
    );
    check(
        "a-b",
        &[("a", "r1;B-PC01;nopxe;00:1A:2B:3C:4F:01;DHCP;;;;;;0\n")],
        create("pc01", "00:1A:2B:3C:4D:02", ""),
        "AD/DNS name a-b-pc01 is already used by host B-PC01 (devices file of school a, line 1)",
    );
}

#[test]
fn same_host_name_in_different_schools_is_no_collision() {
    // pc01 of default-school is `pc01`, pc01 of gym is `gym-pc01`: different names.
    check(
        "default-school",
        &[("gym", GYM)],
        create("pc01", "00:1A:2B:3C:4D:02", ""),
        "applied",
    );
    check(
        "gymnasium",
        &[("gym", GYM), ("default-school", DEFAULT)],
        create("pc01", "00:1A:2B:3C:4D:02", ""),
        "applied",
    );
    // `gym-pc01` of school `gym` is `gym-gym-pc01`, not `gym-pc01`.
    check(
        "gym",
        &[("default-school", DEFAULT)],
        create("gym-pc01", "00:1A:2B:3C:4D:02", ""),
        "applied",
    );
}

#[test]
fn renaming_onto_another_schools_name_is_refused_and_the_batch_proceeds() {
    let others = [OtherSchool {
        school: "gym",
        devices: GYM,
    }];
    let rename = Job::upsert(HostSpec {
        hostname: "gym-pc00".into(),
        old_hostname: Some("r100-pc01".into()),
        room: "r100".into(),
        group: "win11".into(),
        mac: "00:1A:2B:3C:4D:01".into(),
        ip: "10.0.100.1".into(),
        ..HostSpec::default()
    });
    let jobs = [
        rename,
        create("gym-pc01", "00:1A:2B:3C:4D:02", "").dry_run(),
        create("r100-pc03", "00:1A:2B:3C:4D:03", ""),
    ];
    // MASTER's hosts are hand-made; adopting them is not what this test is about.
    let options = MergeOptions {
        adopt_manual_hosts: true,
        ..MergeOptions::default()
    };
    let output = merge(MASTER, "", &others, &jobs, &options);
    let kinds = conflict_kinds(&output);
    assert_eq!(
        kinds,
        [
            Some(ConflictKind::DnsName),
            Some(ConflictKind::DnsName),
            None
        ]
    );
    assert_eq!(hostnames(&output.master), ["r100-pc01", "r100-pc03"]);
    assert_eq!(hostnames(&output.delta), ["r100-pc03"]);
}

#[test]
fn delete_of_a_host_named_like_another_schools_host_is_not_refused() {
    let master = "r100;gym-pc01;win11;00:1A:2B:3C:4D:02;DHCP;;;;;;1;;;;;\n";
    let output = merge(
        master,
        "",
        &[OtherSchool {
            school: "gym",
            devices: GYM,
        }],
        &[Job::delete("gym-pc01")],
        &MergeOptions {
            adopt_manual_hosts: true,
            ..MergeOptions::default()
        },
    );
    assert!(
        matches!(output.outcomes[0], JobOutcome::Applied { .. }),
        "{:?}",
        output.outcomes
    );
    assert_eq!(output.master, "");
}

#[test]
fn mac_and_ip_of_other_schools_are_still_checked() {
    check(
        "gym",
        &[("default-school", DEFAULT)],
        create("pc02", "00:1a:2b:3c:4d:09", ""),
        "MAC 00:1A:2B:3C:4D:09 is already used by host r100-pc09 (devices file of school default-school, line 1)",
    );
}
