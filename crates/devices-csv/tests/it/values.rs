//! Column values: what each type accepts, how it writes it, and the messages for what it refuses.

use std::str::FromStr;

use devices_csv::{Device, Hostname, Ip, Mac, PxeFlag, Role, Room, Rule};

/// Parses `input` as `T` and compares the canonical text (or the rule message) with `expect`.
#[track_caller]
fn check<T: FromStr<Err = Rule> + std::fmt::Display>(input: &str, expect: &str) {
    let actual = match input.parse::<T>() {
        Ok(value) => value.to_string(),
        Err(rule) => format!("error: {rule}"),
    };
    assert_eq!(actual, expect, "input {input:?}");
}

#[test]
fn mac_notations() {
    check::<Mac>("00:1a:2b:3c:4d:5e", "00:1A:2B:3C:4D:5E");
    check::<Mac>("00-1A-2B-3C-4D-5E", "00:1A:2B:3C:4D:5E");
    check::<Mac>("001a2b3c4d5e", "00:1A:2B:3C:4D:5E");
    check::<Mac>(" 00:1a:2b:3c:4d:5e ", "00:1A:2B:3C:4D:5E");
    check::<Mac>(
        "00:1a-2b:3c:4d:5e",
        "error: expected six hex byte pairs separated by ':' or '-' (aa:bb:cc:dd:ee:ff), or 12 hex digits",
    );
    check::<Mac>(
        "00:1a:2b:3c:4d:5g",
        "error: expected six hex byte pairs separated by ':' or '-' (aa:bb:cc:dd:ee:ff), or 12 hex digits",
    );
    check::<Mac>(
        "001a2b3c4d5",
        "error: expected six hex byte pairs separated by ':' or '-' (aa:bb:cc:dd:ee:ff), or 12 hex digits",
    );
    check::<Mac>(
        "00.1a.2b.3c.4d.5e",
        "error: expected six hex byte pairs separated by ':' or '-' (aa:bb:cc:dd:ee:ff), or 12 hex digits",
    );
    check::<Mac>(
        "+0:1a:2b:3c:4d:5e",
        "error: expected six hex byte pairs separated by ':' or '-' (aa:bb:cc:dd:ee:ff), or 12 hex digits",
    );
    check::<Mac>("", "error: expected a value, found none");
    check::<Mac>(
        "ä0:1a:2b:3c:4d:5",
        "error: expected six hex byte pairs separated by ':' or '-' (aa:bb:cc:dd:ee:ff), or 12 hex digits",
    );
}

#[test]
fn ip_rules() {
    check::<Ip>("10.0.100.1", "10.0.100.1");
    check::<Ip>("", "DHCP");
    check::<Ip>("DHCP", "DHCP");
    check::<Ip>("dhcp", "DHCP");
    check::<Ip>("254.1.1.254", "254.1.1.254");
    let rule = "error: expected `DHCP`, empty, or a dotted-quad IPv4 address without leading zeros, first and last octet 1-254";
    for bad in [
        "0.1.2.3",
        "255.1.2.3",
        "10.0.0.0",
        "10.0.0.255",
        "10.0.0.256",
        "10.0.0.01",
        "10.0.0",
        "10.0.0.1.1",
        "10.0.0.-1",
        "10.0.0.+1",
        "10..0.1",
        "a.b.c.d",
        "10.0.0.1/24",
        "10 .0.0.1",
        "1e1.0.0.1",
    ] {
        check::<Ip>(bad, rule);
    }
}

#[test]
fn hostname_rules() {
    check::<Hostname>("R100-PC01", "r100-pc01");
    check::<Hostname>("a", "a");
    check::<Hostname>("abcdefghijklmno", "abcdefghijklmno");
    let rule = "error: expected 1 to 15 characters of A-Z, a-z, 0-9 and '-', not starting or ending with '-'";
    for bad in [
        "abcdefghijklmnop",
        "-pc01",
        "pc01-",
        "pc_01",
        "pc.01",
        "pc 01",
        "pcü1",
    ] {
        check::<Hostname>(bad, rule);
    }
    check::<Hostname>("", "error: expected a value, found none");
    check::<Hostname>(
        "pc01;x",
        "error: contains ';', which would corrupt the devices.csv line",
    );
    check::<Hostname>(
        "pc01\n",
        "error: contains a line feed, which would corrupt the devices.csv line",
    );
    check::<Hostname>(
        "pc\r01",
        "error: contains a carriage return, which would corrupt the devices.csv line",
    );
    check::<Hostname>(
        "pc\u{0}1",
        "error: contains a NUL byte, which would corrupt the devices.csv line",
    );
}

