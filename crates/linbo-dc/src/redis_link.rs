//! The worker's link to Redis: the `redis::Client` built from [`RedisSettings`] and one check at
//! start.
//!
//! * **TLS** (`rediss://`) runs on rustls (no OpenSSL). The server's certificate must chain to
//!   the CA certificates of `REDIS_CA_FILE` when it is set (only those), else to the system's
//!   store (`/etc/ssl/certs`), and name the host of the URL. No client certificate is sent.
//! * **ACL users**: `redis://user:password@...` sends `AUTH user password`; without a user it is
//!   `AUTH password` (the `default` user).
//! * **The check at start** ([`connect`]) connects once and sends `PING` (at most
//!   [`CHECK_TIMEOUT`] each). What a restart cannot cure — a certificate that does not verify, a
//!   failed TLS handshake, refused credentials — is a [`RedisLinkError`] naming the key to fix,
//!   and the worker exits 78. Redis being down or unreachable is only a warning: the consumer
//!   reconnects with backoff, as it does whenever the connection drops.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use redis::{AsyncConnectionConfig, ErrorKind, RedisError, TlsCertificates};
use rustls::{CertificateError, Error as TlsError};

use crate::worker::config::RedisSettings;

/// How long the check at start waits for the connection (TLS handshake and `AUTH` included)
/// and for the answer to `PING`.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the worker cannot use Redis as configured. Each variant names the configuration key to
/// fix; the messages never contain the password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisLinkError {
    /// The redis crate refused to build a client from the settings.
    #[error("{key}: not a usable Redis connection: {source}")]
    Client {
        /// The key to fix.
        key: &'static str,
        /// The redis crate's error.
        source: RedisError,
    },
    /// The server's TLS certificate does not verify: not signed by a trusted CA, not issued
    /// for the host, expired.
    #[error("{key}: {problem}")]
    Certificate {
        /// The key to fix.
        key: &'static str,
        /// What is wrong and what to check.
        problem: String,
    },
    /// The TLS handshake failed for another reason (no TLS on that port, a client certificate
    /// required).
    #[error("{key}: {problem}")]
    Tls {
        /// The key to fix.
        key: &'static str,
        /// What is wrong and what to check.
        problem: String,
    },
    /// Redis refused the user name or password, or the user may not run commands.
    #[error("{key}: {problem}")]
    Authentication {
        /// The key to fix.
        key: &'static str,
        /// What is wrong and what to check.
        problem: String,
    },
}

impl RedisLinkError {
    /// The configuration key the message names.
    pub fn key(&self) -> &'static str {
        match self {
            RedisLinkError::Client { key, .. }
            | RedisLinkError::Certificate { key, .. }
            | RedisLinkError::Tls { key, .. }
            | RedisLinkError::Authentication { key, .. } => key,
        }
    }
}

impl RedisSettings {
    /// The client for these settings (it does not connect yet). Over TLS it trusts the
    /// certificates of `REDIS_CA_FILE` when set, else the system's store.
    pub fn client(&self) -> Result<redis::Client, RedisLinkError> {
        let url = self.url();
        let client = match (&self.ca_file, self.tls) {
            (Some(ca_file), true) => {
                install_crypto_provider();
                redis::Client::build_with_tls(
                    url.expose(),
                    TlsCertificates {
                        client_tls: None,
                        root_cert: Some(ca_file.pem().to_vec()),
                    },
                )
            }
            (_, tls) => {
                if tls {
                    install_crypto_provider();
                }
                redis::Client::open(url.expose())
            }
        };
        client.map_err(|source| RedisLinkError::Client {
            key: if self.ca_file.is_some() && self.tls {
                "REDIS_CA_FILE"
            } else {
                "REDIS_URL"
            },
            source,
        })
    }
}

