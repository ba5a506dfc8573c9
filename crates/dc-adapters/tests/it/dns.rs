//! The in-process DNS resolver (`dc_adapters::dns::Resolver`) asking the live Samba DC of the test
//! kit, the test kit's fake DNS server (for SERVFAIL, REFUSED and slowness, which a live server
//! cannot be made to answer) and servers that do not answer; and the settings that name the
//! server.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use dc_adapters::dns::{Answer, DnsProblem, Resolver, nameserver_from_resolv_conf, parse_server};
use dc_adapters::{Error, Result};
use dc_testkit::dns::Mode;
use dc_testkit::samba::DNS_DOMAIN;
use dc_testkit::{SambaDc, SandboxDc};

use crate::{GENEROUS, SHORT, run_import, two_schools};

fn found(data: &[&str]) -> Answer {
    Answer::Found(data.iter().map(|data| (*data).to_owned()).collect())
}

/// `answer` with its records sorted (a server may send them in any order).
fn sorted(answer: Answer) -> Answer {
    match answer {
        Answer::Found(mut data) => {
            data.sort();
            Answer::Found(data)
        }
        Answer::NotFound => Answer::NotFound,
    }
}

/// The problem of a failed lookup, which must be an [`Error::Dns`] naming `query`.
#[track_caller]
fn problem(result: Result<Answer>, query: &str) -> DnsProblem {
    match result {
        Err(Error::Dns {
            query: named,
            problem,
            ..
        }) => {
            assert_eq!(named, query);
            problem
        }
        other => panic!("{query}: expected a DNS error, got {other:?}"),
    }
}

fn fqdn(host: &str) -> String {
    format!("{host}.{DNS_DOMAIN}")
}

#[track_caller]
fn check_server(text: &str, expect: std::result::Result<&str, &str>) {
    match (parse_server(text), expect) {
        (Ok(server), Ok(expect)) => assert_eq!(server.to_string(), expect, "{text:?}"),
        (Err(error), Err(part)) => {
            let message = error.to_string();
            assert!(
                message.contains(part),
                "{text:?}: {message:?} lacks {part:?}"
            );
        }
        (got, expect) => panic!("{text:?}: got {got:?}, expected {expect:?}"),
    }
}

#[test]
fn server_settings() {
    check_server("10.0.0.1", Ok("10.0.0.1:53"));
    check_server("10.0.0.1:5353", Ok("10.0.0.1:5353"));
    check_server("[::1]:53", Ok("[::1]:53"));
    check_server("[::1]", Ok("[::1]:53"));
    check_server("::1", Ok("[::1]:53"));
    check_server("fd00::53", Ok("[fd00::53]:53"));
    check_server("", Err("refusing DNS server \"\": it is empty"));
    check_server("10.0.0.1:0", Err("port 0"));
    for bad in [
        "server.linuxmuster.lan",
        "10.0.0.1:",
        "10.0.0.1:99999",
        " 10.0.0.1",
        "10.0.0",
    ] {
        check_server(bad, Err("not an IP address with an optional port"));
    }

    let first = |text: &str| nameserver_from_resolv_conf(text);
    let ip = |text: &str| Some(text.parse::<IpAddr>().expect("an address"));
    assert_eq!(
        first(
            "# written by linuxmuster\nsearch linuxmuster.lan\nnameserver 10.0.0.1\nnameserver 10.0.0.2\n"
        ),
        ip("10.0.0.1")
    );
    assert_eq!(
        first("#nameserver 10.9.9.9\n; nameserver 10.9.9.8\n  nameserver\t10.0.0.1  # the DC\n"),
        ip("10.0.0.1")
    );
    assert_eq!(
        first("nameserver fe80::1%eth0\nnameserver ::1\n"),
        ip("::1")
    );
    assert_eq!(first("nameservers 10.0.0.1\noptions edns0\n"), None);
    assert_eq!(first(""), None);
}

