//! End-to-end tests: a real taskmasterd in a temporary directory, real
//! programs (tm-testprog), a real socket, and taskmasterctl as a user types
//! it. One binary, one module per feature; `harness` holds the shared parts.
//!
//! The tests run the workspace's binaries from target/debug: run
//! `cargo build` before `cargo test -p taskmaster-tests`.

mod edits;
mod harness;

mod backoff;
mod basics;
mod broker_restart;
mod capture;
mod config_errors;
mod dos;
mod fg;
mod import;
mod include;
mod intent;
mod logs;
mod numprocs;
mod oracle;
mod paths;
mod privsep;
mod process_names;
mod protocol;
mod ready;
mod reload;
mod resume;
mod roles;
mod service;
mod shutdown;
mod socket;
mod spawn;
mod states;
mod top;
mod users;
mod variables;
mod web;
mod webdriver;
mod why;
mod xmlrpc;
