//! DNS lookups for provisioning's verification: A and PTR queries sent straight to the DC's DNS
//! server over UDP, in process ([`Resolver`]), with the verdicts the worker's earlier `host`
//! adapter gave; and the settings that name the server ([`parse_server`],
//! [`nameserver_from_resolv_conf`]).
//!
//! A [`Resolver`] builds each query with hickory-proto and sends it from a UDP socket of its own,
//! connected to the server, so nothing but the server's answers reach it and a closed port is
//! reported at once (the kernel's "port unreachable" becomes `connection refused`). It keeps **no
//! answer cache**: every lookup asks the server, so a lookup after a clean-up sees the server's
//! current state. Names are absolute (no search domains), recursion is desired (as `host` asks).
//!
//! The verdicts are those `host` (bind9-host 9.18) gives for the same answers of a Samba 4.17 DC,
//! as recorded in `../shared/recorded/samba/host_*.txt`:
//!
//! | the server answers | verdict |
//! | --- | --- |
//! | NOERROR with records of the type (after a CNAME too) | [`Answer::Found`] |
//! | NXDOMAIN | [`Answer::NotFound`] |
//! | NOERROR without a record of the type (NODATA: only AAAA or TXT, a CNAME without A) | [`Answer::NotFound`] |
//! | SERVFAIL, REFUSED, any other code | [`Error::Dns`], [`DnsProblem::ResponseCode`] |
//! | nothing within the timeout | [`Error::Dns`], [`DnsProblem::Timeout`] |
//! | `connection refused` (nothing listens), other socket errors | [`Error::Dns`], [`DnsProblem::Network`] |
//! | a truncated NOERROR answer, an undecodable one | [`Error::Dns`], [`DnsProblem::Truncated`] / [`DnsProblem::Protocol`] |
//!
//! ```no_run
//! # async fn verify() -> dc_adapters::Result<()> {
//! use std::time::Duration;
//! use dc_adapters::dns::{Answer, Resolver, parse_server};
//!
//! let resolver = Resolver::new(parse_server("10.0.0.1")?, Duration::from_secs(2));
//! match resolver.lookup_a("r100-pc01.linuxmuster.lan").await? {
//!     Answer::Found(addresses) => assert!(addresses.contains(&"10.0.100.1".to_owned())),
//!     Answer::NotFound => {}
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # Limitations
//!
//! * UDP only, without EDNS (as `host` asks): an answer over 512 bytes comes truncated and is an
//!   error, not retried over TCP. An A or PTR answer of a DC's host needs a few dozen bytes.
//! * A lookup waiting for one of the [`MAX_IN_FLIGHT`] slots is not timed; only its query is.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use crate::argv::check_value;
use crate::error::{Error, Result};

/// The DNS port, for a server named without one.
pub const DEFAULT_PORT: u16 = 53;

/// How many queries one [`Resolver`] (and its clones) has on the wire at once; further lookups
/// wait for a slot. Each query holds a UDP socket, so this also bounds the file descriptors
/// lookups take.
pub const MAX_IN_FLIGHT: usize = 64;

/// The largest answer read. Without EDNS a server sends at most 512 bytes over UDP; a larger
/// datagram is cut here and then fails to decode.
const RECEIVE_BUFFER: usize = 4096;

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The records' data: addresses for A, names (without the trailing dot) for PTR.
    Found(Vec<String>),
    /// NXDOMAIN, or the name exists without a record of this type.
    NotFound,
}

/// Why a DNS query got no verdict (the `problem` of [`Error::Dns`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsProblem {
    /// The server answered with an error code: SERVFAIL, REFUSED, FORMERR, ….
    #[error("the server answered {}", response_code_text(*code))]
    ResponseCode {
        /// The response code (2 = SERVFAIL, 5 = REFUSED, …).
        code: u16,
    },
    /// No answer came within the timeout (the query was sent twice).
    #[error("no answer within {timeout:?}")]
    Timeout {
        /// The timeout that struck.
        timeout: Duration,
    },
    /// The query could not be sent or the answer not received: `connection refused` when nothing
    /// listens on the server's port.
    #[error("{source}")]
    Network {
        /// The operating system's reason.
        source: io::Error,
    },
    /// The server said its answer did not fit a UDP message (TC), and TCP is not tried.
    #[error("the answer was truncated (over 512 bytes; TCP is not tried)")]
    Truncated,
    /// The query could not be encoded, or an answer to it not decoded.
    #[error("{reason}")]
    Protocol {
        /// What could not be encoded or decoded.
        reason: String,
    },
}

/// An asynchronous DNS client asking one server, without a cache. Cloning is cheap; clones share
/// the [`MAX_IN_FLIGHT`] slots.
#[derive(Debug, Clone)]
pub struct Resolver {
    server: SocketAddr,
    timeout: Duration,
    slots: Arc<Semaphore>,
}

