//! `just bench`: the hook binary end to end (spawn to exit) on a generated 20,000-host devices
//! file with 5,000 managed hosts, and on an empty delta, against baselines measured in the same
//! run: spawning `/bin/true` and reading + writing the same bytes. SPEC §10 targets: ≤ 50 ms for
//! the large file, ≤ 5 ms for an empty delta.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark reports on standard output"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

#[path = "../tests/it/support.rs"]
#[allow(dead_code, reason = "the benchmark uses part of the test support")]
mod support;

use support::{REAL_DHCPD, delta_file, delta_line, hook_dc, host_block, run_hook};

const HOSTS: usize = 20_000;
const MANAGED_EVERY: usize = 4;

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(11)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Times `run` after `prepare` (untimed), median of the runs.
fn time(mut prepare: impl FnMut(), mut run: impl FnMut()) -> Duration {
    median(
        (0..runs())
            .map(|_| {
                prepare();
                let start = Instant::now();
                run();
                start.elapsed()
            })
            .collect(),
    )
}

fn main() {
    let mut devices = String::from("# subnet 10.0.0.0/8\n");
    let mut delta = String::new();
    for number in 0..HOSTS {
        let name = format!("h{number:05}");
        devices.push_str(&host_block(&name, number, number % 3 != 0));
        if number % MANAGED_EVERY == 0 {
            delta.push_str(&delta_line(&name, 1));
        }
    }
    let devices_file = "etc/dhcp/devices/default-school.conf";
    let delta = delta_file(&delta);
    let large = hook_dc(
        "default-school",
        &devices,
        &delta,
        "DHCPD=/nonexistent/dhcpd\n",
    );
    let restore = || large.write(devices_file, &devices);
    let hook = || {
        let run = run_hook(&large, &["-s", "default-school"]);
        assert_eq!(run.code, 0, "{}", run.stdout);
        assert!(run.stdout.contains("Done: 5000 patched"), "{}", run.stdout);
    };
    let end_to_end = time(restore, hook);

    let with_dhcpd = hook_dc(
        "default-school",
        &devices,
        &delta,
        &format!("DHCPD={REAL_DHCPD}\n"),
    );
    let checked = time(
        || with_dhcpd.write(devices_file, &devices),
        || assert_eq!(run_hook(&with_dhcpd, &["-s", "default-school"]).code, 0),
    );

    let empty = hook_dc(
        "default-school",
        &host_block("pc01", 1, true),
        &delta_file(""),
        "DHCPD=/nonexistent/dhcpd\n",
    );
    let empty_delta = time(
        || {},
        || assert_eq!(run_hook(&empty, &["-s", "default-school"]).code, 0),
    );

    #[allow(
        clippy::disallowed_methods,
        reason = "the baseline is a bare process spawn"
    )]
    let spawn = time(
        || {},
        || {
            black_box(
                std::process::Command::new("/bin/true")
                    .status()
                    .expect("/bin/true runs"),
            );
        },
    );
    let path = large.path(devices_file);
    let copy = large.path("etc/dhcp/copy.conf");
    let read_write = time(
        || {},
        || {
            let bytes = std::fs::read(&path).expect("read");
            std::fs::write(&copy, bytes).expect("write");
        },
    );

    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let baseline = spawn + read_write;
    println!(
        "linbo-dc-dhcp-hook: {HOSTS} hosts ({:.1} MiB), {} managed, median of {} runs",
        devices.len() as f64 / (1 << 20) as f64,
        HOSTS / MANAGED_EVERY,
        runs()
    );
    println!(
        "  baseline spawn /bin/true + read+write of the file: {:>8.2} ms",
        ms(baseline)
    );
    println!(
        "  hook end to end (dhcpd -t skipped):                {:>8.2} ms  ratio {:.1}x  (SPEC §10: <= 50 ms)",
        ms(end_to_end),
        end_to_end.as_secs_f64() / baseline.as_secs_f64()
    );
    println!(
        "  hook end to end with the real dhcpd -t:            {:>8.2} ms  ratio {:.1}x",
        ms(checked),
        checked.as_secs_f64() / baseline.as_secs_f64()
    );
    println!(
        "  hook on an empty delta (start to exit):            {:>8.2} ms  ratio {:.1}x to spawning /bin/true ({:.2} ms)  (SPEC §10: <= 5 ms)",
        ms(empty_delta),
        empty_delta.as_secs_f64() / spawn.as_secs_f64(),
        ms(spawn)
    );
}
