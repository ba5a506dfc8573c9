//! What the hook tests share: a `dc_testkit::SandboxDc` as the hook finds the DC after an import
//! (linuxmuster's DHCP layout, the worker's delta, the hook's configuration), the binary run
//! against it, the cases of `fixtures/hook/`, and builders of host blocks and delta lines.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dc_testkit::SandboxDc;
use dc_testkit::sandbox::{HOOK_CONFIG, Run};
use devices_csv::DELTA_HEADER;

/// Where the real ISC dhcpd is; the tests that need it fail (never skip) without it.
pub(crate) const REAL_DHCPD: &str = "/usr/sbin/dhcpd";

pub(crate) const LINBO_DOCKER_IP: &str = "10.0.0.13";

/// A sandbox DC as the hook finds it after an import of `school`: linuxmuster's DHCP server
/// configuration with `devices` as `/etc/dhcp/devices/<school>.conf`, `delta` as the school's
/// delta file (the whole file: see [`delta_file`]), and the hook configured with
/// `LINBO_DOCKER_IP` plus the `extra_config` lines.
pub(crate) fn hook_dc(school: &str, devices: &str, delta: &str, extra_config: &str) -> SandboxDc {
    let sandbox = SandboxDc::new();
    sandbox.write_dhcpd_conf(&[school]);
    sandbox.write(sandbox.dhcp_devices_path(school), devices);
    sandbox.write_delta(school, delta);
    sandbox.write(
        HOOK_CONFIG,
        &format!("# LINBO Docker DHCP hook\nLINBO_DOCKER_IP={LINBO_DOCKER_IP}\n{extra_config}"),
    );
    sandbox
}

/// A case of `fixtures/hook/<name>/`: a devices file as the import wrote it, the worker's delta,
/// and the devices file the hook must make of them (the case's README says which rules it shows).
pub(crate) struct Case {
    /// `in.conf`.
    pub(crate) devices: String,
    /// `delta.csv`, the whole file.
    pub(crate) delta: String,
    /// `out.conf`.
    pub(crate) patched: String,
}

impl Case {
    pub(crate) fn load(name: &str) -> Case {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/hook")
            .join(name);
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()))
        };
        Case {
            devices: read("in.conf"),
            delta: read("delta.csv"),
            patched: read("out.conf"),
        }
    }
}

/// One host block as `linuxmuster-import-devices` writes it.
pub(crate) fn host_block(name: &str, number: usize, fixed: bool) -> String {
    let mut block = format!(
        "host {name} {{\n  option host-name \"{name}\";\n  hardware ethernet 00:1A:2B:{:02X}:{:02X}:{:02X};\n",
        number >> 16 & 0xff,
        number >> 8 & 0xff,
        number & 0xff
    );
    if fixed {
        let _ = writeln!(
            block,
            "  fixed-address 10.{}.{}.{};",
            1 + number / 60_000,
            number / 240 % 250,
            number % 240 + 1
        );
    }
    block
        .push_str("  option extensions-path \"win11efi\";\n  option nis-domain \"win11efi\";\n}\n");
    block
}

/// A canonical delta line.
pub(crate) fn delta_line(name: &str, pxe: u8) -> String {
    format!("r100;{name};win11;00:1A:2B:3C:4D:01;DHCP;;;;;;{pxe};;;;\n")
}

/// The delta file with the worker's header line and then `lines`.
pub(crate) fn delta_file(lines: &str) -> String {
    format!("{DELTA_HEADER}\n{lines}")
}

/// The fake `dhcpd` of `fixtures/fake-dc/`, for a verdict a test chooses (`DHCPD=` in the hook's
/// configuration, `FAKE_DHCPD_*` in its environment).
pub(crate) fn fake_dhcpd() -> PathBuf {
    dc_testkit::sandbox::fake_dc_file("dhcpd")
}

/// Runs the hook binary against `sandbox` (`--root`) with `args`, plus environment variables.
/// No line it prints may look like an error to the import's output scan.
pub(crate) fn run_hook_with_env(sandbox: &SandboxDc, args: &[&str], env: &[(&str, &str)]) -> Run {
    let root = sandbox.root().to_str().expect("the sandbox root is UTF-8");
    let args: Vec<&str> = ["--root", root].iter().chain(args).copied().collect();
    let run = sandbox.run(env!("CARGO_BIN_EXE_linbo-dc-dhcp-hook"), &args, env);
    for line in run.stdout.lines().chain(run.stderr.lines()) {
        assert!(
            !line.starts_with("ERROR:"),
            "the import would take this for a sophomorix error: {line}"
        );
    }
    run
}

pub(crate) fn run_hook(sandbox: &SandboxDc, args: &[&str]) -> Run {
    run_hook_with_env(sandbox, args, &[])
}

/// The log lines of a run without their timestamps: `[linbo-docker-dhcp] message`.
pub(crate) fn messages(output: &str) -> Vec<String> {
    output
        .lines()
        .map(|line| match line.split_once("] ") {
            Some((stamp, rest)) if stamp.starts_with('[') => rest.to_owned(),
            _ => line.to_owned(),
        })
        .collect()
}

pub(crate) fn require_real_dhcpd() {
    assert!(
        Path::new(REAL_DHCPD).exists(),
        "{REAL_DHCPD} not found: install isc-dhcp-server (apt-get install isc-dhcp-server)"
    );
}
