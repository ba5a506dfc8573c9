//! End-to-end tests of `linbo-dc-worker`: the real binary against a private `redis-server`, the
//! fake LINBO API and a sandbox DC whose import runs the real `linbo-dc-dhcp-hook`.

mod support;

mod cli;
mod doctor;
mod guard;
mod instance;
mod macct;
mod ops;
mod provision;
mod replay;
mod resilience;
mod samba;
mod systemd;
mod tls;
mod upstream;
