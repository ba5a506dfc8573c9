//! A sandbox DC root in a temporary directory, and launchers for the fake DC commands of
//! `fixtures/fake-dc/` that run them with `LINBO_DC_ROOT` pointing at it.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dc_adapters::import_devices;

/// A fresh sandbox root; removed when dropped.
pub(crate) struct Sandbox {
    dir: tempfile::TempDir,
    n_launchers: Cell<usize>,
}

/// A timeout that no fake reaches unless told to sleep.
pub(crate) const GENEROUS: Duration = Duration::from_secs(30);

/// A timeout short enough for the timeout tests.
pub(crate) const SHORT: Duration = Duration::from_millis(500);

impl Sandbox {
    pub(crate) fn new() -> Sandbox {
        let sandbox = Sandbox {
            dir: tempfile::tempdir().expect("temp dir"),
            n_launchers: Cell::new(0),
        };
        // The subnets the fake import writes DHCP blocks for (it skips fixed IPs outside them).
        sandbox.write(
            "etc/linuxmuster/subnets.csv",
            "10.0.0.0/16;10.0.255.254;10.0.100.1;10.0.100.254;;;SETUP\n\
             10.1.0.0/16;10.1.255.254;10.1.100.1;10.1.100.254;;;\n",
        );
        sandbox
    }

    pub(crate) fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A program path that runs the fake `name` (or `python3`) with `LINBO_DC_ROOT` and `knobs`
    /// in its environment: a symlink to `fixtures/fake-dc/sandboxed` plus an `env` file.
    pub(crate) fn command(&self, name: &str, knobs: &[(&str, &str)]) -> PathBuf {
        let n = self.n_launchers.get() + 1;
        self.n_launchers.set(n);
        let dir = self.root().join(format!("launchers/{n}"));
        std::fs::create_dir_all(&dir).expect("launcher dir");
        let mut env = format!("LINBO_DC_ROOT='{}'\n", self.root().display());
        for (key, value) in knobs {
            env.push_str(&format!("{key}='{value}'\n"));
        }
        std::fs::write(dir.join("env"), env).expect("launcher env");
        let link = dir.join(name);
        std::os::unix::fs::symlink(fake_dc("sandboxed"), &link).expect("launcher link");
        link
    }

    /// Writes `text` to `relative` under the root, creating directories.
    pub(crate) fn write(&self, relative: &str, text: &str) {
        let path = self.root().join(relative);
        std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
    }

    /// The text of `relative` under the root.
    pub(crate) fn read(&self, relative: &str) -> String {
        let path = self.root().join(relative);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    /// Whether `relative` exists under the root.
    pub(crate) fn exists(&self, relative: &str) -> bool {
        self.root().join(relative).exists()
    }

    /// The names in a directory under the root, sorted.
    pub(crate) fn list(&self, relative: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.root().join(relative)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|entry| {
                entry
                    .expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Every fake's recorded argv, one call per line.
    pub(crate) fn calls(&self) -> String {
        std::fs::read_to_string(self.root().join("var/lib/fake-dc/calls.log")).unwrap_or_default()
    }

    /// Writes a school's devices.csv where linuxmuster keeps it (SPEC §3.1).
    pub(crate) fn devices(&self, school: &str, text: &str) {
        let file = if school == "default-school" {
            "devices.csv".to_owned()
        } else {
            format!("{school}.devices.csv")
        };
        self.write(&format!("etc/linuxmuster/sophomorix/{school}/{file}"), text);
    }

    /// Runs the fake import for `school` through the adapter; it must succeed.
    pub(crate) fn import(&self, school: &str) {
        let program = self.command("linuxmuster-import-devices", &[]);
        let report = import_devices::import(&program, school, GENEROUS).expect("import runs");
        assert!(report.success, "{report:?}");
    }
}

/// A committed fake DC command.
pub(crate) fn fake_dc(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/fake-dc")
        .join(name)
}

/// Two schools: default-school with a PC, a teacher PC, a printer and a DHCP host; school2 with
/// a PC and a switch (no computer account).
pub(crate) fn two_schools() -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.devices(
        "default-school",
        "# rooms r100 and r200\n\
         r100;r100-pc01;win11;00:1a:2b:3c:10:01;10.0.100.1;;;;;;1;;;;;\n\
         r100;r100-lehrer;win11;00:1A:2B:3C:10:99;10.0.100.99;;;;classroom-teachercomputer;;2;;;;;\n\
         r100;r100-pr01;nopxe;00:1A:2B:3C:10:F1;10.0.100.201;;;;printer;;0;;;;;\n\
         r200;r200-pc01;ubuntu;00:1A:2B:3C:20:01;DHCP;;;option foo 1,option bar 2;staffcomputer;;1;;;;;\n",
    );
    sandbox.devices(
        "school2",
        "r1;pc01;win11;00:1A:2B:3C:30:01;10.1.0.1;;;;;;1;;;;;\n\
         r1;sw01;nopxe;00:1A:2B:3C:30:02;10.1.0.2;;;;switch;;0;;;;;\n",
    );
    sandbox
}
