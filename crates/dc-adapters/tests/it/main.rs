//! Integration tests of dc-adapters against committed fake executables in `fixtures/commands/`
//! and temporary directories.

mod atomic;
mod dhcpd;
mod lock;
mod process;

use std::path::PathBuf;

/// A fake executable from `fixtures/commands/`.
pub(crate) fn fixture_command(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/commands")
        .join(name)
}

/// Recorded output of a real command from `fixtures/cmd-output/`.
pub(crate) fn recorded_output(path: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/cmd-output")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
