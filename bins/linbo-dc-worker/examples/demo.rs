//! `just demo`: the worker on a local demo setup, from a fresh clone, with nothing to set up.
//!
//! Starts a private `redis-server`, the fake LINBO Docker API and a sandbox DC in
//! `target/demo/` (fake `linuxmuster-import-devices`, `samba-tool`, `host`, `repair_macct.py`,
//! and the real `linbo-dc-dhcp-hook` as post-import hook), runs the real `linbo-dc-worker`
//! binary against them, enqueues a realistic mix of jobs as the LINBO Docker API would, shows
//! the progress, and ends with each operation's final status, the devices.csv diff and the
//! patched DHCP host blocks. The sandbox stays in `target/demo/` to look at afterwards
//! (`worker.log` is the worker's journal).
//!
//! Run with `cargo run -p linbo-dc-worker --example demo` after building the two binaries
//! (`just demo` does both).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the demo reports on the terminal"
)]

use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use dc_testkit::fake_api::{macct_operation, provision_operation};
use dc_testkit::{FakeApi, RedisServer, SandboxDc};
use serde_json::{Value, json};

const API_KEY: &str = "demo-internal-key";
const LINBO_DOCKER_IP: &str = "10.0.0.13";
const STREAM: &str = "linbo:jobs";

/// The school's devices.csv before the demo: a server, a printer and a few classroom PCs the
/// administrator manages by hand (a comment and a 16th field as the web UI writes them).
const MASTER: &str = "\
# devices.csv of default-school
server;server;nopxe;00:16:3E:00:00:01;10.0.0.1;;;;server;;0;;;;
r100;r100-pr01;nopxe;00:1A:2B:3C:00:01;10.0.100.250;;;;printer;;0;;;;Drucker Raum 100
r100;r100-pc01;win11;00:1A:2B:3C:00:11;10.0.100.11;;;;;;1;;;;
r100;r100-pc02;win11;00:1A:2B:3C:00:12;10.0.100.12;;;;;;1;;;;;
r100;r100-pc03;win11;00:1A:2B:3C:00:13;10.0.100.13;;;;;;1;;;;
";

struct Job {
    id: String,
    kind: &'static str,
    what: String,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(demo());
}

