//! Validation of configurations with the real ISC `dhcpd -t`, in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's isc-dhcp-server puts the daemon.
const DHCPD: &str = "/usr/sbin/dhcpd";

/// The dhcpd binary, or a failing test saying what to install: a test that needs dhcpd never
/// passes silently without it.
fn dhcpd() -> PathBuf {
    let path = PathBuf::from(DHCPD);
    assert!(
        path.exists(),
        "{DHCPD} not found: install isc-dhcp-server (apt-get install isc-dhcp-server)"
    );
    path
}

/// Runs `dhcpd -t` on `text`. Absolute include paths are redirected into the temporary directory
/// (as empty files) so the check never reads the machine's /etc.
#[track_caller]
pub(crate) fn assert_valid(text: &str, what: &str) {
    let (ok, output) = check(text);
    assert!(
        ok,
        "dhcpd -t rejects {what}:\n{output}\n--- config ---\n{text}"
    );
}

/// Runs `dhcpd -t` on `text` and returns (accepted, output).
pub(crate) fn check(text: &str) -> (bool, String) {
    let dhcpd = dhcpd();
    let dir = tempfile::tempdir().expect("a temporary directory for dhcpd -t");
    let mut text = text.to_owned();
    if let Ok(config) = dhcpd_conf::parse(&text) {
        for include in config.includes() {
            let Some(relative) = include.strip_prefix('/') else {
                continue;
            };
            let redirected = dir.path().join(relative);
            if let Some(parent) = redirected.parent() {
                std::fs::create_dir_all(parent).expect("creating the include directory");
            }
            std::fs::write(&redirected, "").expect("writing an empty include");
            text = text.replace(
                &format!("\"{include}\""),
                &format!("\"{}\"", redirected.display()),
            );
        }
    }
    let conf = dir.path().join("dhcpd.conf");
    std::fs::write(&conf, &text).expect("writing the config under test");
    let output = run_dhcpd(&dhcpd, &conf, dir.path());
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), printed)
}

// Tests may spawn dhcpd directly: the process-spawn choke point (dc-adapters) is for production
// code, and this crate must not depend on it.
#[allow(clippy::disallowed_methods)]
fn run_dhcpd(dhcpd: &Path, conf: &Path, dir: &Path) -> std::process::Output {
    Command::new(dhcpd)
        .arg("-t")
        .arg("-4")
        .arg("-cf")
        .arg(conf)
        .arg("-lf")
        .arg(dir.join("dhcpd.leases"))
        .arg("-pf")
        .arg(dir.join("dhcpd.pid"))
        .output()
        .expect("running dhcpd -t")
}

#[test]
fn dhcpd_rejects_what_the_parser_rejects() {
    // The checker itself must be able to fail, or every "valid" verdict means nothing.
    let (ok, output) = check("host a {\n  hardware ethernet 00:11:22:33:44:55\n}\n");
    assert!(!ok, "dhcpd accepted a statement without `;`:\n{output}");
    assert_valid(
        "host a {\n  hardware ethernet 00:11:22:33:44:55;\n}\n",
        "a minimal host",
    );
}
