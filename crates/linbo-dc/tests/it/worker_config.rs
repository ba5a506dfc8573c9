//! The worker's configuration: the predecessor's file, defaults, environment precedence,
//! `{school}` expansion, `LINBO_DOMAIN=auto`, error messages and redaction.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use linbo_dc::conf_file::ConfFile;
use linbo_dc::paths::{Root, School};
use linbo_dc::worker::config::{KEYS, RawConfig, SambaToolAuth, Settings, Sources};

const CONFIG: &str = "/etc/macct-worker.conf";

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn env_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

/// Loads `text` as `/etc/macct-worker.conf` with `env`, host name `dc01`, under `root`.
fn load_in(root: &Root, text: &str, env: &[(&str, &str)]) -> Result<Settings, String> {
    let file = ConfFile::parse(Path::new(CONFIG), text).map_err(|error| error.to_string())?;
    let env = env_of(env);
    Settings::load(&Sources {
        file: &file,
        env: &env,
        host_name: "dc01",
        root,
    })
    .map_err(|error| error.to_string())
}

fn load(text: &str, env: &[(&str, &str)]) -> Result<Settings, String> {
    load_in(&Root::system(), text, env)
}

fn effective_value(settings: &Settings, key: &str) -> String {
    settings
        .effective()
        .into_iter()
        .find(|(name, _)| *name == key)
        .map(|(_, value)| value)
        .unwrap_or_else(|| panic!("{key} is missing from effective()"))
}

/// Loads `text` with `env` and compares the effective value of `key` (or the error).
#[track_caller]
fn check(text: &str, env: &[(&str, &str)], key: &str, expect: &str) {
    let actual = match load(text, env) {
        Ok(settings) => effective_value(&settings, key),
        Err(error) => format!("error: {error}"),
    };
    assert_eq!(actual, expect, "text {text:?}, env {env:?}");
}

/// The message refusing `text` with the sandbox `dir` as root, the sandbox's path written
/// `<root>`.
fn refused_in(dir: &tempfile::TempDir, text: &str) -> String {
    load_in(&Root::new(dir.path()), text, &[])
        .expect_err("refused")
        .replace(&dir.path().display().to_string(), "<root>")
}

/// A sandbox root with `files` (DC path → content).
fn sandbox(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (path, content) in files {
        let path = dir.path().join(path.trim_start_matches('/'));
        fs::create_dir_all(path.parent().expect("files live in directories"))
            .expect("create the sandbox directory");
        fs::write(path, content).expect("write the sandbox file");
    }
    dir
}

#[test]
fn predecessor_config_parses_unchanged() {
    let text = fs::read_to_string(repo_file("fixtures/config/predecessor-macct-worker.conf"))
        .expect("the fixture");
    let dir = sandbox(&[(
        "/var/lib/linuxmuster/setup.ini",
        "[setup]\nservername = server\ndomainname = linuxmuster.lan\n",
    )]);
    let root = Root::new(dir.path());
    let settings = load_in(&root, &text, &[]).expect("the predecessor's file is valid");
    let sandbox = dir.path().display().to_string();
    let rendered = settings.to_string().replace(&sandbox, "<root>");
    assert_eq!(
        rendered,
        "\
REDIS_HOST=10.0.0.13
REDIS_PORT=6379
REDIS_PASSWORD=***
REDIS_DB=0
REDIS_URL=redis://:***@10.0.0.13:6379/0
REDIS_CA_FILE=
API_URL=http://10.0.0.13:3000/api/v1
API_KEY=***
CONSUMER_NAME=server
LOG_DIR=<root>/var/log/macct
REPAIR_SCRIPT=<root>/usr/share/linuxmuster/linbo/repair_macct.py
SCHOOL=default-school
DEVICES_CSV_MASTER=<root>/etc/linuxmuster/sophomorix/default-school/devices.csv
DEVICES_CSV_DELTA=<root>/etc/linuxmuster/sophomorix/default-school/linbo-docker.devices.csv
IMPORT_SCRIPT=<root>/usr/sbin/linuxmuster-import-devices
PROVISION_LOCK_FILE=<root>/var/lock/linbo-provision.lock
LINBO_DOMAIN=linuxmuster.lan (auto, from /var/lib/linuxmuster/setup.ini)
DHCP_VERIFY_FILE=<root>/etc/dhcp/devices/default-school.conf
SAMBA_TOOL_AUTH=
SAMBA_TOOL_AUTH_FILE=
SAMBA_DNS_SERVER=localhost
DNS_SERVER=the nameserver of /etc/resolv.conf
REV_DNS_OCTETS=3
PROVISION_BATCH_SIZE=50
PROVISION_DEBOUNCE_SEC=5
STATE_DIR=<root>/var/lib/linbo-dc
OUTBOX_DIR=<root>/var/lib/linbo-dc/outbox
IMPORT_TIMEOUT_SEC=600
COMMAND_TIMEOUT_SEC=120
VERIFY_TIMEOUT_SEC=60
VERIFY_CONCURRENCY=8
MACCT_CONCURRENCY=2
MACCT_RETRY_BACKOFF_SEC=10
CLAIM_MIN_IDLE_SEC=2400
CLAIM_INTERVAL_SEC=30
MAX_DELIVERIES=5
API_TIMEOUT_SEC=10
LOCK_TIMEOUT_SEC=120
SOPHOMORIX_PRECHECK=true
ADOPT_MANUAL_HOSTS=false
DEFAULT_ROOM=unknown
HEARTBEAT_INTERVAL_SEC=10
HEARTBEAT_TTL_SEC=30
STREAM_RETENTION_SEC=604800
DLQ_MAXLEN=10000
"
    );
    assert_eq!(settings.api_key.expose(), "9f8e7d6c5b4a-internal");
    let password = settings.redis.password.as_ref().expect("a password");
    assert_eq!(password.expose(), "Redis pass#1");
    assert_eq!(
        settings.redis.url().expose(),
        "redis://:Redis%20pass%231@10.0.0.13:6379/0"
    );
    assert_eq!(settings.samba_tool_auth, SambaToolAuth::None);
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}

