//! A one-line text form of provisioning jobs for fixtures and the demo:
//! `create hostname=pc01 room=r100 group=win11 mac=00:1a:.. ip=10.0.0.1 role= pxe=1 dry-run`.
//!
//! Actions: `create`/`update` (upsert; `old=NAME` makes a rename) and `delete hostname=NAME`.
//! Values are one word; `\s` stands for a space, `\n`, `\r`, `\0` and `\\` for themselves, so
//! fixtures can show injection attempts. Lines starting with `#` and blank lines are skipped.

use devices_csv::{HostSpec, Job};

/// Parses a jobs file; panics with the line number on a malformed line (fixtures are ours).
pub(crate) fn parse_jobs(text: &str) -> Vec<(String, Job)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'))
        .map(|(index, line)| {
            parse_job(line).unwrap_or_else(|problem| panic!("jobs line {}: {problem}", index + 1))
        })
        .map(|job| (describe(&job), job))
        .collect()
}

fn describe(job: &Job) -> String {
    match &job.action {
        devices_csv::Action::Upsert(spec) => match &spec.old_hostname {
            Some(old) => format!("rename {old} -> {}", spec.hostname.escape_debug()),
            None => format!("upsert {}", spec.hostname.escape_debug()),
        },
        devices_csv::Action::Delete { hostname } => format!("delete {}", hostname.escape_debug()),
    }
}

fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('s') => out.push(' '),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Parses one job line.
pub(crate) fn parse_job(line: &str) -> Result<Job, String> {
    let mut words = line.split_whitespace();
    let action = words.next().ok_or("empty line")?;
    let mut spec = HostSpec::default();
    let mut dry_run = false;
    for word in words {
        if word == "dry-run" {
            dry_run = true;
            continue;
        }
        let (key, value) = word
            .split_once('=')
            .ok_or_else(|| format!("expected key=value, found {word:?}"))?;
        let value = unescape(value);
        match key {
            "hostname" => spec.hostname = value,
            "old" => spec.old_hostname = Some(value),
            "room" => spec.room = value,
            "group" => spec.group = value,
            "mac" => spec.mac = value,
            "ip" => spec.ip = value,
            "role" => spec.role = value,
            "pxe" => spec.pxe_flag = Some(value.parse().map_err(|_| format!("bad pxe {value:?}"))?),
            _ => return Err(format!("unknown key {key:?}")),
        }
    }
    let job = match action {
        "create" | "update" => Job::upsert(spec),
        "delete" => Job::delete(spec.hostname),
        _ => return Err(format!("unknown action {action:?}")),
    };
    Ok(if dry_run { job.dry_run() } else { job })
}
