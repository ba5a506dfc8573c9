//! The hook binary end to end in a sandbox DC standing for `/` (`--root`, a
//! `dc_testkit::SandboxDc`): the linuxmuster DHCP layout of SPEC §12, the real ISC `dhcpd -t` (or a
//! fake one from `fixtures/fake-dc/` where a verdict must be forced), and every rule of SPEC §7;
//! devices files and deltas from `fixtures/hook/` or built by `support.rs`.

mod block_names;
mod rules;
mod support;
