//! The sandbox DC end to end: the fake commands run through the launchers the sandbox installs,
//! with the environment its `env` files give them.

use std::path::{Path, PathBuf};

use dc_testkit::SandboxDc;
use dc_testkit::sandbox::Run;

/// Runs `<root>/<program>` with `args` (`LINBO_DC_ROOT` removed from the environment, so that only
/// the sandbox's `env` file can supply it).
pub(crate) fn run(sandbox: &SandboxDc, program: &str, args: &[&str]) -> Run {
    sandbox.run(sandbox.path(program), args, &[])
}

/// A canonical 15-field devices.csv line.
fn device_line(room: &str, host: &str, group: &str, mac: &str, ip: &str, pxe: &str) -> String {
    let mut fields = vec![""; 15];
    fields[0] = room;
    fields[1] = host;
    fields[2] = group;
    fields[3] = mac;
    fields[4] = ip;
    fields[10] = pxe;
    format!("{}\n", fields.join(";"))
}

/// A PC with a fixed IP booting LINBO, and a PC on DHCP without PXE.
fn two_hosts() -> String {
    device_line(
        "r100",
        "r100-pc01",
        "win11",
        "00:1a:2b:3c:10:01",
        "10.0.100.1",
        "1",
    ) + &device_line(
        "r200",
        "r200-pc02",
        "nopxe",
        "00:1A:2B:3C:20:02",
        "DHCP",
        "0",
    )
}

fn recording_hook() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recording-hook")
}

#[test]
fn the_import_launcher_writes_ad_dns_and_dhcp() {
    let sandbox = SandboxDc::new();
    sandbox.write_master("default-school", &two_hosts());

    let import = run(
        &sandbox,
        "/usr/sbin/linuxmuster-import-devices",
        &["-s", "default-school"],
    );

    assert_eq!(import.code, 0, "{}{}", import.stdout, import.stderr);
    assert_eq!(sandbox.ad_objects(), ["r100-pc01", "r200-pc02"]);
    assert_eq!(sandbox.dns_names(), ["r100-pc01"]);
    assert_eq!(sandbox.ptr_records(), ["10.0.100.1"]);
    assert_eq!(
        sandbox.read("etc/dhcp/devices/default-school.conf"),
        "# subnet 10.0.0.0/16\n\
         host r100-pc01 {\n\
         \x20 option host-name \"r100-pc01\";\n\
         \x20 hardware ethernet 00:1a:2b:3c:10:01;\n\
         \x20 fixed-address 10.0.100.1;\n\
         \x20 option extensions-path \"win11\";\n\
         \x20 option nis-domain \"win11\";\n\
         }\n\
         # dynamic ip hosts\n\
         host r200-pc02 {\n\
         \x20 option host-name \"r200-pc02\";\n\
         \x20 hardware ethernet 00:1A:2B:3C:20:02;\n\
         }\n"
    );
    assert_eq!(sandbox.list("etc/dhcp/devices"), ["default-school.conf"]);
    assert_eq!(
        sandbox.import_calls(),
        ["linuxmuster-import-devices -s default-school"]
    );
    // The import runs sophomorix-device, which syncs AD and DNS, as linuxmuster 7.3 does.
    assert_eq!(
        sandbox.calls(),
        [
            "linuxmuster-import-devices -s default-school",
            "sophomorix-device --dry-run",
            "sophomorix-device --sync"
        ]
    );
}

#[test]
fn another_school_has_its_own_master_and_prefixed_names() {
    let sandbox = SandboxDc::new();
    sandbox.write_master("school2", &two_hosts());
    assert!(sandbox.exists("etc/linuxmuster/sophomorix/school2/school2.devices.csv"));
    assert_eq!(sandbox.master("school2"), two_hosts());

    let import = run(
        &sandbox,
        "usr/sbin/linuxmuster-import-devices",
        &["-s", "school2"],
    );

    assert_eq!(import.code, 0, "{}{}", import.stdout, import.stderr);
    assert_eq!(
        sandbox.ad_objects(),
        ["school2-r100-pc01", "school2-r200-pc02"]
    );
    assert!(sandbox.exists("etc/dhcp/devices/school2.conf"));
    assert!(!sandbox.exists("etc/dhcp/devices/default-school.conf"));
}

