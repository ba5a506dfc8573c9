//! `linbo-dc-dhcp-hook`: the post-import hook of `linuxmuster-import-devices`. Wiring only: the
//! workflow is `linbo_dc::hook`.
//!
//! Exit codes: 0 done, nothing to do, or not configured (no configuration file); 1 the devices
//! file could not be patched (left unchanged or restored; why is on stderr as well as stdout);
//! 2 bad command line; 78 the configuration file is invalid.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser as _;
use linbo_dc::hook::{self, HookArgs, LOG_TAG, Loaded};

use crate::cli::Cli;

/// The exit code of a configuration file that exists but is not valid (`EX_CONFIG` of
/// sysexits.h).
const EXIT_CONFIG: u8 = 78;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "{LOG_TAG} failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let args = HookArgs {
        config: cli.config,
        school: cli.school,
        root: cli.root.root(),
    };
    let settings = match hook::load_settings(&args) {
        Ok(Loaded::NotConfigured) => return Ok(ExitCode::SUCCESS),
        Ok(Loaded::Settings(settings)) => settings,
        Err(error) => {
            // Both streams: the import prints stdout, the journal keeps stderr.
            let message = format!("{LOG_TAG} invalid configuration: {error}\n");
            let _ = std::io::stdout().write_all(message.as_bytes());
            let _ = std::io::stderr().write_all(message.as_bytes());
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    // The import keeps only stderr of a hook that exits 1, so failures are written there too.
    let report = hook::run(
        &settings,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    Ok(if report.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
