//! Properties over generated, realistic configurations and over arbitrary text.

use std::net::Ipv4Addr;

use proptest::prelude::*;

/// A line ending, chosen once per file.
fn arb_newline() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => Just("\n"), 1 => Just("\r\n")]
}

/// An indentation unit.
fn arb_indent() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("  "), Just(" "), Just("\t"), Just("    ")]
}

/// A comment, possibly holding braces, semicolons, quotes or a fake host block.
fn arb_comment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("# subnet 10.0.0.0/16".to_owned()),
        Just("# dynamic ip hosts".to_owned()),
        Just("# host fake { next-server 10.0.0.9; }".to_owned()),
        Just("#}".to_owned()),
        "#[ a-z{};\"#]{0,12}".prop_map(|text| text),
    ]
}

/// A host name as linuxmuster writes them.
fn arb_host_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,3}-(pc|nb)[0-9]{1,2}"
}

/// A statement inside a host block, without `;`.
fn arb_host_statement() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9A-F]{2}(:[0-9A-F]{2}){5}".prop_map(|mac| format!("hardware ethernet {mac}")),
        (1u8..=254, 1u8..=254).prop_map(|(c, d)| format!("fixed-address 10.0.{c}.{d}")),
        (0u8..=3, 1u8..=20).prop_map(|(c, d)| format!("next-server 10.0.{c}.{d}")),
        "[a-z0-9{};# ]{0,10}".prop_map(|text| format!("option extensions-path \"{text}\"")),
        Just("option nis-domain \"win11efi\"".to_owned()),
        Just("filename \"boot/grub/x86_64-efi/core.efi\"".to_owned()),
    ]
}

/// A host block in one of the layouts found in the wild.
fn arb_host(depth_indent: String) -> impl Strategy<Value = String> {
    (
        arb_host_name(),
        prop::collection::vec(arb_host_statement(), 0..6),
        arb_indent(),
        any::<bool>(),
        prop::option::of(arb_comment()),
    )
        .prop_map(move |(name, statements, indent, one_line, comment)| {
            let trailing = comment
                .map(|comment| format!(" {comment}"))
                .unwrap_or_default();
            if one_line {
                let body: String = statements
                    .iter()
                    .map(|statement| format!(" {statement};"))
                    .collect();
                format!("{depth_indent}host {name} {{{body} }}{trailing}\n")
            } else {
                let body: String = statements
                    .iter()
                    .map(|statement| format!("{depth_indent}{indent}{statement};\n"))
                    .collect();
                format!("{depth_indent}host {name} {{{trailing}\n{body}{depth_indent}}}\n")
            }
        })
}

/// A top-level item: comment, blank line, global statement, host, group of hosts, if chain.
fn arb_item() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => arb_comment().prop_map(|comment| format!("{comment}\n")),
        1 => Just("\n".to_owned()),
        1 => Just("authoritative;\n".to_owned()),
        1 => Just("option arch code 93 = unsigned integer 16; #RFC4578\n".to_owned()),
        1 => Just("option x code 200 = { integer 8, text };\n".to_owned()),
        1 => Just("server-name \"server.linuxmuster.lan\";\n".to_owned()),
        1 => Just("include \"/etc/dhcp/devices.conf\";\n".to_owned()),
        4 => arb_host(String::new()),
        1 => prop::collection::vec(arb_host(" ".to_owned()), 0..3)
            .prop_map(|hosts| format!("group {{\n default-lease-time 172800;\n{}}}\n", hosts.concat())),
        1 => prop::collection::vec(arb_host("  ".to_owned()), 0..3).prop_map(|hosts| format!(
            "subnet 10.0.0.0 netmask 255.255.0.0 {{\n  range 10.0.200.1 10.0.200.254;\n{}}}\n",
            hosts.concat()
        )),
        1 => Just(
            "if option arch = 00:06 {\n filename \"a\";\n} else if option arch = 00:07 {\n filename \"b\";\n} else {\n filename \"c\";\n}\n"
                .to_owned()
        ),
    ]
}

/// A realistic configuration file.
fn arb_config() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(arb_item(), 0..12),
        arb_newline(),
        any::<bool>(),
    )
        .prop_map(|(items, newline, final_newline)| {
            let mut text = items.concat().replace('\n', newline);
            if !final_newline && text.ends_with(newline) {
                text.truncate(text.len() - newline.len());
            }
            text
        })
}

/// Text made of dhcpd.conf's syntax characters, to reach the error paths.
fn arb_syntax_soup() -> impl Strategy<Value = String> {
    "[a-z0-9 {};#\"\\\\\n\r\t=]{0,80}"
}

fn docker() -> impl Strategy<Value = Ipv4Addr> {
    (0u8..=3, 1u8..=20).prop_map(|(c, d)| Ipv4Addr::new(10, 0, c, d))
}

proptest! {
    #[test]
    fn print_parse_is_identity(text in arb_config()) {
        let config = dhcpd_conf::parse(&text).map_err(|error| TestCaseError::fail(format!("{error}\n{text}")))?;
        prop_assert_eq!(config.to_string(), text);
    }

    #[test]
    fn arbitrary_text_errors_or_round_trips(text in any::<String>()) {
        if let Ok(config) = dhcpd_conf::parse(&text) {
            prop_assert_eq!(config.to_string(), text);
        }
    }

    #[test]
    fn syntax_soup_errors_or_round_trips(text in arb_syntax_soup()) {
        match dhcpd_conf::parse(&text) {
            Ok(config) => prop_assert_eq!(config.to_string(), text),
            Err(error) => {
                let line = error.line().unwrap_or(0);
                prop_assert!(line >= 1 && line <= text.split('\n').count(), "{}", error);
            }
        }
    }

    #[test]
    fn set_next_server_is_idempotent(text in arb_config(), address in docker(), pick in any::<prop::sample::Index>()) {
        let mut config = dhcpd_conf::parse(&text).map_err(|error| TestCaseError::fail(error.to_string()))?;
        let names: Vec<String> = config.hosts().map(|host| host.name().to_owned()).collect();
        prop_assume!(!names.is_empty());
        let managed = pick.get(&names).clone();
        config.patch_hosts(|host| {
            if host.name() == managed {
                host.set_next_server(address);
            } else {
                host.remove_next_server_if(address);
            }
        });
        let once = config.to_string();
        let mut again = dhcpd_conf::parse(&once).map_err(|error| TestCaseError::fail(format!("{error}\n{once}")))?;
        let mut changed = false;
        again.patch_hosts(|host| {
            changed |= if host.name() == managed { host.set_next_server(address) } else { host.remove_next_server_if(address) };
        });
        prop_assert!(!changed);
        prop_assert_eq!(again.to_string(), once.clone());
        let host = again.host(&managed).expect("the managed host is still there");
        let next_servers: Vec<_> = host.statements().filter(|statement| statement.is("next-server")).collect();
        prop_assert_eq!(next_servers.len(), 1);
        let expected = address.to_string();
        prop_assert_eq!(host.next_server(), Some(expected.as_str()));
    }
}