#[test]
fn room_rules() {
    check::<Room>("r100", "r100");
    check::<Room>("R-100", "R-100");
    check::<Room>("1og", "1og");
    check::<Room>("r100-", "r100-");
    check::<Room>(" r100 ", "r100");
    // linuxmuster-import-devices skips every line whose room does not start with a letter or
    // digit, so such a host would get AD/DNS entries but no DHCP block and no LINBO links.
    let start = "error: expected a letter or digit as the first character: linuxmuster-import-devices skips lines whose room starts with anything else";
    for bad in ["-r100", "-", " -r100", "--"] {
        check::<Room>(bad, start);
    }
    let characters = "error: expected one or more characters of A-Z, a-z, 0-9 and '-'";
    for bad in ["r1.00", "_r100", "r 100", "räum", "-r_1"] {
        check::<Room>(bad, characters);
    }
    check::<Room>("", "error: expected a value, found none");
}

#[test]
fn roles_and_computer_accounts() {
    check::<Role>("classroom-studentcomputer", "classroom-studentcomputer");
    check::<Role>("Server", &format!("error: {}", Rule::Role));
    let without_account: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|role| !role.has_computer_account())
        .map(Role::as_str)
        .collect();
    assert_eq!(
        without_account,
        [
            "iponly",
            "thinclient",
            "voip",
            "byod",
            "router",
            "wlan",
            "switch"
        ]
    );
    assert_eq!(Role::ALL.len(), 15);
}

#[test]
fn pxe_flags() {
    check::<PxeFlag>("0", "0");
    check::<PxeFlag>("3", "3");
    check::<PxeFlag>(" 1 ", "1");
    check::<PxeFlag>(
        "4",
        "error: expected a PXE flag 0 (none), 1 (LINBO), 2 (LINBO+OPSI) or 3 (OPSI)",
    );
    check::<PxeFlag>(
        "01",
        "error: expected a PXE flag 0 (none), 1 (LINBO), 2 (LINBO+OPSI) or 3 (OPSI)",
    );
    check::<PxeFlag>("", "error: expected a value, found none");
    assert_eq!(PxeFlag::default(), PxeFlag::Linbo);
}

/// Parses a line as a `Device` and compares the canonical line or the located error.
#[track_caller]
fn check_device(line: &str, expect: &str) {
    let fields: Vec<&str> = line.split(';').collect();
    let actual = match Device::from_fields(&fields, Some(7)) {
        Ok(device) => device.to_line(),
        Err(problem) => format!("error: {problem}"),
    };
    assert_eq!(actual, expect, "line {line:?}");
}

#[test]
fn device_lines() {
    check_device(
        "r100;R100-PC01;win11;00-1a-2b-3c-4d-01;10.0.100.1;ok;wk;opt1,opt2;staffcomputer;r9;2;a;b;c;note;extra",
        "r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;ok;wk;opt1,opt2;staffcomputer;r9;2;a;b;c;note",
    );
    check_device(
        "r100;pc01;win11;00:1A:2B:3C:4D:01;;;;;;;1",
        "r100;pc01;win11;00:1A:2B:3C:4D:01;DHCP;;;;;;1;;;;",
    );
    check_device(
        "r100;pc01;win11;00:1A:2B:3C:4D:01;DHCP;;;;;;",
        "error: line 7: PXE flag (column 10) \"\": expected a value, found none",
    );
    check_device(
        "r100;pc01;win11;00:1A:2B:3C:4D:01;10.0.0.1",
        "error: line 7: line \"r100;pc01;win11;00:1A:2B:3C:4D:01;10.0.0.1\": expected at least 11 ';'-separated fields, found 5",
    );
    check_device(
        "r100;pc01;win11;00:1A:2B:3C:4D:01;10.0.0.300;;;;;;1",
        "error: line 7: IP (column 4) \"10.0.0.300\": expected `DHCP`, empty, or a dotted-quad IPv4 address without leading zeros, first and last octet 1-254",
    );
    check_device(
        "-r100;pc01;win11;00:1A:2B:3C:4D:01;DHCP;;;;;;1",
        "error: line 7: room (column 0) \"-r100\": expected a letter or digit as the first character: linuxmuster-import-devices skips lines whose room starts with anything else",
    );
    check_device(
        "r100;pc01;win11;00:1A:2B:3C:4D:01;DHCP;;;;teacher;;1",
        &format!("error: line 7: role (column 8) \"teacher\": {}", Rule::Role),
    );
}
