//! Parsing: lossless round trips and positioned errors, one line of data per test.

/// Parses `input`: `expect` is `"ok"` (and the text must print back unchanged) or the error's
/// display text.
#[track_caller]
fn check(input: &str, expect: &str) {
    let actual = match dhcpd_conf::parse(input) {
        Ok(config) => {
            assert_eq!(config.to_string(), input, "round trip");
            "ok".to_owned()
        }
        Err(error) => error.to_string(),
    };
    assert_eq!(actual, expect, "input: {input:?}");
}

/// Parses `input` and lists its hosts as `name hardware-ethernet fixed-address`, one per line.
#[track_caller]
fn check_hosts(input: &str, expect: &str) {
    let config = dhcpd_conf::parse(input).expect("valid input");
    let actual: Vec<String> = config
        .hosts()
        .map(|host| {
            format!(
                "{} {} {}",
                host.name(),
                host.hardware_ethernet().unwrap_or("-"),
                host.fixed_address().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(actual.join("\n"), expect);
}

#[test]
fn empty_and_trivia_only() {
    check("", "ok");
    check("\n\n", "ok");
    check("# only a comment", "ok");
    check("# comment\r\n\t \r\n", "ok");
}

#[test]
fn statements() {
    check("authoritative;\n", "ok");
    check("option domain-name \"linuxmuster.lan\";", "ok");
    check(
        "option arch code 93 = unsigned integer 16; #RFC4578\n",
        "ok",
    );
    check("option x code 200 = { unsigned integer 16, text };\n", "ok");
    check(
        "option routes code 121 = array of { ip-address, integer 8 };\n",
        "ok",
    );
    check("allow booting ; allow   bootp;\n", "ok");
    check("include \"/etc/dhcp/subnets.conf\";\n", "ok");
    check(
        "hardware ethernet\n  00:11:22:33:44:55 # split over lines\n  ;\n",
        "ok",
    );
}

#[test]
fn blocks() {
    check("host a { }\n", "ok");
    check("host a {}", "ok");
    check(
        "host a { hardware ethernet 00:11:22:33:44:55; } host b { fixed-address 10.0.0.2; }\n",
        "ok",
    );
    check("group { group { host a { } } }\n", "ok");
    check(
        "if option arch = 00:06 { filename \"a\"; } elsif x { } else if y { } else { }\n",
        "ok",
    );
    check("if a {\n}\nelse {\n}\n", "ok");
    check("on commit { set x = \"y\"; }\n", "ok");
    check("failover peer \"p\" { primary; }\n", "ok");
    check("host a\n# comment between header and brace {\n{ }\n", "ok");
}

#[test]
fn strings_and_comments() {
    check("option x \"a { b } ; # c\";\n", "ok");
    check("option x \"escaped \\\" quote\";\n", "ok");
    check("option x \"line\nbreak\";\n", "ok");
    check("# host x {\n", "ok");
    check("host a { # {\n}\n", "ok");
    check("option x \"ümlaut\"; # ✓\n", "ok");
}

#[test]
fn errors() {
    check(
        "host a {\n  hardware ethernet 00:11:22:33:44:55\n}\n",
        "line 3, column 1: expected `;` or `{` after statement",
    );
    check(
        "authoritative",
        "line 1, column 14: expected `;` or `{` after statement",
    );
    check(
        "host a {\n  fixed-address 10.0.0.1;\n",
        "line 3, column 1: expected `}` to close the block `host a` opened at line 1, column 1",
    );
    check(
        "group {\n\thost a { }\n",
        "line 3, column 1: expected `}` to close the block `group` opened at line 1, column 1",
    );
    check(
        "}\n",
        "line 1, column 1: expected a statement or block, found `}` without an open block",
    );
    check(
        "a; }",
        "line 1, column 4: expected a statement or block, found `}` without an open block",
    );
    check(
        ";\n",
        "line 1, column 1: expected a statement or block, found `;`",
    );
    check(
        "host a { ; }",
        "line 1, column 10: expected a statement or block, found `;`",
    );
    check(
        "option x \"open;\n",
        "line 1, column 10: expected `\"` to close the string that starts here",
    );
    check(
        "option x \"ends in backslash\\",
        "line 1, column 10: expected `\"` to close the string that starts here",
    );
    check(
        "else { }\n",
        "line 1, column 1: expected an `if` block before `else`",
    );
    check(
        "if a { } else { } else { }\n",
        "line 1, column 19: expected an `if` block before `else`",
    );
    check(
        "host a { }\nelsif b { }\n",
        "line 2, column 1: expected an `if` block before `elsif`",
    );
    check(
        "option x code 1 = { text ;\n",
        "line 1, column 26: expected `}` to close the option's record type",
    );
    check(
        "\t\tx y\r\n}",
        "line 2, column 1: expected `;` or `{` after statement",
    );
}

#[test]
fn nesting_limit() {
    let nested = |depth: usize| format!("{}{}", "group { ".repeat(depth), "} ".repeat(depth));
    check(&nested(64), "ok");
    check(
        &nested(65),
        "line 1, column 513: expected at most 64 nested blocks",
    );
    // Far deeper input is an error too, never a stack overflow.
    assert!(dhcpd_conf::parse(&"group {".repeat(100_000)).is_err());
}

#[test]
fn hosts_anywhere() {
    check_hosts(
        "host a { hardware ethernet 00:11:22:33:44:55; fixed-address 10.0.0.1; }\n\
         group { subnet 10.0.0.0 netmask 255.0.0.0 { host b { hardware ethernet 00:11:22:33:44:56; } } }\n\
         shared-network n { host c.lan { fixed-address 10.0.0.3, 10.0.0.4; } }\n\
         HOST D { Hardware Ethernet 00:11:22:33:44:57; }\n",
        "a 00:11:22:33:44:55 10.0.0.1\nb 00:11:22:33:44:56 -\nc.lan - 10.0.0.3, 10.0.0.4\nD 00:11:22:33:44:57 -",
    );
    check_hosts(
        "# host x { hardware ethernet 00:11:22:33:44:55; }\noption y \"host z {\";\n",
        "",
    );
}

#[test]
fn errors_carry_line_and_column() {
    let error = dhcpd_conf::parse("a;\nb c\n").expect_err("missing `;`");
    assert_eq!((error.line(), error.column()), (Some(3), Some(1)));
    assert!(matches!(error, dhcpd_conf::Error::Parse { .. }));
}
