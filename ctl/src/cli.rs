//! The command line: options, commands and their help text (clap derive; the
//! doc comments below are what `--help` prints).

use clap::{Args, CommandFactory, Parser, Subcommand};
pub use clap_complete::Shell;
use std::path::PathBuf;
use taskmaster_config::signals;

const AFTER_HELP: &str = "\
Process names: NAME (every instance of a program), NAME:N (one instance),
GROUP:* or GROUP (every program of a group; NAME:* is a program's instances
when no group is called NAME), all (everything).
Quote GROUP:* if your shell expands it. Job specs work too: %N (the Nth line
of `status`), %+ or %% or % (the process that changed state last), %- (the
one before), %PREFIX (the one whose name starts so), %?TEXT (the one whose
command line contains TEXT).

Without a command, taskmasterctl starts an interactive shell; commands piped
into it run in turn, and it exits with the status of the last one that failed.
Any other command FOO runs the plugin `taskmasterctl-FOO` found on $PATH.

Exit status: 0 done; 1 taskmasterd refused or something failed; 2 usage error;
3 status (or pid) found a process that is not running; 4 cannot reach taskmasterd;
126 a plugin that cannot be executed. A plugin's own status passes through.";

/// Control the programs taskmasterd supervises.
///
/// Each command talks to taskmasterd over its Unix socket and prints the answer,
/// as supervisorctl does: `taskmasterctl status`, `taskmasterctl restart web`.
#[derive(Debug, Parser)]
#[command(
    name = "taskmasterctl",
    version,
    after_help = AFTER_HELP,
    disable_help_subcommand = true,
    allow_external_subcommands = true
)]
pub struct Cli {
    /// Config file to read the socket's location from.
    ///
    /// Without it: $TASKMASTER_CONFIG, else the first of ./taskmaster.conf.toml,
    /// ../taskmaster.conf.toml and /etc/taskmaster/taskmaster.conf.toml that exists.
    /// Only the [taskmasterctl] table and [unix_http_server] file are read from it.
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

    /// List the commands and the installed plugins (with their paths), then exit.
    #[arg(long)]
    pub list: bool,

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
    #[command(after_help = "Example: taskmasterctl status web 'workers:*' %2")]
    Status {
        /// Processes to show: NAME, NAME:N, GROUP:*, all or a job spec (%N, %+, %web...).
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        #[command(flatten)]
        format: Format,
    },

    /// Start processes; waits until they are RUNNING or have failed.
    ///
    /// With a `statedir`, taskmasterd remembers the start: the processes start
    /// again after a restart of taskmasterd, even with autostart = false.
    #[command(override_usage = "taskmasterctl start [--json] <NAME>...")]
    Start(Control),

    /// Stop processes: send each its stopsignal, then SIGKILL after stopwaitsecs.
    ///
    /// With a `statedir`, taskmasterd remembers the stop: the processes stay
    /// stopped after a restart of taskmasterd or a reboot, until started.
    #[command(override_usage = "taskmasterctl stop [--json] <NAME>...")]
    Stop(Control),

    /// Stop processes, then start them again (also the ones that were not running).
    #[command(override_usage = "taskmasterctl restart [--json] <NAME>...")]
    Restart(Control),

    /// Explain what happened to a process, in order, and why.
    ///
    /// One line per transition (its last 100): the time, the states, and the
    /// cause: who asked (uid and pid), the exit status or signal, the exec
    /// error, startsecs not reached, the backoff arithmetic. Then the last 10
    /// lines of its stderr (stdout when redirect_stderr), and for a FATAL
    /// process what to do.
    #[command(after_help = "Example: taskmasterctl why api")]
    Why {
        /// The process: NAME, NAME:N or a job spec; it must name one process.
        #[arg(value_name = "NAME")]
        name: String,
        #[command(flatten)]
        format: Format,
    },

