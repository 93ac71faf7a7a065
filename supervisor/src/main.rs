//! taskmasterd: Taskmaster's small privileged supervisor. It applies the
//! `[taskmasterd]` settings, starts taskmaster-broker unprivileged, and
//! does for it what needs privilege: spawning, signalling and reaping.

use crate::error::Error;
mod broker;
mod channel;
mod cli;
mod credentials;
mod daemon;
mod error;
mod inventory;
mod notices;
mod notify;
mod pipes;
mod placed;
mod policy;
mod reach;
mod reaper;
mod socket;
mod spawn;
mod stop_plan;
mod supervisor;
mod survivors;
#[allow(unsafe_code)]
mod sys;

use clap::Parser;
use cli::Cli;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::stat::{umask, Mode};
use notices::reason;
use policy::Policy;
use supervisor::{Options, Supervisor};
use taskmaster_config::DaemonConfig;

fn main() {
    let cli = Cli::parse();
    if let Err(message) = run(cli) {
        eprintln!("taskmasterd: {message}");
        std::process::exit(2);
    }
}

/// Everything up to the supervisor loop; an error is a start-up failure
/// (exit status 2) printed on the terminal.
fn run(cli: Cli) -> Result<(), Error> {
    sys::ensure_std_fds_open().map_err(|e| Error::io("cannot open /dev/null", e))?;
    sys::close_inherited_fds_on_exec();
    sys::reserve_child_slots();
    // Taken out of the environment before anything is started from it.
    let service = notify::ServiceManager::from_env();
    let config =
        taskmaster_protocol::discover_config(cli.config.as_deref()).map_err(|e| e.to_string())?;
    let config = std::path::absolute(&config).map_err(|e| {
        format!(
            "cannot resolve the config path '{}': {}",
            config.display(),
            reason(&e)
        )
    })?;
    let loaded = match taskmaster_config::load(&config) {
        Ok(loaded) => loaded,
        Err(errors) if cli.check => {
            eprintln!("{errors}");
            std::process::exit(2);
        }
        Err(errors) => return Err(policy::PolicyError::Invalid(errors).to_string().into()),
    };
    let settings = loaded.daemon.clone();
    let foreground = cli.nodaemon || settings.nodaemon;
    let command = broker::BrokerCommand::new(&config, foreground, settings.user.as_deref())?;
    let policy =
        Policy::new(&config, loaded, command.uid()).map_err(|e| Error::new(e.to_string()))?;
    taskmaster_ipc::release_free_memory();
    if let Some(user) = command.user() {
        let writer = reach::Writer {
            name: &user.name,
            uid: user.uid,
            gids: &user.groups,
        };
        let problems = reach::unreachable(policy.config(), &writer);
        if !problems.is_empty() {
            return Err(Error::new(problems.join("\n")));
        }
    }
    let missing = reach::missing_special_dirs(policy.config());
    if !missing.is_empty() {
        return Err(Error::new(missing.join("\n")));
    }
    if let Some(pidfile) = &settings.pidfile {
        let dir = pidfile.parent().unwrap_or(std::path::Path::new("/"));
        if !dir.is_dir() {
            return Err(Error::new(format!(
                "the directory of [taskmasterd] pidfile '{}' does not exist: create it, or change the setting",
                pidfile.display()
            )));
        }
    }
    if cli.check {
        println!("{}: ok", config.display());
        std::process::exit(0);
    }
    // Bound here, as root and before detaching, so that a live daemon on
    // the path or a bad owner is an error on the terminal.
    let control =
        socket::ControlSocket::bind(&policy.config().server, None).map_err(|e| e.to_string())?;
    // Only now, with the socket ours (no other taskmasterd serves it): the
    // programs a killed predecessor left running are stopped before any
    // is started again.
    let (inventory, early_notices) = take_over_inventory(&policy.config().server.file);
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
        control,
        inventory,
        early_notices,
        service,
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
    Supervisor::new(command, policy, signals, options, readiness).run()
}

/// Stops the survivors listed by a killed predecessor, then starts a fresh
/// inventory. Returns it (none when it cannot be written: said in the
/// notices) and what happened.
fn take_over_inventory(socket: &std::path::Path) -> (Option<inventory::Inventory>, Vec<String>) {
    let path = inventory::path_for(socket);
    let mut notices = match inventory::survivors(&path) {
        Ok(found) => survivors::stop_all(found),
        Err(untrusted) => vec![untrusted.to_string()],
    };
    let inventory = match inventory::Inventory::create(&path) {
        Ok(inventory) => Some(inventory),
        Err(e) => {
            notices.push(format!(
                "{e}: if taskmasterd is killed, its programs will not be stopped by the next one"
            ));
            None
        }
    };
    (inventory, notices)
}

/// Limits, umask and working directory: inherited by the daemon, the broker
/// and every program. Returns the open files limit programs get.
fn apply(settings: &DaemonConfig) -> Result<libc::rlimit, Error> {
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
    sys::ignore_sigpipe().map_err(|errno| Error::errno("cannot ignore SIGPIPE", errno))?;
    Ok(open_files)
}

/// Makes this process a child subreaper (orphans of programs are reaped
/// here, as by an init) and routes the signals it acts on to a signalfd.
fn watch_signals() -> Result<SignalFd, Error> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|errno| Error::errno("cannot become a child subreaper", errno))?;
    let watched = [
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGUSR2,
    ];
    sys::default_dispositions(&watched)
        .map_err(|errno| Error::errno("cannot reset signal dispositions", errno))?;
    let mut mask = SigSet::empty();
    for signal in watched {
        mask.add(signal);
    }
    mask.thread_block()
        .map_err(|errno| Error::errno("cannot block signals", errno))?;
    sys::note_ignored_signals();
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|errno| Error::errno("cannot create a signalfd", errno))
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