#[tokio::test]
async fn lookups_against_the_live_samba_dns_server() {
    let dc = SambaDc::shared();
    dc.add_a("rsv-pc01", "10.0.100.221");
    dc.add_ptr("10.0.100.221", &fqdn("rsv-pc01"));
    dc.add_a("rsv-pc02", "10.0.100.222");
    dc.add_a("rsv-pc02", "10.0.100.223");
    let server = dc.address().to_string();
    for (name, kind, data) in [
        ("rsv-txt01", "TXT", "only text".to_owned()),
        ("rsv-alias01", "CNAME", fqdn("rsv-pc01")),
        ("rsv-alias02", "CNAME", fqdn("rsv-nothing")),
    ] {
        dc.samba_tool_ok(&["dns", "add", &server, DNS_DOMAIN, name, kind, &data]);
    }
    let resolver = Resolver::new(dc.dns_server(), GENEROUS);
    let a = async |name: &str| {
        resolver
            .lookup_a(name)
            .await
            .unwrap_or_else(|error| panic!("A {name}: {error}"))
    };
    assert_eq!(a(&fqdn("rsv-pc01")).await, found(&["10.0.100.221"]));
    assert_eq!(
        a("RSV-PC01.LINUXMUSTER.LAN.").await,
        found(&["10.0.100.221"])
    );
    assert_eq!(
        sorted(a(&fqdn("rsv-pc02")).await),
        found(&["10.0.100.222", "10.0.100.223"])
    );
    // NXDOMAIN.
    assert_eq!(a(&fqdn("rsv-nothing")).await, Answer::NotFound);
    // NODATA: the name has a TXT record only.
    assert_eq!(a(&fqdn("rsv-txt01")).await, Answer::NotFound);
    // An alias: the address of its target; an alias of nothing: absent.
    assert_eq!(a(&fqdn("rsv-alias01")).await, found(&["10.0.100.221"]));
    assert_eq!(a(&fqdn("rsv-alias02")).await, Answer::NotFound);

    let ptr = async |ip: [u8; 4]| {
        resolver
            .lookup_ptr(Ipv4Addr::from(ip))
            .await
            .unwrap_or_else(|error| panic!("PTR {ip:?}: {error}"))
    };
    assert_eq!(ptr([10, 0, 100, 221]).await, found(&[&fqdn("rsv-pc01")]));
    // In a reverse zone without the record, and in no reverse zone at all.
    assert_eq!(ptr([10, 0, 100, 229]).await, Answer::NotFound);
    assert_eq!(ptr([10, 9, 9, 9]).await, Answer::NotFound);
}

#[tokio::test]
async fn a_lookup_after_a_clean_up_sees_the_server_now() {
    let dc = SambaDc::shared();
    dc.add_a("rsv-gone01", "10.0.100.231");
    let resolver = Resolver::new(dc.dns_server(), GENEROUS);
    let name = fqdn("rsv-gone01");
    assert_eq!(
        resolver.lookup_a(&name).await.expect("lookup"),
        found(&["10.0.100.231"])
    );
    let server = dc.address().to_string();
    dc.samba_tool_ok(&[
        "dns",
        "delete",
        &server,
        DNS_DOMAIN,
        "rsv-gone01",
        "A",
        "10.0.100.231",
    ]);
    assert_eq!(
        resolver.lookup_a(&name).await.expect("lookup"),
        Answer::NotFound
    );
}

