//! Root prefixes and school names.

use std::path::{Path, PathBuf};

use linbo_dc::paths::{Root, School};

#[test]
fn root_prefix_maps_dc_paths_into_the_sandbox() {
    let root = Root::new("/tmp/sandbox");
    assert_eq!(
        root.resolve(Path::new("/etc/dhcp/dhcpd.conf")),
        PathBuf::from("/tmp/sandbox/etc/dhcp/dhcpd.conf")
    );
    assert_eq!(
        root.resolve(Path::new("/tmp/sandbox/etc/x")),
        PathBuf::from("/tmp/sandbox/etc/x")
    );
    assert_eq!(
        Root::system().resolve(Path::new("/etc/x")),
        PathBuf::from("/etc/x")
    );
}

#[test]
fn school_names_cannot_leave_their_directory() {
    let school: School = "gymnasium".parse().expect("valid");
    assert_eq!(
        school.expand("/etc/dhcp/devices/{school}.conf"),
        "/etc/dhcp/devices/gymnasium.conf"
    );
    assert!(!school.is_default());
    assert!(School::default_school().is_default());
    for bad in ["", "..", "../etc", "a/b", "a b", "-x", "schule;rm"] {
        assert!(bad.parse::<School>().is_err(), "{bad:?} must be refused");
    }
}
