//! A sandbox DC for the hook: `etc/dhcp` as linuxmuster writes it, the hook's configuration, the
//! worker's delta file, and a way to run the binary against it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Where the real ISC dhcpd is; the tests that need it fail (never skip) without it.
pub(crate) const REAL_DHCPD: &str = "/usr/sbin/dhcpd";

pub(crate) const LINBO_DOCKER_IP: &str = "10.0.0.13";

pub(crate) struct Sandbox {
    dir: tempfile::TempDir,
    /// The school whose devices file and delta the sandbox holds.
    school: String,
}

pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
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

pub(crate) fn fake_dhcpd() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/fake-dc/dhcpd")
}

impl Sandbox {
    /// The DHCP layout with `devices` as `/etc/dhcp/devices/default-school.conf`, the hook
    /// configured with `LINBO_DOCKER_IP` plus `extra_config` lines, and the delta `delta`.
    pub(crate) fn new(devices: &str, delta: &str, extra_config: &str) -> Sandbox {
        Sandbox::for_school("default-school", devices, delta, extra_config)
    }

    /// [`Sandbox::new`] for `school`: `devices` as `/etc/dhcp/devices/<school>.conf` and the
    /// delta in `/etc/linuxmuster/sophomorix/<school>/`.
    pub(crate) fn for_school(
        school: &str,
        devices: &str,
        delta: &str,
        extra_config: &str,
    ) -> Sandbox {
        let sandbox = Sandbox {
            dir: tempfile::tempdir().expect("temporary directory"),
            school: school.to_owned(),
        };
        let root = sandbox.root().display().to_string();
        let skeleton = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures/dhcpd/dhcpd_conf_skeleton/in.conf"),
        )
        .expect("the skeleton fixture");
        // dhcpd reads includes by the paths written in the file, so they name the sandbox.
        sandbox.write(
            "etc/dhcp/dhcpd.conf",
            &skeleton.replace("\"/etc/dhcp/", &format!("\"{root}/etc/dhcp/")),
        );
        sandbox.write(
            "etc/dhcp/subnets.conf",
            "subnet 10.0.0.0 netmask 255.0.0.0 {\n  option routers 10.0.0.254;\n  range 10.0.200.1 10.0.200.254;\n}\n",
        );
        sandbox.write("etc/dhcp/events.conf", "");
        sandbox.write("etc/dhcp/custom.conf", "");
        sandbox.write(
            "etc/dhcp/devices.conf",
            &format!("include \"{root}/etc/dhcp/devices/{school}.conf\";\n"),
        );
        sandbox.write(&format!("etc/dhcp/devices/{school}.conf"), devices);
        sandbox.write(
            &format!("etc/linuxmuster/sophomorix/{school}/linbo-docker.devices.csv"),
            &format!("# managed-by: linbo-docker — DO NOT EDIT MANUALLY\n{delta}"),
        );
        sandbox.write(
            "etc/linbo-docker-dhcp.conf",
            &format!("# LINBO Docker DHCP hook\nLINBO_DOCKER_IP={LINBO_DOCKER_IP}\n{extra_config}"),
        );
        std::fs::create_dir_all(sandbox.path("var/log/linuxmuster")).expect("log directory");
        sandbox
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub(crate) fn write(&self, relative: &str, text: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("a file has a directory")).expect("mkdir");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    pub(crate) fn read(&self, relative: &str) -> String {
        let path = self.path(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// The school's devices file.
    pub(crate) fn devices(&self) -> String {
        self.read(&format!("etc/dhcp/devices/{}.conf", self.school))
    }

    /// The files in `etc/dhcp/devices/` (every one of them is included by dhcpd).
    pub(crate) fn devices_dir_listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path("etc/dhcp/devices"))
            .expect("devices directory")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Runs the hook binary with `--root` and `args`, plus environment variables.
    pub(crate) fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        #[allow(clippy::disallowed_methods, reason = "tests run the binary under test")]
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_linbo-dc-dhcp-hook"));
        command
            .arg("--root")
            .arg(self.root())
            .args(args)
            .env_remove("LINBO_DC_ROOT");
        for (key, value) in env {
            command.env(key, value);
        }
        let output = command.output().expect("the hook binary runs");
        let run = Run {
            code: output.status.code().expect("exited, not killed"),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        for line in run.stdout.lines().chain(run.stderr.lines()) {
            assert!(
                !line.starts_with("ERROR:"),
                "the import would take this for a sophomorix error: {line}"
            );
        }
        run
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }
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