impl Resolver {
    /// A resolver asking `server`; each query gets `timeout` for its answer, and is sent once
    /// more when half of it has passed without one.
    pub fn new(server: SocketAddr, timeout: Duration) -> Resolver {
        Resolver {
            server,
            timeout,
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// The server asked.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// The timeout of each query.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The addresses (dotted quads) of `fqdn`'s A records, as the server answers now. `fqdn` is
    /// taken as absolute, with or without the trailing dot; letters, digits, `-`, `_` and `.`
    /// only, else [`Error::InvalidArgument`] before anything is sent.
    pub async fn lookup_a(&self, fqdn: &str) -> Result<Answer> {
        let name = absolute_name(fqdn)?;
        self.lookup(Query::query(name, RecordType::A)).await
    }

    /// The names (without the trailing dot) the PTR records of `address` point to, as the server
    /// answers now.
    pub async fn lookup_ptr(&self, address: Ipv4Addr) -> Result<Answer> {
        self.lookup(Query::query(Name::from(address), RecordType::PTR))
            .await
    }

    async fn lookup(&self, query: Query) -> Result<Answer> {
        let verdict = {
            let _slot = self
                .slots
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let start = Instant::now();
            let verdict = match tokio::time::timeout(self.timeout, self.exchange(&query)).await {
                Ok(Ok(response)) => assess(&response),
                Ok(Err(problem)) => Err(problem),
                Err(_elapsed) => Err(DnsProblem::Timeout {
                    timeout: self.timeout,
                }),
            };
            tracing::debug!(
                query = %describe(&query),
                server = %self.server,
                duration_ms = start.elapsed().as_millis() as u64,
                verdict = ?verdict,
                "DNS query answered"
            );
            verdict
        };
        verdict.map_err(|problem| Error::Dns {
            query: describe(&query),
            server: self.server,
            problem,
        })
    }

    /// Sends `query` from a socket of its own, again after half the timeout, and returns the
    /// first answer to it. The caller bounds the wait.
    async fn exchange(&self, query: &Query) -> Result<Message, DnsProblem> {
        let mut request = Message::query();
        request.metadata.recursion_desired = true;
        request.add_query(query.clone());
        let bytes = request.to_vec().map_err(|error| DnsProblem::Protocol {
            reason: format!("the query could not be encoded: {error}"),
        })?;
        let local: SocketAddr = match self.server {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let socket = UdpSocket::bind(local).await.map_err(network)?;
        socket.connect(self.server).await.map_err(network)?;
        socket.send(&bytes).await.map_err(network)?;
        let resend = tokio::time::sleep(self.timeout / 2);
        tokio::pin!(resend);
        let mut resent = false;
        let mut buffer = vec![0; RECEIVE_BUFFER];
        loop {
            tokio::select! {
                received = socket.recv(&mut buffer) => {
                    let length = received.map_err(network)?;
                    if let Some(response) = response_to(&request, &buffer[..length])? {
                        return Ok(response);
                    }
                }
                () = &mut resend, if !resent => {
                    resent = true;
                    socket.send(&bytes).await.map_err(network)?;
                }
            }
        }
    }
}

fn network(source: io::Error) -> DnsProblem {
    DnsProblem::Network { source }
}

/// `datagram` decoded, if it is the answer to `request`: its id, a response to a standard query,
/// and the question echoed (names compared without case). An answer without a question is
/// taken only when its code can only be an error (some servers leave the question out of
/// those). `None` for anything else, which the exchange ignores; an undecodable answer carrying
/// the request's id is a [`DnsProblem::Protocol`].
fn response_to(request: &Message, datagram: &[u8]) -> Result<Option<Message>, DnsProblem> {
    let id = request.metadata.id.to_be_bytes();
    if datagram.get(..2) != Some(&id[..]) {
        return Ok(None);
    }
    let response = Message::from_vec(datagram).map_err(|error| DnsProblem::Protocol {
        reason: format!("the answer could not be decoded: {error}"),
    })?;
    let metadata = &response.metadata;
    if metadata.message_type != MessageType::Response || metadata.op_code != OpCode::Query {
        return Ok(None);
    }
    let echoed = response.queries == request.queries;
    let error_without_question = response.queries.is_empty()
        && !matches!(
            metadata.response_code,
            ResponseCode::NoError | ResponseCode::NXDomain
        );
    Ok((echoed || error_without_question).then_some(response))
}

/// The verdict on an answer (pure): see the table in the module's documentation.
fn assess(response: &Message) -> Result<Answer, DnsProblem> {
    match response.metadata.response_code {
        ResponseCode::NXDomain => Ok(Answer::NotFound),
        ResponseCode::NoError if response.metadata.truncation => Err(DnsProblem::Truncated),
        ResponseCode::NoError => {
            let data: Vec<String> = response
                .answers
                .iter()
                .filter_map(|record| match &record.data {
                    RData::A(address) => Some(address.0.to_string()),
                    RData::PTR(target) => Some(name_text(&target.0)),
                    _ => None,
                })
                .collect();
            Ok(if data.is_empty() {
                Answer::NotFound
            } else {
                Answer::Found(data)
            })
        }
        code => Err(DnsProblem::ResponseCode {
            code: u16::from(code),
        }),
    }
}

/// `A r100-pc01.linuxmuster.lan`, `PTR 1.100.0.10.in-addr.arpa`: a query as `host` shows it.
fn describe(query: &Query) -> String {
    format!("{} {}", query.query_type(), name_text(query.name()))
}

/// A name as text, without the trailing dot.
fn name_text(name: &Name) -> String {
    let text = name.to_ascii();
    match text.strip_suffix('.') {
        Some(relative) if !relative.is_empty() => relative.to_owned(),
        _ => text,
    }
}

/// `2(SERVFAIL)`: a response code as `host` prints it.
fn response_code_text(code: u16) -> String {
    let mnemonic = match code {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "?",
    };
    format!("{code}({mnemonic})")
}

/// `fqdn` as an absolute name, or why it is refused.
fn absolute_name(fqdn: &str) -> Result<Name> {
    const WHAT: &str = "DNS name";
    check_value(WHAT, fqdn)?;
    let refuse = |reason| Error::InvalidArgument {
        what: WHAT,
        value: fqdn.to_owned(),
        reason,
    };
    let text = fqdn.strip_suffix('.').unwrap_or(fqdn);
    if !text
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
    {
        return Err(refuse(
            "it has a character other than letters, digits, `-`, `_` and `.`",
        ));
    }
    if text.split('.').any(str::is_empty) {
        return Err(refuse("it has an empty label"));
    }
    let mut name = Name::from_ascii(text)
        .map_err(|_| refuse("it has a label over 63 characters or is over 253 characters long"))?;
    name.set_fqdn(true);
    Ok(name)
}

/// The DNS server of a `DNS_SERVER` setting: an IP address with an optional port (default
/// [`DEFAULT_PORT`]): `10.0.0.1`, `10.0.0.1:5353`, `::1`, `[::1]`, `[::1]:53`. Host names are
/// refused (finding the DNS server must not need DNS).
pub fn parse_server(text: &str) -> Result<SocketAddr> {
    let refuse = |reason| Error::InvalidArgument {
        what: "DNS server",
        value: text.to_owned(),
        reason,
    };
    let unbracketed = text
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(text);
    let server = if let Ok(server) = text.parse::<SocketAddr>() {
        server
    } else if let Ok(address) = unbracketed.parse::<IpAddr>() {
        SocketAddr::new(address, DEFAULT_PORT)
    } else if text.is_empty() {
        return Err(refuse("it is empty"));
    } else {
        return Err(refuse(
            "it is not an IP address with an optional port (10.0.0.1, 10.0.0.1:53, [::1]:53)",
        ));
    };
    if server.port() == 0 {
        return Err(refuse("port 0 is no server's port"));
    }
    Ok(server)
}

/// The first usable `nameserver` of a `resolv.conf` text: lines starting with `#` or `;` are
/// comments, and so is what follows the address; an address that is not an IP address (one with
/// an IPv6 zone, `fe80::1%eth0`) is skipped, as the C library skips it. `None` when there is none.
pub fn nameserver_from_resolv_conf(text: &str) -> Option<IpAddr> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with(['#', ';']))
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver"))
                .then(|| words.next())
                .flatten()
        })
        .find_map(|address| address.parse().ok())
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::Record;
    use hickory_proto::rr::rdata::{A, CNAME, PTR, TXT};

    use super::*;

    /// An answer with `code`, the TC bit `truncated` and `records` in its answer section.
    fn answer(code: ResponseCode, truncated: bool, records: &[RData]) -> Message {
        let mut message = Message::response(7, OpCode::Query);
        message.metadata.response_code = code;
        message.metadata.truncation = truncated;
        let owner = Name::from_ascii("pc01.linuxmuster.lan.").expect("a valid name");
        for data in records {
            message.add_answer(Record::from_rdata(owner.clone(), 900, data.clone()));
        }
        message
    }

    #[track_caller]
    fn check(code: ResponseCode, truncated: bool, records: &[RData], expect: &str) {
        let got = match assess(&answer(code, truncated, records)) {
            Ok(Answer::Found(data)) => data.join(" "),
            Ok(Answer::NotFound) => "not found".to_owned(),
            Err(problem) => format!("error: {problem}"),
        };
        assert_eq!(got, expect);
    }

    fn a(address: [u8; 4]) -> RData {
        RData::A(A::from(Ipv4Addr::from(address)))
    }

    fn name(text: &str) -> Name {
        Name::from_ascii(text).expect("a valid name")
    }

    #[test]
    fn verdicts_as_host_gives_them() {
        use ResponseCode::{FormErr, NXDomain, NoError, NotImp, Refused, ServFail};
        let alias = RData::CNAME(CNAME(name("r100-pc01.linuxmuster.lan.")));
        let text = RData::TXT(TXT::new(vec!["only text".to_owned()]));
        let pointer = RData::PTR(PTR(name("r100-pc01.linuxmuster.lan.")));
        check(NoError, false, &[a([10, 0, 0, 5])], "10.0.0.5");
        check(
            NoError,
            false,
            &[a([10, 0, 0, 7]), a([10, 0, 0, 8])],
            "10.0.0.7 10.0.0.8",
        );
        check(
            NoError,
            false,
            &[alias.clone(), a([10, 0, 0, 5])],
            "10.0.0.5",
        );
        check(NoError, false, &[pointer], "r100-pc01.linuxmuster.lan");
        // NODATA: the name has other records only, or is an alias without an address.
        check(NoError, false, &[], "not found");
        check(NoError, false, &[text], "not found");
        check(NoError, false, &[alias], "not found");
        check(NXDomain, false, &[], "not found");
        check(
            ServFail,
            false,
            &[],
            "error: the server answered 2(SERVFAIL)",
        );
        check(Refused, false, &[], "error: the server answered 5(REFUSED)");
        check(FormErr, false, &[], "error: the server answered 1(FORMERR)");
        check(NotImp, false, &[], "error: the server answered 4(NOTIMP)");
        check(
            ResponseCode::Unknown(12),
            false,
            &[],
            "error: the server answered 12(?)",
        );
        check(
            NoError,
            true,
            &[a([10, 0, 0, 5])],
            "error: the answer was truncated (over 512 bytes; TCP is not tried)",
        );
    }

    #[test]
    fn only_the_answer_to_the_request_is_taken() {
        let mut request = Message::query();
        request.add_query(Query::query(name("pc01.linuxmuster.lan."), RecordType::A));
        let id = request.metadata.id;
        let reply = |id: u16, code: ResponseCode, question: Option<&str>| {
            let mut message = Message::error_msg(id, OpCode::Query, code);
            if let Some(question) = question {
                message.add_query(Query::query(name(question), RecordType::A));
            }
            message.to_vec().expect("encodes")
        };
        let taken = |datagram: &[u8]| response_to(&request, datagram).expect("decodes").is_some();
        use ResponseCode::{NXDomain, ServFail};
        assert!(taken(&reply(id, NXDomain, Some("PC01.linuxmuster.lan."))));
        assert!(!taken(&reply(
            id.wrapping_add(1),
            NXDomain,
            Some("pc01.linuxmuster.lan.")
        )));
        assert!(!taken(&reply(id, NXDomain, Some("pc02.linuxmuster.lan."))));
        assert!(!taken(&reply(id, NXDomain, None)));
        assert!(taken(&reply(id, ServFail, None)));
        // The request itself (a query, not a response) is not its answer.
        assert!(!taken(&request.to_vec().expect("encodes")));
        assert!(!taken(&[]));
        let mut garbage = id.to_be_bytes().to_vec();
        garbage.extend([0x81, 0x80, 0, 1]);
        assert!(matches!(
            response_to(&request, &garbage),
            Err(DnsProblem::Protocol { .. })
        ));
    }

    #[test]
    fn names_are_absolute_and_plain() {
        let text = |fqdn: &str| match absolute_name(fqdn) {
            Ok(name) => name.to_ascii(),
            Err(error) => error.to_string(),
        };
        assert_eq!(text("pc01.linuxmuster.lan"), "pc01.linuxmuster.lan.");
        assert_eq!(text("PC01.linuxmuster.lan."), "PC01.linuxmuster.lan.");
        assert_eq!(text("pc01"), "pc01.");
        assert_eq!(
            text("-v"),
            "refusing DNS name \"-v\": it starts with `-` and would be read as an option"
        );
        assert_eq!(text(""), "refusing DNS name \"\": it is empty");
        assert!(text("pc01\n.lan").contains("a control character"));
        for bad in [
            "pc 01.lan",
            "pc\\.01.lan",
            "pc01.lan;x",
            "pc01@lan",
            "pc01.lan/x",
        ] {
            assert!(text(bad).contains("a character other than"), "{bad:?}");
        }
        for bad in ["pc01..lan", ".pc01.lan", "."] {
            assert!(text(bad).contains("an empty label"), "{bad:?}");
        }
        assert!(text(&"x".repeat(64)).contains("over 63"));
        assert!(text(&["x"; 130].join(".")).contains("over 253"));
    }
}
