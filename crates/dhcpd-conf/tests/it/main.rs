//! Integration tests of dhcpd-conf: one binary, one module per feature.

mod dhcpd;
mod edit;
mod fixtures;
mod includes;
mod parse;
mod props;
