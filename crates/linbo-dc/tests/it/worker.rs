//! The worker in process: `linbo_dc::worker::Worker`'s `Handler::handle_batch` driven with
//! detached batches (`job_stream::Batch::detached`) against dc-testkit's fake API and a sandbox
//! DC, no Redis. The worker is built as `linbo-dc-worker` builds it (its configuration file read
//! from the sandbox, `Programs::standard`); each test is a batch of jobs in and the entries'
//! outcomes, the operations' final reports and the files out, through one [`check`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dc_testkit::fake_api::{self, provision_operation};
use dc_testkit::{FakeApi, SandboxDc};
use job_stream::Outcome::{self, Ack, Defer, RetryAfter};
use job_stream::{Batch, Delivery, Handler as _, Job as _, Lane};
use linbo_dc::conf_file::ConfFile;
use linbo_dc::paths::Root;
use linbo_dc::worker::config::{Settings, Sources};
use linbo_dc::worker::{Programs, Task, Worker};
use serde_json::{Value, json};

const API_KEY: &str = "in-process-secret-key";

/// default-school's devices.csv: two hand-managed hosts (one a printer with a role and extra
/// columns), as in the worker binary's end-to-end tests.
const MASTER: &str = "\
# devices.csv of default-school, maintained by hand
r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;classroom-studentcomputer;;1;;;;hand-made
r100;r100-pr01;nopxe;00:1A:2B:3C:4D:02;10.0.100.2;;;;printer;;0;;;;
";

/// A sandbox DC with the fake API and the worker built on them.
struct Dc {
    sandbox: SandboxDc,
    api: FakeApi,
    worker: Worker,
    /// Stream entries made so far: numbers the next entry id and operation id, so that no batch
    /// of a test reuses an earlier one's (the batch journal knows entries by id).
    entries: AtomicU64,
}

impl Dc {
    /// The sandbox with [`MASTER`] and the samba-tool credentials file, then `files` (DC path,
    /// text; they may replace those), and the worker's configuration as the end-to-end tests
    /// write it with `config` appended (later lines win). The worker is built after the files
    /// are written, as the binary reads the DC at start. `{api}` in `config` stands for the fake
    /// API's address (`127.0.0.1:<port>`).
    async fn new(config: &str, files: &[(&str, &str)]) -> Dc {
        let sandbox = SandboxDc::new();
        sandbox.write_master("default-school", MASTER);
        sandbox.write(
            "/etc/linbo-dc/samba.auth",
            "username=administrator\npassword=in-process-samba-password\n",
        );
        for (path, text) in files {
            sandbox.write(path, text);
        }
        let api = FakeApi::start(API_KEY).await;
        let path = sandbox.write_worker_config(&format!(
            "# in-process test configuration\n\
             API_URL={api_url}\n\
             API_KEY={API_KEY}\n\
             DHCP_VERIFY_FILE=/etc/dhcp/devices/{{school}}.conf\n\
             SAMBA_TOOL_AUTH_FILE=/etc/linbo-dc/samba.auth\n\
             DNS_SERVER={dns}\n\
             API_TIMEOUT_SEC=2\n\
             {config}\n",
            api_url = api.base_url(),
            dns = sandbox.dns_server(),
            config = config.replace("{api}", &api.address().to_string()),
        ));
        let worker = build_worker(sandbox.root(), &path);
        Dc {
            sandbox,
            api,
            worker,
            entries: AtomicU64::new(0),
        }
    }

    /// A stream entry's id and operation id, new in this sandbox.
    fn next_ids(&self) -> (String, String) {
        let n = self.entries.fetch_add(1, Ordering::Relaxed) + 1;
        (
            format!("{n}-0"),
            format!("00000000-0000-4000-8000-{n:012x}"),
        )
    }
}

/// The worker as `linbo-dc-worker` builds it: its configuration file `config` read under `root`,
/// the standard programs under `root`, no environment.
fn build_worker(root: &Path, config: &Path) -> Worker {
    let root = Root::new(root);
    let file = ConfFile::read(&root, config)
        .expect("the configuration parses")
        .expect("the configuration exists");
    let settings = Settings::load(&Sources {
        file: &file,
        env: &HashMap::new(),
        host_name: "dc01",
        root: &root,
    })
    .expect("valid settings");
    let files = settings.check_files();
    assert!(
        files.errors.is_empty(),
        "the binary would refuse to start: {files:?}"
    );
    let programs = Programs::standard(&root, settings.import_script.clone());
    Worker::new(settings, programs).expect("the worker sets up")
}

/// What the API holds for an entry's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    /// `pending`, as the API adds it.
    Pending,
    /// Cancelled by an administrator before the worker got to it.
    Cancelled,
    /// Not there (the API answers 404).
    Unknown,
}

/// One `provision_host` stream entry and its operation; of default-school unless
/// [`of_school`](Entry::of_school) says otherwise.
#[derive(Debug, Clone)]
struct Entry {
    school: &'static str,
    options: Value,
    held: Held,
}

impl Entry {
    fn new(options: Value) -> Entry {
        Entry {
            school: "default-school",
            options,
            held: Held::Pending,
        }
    }

    /// The job with option `key` set to `value`.
    fn with(mut self, key: &str, value: Value) -> Entry {
        self.options[key] = value;
        self
    }

    fn dry_run(self) -> Entry {
        self.with("dryRun", json!(true))
    }

    fn cancelled(mut self) -> Entry {
        self.held = Held::Cancelled;
        self
    }

    fn unknown_to_the_api(mut self) -> Entry {
        self.held = Held::Unknown;
        self
    }

    fn of_school(mut self, school: &'static str) -> Entry {
        self.school = school;
        self
    }
}

/// A create in room r200 with group win11 and PXE; `ip` empty for DHCP.
fn create(hostname: &str, mac: &str, ip: &str) -> Entry {
    Entry::new(fake_api::create_options(hostname, mac, ip))
}

