//! The worker's Redis client against a real `redis-server`: TLS with `REDIS_CA_FILE`, ACL users,
//! and the messages for a wrong CA, a wrong password and a plain port.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use dc_testkit::{RedisServer, TestCa};
use linbo_dc::conf_file::ConfFile;
use linbo_dc::paths::Root;
use linbo_dc::redis_link::{self, RedisLinkError};
use linbo_dc::worker::config::{Settings, Sources};

/// Settings from `text` in a sandbox where `/etc/linbo-dc/redis-ca.pem` holds `ca`'s certificate.
fn load(text: &str, ca: &TestCa) -> (tempfile::TempDir, Settings) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ca_path = dir.path().join("etc/linbo-dc/redis-ca.pem");
    fs::create_dir_all(ca_path.parent().expect("a directory")).expect("the sandbox's /etc");
    fs::write(&ca_path, ca.cert_pem()).expect("the CA file");
    let file = ConfFile::parse(Path::new("/etc/macct-worker.conf"), text).expect("parses");
    let settings = Settings::load(&Sources {
        file: &file,
        env: &HashMap::new(),
        host_name: "dc01",
        root: &Root::new(dir.path()),
    })
    .expect("valid settings");
    (dir, settings)
}

/// `connect`, then `ACL WHOAMI` and a SET/GET round trip; returns the user name.
async fn round_trip(settings: &Settings) -> Result<String, RedisLinkError> {
    let client = redis_link::connect(&settings.redis).await?;
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("connecting again");
    redis::cmd("SET")
        .arg("linbo:tls-test")
        .arg("über")
        .exec_async(&mut connection)
        .await
        .expect("SET");
    let value: String = redis::cmd("GET")
        .arg("linbo:tls-test")
        .query_async(&mut connection)
        .await
        .expect("GET");
    assert_eq!(value, "über");
    Ok(redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut connection)
        .await
        .expect("ACL WHOAMI"))
}

fn tls_url(server: &RedisServer, userinfo: &str) -> String {
    format!(
        "REDIS_URL=rediss://{userinfo}127.0.0.1:{}/0\n",
        server.port()
    )
}

#[tokio::test]
async fn tls_with_the_ca_file_and_an_acl_user_works() {
    let server = RedisServer::start_tls();
    let ca = server.ca().expect("a TLS server");
    server.add_acl_user("linbo-dc", "s3cret-pw");
    let text = format!(
        "{}REDIS_CA_FILE=/etc/linbo-dc/redis-ca.pem\n",
        tls_url(&server, "linbo-dc:s3cret-pw@")
    );
    let (_dir, settings) = load(&text, ca);
    assert_eq!(
        round_trip(&settings).await.expect("connects"),
        "linbo-dc",
        "the user name reached AUTH"
    );

    // Without a user: the default user, over TLS all the same.
    let text = format!(
        "{}REDIS_CA_FILE=/etc/linbo-dc/redis-ca.pem\n",
        tls_url(&server, "")
    );
    let (_dir, settings) = load(&text, ca);
    assert_eq!(round_trip(&settings).await.expect("connects"), "default");
}

#[tokio::test]
async fn a_wrong_password_names_the_user_and_not_the_password() {
    let server = RedisServer::start_tls();
    let ca = server.ca().expect("a TLS server");
    server.add_acl_user("linbo-dc", "s3cret-pw");
    let text = format!(
        "{}REDIS_CA_FILE=/etc/linbo-dc/redis-ca.pem\n",
        tls_url(&server, "linbo-dc:wrong-pw@")
    );
    let (_dir, settings) = load(&text, ca);
    let error = round_trip(&settings).await.expect_err("refused");
    assert!(
        matches!(
            error,
            RedisLinkError::Authentication {
                key: "REDIS_URL",
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "REDIS_URL: Redis at rediss://linbo-dc:***@127.0.0.1:{}/0 refused the ACL user \
             \"linbo-dc\" with this password",
            server.port()
        )),
        "{message}"
    );
    assert!(!message.contains("wrong-pw"), "{message}");
}