#[test]
fn defaults() {
    let settings = load("", &[]).expect("an empty file is valid");
    insta::assert_snapshot!("effective_defaults", settings.to_string());
    assert_eq!(settings.consumer_name, "dc01", "the host name");
    assert_eq!(
        settings.warnings,
        [
            "API_KEY is LINBO Docker's public default key: anyone who can reach the API can use \
          its internal endpoints; set the same new API_KEY here and in the API"
        ]
    );
    assert!(settings.uses_default_api_key());
    assert!(
        !load("API_KEY=k\n", &[])
            .expect("valid")
            .uses_default_api_key()
    );
}

#[test]
fn values() {
    check(
        "REDIS_URL=rediss://:pw@redis.lan:6380/2\n",
        &[],
        "REDIS_URL",
        "rediss://:***@redis.lan:6380/2",
    );
    check(
        "REDIS_URL=rediss://:pw@redis.lan:6380/2\n",
        &[],
        "REDIS_HOST",
        "redis.lan",
    );
    check(
        "REDIS_URL=redis://[::1]\n",
        &[],
        "REDIS_URL",
        "redis://[::1]:6379/0",
    );
    check("REDIS_HOST=::1\n", &[], "REDIS_URL", "redis://[::1]:6379/0");
    check(
        "API_URL=https://linbo.schule.lan/api/v1/\n",
        &[],
        "API_URL",
        "https://linbo.schule.lan/api/v1",
    );
    check(
        "API_URL=http://[fd00::13]:3000/api/v1\n",
        &[],
        "API_URL",
        "http://[fd00::13]:3000/api/v1",
    );
    check(
        "LINBO_DOMAIN=Schule.LAN\n",
        &[],
        "LINBO_DOMAIN",
        "schule.lan",
    );
    check(
        "SOPHOMORIX_PRECHECK=yes\n",
        &[],
        "SOPHOMORIX_PRECHECK",
        "true",
    );
    check(
        "SOPHOMORIX_PRECHECK=Off\n",
        &[],
        "SOPHOMORIX_PRECHECK",
        "false",
    );
    check("OUTBOX_DIR=/srv/outbox\n", &[], "OUTBOX_DIR", "/srv/outbox");
    check(
        "STATE_DIR=/srv/linbo-dc\n",
        &[],
        "OUTBOX_DIR",
        "/srv/linbo-dc/outbox",
    );
    check(
        "PROVISION_DEBOUNCE_SEC=0\n",
        &[],
        "PROVISION_DEBOUNCE_SEC",
        "0",
    );
    check("REV_DNS_OCTETS=2\n", &[], "REV_DNS_OCTETS", "2");
    check("CLAIM_INTERVAL_SEC=60\n", &[], "CLAIM_INTERVAL_SEC", "60");
    check("DEFAULT_ROOM=r-100\n", &[], "DEFAULT_ROOM", "r-100");
    check(
        "CONSUMER_NAME=dc-gym.schule.lan\n",
        &[],
        "CONSUMER_NAME",
        "dc-gym.schule.lan",
    );
    check(
        "SAMBA_TOOL_AUTH=administrator%Muster!\n",
        &[],
        "SAMBA_TOOL_AUTH",
        "***",
    );
    check(
        "SAMBA_DNS_SERVER=10.0.0.1\n",
        &[],
        "SAMBA_DNS_SERVER",
        "10.0.0.1",
    );
    check(
        "SAMBA_DNS_SERVER=Server.LAN\n",
        &[],
        "SAMBA_DNS_SERVER",
        "server.lan",
    );
    check("", &[], "SAMBA_DNS_SERVER", "localhost");
    check("DHCP_VERIFY_FILE=\n", &[], "DHCP_VERIFY_FILE", "");
    check("REDIS_PORT=\n", &[], "REDIS_PORT", "6379");
}