/// An update of `hostname` (room r200, win11, PXE).
fn update(hostname: &str, mac: &str, ip: &str) -> Entry {
    create(hostname, mac, ip).with("action", json!("update"))
}

/// A rename of `from` to `to` (room r200, win11, PXE, DHCP).
fn rename(from: &str, to: &str, mac: &str) -> Entry {
    update(to, mac, "").with("oldHostname", json!(from))
}

/// A delete of `hostname`.
fn delete(hostname: &str) -> Entry {
    Entry::new(fake_api::delete_options(hostname))
}

/// What a batch left behind.
#[derive(Debug)]
struct Handled {
    /// The outcome per entry, in batch order.
    outcomes: Vec<Outcome>,
    /// The positions of the entries whose handling began (`Batch::begin`), in the order the
    /// batch's `BeginLog` recorded them.
    begun: Vec<usize>,
    /// Per entry, the operation as the API holds it afterwards: `status`, `error`, `result`, and
    /// `reported`, the statuses the worker sent for it in order. In every string the sandbox's
    /// root is left out (paths read as the DC names them) and the batch's operation ids are
    /// written `#<position>`.
    reports: Vec<Value>,
    /// default-school's devices.csv afterwards, when there is one.
    master: Option<String>,
    /// default-school's delta file afterwards, when there is one.
    delta: Option<String>,
    /// The fake AD's computer objects afterwards (`SandboxDc::ad_objects`).
    ad: Vec<String>,
    /// The names with a DNS A record afterwards (`SandboxDc::dns_names`).
    dns: Vec<String>,
    /// The imports the batch ran (`linuxmuster-import-devices -s <school>`).
    imports: Vec<String>,
}

impl Handled {
    /// Asserts that the reports hold `expected`, an array with an object per entry: each field
    /// given there has that value (objects are compared the same way, field by field; arrays
    /// item by item; a field that is not there counts as `null`), and a string that starts with
    /// `…` stands for any string that holds its parts between the `…`s in that order
    /// (`"…import failed…restored"`). Fields not given are not compared.
    #[track_caller]
    fn assert_reports(&self, expected: Value) {
        let mut problems = Vec::new();
        differences(&json!(self.reports), &expected, "", &mut problems);
        assert!(
            problems.is_empty(),
            "{}\nthe reports: {:#}",
            problems.join("\n"),
            json!(self.reports)
        );
    }
}