#[test]
fn the_import_runs_the_installed_hook_with_the_sandbox_root() {
    let sandbox = SandboxDc::new();
    sandbox.write_master("default-school", &two_hosts());
    sandbox.install_hook(&recording_hook(), "10.0.0.13");

    let import = run(
        &sandbox,
        "usr/sbin/linuxmuster-import-devices",
        &["-s", "default-school"],
    );

    assert_eq!(import.code, 0, "{}{}", import.stdout, import.stderr);
    assert!(
        import
            .stdout
            .contains("recording-hook ran with -s default-school\n"),
        "{}",
        import.stdout
    );
    assert_eq!(
        sandbox.read("var/lib/fake-dc/hook.log"),
        format!("args=-s default-school root={}\n", sandbox.root().display())
    );
    assert_eq!(
        sandbox.list("var/lib/linuxmuster/hooks/device-import.post.d"),
        ["50-linbo-docker-dhcp"]
    );
    assert!(
        sandbox
            .read("/etc/linbo-docker-dhcp.conf")
            .lines()
            .any(|line| line == "LINBO_DOCKER_IP=10.0.0.13")
    );
}

#[test]
fn repair_script_and_samba_tool_run_through_the_launchers() {
    let sandbox = SandboxDc::new();
    sandbox.write_master("default-school", &two_hosts());
    let import = run(
        &sandbox,
        "usr/sbin/linuxmuster-import-devices",
        &["-s", "default-school"],
    );
    assert_eq!(import.code, 0, "{}{}", import.stdout, import.stderr);

    let log_file = sandbox.path("var/log/macct/op-1.log");
    let script = sandbox.path(dc_testkit::sandbox::REPAIR_SCRIPT);
    let repair = run(
        &sandbox,
        "usr/bin/python3",
        &[
            script.to_str().expect("a UTF-8 sandbox path"),
            "--only-hosts",
            "r100-pc01",
            "-s",
            "default-school",
            "--log-file",
            log_file.to_str().expect("a UTF-8 sandbox path"),
        ],
    );
    assert_eq!(repair.code, 0, "{}{}", repair.stdout, repair.stderr);
    assert!(
        repair.stdout.contains("R100-PC01: unicodePwd updated"),
        "{}",
        repair.stdout
    );
    assert!(
        sandbox
            .read("var/log/macct/op-1.log")
            .contains("pwdLastSet fixed")
    );

    let show = run(
        &sandbox,
        "usr/bin/samba-tool",
        &["computer", "show", "R100-PC01$"],
    );
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout.contains("sAMAccountName: R100-PC01$\n"),
        "{}",
        show.stdout
    );
    let missing = run(
        &sandbox,
        "usr/bin/samba-tool",
        &["computer", "show", "nosuch"],
    );
    assert_eq!(missing.code, 255);

    let calls = sandbox.calls();
    assert_eq!(calls.len(), 6, "{calls:?}");
    assert_eq!(
        calls[3],
        format!(
            "repair_macct.py --only-hosts r100-pc01 -s default-school --log-file {}",
            log_file.display()
        )
    );
    assert_eq!(calls[4], "samba-tool computer show R100-PC01$");
}

