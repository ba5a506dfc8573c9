//! `include` statements: listing them and following them through a loader.

use std::collections::HashMap;

use dhcpd_conf::IncludeStatus;

/// The linuxmuster layout: dhcpd.conf → devices.conf → one file per school.
fn files() -> HashMap<&'static str, &'static str> {
    HashMap::from([
        (
            "/etc/dhcp/devices.conf",
            "include \"/etc/dhcp/devices/default-school.conf\";\ninclude \"/etc/dhcp/devices/other.conf\";\n",
        ),
        (
            "/etc/dhcp/devices/default-school.conf",
            "host pc01 { hardware ethernet 00:11:22:33:44:55; }\n",
        ),
        ("/etc/dhcp/devices/other.conf", "host pc02 {\n"),
        (
            "/etc/dhcp/subnets.conf",
            "include \"/etc/dhcp/dhcpd.conf\"; # a cycle\n",
        ),
        (
            "/etc/dhcp/dhcpd.conf",
            "include \"/etc/dhcp/subnets.conf\";\n",
        ),
    ])
}

const DHCPD_CONF: &str = "include \"/etc/dhcp/subnets.conf\";\n\
                          group {\n include \"/etc/dhcp/devices.conf\";\n include \"/etc/dhcp/custom.conf\";\n}\n\
                          # include \"/etc/dhcp/commented.conf\";\n";

#[test]
fn includes_lists_paths_at_any_depth() {
    let config = dhcpd_conf::parse(DHCPD_CONF).expect("valid input");
    assert_eq!(
        config.includes(),
        [
            "/etc/dhcp/subnets.conf",
            "/etc/dhcp/devices.conf",
            "/etc/dhcp/custom.conf"
        ]
    );
}

#[test]
fn walk_follows_includes_in_order_and_ends_cycles() {
    let config = dhcpd_conf::parse(DHCPD_CONF).expect("valid input");
    let files = files();
    let mut loads = 0;
    let graph = config.walk_includes(|path| {
        loads += 1;
        files.get(path).map(|text| (*text).to_owned())
    });
    let visited: Vec<(&str, String)> = graph
        .files()
        .iter()
        .map(|file| {
            let status = match &file.status {
                IncludeStatus::Parsed => "parsed".to_owned(),
                IncludeStatus::Missing => "missing".to_owned(),
                IncludeStatus::Invalid(error) => format!("invalid: {error}"),
                other => format!("{other:?}"),
            };
            (file.path.as_str(), status)
        })
        .collect();
    assert_eq!(
        visited,
        [
            ("/etc/dhcp/subnets.conf", "parsed".to_owned()),
            ("/etc/dhcp/dhcpd.conf", "parsed".to_owned()),
            ("/etc/dhcp/devices.conf", "parsed".to_owned()),
            ("/etc/dhcp/devices/default-school.conf", "parsed".to_owned()),
            (
                "/etc/dhcp/devices/other.conf",
                "invalid: line 2, column 1: expected `}` to close the block `host pc02` opened at line 1, column 1".to_owned()
            ),
            ("/etc/dhcp/custom.conf", "missing".to_owned()),
        ]
    );
    assert_eq!(loads, 6, "each file is loaded once");
    assert!(graph.contains("/etc/dhcp/devices/default-school.conf"));
    assert!(!graph.contains("/etc/dhcp/commented.conf"));
    assert!(!graph.contains("/etc/dhcp/devices/default-school"));
}
