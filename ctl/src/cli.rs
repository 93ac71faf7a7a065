//! The command line: options, commands and their help text (clap derive; the
//! doc comments below are what `--help` prints).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Process names: NAME (every instance of a program), NAME:N (one instance),
GROUP:* or GROUP (every program of a group), all (everything).
Quote GROUP:* if your shell expands it.

Exit status: 0 done; 1 taskmasterd refused or something failed; 2 usage error;
3 status (or pid) found a process that is not running; 4 cannot reach taskmasterd.";

/// Control the programs taskmasterd supervises.
///
/// Each command talks to taskmasterd over its Unix socket and prints the answer,
/// as supervisorctl does: `taskmasterctl status`, `taskmasterctl restart web`.
#[derive(Debug, Parser)]
#[command(name = "taskmasterctl", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Config file to read the socket's location from.
    ///
    /// Without it: $TASKMASTER_CONFIG, else the first of ./taskmaster.conf.toml,
    /// ../taskmaster.conf.toml and /etc/taskmaster/taskmaster.conf.toml that exists.
    /// Only [taskmasterctl] serverurl and [unix_http_server] file are read from it.
    #[arg(
        short = 'c',
        long = "config",
        visible_alias = "configuration",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    /// taskmasterd's socket: unix:///path/to/taskmaster.sock, or the bare path.
    ///
    /// Without it: $TASKMASTER_SERVER_URL, else the config's [taskmasterctl] serverurl,
    /// else its [unix_http_server] file, else unix:///tmp/taskmaster.sock.
    #[arg(
        short = 's',
        long = "server-url",
        visible_alias = "serverurl",
        value_name = "URL"
    )]
    pub server_url: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the state of processes (every process when no name is given).
    ///
    /// One line per process: its name, its state (RUNNING, STOPPED, BACKOFF...)
    /// and its pid and uptime, or how it last ended. Exits with status 3 when a
    /// listed process is not RUNNING, so scripts can test it.
    #[command(after_help = "Example: taskmasterctl status web 'workers:*'")]
    Status {
        /// Processes to show: NAME, NAME:N, GROUP:* or all.
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        /// Print taskmasterd's answer as JSON, for scripts.
        #[arg(long)]
        json: bool,
    },

    /// Start processes; waits until they are RUNNING or have failed.
    #[command(override_usage = "taskmasterctl start <NAME>...")]
    Start(Names),

    /// Stop processes: send each its stopsignal, then SIGKILL after stopwaitsecs.
    #[command(override_usage = "taskmasterctl stop <NAME>...")]
    Stop(Names),

    /// Stop processes, then start them again (also the ones that were not running).
    #[command(override_usage = "taskmasterctl restart <NAME>...")]
    Restart(Names),

    /// Send a signal to running processes.
    #[command(
        override_usage = "taskmasterctl signal <SIG> <NAME>...",
        after_help = "Example: taskmasterctl signal HUP web"
    )]
    Signal {
        /// The signal: a name (HUP, SIGHUP, hup) or a number (1).
        #[arg(value_name = "SIG")]
        signal: String,
        #[command(flatten)]
        names: Names,
    },

    /// Print pids: taskmasterd's without a name, else each named process's.
    ///
    /// With one process, prints its pid alone; with several, `NAME PID` lines.
    /// A process that is not running has pid 0, and the exit status is then 3.
    Pid {
        /// Processes: NAME, NAME:N, GROUP:* or all.
        #[arg(value_name = "NAME")]
        names: Vec<String>,
    },

    /// List the configured programs: in use or not, autostart, priority.
    Avail,

    /// Stop every process, then taskmasterd itself.
    Shutdown,

    /// Print taskmasterd's version (and taskmasterctl's when it differs).
    Version,
}

/// The processes an action applies to.
#[derive(Debug, Args)]
pub struct Names {
    /// Processes, at least one: NAME (all its instances), NAME:N, GROUP:* or all.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

impl Command {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Status { .. } => "status",
            Command::Start(_) => "start",
            Command::Stop(_) => "stop",
            Command::Restart(_) => "restart",
            Command::Signal { .. } => "signal",
            Command::Pid { .. } => "pid",
            Command::Avail => "avail",
            Command::Shutdown => "shutdown",
            Command::Version => "version",
        }
    }

    /// The check clap cannot word as supervisorctl does: actions need a name,
    /// so that a bare `stop` never stops everything by accident.
    pub fn missing_name(&self) -> Option<String> {
        let names = match self {
            Command::Start(n) | Command::Stop(n) | Command::Restart(n) => n,
            Command::Signal { names, .. } => names,
            _ => return None,
        };
        names.names.is_empty().then(|| {
            format!(
                "{} requires a process name: NAME, NAME:N, GROUP:* or all",
                self.name()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("taskmasterctl").chain(args.iter().copied()))
    }

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_and_names_parse() {
        let cli = parse(&[
            "-c",
            "t.toml",
            "-s",
            "unix:///x.sock",
            "restart",
            "web",
            "db:1",
        ])
        .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("t.toml")));
        assert_eq!(cli.server_url.as_deref(), Some("unix:///x.sock"));
        match cli.command {
            Some(Command::Restart(n)) => assert_eq!(n.names, ["web", "db:1"]),
            other => panic!("parsed as {other:?}"),
        }
        let cli = parse(&["--serverurl", "/x.sock", "status", "--json"]).unwrap();
        assert_eq!(cli.server_url.as_deref(), Some("/x.sock"));
        assert!(matches!(
            cli.command,
            Some(Command::Status { json: true, .. })
        ));
    }

    #[test]
    fn signal_takes_the_signal_first() {
        let cli = parse(&["signal", "HUP", "web", "db"]).unwrap();
        match cli.command {
            Some(Command::Signal { signal, names }) => {
                assert_eq!(signal, "HUP");
                assert_eq!(names.names, ["web", "db"]);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn usage_errors_are_clap_errors() {
        for args in [
            &["frobnicate"][..],
            &["status", "--bogus"],
            &["signal"],
            &["avail", "extra"],
            &["-c"],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
        }
        assert_eq!(
            parse(&["--help"]).unwrap_err().kind(),
            ErrorKind::DisplayHelp
        );
    }

    #[test]
    fn actions_without_names_are_refused() {
        for action in ["start", "stop", "restart"] {
            let command = parse(&[action]).unwrap().command.unwrap();
            assert_eq!(
                command.missing_name().unwrap(),
                format!("{action} requires a process name: NAME, NAME:N, GROUP:* or all")
            );
        }
        let signal = parse(&["signal", "HUP"]).unwrap().command.unwrap();
        assert!(signal
            .missing_name()
            .unwrap()
            .starts_with("signal requires"));
        let status = parse(&["status"]).unwrap().command.unwrap();
        assert_eq!(status.missing_name(), None);
        assert_eq!(
            parse(&["start", "all"])
                .unwrap()
                .command
                .unwrap()
                .missing_name(),
            None
        );
    }
}
