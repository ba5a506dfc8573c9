//! Writes the man pages (section 8, one per command and subcommand) and the bash, zsh and fish
//! completions of `linbo-dc-worker` into a directory, built from the clap definitions in
//! `src/cli.rs`. `just deb` runs it and packages the files; the product has no such command.
//!
//! Usage: `cargo run -p linbo-dc-worker --example worker-assets -- OUT_DIR` writes
//! `OUT_DIR/man/*.8`, `OUT_DIR/bash/linbo-dc-worker`, `OUT_DIR/zsh/_linbo-dc-worker` and
//! `OUT_DIR/fish/linbo-dc-worker.fish`.

#[allow(
    dead_code,
    reason = "the binary reads the parsed fields; this generator only needs the definitions"
)]
#[path = "../src/cli.rs"]
mod cli;

#[path = "../../../packaging/gen_assets.rs"]
mod gen_assets;

use clap::CommandFactory as _;

fn main() -> anyhow::Result<()> {
    gen_assets::main("linbo-dc-worker", cli::Cli::command())
}