#[tokio::test]
async fn many_lookups_at_once_on_one_resolver() {
    let dc = SambaDc::shared();
    dc.add_a("rsv-many01", "10.0.100.241");
    dc.add_ptr("10.0.100.241", &fqdn("rsv-many01"));
    let resolver = Resolver::new(dc.dns_server(), GENEROUS);
    let mut lookups = tokio::task::JoinSet::new();
    for n in 0..300_u32 {
        let resolver = resolver.clone();
        lookups.spawn(async move {
            let answer = match n % 3 {
                0 => resolver.lookup_a(&fqdn("rsv-many01")).await,
                1 => resolver.lookup_a(&fqdn(&format!("rsv-none{n}"))).await,
                _ => resolver.lookup_ptr(Ipv4Addr::new(10, 0, 100, 241)).await,
            };
            (n, answer.expect("lookup"))
        });
    }
    let mut n_answers = 0;
    while let Some(joined) = lookups.join_next().await {
        let (n, answer) = joined.expect("the lookup task ran");
        let expect = match n % 3 {
            0 => found(&["10.0.100.241"]),
            1 => Answer::NotFound,
            _ => found(&[&fqdn("rsv-many01")]),
        };
        assert_eq!(answer, expect, "lookup {n}");
        n_answers += 1;
    }
    assert_eq!(n_answers, 300);
}

#[tokio::test]
async fn a_closed_port_is_an_error_at_once() {
    // A port that was free a moment ago: nothing listens on it, the kernel answers
    // "port unreachable".
    let closed = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|socket| socket.local_addr())
        .expect("a free loopback port");
    let resolver = Resolver::new(closed, GENEROUS);
    let start = Instant::now();
    let problem = problem(
        resolver.lookup_a("pc01.linuxmuster.lan").await,
        "A pc01.linuxmuster.lan",
    );
    assert!(
        matches!(&problem, DnsProblem::Network { source }
            if source.kind() == std::io::ErrorKind::ConnectionRefused),
        "{problem:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_a_timeout_error_after_two_tries() {
    // Bound and kept, never read: the queries reach it and nothing comes back.
    let silent = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free loopback port");
    let resolver = Resolver::new(silent.local_addr().expect("bound"), SHORT);
    let start = Instant::now();
    let problem = problem(
        resolver.lookup_ptr(Ipv4Addr::new(10, 0, 100, 1)).await,
        "PTR 1.100.0.10.in-addr.arpa",
    );
    let elapsed = start.elapsed();
    assert!(
        matches!(problem, DnsProblem::Timeout { timeout } if timeout == SHORT),
        "{problem:?}"
    );
    assert!(
        elapsed >= SHORT && elapsed < SHORT + Duration::from_secs(2),
        "{elapsed:?}"
    );
    silent
        .set_nonblocking(true)
        .expect("a socket can be made non-blocking");
    let mut buffer = [0; 512];
    let n_datagrams = std::iter::from_fn(|| silent.recv(&mut buffer).ok()).count();
    assert_eq!(n_datagrams, 2, "the query and its one repetition");
}

/// A sandbox whose fake import wrote the fake DC's DNS state for two schools, with its fake DNS
/// server, and a resolver asking it.
fn fake_dc() -> (SandboxDc, Resolver) {
    let sandbox = two_schools();
    run_import(&sandbox, "default-school");
    let resolver = Resolver::new(sandbox.dns_server(), GENEROUS);
    (sandbox, resolver)
}