#[test]
fn environment_overrides_the_file() {
    check(
        "REDIS_HOST=a.lan\n",
        &[("REDIS_HOST", "b.lan")],
        "REDIS_HOST",
        "b.lan",
    );
    check(
        "REDIS_HOST=a.lan\n",
        &[("PATH", "/usr/bin")],
        "REDIS_HOST",
        "a.lan",
    );
    check("", &[("MACCT_CONCURRENCY", "4")], "MACCT_CONCURRENCY", "4");
    check(
        "SCHOOL=gym\n",
        &[("SCHOOL", "")],
        "SCHOOL",
        "default-school",
    );
    check(
        "REDIS_URL=redis://a.lan\n",
        &[("REDIS_URL", "redis://b.lan:7000")],
        "REDIS_URL",
        "redis://b.lan:7000/0",
    );
    // The environment fills {school} as the file does.
    check(
        "DEVICES_CSV_DELTA=/srv/{school}/delta.csv\n",
        &[("SCHOOL", "gym")],
        "DEVICES_CSV_DELTA",
        "/srv/gym/delta.csv",
    );
    let settings = load("", &[("HOME", "/root"), ("LANG", "C.UTF-8")]).expect("valid");
    assert_eq!(
        settings.warnings.len(),
        1,
        "only the API key: {:?}",
        settings.warnings
    );
}

#[test]
fn consumer_name_defaults_to_the_host_name() {
    let file = ConfFile::parse(Path::new(CONFIG), "").expect("valid");
    let env = HashMap::new();
    let root = Root::system();
    let load_with = |host_name: &str| {
        Settings::load(&Sources {
            file: &file,
            env: &env,
            host_name,
            root: &root,
        })
        .map(|settings| settings.consumer_name)
        .map_err(|error| error.to_string())
    };
    assert_eq!(load_with("server\n"), Ok("server".to_owned()));
    assert_eq!(
        load_with(""),
        Err(
            "/etc/macct-worker.conf, CONSUMER_NAME: not set, and the host name cannot be used: \
             expected 1 to 128 letters, digits, '.', '-', '_', '@' or ':', found \"\""
                .to_owned()
        )
    );
}

/// A samba authentication file as an administrator writes it.
const AUTH_FILE: (&str, &str) = (
    "/etc/samba.auth",
    "username = global-admin\npassword = Muster!\n",
);

#[test]
fn the_samba_authentication_file_is_read_at_start() {
    let dir = sandbox(&[AUTH_FILE, ("/etc/broken.auth", "username=admin\n")]);
    let root = Root::new(dir.path());
    let settings = load_in(&root, "SAMBA_TOOL_AUTH_FILE=/etc/samba.auth\n", &[]).expect("valid");
    assert_eq!(
        effective_value(&settings, "SAMBA_TOOL_AUTH_FILE"),
        dir.path().join("etc/samba.auth").display().to_string()
    );
    let error = |text: &str| refused_in(&dir, text);
    assert_eq!(
        error("SAMBA_TOOL_AUTH_FILE=/etc/missing.auth\n"),
        "/etc/macct-worker.conf, line 1, SAMBA_TOOL_AUTH_FILE: reading the samba authentication \
         file <root>/etc/missing.auth: No such file or directory (os error 2)"
    );
    assert_eq!(
        error("SAMBA_TOOL_AUTH_FILE=/etc\n"),
        "/etc/macct-worker.conf, line 1, SAMBA_TOOL_AUTH_FILE: reading the samba authentication \
         file <root>/etc: Is a directory (os error 21)"
    );
    assert_eq!(
        error("SAMBA_TOOL_AUTH_FILE=/etc/broken.auth\n"),
        "/etc/macct-worker.conf, line 1, SAMBA_TOOL_AUTH_FILE: unusable samba authentication \
         file <root>/etc/broken.auth: no password= line"
    );
}

