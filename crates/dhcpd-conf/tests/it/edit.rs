//! Edits through the host API, one line of data per test: input, edit, expected output.

use std::net::Ipv4Addr;

use dhcpd_conf::Config;

const DOCKER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Applies `edit` to `input` and compares the printed result with `expect`; then applies the
/// edit again and requires that nothing changes (every edit here is idempotent).
#[track_caller]
fn check(input: &str, edit: impl Fn(&mut Config), expect: &str) {
    let mut config = dhcpd_conf::parse(input).expect("valid input");
    edit(&mut config);
    let output = config.to_string();
    assert_eq!(output, expect, "input: {input:?}");
    let mut again = dhcpd_conf::parse(&output).expect("the output parses");
    edit(&mut again);
    assert_eq!(
        again.to_string(),
        output,
        "second application changed the output"
    );
}

fn set_next_server(name: &'static str) -> impl Fn(&mut Config) {
    move |config| {
        config
            .host_mut(name)
            .expect("host exists")
            .set_next_server(DOCKER);
    }
}

fn remove_next_server(name: &'static str) -> impl Fn(&mut Config) {
    move |config| {
        config
            .host_mut(name)
            .expect("host exists")
            .remove_next_server_if(DOCKER);
    }
}

#[test]
fn next_server_inserted_after_hardware_ethernet() {
    check(
        "host a {\n  hardware ethernet 00:11:22:33:44:55;\n  fixed-address 10.0.0.9;\n}\n",
        set_next_server("a"),
        "host a {\n  hardware ethernet 00:11:22:33:44:55;\n  next-server 10.0.0.2;\n  fixed-address 10.0.0.9;\n}\n",
    );
    check(
        "host a {\n\thardware ethernet 00:11:22:33:44:55; # nic\n}\n",
        set_next_server("a"),
        "host a {\n\thardware ethernet 00:11:22:33:44:55; # nic\n\tnext-server 10.0.0.2;\n}\n",
    );
    check(
        "host a {\r\n  hardware ethernet 00:11:22:33:44:55;\r\n}\r\n",
        set_next_server("a"),
        "host a {\r\n  hardware ethernet 00:11:22:33:44:55;\r\n  next-server 10.0.0.2;\r\n}\r\n",
    );
}

#[test]
fn next_server_without_hardware_ethernet() {
    check(
        "host a {\n  fixed-address 10.0.0.9;\n}\n",
        set_next_server("a"),
        "host a {\n  fixed-address 10.0.0.9;\n  next-server 10.0.0.2;\n}\n",
    );
    check(
        "host a {\n}\n",
        set_next_server("a"),
        "host a {\n  next-server 10.0.0.2;\n}\n",
    );
    check(
        " host a {\n }\n",
        set_next_server("a"),
        " host a {\n   next-server 10.0.0.2;\n }\n",
    );
    check(
        "host a {}\n",
        set_next_server("a"),
        "host a { next-server 10.0.0.2; }\n",
    );
    check(
        "host a { }\n",
        set_next_server("a"),
        "host a { next-server 10.0.0.2; }\n",
    );
}

#[test]
fn next_server_in_one_line_blocks() {
    check(
        "host a { hardware ethernet 00:11:22:33:44:55; } host b { hardware ethernet 00:11:22:33:44:56; }\n",
        set_next_server("b"),
        "host a { hardware ethernet 00:11:22:33:44:55; } host b { hardware ethernet 00:11:22:33:44:56; next-server 10.0.0.2; }\n",
    );
    check(
        "host a { fixed-address 10.0.0.9; }\n",
        set_next_server("a"),
        "host a { fixed-address 10.0.0.9; next-server 10.0.0.2; }\n",
    );
}

