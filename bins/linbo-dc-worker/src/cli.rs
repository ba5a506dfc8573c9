//! The command line of `linbo-dc-worker` (clap). Its own module so that
//! `examples/worker-assets.rs` can build the man page and shell completions from the same
//! definitions.

use std::path::PathBuf;

#[path = "../../shared/root_arg.rs"]
mod root_arg;

use clap::{Parser, Subcommand};
use job_stream::retention::StreamId;

pub(crate) use root_arg::RootArg;

/// Consumes LINBO Docker jobs (host provisioning, machine-account repair) from Redis on the
/// linuxmuster.net domain controller and reports each outcome to the LINBO Docker API.
#[derive(Debug, Parser)]
#[command(version, about)]
pub(crate) struct Cli {
    /// The configuration file (KEY=VALUE lines; environment variables of the same names
    /// override it).
    #[arg(short = 'c', long, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Log every step (debug level).
    #[arg(short = 'v', long)]
    pub(crate) verbose: bool,
    #[command(flatten)]
    pub(crate) root: RootArg,
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Validate the configuration and print the effective settings (secrets as ***).
    CheckConfig,
    /// Check everything the worker needs (configuration, Redis, the API, the DC's programs, the
    /// hook, devices.csv, the state directory): one line per check, exit 1 when one fails.
    Doctor,
    /// Show the workers' heartbeats, the stream, pending entries per consumer, the newest dead
    /// letters and the outbox (exit 0 when Redis answered, 1 when it did not).
    Status {
        /// A stable JSON object for scripts instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List, show, requeue or drop dead-lettered entries (linbo:jobs:dlq).
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DlqCommand {
    /// Every dead-letter entry, oldest first: id, failed_at, type, operation_id, last_error.
    List {
        /// A JSON array instead of text.
        #[arg(long)]
        json: bool,
    },
    /// One dead-letter entry with every field.
    Show {
        /// The dead-letter entry's id (see `dlq list`).
        id: StreamId,
        /// A JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Add the entries' original fields to linbo:jobs again and delete them from the
    /// dead-letter stream, in one transaction (all named ids or none).
    Requeue {
        /// Dead-letter entry ids (see `dlq list`).
        #[arg(
            value_name = "ID",
            required_unless_present = "all",
            conflicts_with = "all"
        )]
        ids: Vec<StreamId>,
        /// Every entry the dead-letter stream holds when the command starts.
        #[arg(long)]
        all: bool,
    },
    /// Delete dead-letter entries (all named ids or none; there is no wildcard).
    Drop {
        /// Dead-letter entry ids (see `dlq list`).
        #[arg(value_name = "ID", required = true)]
        ids: Vec<StreamId>,
    },
}