#[test]
fn the_redis_ca_file_is_read_at_start() {
    let ca = dc_testkit::TestCa::new("worker_config test CA");
    let dir = sandbox(&[
        ("/etc/linbo-dc/redis-ca.pem", &ca.cert_pem()),
        ("/etc/linbo-dc/empty.pem", "# no certificate here\n"),
        (
            "/etc/linbo-dc/broken.pem",
            "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
        ),
    ]);
    let root = Root::new(dir.path());
    let settings = load_in(
        &root,
        "REDIS_URL=rediss://linbo-dc:pw@redis.lan:6380/0\nREDIS_CA_FILE=/etc/linbo-dc/redis-ca.pem\n",
        &[],
    )
    .expect("valid");
    let ca_file = settings.redis.ca_file.as_ref().expect("a CA file");
    assert_eq!(ca_file.path(), dir.path().join("etc/linbo-dc/redis-ca.pem"));
    assert_eq!(ca_file.pem(), ca.cert_pem().as_bytes());
    assert_eq!(ca_file.certificates(), 1);
    assert_eq!(
        effective_value(&settings, "REDIS_CA_FILE"),
        dir.path()
            .join("etc/linbo-dc/redis-ca.pem")
            .display()
            .to_string()
    );
    assert!(
        !settings
            .warnings
            .iter()
            .any(|warning| warning.contains("REDIS_CA_FILE")),
        "{:?}",
        settings.warnings
    );

    // Without TLS the file is still checked, and its uselessness is a warning.
    let plain = load_in(
        &root,
        "REDIS_URL=redis://r.lan\nREDIS_CA_FILE=/etc/linbo-dc/redis-ca.pem\n",
        &[],
    )
    .expect("valid");
    assert!(
        plain.warnings.contains(
            &"REDIS_CA_FILE is set, but the Redis connection does not use TLS (only \
              REDIS_URL=rediss://... does): the CA file has no effect"
                .to_owned()
        ),
        "{:?}",
        plain.warnings
    );

    let error = |text: &str| refused_in(&dir, text);
    assert_eq!(
        error("REDIS_URL=rediss://r.lan\nREDIS_CA_FILE=/etc/linbo-dc/missing.pem\n"),
        "/etc/macct-worker.conf, line 2, REDIS_CA_FILE: reading the CA file \
         <root>/etc/linbo-dc/missing.pem: No such file or directory (os error 2)"
    );
    assert_eq!(
        error("REDIS_CA_FILE=/etc/linbo-dc\n"),
        "/etc/macct-worker.conf, line 1, REDIS_CA_FILE: reading the CA file <root>/etc/linbo-dc: \
         Is a directory (os error 21)"
    );
    assert_eq!(
        error("REDIS_CA_FILE=/etc/linbo-dc/empty.pem\n"),
        "/etc/macct-worker.conf, line 1, REDIS_CA_FILE: the CA file <root>/etc/linbo-dc/empty.pem \
         holds no certificate; expected the CA certificate that signed the Redis server's \
         certificate, in PEM (-----BEGIN CERTIFICATE-----)"
    );
    let broken = error("REDIS_CA_FILE=/etc/linbo-dc/broken.pem\n");
    assert!(
        broken.starts_with(
            "/etc/macct-worker.conf, line 1, REDIS_CA_FILE: the CA file \
             <root>/etc/linbo-dc/broken.pem is not a valid PEM file: "
        ),
        "{broken}"
    );
    assert_eq!(
        error("REDIS_CA_FILE=etc/ca.pem\n"),
        "/etc/macct-worker.conf, line 1, REDIS_CA_FILE: expected an absolute path, found \
         \"etc/ca.pem\""
    );
}

#[test]
fn warnings() {
    let dir = sandbox(&[AUTH_FILE]);
    let settings = load_in(
        &Root::new(dir.path()),
        "API_KEY=k\nREDIS_URL=redis://r.lan\nREDIS_HOST=x\nREDIS_DB=1\nMACCT_WORKERS=3\n\
         SAMBA_TOOL_AUTH=admin%pw\nSAMBA_TOOL_AUTH_FILE=/etc/samba.auth\nCLAIM_MIN_IDLE_SEC=300\n",
        &[],
    )
    .expect("valid");
    assert_eq!(
        settings.warnings,
        [
            "/etc/macct-worker.conf, line 5: unknown key MACCT_WORKERS ignored",
            "REDIS_URL is set, so REDIS_HOST, REDIS_DB are ignored",
            "SAMBA_TOOL_AUTH and SAMBA_TOOL_AUTH_FILE are both set: SAMBA_TOOL_AUTH is ignored, \
             the authentication file is used",
            "CLAIM_MIN_IDLE_SEC (300) is not above LOCK_TIMEOUT_SEC + 3 × IMPORT_TIMEOUT_SEC + \
             VERIFY_TIMEOUT_SEC (1980): another worker may claim the entries of a batch that is \
             still running",
        ]
    );
    assert_eq!(
        settings.samba_tool_auth,
        SambaToolAuth::File(dir.path().join("etc/samba.auth"))
    );
}

/// Every order of `lines` gives the same settings.
#[track_caller]
fn check_any_order(lines: &[&str]) -> Settings {
    let mut lines = lines.to_vec();
    let first = load(&lines.join("\n"), &[]).expect("valid");
    // Heap's algorithm, iterative: every permutation once.
    let mut counters = vec![0; lines.len()];
    let mut index = 0;
    while index < lines.len() {
        if counters[index] < index {
            let other = if index % 2 == 0 { 0 } else { counters[index] };
            lines.swap(other, index);
            let settings = load(&lines.join("\n"), &[]).expect("valid");
            assert_eq!(settings, first, "order {lines:?}");
            counters[index] += 1;
            index = 0;
        } else {
            counters[index] = 0;
            index += 1;
        }
    }
    first
}

