//! Redis over TLS and with an ACL user: the worker against a TLS-only `redis-server` whose
//! certificate a private CA signed (`REDIS_CA_FILE`), and what the administrator sees when the
//! CA or the password is wrong.

use std::time::Duration;

use dc_testkit::{RedisServer, TestCa};

use crate::support::{Harness, PATIENCE, create};

/// Where the tests put the CA file, as the DC names it (under the sandbox root).
const CA_FILE: &str = "/etc/linbo-dc/redis-ca.pem";

/// A harness whose worker reaches `redis` (TLS-only) as ACL user `linbo-dc` with `password`,
/// trusting the CA in `CA_FILE` (which the caller writes).
async fn tls_harness(redis: RedisServer, password: &str) -> Harness {
    let extra = format!(
        "REDIS_URL=rediss://linbo-dc:{password}@127.0.0.1:{}/0\nREDIS_CA_FILE={CA_FILE}\n",
        redis.port()
    );
    Harness::with_redis(redis, &extra).await
}

/// A TLS-only server with the ACL user `linbo-dc` (password `acl-pw-1`) limited to the keys
/// `linbo:*`, as the README advises.
fn tls_redis() -> RedisServer {
    let redis = RedisServer::start_tls();
    redis.acl_setuser("linbo-dc", &["on", ">acl-pw-1", "~linbo:*", "+@all"]);
    redis
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_handles_jobs_over_tls_as_an_acl_user() {
    let mut harness = tls_harness(tls_redis(), "acl-pw-1").await;
    let ca = harness.redis.ca().expect("a TLS server").cert_pem();
    harness.dc.write(CA_FILE, &ca);
    harness.start_worker();

    let id = harness.provision(
        "default-school",
        create("r200-pc01", "00:1a:2b:3c:20:01", "10.0.200.1"),
    );
    harness.completed(&[&id]).await;
    harness.drained().await;
    assert!(
        harness.dc.master("default-school").contains("r200-pc01"),
        "the job reached devices.csv"
    );
    let users = harness.redis.client_users();
    assert!(
        users.iter().any(|user| user == "linbo-dc"),
        "the worker is connected as its ACL user: {users:?}"
    );
    assert!(
        !users
            .iter()
            .any(|user| user != "linbo-dc" && user != "default"),
        "{users:?}"
    );

    let status = harness.stop_worker();
    assert_eq!(status.code(), Some(0), "{}", harness.logs());
    assert!(
        !harness.logs().contains("NOPERM"),
        "the keys linbo:* are all the worker needs\n{}",
        harness.logs()
    );
    assert!(
        !harness.logs().contains("acl-pw-1"),
        "the password never reaches the log\n{}",
        harness.logs()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_that_did_not_sign_the_servers_certificate_stops_the_worker_naming_the_file() {
    let mut harness = tls_harness(tls_redis(), "acl-pw-1").await;
    let other_ca = TestCa::new("a CA the server does not use");
    harness.dc.write(CA_FILE, &other_ca.cert_pem());
    harness.start_worker();

    let status = harness.wait_for_exit(PATIENCE);
    let logs = harness.logs();
    assert_eq!(status.code(), Some(78), "{logs}");
    let ca_path = harness.dc.root().join(CA_FILE.trim_start_matches('/'));
    let expected = format!(
        "linbo-dc-worker: invalid configuration: REDIS_CA_FILE: the TLS certificate of the Redis \
         server at rediss://linbo-dc:***@127.0.0.1:{port}/0 is not signed by the CA in {ca} \
         (invalid peer certificate: UnknownIssuer); check that {ca} holds the CA \
         certificate that signed the server's certificate (on the Docker host: the CA of \
         redis.conf's tls-cert-file)",
        port = harness.redis.port(),
        ca = ca_path.display()
    );
    assert!(logs.contains(&expected), "expected {expected}\nin\n{logs}");
    assert_eq!(
        harness
            .redis
            .pending_summary("linbo:jobs", "dc-workers")
            .count,
        0,
        "nothing was read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_stops_the_worker_naming_the_user() {
    let mut harness = tls_harness(tls_redis(), "not-the-password").await;
    let ca = harness.redis.ca().expect("a TLS server").cert_pem();
    harness.dc.write(CA_FILE, &ca);
    harness.start_worker();

    let status = harness.wait_for_exit(PATIENCE);
    let logs = harness.logs();
    assert_eq!(status.code(), Some(78), "{logs}");
    let expected = format!(
        "linbo-dc-worker: invalid configuration: REDIS_URL: Redis at \
         rediss://linbo-dc:***@127.0.0.1:{}/0 refused the ACL user \"linbo-dc\" with this \
         password",
        harness.redis.port()
    );
    assert!(logs.contains(&expected), "expected {expected}\nin\n{logs}");
    assert!(!logs.contains("not-the-password"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_ca_file_is_a_configuration_error() {
    let mut harness = tls_harness(tls_redis(), "acl-pw-1").await;
    harness.start_worker();
    let status = harness.wait_for_exit(Duration::from_secs(30));
    let logs = harness.logs();
    assert_eq!(status.code(), Some(78), "{logs}");
    assert!(
        logs.contains("REDIS_CA_FILE: reading the CA file ")
            && logs.contains("redis-ca.pem: No such file or directory"),
        "{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_ca_file_the_systems_ca_store_decides() {
    let redis = tls_redis();
    let extra = format!(
        "REDIS_URL=rediss://linbo-dc:acl-pw-1@127.0.0.1:{}/0\n",
        redis.port()
    );
    let mut harness = Harness::with_redis(redis, &extra).await;
    // SSL_CERT_FILE stands in for /etc/ssl/certs/ca-certificates.crt (rustls-native-certs
    // reads it instead), so the test touches no system file.
    let ca = harness.redis.ca().expect("a TLS server").cert_pem();
    harness.dc.write("/etc/ssl/certs/ca-certificates.crt", &ca);
    let store = harness.dc.root().join("etc/ssl/certs/ca-certificates.crt");
    harness.start_worker_with_env(&[("SSL_CERT_FILE", store.to_str().expect("UTF-8 path"))]);

    let id = harness.provision(
        "default-school",
        create("r200-pc02", "00:1a:2b:3c:20:02", "10.0.200.2"),
    );
    harness.completed(&[&id]).await;
    let status = harness.stop_worker();
    assert_eq!(status.code(), Some(0), "{}", harness.logs());
}