#[test]
fn next_server_compared_as_address() {
    check(
        "host a { next-server 10.0.0.2; }\n",
        set_next_server("a"),
        "host a { next-server 10.0.0.2; }\n",
    );
    check(
        "host a { next-server 10.0.0.22; }\n",
        set_next_server("a"),
        "host a { next-server 10.0.0.2; }\n",
    );
    check(
        "host a { next-server   10.0.0.2 ; }\n",
        set_next_server("a"),
        "host a { next-server   10.0.0.2 ; }\n",
    );
    check(
        "host a { next-server server; }\n",
        set_next_server("a"),
        "host a { next-server 10.0.0.2; }\n",
    );
    check(
        "host a {\n  next-server 10.0.0.1;\n  next-server 10.0.0.2; # keep\n  next-server 10.0.0.2;\n}\n",
        set_next_server("a"),
        "host a {\n  next-server 10.0.0.2; # keep\n}\n",
    );
}

#[test]
fn next_server_removed_only_on_exact_match() {
    check(
        "host a { next-server 10.0.0.22; }\n",
        remove_next_server("a"),
        "host a { next-server 10.0.0.22; }\n",
    );
    check(
        "host a { next-server 10.0.0.2; }\n",
        remove_next_server("a"),
        "host a { }\n",
    );
    check(
        "host a { b; next-server 10.0.0.2; c; }\n",
        remove_next_server("a"),
        "host a { b; c; }\n",
    );
    check(
        "host a {\n  b;\n  # comment above\n  next-server 10.0.0.2; # trailing\n  c;\n}\n",
        remove_next_server("a"),
        "host a {\n  b;\n  # comment above\n  c;\n}\n",
    );
    check(
        "host a {\n  b; next-server 10.0.0.2;\n}\n",
        remove_next_server("a"),
        "host a {\n  b;\n}\n",
    );
    check(
        "host a {\n  next-server 10.0.0.2; b;\n}\n",
        remove_next_server("a"),
        "host a {\n  b;\n}\n",
    );
}

#[test]
fn set_and_remove_statements() {
    check(
        "host a {\n  hardware ethernet 00:11:22:33:44:55;\n}\n",
        |config| {
            let mut host = config.host_mut("a").expect("host exists");
            host.set_statement("option extensions-path", "\"win11efi\"")
                .expect("valid statement");
        },
        "host a {\n  hardware ethernet 00:11:22:33:44:55;\n  option extensions-path \"win11efi\";\n}\n",
    );
    check(
        "host a {\n  option extensions-path \"old\";\n  hardware ethernet 00:11:22:33:44:55;\n}\n",
        |config| {
            let mut host = config.host_mut("a").expect("host exists");
            host.set_statement("option extensions-path", "\"new\"")
                .expect("valid statement");
        },
        "host a {\n  option extensions-path \"new\";\n  hardware ethernet 00:11:22:33:44:55;\n}\n",
    );
    check(
        "host a {\n  option nis-domain \"x\";\n  OPTION NIS-DOMAIN \"y\";\n  fixed-address 10.0.0.1;\n}\n",
        |config| {
            config
                .host_mut("a")
                .expect("host exists")
                .remove_statement("option nis-domain", None);
        },
        "host a {\n  fixed-address 10.0.0.1;\n}\n",
    );
    check(
        "host a { option nis-domain \"x\"; option nis-domain \"y\"; }\n",
        |config| {
            config
                .host_mut("a")
                .expect("host exists")
                .remove_statement("option nis-domain", Some("\"y\""));
        },
        "host a { option nis-domain \"x\"; }\n",
    );
}

#[test]
fn invalid_statements_are_rejected() {
    let mut config = dhcpd_conf::parse("host a { }\n").expect("valid input");
    let mut host = config.host_mut("a").expect("host exists");
    for (keyword, value) in [
        ("next-server", "10.0.0.1; evil"),
        ("next-server", "10.0.0.1 # comment"),
        ("next-server", "x\nnext-server y"),
        ("next-server", "{ }"),
        ("option x", "\"unterminated"),
        ("", "value"),
        ("\"quoted\"", "value"),
    ] {
        let error = host.set_statement(keyword, value).expect_err(value);
        assert!(
            matches!(error, dhcpd_conf::Error::InvalidStatement { .. }),
            "{error}"
        );
    }
    assert_eq!(
        config.to_string(),
        "host a { }\n",
        "a rejected edit changes nothing"
    );
}