    /// Send a signal to running processes.
    #[command(
        override_usage = "taskmasterctl signal [--json] <SIG> <NAME>...",
        after_help = "Example: taskmasterctl signal HUP web"
    )]
    Signal {
        /// The signal: a name (HUP, SIGHUP, hup) or a number (1).
        #[arg(value_name = "SIG", value_parser = known_signal)]
        signal: String,
        #[command(flatten)]
        action: Action,
    },

    /// Print pids: taskmasterd's without a name, else each named process's.
    ///
    /// With one process, prints its pid alone; with several, `NAME PID` lines.
    /// A process that is not running has pid 0, and the exit status is then 3.
    Pid {
        /// Processes: NAME, NAME:N, GROUP:*, all or a job spec.
        #[arg(value_name = "NAME")]
        names: Vec<String>,
        #[command(flatten)]
        format: Format,
    },

    /// List the configured programs: in use or not, autostart, priority.
    Avail {
        #[command(flatten)]
        format: Format,
    },

    /// Show what a reload would change, without changing anything.
    ///
    /// Reads the config file (and its includes) again and prints one line per
    /// program: added, removed, changed (which keys; restart or in place) or
    /// unchanged. Exits 1, naming each error, when the file has errors.
    Reread {
        #[command(flatten)]
        format: Format,
    },

    /// Apply the config file now: restart only the programs that changed.
    ///
    /// New programs start (if autostart), removed ones stop, changed ones
    /// restart (or take the new settings in place when no restart is needed),
    /// and every other process is left alone. A config with errors changes
    /// nothing: the errors are printed and the exit status is 1. The daemon
    /// also reloads by itself when the file changes, and on SIGHUP.
    #[command(visible_alias = "update")]
    Reload {
        #[command(flatten)]
        format: Format,
    },

    /// Print every state change as it happens, until interrupted.
    ///
    /// One line per change: `2026-11-25 15:10:03 web STARTING -> RUNNING pid 4121`
    /// (local time). With --json, the protocol's event objects, one per line,
    /// each with its sequence number `seq` and its time `time_ms`.
    ///
    /// With --since SEQ, first every event after SEQ that taskmasterd still
    /// keeps (its last 1024), then the live ones: a consumer that saves the
    /// last seq it handled resumes without a gap. When events after SEQ are
    /// no longer kept, the exit status is 1 and the message names the oldest
    /// seq still kept: read the state again (status), then resume from there.
    #[command(after_help = "Example: taskmasterctl events --json --since 4711")]
    Events {
        #[command(flatten)]
        format: Format,
        /// Replay the events after this sequence number first.
        #[arg(long, value_name = "SEQ")]
        since: Option<u64>,
    },

    /// Print the last lines of a process's stdout or stderr log.
    ///
    /// With -f, keep printing what the process writes until interrupted
    /// (Ctrl-C) or taskmasterd goes away. At most the last MiB of the file is
    /// read; bytes that are not UTF-8 show as U+FFFD.
    #[command(
        after_help = "Examples: taskmasterctl tail web\n          taskmasterctl tail -f -n 50 web:0 stderr"
    )]
    Tail {
        #[command(flatten)]
        reading: Reading,
        /// The process: NAME, NAME:N or a job spec; it must name one process.
        #[arg(value_name = "NAME")]
        name: String,
        /// Which of its logs.
        #[arg(value_enum, value_name = "STREAM", default_value_t = LogStream::Stdout)]
        stream: LogStream,
    },

    /// Print the last lines of taskmasterd's activity log ([taskmasterd] logfile).
    ///
    /// With -f, keep printing new lines until interrupted or taskmasterd goes away.
    Maintail {
        #[command(flatten)]
        reading: Reading,
    },

    /// Attach to a process: show its output live and send it what you type.
    ///
    /// Its stdout and stderr stream to the terminal as it writes them, and each
    /// line typed (or piped in) goes to its stdin. Ctrl-C or Ctrl-D (end of
    /// input) detaches and leaves the process running; the exit status is then
    /// 0, and 4 if taskmasterd goes away. When the process exits, fg stays
    /// attached and shows the output of its next run (after an autorestart or a
    /// `start` from elsewhere); a line typed while it is not running is not sent,
    /// and fg says so.
    #[command(after_help = "\
