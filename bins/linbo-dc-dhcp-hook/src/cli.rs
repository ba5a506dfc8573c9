//! The command line of `linbo-dc-dhcp-hook` (clap). Its own module so that
//! `examples/hook-assets.rs` can build the man page and shell completions from the same
//! definitions.

use std::path::PathBuf;

#[path = "../../shared/root_arg.rs"]
mod root_arg;

use clap::Parser;
use linbo_dc::hook;

pub(crate) use root_arg::RootArg;

/// Points LINBO Docker's PXE hosts at the Docker TFTP server in the ISC DHCP host blocks.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Cli {
    /// The hook's configuration file.
    #[arg(long, value_name = "PATH", default_value = hook::DEFAULT_CONFIG)]
    pub(crate) config: PathBuf,
    /// The school whose devices file to patch (passed by linuxmuster-import-devices; wins over
    /// SCHOOL in the configuration).
    #[arg(short = 's', long = "school", value_name = "SCHOOL")]
    pub(crate) school: Option<String>,
    #[command(flatten)]
    pub(crate) root: RootArg,
}
