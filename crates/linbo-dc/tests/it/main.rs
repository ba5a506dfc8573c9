//! Integration tests of linbo-dc's building blocks.

mod api;
mod conf_file;
mod outbox;
mod paths;
mod redis_link;
mod worker;
mod worker_config;