#[test]
fn school_placeholders_do_not_depend_on_line_order() {
    let settings = check_any_order(&[
        "DEVICES_CSV_DELTA=/srv/{school}/delta.csv",
        "LOG_DIR=/var/log/macct/{school}",
        "SCHOOL=gym",
        "DHCP_VERIFY_FILE=/etc/dhcp/devices/{school}.conf",
        "STATE_DIR=/var/lib/linbo-dc/{school}",
    ]);
    assert_eq!(settings.log_dir, Path::new("/var/log/macct/gym"));
    assert_eq!(
        settings.outbox_dir,
        Path::new("/var/lib/linbo-dc/gym/outbox")
    );
    let rs: School = "realschule".parse().expect("valid");
    assert_eq!(
        settings.devices_csv_delta(&rs),
        Path::new("/srv/realschule/delta.csv")
    );
    assert_eq!(
        settings.dhcp_verify_file(&rs),
        Some(PathBuf::from("/etc/dhcp/devices/realschule.conf"))
    );
}

/// The master, delta and DHCP file of `school` with the settings of `text`.
#[track_caller]
fn check_school_files(text: &str, school: &str, expect: [&str; 3]) {
    let settings = load(text, &[]).expect("valid");
    let school: School = school.parse().expect("valid");
    let dhcp = settings.dhcp_verify_file(&school);
    let actual = [
        settings.devices_csv_master(&school).display().to_string(),
        settings.devices_csv_delta(&school).display().to_string(),
        dhcp.map(|path| path.display().to_string())
            .unwrap_or_default(),
    ];
    assert_eq!(actual, expect.map(str::to_owned), "text {text:?}");
}

#[test]
fn per_school_device_files() {
    check_school_files(
        "",
        "default-school",
        [
            "/etc/linuxmuster/sophomorix/default-school/devices.csv",
            "/etc/linuxmuster/sophomorix/default-school/linbo-docker.devices.csv",
            "",
        ],
    );
    check_school_files(
        "DHCP_VERIFY_FILE=/etc/dhcp/devices/{school}.conf\n",
        "gymnasium",
        [
            "/etc/linuxmuster/sophomorix/gymnasium/gymnasium.devices.csv",
            "/etc/linuxmuster/sophomorix/gymnasium/linbo-docker.devices.csv",
            "/etc/dhcp/devices/gymnasium.conf",
        ],
    );
    // The predecessor wrote the default school's path literally: it stays as written.
    check_school_files(
        "DEVICES_CSV_MASTER=/etc/linuxmuster/sophomorix/default-school/devices.csv\n",
        "default-school",
        [
            "/etc/linuxmuster/sophomorix/default-school/devices.csv",
            "/etc/linuxmuster/sophomorix/default-school/linbo-docker.devices.csv",
            "",
        ],
    );
    check_school_files(
        "DEVICES_CSV_MASTER=/srv/csv/{school}.csv\nDEVICES_CSV_DELTA=/srv/csv/{school}.delta\n",
        "gs",
        ["/srv/csv/gs.csv", "/srv/csv/gs.delta", ""],
    );
}

#[test]
fn paths_resolve_inside_the_root() {
    let dir = sandbox(&[AUTH_FILE]);
    let root = Root::new(dir.path());
    let settings = load_in(&root, "SAMBA_TOOL_AUTH_FILE=/etc/samba.auth\n", &[]).expect("valid");
    let gym: School = "gym".parse().expect("valid");
    assert_eq!(
        settings.devices_csv_master(&gym),
        dir.path()
            .join("etc/linuxmuster/sophomorix/gym/gym.devices.csv")
    );
    assert_eq!(settings.state_dir, dir.path().join("var/lib/linbo-dc"));
    assert_eq!(
        settings.samba_tool_auth,
        SambaToolAuth::File(dir.path().join("etc/samba.auth"))
    );
}

/// `LINBO_DOMAIN=auto` in a sandbox holding `files`: the domain shown, or the error.
#[track_caller]
fn check_auto_domain(files: &[(&str, &str)], expect: &str) {
    let dir = sandbox(files);
    let actual = match load_in(&Root::new(dir.path()), "LINBO_DOMAIN=auto\n", &[]) {
        Ok(settings) => effective_value(&settings, "LINBO_DOMAIN"),
        Err(error) => format!("error: {error}"),
    };
    assert_eq!(actual, expect, "files {files:?}");
}

