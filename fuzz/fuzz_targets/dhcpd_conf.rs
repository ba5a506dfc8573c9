//! Fuzz target: any text either fails to parse or prints back byte for byte, and the printed
//! text parses again to the same result; the host edits keep the text parseable.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(mut config) = dhcpd_conf::parse(text) else { return };
    let printed = config.to_string();
    assert_eq!(printed, text, "print(parse(s)) != s");
    let reparsed = dhcpd_conf::parse(&printed).expect("printed text parses again");
    assert_eq!(reparsed.to_string(), printed);

    // Edits keep the file valid and are idempotent.
    let address = Ipv4Addr::new(10, 0, 0, 2);
    let mut first = true;
    config.patch_hosts(|host| {
        if std::mem::take(&mut first) {
            host.set_next_server(address);
        } else {
            host.remove_next_server_if(address);
        }
    });
    let patched = config.to_string();
    let mut again = dhcpd_conf::parse(&patched).expect("patched text parses");
    let mut first = true;
    let mut changed = false;
    again.patch_hosts(|host| {
        changed |= if std::mem::take(&mut first) {
            host.set_next_server(address)
        } else {
            host.remove_next_server_if(address)
        };
    });
    assert!(!changed, "re-applying the patch changed something");
    assert_eq!(again.to_string(), patched);
});
