//! Benchmark: parse and patch a 20,000-host linuxmuster devices file, against a memcpy baseline.
//!
//! Plain `std::time` (no criterion): each figure is the median of several runs, and each is
//! printed with its ratio to copying the same bytes, measured in the same run, so figures from
//! different machines compare. Run with `cargo bench -p dhcpd-conf --bench parse`.

// A benchmark's output is its result.
#![allow(clippy::print_stdout)]

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

const N_HOSTS: usize = 20_000;
const N_MANAGED: usize = 5_000;
const RUNS: usize = 21;

/// A devices file as `linuxmuster-import-devices` writes it (SPEC §12): per subnet a comment,
/// fixed-IP hosts, then dynamic ones; two-space indent; PXE options on most hosts.
fn devices_file() -> String {
    let mut text = String::new();
    for index in 0..N_HOSTS {
        let subnet = index / 250;
        if index % 250 == 0 {
            writeln!(text, "# subnet 10.{subnet}.0.0/24").expect("writing to a String");
        }
        if index % 250 == 200 {
            text.push_str("# dynamic ip hosts\n");
        }
        let name = format!("r{subnet:03}-pc{:03}", index % 250);
        let mac = format!(
            "00:1A:{:02X}:{:02X}:{:02X}:{:02X}",
            (index >> 24) & 0xff,
            (index >> 16) & 0xff,
            (index >> 8) & 0xff,
            index & 0xff
        );
        writeln!(
            text,
            "host {name} {{\n  option host-name \"{name}\";\n  hardware ethernet {mac};"
        )
        .expect("writing to a String");
        if index % 250 < 200 {
            writeln!(text, "  fixed-address 10.{subnet}.0.{};", index % 250 + 1)
                .expect("writing to a String");
        }
        if index % 10 != 0 {
            text.push_str(
                "  option extensions-path \"win11efi\";\n  option nis-domain \"win11efi\";\n",
            );
        }
        text.push_str("}\n");
    }
    text
}

/// Wall times of `RUNS` runs of `work`: (median, fastest). The fastest run shows what the code
/// costs when other processes leave the CPU alone; the median is the figure to quote.
fn median(mut work: impl FnMut()) -> Timing {
    timed_runs(|| {
        let start = Instant::now();
        work();
        start.elapsed()
    })
}

/// Like [`median`] for work that times itself (to leave set-up out of the figure).
fn timed_runs(mut run: impl FnMut() -> Duration) -> Timing {
    let mut times: Vec<Duration> = (0..RUNS).map(|_| run()).collect();
    times.sort();
    Timing {
        median: times[RUNS / 2],
        fastest: times[0],
    }
}

#[derive(Clone, Copy)]
struct Timing {
    median: Duration,
    fastest: Duration,
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() {
    let text = devices_file();
    let megabytes = text.len() as f64 / 1_000_000.0;
    let names: Vec<String> = dhcpd_conf::parse(&text)
        .expect("the generated file parses")
        .hosts()
        .map(|host| host.name().to_owned())
        .collect();
    assert_eq!(names.len(), N_HOSTS);
    let managed: std::collections::HashSet<&str> = names
        .iter()
        .step_by(N_HOSTS / N_MANAGED)
        .map(String::as_str)
        .collect();
    let docker = Ipv4Addr::new(10, 0, 0, 2);

    // Baseline: copying the bytes, what any in-memory rewrite has to do at least.
    let baseline = median(|| {
        black_box(black_box(text.as_str()).to_owned());
    });
    let parse = median(|| {
        black_box(dhcpd_conf::parse(black_box(&text)).expect("parses"));
    });
    let print = {
        let config = dhcpd_conf::parse(&text).expect("parses");
        median(|| {
            black_box(config.to_string());
        })
    };
    let patch_bulk = median(|| {
        let mut config = dhcpd_conf::parse(black_box(&text)).expect("parses");
        config.patch_hosts(|host| {
            if managed.contains(host.name()) {
                host.set_next_server(docker);
            } else {
                host.remove_next_server_if(docker);
            }
        });
        black_box(config.to_string());
    });
    // The patch alone: each run parses a fresh tree before its clock starts and drops it after.
    let patch_only = timed_runs(|| {
        let mut config = dhcpd_conf::parse(&text).expect("parses");
        let start = Instant::now();
        config.patch_hosts(|host| {
            if managed.contains(host.name()) {
                host.set_next_server(docker);
            } else {
                host.remove_next_server_if(docker);
            }
        });
        let elapsed = start.elapsed();
        drop(black_box(config));
        elapsed
    });
    let patch_by_name = median(|| {
        let mut config = dhcpd_conf::parse(black_box(&text)).expect("parses");
        for name in &managed {
            config
                .host_mut(name)
                .expect("declared")
                .set_next_server(docker);
        }
        black_box(config.to_string());
    });

    println!("devices file: {N_HOSTS} hosts, {megabytes:.1} MB; median (fastest) of {RUNS} runs");
    println!(
        "memcpy baseline: {:.3} ms ({:.3} ms), {:.0} MB/s",
        millis(baseline.median),
        millis(baseline.fastest),
        megabytes / baseline.median.as_secs_f64()
    );
    let report = |what: String, timing: Timing| {
        let ratio = timing.median.as_secs_f64() / baseline.median.as_secs_f64();
        println!(
            "dhcpd-conf {what}: {:.1} ms ({:.1} ms), {:.0} MB/s (ratio {ratio:.0}x to memcpy baseline)",
            millis(timing.median),
            millis(timing.fastest),
            megabytes / timing.median.as_secs_f64()
        );
    };
    report(format!("parse {N_HOSTS} hosts"), parse);
    report(format!("to_string {N_HOSTS} hosts"), print);
    report(
        format!(
            "parse + set_next_server on {} hosts (patch_hosts) + to_string",
            managed.len()
        ),
        patch_bulk,
    );
    report(
        format!(
            "patch_hosts alone ({} set_next_server, the rest remove_next_server_if)",
            managed.len()
        ),
        patch_only,
    );
    report(
        format!(
            "parse + host_mut(name).set_next_server on {} hosts + to_string",
            managed.len()
        ),
        patch_by_name,
    );
}
