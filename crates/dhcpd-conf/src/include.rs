//! Following `include` statements through a caller-supplied loader, so this crate stays free of I/O.

use std::collections::HashSet;

use crate::{Config, Error};

/// What happened to one included file during [`Config::walk_includes`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IncludeStatus {
    /// Loaded and parsed; its own includes were followed.
    Parsed,
    /// The loader returned `None` (dhcpd would fail to start).
    Missing,
    /// Loaded but not valid dhcpd.conf; its includes could not be followed.
    Invalid(Error),
}

/// One file reached through `include` statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncludedFile {
    /// The path exactly as written in the `include` statement.
    pub path: String,
    /// Whether it could be loaded and parsed.
    pub status: IncludeStatus,
}

/// Every file reached from a configuration through `include`, each once, in the order dhcpd reads
/// them (depth first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncludeGraph {
    files: Vec<IncludedFile>,
}

impl IncludeGraph {
    /// The files in the order dhcpd reads them.
    pub fn files(&self) -> &[IncludedFile] {
        &self.files
    }

    /// Whether `path` is included, directly or through other includes. Paths are compared exactly
    /// as written: the caller passes the path the same way the configuration names it.
    pub fn contains(&self, path: &str) -> bool {
        self.files.iter().any(|file| file.path == path)
    }
}

impl Config {
    /// Follows `include` statements, loading each file with `loader` (`None` = cannot be read),
    /// each path once, so include cycles end. Files that are missing or do not parse are listed
    /// with that status and their includes are not followed.
    ///
    /// ```
    /// let config = dhcpd_conf::parse("include \"/etc/dhcp/devices.conf\";\n")?;
    /// let graph = config.walk_includes(|path| match path {
    ///     "/etc/dhcp/devices.conf" => Some("include \"/etc/dhcp/devices/default-school.conf\";\n".into()),
    ///     "/etc/dhcp/devices/default-school.conf" => Some("host pc01 { }\n".into()),
    ///     _ => None,
    /// });
    /// assert!(graph.contains("/etc/dhcp/devices/default-school.conf"));
    /// assert!(!graph.contains("/etc/dhcp/custom.conf"));
    /// # Ok::<(), dhcpd_conf::Error>(())
    /// ```
    pub fn walk_includes(&self, mut loader: impl FnMut(&str) -> Option<String>) -> IncludeGraph {
        let mut graph = IncludeGraph::default();
        let mut seen: HashSet<String> = HashSet::new();
        // A stack of paths still to visit, the next one on top, so files are visited in dhcpd's
        // order without recursion.
        let mut pending: Vec<String> = self
            .includes()
            .into_iter()
            .rev()
            .map(str::to_owned)
            .collect();
        while let Some(path) = pending.pop() {
            if !seen.insert(path.clone()) {
                continue;
            }
            let status = match loader(&path) {
                None => IncludeStatus::Missing,
                Some(text) => match Config::parse(&text) {
                    Ok(included) => {
                        pending.extend(included.includes().into_iter().rev().map(str::to_owned));
                        IncludeStatus::Parsed
                    }
                    Err(error) => IncludeStatus::Invalid(error),
                },
            };
            graph.files.push(IncludedFile { path, status });
        }
        graph
    }

    /// Whether `path` is reached through `include` statements, loading files with `loader`; the
    /// question the DHCP hook asks before validating DHCPD_CONF with `dhcpd -t`.
    ///
    /// ```
    /// let config = dhcpd_conf::parse("group {\n include \"/etc/dhcp/devices.conf\";\n}\n")?;
    /// let devices_conf = "include \"/etc/dhcp/devices/default-school.conf\";\n";
    /// let loader = |path: &str| (path == "/etc/dhcp/devices.conf").then(|| devices_conf.to_owned());
    /// assert!(config.includes_path("/etc/dhcp/devices/default-school.conf", loader));
    /// # Ok::<(), dhcpd_conf::Error>(())
    /// ```
    pub fn includes_path(&self, path: &str, loader: impl FnMut(&str) -> Option<String>) -> bool {
        self.walk_includes(loader).contains(path)
    }
}
