//! A fake DNS server for the sandbox DC: A and PTR answers from the fake DC's state files, on a
//! free loopback UDP port, served by a thread of the test process.
//!
//! [`FakeDns::start`] answers from the files the fake import and the fake `samba-tool` keep
//! (`fixtures/fake-dc/sophomorix-device`, `fixtures/fake-dc/samba-tool`):
//!
//! * `<state>/dns/<name>`: the A records of every name whose **first label**, lowercase, is
//!   `<name>` (the domain is not looked at): one per line that is an
//!   IPv4 address (the import writes the address, then `school=<school>`);
//! * `<state>/ptr/<ip>`: the PTR record of `<ip>`, its first line the name it points to.
//!
//! The answers follow what a Samba 4.17 DC answered in the recordings of
//! `../shared/recorded/samba/` (`host_-t_*.txt`; the codes as `host` printed them):
//!
//! | query | answer | recording |
//! | --- | --- | --- |
//! | A of a name with a file | NOERROR, its addresses | `host_-t_A_existing.txt`, `…_two_addresses.txt` |
//! | A of a name without a file | NXDOMAIN | `host_-t_A_nxdomain.txt` |
//! | A of a name whose file has no address; any other type of a known name | NOERROR, no record (NODATA) | `host_-t_A_name_with_only_TXT.txt`, `…_only_AAAA.txt` |
//! | PTR of an address with a file | NOERROR, the name | `host_-t_PTR_existing.txt` |
//! | PTR of an address without a file | NXDOMAIN (a reverse zone without the record, and no reverse zone on a DC without forwarder, answer alike) | `host_-t_PTR_missing_in_zone.txt`, `…_no_reverse_zone_no_forwarder.txt` |
//! | [`Mode::ServFail`] | SERVFAIL | `host_-t_A_outside_zones_forwarder_unreachable.txt` |
//! | [`Mode::Refused`] | REFUSED | (none recorded) |
//! | [`Mode::Silent`] | nothing | `host_-t_A_server_never_answers.txt` |
//!
//! Every answer carries the query's id, opcode, RD bit and question as asked (case kept), with AA
//! set; records have the owner name as asked and a TTL of 900 s (samba-tool's default). Unlike a
//! real server it sends no SOA with NXDOMAIN or NODATA. A datagram that does not decode gets
//! FORMERR when it has an id, a query with other than one question FORMERR, an opcode other than
//! QUERY NOTIMP; responses are ignored.
//!
//! The knobs ([`set_mode`](FakeDns::set_mode), [`set_delay`](FakeDns::set_delay)) take effect
//! for the next query. The server stops when the value is dropped; it is a thread of the test
//! process, so it never outlives it.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record};

/// The TTL of every record: samba-tool's default for records it adds.
const TTL: u32 = 900;

/// How often the server thread looks at its stop flag.
const POLL: Duration = Duration::from_millis(20);

/// How the server treats the queries it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Answers from the state files (the default).
    Answer,
    /// Answers SERVFAIL to every query (a DC whose forwarder is unreachable).
    ServFail,
    /// Answers REFUSED to every query.
    Refused,
    /// Answers nothing (a server that has stopped answering, or a lost network).
    Silent,
}

impl Mode {
    /// Every mode, at the index of its `u8` value.
    const ALL: [Mode; 4] = [Mode::Answer, Mode::ServFail, Mode::Refused, Mode::Silent];
}

