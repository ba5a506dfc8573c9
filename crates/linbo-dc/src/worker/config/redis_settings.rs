//! The Redis connection (`REDIS_HOST`/`PORT`/`PASSWORD`/`DB` or `REDIS_URL`, and `REDIS_CA_FILE`).

use std::fmt;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

pub use crate::secret::Secret;

/// Where Redis is, from `REDIS_HOST`/`REDIS_PORT`/`REDIS_PASSWORD`/`REDIS_DB` or, when set,
/// from `REDIS_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `rediss://`: TLS. Only `REDIS_URL` can ask for it.
    pub tls: bool,
    /// Host name or IP address (an IPv6 address without brackets).
    pub host: String,
    /// TCP port (default 6379).
    pub port: u16,
    /// ACL user name (`redis://user:password@...`); none = the default user.
    pub username: Option<String>,
    /// The password; none = no `AUTH`.
    pub password: Option<Secret>,
    /// Database number (default 0).
    pub db: u32,
    /// `REDIS_CA_FILE`: the CA certificates a `rediss://` server's certificate must chain to,
    /// instead of the system's store; none = the system's store. No effect without TLS.
    pub ca_file: Option<CaFile>,
}

/// A PEM bundle of CA certificates (`REDIS_CA_FILE`), read and checked when the settings are
/// made, so a missing or broken file stops the start rather than every connection attempt.
/// `Debug` shows the path and the number of certificates.
#[derive(Clone, PartialEq, Eq)]
pub struct CaFile {
    path: PathBuf,
    pem: Vec<u8>,
    certificates: usize,
}

impl CaFile {
    /// Reads `path` (already resolved through the root): one or more `-----BEGIN CERTIFICATE-----`
    /// blocks, each a certificate rustls accepts as a trust anchor. Other PEM blocks are ignored.
    /// The message names the path and what is wrong.
    pub fn read(path: &Path) -> Result<CaFile, String> {
        let pem = std::fs::read(path)
            .map_err(|error| format!("reading the CA file {}: {error}", path.display()))?;
        let mut store = RootCertStore::empty();
        for (index, certificate) in CertificateDer::pem_slice_iter(&pem).enumerate() {
            let certificate = certificate.map_err(|error| {
                format!(
                    "the CA file {} is not a valid PEM file: {error}",
                    path.display()
                )
            })?;
            store.add(certificate).map_err(|error| {
                format!(
                    "certificate {} of the CA file {} is not a usable CA certificate: {error}",
                    index + 1,
                    path.display()
                )
            })?;
        }
        if store.is_empty() {
            return Err(format!(
                "the CA file {} holds no certificate; expected the CA certificate that signed the \
                 Redis server's certificate, in PEM (-----BEGIN CERTIFICATE-----)",
                path.display()
            ));
        }
        Ok(CaFile {
            path: path.to_owned(),
            certificates: store.len(),
            pem,
        })
    }

    /// The file (resolved through the root).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes as read at start.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// How many certificates it holds (at least one).
    pub fn certificates(&self) -> usize {
        self.certificates
    }
}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("certificates", &self.certificates)
            .finish()
    }
}

impl RedisSettings {
    /// The connection URL the redis crate takes, with the password percent-encoded. It holds the
    /// password, so it is a [`Secret`].
    pub fn url(&self) -> Secret {
        Secret::new(
            self.render(
                self.password
                    .as_ref()
                    .map(|password| encode(password.expose())),
            ),
        )
    }

    /// The connection URL with the password shown as `***`, for logs and `check-config`.
    pub fn redacted_url(&self) -> String {
        self.render(self.password.as_ref().map(|_| "***".to_owned()))
    }

    fn render(&self, password: Option<String>) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let user = self.username.as_deref().map(encode).unwrap_or_default();
        let userinfo = match (user.is_empty(), password) {
            (true, None) => String::new(),
            (_, Some(password)) => format!("{user}:{password}@"),
            (false, None) => format!("{user}@"),
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{userinfo}{host}:{}/{}", self.port, self.db)
    }
}

/// Whether `host` is a host name or IP address we can put into a URL: letters, digits, `.`, `-`,
/// `_`, or an IPv6 address.
pub(crate) fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && (host.parse::<Ipv6Addr>().is_ok()
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
}

const URL_FORM: &str = "expected redis://[[user]:password@]host[:port][/db] or rediss://... (TLS)";