#[test]
fn knobs_reach_the_fakes_in_both_directories_and_are_replaced() {
    let sandbox = SandboxDc::new();
    sandbox.write_master("default-school", &two_hosts());
    sandbox.knobs(&[
        ("FAKE_IMPORT_FAIL", "1"),
        ("FAKE_SAMBA_FAIL", "1"),
        ("FAKE_SOPHOMORIX_EXIT", "88"),
    ]);

    let import = run(
        &sandbox,
        "usr/sbin/linuxmuster-import-devices",
        &["-s", "default-school"],
    );
    assert_eq!(import.code, 1, "{}", import.stdout);
    assert!(
        import.stderr.contains("Traceback (most recent call last)"),
        "{}",
        import.stderr
    );
    assert!(sandbox.ad_objects().is_empty());
    assert!(!sandbox.exists("etc/dhcp/devices/default-school.conf"));
    let sophomorix = run(&sandbox, "usr/sbin/sophomorix-device", &["--dry-run"]);
    assert_eq!(sophomorix.code, 88, "{}", sophomorix.stdout);
    let samba = run(&sandbox, "usr/bin/samba-tool", &["computer", "list"]);
    assert_eq!(samba.code, 255, "{}", samba.stderr);

    // New knobs replace the old ones.
    sandbox.knobs(&[("FAKE_MACCT_MODE", "no-changes")]);
    let import = run(
        &sandbox,
        "usr/sbin/linuxmuster-import-devices",
        &["-s", "default-school"],
    );
    assert_eq!(import.code, 0, "{}", import.stdout);
    assert_eq!(sandbox.ad_objects(), ["r100-pc01", "r200-pc02"]);
    assert_eq!(
        sandbox.read("usr/bin/env"),
        format!(
            "LINBO_DC_ROOT='{}'\nFAKE_MACCT_MODE='no-changes'\n",
            sandbox.root().display()
        )
    );
    assert_eq!(sandbox.read("usr/bin/env"), sandbox.read("usr/sbin/env"));
}

#[test]
fn files_helpers_and_worker_config() {
    let sandbox = SandboxDc::new();
    assert_eq!(sandbox.delta("default-school"), "");
    sandbox.write(
        sandbox.delta_path("default-school"),
        "# managed-by: linbo-docker\n",
    );
    assert_eq!(
        sandbox.delta("default-school"),
        "# managed-by: linbo-docker\n"
    );
    sandbox.write_delta("school2", "# managed-by: linbo-docker\n");
    assert_eq!(
        sandbox.read("etc/linuxmuster/sophomorix/school2/linbo-docker.devices.csv"),
        "# managed-by: linbo-docker\n"
    );
    assert!(sandbox.list("no/such/dir").is_empty());
    assert!(sandbox.calls().is_empty());
    assert_eq!(sandbox.call_log(), "");

    let config = sandbox.write_worker_config("API_KEY=secret\nSCHOOL=default-school\n");
    assert_eq!(config, Path::new("/etc/macct-worker.conf"));
    assert_eq!(
        std::fs::read_to_string(sandbox.root().join("etc/macct-worker.conf")).expect("written"),
        "API_KEY=secret\nSCHOOL=default-school\n"
    );
    // Writes leave no temporary files behind.
    assert!(
        !sandbox
            .list("/")
            .iter()
            .any(|name| name.starts_with(".dc-testkit")),
        "{:?}",
        sandbox.list("/")
    );
    for directory in dc_testkit::sandbox::DIRECTORIES {
        assert!(sandbox.path(directory).is_dir(), "{directory}");
    }
}

#[test]
fn a_sandbox_at_a_directory_is_kept_and_can_be_laid_out_again() {
    let parent = tempfile::tempdir().expect("temporary directory");
    let dir = parent.path().join("demo-dc");
    let root = {
        let sandbox = SandboxDc::at(&dir);
        sandbox.write_master("default-school", &two_hosts());
        sandbox.knobs(&[("FAKE_IMPORT_FAIL", "1")]);
        sandbox.root().to_owned()
    };
    assert!(root.join("usr/sbin/linuxmuster-import-devices").exists());

    let sandbox = SandboxDc::at(&dir);
    assert_eq!(sandbox.root(), root);
    assert_eq!(sandbox.master("default-school"), two_hosts());
    // Laying out again resets the knobs.
    let import = run(
        &sandbox,
        "usr/sbin/linuxmuster-import-devices",
        &["-s", "default-school"],
    );
    assert_eq!(import.code, 0, "{}{}", import.stdout, import.stderr);
}

