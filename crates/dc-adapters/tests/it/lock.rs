//! The provisioning lock: exclusive, waits up to its timeout, released on drop.

use std::time::{Duration, Instant};

use dc_adapters::Error;
use dc_adapters::lock::ProvisionLock;

#[test]
fn second_holder_waits_then_gives_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("linbo-provision.lock");
    let first = ProvisionLock::acquire(&path, Duration::from_secs(1)).expect("first lock");
    let start = Instant::now();
    let error = ProvisionLock::acquire(&path, Duration::from_millis(300)).unwrap_err();
    assert!(matches!(error, Error::LockTimeout { .. }), "{error:?}");
    assert!(start.elapsed() >= Duration::from_millis(300));
    drop(first);
    let again = ProvisionLock::acquire(&path, Duration::from_millis(300)).expect("free again");
    assert_eq!(again.path(), path);
}

#[test]
fn waiting_holder_gets_the_lock_when_released() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("linbo-provision.lock");
    let first = ProvisionLock::acquire(&path, Duration::from_secs(1)).expect("first lock");
    let waiter = {
        let path = path.clone();
        std::thread::spawn(move || {
            ProvisionLock::acquire(&path, Duration::from_secs(10)).map(|_| ())
        })
    };
    std::thread::sleep(Duration::from_millis(250));
    drop(first);
    waiter
        .join()
        .expect("waiter thread")
        .expect("lock after release");
}