async fn demo() {
    let binaries = binaries_dir();
    let worker_binary = binaries.join("linbo-dc-worker");
    let hook_binary = binaries.join("linbo-dc-dhcp-hook");
    for binary in [&worker_binary, &hook_binary] {
        assert!(
            binary.exists(),
            "{} is missing: run `just demo` (it builds the binaries first)",
            binary.display()
        );
    }
    let dir = binaries.join("../demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("removing the previous demo sandbox");
    }

    println!("== linbo-dc demo ==");
    let redis = RedisServer::start();
    let api = FakeApi::start(API_KEY).await;
    api.forward_retries_to(&redis.url());
    let dc = SandboxDc::at(&dir);
    dc.write_master("default-school", MASTER);
    dc.write(
        "/etc/linuxmuster/subnets.csv",
        "10.0.0.0/16;10.0.0.254;;;;\n",
    );
    dc.install_hook(&hook_binary, LINBO_DOCKER_IP);
    dc.knobs(&[("FAKE_IMPORT_SLEEP", "1"), ("FAKE_MACCT_MODE", "updated")]);
    dc.write_worker_config(&format!(
        "# linbo-dc demo: /etc/macct-worker.conf of the sandbox DC\n\
         REDIS_HOST=127.0.0.1\nREDIS_PORT={}\nAPI_URL={}\nAPI_KEY={API_KEY}\n\
         CONSUMER_NAME=demo-dc\nPROVISION_DEBOUNCE_SEC=2\n\
         DHCP_VERIFY_FILE=/etc/dhcp/devices/{{school}}.conf\nDNS_SERVER={}\n",
        redis.port(),
        api.base_url(),
        dc.dns_server(),
    ));
    redis.create_group(STREAM, "dc-workers");
    println!("redis-server   127.0.0.1:{} (private)", redis.port());
    println!("LINBO API      {} (fake)", api.base_url());
    println!("sandbox DC     {}", dc.root().display());

    let before = dc.master("default-school");
    let jobs = enqueue(&redis, &api);
    println!(
        "enqueued       {} jobs: 20 creates in rooms r101 and r102, a rename, a delete, \
         an invalid host name, a conflicting MAC, two machine-account repairs",
        jobs.len()
    );

    let log = File::create(dc.root().join("worker.log")).expect("worker.log");
    #[allow(clippy::disallowed_methods, reason = "the demo runs the worker binary")]
    let mut worker = Command::new(&worker_binary)
        .arg("--root")
        .arg(dc.root())
        .arg("-c")
        .arg("/etc/macct-worker.conf")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("starting linbo-dc-worker");
    println!(
        "worker         pid {} (log: {}/worker.log)\n",
        worker.id(),
        dc.root().display()
    );

    let started = Instant::now();
    let mut last = String::new();
    loop {
        let line = progress(&api, &jobs);
        if line != last {
            println!("[{:5.1} s] {line}", started.elapsed().as_secs_f64());
            last = line;
        }
        if jobs
            .iter()
            .all(|job| is_final(&api.operation(&job.id).unwrap_or_default()))
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(120)
            || worker.try_wait().ok().flatten().is_some()
        {
            eprintln!(
                "the demo did not finish; see {}/worker.log",
                dc.root().display()
            );
            let _ = worker.kill();
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    println!("\n== final status of each operation ==");
    for job in &jobs {
        let operation = api.operation(&job.id).unwrap_or_default();
        let status = operation["status"].as_str().unwrap_or("?");
        let detail = match status {
            "completed" => summary(job.kind, &operation["result"]),
            _ => operation["error"].as_str().unwrap_or("").to_owned(),
        };
        println!("{:<10} {:<14} {:<34} {detail}", status, job.kind, job.what);
    }

    println!("\n== devices.csv diff ==");
    print!("{}", line_diff(&before, &dc.master("default-school")));

    println!("\n== DHCP host blocks with next-server {LINBO_DOCKER_IP} (patched by the hook) ==");
    let dhcp = dc.read("/etc/dhcp/devices/default-school.conf");
    let patched = patched_blocks(&dhcp);
    for block in patched.iter().take(3) {
        print!("{block}");
    }
    if patched.len() > 3 {
        println!("... and {} more", patched.len() - 3);
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "the demo stops the worker like systemd does"
    )]
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(worker.id().to_string())
        .status();
    let status = worker.wait().expect("waiting for the worker");
    println!(
        "\nworker stopped with SIGTERM: exit code {}; {} import run(s); sandbox kept in {}",
        status
            .code()
            .map_or_else(|| "none".to_owned(), |code| code.to_string()),
        dc.import_calls().len(),
        dc.root().display()
    );
}

/// Where cargo put the binaries: the example lives in `target/<profile>/examples/`.
fn binaries_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the demo's path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/examples/demo")
        .to_owned()
}

fn enqueue(redis: &RedisServer, api: &FakeApi) -> Vec<Job> {
    let mut jobs = Vec::new();
    let mut number = 0_u32;
    let mut next_id = || {
        number += 1;
        format!("0d3e0000-0000-4000-8000-{number:012x}")
    };
    let provision = |jobs: &mut Vec<Job>, id: String, options: Value, what: String| {
        let action = options["action"].as_str().unwrap_or("create").to_owned();
        api.insert_operation(provision_operation(&id, "default-school", options));
        redis.xadd(
            STREAM,
            &[
                ("type", "provision_host"),
                ("operation_id", &id),
                ("action", &action),
                ("school", "default-school"),
                ("attempt", "0"),
                ("created_at", "2026-11-26T08:00:00Z"),
            ],
        );
        jobs.push(Job {
            id,
            kind: "provision_host",
            what,
        });
    };
    for room in [101, 102] {
        for pc in 1..=10 {
            let hostname = format!("r{room}-pc{pc:02}");
            let options = json!({
                "action": "create", "hostname": hostname,
                "mac": format!("00:1a:2b:{room:02x}:00:{pc:02x}"),
                "ip": format!("10.0.{room}.{pc}"), "configName": "win11",
                "csvCol0": format!("r{room}"), "oldHostname": null, "pxeFlag": 1,
                "dryRun": false, "hostId": room * 100 + pc
            });
            provision(&mut jobs, next_id(), options, format!("create {hostname}"));
        }
    }
    provision(
        &mut jobs,
        next_id(),
        json!({"action": "update", "hostname": "r100-pc11", "oldHostname": "r100-pc01",
               "mac": "00:1a:2b:3c:00:11", "ip": "10.0.100.11", "configName": "win11",
               "csvCol0": "r100", "pxeFlag": 1, "dryRun": false}),
        "rename r100-pc01 -> r100-pc11".to_owned(),
    );
    provision(
        &mut jobs,
        next_id(),
        json!({"action": "delete", "hostname": "r100-pc02", "dryRun": false}),
        "delete r100-pc02".to_owned(),
    );
    provision(
        &mut jobs,
        next_id(),
        json!({"action": "create", "hostname": "pc_01!", "mac": "00:1a:2b:3c:00:99",
               "ip": "", "configName": "win11", "csvCol0": "r103", "pxeFlag": 1, "dryRun": false}),
        "create pc_01! (invalid name)".to_owned(),
    );
    provision(
        &mut jobs,
        next_id(),
        json!({"action": "create", "hostname": "r103-pc01", "mac": "00:1a:2b:3c:00:13",
               "ip": "", "configName": "win11", "csvCol0": "r103", "pxeFlag": 1, "dryRun": false}),
        "create r103-pc01 (MAC of r100-pc03)".to_owned(),
    );
    for host in ["r100-pc03", "r100-pr01"] {
        let id = next_id();
        api.insert_operation(macct_operation(&id, host, "default-school", 0));
        redis.xadd(
            STREAM,
            &[
                ("type", "macct_repair"),
                ("operation_id", &id),
                ("host", host),
                ("school", "default-school"),
                ("attempt", "0"),
                ("created_at", "2026-11-26T08:00:00Z"),
            ],
        );
        jobs.push(Job {
            id,
            kind: "macct_repair",
            what: format!("repair {host}"),
        });
    }
    jobs
}

