//! Snapshot cases from `fixtures/dhcpd/<case>/`: `in.conf`, `patch.txt` describing the edit, and the
//! expected `out.conf` (absent for inputs that must be rejected). Set `DHCPD_CONF_BLESS=1` to
//! rewrite the `out.conf` files from the current output.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use dhcpd_conf::Config;

/// The edit a case applies, read from `patch.txt`:
///
/// ```text
/// # what the case checks
/// remove-host NAME
/// add-host NAME MAC [IP]
/// next-server 10.0.0.2
/// managed NAME NAME ...
/// ```
///
/// `next-server` + `managed` is the DHCP hook's rule: managed hosts get exactly one `next-server`,
/// the others stay as they are (after an import, a `next-server` there is the administrator's).
#[derive(Debug, Default)]
struct Patch {
    remove_hosts: Vec<String>,
    add_hosts: Vec<(String, String, Option<String>)>,
    next_server: Option<Ipv4Addr>,
    managed: BTreeSet<String>,
}

impl Patch {
    fn read(text: &str) -> Self {
        let mut patch = Self::default();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
        {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["remove-host", name] => patch.remove_hosts.push((*name).to_owned()),
                ["add-host", name, mac] => {
                    patch
                        .add_hosts
                        .push(((*name).to_owned(), (*mac).to_owned(), None))
                }
                ["add-host", name, mac, ip] => {
                    patch.add_hosts.push((
                        (*name).to_owned(),
                        (*mac).to_owned(),
                        Some((*ip).to_owned()),
                    ));
                }
                ["next-server", ip] => {
                    patch.next_server = Some(ip.parse().expect("patch.txt: next-server address"))
                }
                ["managed", names @ ..] => patch
                    .managed
                    .extend(names.iter().map(|name| (*name).to_owned())),
                _ => panic!("patch.txt: unknown line `{line}`"),
            }
        }
        patch
    }

    /// Applies the patch and returns one line per change.
    fn apply(&self, config: &mut Config) -> Vec<String> {
        let mut changes = Vec::new();
        for name in &self.remove_hosts {
            if config.remove_host(name) {
                changes.push(format!("removed host {name}"));
            }
        }
        for (name, mac, ip) in &self.add_hosts {
            if config.host(name).is_some() {
                continue;
            }
            let mut host = config.add_host(name).expect("patch.txt: add-host name");
            host.set_statement("hardware ethernet", mac)
                .expect("patch.txt: add-host MAC");
            if let Some(ip) = ip {
                host.set_statement("fixed-address", ip)
                    .expect("patch.txt: add-host IP");
            }
            changes.push(format!("added host {name}"));
        }
        if let Some(address) = self.next_server {
            config.patch_hosts(|host| {
                let name = host.name().to_owned();
                if self.managed.contains(&name) && host.set_next_server(address) {
                    changes.push(format!("set next-server {address} in {name}"));
                }
            });
        }
        changes
    }
}

#[test]
fn fixtures() {
    insta::glob!("../../../../fixtures/dhcpd", "*/in.conf", |in_path| {
        run_case(in_path)
    });
}

fn run_case(in_path: &Path) {
    let dir = in_path.parent().expect("in.conf lies in a case directory");
    let case = dir
        .file_name()
        .and_then(|name| name.to_str())
        .expect("a UTF-8 case name");
    let input = std::fs::read_to_string(in_path).expect("reading in.conf");
    let patch =
        Patch::read(&std::fs::read_to_string(dir.join("patch.txt")).expect("reading patch.txt"));
    let out_path = dir.join("out.conf");
    let bless = std::env::var_os("DHCPD_CONF_BLESS").is_some();

    let mut config = match dhcpd_conf::parse(&input) {
        Ok(config) => config,
        Err(error) => {
            // A rejected input produces no output at all: the hook then writes nothing.
            if bless {
                let _ = std::fs::remove_file(&out_path);
            }
            assert!(
                !out_path.exists(),
                "{case}: input is rejected ({error}) but out.conf exists"
            );
            assert!(
                !crate::dhcpd::check(&input).0,
                "{case}: dhcpd accepts what the parser rejects: {error}"
            );
            insta::assert_snapshot!(format!("error: {error}\n"));
            return;
        }
    };
    assert_eq!(
        config.to_string(),
        input,
        "{case}: parse + print is not lossless"
    );

    let changes = patch.apply(&mut config);
    let output = config.to_string();
    if bless {
        std::fs::write(&out_path, &output).expect("writing out.conf");
    }
    let expected =
        std::fs::read_to_string(&out_path).unwrap_or_else(|_| panic!("{case}: out.conf missing"));
    assert_eq!(output, expected, "{case}: output differs from out.conf");

    // Re-applying the patch to its own output changes nothing.
    let mut again = dhcpd_conf::parse(&output)
        .unwrap_or_else(|error| panic!("{case}: output does not parse: {error}"));
    let second = patch.apply(&mut again);
    assert_eq!(
        second,
        Vec::<String>::new(),
        "{case}: re-applying the patch changed something"
    );
    assert_eq!(
        again.to_string(),
        output,
        "{case}: re-applying the patch changed the text"
    );
    if case.ends_with("_noop") {
        assert_eq!(output, input, "{case}: a noop case changed the file");
    }

    crate::dhcpd::assert_valid(&input, &format!("{case}/in.conf"));
    crate::dhcpd::assert_valid(&output, &format!("{case}/out.conf"));

    let mut report = String::new();
    for change in &changes {
        writeln!(report, "{change}").expect("writing to a String");
    }
    if changes.is_empty() {
        report.push_str("no change\n");
    }
    report.push_str("---\n");
    report.push_str(&output);
    insta::assert_snapshot!(report);
}
