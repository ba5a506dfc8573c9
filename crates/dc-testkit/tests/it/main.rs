//! Integration tests of dc-testkit: the sandbox DC driven through its launchers, its fake DNS
//! server on the wire, and the fake API forwarding retries to a private Redis.

mod dns;
mod retry_forwarding;
mod samba;
mod sandbox;
