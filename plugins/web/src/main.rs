//! taskmasterctl-web: a live dashboard of taskmasterd's processes, with
//! start/stop/restart buttons, each process's log followed live, and
//! Prometheus metrics at /metrics. It talks to the daemon over the control
//! socket as the user who runs it, so the socket's roles apply to it.

mod auth;
mod daemon;
mod live;
mod metrics;
mod page;
mod routes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use taskmaster_protocol::{socket_path_from_url, DEFAULT_SERVER_URL};

/// A live web dashboard and Prometheus metrics for taskmasterd.
///
/// Prints the URL to open (with a fresh token) and serves until stopped.
/// Browsers get an HttpOnly cookie from the URL's token; scripts and
/// Prometheus send `Authorization: Bearer TOKEN`.
#[derive(Debug, Parser)]
#[command(
    name = "taskmasterctl web",
    bin_name = "taskmasterctl web",
    version,
    after_help = "Example: taskmasterctl web --listen 127.0.0.1:9001\n\
                  Routes: / (dashboard), /logs/NAME, /metrics, /events (Server-Sent Events)"
)]
struct Cli {
    /// Address and port to serve on; port 0 picks a free one (printed). An
    /// address other than loopback is reachable from other hosts: it needs
    /// --token-file, a token kept on purpose.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9001")]
    listen: SocketAddr,

    /// Keep the token in this file (created with mode 0600 when missing)
    /// rather than making a new one at each start.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,

    /// taskmasterd's socket [default: $TASKMASTER_SERVER_URL, which taskmasterctl
    /// sets, else unix:///tmp/taskmaster.sock].
    #[arg(short = 's', long = "server-url", value_name = "URL")]
    server_url: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err((code, message)) => {
            eprintln!("taskmasterctl-web: {message}");
            ExitCode::from(code)
        }
    }
}

fn run(cli: Cli) -> Result<(), (u8, String)> {
    let url = cli
        .server_url
        .or_else(|| std::env::var("TASKMASTER_SERVER_URL").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned());
    let socket = socket_path_from_url(&url).map_err(|e| (2, e.to_string()))?;
    if !cli.listen.ip().is_loopback() && cli.token_file.is_none() {
        return Err((
            2,
            format!(
                "--listen {} is reachable from other hosts: pass --token-file PATH too \
                 (the token there is the password; it is created when missing)",
                cli.listen
            ),
        ));
    }
    let (token, fresh) = match &cli.token_file {
        Some(path) => {
            let existed = path.exists();
            (auth::load_or_create(path).map_err(|e| (2, e))?, !existed)
        }
        None => (auth::random_token().map_err(|e| (1, e.to_string()))?, true),
    };
    let secrets = auth::Secrets {
        token,
        csrf: auth::random_token().map_err(|e| (1, e.to_string()))?,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| (1, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(serve(
        cli.listen,
        cli.token_file,
        fresh,
        daemon::Daemon { socket },
        secrets,
    ))
}

async fn serve(
    listen: SocketAddr,
    token_file: Option<PathBuf>,
    fresh: bool,
    daemon: daemon::Daemon,
    secrets: auth::Secrets,
) -> Result<(), (u8, String)> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| (1, format!("cannot listen on {listen}: {e}")))?;
    let address = listener
        .local_addr()
        .map_err(|e| (1, format!("cannot read the address bound: {e}")))?;
    // The token is shown once, when it is new; a kept one stays in its file.
    match (&token_file, fresh) {
        (Some(path), false) => println!(
            "taskmasterctl web: serving http://{address}/ (the token is in {}: open /?token=TOKEN)",
            path.display()
        ),
        _ => println!(
            "taskmasterctl web: serving http://{address}/?token={}",
            secrets.token
        ),
    }
    let shared = Arc::new(live::Shared::new(daemon, secrets));
    let follower = Arc::clone(&shared);
    tokio::spawn(async move { live::follow_events(&follower).await });
    axum::serve(listener, routes::router(shared))
        .await
        .map_err(|e| (1, format!("serving on {address} failed: {e}")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
