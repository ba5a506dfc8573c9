//! The fake DNS server on the wire: what it answers as a DNS server must (the id, the question as
//! asked, the codes of the Samba recordings), its knobs, and its end when dropped. Lookups through
//! linbo-dc's resolver are tested in dc-adapters (`tests/it/dns.rs`).

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use dc_testkit::dns::Mode;
use dc_testkit::{FakeDns, SambaDc, SandboxDc};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// How long a test waits for an answer it expects.
const WAIT: Duration = Duration::from_secs(5);

/// Sends `datagram` to `server` and returns the answer, `None` when none comes within `wait`.
fn exchange(server: SocketAddr, datagram: &[u8], wait: Duration) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a free loopback port");
    socket.connect(server).expect("connecting a UDP socket");
    socket
        .set_read_timeout(Some(wait))
        .expect("a non-zero timeout");
    socket.send(datagram).expect("sending the query");
    let mut buffer = [0; 4096];
    let length = socket.recv(&mut buffer).ok()?;
    Some(Message::from_vec(&buffer[..length]).expect("the fake's answers decode"))
}

/// A query for `name` of `record_type` with the id 4711 and RD set.
fn query(name: &str, record_type: RecordType) -> Message {
    let mut message = Message::new(4711, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(
        Name::from_ascii(name).expect("a valid name"),
        record_type,
    ));
    message
}

/// Asks `dns` for `name` of `record_type`; the answer, which must come.
#[track_caller]
fn ask(dns: &FakeDns, name: &str, record_type: RecordType) -> Message {
    let request = query(name, record_type);
    let answer = exchange(dns.address(), &request.to_vec().expect("encodes"), WAIT)
        .unwrap_or_else(|| panic!("no answer to {name} {record_type}"));
    assert_eq!(answer.metadata.id, 4711);
    assert_eq!(answer.metadata.message_type, MessageType::Response);
    assert!(answer.metadata.recursion_desired);
    assert_eq!(answer.queries, request.queries);
    assert!(
        answer.queries[0].name().eq_case(request.queries[0].name()),
        "the question as asked"
    );
    answer
}

