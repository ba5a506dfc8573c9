//! Integration tests of dhcpd-conf (added in the next commits).