#[test]
fn linbo_domain_auto() {
    const SETUP: (&str, &str) = (
        "/var/lib/linuxmuster/setup.ini",
        "[setup]\nadminpw = Muster!\ndomainname = schule.lan\nsambadomain = SCHULE\n",
    );
    const SMB: (&str, &str) = (
        "/etc/samba/smb.conf",
        "# Global parameters\n[global]\n\tnetbios name = SERVER\n\trealm = LINUXMUSTER.LAN\n\tworkgroup = LINUXMUSTER\n",
    );
    check_auto_domain(
        &[SETUP],
        "schule.lan (auto, from /var/lib/linuxmuster/setup.ini)",
    );
    check_auto_domain(&[SMB], "linuxmuster.lan (auto, from /etc/samba/smb.conf)");
    check_auto_domain(
        &[SETUP, SMB],
        "schule.lan (auto, from /var/lib/linuxmuster/setup.ini)",
    );
    check_auto_domain(
        &[
            (
                "/var/lib/linuxmuster/setup.ini",
                "[setup]\nservername = server\n",
            ),
            SMB,
        ],
        "linuxmuster.lan (auto, from /etc/samba/smb.conf)",
    );
    check_auto_domain(
        &[],
        "error: /etc/macct-worker.conf, line 1, LINBO_DOMAIN: auto found no domain \
         (/var/lib/linuxmuster/setup.ini does not exist; /etc/samba/smb.conf does not exist); \
         set LINBO_DOMAIN to the school network's DNS domain",
    );
    check_auto_domain(
        &[
            (
                "/var/lib/linuxmuster/setup.ini",
                "[setup]\ndomainname = bad_name\n",
            ),
            ("/etc/samba/smb.conf", "[global]\nworkgroup = X\n"),
        ],
        "error: /etc/macct-worker.conf, line 1, LINBO_DOMAIN: auto found no domain \
         (/var/lib/linuxmuster/setup.ini [setup] domainname: expected a DNS domain name like \
         linuxmuster.lan, or auto, found \"bad_name\"; /etc/samba/smb.conf has no [global] realm); \
         set LINBO_DOMAIN to the school network's DNS domain",
    );
}

/// The error for `text` with `env`, snapshotted under `name`.
#[track_caller]
fn check_error(name: &str, text: &str, env: &[(&str, &str)]) {
    let message = match load(text, env) {
        Ok(_) => panic!("{name}: expected an error for {text:?} with {env:?}"),
        Err(message) => message,
    };
    insta::assert_snapshot!(name, format!("{text}env: {env:?}\n---\n{message}"));
}

#[test]
fn bad_values_are_located_errors() {
    check_error(
        "port_with_space",
        "REDIS_HOST=localhost\nREDIS_PORT=63 79\n",
        &[],
    );
    check_error("port_with_letters", "REDIS_PORT=6379a\n", &[]);
    check_error("port_zero", "REDIS_PORT=0\n", &[]);
    check_error(
        "port_from_environment",
        "REDIS_PORT=6379\n",
        &[("REDIS_PORT", "redis")],
    );
    check_error("redis_db_negative", "REDIS_DB=-1\n", &[]);
    check_error("redis_host_url", "REDIS_HOST=redis://10.0.0.13\n", &[]);
    check_error(
        "redis_url_scheme",
        "REDIS_URL=http://:secret@10.0.0.13\n",
        &[],
    );
    check_error(
        "redis_url_bad_port",
        "REDIS_URL=redis://:secret@10.0.0.13:port\n",
        &[],
    );
    check_error(
        "api_url_without_scheme",
        "API_URL=10.0.0.13:3000/api/v1\n",
        &[],
    );
    check_error(
        "api_url_bad_port",
        "API_URL=http://10.0.0.13:99999/api/v1\n",
        &[],
    );
    check_error(
        "api_url_credentials",
        "API_URL=http://user:pw@10.0.0.13/api/v1\n",
        &[],
    );
    check_error("school_path", "SCHOOL=../etc\n", &[]);
    check_error(
        "unknown_placeholder",
        "DEVICES_CSV_DELTA=/srv/{schule}/delta.csv\n",
        &[],
    );
    check_error("relative_path", "LOG_DIR=var/log/macct\n", &[]);
    check_error("domain", "LINBO_DOMAIN=linuxmuster_lan\n", &[]);
    check_error("rev_dns_octets", "REV_DNS_OCTETS=4\n", &[]);
    check_error("batch_size_zero", "PROVISION_BATCH_SIZE=0\n", &[]);
    check_error("seconds_negative", "IMPORT_TIMEOUT_SEC=-5\n", &[]);
    check_error("seconds_unit", "PROVISION_DEBOUNCE_SEC=5s\n", &[]);
    check_error("claim_interval", "CLAIM_INTERVAL_SEC=120\n", &[]);
    check_error("max_deliveries_zero", "", &[("MAX_DELIVERIES", "0")]);
    check_error(
        "heartbeat_ttl",
        "HEARTBEAT_INTERVAL_SEC=30\nHEARTBEAT_TTL_SEC=30\n",
        &[],
    );
    check_error("precheck_bool", "SOPHOMORIX_PRECHECK=maybe\n", &[]);
    check_error("default_room", "DEFAULT_ROOM=\"room 1\"\n", &[]);
    check_error("consumer_name", "CONSUMER_NAME=\"dc 1\"\n", &[]);
    check_error("shell_expansion", "API_KEY=$(cat /etc/linbo/key)\n", &[]);
    check_error(
        "samba_tool_auth_without_password",
        "SAMBA_TOOL_AUTH=administrator\n",
        &[],
    );
    check_error("not_key_value", "REDIS_HOST localhost\n", &[]);
    check_error("samba_dns_server_option", "SAMBA_DNS_SERVER=-H\n", &[]);
    check_error("dns_server_name", "DNS_SERVER=dc.linuxmuster.lan\n", &[]);
    check_error(
        "samba_dns_server_space",
        "SAMBA_DNS_SERVER=\"10.0.0.1 x\"\n",
        &[],
    );
}