#[test]
fn launchers_of_a_test_keep_knobs_of_their_own() {
    let sandbox = SandboxDc::new();
    sandbox.write_master("default-school", &two_hosts());
    let failing = sandbox.launcher("linuxmuster-import-devices", &[("FAKE_IMPORT_FAIL", "1")]);
    let working = sandbox.launcher("linuxmuster-import-devices", &[]);
    assert!(failing.starts_with(sandbox.root()), "{}", failing.display());
    assert_ne!(failing, working);
    // Knobs set for the whole sandbox afterwards do not reach them.
    sandbox.knobs(&[("FAKE_SAMBA_FAIL", "1")]);
    let samba_tool = sandbox.launcher("samba-tool", &[]);

    let failed = sandbox.run(&failing, &["-s", "default-school"], &[]);
    assert_eq!(failed.code, 1, "{}", failed.stdout);
    assert!(sandbox.ad_objects().is_empty());
    let imported = sandbox.run(&working, &["-s", "default-school"], &[]);
    assert_eq!(imported.code, 0, "{}{}", imported.stdout, imported.stderr);
    assert_eq!(sandbox.ad_objects(), ["r100-pc01", "r200-pc02"]);
    let show = sandbox.run(&samba_tool, &["computer", "show", "r100-pc01"], &[]);
    assert_eq!(show.code, 0, "{}", show.stderr);
    let failing_show = run(&sandbox, "usr/bin/samba-tool", &["computer", "list"]);
    assert_eq!(failing_show.code, 255, "{}", failing_show.stderr);

    // The call log as text holds the same calls as the list.
    let log: String = sandbox
        .calls()
        .iter()
        .map(|call| format!("{call}\n"))
        .collect();
    assert_eq!(sandbox.call_log(), log);
    assert!(
        sandbox
            .call_log()
            .contains("samba-tool computer show r100-pc01\nsamba-tool computer list\n"),
        "{}",
        sandbox.call_log()
    );
}

#[test]
fn run_reports_code_and_streams_and_gives_no_root_the_test_did_not() {
    let sandbox = SandboxDc::new();
    let run = sandbox.run(
        "/bin/sh",
        &[
            "-c",
            "echo \"root=${LINBO_DC_ROOT-unset} knob=$KNOB\"; echo to-stderr >&2; exit 3",
        ],
        &[("KNOB", "on")],
    );
    assert_eq!(
        run,
        Run {
            code: 3,
            stdout: "root=unset knob=on\n".to_owned(),
            stderr: "to-stderr\n".to_owned(),
        }
    );
}

#[test]
fn the_real_dhcpd_checks_the_sandboxs_dhcp_files() {
    let dhcpd = Path::new("/usr/sbin/dhcpd");
    assert!(
        dhcpd.exists(),
        "/usr/sbin/dhcpd not found: install isc-dhcp-server (apt-get install isc-dhcp-server)"
    );
    let sandbox = SandboxDc::new();
    sandbox.write_master("default-school", &two_hosts());
    sandbox.write_master("school2", &two_hosts());
    for school in ["default-school", "school2"] {
        let import = run(
            &sandbox,
            "usr/sbin/linuxmuster-import-devices",
            &["-s", school],
        );
        assert_eq!(import.code, 0, "{}{}", import.stdout, import.stderr);
    }
    sandbox.write_dhcpd_conf(&["default-school", "school2"]);

    let root = sandbox.root().display().to_string();
    let included: Vec<String> = ["etc/dhcp/dhcpd.conf", "etc/dhcp/devices.conf"]
        .iter()
        .flat_map(|file| {
            sandbox
                .read(file)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter_map(|line| Some(line.trim().strip_prefix("include \"")?.to_owned()))
        .collect();
    assert_eq!(included.len(), 6, "{included:?}");
    for path in &included {
        assert!(path.starts_with(&format!("{root}/etc/dhcp/")), "{path}");
    }
    assert!(
        sandbox
            .dhcp_devices("school2")
            .contains("host school2-r100-pc01 {")
    );

    let conf = sandbox.path("/etc/dhcp/dhcpd.conf");
    let conf = conf.to_str().expect("a UTF-8 sandbox path");
    let check = sandbox.run(dhcpd, &["-t", "-cf", conf], &[]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    // dhcpd reads the sandbox's devices files: a broken one fails the check.
    sandbox.write(sandbox.dhcp_devices_path("school2"), "host broken {\n");
    let check = sandbox.run(dhcpd, &["-t", "-cf", conf], &[]);
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert!(
        check
            .stderr
            .contains(&sandbox.dhcp_devices_path("school2").display().to_string()),
        "{}",
        check.stderr
    );
}
