//! `dhcpd -t -cf FILE`: the ISC DHCP server's own syntax check of a configuration and everything
//! it includes.

use std::path::Path;
use std::time::Duration;

use crate::error::Result;
use crate::process::{CommandSpec, run};

/// Where Debian's `isc-dhcp-server` installs the server.
pub const DEFAULT_BINARY: &str = "/usr/sbin/dhcpd";

/// The verdict of `dhcpd -t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpdCheck {
    /// Exit code 0: the configuration loads.
    pub valid: bool,
    /// dhcpd's messages without its banner and boilerplate (file, line and problem).
    pub messages: Vec<String>,
}

/// Runs `BINARY -t -cf CONFIG` (`-lf`/`-pf` are not needed for a syntax check).
pub fn check(binary: &Path, config: &Path, timeout: Duration) -> Result<DhcpdCheck> {
    let spec = CommandSpec::new(binary)
        .arg("-t")
        .arg("-cf")
        .arg(config)
        .timeout(timeout);
    let output = run(&spec)?;
    Ok(DhcpdCheck {
        valid: output.success(),
        messages: messages(&output.stderr),
    })
}

/// dhcpd's diagnostic lines from its stderr: the banner, the file names it reports on success
/// and the "if you think you have received this message due to a bug" paragraph are dropped.
pub fn messages(stderr: &str) -> Vec<String> {
    const BANNER: [&str; 7] = [
        "Internet Systems Consortium DHCP Server",
        "Copyright ",
        "All rights reserved.",
        "For info, please visit",
        "Config file: ",
        "Database file: ",
        "PID file: ",
    ];
    stderr
        .lines()
        .take_while(|line| !line.starts_with("If you think you have received this message"))
        .filter(|line| !line.trim().is_empty() && *line != "exiting.")
        .filter(|line| !BANNER.iter().any(|banner| line.starts_with(banner)))
        .map(str::to_owned)
        .collect()
}