#[test]
fn secrets_are_redacted() {
    let secrets = ["api-key-1234", "redis-pw-5678", "samba-pw-9012"];
    let cases = [
        "API_KEY=api-key-1234\nREDIS_PASSWORD=redis-pw-5678\nSAMBA_TOOL_AUTH=admin%samba-pw-9012\n",
        "API_KEY=api-key-1234\nREDIS_URL=rediss://worker:redis-pw-5678@r.lan/1\n\
         SAMBA_TOOL_AUTH=admin%samba-pw-9012\nSAMBA_TOOL_AUTH_FILE=/etc/samba.auth\n",
    ];
    for text in cases {
        let file = ConfFile::parse(Path::new(CONFIG), text).expect("valid");
        let env = HashMap::new();
        let raw = RawConfig::collect(&file, &env);
        let dir = sandbox(&[AUTH_FILE]);
        let settings = Settings::validate(&raw, "dc01", &Root::new(dir.path())).expect("valid");
        let outputs = [
            format!("{settings:?}"),
            format!("{settings:#?}"),
            settings.to_string(),
            format!("{:?}", settings.effective()),
            format!("{:?}", settings.warnings),
            format!("{raw:?}"),
            format!("{:?}", KEYS.map(|key| raw.get(key))),
            format!("{:?}", settings.redis),
            settings.redis.redacted_url(),
        ];
        for output in outputs {
            for secret in secrets {
                assert!(!output.contains(secret), "{secret} in {output}");
            }
        }
        assert!(settings.to_string().contains("API_KEY=***"));
    }
    // Error messages do not repeat a REDIS_URL, which may hold a password.
    for url in [
        "redis://:redis-pw-5678@host:port",
        "http://:redis-pw-5678@host",
        "redis://:redis-pw-5678@bad host",
    ] {
        let error = load(&format!("REDIS_URL=\"{url}\"\n"), &[]).expect_err("invalid");
        assert!(!error.contains("redis-pw-5678"), "{error}");
    }
}

#[test]
fn stream_retention_and_dead_letter_cap() {
    check("", &[], "STREAM_RETENTION_SEC", "604800");
    check(
        "STREAM_RETENTION_SEC=\n",
        &[],
        "STREAM_RETENTION_SEC",
        "604800",
    );
    check("STREAM_RETENTION_SEC=0\n", &[], "STREAM_RETENTION_SEC", "0");
    check(
        "STREAM_RETENTION_SEC=31536000\n",
        &[],
        "STREAM_RETENTION_SEC",
        "31536000",
    );
    check(
        "STREAM_RETENTION_SEC=31536001\n",
        &[],
        "STREAM_RETENTION_SEC",
        "error: /etc/macct-worker.conf, line 1, STREAM_RETENTION_SEC: expected a whole number of \
         seconds 0..=31536000 (0: never trim), found \"31536001\"",
    );
    check("", &[], "DLQ_MAXLEN", "10000");
    check("DLQ_MAXLEN=0\n", &[], "DLQ_MAXLEN", "0");
    check("", &[("DLQ_MAXLEN", "250")], "DLQ_MAXLEN", "250");
    check(
        "DLQ_MAXLEN=-1\n",
        &[],
        "DLQ_MAXLEN",
        "error: /etc/macct-worker.conf, line 1, DLQ_MAXLEN: expected a whole number (0: no cap), \
         found \"-1\"",
    );
    let off = load("STREAM_RETENTION_SEC=0\nDLQ_MAXLEN=0\n", &[]).expect("valid");
    assert_eq!((off.stream_retention, off.dlq_maxlen), (None, None));
    let on = load("STREAM_RETENTION_SEC=3600\nDLQ_MAXLEN=7\n", &[]).expect("valid");
    assert_eq!(
        on.stream_retention,
        Some(std::time::Duration::from_secs(3600))
    );
    assert_eq!(on.dlq_maxlen.map(|cap| cap.get()), Some(7));
}

