//! Integration tests of dc-adapters against committed fake executables in `fixtures/commands/`
//! and temporary directories.

mod atomic;
mod lock;
mod process;

use std::path::PathBuf;

/// A fake executable from `fixtures/commands/`.
pub(crate) fn fixture_command(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/commands")
        .join(name)
}
