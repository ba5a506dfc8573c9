//! The hook binary end to end in a sandbox directory standing for `/` (`--root`): the linuxmuster
//! DHCP layout of SPEC §12, the real ISC `dhcpd -t` (or a fake one from `fixtures/fake-dc/` where a
//! verdict must be forced), and every rule of SPEC §7.

mod block_names;
mod rules;
mod sandbox;
