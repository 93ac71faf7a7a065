//! taskmasterctl-xmlrpc: supervisord's XML-RPC interface (POST /RPC2, and
//! GET /logtail for `supervisorctl tail -f`) on a Unix socket and optionally
//! on TCP, each call translated to taskmasterd's NDJSON protocol, so that
//! supervisorctl, superlance and supervisord dashboards work unchanged.

mod http;
mod listen;
mod logs;
mod logtail;
mod rpc;
mod xml;

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use taskmaster_protocol::{socket_path_from_url, DEFAULT_SERVER_URL};
use taskmasterctl_xmlrpc::{faults, names};

/// Serve supervisord's XML-RPC API over taskmasterd's protocol.
///
/// `supervisorctl -s unix:///run/taskmaster/xmlrpc.sock status` then works
/// as against supervisord, as do superlance's listeners and dashboards that
/// speak supervisord's API. Every call becomes a request to taskmasterd:
/// the bridge holds no state of its own, and may run as an ordinary program
/// under taskmasterd (see docs/migrating.md).
#[derive(Debug, Parser)]
#[command(
    name = "taskmasterctl xmlrpc",
    bin_name = "taskmasterctl xmlrpc",
    version,
    after_help = "Example: taskmasterctl xmlrpc --unix /run/taskmaster/xmlrpc.sock --chmod 0770 --chown root:adm\n\
                  then:    supervisorctl -s unix:///run/taskmaster/xmlrpc.sock status"
)]
pub struct Cli {
    /// Listen on this Unix socket (as supervisord's [unix_http_server] file).
    #[arg(long, value_name = "PATH", required_unless_present = "tcp")]
    unix: Option<PathBuf>,

    /// The Unix socket's mode, in octal.
    #[arg(long, value_name = "MODE", default_value = "0700", value_parser = parse_mode)]
    chmod: u32,

    /// The Unix socket's owner: USER or USER:GROUP (needs root).
    #[arg(long, value_name = "USER[:GROUP]")]
    chown: Option<String>,

    /// Also listen on TCP, e.g. 127.0.0.1:9001. An address other than
    /// loopback is refused unless --user and --password-file are given.
    #[arg(long, value_name = "ADDR")]
    tcp: Option<SocketAddr>,

    /// Require HTTP basic auth with this user name (on every listener).
    #[arg(long, value_name = "NAME", requires = "password_file")]
    user: Option<String>,

    /// The file holding the password for --user (its first line).
    #[arg(long, value_name = "FILE", requires = "user")]
    password_file: Option<PathBuf>,

    /// taskmasterd's socket [default: $TASKMASTER_SERVER_URL, which
    /// taskmasterctl sets, else unix:///tmp/taskmaster.sock].
    #[arg(short = 's', long = "server-url", value_name = "URL")]
    server_url: Option<String>,
}

fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim_start_matches("0o");
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("'{text}' is not an octal mode such as 0700 or 0o770"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let url = cli
        .server_url
        .clone()
        .or_else(|| std::env::var("TASKMASTER_SERVER_URL").ok())
        .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned());
    let socket = match socket_path_from_url(&url) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("taskmasterctl-xmlrpc: {e}");
            return ExitCode::from(2);
        }
    };
    match listen::run(&cli, rpc::Bridge::new(socket)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("taskmasterctl-xmlrpc: {message}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn modes_are_octal() {
        assert_eq!(parse_mode("0770"), Ok(0o770));
        assert_eq!(parse_mode("0o700"), Ok(0o700));
        assert!(parse_mode("999").unwrap_err().contains("octal"));
    }
}