Example: taskmasterctl fg repl
  > 2+2        (typed; goes to repl's stdin)
  4            (repl's stdout)
  ^C           (detaches; repl keeps running)")]
    Fg {
        /// The process: NAME, NAME:N or a job spec; it must name one process.
        #[arg(value_name = "NAME")]
        name: String,
    },

    /// Empty the stdout and stderr log files of processes; they keep running.
    #[command(override_usage = "taskmasterctl clear [--json] <NAME>...")]
    Clear(Action),

    /// Stop every process, then taskmasterd itself.
    Shutdown {
        #[command(flatten)]
        format: Format,
    },

    /// Print taskmasterd's version (and taskmasterctl's when it differs).
    Version {
        #[command(flatten)]
        format: Format,
    },

    /// Show help: the commands and plugins, or one command's help.
    ///
    /// `help PLUGIN` runs `taskmasterctl-PLUGIN --help`.
    Help {
        /// The command or plugin to explain.
        #[arg(value_name = "COMMAND")]
        command: Option<String>,
    },

    /// Print a completion script for a shell.
    ///
    /// It completes commands, options, plugins, signal names and (bash, zsh,
    /// fish) the process names of the running taskmasterd.
    #[command(after_help = "\
Examples:
  bash:  taskmasterctl completions bash > /etc/bash_completion.d/taskmasterctl
  zsh:   taskmasterctl completions zsh > \"${fpath[1]}/_taskmasterctl\"
  fish:  taskmasterctl completions fish > ~/.config/fish/completions/taskmasterctl.fish")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum, value_name = "SHELL")]
        shell: Shell,
    },

    /// Any other command: a plugin.
    #[command(external_subcommand)]
    External(Vec<String>),
}

/// The processes an action applies to.
#[derive(Debug, Args)]
pub struct Action {
    /// Processes, at least one: NAME (all its instances), NAME:N, GROUP:*, all or a job spec.
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
    #[command(flatten)]
    pub format: Format,
}

/// The processes a start, stop or restart applies to, and whether it is
/// the operator's lasting intent.
#[derive(Debug, Args)]
pub struct Control {
    #[command(flatten)]
    pub action: Action,
    /// Do not remember this as the operator's intent (statedir): after a
    /// restart of taskmasterd, autostart decides again.
    #[arg(long)]
    pub transient: bool,
}

/// How much of a log to print, and whether to follow it.
#[derive(Debug, Clone, Copy, Args)]
pub struct Reading {
    /// Keep printing what is appended to the log, until interrupted.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// How many of the last lines to print first.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 10)]
    pub lines: u64,
}

/// A process's output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// How to print the answer.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Format {
    /// Print taskmasterd's answer as JSON, for scripts.
    #[arg(long)]
    pub json: bool,
}

/// The commands' names as typed, for the shell's completion and "did you mean".
pub fn command_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .flat_map(|c| std::iter::once(c.get_name()).chain(c.get_visible_aliases()))
        .map(str::to_string)
        .collect()
}

/// A signal name this system does not know, said as taskmaster-config's
/// parser says it, with every valid name after it.
#[derive(Debug)]
pub struct UnknownSignal(signals::SignalError);

impl std::fmt::Display for UnknownSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n  valid names: {}",
            self.0,
            signals::signal_names().join(" ")
        )
    }
}

impl std::error::Error for UnknownSignal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Checks the signal here, with the config's own parser, so that a typo is a
/// usage error (exit 2, the valid names) and never reaches the daemon; the
/// text goes on as typed, since the protocol takes names and numbers.
fn known_signal(text: &str) -> Result<String, UnknownSignal> {
    signals::parse_signal(text)
        .map(|_| text.to_owned())
        .map_err(UnknownSignal)
}

impl Command {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &str {
        match self {
            Command::Status { .. } => "status",
            Command::Start(_) => "start",
            Command::Stop(_) => "stop",
            Command::Restart(_) => "restart",
            Command::Signal { .. } => "signal",
            Command::Pid { .. } => "pid",
            Command::Avail { .. } => "avail",
            Command::Events { .. } => "events",
            Command::Why { .. } => "why",
            Command::Tail { .. } => "tail",
            Command::Maintail { .. } => "maintail",
            Command::Fg { .. } => "fg",
            Command::Clear(_) => "clear",
            Command::Reread { .. } => "reread",
            Command::Reload { .. } => "reload",
            Command::Shutdown { .. } => "shutdown",
            Command::Version { .. } => "version",
            Command::Help { .. } => "help",
            Command::Completions { .. } => "completions",
            Command::External(args) => args.first().map_or("", String::as_str),
        }
    }

