//! Parse benchmark (added in a later commit).

fn main() {}