/// The redis crate builds its rustls configuration with the process's default crypto provider.
/// rustls picks one by itself only while exactly one provider is compiled in; installing ring
/// (the one the workspace builds, as reqwest does) keeps TLS working if another ever comes in.
fn install_crypto_provider() {
    // An error means a provider is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the client for `settings` and checks it once: connect (TLS handshake, `AUTH`,
/// `SELECT`) and `PING`, each within [`CHECK_TIMEOUT`]. A certificate, TLS or credential problem
/// is an error; any other failure (Redis down, unreachable, slow) is logged as a warning and the
/// client returned, since the consumer keeps reconnecting.
pub async fn connect(settings: &RedisSettings) -> Result<redis::Client, RedisLinkError> {
    let client = settings.client()?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CHECK_TIMEOUT))
        .set_response_timeout(Some(CHECK_TIMEOUT));
    let check = async {
        let mut connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
    };
    match check.await {
        Ok(_) => {
            tracing::debug!(redis = %settings.redacted_url(), "Redis answers");
            Ok(client)
        }
        Err(error) => match diagnose(settings, &error) {
            Some(problem) => Err(problem),
            None => {
                // A TLS handshake with a plain port (or the other way round) often ends in a
                // timeout or a closed connection, which looks like Redis being away.
                let ports = if settings.tls {
                    "rediss:// needs the server's TLS port (tls-port)"
                } else {
                    "redis:// needs the server's plain port (port), rediss:// its TLS port"
                };
                tracing::warn!(
                    redis = %settings.redacted_url(),
                    %error,
                    "Redis is not reachable yet (down, blocked, or the wrong port: {ports}); the \
                     worker keeps trying"
                );
                Ok(client)
            }
        },
    }
}

/// The configuration problem behind `error`, if it is one (see [`connect`]).
pub fn diagnose(settings: &RedisSettings, error: &RedisError) -> Option<RedisLinkError> {
    let url = settings.redacted_url();
    if let Some(tls_error) = find_tls_error(error) {
        return Some(tls_problem(settings, &url, tls_error));
    }
    let user = settings.username.as_deref();
    let refused_credentials =
        error.kind() == ErrorKind::AuthenticationFailed || error.code() == Some("WRONGPASS");
    if refused_credentials {
        let (key, problem) = match user {
            Some(user) => (
                "REDIS_URL",
                format!(
                    "Redis at {url} refused the ACL user {user:?} with this password ({error}); \
                     check the user name and password in REDIS_URL against the server's ACL \
                     (ACL LIST)"
                ),
            ),
            None => (
                "REDIS_PASSWORD",
                format!(
                    "Redis at {url} refused the password ({error}); check REDIS_PASSWORD (or the \
                     password in REDIS_URL) against the server's requirepass or ACL"
                ),
            ),
        };
        return Some(RedisLinkError::Authentication { key, problem });
    }
    match error.code() {
        Some("NOAUTH") => Some(RedisLinkError::Authentication {
            key: "REDIS_PASSWORD",
            problem: format!(
                "Redis at {url} requires a password ({error}); set REDIS_PASSWORD, or a user and \
                 password in REDIS_URL (redis://user:password@host)"
            ),
        }),
        Some("NOPERM") => Some(RedisLinkError::Authentication {
            key: "REDIS_URL",
            problem: format!(
                "the Redis user {:?} may not run PING at {url} ({error}); the worker needs the \
                 stream, hash and script commands on the keys linbo:*, e.g. ACL SETUSER {} on \
                 >PASSWORD ~linbo:* +@all",
                user.unwrap_or("default"),
                user.unwrap_or("<user>")
            ),
        }),
        _ => None,
    }
}