#[test]
fn add_and_remove_hosts() {
    check(
        "# devices\nhost a {\n  hardware ethernet 00:11:22:33:44:55;\n}\n",
        |config| {
            if config.host("b").is_none() {
                let mut host = config.add_host("b").expect("new host");
                host.set_statement("hardware ethernet", "00:11:22:33:44:56")
                    .expect("valid");
                host.set_statement("fixed-address", "10.0.0.6")
                    .expect("valid");
            }
        },
        "# devices\nhost a {\n  hardware ethernet 00:11:22:33:44:55;\n}\nhost b {\n  hardware ethernet 00:11:22:33:44:56;\n  fixed-address 10.0.0.6;\n}\n",
    );
    check(
        "group {\n  host a {\n    fixed-address 10.0.0.5;\n  }\n}\n",
        |config| {
            if config.host("b").is_none() {
                config
                    .add_host("b")
                    .expect("new host")
                    .set_statement("fixed-address", "10.0.0.6")
                    .expect("valid");
            }
        },
        "group {\n  host a {\n    fixed-address 10.0.0.5;\n  }\n  host b {\n    fixed-address 10.0.0.6;\n  }\n}\n",
    );
    check(
        "",
        |config| {
            if config.host("b").is_none() {
                config.add_host("b").expect("new host");
            }
        },
        "host b {\n}\n",
    );
    check(
        "host a {\n}\n# about b\nhost b {\n  fixed-address 10.0.0.6;\n}\nhost c { }\n",
        |config| {
            config.remove_host("b");
        },
        "host a {\n}\n# about b\nhost c { }\n",
    );
    check(
        "host a { } host b { } host c { }\n",
        |config| {
            config.remove_host("b");
        },
        "host a { } host c { }\n",
    );
    check(
        "group { host a { } }\nhost b { }\n",
        |config| config.retain_hosts(|host| host.name() == "b"),
        "group { }\nhost b { }\n",
    );
}

#[test]
fn add_host_errors() {
    let mut config = dhcpd_conf::parse("host a { }\n").expect("valid input");
    assert!(matches!(
        config.add_host("a"),
        Err(dhcpd_conf::Error::DuplicateHost(_))
    ));
    for name in ["", "a b", "a;", "a{", "\"a\"", "a..b", ".a"] {
        assert!(
            matches!(
                config.add_host(name),
                Err(dhcpd_conf::Error::InvalidHostName(_))
            ),
            "{name:?}"
        );
    }
    assert_eq!(config.to_string(), "host a { }\n");
}

#[test]
fn host_lookup_is_exact_and_survives_edits() {
    let mut config =
        dhcpd_conf::parse("host PC01 { }\nhost pc01 { }\nhost pc011 { }\n").expect("valid input");
    assert!(config.host("Pc01").is_none());
    config
        .host_mut("pc01")
        .expect("declared")
        .set_next_server(DOCKER);
    config.remove_host("PC01");
    config
        .host_mut("pc011")
        .expect("declared")
        .set_next_server(DOCKER);
    config
        .add_host("pc02")
        .expect("new host")
        .set_next_server(DOCKER);
    assert_eq!(
        config.to_string(),
        "host pc01 { next-server 10.0.0.2; }\nhost pc011 { next-server 10.0.0.2; }\nhost pc02 {\n  next-server 10.0.0.2;\n}\n"
    );
}

#[test]
fn untouched_hosts_keep_their_bytes() {
    let input = "host a {  hardware   ethernet 00:11:22:33:44:55 ;}\t# odd\nhost b {\n  fixed-address 10.0.0.1;\n}\n";
    let mut config = dhcpd_conf::parse(input).expect("valid input");
    config
        .host_mut("b")
        .expect("declared")
        .set_next_server(DOCKER);
    assert!(
        config
            .to_string()
            .starts_with("host a {  hardware   ethernet 00:11:22:33:44:55 ;}\t# odd\n")
    );
}