#[tokio::test]
async fn the_fake_dns_answers_from_the_fake_dc_state() {
    let (sandbox, resolver) = fake_dc();
    let a = async |name: &str| resolver.lookup_a(name).await.expect("lookup");
    let ptr = async |ip: [u8; 4]| {
        resolver
            .lookup_ptr(Ipv4Addr::from(ip))
            .await
            .expect("lookup")
    };
    assert_eq!(a(&fqdn("r100-pc01")).await, found(&["10.0.100.1"]));
    assert_eq!(a("R100-PC01.linuxmuster.lan").await, found(&["10.0.100.1"]));
    // Outside default-school the AD/DNS name is <school>-<host>.
    assert_eq!(a(&fqdn("school2-pc01")).await, found(&["10.1.0.1"]));
    assert_eq!(a(&fqdn("pc01")).await, Answer::NotFound);
    // A DHCP host has no DNS record.
    assert_eq!(a(&fqdn("r200-pc01")).await, Answer::NotFound);
    assert_eq!(ptr([10, 0, 100, 1]).await, found(&[&fqdn("r100-pc01")]));
    assert_eq!(ptr([10, 0, 100, 2]).await, Answer::NotFound);

    // Two addresses, and a name with no address (NODATA), written as a test writes them.
    sandbox.write(
        "var/lib/fake-dc/dns/multi01",
        "10.0.100.50\n10.0.100.51\nschool=default-school\n",
    );
    sandbox.write("var/lib/fake-dc/dns/txt01", "school=default-school\n");
    assert_eq!(
        sorted(a(&fqdn("multi01")).await),
        found(&["10.0.100.50", "10.0.100.51"])
    );
    assert_eq!(a(&fqdn("txt01")).await, Answer::NotFound);

    // No cache: the record's removal is seen at once, and every lookup reached the server.
    let asked = sandbox.dns().n_queries();
    std::fs::remove_file(sandbox.path("var/lib/fake-dc/dns/r100-pc01")).expect("removing");
    assert_eq!(a(&fqdn("r100-pc01")).await, Answer::NotFound);
    assert_eq!(sandbox.dns().n_queries(), asked + 1);

    // A name that is refused before anything is sent.
    for bad in ["-v", "pc 01.linuxmuster.lan", "pc01..linuxmuster.lan"] {
        let error = resolver.lookup_a(bad).await.unwrap_err();
        assert!(
            matches!(
                error,
                Error::InvalidArgument {
                    what: "DNS name",
                    ..
                }
            ),
            "{error:?}"
        );
    }
    assert_eq!(sandbox.dns().n_queries(), asked + 1);
}

#[tokio::test]
async fn fake_dns_failures_are_errors() {
    let (sandbox, resolver) = fake_dc();
    let dns = sandbox.dns();
    let name = fqdn("r100-pc01");
    let query = format!("A {name}");

    dns.set_mode(Mode::ServFail);
    let servfail = problem(resolver.lookup_a(&name).await, &query);
    assert!(
        matches!(servfail, DnsProblem::ResponseCode { code: 2 }),
        "{servfail:?}"
    );
    let message = Error::Dns {
        query: query.clone(),
        server: dns.address(),
        problem: servfail,
    }
    .to_string();
    assert_eq!(
        message,
        format!(
            "DNS query {query} to {}: the server answered 2(SERVFAIL)",
            dns.address()
        )
    );
    dns.set_mode(Mode::Refused);
    let refused = problem(
        resolver.lookup_ptr(Ipv4Addr::new(10, 0, 100, 1)).await,
        "PTR 1.100.0.10.in-addr.arpa",
    );
    assert!(
        matches!(refused, DnsProblem::ResponseCode { code: 5 }),
        "{refused:?}"
    );

    dns.set_mode(Mode::Silent);
    let quick = Resolver::new(dns.address(), SHORT);
    let silent = problem(quick.lookup_a(&name).await, &query);
    assert!(matches!(silent, DnsProblem::Timeout { .. }), "{silent:?}");

    // Slow: an answer after the timeout is a timeout; one within it is the answer.
    dns.set_mode(Mode::Answer);
    dns.set_delay(SHORT * 3);
    let start = Instant::now();
    let slow = problem(quick.lookup_a(&name).await, &query);
    assert!(matches!(slow, DnsProblem::Timeout { .. }), "{slow:?}");
    assert!(start.elapsed() < SHORT * 3, "{:?}", start.elapsed());
    dns.set_delay(SHORT / 5);
    assert_eq!(
        quick.lookup_a(&name).await.expect("an answer in time"),
        found(&["10.0.100.1"])
    );
}

#[tokio::test]
async fn a_sandbox_wired_to_samba_names_the_dc_as_its_dns_server() {
    let dc = SambaDc::shared();
    let sandbox = SandboxDc::with_samba(dc);
    let resolver = Resolver::new(sandbox.dns_server(), GENEROUS);
    let server_name = fqdn(dc_testkit::samba::HOST_NAME);
    assert_eq!(
        resolver.lookup_a(&server_name).await.expect("lookup"),
        found(&[&dc.address().to_string()])
    );
}