    /// The check clap cannot word as supervisorctl does: actions need a name,
    /// so that a bare `stop` never stops everything by accident.
    pub fn missing_name(&self) -> Option<String> {
        let action = match self {
            Command::Start(c) | Command::Stop(c) | Command::Restart(c) => &c.action,
            Command::Clear(a) => a,
            Command::Signal { action, .. } => action,
            _ => return None,
        };
        action.names.is_empty().then(|| {
            format!(
                "{} requires a process name: NAME, NAME:N, GROUP:*, all or a job spec",
                self.name()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("taskmasterctl").chain(args.iter().copied()))
    }

    fn command(args: &[&str]) -> Command {
        parse(args).unwrap().command.unwrap()
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
            Some(Command::Restart(c)) => assert_eq!(c.action.names, ["web", "db:1"]),
            other => panic!("parsed as {other:?}"),
        }
        let cli = parse(&["--serverurl", "/x.sock", "status", "--json"]).unwrap();
        assert_eq!(cli.server_url.as_deref(), Some("/x.sock"));
        assert!(matches!(
            cli.command,
            Some(Command::Status {
                format: Format { json: true },
                ..
            })
        ));
    }

    #[test]
    fn every_data_command_takes_json() {
        for args in [
            &["status", "--json"][..],
            &["start", "--json", "web"],
            &["stop", "web", "--json"],
            &["restart", "--json", "web"],
            &["signal", "--json", "HUP", "web"],
            &["pid", "--json"],
            &["avail", "--json"],
            &["events", "--json"],
            &["shutdown", "--json"],
            &["version", "--json"],
        ] {
            assert!(parse(args).is_ok(), "{args:?}");
        }
    }

    #[test]
    fn signal_takes_the_signal_first() {
        match command(&["signal", "HUP", "web", "db"]) {
            Command::Signal { signal, action } => {
                assert_eq!(signal, "HUP");
                assert_eq!(action.names, ["web", "db"]);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn unknown_signals_are_usage_errors_listing_the_valid_names() {
        for sig in ["9", "usr1", "SIGTERM"] {
            assert!(parse(&["signal", sig, "web"]).is_ok(), "{sig}");
        }
        let error = parse(&["signal", "FOO", "web"]).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let text = error.to_string();
        assert!(text.contains("unknown signal 'FOO'"), "{text}");
        assert!(text.contains("valid names: HUP INT QUIT"), "{text}");
    }

    #[test]
    fn tail_takes_follow_lines_name_and_stream() {
        match command(&["tail", "-f", "-n", "3", "web:1", "stderr"]) {
            Command::Tail {
                reading,
                name,
                stream,
            } => {
                assert!(reading.follow);
                assert_eq!(reading.lines, 3);
                assert_eq!(name, "web:1");
                assert_eq!(stream, LogStream::Stderr);
            }
            other => panic!("parsed as {other:?}"),
        }
        match command(&["tail", "web"]) {
            Command::Tail {
                reading, stream, ..
            } => {
                assert!(!reading.follow);
                assert_eq!(reading.lines, 10);
                assert_eq!(stream, LogStream::Stdout);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(matches!(
            command(&["maintail", "--follow", "--lines", "2"]),
            Command::Maintail {
                reading: Reading {
                    follow: true,
                    lines: 2
                }
            }
        ));
        for args in [
            &["tail"][..],
            &["tail", "web", "stdin"],
            &["tail", "-n", "x", "web"],
        ] {
            assert_eq!(parse(args).unwrap_err().exit_code(), 2, "{args:?}");
        }
        assert!(command(&["clear"])
            .missing_name()
            .unwrap()
            .starts_with("clear requires"));
    }

    #[test]
    fn unknown_commands_are_plugins() {
        match command(&["wait", "web", "--timeout", "5s"]) {
            Command::External(args) => assert_eq!(args, ["wait", "web", "--timeout", "5s"]),
            other => panic!("parsed as {other:?}"),
        }
        assert!(matches!(
            command(&["help", "wait"]),
            Command::Help { command: Some(c) } if c == "wait"
        ));
    }

    #[test]
    fn usage_errors_are_clap_errors() {
        for args in [
            &["status", "--bogus"][..],
            &["signal"],
            &["signal", "FOO", "web"],
            &["avail", "extra"],
            &["-c"],
            &["completions", "tcsh"],
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
            assert_eq!(
                command(&[action]).missing_name().unwrap(),
                format!(
                    "{action} requires a process name: NAME, NAME:N, GROUP:*, all or a job spec"
                )
            );
        }
        let signal = command(&["signal", "HUP"]);
        assert!(signal
            .missing_name()
            .unwrap()
            .starts_with("signal requires"));
        assert_eq!(command(&["status"]).missing_name(), None);
        assert_eq!(command(&["start", "all"]).missing_name(), None);
    }

    #[test]
    fn command_names_leave_out_plugins() {
        let names = command_names();
        assert!(names.contains(&"status".to_string()));
        assert!(names.contains(&"completions".to_string()));
        assert!(
            names.contains(&"update".to_string()),
            "aliases complete too"
        );
        assert_eq!(names.len(), 20, "{names:?}");
    }
}