/// The response code and the answers' data as text.
#[track_caller]
fn verdict(dns: &FakeDns, name: &str, record_type: RecordType) -> (ResponseCode, Vec<String>) {
    let answer = ask(dns, name, record_type);
    let data = answer
        .answers
        .iter()
        .map(|record| {
            assert!(record.name.eq_case(answer.queries[0].name()), "{record:?}");
            match &record.data {
                RData::A(address) => address.0.to_string(),
                RData::PTR(target) => target.0.to_ascii(),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    (answer.metadata.response_code, data)
}

/// A sandbox with an A record for `pc01` (two addresses), a name without an address and a PTR
/// record, written as the fake import writes them.
fn sandbox() -> SandboxDc {
    let sandbox = SandboxDc::new();
    sandbox.write(
        "var/lib/fake-dc/dns/pc01",
        "10.0.100.1\n10.0.100.2\nschool=default-school\n",
    );
    sandbox.write("var/lib/fake-dc/dns/txt01", "school=default-school\n");
    sandbox.write(
        "var/lib/fake-dc/ptr/10.0.100.1",
        "pc01.linuxmuster.lan\nschool=default-school\n",
    );
    sandbox
}

#[test]
fn answers_as_the_samba_dc_answers() {
    use ResponseCode::{NXDomain, NoError};
    let sandbox = sandbox();
    let dns = sandbox.dns();
    let ok = |data: &[&str]| (NoError, data.iter().map(|d| (*d).to_owned()).collect());
    let none = |code| (code, Vec::<String>::new());
    assert_eq!(
        verdict(dns, "pc01.linuxmuster.lan.", RecordType::A),
        ok(&["10.0.100.1", "10.0.100.2"])
    );
    assert_eq!(
        verdict(dns, "PC01.Linuxmuster.LAN.", RecordType::A),
        ok(&["10.0.100.1", "10.0.100.2"])
    );
    assert_eq!(
        verdict(dns, "pc99.linuxmuster.lan.", RecordType::A),
        none(NXDomain)
    );
    // NODATA: the name exists without a record of the type.
    assert_eq!(
        verdict(dns, "txt01.linuxmuster.lan.", RecordType::A),
        none(NoError)
    );
    assert_eq!(
        verdict(dns, "pc01.linuxmuster.lan.", RecordType::AAAA),
        none(NoError)
    );
    assert_eq!(
        verdict(dns, "1.100.0.10.in-addr.arpa.", RecordType::PTR),
        ok(&["pc01.linuxmuster.lan."])
    );
    assert_eq!(
        verdict(dns, "1.100.0.10.in-addr.arpa.", RecordType::A),
        none(NoError)
    );
    assert_eq!(
        verdict(dns, "9.100.0.10.in-addr.arpa.", RecordType::PTR),
        none(NXDomain)
    );
    assert!(
        ask(dns, "pc01.linuxmuster.lan.", RecordType::A)
            .metadata
            .authoritative
    );
    assert_eq!(dns.n_queries(), 9);
}

#[test]
fn malformed_and_unsupported_queries() {
    let sandbox = sandbox();
    let dns = sandbox.dns();
    // An answer comes at once or not at all.
    let code = |datagram: &[u8]| {
        exchange(dns.address(), datagram, Duration::from_millis(300))
            .map(|answer| (answer.metadata.id, answer.metadata.response_code))
    };
    // Garbage after an id: FORMERR with that id. One byte: no id, no answer.
    assert_eq!(
        code(&[0x12, 0x34, 0x01, 0x00, 0x00, 0x01]),
        Some((0x1234, ResponseCode::FormErr))
    );
    assert_eq!(code(&[0x12]), None);
    let mut two = query("pc01.linuxmuster.lan.", RecordType::A);
    two.add_query(Query::query(
        Name::from_ascii("pc02.linuxmuster.lan.").expect("a valid name"),
        RecordType::A,
    ));
    assert_eq!(
        code(&two.to_vec().expect("encodes")),
        Some((4711, ResponseCode::FormErr))
    );
    let mut status = query("pc01.linuxmuster.lan.", RecordType::A);
    status.metadata.op_code = OpCode::Status;
    assert_eq!(
        code(&status.to_vec().expect("encodes")),
        Some((4711, ResponseCode::NotImp))
    );
    // A response is not a query: no answer.
    let mut response = query("pc01.linuxmuster.lan.", RecordType::A);
    response.metadata.message_type = MessageType::Response;
    assert_eq!(code(&response.to_vec().expect("encodes")), None);
}

#[test]
fn knobs_fail_delay_and_silence_it() {
    let sandbox = sandbox();
    let dns = sandbox.dns();
    let name = "pc01.linuxmuster.lan.";
    dns.set_mode(Mode::ServFail);
    assert_eq!(
        verdict(dns, name, RecordType::A),
        (ResponseCode::ServFail, vec![])
    );
    dns.set_mode(Mode::Refused);
    assert_eq!(
        verdict(dns, name, RecordType::A),
        (ResponseCode::Refused, vec![])
    );
    dns.set_mode(Mode::Silent);
    let request = query(name, RecordType::A).to_vec().expect("encodes");
    assert!(exchange(dns.address(), &request, Duration::from_millis(300)).is_none());
    dns.set_mode(Mode::Answer);
    dns.set_delay(Duration::from_millis(400));
    assert!(exchange(dns.address(), &request, Duration::from_millis(150)).is_none());
    let start = Instant::now();
    assert!(exchange(dns.address(), &request, WAIT).is_some());
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "{:?}",
        start.elapsed()
    );
    dns.set_delay(Duration::ZERO);
    assert_eq!(verdict(dns, name, RecordType::A).0, ResponseCode::NoError);
}

#[test]
fn it_stops_when_dropped() {
    let sandbox = sandbox();
    let dns = FakeDns::start(sandbox.path("var/lib/fake-dc"));
    let address = dns.address();
    let request = query("pc01.linuxmuster.lan.", RecordType::A)
        .to_vec()
        .expect("encodes");
    assert!(exchange(address, &request, WAIT).is_some());
    let start = Instant::now();
    drop(dns);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(exchange(address, &request, Duration::from_millis(300)).is_none());
}

#[test]
fn a_sandbox_names_its_dns_server() {
    let sandbox = SandboxDc::new();
    assert_eq!(sandbox.dns_server(), sandbox.dns().address());
    assert!(sandbox.dns_server().ip().is_loopback());
    let dc = SambaDc::shared();
    let wired = SandboxDc::with_samba(dc);
    assert_eq!(wired.dns_server(), dc.dns_server());
    assert_eq!(dc.dns_server(), SocketAddr::from((dc.address(), 53)));
    let panic = std::panic::catch_unwind(|| {
        wired.dns();
    })
    .expect_err("a Samba sandbox has no fake DNS");
    let message = panic
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    assert!(message.contains("ask its DNS server"), "{message}");
}