/// Parses `REDIS_URL`. Messages never repeat the value, which may hold the password.
pub(crate) fn parse_redis_url(url: &str) -> Result<RedisSettings, String> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("redis://") {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("rediss://") {
        (true, rest)
    } else {
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        return Err(if scheme.is_empty() {
            format!("{URL_FORM}; the value has no scheme")
        } else {
            format!("{URL_FORM}; found the scheme {scheme:?}")
        });
    };
    if rest.contains(['?', '#']) || rest.contains(char::is_whitespace) {
        return Err(format!(
            "{URL_FORM}; query parameters, fragments and spaces are not supported"
        ));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(userinfo) => {
            let (user, password) = match userinfo.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (userinfo, None),
            };
            let user = decode(user).ok_or_else(|| {
                format!("{URL_FORM}; the user name has a bad %-escape or is not UTF-8")
            })?;
            let password = match password {
                None => None,
                Some(password) => Some(decode(password).ok_or_else(|| {
                    format!("{URL_FORM}; the password has a bad %-escape or is not UTF-8")
                })?),
            };
            (
                Some(user).filter(|user| !user.is_empty()),
                password
                    .filter(|password| !password.is_empty())
                    .map(Secret::new),
            )
        }
    };
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(format!("{URL_FORM}; an IPv6 address needs a closing ']'"));
        };
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!(
                "{URL_FORM}; {host:?} in brackets is not an IPv6 address"
            ));
        }
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(format!("{URL_FORM}; unexpected text after ']'")),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{URL_FORM}; the host is missing"));
    }
    if !valid_host(host) {
        return Err(format!(
            "{URL_FORM}; {host:?} is not a host name or IP address"
        ));
    }
    let port = match port {
        None => 6379,
        Some(port) => parse_port(port).map_err(|problem| format!("{URL_FORM}; {problem}"))?,
    };
    let db = match path {
        "" => 0,
        db => db.parse::<u32>().map_err(|_| {
            format!("{URL_FORM}; the database after '/' must be a number, found {db:?}")
        })?,
    };
    Ok(RedisSettings {
        tls,
        host: host.to_owned(),
        port,
        username,
        password,
        db,
        ca_file: None,
    })
}

/// A TCP port 1..=65535.
pub(crate) fn parse_port(port: &str) -> Result<u16, String> {
    port.parse::<u16>()
        .ok()
        .filter(|&port| port != 0)
        .ok_or_else(|| format!("expected a TCP port 1..=65535, found {port:?}"))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` for a bad escape or bytes that are not UTF-8.
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text.get(index + 1..index + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(url: &str, expect: &str) {
        let actual = match parse_redis_url(url) {
            Ok(redis) => format!(
                "{} user={:?} password={:?}",
                redis.redacted_url(),
                redis.username,
                redis.password.as_ref().map(Secret::expose)
            ),
            Err(problem) => format!("error: {problem}"),
        };
        assert_eq!(actual, expect, "url {url:?}");
    }

    #[test]
    fn redis_urls() {
        check(
            "redis://localhost",
            "redis://localhost:6379/0 user=None password=None",
        );
        check(
            "rediss://:p%40ss@redis.example.org:6380/2",
            "rediss://:***@redis.example.org:6380/2 user=None password=Some(\"p@ss\")",
        );
        check(
            "redis://worker:pw@[::1]:7000",
            "redis://worker:***@[::1]:7000/0 user=Some(\"worker\") password=Some(\"pw\")",
        );
        check(
            "redis://10.0.0.5/",
            "redis://10.0.0.5:6379/0 user=None password=None",
        );
        check(
            "unix:///run/redis.sock",
            "error: expected redis://[[user]:password@]host[:port][/db] or rediss://... (TLS); found the scheme \"unix\"",
        );
        check(
            "redis://:secret@host:0",
            "error: expected redis://[[user]:password@]host[:port][/db] or rediss://... (TLS); expected a TCP port 1..=65535, found \"0\"",
        );
        check(
            "redis://:se%2cret%zz@host",
            "error: expected redis://[[user]:password@]host[:port][/db] or rediss://... (TLS); the password has a bad %-escape or is not UTF-8",
        );
        check(
            "redis://host/db1",
            "error: expected redis://[[user]:password@]host[:port][/db] or rediss://... (TLS); the database after '/' must be a number, found \"db1\"",
        );
    }

    #[test]
    fn url_round_trip_encodes_the_password() {
        let redis = parse_redis_url("redis://:a%2Fb%3Ac@h:1/3").expect("valid");
        assert_eq!(redis.url().expose(), "redis://:a%2Fb%3Ac@h:1/3");
        assert_eq!(format!("{:?}", redis.url()), "Secret(***)");
    }
}
