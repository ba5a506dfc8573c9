//! The man pages (section 8, one per command and visible subcommand) and the bash, zsh and fish
//! completions of one binary, from its clap definitions. Included by each binary's
//! `examples/worker-assets.rs` and `examples/hook-assets.rs`; `just deb` runs them and packages the files; the product has no such
//! command.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap_complete::Shell;

/// `*-assets OUT_DIR`: writes `OUT_DIR/man/*.8`, `OUT_DIR/bash/<bin>`, `OUT_DIR/zsh/_<bin>` and
/// `OUT_DIR/fish/<bin>.fish` for `bin`, whose clap definition is `command`.
pub(crate) fn main(bin: &str, command: clap::Command) -> anyhow::Result<()> {
    let out_dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .context("usage: <bin>-assets OUT_DIR")?;
    write_man_pages(command.clone(), &out_dir.join("man"))?;
    write_completions(bin, command, &out_dir)?;
    Ok(())
}

/// One page per command and visible subcommand (`linbo-dc-worker-dlq-list.8`, …), section 8:
/// both binaries are an administrator's commands in `/usr/sbin`.
fn write_man_pages(command: clap::Command, dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut command = command.disable_help_subcommand(true);
    // Gives every subcommand its display name (`linbo-dc-worker-status`), the page's name.
    command.build();
    write_page(&command, dir)
}

fn write_page(command: &clap::Command, dir: &Path) -> anyhow::Result<()> {
    for subcommand in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_page(subcommand, dir)?;
    }
    let man = clap_mangen::Man::new(command.clone())
        .section("8")
        .manual("System Administration")
        .source(format!("linbo-dc {}", env!("CARGO_PKG_VERSION")));
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)
        .with_context(|| format!("rendering {}", path.display()))?;
    fs::write(&path, page).with_context(|| format!("writing {}", path.display()))
}

/// The completion scripts under the names each shell looks for.
fn write_completions(bin: &str, mut command: clap::Command, out_dir: &Path) -> anyhow::Result<()> {
    for (shell, dir, file) in [
        (Shell::Bash, "bash", bin.to_owned()),
        (Shell::Zsh, "zsh", format!("_{bin}")),
        (Shell::Fish, "fish", format!("{bin}.fish")),
    ] {
        let dir = out_dir.join(dir);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, bin, &mut script);
        let path = dir.join(file);
        fs::write(&path, script).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
