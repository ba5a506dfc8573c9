//! A throwaway certificate authority for TLS tests, made with the `openssl` command at run time.
//!
//! [`TestCa::new`] creates a CA (EC P-256, valid for two days) in a private temporary directory;
//! [`TestCa::issue_server_certificate`] signs a server certificate for `127.0.0.1` and
//! `localhost`. [`RedisServer::start_tls`](crate::RedisServer::start_tls) uses both; a test that
//! needs a CA the server does *not* trust makes a second `TestCa`.
//!
//! Nothing is checked into the repository and nothing expires between runs. When `openssl` is
//! missing the test fails, naming the Debian package (`openssl`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Where Debian installs the `openssl` command; searched after `PATH`.
const FALLBACK_OPENSSL: &[&str] = &["/usr/bin/openssl"];

/// A CA certificate and its key in a temporary directory, removed on drop.
#[derive(Debug)]
pub struct TestCa {
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

/// A server certificate signed by a [`TestCa`], and its key (PEM files).
#[derive(Debug, Clone)]
pub struct ServerCertificate {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, unencrypted).
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA whose certificate names `common_name` as subject.
    ///
    /// # Panics
    /// When `openssl` is not installed (the message says `apt-get install openssl`) or fails.
    pub fn new(common_name: &str) -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("dc-testkit-ca-")
            .tempdir()
            .expect("creating a temporary directory for a test CA");
        let cert = dir.path().join("ca.pem");
        let key = dir.path().join("ca.key");
        openssl(&[
            "req".as_ref(),
            "-x509".as_ref(),
            "-newkey".as_ref(),
            "ec".as_ref(),
            "-pkeyopt".as_ref(),
            "ec_paramgen_curve:prime256v1".as_ref(),
            "-nodes".as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-subj".as_ref(),
            format!("/CN={common_name}").as_ref(),
            "-addext".as_ref(),
            "basicConstraints=critical,CA:TRUE".as_ref(),
            "-addext".as_ref(),
            "keyUsage=critical,keyCertSign,cRLSign".as_ref(),
            "-keyout".as_ref(),
            key.as_os_str(),
            "-out".as_ref(),
            cert.as_os_str(),
        ]);
        TestCa { dir, cert, key }
    }

    /// The CA certificate (PEM): what a client trusts.
    pub fn cert_file(&self) -> &Path {
        &self.cert
    }

    /// The CA certificate's PEM text.
    pub fn cert_pem(&self) -> String {
        std::fs::read_to_string(&self.cert).expect("reading the test CA's certificate")
    }

    /// Signs a server certificate for `127.0.0.1` and `localhost` (subjectAltName; modern clients
    /// ignore the common name), written as `<name>.pem` and `<name>.key` next to the CA.
    ///
    /// # Panics
    /// Like [`new`](Self::new).
    pub fn issue_server_certificate(&self, name: &str) -> ServerCertificate {
        let key = self.dir.path().join(format!("{name}.key"));
        let request = self.dir.path().join(format!("{name}.csr"));
        let cert = self.dir.path().join(format!("{name}.pem"));
        let extensions = self.dir.path().join(format!("{name}.ext"));
        std::fs::write(
            &extensions,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n\
             basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n",
        )
        .expect("writing the certificate extensions");
        openssl(&[
            "req".as_ref(),
            "-newkey".as_ref(),
            "ec".as_ref(),
            "-pkeyopt".as_ref(),
            "ec_paramgen_curve:prime256v1".as_ref(),
            "-nodes".as_ref(),
            "-subj".as_ref(),
            "/CN=localhost".as_ref(),
            "-keyout".as_ref(),
            key.as_os_str(),
            "-out".as_ref(),
            request.as_os_str(),
        ]);
        openssl(&[
            "x509".as_ref(),
            "-req".as_ref(),
            "-in".as_ref(),
            request.as_os_str(),
            "-CA".as_ref(),
            self.cert.as_os_str(),
            "-CAkey".as_ref(),
            self.key.as_os_str(),
            "-CAcreateserial".as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-extfile".as_ref(),
            extensions.as_os_str(),
            "-out".as_ref(),
            cert.as_os_str(),
        ]);
        ServerCertificate { cert, key }
    }
}

/// Runs `openssl args...` and panics with its output when it fails.
// Test infrastructure: certificates for tests are made here, outside dc-adapters' production
// spawn choke point.
#[allow(clippy::disallowed_methods)]
fn openssl(args: &[&OsStr]) {
    let binary = crate::program::find_program(
        "openssl",
        std::env::var_os("PATH").as_deref(),
        FALLBACK_OPENSSL,
    )
    .unwrap_or_else(|| {
        panic!(
            "openssl not found: apt-get install openssl \
                 (searched PATH and {FALLBACK_OPENSSL:?}); the TLS tests make their certificates \
                 with it"
        )
    });
    let output = std::process::Command::new(&binary)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("running {}: {error}", binary.display()));
    assert!(
        output.status.success(),
        "openssl {:?} failed with {}:\n{}{}",
        args,
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_signs_a_server_certificate_for_the_loopback_address() {
        let ca = TestCa::new("dc-testkit test CA");
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let server = ca.issue_server_certificate("server");
        assert!(server.cert.is_file() && server.key.is_file());
    }
}
