//! Lossless parser and patcher for ISC dhcpd.conf files, built on `nom`.
//!
//! Parsing keeps every byte: whitespace and comments hang on the statement or block they belong
//! to, and nodes that are not edited print their original text. So a file that was not changed
//! prints back identically:
//!
//! ```
//! let input = "# subnet 10.0.100.0/24\n\
//!              host r100-pc01 {\n  \
//!                option host-name \"r100-pc01\";\n  \
//!                hardware ethernet 00:1A:2B:3C:4D:01;\n  \
//!                fixed-address 10.0.100.1;\n\
//!              }\n\
//!              host r100-pc02 { hardware ethernet 00:1A:2B:3C:4D:02; } # one-line block {\n";
//! let config = dhcpd_conf::parse(input)?;
//! assert_eq!(config.to_string(), input);
//!
//! let hosts: Vec<_> = config.hosts().map(|host| (host.name(), host.fixed_address())).collect();
//! assert_eq!(hosts, [("r100-pc01", Some("10.0.100.1")), ("r100-pc02", None)]);
//! # Ok::<(), dhcpd_conf::Error>(())
//! ```
//!
//! Edits go through the host API; callers never handle whitespace. A new statement takes the
//! indentation of its neighbours, and re-applying an edit changes nothing:
//!
//! ```
//! use std::net::Ipv4Addr;
//!
//! let input = "host r100-pc01 {\n  hardware ethernet 00:1A:2B:3C:4D:01;\n  fixed-address 10.0.100.1;\n}\n";
//! let mut config = dhcpd_conf::parse(input)?;
//! let docker: Ipv4Addr = "10.0.0.11".parse().expect("a valid address literal");
//!
//! let mut host = config.host_mut("r100-pc01").expect("declared above");
//! assert!(host.set_next_server(docker));
//! assert!(!host.set_next_server(docker), "idempotent");
//! assert_eq!(
//!     config.to_string(),
//!     "host r100-pc01 {\n  hardware ethernet 00:1A:2B:3C:4D:01;\n  next-server 10.0.0.11;\n  fixed-address 10.0.100.1;\n}\n"
//! );
//!
//! // Exact address comparison: 10.0.0.1 is not 10.0.0.11.
//! let mut host = config.host_mut("r100-pc01").expect("declared above");
//! assert!(!host.remove_next_server_if("10.0.0.1".parse().expect("a valid address literal")));
//! assert!(host.remove_next_server_if(docker));
//! assert_eq!(config.to_string(), input);
//! # Ok::<(), dhcpd_conf::Error>(())
//! ```
//!
//! Errors name the position: `line 2, column 1: expected `;` or `{` after statement`.
//!
//! # Limitations
//!
//! - The grammar is the shape of dhcpd.conf, not its meaning: any `words { ... }` is a block and any
//!   `words ;` a statement. Unknown keywords, wrong arguments or a `host` inside a `pool` are left
//!   for `dhcpd -t` to reject. What it does reject: unbalanced braces, a missing `;`, an unterminated
//!   string, an `elsif`/`else` without `if`, and more than 64 nested blocks.
//! - Braces after `=` in an `option` statement are an option record type
//!   (`option x code 200 = { integer 8, text };`, `= array of { ip-address, integer 8 }`); braces
//!   anywhere else open a block.
//! - dhcpd rejects quoted host names (`host "pc01" {`); the parser accepts and unquotes them
//!   without interpreting escapes.
//! - Host names are compared exactly, as dhcpd does (`PC01` and `pc01` are different hosts);
//!   keywords are compared ASCII case-insensitively, as dhcpd does (`Hardware Ethernet`).
//! - Only statements directly inside a host block are edited; `next-server` set in a surrounding
//!   `group` or `subnet` is neither read nor changed by the host API.
//! - Include paths are compared exactly as written; relative paths are not resolved.
//! - Input is `&str`: a file that is not UTF-8 (say, Latin-1 umlauts in a comment) must be
//!   rejected by the caller, never converted lossily, or the bytes written back would differ.
//! - The parser holds the whole file in memory (a 20,000-host file is a few MB); sources of 4 GiB
//!   or more are rejected.

#![deny(missing_docs)]

mod config;
mod edit;
mod error;
mod host;
mod include;
mod parser;
mod syntax;

pub use config::{Config, Hosts, parse};
pub use error::{Error, Result};
pub use host::{Host, HostMut, Statement};
pub use include::{IncludeGraph, IncludeStatus, IncludedFile};