/// The message for a TLS failure, naming the CA file or the host to check.
fn tls_problem(settings: &RedisSettings, url: &str, error: &TlsError) -> RedisLinkError {
    let trusted = match &settings.ca_file {
        Some(ca_file) => format!("the CA in {}", ca_file.path().display()),
        None => "the system's CA store (/etc/ssl/certs; REDIS_CA_FILE is not set)".to_owned(),
    };
    let TlsError::InvalidCertificate(certificate_error) = error else {
        return RedisLinkError::Tls {
            key: "REDIS_URL",
            problem: format!(
                "the TLS handshake with the Redis server at {url} failed ({error}); rediss:// \
                 needs the server's TLS port (tls-port in redis.conf), and the server must not \
                 require client certificates (tls-auth-clients no or optional)"
            ),
        };
    };
    match certificate_error {
        CertificateError::UnknownIssuer | CertificateError::BadSignature => {
            let fix = match &settings.ca_file {
                Some(ca_file) => format!(
                    "check that {} holds the CA certificate that signed the server's certificate \
                     (on the Docker host: the CA of redis.conf's tls-cert-file)",
                    ca_file.path().display()
                ),
                None => "set REDIS_CA_FILE to the CA certificate that signed the server's \
                         certificate (PEM; on the Docker host: the CA of redis.conf's \
                         tls-cert-file)"
                    .to_owned(),
            };
            RedisLinkError::Certificate {
                key: "REDIS_CA_FILE",
                problem: format!(
                    "the TLS certificate of the Redis server at {url} is not signed by {trusted} \
                     ({error}); {fix}"
                ),
            }
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            RedisLinkError::Certificate {
                key: "REDIS_URL",
                problem: format!(
                    "the TLS certificate of the Redis server at {url} is not issued for the host \
                     {:?} ({error}); use a host name or address the certificate names \
                     (subjectAltName) in REDIS_URL",
                    settings.host
                ),
            }
        }
        _ => RedisLinkError::Certificate {
            key: if settings.ca_file.is_some() {
                "REDIS_CA_FILE"
            } else {
                "REDIS_URL"
            },
            problem: format!(
                "the TLS certificate of the Redis server at {url} was refused ({error}); it is \
                 checked against {trusted}"
            ),
        },
    }
}

/// The rustls error inside a redis error: redis keeps an `io::Error` (from the handshake) or
/// the rustls error itself behind an `Arc`, and `io::Error::source` skips the error it wraps, so
/// the chain is walked by hand.
fn find_tls_error(error: &RedisError) -> Option<&TlsError> {
    fn walk<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a TlsError> {
        if let Some(tls) = error.downcast_ref::<TlsError>() {
            return Some(tls);
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && let Some(tls) = walk(inner)
        {
            return Some(tls);
        }
        if let Some(shared) = error.downcast_ref::<Arc<dyn StdError + Send + Sync>>()
            && let Some(tls) = walk(shared.as_ref())
        {
            return Some(tls);
        }
        error.source().and_then(walk)
    }
    StdError::source(error).and_then(walk)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    /// `rediss://[:pw@]redis.lan:<port>/0`.
    fn settings(port: u16, password: Option<&str>) -> RedisSettings {
        RedisSettings {
            tls: true,
            host: "redis.lan".to_owned(),
            port,
            username: None,
            password: password.map(Secret::new),
            db: 0,
            ca_file: None,
        }
    }

    /// The message `diagnose` gives for `error` (as redis reports a handshake failure: an
    /// `io::Error` around the rustls error) with `settings`.
    #[track_caller]
    fn check(settings: RedisSettings, error: TlsError, expect: &str) {
        let error = RedisError::from(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
        let actual = diagnose(&settings, &error).map(|problem| problem.to_string());
        assert_eq!(actual.as_deref(), Some(expect));
    }

    #[test]
    fn tls_failures_name_what_to_check() {
        check(
            settings(6380, Some("pw")),
            TlsError::InvalidCertificate(CertificateError::NotValidForName),
            "REDIS_URL: the TLS certificate of the Redis server at rediss://:***@redis.lan:6380/0 \
             is not issued for the host \"redis.lan\" (invalid peer certificate: \
             NotValidForName); use a host name or address the certificate names \
             (subjectAltName) in REDIS_URL",
        );
        check(
            settings(6380, None),
            TlsError::InvalidCertificate(CertificateError::Expired),
            "REDIS_URL: the TLS certificate of the Redis server at rediss://redis.lan:6380/0 was \
             refused (invalid peer certificate: Expired); it is checked against the system's \
             CA store (/etc/ssl/certs; REDIS_CA_FILE is not set)",
        );
        check(
            settings(6379, None),
            TlsError::InvalidMessage(rustls::InvalidMessage::InvalidContentType),
            "REDIS_URL: the TLS handshake with the Redis server at rediss://redis.lan:6379/0 \
             failed (received corrupt message of type InvalidContentType); rediss:// needs the \
             server's TLS port (tls-port in redis.conf), and the server must not require client \
             certificates (tls-auth-clients no or optional)",
        );
    }

    #[test]
    fn other_failures_are_no_configuration_problem() {
        let settings = settings(6379, None);
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(diagnose(&settings, &refused).is_none());
    }
}
