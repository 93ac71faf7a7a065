//! taskmasterd: Taskmaster's small privileged supervisor. It applies the
//! `[taskmasterd]` settings, starts taskmaster-broker unprivileged, and
//! does for it what needs privilege: spawning, signalling and reaping.

mod broker;
mod channel;
mod cli;
mod credentials;
mod daemon;
mod notices;
mod pipes;
mod reaper;
mod settings;
// Not called yet: taskmasterd will bind the control socket with it and hand
// the listener to the broker (issue 9); its tests run meanwhile.
#[allow(dead_code)]
mod socket;
mod spawn;
mod supervisor;
#[allow(unsafe_code)]
mod sys;

use clap::Parser;
use cli::Cli;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::{umask, Mode};
use notices::reason;
use settings::Settings;
use supervisor::{Options, Supervisor};

fn main() {
    let cli = Cli::parse();
    if let Err(message) = run(cli) {
        eprintln!("taskmasterd: {message}");
        std::process::exit(2);
    }
}

/// Everything up to the supervisor loop; an error is a start-up failure
/// (exit status 2) printed on the terminal.
fn run(cli: Cli) -> Result<(), String> {
    sys::ensure_std_fds_open().map_err(|e| format!("cannot open /dev/null: {}", reason(&e)))?;
    sys::close_inherited_fds_on_exec();
    let config =
        taskmaster_protocol::discover_config(cli.config.as_deref()).map_err(|e| e.to_string())?;
    let config = std::path::absolute(&config).map_err(|e| {
        format!(
            "cannot resolve the config path '{}': {}",
            config.display(),
            reason(&e)
        )
    })?;
    if cli.check {
        std::process::exit(check(&config)?);
    }
    let settings = Settings::load(&config);
    let foreground = cli.nodaemon || settings.nodaemon;
    let command = broker::BrokerCommand::new(&config, foreground, settings.user.as_deref())?;
    let open_files = apply(&settings)?;
    let readiness = if foreground {
        None
    } else {
        Some(daemon::daemonize()?)
    };
    let options = Options {
        daemonized: !foreground,
        foreground,
        pidfile: settings.pidfile,
        open_files,
    };
    let signals = match watch_signals() {
        Ok(signals) => signals,
        Err(message) => {
            eprintln!("taskmasterd: {message}");
            if let Some(readiness) = readiness {
                readiness.failed(2);
            }
            std::process::exit(2);
        }
    };
    Supervisor::new(command, signals, options, readiness).run()
}

/// `--check`: the broker validates the config, as it would at start.
fn check(config: &std::path::Path) -> Result<i32, String> {
    let broker = broker::locate()?;
    let status = std::process::Command::new(&broker)
        .arg("--check")
        .arg("-c")
        .arg(config)
        .status()
        .map_err(|e| format!("cannot run {}: {}", broker.display(), reason(&e)))?;
    Ok(status.code().unwrap_or(2))
}

/// Limits, umask and working directory: inherited by the daemon, the broker
/// and every program. Returns the open files limit programs get.
fn apply(settings: &Settings) -> Result<libc::rlimit, String> {
    let open_files = daemon::raise_limits(settings.minfds, settings.minprocs)?;
    umask(Mode::from_bits_truncate(settings.umask));
    if let Some(directory) = &settings.directory {
        std::env::set_current_dir(directory).map_err(|e| {
            format!(
                "cannot change directory to '{}' ([taskmasterd] directory): {}",
                directory.display(),
                reason(&e)
            )
        })?;
    }
    sys::ignore_sigpipe().map_err(|errno| format!("cannot ignore SIGPIPE: {}", errno.desc()))?;
    Ok(open_files)
}

/// Makes this process a child subreaper (orphans of programs are reaped
/// here, as by an init) and routes the signals it acts on to a signalfd.
fn watch_signals() -> Result<SignalFd, String> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|errno| format!("cannot become a child subreaper: {}", errno.desc()))?;
    let mut mask = SigSet::empty();
    for signal in [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGUSR2,
    ] {
        mask.add(signal);
    }
    mask.thread_block()
        .map_err(|errno| format!("cannot block signals: {}", errno.desc()))?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|errno| format!("cannot create a signalfd: {}", errno.desc()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
        let cli = Cli::parse_from(["taskmasterd", "-n", "-c", "x.toml"]);
        assert!(cli.nodaemon);
        assert_eq!(cli.config, Some(std::path::PathBuf::from("x.toml")));
    }
}