#[test]
fn example_config_yields_the_defaults() {
    let text = fs::read_to_string(repo_file("config/macct-worker.conf")).expect("the example");
    let defaults = load("", &[]).expect("valid");
    assert_eq!(
        load(&text, &[]).expect("the example as shipped is valid"),
        defaults
    );
    // Uncommented, every documented default is the real default.
    let uncommented: String = text
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(setting) if setting.starts_with(|c: char| c.is_ascii_uppercase()) => setting,
            _ => line,
        })
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        load(&uncommented, &[]).expect("valid uncommented"),
        defaults
    );
    // Every key has its line in the example and its row in the module docs.
    let docs = fs::read_to_string(repo_file("crates/linbo-dc/src/worker/config/mod.rs"))
        .expect("the module source");
    for key in KEYS {
        assert!(
            uncommented
                .lines()
                .any(|line| line.starts_with(&format!("{key}="))),
            "{key} is missing from config/macct-worker.conf"
        );
        assert!(
            docs.contains(&format!("//! | `{key}` |")),
            "{key} is missing from the key table of worker::config's docs"
        );
    }
    let effective: Vec<&str> = defaults.effective().iter().map(|(key, _)| *key).collect();
    assert_eq!(
        effective, KEYS,
        "effective() lists every key once, in order"
    );
}

#[test]
fn reading_the_config_file() {
    let dir = sandbox(&[(CONFIG, "REDIS_PORT=6380\n")]);
    let root = Root::new(dir.path());
    let file = linbo_dc::conf_file::ConfFile::read(&root, Path::new(CONFIG))
        .expect("readable")
        .expect("present");
    assert_eq!(file.path(), Path::new(CONFIG), "messages name the DC path");
    assert_eq!(
        file.get("REDIS_PORT").map(|entry| entry.value.as_str()),
        Some("6380")
    );
    let missing = linbo_dc::conf_file::ConfFile::read(&root, Path::new("/etc/other.conf"));
    assert_eq!(missing, Ok(None));
}

#[test]
fn the_dcs_host_name_comes_from_setup_ini_then_smb_conf() {
    let dir = sandbox(&[
        (
            "/var/lib/linuxmuster/setup.ini",
            "[setup]\nservername = DC01\ndomainname = linuxmuster.lan\n",
        ),
        ("/etc/samba/smb.conf", "[global]\n\tnetbios name = OTHER\n"),
    ]);
    let root = Root::new(dir.path());
    let settings = load_in(&root, "", &[]).expect("valid");
    assert_eq!(
        settings.dc_host_name,
        Some(("dc01".to_owned(), "/var/lib/linuxmuster/setup.ini".into()))
    );
    let dir = sandbox(&[("/etc/samba/smb.conf", "[global]\n\tnetbios name = SERVER\n")]);
    let settings = load_in(&Root::new(dir.path()), "", &[]).expect("valid");
    assert_eq!(
        settings.dc_host_name,
        Some(("server".to_owned(), "/etc/samba/smb.conf".into()))
    );
    let dir = sandbox(&[]);
    assert_eq!(
        load_in(&Root::new(dir.path()), "", &[])
            .expect("valid")
            .dc_host_name,
        None
    );
}

#[test]
fn the_dns_server_is_the_key_or_the_nameserver_of_resolv_conf() {
    let dir = sandbox(&[(
        "/etc/resolv.conf",
        "# written by linuxmuster-setup\nsearch linuxmuster.lan\nnameserver 10.0.0.1\nnameserver 10.0.0.2\n",
    )]);
    let root = Root::new(dir.path());
    let from_file = load_in(&root, "", &[]).expect("valid");
    assert_eq!(
        from_file.resolved_dns_server(),
        Some((
            "10.0.0.1:53".parse().expect("address"),
            Some(PathBuf::from("/etc/resolv.conf"))
        ))
    );
    let given = load_in(&root, "DNS_SERVER=127.0.0.1:5353\n", &[]).expect("valid");
    assert_eq!(
        given.resolved_dns_server(),
        Some(("127.0.0.1:5353".parse().expect("address"), None))
    );
    assert_eq!(effective_value(&given, "DNS_SERVER"), "127.0.0.1:5353");
    let bare = load_in(&root, "DNS_SERVER=10.0.0.3\n", &[]).expect("valid");
    assert_eq!(
        bare.resolved_dns_server().map(|(server, _)| server.port()),
        Some(53)
    );
    let nothing = load_in(&Root::new(sandbox(&[]).path()), "", &[]).expect("valid");
    assert_eq!(nothing.resolved_dns_server(), None);
}
