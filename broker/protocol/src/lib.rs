//! Taskmaster's control protocol: newline-delimited JSON over a Unix socket.
//!
//! This crate is all a client needs: the request and reply types, the line
//! framing with its size limit, where the config and the socket are found,
//! and a small blocking [`Client`]. taskmasterctl, the shipped plugins and
//! third-party plugins use it; the broker uses the same types to answer.
//! docs/protocol.md describes every command with examples.

mod client;
mod discovery;
mod framing;
mod request;
mod types;

pub use client::{Client, ConnectError};
pub use discovery::{
    discover_config, socket_path_from_url, ConfigNotFound, UnsupportedUrl, CONFIG_SEARCH_PATH,
};
pub use framing::{read_line, LineError};
pub use request::*;
pub use types::*;

/// The protocol version `version` reports. Raised on incompatible changes;
/// new commands and new fields do not raise it.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line the daemon accepts, newline included.
pub const MAX_LINE: usize = 1024 * 1024;

/// The longest reply line a client accepts: `status` of many thousands of
/// processes is far larger than any request.
pub const MAX_REPLY_LINE: usize = 256 * 1024 * 1024;

/// The socket URL used when neither the command line nor the config names one.
pub const DEFAULT_SERVER_URL: &str = "unix:///tmp/taskmaster.sock";
