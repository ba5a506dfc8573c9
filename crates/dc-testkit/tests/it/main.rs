//! Integration tests of dc-testkit: the sandbox DC driven through its launchers, and the fake API
//! forwarding retries to a private Redis.

mod retry_forwarding;
mod samba;
mod sandbox;