#[tokio::test]
async fn a_password_redis_does_not_take_is_an_error_naming_redis_password() {
    let server = RedisServer::start();
    let ca = TestCa::new("unused");
    let port = server.port();
    // The default user needs a password from now on (the helpers cannot be used after this).
    server.acl_setuser("default", &["on", "resetpass", ">right-pw"]);
    for (text, expect) in [
        (
            format!("REDIS_HOST=127.0.0.1\nREDIS_PORT={port}\n"),
            "REDIS_PASSWORD: Redis at redis://127.0.0.1:",
        ),
        (
            format!("REDIS_HOST=127.0.0.1\nREDIS_PORT={port}\nREDIS_PASSWORD=wrong-pw\n"),
            "REDIS_PASSWORD: Redis at redis://:***@127.0.0.1:",
        ),
    ] {
        let (_dir, settings) = load(&text, &ca);
        let error = round_trip(&settings).await.expect_err("refused");
        let message = error.to_string();
        assert!(message.starts_with(expect), "{message}");
        assert!(
            message.contains("requires a password (") || message.contains("refused the password"),
            "{message}"
        );
        assert!(!message.contains("wrong-pw"), "{message}");
    }
    let text = format!("REDIS_HOST=127.0.0.1\nREDIS_PORT={port}\nREDIS_PASSWORD=right-pw\n");
    let (_dir, settings) = load(&text, &ca);
    assert_eq!(round_trip(&settings).await.expect("connects"), "default");
}

#[tokio::test]
async fn a_wrong_ca_is_a_certificate_error_naming_the_ca_file() {
    let server = RedisServer::start_tls();
    let other_ca = TestCa::new("not the server's CA");
    let text = format!(
        "{}REDIS_CA_FILE=/etc/linbo-dc/redis-ca.pem\n",
        tls_url(&server, "")
    );
    let (dir, settings) = load(&text, &other_ca);
    let error = round_trip(&settings).await.expect_err("refused");
    assert!(
        matches!(
            error,
            RedisLinkError::Certificate {
                key: "REDIS_CA_FILE",
                ..
            }
        ),
        "{error:?}"
    );
    let ca_path = dir.path().join("etc/linbo-dc/redis-ca.pem");
    assert_eq!(
        error.to_string(),
        format!(
            "REDIS_CA_FILE: the TLS certificate of the Redis server at rediss://127.0.0.1:{port}/0 \
             is not signed by the CA in {ca} (invalid peer certificate: \
             UnknownIssuer); check that {ca} holds the CA certificate that signed the server's \
             certificate (on the Docker host: the CA of redis.conf's tls-cert-file)",
            port = server.port(),
            ca = ca_path.display()
        )
    );
}

#[tokio::test]
async fn without_a_ca_file_a_private_ca_is_not_trusted() {
    let server = RedisServer::start_tls();
    let (_dir, settings) = load(&tls_url(&server, ""), server.ca().expect("TLS"));
    let error = round_trip(&settings).await.expect_err("refused");
    let message = error.to_string();
    assert!(
        message.starts_with("REDIS_CA_FILE: the TLS certificate of the Redis server at rediss://")
            && message.contains("is not signed by the system's CA store")
            && message.contains("set REDIS_CA_FILE to the CA certificate"),
        "{message}"
    );
}

#[tokio::test]
async fn redis_down_at_start_is_no_error() {
    let mut server = RedisServer::start_tls();
    let text = format!(
        "{}REDIS_CA_FILE=/etc/linbo-dc/redis-ca.pem\n",
        tls_url(&server, "")
    );
    let (_dir, settings) = load(&text, server.ca().expect("TLS"));
    server.stop();
    let client = redis_link::connect(&settings.redis)
        .await
        .expect("down is not a configuration problem");
    server.start_again();
    let mut connection = client
        .get_multiplexed_async_connection()
        .await
        .expect("the client works once Redis is back");
    let pong: String = redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .expect("PING");
    assert_eq!(pong, "PONG");
}