/// Adds an operation per entry to the API (as `held` says), hands the entries to
/// `handle_batch` as one detached batch of their school, and collects what it left behind.
async fn check(dc: &Dc, entries: impl IntoIterator<Item = Entry>) -> Handled {
    let entries: Vec<Entry> = entries.into_iter().collect();
    let mut deliveries = Vec::new();
    let mut operations = Vec::new();
    for entry in &entries {
        let (entry_id, operation_id) = dc.next_ids();
        if entry.held != Held::Unknown {
            dc.api.insert_operation(provision_operation(
                &operation_id,
                entry.school,
                entry.options.clone(),
            ));
        }
        if entry.held == Held::Cancelled {
            dc.api.cancel(&operation_id);
        }
        // The fields as LINBO Docker's API adds them (SPEC §2.1), decoded as the runtime does.
        let fields: HashMap<String, String> = [
            ("type", "provision_host"),
            ("operation_id", &operation_id),
            (
                "action",
                entry.options["action"].as_str().expect("an action"),
            ),
            ("school", entry.school),
            ("attempt", "0"),
            ("created_at", "2026-11-26T08:00:00Z"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        let task: Task = dc.worker.decode(&entry_id, &fields).expect("a valid entry");
        assert_eq!(task.lane(), Lane::Batched(entry.school.to_owned()));
        deliveries.push(Delivery::detached(entry_id, task));
        operations.push(operation_id);
    }
    let school = entries
        .first()
        .map_or("default-school", |entry| entry.school);
    assert!(
        entries.iter().all(|entry| entry.school == school),
        "a batch is one school's"
    );
    let batch = Batch::detached(school, deliveries);
    let ids: Vec<String> = batch
        .deliveries
        .iter()
        .map(|delivery| delivery.id.clone())
        .collect();
    let log = batch.begin_log().expect("a detached batch has a log");
    let imports_before = dc.sandbox.import_calls().len();
    let outcomes = dc.worker.handle_batch(batch).await;
    assert_eq!(outcomes.len(), ids.len(), "one outcome per entry");
    let begun = log
        .ids()
        .iter()
        .map(|id| {
            ids.iter()
                .position(|known| known == id)
                .expect("an entry of the batch")
        })
        .collect();
    let root = dc.sandbox.root().display().to_string();
    let reports = operations
        .iter()
        .map(|id| {
            let operation = dc.api.operation(id).unwrap_or(Value::Null);
            let reported: Vec<Value> = dc
                .api
                .status_bodies(id)
                .iter()
                .map(|body| body["status"].clone())
                .collect();
            let report = json!({
                "status": operation["status"],
                "error": operation["error"],
                "result": operation["result"],
                "reported": reported,
            });
            normalized(report, &root, &operations)
        })
        .collect();
    let master_path = dc.sandbox.master_path("default-school");
    let delta_path = dc.sandbox.delta_path("default-school");
    Handled {
        outcomes,
        begun,
        reports,
        master: master_path
            .exists()
            .then(|| dc.sandbox.master("default-school")),
        delta: delta_path
            .exists()
            .then(|| dc.sandbox.delta("default-school")),
        ad: dc.sandbox.ad_objects(),
        dns: dc.sandbox.dns_names(),
        imports: dc.sandbox.import_calls().split_off(imports_before),
    }
}

/// `value` with `root` left out of every string and the `operations` ids in them written
/// `#<position>`.
fn normalized(value: Value, root: &str, operations: &[String]) -> Value {
    match value {
        Value::String(text) => {
            let text = operations
                .iter()
                .enumerate()
                .fold(text.replace(root, ""), |text, (position, id)| {
                    text.replace(id.as_str(), &format!("#{position}"))
                });
            json!(text)
        }
        Value::Array(items) => items
            .into_iter()
            .map(|item| normalized(item, root, operations))
            .collect(),
        Value::Object(fields) => fields
            .into_iter()
            .map(|(key, item)| (key, normalized(item, root, operations)))
            .collect(),
        other => other,
    }
}

/// Where `actual` does not hold `expected` (see [`Handled::assert_reports`]), below `at`.
fn differences(actual: &Value, expected: &Value, at: &str, problems: &mut Vec<String>) {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => {
            for (key, expected) in expected {
                let actual = actual.get(key).unwrap_or(&Value::Null);
                differences(actual, expected, &format!("{at}/{key}"), problems);
            }
        }
        (Value::Array(actual), Value::Array(expected)) if actual.len() == expected.len() => {
            for (index, (actual, expected)) in actual.iter().zip(expected).enumerate() {
                differences(actual, expected, &format!("{at}/{index}"), problems);
            }
        }
        (Value::String(actual), Value::String(expected))
            if expected.starts_with('…') && holds_in_order(actual, expected.split('…')) => {}
        _ if actual == expected => {}
        _ => problems.push(format!("{at}: expected {expected}, found {actual}")),
    }
}

/// Whether `text` holds each of `parts`, one after the other.
fn holds_in_order<'a>(text: &str, parts: impl IntoIterator<Item = &'a str>) -> bool {
    let mut rest = text;
    for part in parts {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// The report of a job that failed with `error` after its `running` report.
fn failed(error: &str) -> Value {
    json!({"status": "failed", "error": error, "reported": ["running", "failed"], "result": null})
}

/// The import of default-school, as the fake records it.
const IMPORT: &str = "linuxmuster-import-devices -s default-school";

/// No calls, no entries: for comparing with an empty list.
const NONE: [&str; 0] = [];

/// A committed test command of `fixtures/commands/`.
fn fixture_command(name: &str) -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/commands")
        .join(name);
    std::fs::canonicalize(&path)
        .unwrap_or_else(|error| panic!("the fixture command {}: {error}", path.display()))
}

/// The delta file with `lines`, as the worker writes it.
fn delta_with(lines: &[&str]) -> String {
    format!("{}\n{}", devices_csv::DELTA_HEADER, lines.concat())
}

const PC01: &str = "r200;r200-pc01;win11;00:1A:2B:3C:20:01;10.0.200.1;;;;;;1;;;;\n";
const PC02: &str = "r200;r200-pc02;win11;00:1A:2B:3C:20:02;DHCP;;;;;;1;;;;\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_land_in_both_files_and_are_verified_in_ad_dns_and_dhcp() {
    let dc = Dc::new("", &[]).await;
    let handled = check(
        &dc,
        [
            create("r200-pc01", "00:1a:2b:3c:20:01", "10.0.200.1"),
            create("r200-pc02", "00:1a:2b:3c:20:02", ""),
        ],
    )
    .await;
    assert_eq!(handled.outcomes, [Ack, Ack]);
    assert_eq!(handled.begun, [0, 1]);
    let merge_stats = json!({"total_master_lines": 2, "total_delta_lines": 2,
                             "total_merged_lines": 4, "deleted_hosts": 0, "batch_size": 2});
    handled.assert_reports(json!([
        {"status": "completed", "error": null, "reported": ["running", "completed"],
         "result": {"change": "created", "mergeStats": merge_stats,
                    "verify": {"ad_object_exists": true, "dns_a_exists": true,
                               "dns_ptr_exists": true, "dhcp_configured": true,
                               "required": ["ad_object_exists", "dns_a_exists"]},
                    "importOutput": "…sophomorix-device finished  OK!"}},
        {"status": "completed", "error": null, "reported": ["running", "completed"],
         "result": {"change": "created", "mergeStats": merge_stats,
                    "verify": {"ad_object_exists": true, "dns_a_exists": false,
                               "dhcp_configured": true, "required": ["ad_object_exists"]}}},
    ]));
    assert_eq!(handled.master, Some(format!("{MASTER}{PC01}{PC02}")));
    assert_eq!(handled.delta, Some(delta_with(&[PC01, PC02])));
    assert_eq!(
        handled.ad,
        ["r100-pc01", "r100-pr01", "r200-pc01", "r200-pc02"]
    );
    assert_eq!(handled.dns, ["r100-pc01", "r100-pr01", "r200-pc01"]);
    assert_eq!(handled.imports, [IMPORT]);
    assert_eq!(
        dc.sandbox
            .list("/etc/linuxmuster/sophomorix/default-school"),
        ["devices.csv", "linbo-docker.devices.csv"],
        "no temporary or backup files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_keeps_a_printers_role_and_a_rename_verifies_the_old_name_gone() {
    let dc = Dc::new("", &[]).await;
    let created = check(&dc, [create("r200-pc02", "00:1a:2b:3c:20:02", "")]).await;
    assert_eq!(created.outcomes, [Ack]);
    assert_eq!(created.ad, ["r100-pc01", "r100-pr01", "r200-pc02"]);
    // The printer's room, without a role: its role and extra columns stay (SPEC §9).
    let printer = update("r100-pr01", "00:1a:2b:3c:4d:02", "10.0.100.2")
        .with("configName", json!(""))
        .with("csvCol0", json!("r101"))
        .with("pxeFlag", json!(0));
    let handled = check(
        &dc,
        [
            printer,
            rename("r200-pc02", "r200-pc03", "00:1a:2b:3c:20:02"),
        ],
    )
    .await;
    assert_eq!(handled.outcomes, [Ack, Ack]);
    assert_eq!(handled.begun, [0, 1]);
    handled.assert_reports(json!([
        {"status": "completed", "result": {"change": "updated"}},
        {"status": "completed",
         "result": {"change": "renamed from r200-pc02",
                    "verify": {"ad_object_exists": true,
                               "old_hostname": {"hostname": "r200-pc02",
                                                "ad_object_exists": false}}}},
    ]));
    let pc03 = "r200;r200-pc03;win11;00:1A:2B:3C:20:02;DHCP;;;;;;1;;;;\n";
    let moved = MASTER.replace("r100;r100-pr01;", "r101;r100-pr01;");
    assert_eq!(handled.master, Some(format!("{moved}{pc03}")));
    let printer = "r101;r100-pr01;nopxe;00:1A:2B:3C:4D:02;10.0.100.2;;;;;;0;;;;\n";
    assert_eq!(
        handled.delta,
        Some(delta_with(&[pc03, printer])),
        "the updated printer is LINBO Docker's now, its role stays in devices.csv"
    );
    assert_eq!(handled.ad, ["r100-pc01", "r100-pr01", "r200-pc03"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_verifies_the_host_absent_from_ad_dns_and_dhcp() {
    let dc = Dc::new("", &[]).await;
    let created = check(
        &dc,
        [create("r200-pc01", "00:1a:2b:3c:20:01", "10.0.200.1")],
    )
    .await;
    assert_eq!(created.outcomes, [Ack]);
    assert_eq!(created.dns, ["r100-pc01", "r100-pr01", "r200-pc01"]);
    let handled = check(&dc, [delete("r200-pc01")]).await;
    assert_eq!(handled.outcomes, [Ack]);
    assert_eq!(handled.begun, [0]);
    handled.assert_reports(json!([
        {"status": "completed", "error": null,
         "result": {"change": "deleted",
                    "verify": {"expected_absent": true, "ad_object_exists": false,
                               "dns_a_exists": false, "dns_ptr_exists": false,
                               "dhcp_configured": false},
                    "mergeStats": {"total_master_lines": 3, "total_delta_lines": 0,
                                   "total_merged_lines": 2, "deleted_hosts": 1,
                                   "batch_size": 1}}},
    ]));
    assert_eq!(handled.master.as_deref(), Some(MASTER));
    assert_eq!(handled.delta, Some(delta_with(&[])));
    assert_eq!(handled.ad, ["r100-pc01", "r100-pr01"]);
    assert_eq!(handled.dns, ["r100-pc01", "r100-pr01"]);
    assert_eq!(handled.imports, [IMPORT]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_fails_the_bad_jobs_precisely_and_lands_the_rest() {
    let dc = Dc::new("", &[]).await;
    let handled = check(
        &dc,
        [
            create("r200-pc10", "00:1a:2b:3c:20:10", "10.0.200.10"),
            create("bad_name!", "00:1a:2b:3c:20:11", ""),
            create("r200-pc12", "00:1a:2b:3c:20:12", "").with("csvCol0", json!("r200;evil;x")),
            create("r200-pc13", "00:1a:2b:3c:20:13", "").with(
                "configName",
                json!("win11\nr666;evil2;nopxe;00:1A:2B:3C:66:66;DHCP;;;;;;1"),
            ),
            create("r200-pc14", "00:1a:2b:3c:zz:14", ""),
            create("r200-pc15", "00:1a:2b:3c:20:15", "").with("pxeFlag", json!(7)),
            create("r200-pc16", "00:1a:2b:3c:4d:01", ""),
            create("r200-pc17", "00:1a:2b:3c:20:17", "10.0.100.2"),
            create("r200-pc18", "00:1a:2b:3c:20:18", ""),
        ],
    )
    .await;
    assert_eq!(handled.outcomes, vec![Ack; 9]);
    assert_eq!(handled.begun, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    handled.assert_reports(json!([
        {"status": "completed", "result": {"change": "created"}},
        failed("hostname (column 1) \"bad_name!\": expected 1 to 15 characters of A-Z, a-z, \
                0-9 and '-', not starting or ending with '-'"),
        failed("room (column 0) \"r200;evil;x\": contains ';', which would corrupt the \
                devices.csv line"),
        failed("device group (column 2) \"win11\\nr666;evil2;nopxe;00:1A:2B:3C:66:66;DHCP;;;;;;1\": \
                contains a line feed, which would corrupt the devices.csv line"),
        failed("MAC (column 3) \"00:1a:2b:3c:zz:14\": expected six hex byte pairs separated by \
                ':' or '-' (aa:bb:cc:dd:ee:ff), or 12 hex digits"),
        failed("PXE flag (column 10) \"7\": expected a PXE flag 0 (none), 1 (LINBO), \
                2 (LINBO+OPSI) or 3 (OPSI)"),
        failed("MAC 00:1A:2B:3C:4D:01 is already used by host r100-pc01 (devices.csv line 2)"),
        failed("IP 10.0.100.2 is already used by host r100-pr01 (devices.csv line 3)"),
        {"status": "completed", "result": {"change": "created"}},
    ]));
    let pc10 = "r200;r200-pc10;win11;00:1A:2B:3C:20:10;10.0.200.10;;;;;;1;;;;\n";
    let pc18 = "r200;r200-pc18;win11;00:1A:2B:3C:20:18;DHCP;;;;;;1;;;;\n";
    assert_eq!(handled.master, Some(format!("{MASTER}{pc10}{pc18}")));
    assert_eq!(handled.imports, [IMPORT], "one batch, one import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_completes_with_its_diff_and_writes_nothing() {
    let dc = Dc::new("", &[]).await;
    let handled = check(
        &dc,
        [create("r200-pc20", "00:1a:2b:3c:20:20", "").dry_run()],
    )
    .await;
    assert_eq!(handled.outcomes, [Ack]);
    assert_eq!(handled.begun, [0]);
    handled.assert_reports(json!([
        {"status": "completed", "error": null, "reported": ["running", "completed"],
         "result": {"dryRun": true, "change": "created", "verify": null,
                    "diff": "\
--- a//etc/linuxmuster/sophomorix/default-school/devices.csv
+++ b//etc/linuxmuster/sophomorix/default-school/devices.csv
@@ -1,3 +1,4 @@
 # devices.csv of default-school, maintained by hand
 r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;classroom-studentcomputer;;1;;;;hand-made
 r100;r100-pr01;nopxe;00:1A:2B:3C:4D:02;10.0.100.2;;;;printer;;0;;;;
+r200;r200-pc20;win11;00:1A:2B:3C:20:20;DHCP;;;;;;1;;;;
",
                    "mergeStats": {"total_master_lines": 2, "total_delta_lines": 0,
                                   "total_merged_lines": 3, "deleted_hosts": 0,
                                   "batch_size": 1}}},
    ]));
    assert_eq!(handled.master.as_deref(), Some(MASTER));
    assert_eq!(handled.delta, None);
    assert_eq!(handled.imports, NONE, "no import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn later_jobs_on_a_host_supersede_the_verification_of_earlier_ones() {
    // r100-pc01 is a hand-made host of MASTER; deleting it needs ADOPT_MANUAL_HOSTS.
    let dc = Dc::new("ADOPT_MANUAL_HOSTS=true", &[]).await;
    let handled = check(
        &dc,
        [
            create("r200-pc20", "00:1a:2b:3c:20:20", "").dry_run(),
            create("r200-pc21", "00:1a:2b:3c:20:21", ""),
            create("r200-pc22", "00:1a:2b:3c:20:22", ""),
            delete("r200-pc22"),
            delete("r100-pc01"),
            create("r100-pc01", "00:1a:2b:3c:4d:01", "10.0.100.1").with("csvCol0", json!("r100")),
        ],
    )
    .await;
    assert_eq!(handled.outcomes, vec![Ack; 6]);
    assert_eq!(handled.begun, [0, 1, 2, 3, 4, 5]);
    handled.assert_reports(json!([
        {"status": "completed",
         "result": {"dryRun": true, "change": "created",
                    "diff": "…\n+r200;r200-pc20;win11;00:1A:2B:3C:20:20;DHCP;;;;;;1;;;;\n"}},
        {"status": "completed", "result": {"change": "created",
                                           "verify": {"ad_object_exists": true}}},
        {"status": "completed", "result": {"change": "created",
                                           "verify": {"superseded_by": "#3"}}},
        {"status": "completed", "result": {"change": "deleted",
                                           "verify": {"expected_absent": true,
                                                      "ad_object_exists": false}}},
        {"status": "completed", "result": {"change": "deleted",
                                           "verify": {"superseded_by": "#5"}}},
        {"status": "completed", "result": {"change": "created",
                                           "verify": {"ad_object_exists": true,
                                                      "dns_a_exists": true}}},
    ]));
    let pc21 = "r200;r200-pc21;win11;00:1A:2B:3C:20:21;DHCP;;;;;;1;;;;\n";
    let pc01 = "r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;;;1;;;;\n";
    assert_eq!(
        handled.master,
        Some(format!(
            "{}{pc21}{pc01}",
            MASTER.replace(
                "r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;classroom-studentcomputer;;1;;;;hand-made\n",
                ""
            )
        )),
        "the dry run and the short-lived host are not there, the re-created host is LINBO Docker's"
    );
    assert_eq!(handled.ad, ["r100-pc01", "r100-pr01", "r200-pc21"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_that_would_touch_the_dc_or_an_administrators_host_are_refused() {
    // default-school as linuxmuster sets it up: the server itself, a printer the administrator
    // added by hand, a PC.
    let master = "\
server;server;nopxe;00:1A:2B:3C:4D:F0;10.0.0.1;;;;addc;;0;;;;
r100;r100-pr01;nopxe;00:1A:2B:3C:4D:02;10.0.100.2;;;;printer;;0;;;;hand-made
r100;r100-pc01;win11;00:1A:2B:3C:4D:01;10.0.100.1;;;;classroom-studentcomputer;;1;;;;
";
    let dc = Dc::new(
        "",
        &[
            (
                "/etc/linuxmuster/sophomorix/default-school/devices.csv",
                master,
            ),
            (
                "/var/lib/linuxmuster/setup.ini",
                "[setup]\nservername = server\ndomainname = linuxmuster.lan\n",
            ),
            // Another school, whose pc07 a rename of default-school may not take.
            (
                "/etc/linuxmuster/sophomorix/gym/gym.devices.csv",
                "r1;pc07;win11;00:1A:2B:3C:4E:07;DHCP;;;;;;1;;;;\n",
            ),
        ],
    )
    .await;
    let handled = check(
        &dc,
        [
            rename("server", "r100-pc60", "00:1A:2B:3C:4D:F0"),
            rename("r100-pc01", "server", "00:1A:2B:3C:4D:01"),
            delete("server"),
            rename("r100-pr01", "r100-pr02", "00:1A:2B:3C:4D:02"),
            rename("pc07", "r100-pc07", "00:1A:2B:3C:4E:07"),
            create("r100-pc70", "00:1a:2b:3c:20:70", "")
                .with("csvCol0", json!("a".repeat(1 << 20))),
        ],
    )
    .await;
    assert_eq!(handled.outcomes, vec![Ack; 6]);
    assert_eq!(handled.begun, [0, 1, 2, 3, 4, 5]);
    let dc_own =
        "server: the DC's own entries are never changed by jobs (role addc, devices.csv line 1)";
    handled.assert_reports(json!([
        failed(dc_own),
        failed(dc_own),
        failed(dc_own),
        failed(
            "r100-pr01: managed by hand (devices.csv line 2, not created by LINBO Docker): \
                a job may not rename it; set ADOPT_MANUAL_HOSTS=true to let jobs adopt \
                hand-made hosts"
        ),
        failed(
            "pc07: the old hostname of this rename is not a host of school default-school \
                (devices file of school gym, line 1); a rename stays within its school"
        ),
        failed(
            "room (column 0) \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"… : expected at \
                most 15 characters, found 1048576"
        ),
    ]));
    assert_eq!(handled.master.as_deref(), Some(master), "nothing changed");
    assert_eq!(handled.imports, NONE, "no import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_schools_hosts_conflict_and_its_jobs_go_to_its_own_files() {
    let gym = "\
g100;g100-pc01;win11;00:1A:2B:3C:99:01;10.1.100.1;;;;;;1;;;;
g100;pc58;win11;00:1A:2B:3C:20:58;10.1.100.58;;;;;;1;;;;
";
    let dc = Dc::new(
        "",
        &[("/etc/linuxmuster/sophomorix/gym/gym.devices.csv", gym)],
    )
    .await;
    let handled = check(
        &dc,
        [
            create("r200-pc30", "00:1a:2b:3c:20:30", ""),
            // gym's g100-pc01's MAC.
            create("r200-pc31", "00:1a:2b:3c:99:01", ""),
            // default-school's gym-pc58 is gym's pc58 in AD and DNS (sophomorix-device:1662-1669).
            create("gym-pc58", "00:1a:2b:3c:20:59", ""),
        ],
    )
    .await;
    assert_eq!(handled.outcomes, [Ack, Ack, Ack]);
    handled.assert_reports(json!([
        {"status": "completed", "result": {"change": "created"}},
        failed("MAC 00:1A:2B:3C:99:01 is already used by host g100-pc01 \
                (devices file of school gym, line 1)"),
        failed("AD/DNS name gym-pc58 is already used by host pc58 \
                (devices file of school gym, line 2)"),
    ]));
    let pc30 = "r200;r200-pc30;win11;00:1A:2B:3C:20:30;DHCP;;;;;;1;;;;\n";
    assert_eq!(handled.master, Some(format!("{MASTER}{pc30}")));
    assert_eq!(handled.imports, [IMPORT]);

    let handled = check(
        &dc,
        [create("g100-pc02", "00:1a:2b:3c:99:02", "10.1.100.2")
            .with("csvCol0", json!("g100"))
            .of_school("gym")],
    )
    .await;
    assert_eq!(handled.outcomes, [Ack]);
    handled.assert_reports(json!([
        {"status": "completed",
         "result": {"change": "created",
                    "verify": {"ad_object_exists": true, "dns_a_exists": true,
                               "dhcp_configured": true}}},
    ]));
    let pc02 = "g100;g100-pc02;win11;00:1A:2B:3C:99:02;10.1.100.2;;;;;;1;;;;\n";
    assert_eq!(dc.sandbox.master("gym"), format!("{gym}{pc02}"));
    assert_eq!(dc.sandbox.delta("gym"), delta_with(&[pc02]));
    assert_eq!(
        handled.master,
        Some(format!("{MASTER}{pc30}")),
        "default-school untouched"
    );
    assert_eq!(handled.imports, ["linuxmuster-import-devices -s gym"]);
    assert_eq!(
        handled.ad,
        [
            "gym-g100-pc01",
            "gym-g100-pc02",
            "gym-pc58",
            "r100-pc01",
            "r100-pr01",
            "r200-pc30"
        ],
        "names outside default-school carry the school's prefix"
    );
}

#[tokio::test]
async fn an_edit_of_another_schools_file_counts_from_the_next_batch() {
    // The worker keeps the other schools' files indexed between batches; an administrator's edit
    // (here in place, with `>` as a shell would) must reach the next batch all the same.
    let gym_path = "/etc/linuxmuster/sophomorix/gym/gym.devices.csv";
    let gym = "g100;g100-pc01;win11;00:1A:2B:3C:99:01;10.1.100.1;;;;;;1;;;;\n";
    let dc = Dc::new("", &[(gym_path, gym)]).await;
    let handled = check(&dc, [create("r200-pc31", "00:1a:2b:3c:99:01", "")]).await;
    handled.assert_reports(json!([failed(
        "MAC 00:1A:2B:3C:99:01 is already used by host g100-pc01 (devices file of school gym, line 1)"
    )]));

    // The administrator gives gym's PC another MAC: pc31 may have it now.
    std::fs::write(dc.sandbox.path(gym_path), gym.replace("99:01", "99:11")).expect("edit gym");
    let handled = check(&dc, [create("r200-pc31", "00:1a:2b:3c:99:01", "")]).await;
    handled.assert_reports(json!([{"status": "completed", "result": {"change": "created"}}]));

    // And takes a MAC pc32 wants: refused again, naming the new line.
    std::fs::write(
        dc.sandbox.path(gym_path),
        format!(
            "{}g100;g100-pc02;win11;00:1A:2B:3C:99:02;DHCP;;;;;;1;;;;\n",
            gym.replace("99:01", "99:11")
        ),
    )
    .expect("edit gym");
    let handled = check(&dc, [create("r200-pc32", "00:1a:2b:3c:99:02", "")]).await;
    handled.assert_reports(json!([failed(
        "MAC 00:1A:2B:3C:99:02 is already used by host g100-pc02 (devices file of school gym, line 2)"
    )]));
}

/// Runs a batch of one create whose import (or the check before it) fails in `dc`: the job
/// fails with `error` (see [`Handled::assert_reports`]), devices.csv is [`MASTER`] again byte for
/// byte, the delta file, which the batch created, is gone again, and the batch ran `imports`.
async fn check_rolled_back(dc: &Dc, error: &str, imports: &[&str]) -> Handled {
    let handled = check(dc, [create("r200-pc40", "00:1a:2b:3c:20:40", "")]).await;
    assert_eq!(handled.outcomes, [Ack]);
    assert_eq!(handled.begun, [0]);
    handled.assert_reports(json!([
        {"status": "failed", "error": error, "reported": ["running", "failed"]},
    ]));
    assert_eq!(
        handled.master.as_deref(),
        Some(MASTER),
        "restored byte for byte"
    );
    assert_eq!(
        handled.delta, None,
        "the delta did not exist before, so it is gone again"
    );
    assert_eq!(handled.imports, imports);
    handled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_restores_both_files_and_imports_them_again() {
    let dc = Dc::new("", &[]).await;
    dc.sandbox.knobs(&[("FAKE_IMPORT_FAIL", "1")]);
    check_rolled_back(
        &dc,
        "…import failed…FileNotFoundError…restored…importing the restored files failed too\
         …AD and DNS may hold the failed batch until the next successful import",
        &[IMPORT, IMPORT],
    )
    .await;

    dc.sandbox.knobs(&[]);
    let handled = check(&dc, [create("r200-pc41", "00:1a:2b:3c:20:41", "")]).await;
    assert_eq!(handled.outcomes, [Ack]);
    handled.assert_reports(json!([{"status": "completed"}]));
    let pc41 = "r200;r200-pc41;win11;00:1A:2B:3C:20:41;DHCP;;;;;;1;;;;\n";
    assert_eq!(handled.master, Some(format!("{MASTER}{pc41}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_hook_refused_the_batch_the_restored_files_are_imported_again() {
    let dc = Dc::new("", &[]).await;
    std::os::unix::fs::symlink(
        fixture_command("hook-fails-for-host"),
        dc.sandbox
            .path("/var/lib/linuxmuster/hooks/device-import.post.d/60-refuses-r200-pc40"),
    )
    .expect("installing the refusing hook");
    dc.sandbox.knobs(&[("HOOK_FAILS_FOR_HOST", "r200-pc40")]);
    let handled = check_rolled_back(
        &dc,
        "…r200-pc40 is in devices.csv, refusing…devices.csv and the delta file were restored; \
         the restored files were imported again, so AD, DNS and DHCP match them",
        &[IMPORT, IMPORT],
    )
    .await;
    assert_eq!(
        handled.ad,
        ["r100-pc01", "r100-pr01"],
        "AD matches the restored files"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sophomorix_check_failure_restores_the_files_and_skips_the_import() {
    let dc = Dc::new("SOPHOMORIX_PRECHECK=true", &[]).await;
    dc.sandbox.knobs(&[("FAKE_SOPHOMORIX_EXIT", "88")]);
    check_rolled_back(
        &dc,
        "sophomorix rejected the device files: sophomorix-device check failed: fatal device \
         error (bad host/group characters, duplicate MAC or IP across schools, bad IP, unknown \
         role, empty PXE flag; exit 88):   ERROR: MAC >00:1A:2B:3C:10:01< is double in \
         devices.csv!; devices.csv and the delta file were restored",
        &[],
    )
    .await;
    assert!(
        dc.sandbox
            .calls()
            .contains(&"sophomorix-device --dry-run".to_owned()),
        "{:?}",
        dc.sandbox.calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_linuxmuster_7_4_a_failed_import_brings_sophomorixs_lines_from_its_log() {
    let dc = Dc::new("SOPHOMORIX_PRECHECK=false", &[]).await;
    dc.sandbox.knobs(&[
        ("FAKE_LINUXMUSTER_VERSION", "7.4"),
        ("FAKE_SOPHOMORIX_EXIT", "1"),
    ]);
    check_rolled_back(
        &dc,
        "…sophomorix-device --dry-run failed with return code 1\
         …/var/log/linuxmuster/import-devices.log: …(Field:1) contains invalid characters\
         …restored",
        &[IMPORT, IMPORT],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_cleans_up_what_the_import_left_behind_without_a_password_on_argv() {
    // r100-pc01 is a hand-made host of MASTER; deleting it needs ADOPT_MANUAL_HOSTS. Its AD
    // object has no school marker, so the import does not own it and leaves it there.
    let dc = Dc::new(
        "SAMBA_TOOL_AUTH_FILE=\nSAMBA_TOOL_AUTH=administrator%in-process-samba-password\n\
         ADOPT_MANUAL_HOSTS=true",
        &[(
            "/var/lib/fake-dc/ad/r100-pc01",
            "dn: CN=R100-PC01,OU=Devices\nsAMAccountName: R100-PC01$\n",
        )],
    )
    .await;
    let handled = check(&dc, [delete("r100-pc01")]).await;
    assert_eq!(handled.outcomes, [Ack]);
    handled.assert_reports(json!([
        {"status": "completed",
         "result": {"change": "deleted",
                    "verify": {"ad_object_exists": false,
                               "cleaned_up": ["AD computer object r100-pc01"]}}},
    ]));
    assert_eq!(handled.ad, ["r100-pr01"]);
    let calls = dc.sandbox.call_log();
    assert!(
        calls.contains(
            "samba-tool computer delete r100-pc01 -U administrator\npasswd-file mode=600\n"
        ),
        "{calls}"
    );
    assert!(
        !calls.contains("in-process-samba-password"),
        "no password on argv: {calls}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_never_removes_what_the_device_files_did_not_have() {
    // A host nobody put in devices.csv, in AD and DNS.
    let dc = Dc::new(
        "",
        &[
            (
                "/var/lib/fake-dc/ad/r300-pc01",
                "dn: CN=R300-PC01\nsAMAccountName: R300-PC01$\n",
            ),
            ("/var/lib/fake-dc/dns/r300-pc01", "10.0.30.1\n"),
        ],
    )
    .await;
    let handled = check(&dc, [delete("r300-pc01")]).await;
    assert_eq!(handled.outcomes, [Ack]);
    handled.assert_reports(json!([
        {"status": "failed", "result": {"change": "already absent"},
         "error": "verification failed: AD computer object r300-pc01 still exists; not removed \
                   because it was not in devices.csv or the delta file; DNS A record \
                   r300-pc01.linuxmuster.lan (10.0.30.1) still exists; not removed because it \
                   was not in devices.csv or the delta file"},
    ]));
    assert_eq!(
        handled.ad,
        ["r100-pc01", "r100-pr01", "r300-pc01"],
        "left alone"
    );
    assert_eq!(
        handled.dns,
        ["r100-pc01", "r100-pr01", "r300-pc01"],
        "left alone"
    );
    assert!(
        !dc.sandbox.call_log().contains("delete"),
        "no samba-tool delete ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_and_unknown_operations_do_not_run_and_the_rest_of_the_batch_does() {
    let dc = Dc::new("", &[]).await;
    let handled = check(
        &dc,
        [
            create("r200-pc52", "00:1a:2b:3c:20:52", "").cancelled(),
            create("r200-pc60", "00:1a:2b:3c:20:60", "").unknown_to_the_api(),
            create("r200-pc53", "00:1a:2b:3c:20:53", ""),
        ],
    )
    .await;
    assert_eq!(
        handled.outcomes,
        [Ack, RetryAfter(Duration::from_secs(5)), Ack],
        "a cancelled operation is acknowledged unrun; an unknown one comes back, counted"
    );
    assert_eq!(handled.begun, [2], "only the third entry began");
    handled.assert_reports(json!([
        {"status": "cancelled", "reported": [], "result": null},
        {"status": null, "reported": []},
        {"status": "completed", "reported": ["running", "completed"]},
    ]));
    let pc53 = "r200;r200-pc53;win11;00:1A:2B:3C:20:53;DHCP;;;;;;1;;;;\n";
    assert_eq!(handled.master, Some(format!("{MASTER}{pc53}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_of_the_api_defers_the_batch_without_an_attempt() {
    // The real API answers 400 DATABASE_ERROR for any database hiccup (index.js:330-338).
    let dc = Dc::new("", &[]).await;
    dc.api.database_error_always();
    let handled = check(
        &dc,
        [
            create("r200-pc50", "00:1a:2b:3c:20:50", ""),
            create("r200-pc51", "00:1a:2b:3c:20:51", ""),
        ],
    )
    .await;
    let wait = Defer(Duration::from_secs(2));
    assert_eq!(handled.outcomes, [wait.clone(), wait]);
    assert!(handled.begun.is_empty(), "{:?}", handled.begun);
    handled.assert_reports(json!([
        {"status": "pending", "reported": []},
        {"status": "pending", "reported": []},
    ]));
    assert_eq!(handled.master.as_deref(), Some(MASTER));
    assert_eq!(handled.imports, NONE, "no import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_url_stops_the_worker_and_keeps_the_entries() {
    let dc = Dc::new("API_URL=http://{api}/api/v2", &[]).await;
    let handled = check(&dc, [create("r200-pc51", "00:1a:2b:3c:20:51", "")]).await;
    assert_eq!(handled.outcomes, [Defer(Duration::from_secs(2))]);
    assert!(handled.begun.is_empty(), "{:?}", handled.begun);
    handled.assert_reports(json!([{"status": "pending", "reported": []}]));
    assert!(dc.worker.configuration_stop().is_cancelled());
    let error = dc
        .worker
        .configuration_error()
        .expect("a configuration error");
    assert!(
        error.contains("Route GET /api/v2/internal/operations/"),
        "{error}"
    );
    assert_eq!(handled.imports, NONE, "no import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_devices_csv_is_never_created_from_the_delta() {
    let delta = delta_with(&[PC01]);
    let dc = Dc::new(
        "",
        &[(
            "/etc/linuxmuster/sophomorix/default-school/linbo-docker.devices.csv",
            &delta,
        )],
    )
    .await;
    std::fs::remove_file(dc.sandbox.master_path("default-school")).expect("devices.csv removed");
    let handled = check(&dc, [create("r200-pc02", "00:1a:2b:3c:20:02", "")]).await;
    assert_eq!(handled.outcomes, [Ack]);
    assert_eq!(handled.begun, [0]);
    handled.assert_reports(json!([
        {"status": "failed",
         "error": "/etc/linuxmuster/sophomorix/default-school/devices.csv does not exist: \
                   the worker never creates devices.csv from its delta file (an import of \
                   LINBO Docker's hosts alone would remove every other device of school \
                   default-school from AD, DNS and DHCP); restore it (the version before the \
                   worker's last write is /var/lib/linbo-dc/backup/default-school/devices.csv), \
                   or create an empty file to start the school from nothing, then run the job \
                   again"},
    ]));
    assert_eq!(handled.master, None, "devices.csv was not created");
    assert_eq!(handled.delta, Some(delta));
    assert_eq!(handled.imports, NONE, "no import");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operation_without_a_hostname_fails_before_the_merge_without_an_attempt() {
    let dc = Dc::new("", &[]).await;
    let handled = check(
        &dc,
        [
            Entry::new(json!({"action": "create", "mac": "00:1a:2b:3c:20:62"})),
            create("r200-pc63", "00:1a:2b:3c:20:63", ""),
        ],
    )
    .await;
    assert_eq!(handled.outcomes, [Ack, Ack]);
    assert_eq!(handled.begun, [1], "refused before its handling began");
    handled.assert_reports(json!([
        failed("options of operation #0: missing field `hostname`"),
        {"status": "completed"},
    ]));
}