fn is_final(operation: &Value) -> bool {
    matches!(operation["status"].as_str(), Some("completed" | "failed"))
}

fn progress(api: &FakeApi, jobs: &[Job]) -> String {
    let mut counts = [0_usize; 4];
    for job in jobs {
        let operation = api.operation(&job.id).unwrap_or_default();
        let index = match operation["status"].as_str() {
            Some("running" | "retrying") => 1,
            Some("completed") => 2,
            Some("failed") => 3,
            _ => 0,
        };
        counts[index] += 1;
    }
    format!(
        "pending {:2} · running {:2} · completed {:2} · failed {:2}",
        counts[0], counts[1], counts[2], counts[3]
    )
}

fn summary(kind: &str, result: &Value) -> String {
    if kind == "macct_repair" {
        return format!(
            "processed, {} output lines{}",
            result["stdout_lines"],
            if result["unicodePwd_updated"] == true {
                ", unicodePwd updated"
            } else {
                ""
            }
        );
    }
    let verify = &result["verify"];
    let yes_no = |key: &str| if verify[key] == true { "yes" } else { "no" };
    if verify["expected_absent"] == true {
        return format!(
            "{}; AD {} · DNS {} (gone)",
            result["change"].as_str().unwrap_or(""),
            yes_no("ad_object_exists"),
            yes_no("dns_a_exists")
        );
    }
    format!(
        "{}; AD {} · DNS {} · DHCP {}",
        result["change"].as_str().unwrap_or(""),
        yes_no("ad_object_exists"),
        yes_no("dns_a_exists"),
        yes_no("dhcp_configured")
    )
}

/// A plain line diff (longest common subsequence; the files are small).
fn line_diff(old: &str, new: &str) -> String {
    let old: Vec<&str> = old.lines().collect();
    let new: Vec<&str> = new.lines().collect();
    let mut common = vec![vec![0_usize; new.len() + 1]; old.len() + 1];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i][j] = if old[i] == new[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            let _ = writeln!(out, "  {}", old[i]);
            (i, j) = (i + 1, j + 1);
        } else if j < new.len() && (i == old.len() || common[i][j + 1] >= common[i + 1][j]) {
            let _ = writeln!(out, "+ {}", new[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "- {}", old[i]);
            i += 1;
        }
    }
    out
}

/// Host blocks (as linuxmuster writes them: `host NAME {` … `}`) that carry a `next-server`.
fn patched_blocks(dhcp: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in dhcp.split_inclusive('\n') {
        if line.starts_with("host ") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            if line.trim_end() == "}" {
                if block.contains("next-server") {
                    blocks.push(block.clone());
                }
                current = None;
            }
        }
    }
    blocks
}
