//! Which host block is a managed host's (SPEC §7.2, §12): outside default-school linuxmuster names
//! it `<school>-<host>` (linuxmuster-base7 7.3 lib/functions.py:273-276, 7.4
//! functions/network.py:128-130), in default-school plain `<host>`; the host name keeps the case
//! devices.csv has, so names are compared without regard to case.

use crate::support::{
    delta_file, delta_line, hook_dc, host_block, messages, require_real_dhcpd, run_hook,
};

/// Runs the hook for `school` on a devices file with one block as linuxmuster writes it per name
/// in `blocks` and a delta naming the hosts in `managed` (PXE flag 1); each list is separated by
/// spaces. Exactly the blocks in `patched` must get `next-server LINBO_DOCKER_IP`, the other
/// managed hosts count as not found, and the real dhcpd must accept the result.
#[track_caller]
fn check(school: &str, blocks: &str, managed: &str, patched: &str) {
    require_real_dhcpd();
    let devices: String = blocks
        .split_whitespace()
        .enumerate()
        .map(|(number, name)| host_block(name, number, true))
        .collect();
    let delta: String = managed
        .split_whitespace()
        .map(|host| delta_line(host, 1))
        .collect();
    let sandbox = hook_dc(school, &devices, &delta_file(&delta), "");
    let run = run_hook(&sandbox, &["-s", school]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);

    let output = sandbox.dhcp_devices(school);
    let with_next_server: Vec<&str> = output
        .split_inclusive("}\n")
        .filter(|block| block.contains("next-server 10.0.0.13;"))
        .filter_map(|block| block.strip_prefix("host ")?.split(' ').next())
        .collect();
    let patched: Vec<&str> = patched.split_whitespace().collect();
    assert_eq!(with_next_server, patched, "{output}");
    let lines = messages(&run.stdout);
    // Without a change there is no write, and so nothing for dhcpd to check.
    assert_eq!(
        lines.iter().any(|line| line.contains("dhcpd -t accepts")),
        !patched.is_empty(),
        "{lines:#?}"
    );
    assert_eq!(
        lines.last().map(String::as_str),
        Some(
            format!(
                "[linbo-docker-dhcp] Done: {} patched, 0 already correct, {} not found in /etc/dhcp/devices/{school}.conf",
                patched.len(),
                managed.split_whitespace().count() - patched.len()
            )
            .as_str()
        )
    );
}

#[test]
fn outside_default_school_the_block_carries_the_school_prefix() {
    check(
        "gym",
        "gym-r100-pc01 gym-r100-pc02",
        "r100-pc01",
        "gym-r100-pc01",
    );
}

#[test]
fn outside_default_school_a_block_with_the_bare_name_is_not_the_hosts() {
    check(
        "gym",
        "r100-pc01 gym-r100-pc01",
        "r100-pc01",
        "gym-r100-pc01",
    );
    check("gym", "r100-pc01", "r100-pc01", "");
}

#[test]
fn the_block_name_keeps_the_case_of_devices_csv_and_matches_any_case() {
    check("gym", "gym-R100-PC01", "r100-pc01", "gym-R100-PC01");
    check("gym", "gym-r100-pc01", "R100-Pc01", "gym-r100-pc01");
    check("Gym", "Gym-R100-pc01", "r100-PC01", "Gym-R100-pc01");
}

#[test]
fn in_default_school_the_block_has_the_bare_name() {
    check(
        "default-school",
        "r100-pc01 default-school-r100-pc02",
        "r100-pc01 r100-pc02",
        "r100-pc01",
    );
}

#[test]
fn log_lines_name_the_blocks_outside_default_school() {
    require_real_dhcpd();
    let sandbox = hook_dc(
        "gym",
        &host_block("gym-r100-pc01", 1, true),
        &delta_file(&[delta_line("r100-pc01", 1), delta_line("r100-gone", 1)].concat()),
        "",
    );
    let run = run_hook(&sandbox, &["-s", "gym"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        messages(&run.stdout),
        [
            "[linbo-docker-dhcp] next-server 10.0.0.13 set for: gym-r100-pc01",
            "[linbo-docker-dhcp] managed hosts without a host block in /etc/dhcp/devices/gym.conf: gym-r100-gone",
            "[linbo-docker-dhcp] dhcpd -t accepts /etc/dhcp/dhcpd.conf with the patched /etc/dhcp/devices/gym.conf",
            "[linbo-docker-dhcp] Done: 1 patched, 0 already correct, 1 not found in /etc/dhcp/devices/gym.conf",
        ]
    );
    // A second run finds the block correct and writes nothing.
    let run = run_hook(&sandbox, &["-s", "gym"]);
    assert_eq!(
        messages(&run.stdout).last().map(String::as_str),
        Some(
            "[linbo-docker-dhcp] Done: 0 patched, 1 already correct, 1 not found in /etc/dhcp/devices/gym.conf"
        )
    );
}
