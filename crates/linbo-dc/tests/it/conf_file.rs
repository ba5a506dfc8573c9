//! `KEY=VALUE` files: what is accepted and the message for what is not.

use std::path::Path;

use linbo_dc::conf_file::ConfFile;

/// Parses `text` and compares `KEY=value` pairs (one per line, quotes removed) or the error.
#[track_caller]
fn check(text: &str, expect: &str) {
    let actual = match ConfFile::parse(Path::new("/etc/macct-worker.conf"), text) {
        Ok(conf) => {
            let mut keys: Vec<&str> = Vec::new();
            for line in text.lines() {
                let key = line
                    .trim()
                    .trim_start_matches("export ")
                    .split('=')
                    .next()
                    .unwrap_or("")
                    .trim();
                if !key.is_empty() && !key.starts_with('#') && !keys.contains(&key) {
                    keys.push(key);
                }
            }
            keys.iter()
                .filter_map(|key| {
                    conf.get(key)
                        .map(|entry| format!("{}={}", entry.key, entry.value))
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        Err(error) => format!("error: {error}"),
    };
    assert_eq!(actual, expect, "text {text:?}");
}

#[test]
fn accepted_forms() {
    check("REDIS_HOST=localhost\n", "REDIS_HOST=localhost");
    check("# comment\n\n  REDIS_PORT = 6379  \n", "REDIS_PORT=6379");
    check("export API_KEY=secret\n", "API_KEY=secret");
    check(
        "API_URL=\"http://localhost:3000/api/v1\"\n",
        "API_URL=http://localhost:3000/api/v1",
    );
    check(
        "LOG_DIR='/var/log/macct'  # per-job logs\n",
        "LOG_DIR=/var/log/macct",
    );
    check(
        "SCHOOL=default-school # the default\n",
        "SCHOOL=default-school",
    );
    check(
        "SAMBA_TOOL_AUTH=\"administrator%pa ss#word\"\n",
        "SAMBA_TOOL_AUTH=administrator%pa ss#word",
    );
    check("QUOTED=\"a \\\"b\\\" \\\\ c\"\n", "QUOTED=a \"b\" \\ c");
    check("LITERAL='$HOME stays'\n", "LITERAL=$HOME stays");
    check("EMPTY=\nEMPTY2=\"\"\n", "EMPTY=\nEMPTY2=");
    check("SCHOOL=a\nSCHOOL=b\n", "SCHOOL=b");
    check(
        "DEVICES_CSV_MASTER=/etc/linuxmuster/sophomorix/{school}/devices.csv\n",
        "DEVICES_CSV_MASTER=/etc/linuxmuster/sophomorix/{school}/devices.csv",
    );
}

#[test]
fn refused_forms() {
    check(
        "REDIS_HOST=localhost\nthis is not a setting\n",
        "error: /etc/macct-worker.conf, line 2: expected KEY=VALUE, found \"this is not a setting\"",
    );
    check(
        "1KEY=value\n",
        "error: /etc/macct-worker.conf, line 1: expected a key of letters, digits and '_', found \"1KEY\"",
    );
    check(
        "API_KEY=\"unterminated\n",
        "error: /etc/macct-worker.conf, line 1, API_KEY: expected a closing \" (double quote)",
    );
    check(
        "API_KEY='unterminated\n",
        "error: /etc/macct-worker.conf, line 1, API_KEY: expected a closing ' (single quote)",
    );
    check(
        "LOG_DIR=$(rm -rf /)\n",
        "error: /etc/macct-worker.conf, line 1, LOG_DIR: shell expansion is not supported: the file is parsed, never executed; write the value literally",
    );
    check(
        "LOG_DIR=\"`id`\"\n",
        "error: /etc/macct-worker.conf, line 1, LOG_DIR: shell expansion is not supported: the file is parsed, never executed; write the value literally",
    );
    check(
        "API_URL=\"http://$HOST:3000\"\n",
        "error: /etc/macct-worker.conf, line 1, API_URL: shell expansion is not supported: the file is parsed, never executed; write the value literally",
    );
    check(
        "SCHOOL=two words\n",
        "error: /etc/macct-worker.conf, line 1, SCHOOL: expected one word; quote a value with spaces, found \"two words\"",
    );
    check(
        "SCHOOL=\"a\" b\n",
        "error: /etc/macct-worker.conf, line 1, SCHOOL: unexpected text after the closing quote: \"b\"",
    );
}

#[test]
fn unknown_keys_are_listed() {
    let conf =
        ConfFile::parse(Path::new("x.conf"), "REDIS_HOST=a\nREDIS_HOTS=b\n").expect("parses");
    let unknown: Vec<(usize, &str)> = conf
        .unknown(&["REDIS_HOST"])
        .map(|entry| (entry.line, entry.key.as_str()))
        .collect();
    assert_eq!(unknown, [(2, "REDIS_HOTS")]);
}
