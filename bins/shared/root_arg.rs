//! `--root DIR` (`LINBO_DC_ROOT`), the same for both programs; each `cli.rs` includes this file
//! (`#[path]`), so both command lines and their man pages say it the same way.

use std::path::PathBuf;

use linbo_dc::paths::Root;

/// `--root`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RootArg {
    /// A directory standing for `/`: every path is looked up under it (for sandboxes and tests).
    #[arg(
        long = "root",
        value_name = "DIR",
        env = "LINBO_DC_ROOT",
        hide_env_values = true
    )]
    pub(crate) dir: Option<PathBuf>,
}

impl RootArg {
    /// The root the program works under: `/` unless `--root` names another directory.
    pub(crate) fn root(&self) -> Root {
        self.dir.clone().map_or_else(Root::system, Root::new)
    }
}
