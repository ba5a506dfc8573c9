//! Integration tests of linbo-dc's building blocks.

mod conf_file;
mod paths;
mod worker_config;
