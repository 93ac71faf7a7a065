//! taskmaster-broker: the unprivileged half of Taskmaster. taskmasterd
//! starts it with one end of a socketpair as descriptor 3; it loads the
//! config, serves the control socket and runs the programs' state machine,
//! asking taskmasterd to spawn and signal.

mod access;
mod activity;
mod backoff;
mod capture;
mod core;
mod deps;
mod describe;
mod feed;
mod framing;
mod health;
mod history;
mod jobs;
mod limits;
mod link;
mod probe;
mod proc;
mod ready;
mod server;
mod state;
mod statefile;
mod tail;
mod targets;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;
use taskmaster_ipc::{inherited_channel, ToBroker};

const USAGE: &str = "usage: taskmaster-broker -c FILE [--nodaemon | --check]
taskmaster-broker is started by taskmasterd; run taskmasterd instead.
--check validates the config (with its includes) and prints every error, or ok.";

struct Args {
    config: PathBuf,
    nodaemon: bool,
    check: bool,
}

/// Why the command line was not taken; shown with the usage.
#[derive(Debug)]
enum UsageError {
    Help,
    Unexpected(std::ffi::OsString),
    MissingConfig,
}

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UsageError::Help => f.write_str(USAGE),
            UsageError::Unexpected(arg) => write!(f, "unexpected argument {arg:?}\n{USAGE}"),
            UsageError::MissingConfig => write!(f, "missing -c FILE\n{USAGE}"),
        }
    }
}

fn parse_args() -> Result<Args, UsageError> {
    let mut config = None;
    let mut nodaemon = false;
    let mut check = false;
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("-c") | Some("--configuration") => config = args.next().map(PathBuf::from),
            Some("-n") | Some("--nodaemon") => nodaemon = true,
            Some("--check") => check = true,
            Some("-h") | Some("--help") => return Err(UsageError::Help),
            _ => return Err(UsageError::Unexpected(arg)),
        }
    }
    let config = config.ok_or(UsageError::MissingConfig)?;
    Ok(Args {
        config,
        nodaemon,
        check,
    })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if args.check {
        return match taskmaster_config::check(&args.config) {
            Ok(()) => {
                println!("{}: ok", args.config.display());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::from(2)
            }
        };
    }
    // Not dumpable: another process of our user (a program configured to
    // run as it, say) can neither ptrace us nor take our descriptors with
    // pidfd_getfd. exec made us dumpable again, so it is set here.
    if let Err(errno) = nix::sys::prctl::set_dumpable(false) {
        eprintln!(
            "taskmaster-broker: cannot make itself non-dumpable: {}",
            errno.desc()
        );
        return ExitCode::from(2);
    }
    let channel = match inherited_channel() {
        Ok(fd) => fd,
        Err(e) => {
            eprintln!("taskmaster-broker: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match taskmaster_config::load(&args.config) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("taskmasterd: the config has errors:\n{errors}");
            return ExitCode::from(2);
        }
    };
    let mut log = match activity::ActivityLog::open(
        &config.daemon.logfile,
        config.daemon.loglevel,
        args.nodaemon,
    ) {
        Ok(log) => log,
        Err(e) => {
            eprintln!(
                "taskmasterd: cannot open the activity log {}: {e}; taskmaster-broker runs as {}: make the directory writable by that user, or fix [taskmasterd] logfile",
                config.daemon.logfile.display(),
                own_user()
            );
            return ExitCode::from(2);
        }
    };
    log.set_rotation(
        config.daemon.logfile_maxbytes,
        config.daemon.logfile_backups,
    );
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("taskmaster-broker: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(run(config, log, channel, args.nodaemon))
}

async fn run(
    config: taskmaster_config::Config,
    mut log: activity::ActivityLog,
    channel: std::os::fd::OwnedFd,
    nodaemon: bool,
) -> ExitCode {
    let (sender, mut receiver, writer) = match link::open(channel) {
        Ok(link) => link,
        Err(e) => {
            eprintln!("taskmaster-broker: cannot use the channel to taskmasterd: {e}");
            return ExitCode::from(1);
        }
    };
    let (hello, socket) = match receiver.recv().await {
        Ok(Some((hello @ ToBroker::Hello { .. }, fds))) => match fds.into_iter().next() {
            Some(listener) => (hello, server::Socket::new(listener, &config.server.file)),
            None => {
                eprintln!("taskmaster-broker: taskmasterd sent no control socket");
                return ExitCode::from(1);
            }
        },
        other => {
            eprintln!("taskmaster-broker: expected a hello from taskmasterd, got {other:?}");
            return ExitCode::from(1);
        }
    };
    log.info(&format!(
        "taskmaster-broker {} started with pid {}, config {}, socket {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        config.path.display(),
        config.server.file.display()
    ));
    if !nodaemon {
        detach_stdio();
    }
    let (clients, requests) = tokio::sync::mpsc::channel(256);
    // The ring every `events` reader shares (its slots are allocated up
    // front, so it is memory whether or not anyone listens): a reader more
    // than this many events behind is told how many it missed.
    let state_dir = config
        .daemon
        .statedir
        .as_deref()
        .map(statefile::StateDir::new);
    if let Some(Err(e)) = state_dir.as_ref().map(statefile::StateDir::check) {
        log.error(&e);
    }
    let saved = or_logged(
        &mut log,
        state_dir.as_ref().map(statefile::StateDir::load),
        "operator intents are forgotten",
    );
    let histories = or_logged(
        &mut log,
        state_dir.as_ref().map(statefile::StateDir::load_history),
        "histories start empty",
    );
    let kept_seq = match &hello {
        ToBroker::Hello { kept_seq, .. } => *kept_seq,
        _ => 0,
    };
    // Never a seq an earlier broker may have given.
    let first_seq = saved.seq_reserved.max(kept_seq).max(1);
    let events = std::sync::Arc::new(feed::Feed::new(first_seq, 1024));
    let routes = server::Routes {
        core: clients,
        events: events.clone(),
    };
    let served = match server::Served::start(socket, routes, &config.server) {
        Ok(served) => served,
        Err(message) => {
            eprintln!("taskmaster-broker: {message}");
            return ExitCode::from(1);
        }
    };
    core::Core::new(config, sender, log, events, served, state_dir)
        .restore(saved, histories)
        .run(hello, receiver, requests)
        .await;
    // The core is gone with every sender: this returns once the last
    // packets (Exit) are written.
    let _ = writer.await;
    ExitCode::SUCCESS
}

/// What a state file held, or (logged, never fatal) nothing when it cannot
/// be read: `lost` says what that costs.
fn or_logged<T: Default>(
    log: &mut activity::ActivityLog,
    loaded: Option<Result<T, String>>,
    lost: &str,
) -> T {
    match loaded {
        Some(Ok(value)) => value,
        Some(Err(e)) => {
            log.error(&format!(
                "{e}; starting without it: {lost}, and the file is written anew"
            ));
            T::default()
        }
        None => T::default(),
    }
}

/// Who this broker runs as, for messages about what it cannot reach:
/// `'nobody' (uid 65534)`.
fn own_user() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => format!("'{}' (uid {uid})", user.name),
        _ => format!("uid {uid}"),
    }
}

/// Once taskmasterd has detached, the terminal is gone: stdio goes to
/// /dev/null so that a late write cannot fail or block.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
}
