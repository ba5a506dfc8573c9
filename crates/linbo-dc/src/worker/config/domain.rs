//! `LINBO_DOMAIN`: DNS domain names, and `auto` from linuxmuster's `setup.ini` or Samba's
//! `smb.conf` (two small INI readers, pure functions over text).

use std::fs;
use std::path::PathBuf;

use crate::paths::Root;

/// Where linuxmuster's setup records the domain (`[setup]` `domainname`).
pub const SETUP_INI: &str = "/var/lib/linuxmuster/setup.ini";

/// Samba's configuration (`[global]` `realm`).
pub const SMB_CONF: &str = "/etc/samba/smb.conf";

/// `domainname` in the `[setup]` section of linuxmuster's `setup.ini`, trimmed and lowercased;
/// `None` when the section or key is missing or empty. Keys are case-insensitive (Python's
/// configparser wrote the file), `key = value` and `key: value` are both read, `#` and `;` lines
/// are comments, matching quotes around the value are removed.
pub fn setup_ini_domain(text: &str) -> Option<String> {
    ini_value(text, "setup", "domainname")
}

/// `realm` in the `[global]` section of `smb.conf`, lowercased (Samba writes the realm in upper
/// case, the DNS domain is the same name in lower case); `None` when missing or empty. Section
/// and key names are case-insensitive, as Samba reads them.
pub fn smb_conf_realm(text: &str) -> Option<String> {
    ini_value(text, "global", "realm")
}

/// The last `key` in `[section]` (both compared case-insensitively), trimmed, unquoted, lowercase.
fn ini_value(text: &str, section: &str, key: &str) -> Option<String> {
    let mut in_section = false;
    let mut found = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            in_section = name
                .strip_suffix(']')
                .is_some_and(|name| name.trim().eq_ignore_ascii_case(section));
            continue;
        }
        if !in_section {
            continue;
        }
        let Some(separator) = line.find(['=', ':']) else {
            continue;
        };
        if line[..separator].trim().eq_ignore_ascii_case(key) {
            let value = line[separator + 1..].trim();
            let value = ['"', '\'']
                .iter()
                .find_map(|&quote| {
                    value
                        .strip_prefix(quote)
                        .and_then(|inner| inner.strip_suffix(quote))
                })
                .unwrap_or(value)
                .trim();
            found = Some(value.to_ascii_lowercase());
        }
    }
    found.filter(|value| !value.is_empty())
}

/// The DC's own host name, with the file it came from: `servername` in `setup.ini`'s `[setup]`
/// (linuxmuster-base7 `share/setupdefaults.ini`: `servername = server`), else `netbios name` in
/// `smb.conf`'s `[global]`; lowercase. `None` when neither file names it.
pub fn dc_host_name(root: &Root) -> Option<(String, PathBuf)> {
    let sources: [(&str, &str, &str); 2] = [
        (SETUP_INI, "setup", "servername"),
        (SMB_CONF, "global", "netbios name"),
    ];
    sources.into_iter().find_map(|(name, section, key)| {
        let text = fs::read_to_string(root.resolve(std::path::Path::new(name))).ok()?;
        let value = ini_value(&text, section, key)?;
        Some((value, PathBuf::from(name)))
    })
}

/// A DNS domain name: dot-separated labels of letters, digits and `-` (1–63 characters, not
/// starting or ending with `-`), at most 253 characters; returned lowercase.
pub(crate) fn parse_domain(name: &str) -> Result<String, String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if valid {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(format!(
            "expected a DNS domain name like linuxmuster.lan, or auto, found {name:?}"
        ))
    }
}

/// One of the INI readers above.
type Reader = fn(&str) -> Option<String>;

/// `LINBO_DOMAIN=auto`: the domain from `setup.ini`, else from `smb.conf`, with the file it came
/// from (as the DC names it). Never the literal `auto`: when neither file gives a valid domain the
/// message says what was looked at.
pub(crate) fn auto_domain(root: &Root) -> Result<(String, PathBuf), String> {
    let mut looked_at = Vec::new();
    let sources: [(&str, &str, Reader); 2] = [
        (SETUP_INI, "[setup] domainname", setup_ini_domain),
        (SMB_CONF, "[global] realm", smb_conf_realm),
    ];
    for (name, what, read) in sources {
        let dc_path = PathBuf::from(name);
        match fs::read_to_string(root.resolve(&dc_path)) {
            Ok(text) => match read(&text).map(|domain| parse_domain(&domain)) {
                Some(Ok(domain)) => return Ok((domain, dc_path)),
                Some(Err(problem)) => looked_at.push(format!("{name} {what}: {problem}")),
                None => looked_at.push(format!("{name} has no {what}")),
            },
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                looked_at.push(format!("{name} does not exist"));
            }
            Err(error) => looked_at.push(format!("cannot read {name}: {error}")),
        }
    }
    Err(format!(
        "auto found no domain ({}); set LINBO_DOMAIN to the school network's DNS domain",
        looked_at.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(read: fn(&str) -> Option<String>, text: &str, expect: Option<&str>) {
        assert_eq!(read(text).as_deref(), expect, "text {text:?}");
    }

    #[test]
    fn setup_ini() {
        let setup = "[setup]\nadminpw = x\ndomainname = linuxmuster.lan\nrealm = LINUXMUSTER.LAN\n";
        check(setup_ini_domain, setup, Some("linuxmuster.lan"));
        check(
            setup_ini_domain,
            "[setup]\nDomainName: Schule.Lan\n",
            Some("schule.lan"),
        );
        check(
            setup_ini_domain,
            "[setup]\ndomainname = \"a.lan\"\n",
            Some("a.lan"),
        );
        check(setup_ini_domain, "[other]\ndomainname = a.lan\n", None);
        check(setup_ini_domain, "domainname = a.lan\n[setup]\n", None);
        check(setup_ini_domain, "[setup]\n# domainname = a.lan\n", None);
        check(setup_ini_domain, "[setup]\ndomainname =\n", None);
        check(setup_ini_domain, "[setup]\ndomainnames = a.lan\n", None);
        check(setup_ini_domain, "", None);
    }

    #[test]
    fn smb_conf() {
        let smb = "# Global parameters\n[global]\n\tnetbios name = SERVER\n\trealm = LINUXMUSTER.LAN\n\tworkgroup = LINUXMUSTER\n\n[sysvol]\n\tpath = /var/lib/samba/sysvol\n";
        check(smb_conf_realm, smb, Some("linuxmuster.lan"));
        check(
            smb_conf_realm,
            "[GLOBAL]\nREALM=Schule.LAN\n",
            Some("schule.lan"),
        );
        check(smb_conf_realm, "[global]\n; realm = A.LAN\n", None);
        check(smb_conf_realm, "[netlogon]\nrealm = A.LAN\n", None);
        check(
            smb_conf_realm,
            "[global]\nrealm = A.LAN\n[x]\nrealm = B.LAN\n",
            Some("a.lan"),
        );
    }

    #[test]
    fn domain_names() {
        assert_eq!(
            parse_domain("LinuxMuster.LAN."),
            Ok("linuxmuster.lan".to_owned())
        );
        assert!(parse_domain("auto").is_ok(), "a one-label name is a name");
        assert!(parse_domain("bad_domain.lan").is_err());
        assert!(parse_domain("-a.lan").is_err());
        assert!(parse_domain("a..lan").is_err());
        assert!(parse_domain("").is_err());
    }
}