/// A fake DNS server on `127.0.0.1:<free port>`, stopped on drop.
#[derive(Debug)]
pub struct FakeDns {
    address: SocketAddr,
    shared: Arc<Shared>,
    /// The server thread, joined on drop. In a mutex, which keeps the value (and a
    /// [`SandboxDc`](crate::SandboxDc) holding one) unwind-safe for tests that catch panics.
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the test and the server thread share.
#[derive(Debug)]
struct Shared {
    /// The fake DC's state directory (`dns/`, `ptr/`).
    state: PathBuf,
    /// A [`Mode`] as `u8`.
    mode: AtomicU8,
    /// The delay of every answer, in milliseconds.
    delay_ms: AtomicU64,
    /// Datagrams received.
    n_queries: AtomicUsize,
    stop: AtomicBool,
}

impl FakeDns {
    /// Starts a server answering from `state` (a sandbox's `var/lib/fake-dc`; see the module
    /// documentation).
    ///
    /// # Panics
    /// When no loopback UDP port can be bound or the thread cannot be started.
    pub fn start(state: impl Into<PathBuf>) -> FakeDns {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap_or_else(|error| {
            panic!("binding a loopback UDP port for the fake DNS: {error}")
        });
        socket
            .set_read_timeout(Some(POLL))
            .expect("a non-zero read timeout is accepted");
        let address = socket
            .local_addr()
            .expect("a bound socket has a local address");
        let shared = Arc::new(Shared {
            state: state.into(),
            mode: AtomicU8::new(Mode::Answer as u8),
            delay_ms: AtomicU64::new(0),
            n_queries: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let thread = std::thread::Builder::new()
            .name(format!("fake-dns-{}", address.port()))
            .spawn({
                let shared = Arc::clone(&shared);
                move || serve(&socket, &shared)
            })
            .expect("starting the fake DNS thread");
        FakeDns {
            address,
            shared,
            thread: Mutex::new(Some(thread)),
        }
    }

    /// Where it listens (`127.0.0.1:<port>`): the worker's `DNS_SERVER`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// How the next queries are treated.
    pub fn set_mode(&self, mode: Mode) {
        self.shared.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Sends every answer `delay` after its query came (answers to other queries are not held up).
    pub fn set_delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(millis, Ordering::SeqCst);
    }

    /// How many datagrams it received so far, answered or not.
    pub fn n_queries(&self) -> usize {
        self.shared.n_queries.load(Ordering::SeqCst)
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let thread = self
            .thread
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(thread) = thread.take() {
            // A panic of the server thread has been printed already; the drop goes on.
            let _ = thread.join();
        }
    }
}

/// The server loop: receive, answer now or hold the answer until its time, until told to stop.
fn serve(socket: &UdpSocket, shared: &Shared) {
    let mut held: Vec<(Instant, Vec<u8>, SocketAddr)> = Vec::new();
    let mut buffer = [0; 4096];
    while !shared.stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        held.retain(|(due, answer, peer)| {
            if *due > now {
                return true;
            }
            // A client that went away is no concern of the server.
            let _ = socket.send_to(answer, peer);
            false
        });
        let wait = held
            .iter()
            .map(|(due, _, _)| due.saturating_duration_since(now))
            .min()
            .unwrap_or(POLL)
            .clamp(Duration::from_millis(1), POLL);
        socket
            .set_read_timeout(Some(wait))
            .expect("a non-zero read timeout is accepted");
        let Ok((length, peer)) = socket.recv_from(&mut buffer) else {
            // Timed out (or an error a UDP server cannot act on): look at the clock and the flag.
            continue;
        };
        shared.n_queries.fetch_add(1, Ordering::SeqCst);
        let mode = Mode::ALL[usize::from(shared.mode.load(Ordering::SeqCst))];
        let Some(answer) = respond(&shared.state, mode, &buffer[..length]) else {
            continue;
        };
        let delay = Duration::from_millis(shared.delay_ms.load(Ordering::SeqCst));
        if delay.is_zero() {
            let _ = socket.send_to(&answer, peer);
        } else {
            held.push((Instant::now() + delay, answer, peer));
        }
    }
}

/// The answer to `datagram` in `mode`, encoded; `None` for no answer.
fn respond(state: &Path, mode: Mode, datagram: &[u8]) -> Option<Vec<u8>> {
    if mode == Mode::Silent {
        return None;
    }
    let request = match Message::from_vec(datagram) {
        Ok(request) => request,
        Err(_) => {
            let id = u16::from_be_bytes([*datagram.first()?, *datagram.get(1)?]);
            let answer = Message::error_msg(id, OpCode::Query, ResponseCode::FormErr);
            return answer.to_vec().ok();
        }
    };
    if request.metadata.message_type != MessageType::Query {
        return None;
    }
    let mut answer = Message::response(request.metadata.id, request.metadata.op_code);
    answer.metadata.recursion_desired = request.metadata.recursion_desired;
    answer.add_queries(request.queries.iter().cloned());
    answer.metadata.response_code = match (mode, &request.queries[..]) {
        (Mode::ServFail, _) => ResponseCode::ServFail,
        (Mode::Refused, _) => ResponseCode::Refused,
        _ if request.metadata.op_code != OpCode::Query => ResponseCode::NotImp,
        (_, [query]) => {
            answer.metadata.authoritative = true;
            match records(state, query) {
                Some(records) => {
                    answer.add_answers(records);
                    ResponseCode::NoError
                }
                None => ResponseCode::NXDomain,
            }
        }
        _ => ResponseCode::FormErr,
    };
    answer.to_vec().ok()
}

/// The records of the query's type that its name has, or `None` when the name does not exist.
fn records(state: &Path, query: &Query) -> Option<Vec<Record>> {
    let name = query.name();
    let data: Vec<RData> = match reverse_ipv4(name) {
        Some(address) => {
            let text = read_state(state, "ptr", &address.to_string())?;
            let target = text.lines().next().unwrap_or_default().trim();
            Name::from_ascii(format!("{}.", target.trim_end_matches('.')))
                .map(|target| RData::PTR(PTR(target)))
                .into_iter()
                .collect()
        }
        None => {
            let label = String::from_utf8_lossy(name.iter().next()?).to_lowercase();
            read_state(state, "dns", &label)?
                .lines()
                .filter_map(|line| line.trim().parse::<Ipv4Addr>().ok())
                .map(|address| RData::A(A(address)))
                .collect()
        }
    };
    Some(
        data.into_iter()
            .filter(|data| data.record_type() == query.query_type())
            .map(|data| Record::from_rdata(name.clone(), TTL, data))
            .collect(),
    )
}

/// The text of `<state>/<kind>/<entry>`, or `None` when there is no such file (or `entry` could
/// leave the directory).
fn read_state(state: &Path, kind: &str, entry: &str) -> Option<String> {
    if entry.is_empty() || entry.starts_with('.') || entry.contains('/') {
        return None;
    }
    std::fs::read_to_string(state.join(kind).join(entry)).ok()
}

/// The address of a name `D.C.B.A.in-addr.arpa.` (any case).
fn reverse_ipv4(name: &Name) -> Option<Ipv4Addr> {
    let labels: Vec<String> = name
        .iter()
        .map(|label| String::from_utf8_lossy(label).to_lowercase())
        .collect();
    let [d, c, b, a, in_addr, arpa] = &labels[..] else {
        return None;
    };
    if in_addr != "in-addr" || arpa != "arpa" {
        return None;
    }
    let octet = |label: &str| label.parse::<u8>().ok();
    Some(Ipv4Addr::new(octet(a)?, octet(b)?, octet(c)?, octet(d)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reverse_names_are_read_like_samba_reads_them() {
        let address = |text: &str| reverse_ipv4(&Name::from_ascii(text).expect("a valid name"));
        assert_eq!(
            address("5.100.0.10.in-addr.arpa."),
            Some(Ipv4Addr::new(10, 0, 100, 5))
        );
        assert_eq!(
            address("5.100.0.10.IN-ADDR.ARPA"),
            Some(Ipv4Addr::new(10, 0, 100, 5))
        );
        assert_eq!(address("100.0.10.in-addr.arpa."), None);
        assert_eq!(address("256.100.0.10.in-addr.arpa."), None);
        assert_eq!(address("pc01.linuxmuster.lan."), None);
    }
}
