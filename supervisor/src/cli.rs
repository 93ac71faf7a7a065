//! taskmasterd's command line. Self-contained (clap and std only) so that
//! `cargo xtask gen` can include it to write the man page.

use clap::Parser;
use std::path::PathBuf;

/// Keeps a declared set of programs running; controlled with taskmasterctl.
#[derive(Debug, Parser)]
#[command(
    name = "taskmasterd",
    version,
    after_help = "taskmaster-broker is run from $TASKMASTER_BROKER, else next to taskmasterd, \
else /usr/libexec/taskmaster/taskmaster-broker.\n\n\
As a systemd service (the Debian package's taskmasterd.service), run it with -n in a \
Type=notify unit: it reports READY=1 once the autostart programs have left STARTING, \
RELOADING=1 and READY=1 around a reload, STOPPING=1 and a STATUS= line on $NOTIFY_SOCKET."
)]
pub struct Cli {
    /// The config file [default: $TASKMASTER_CONFIG, ./taskmaster.conf.toml,
    /// ../taskmaster.conf.toml, /etc/taskmaster/taskmaster.conf.toml]
    #[arg(
        short = 'c',
        long = "config",
        visible_alias = "configuration",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Stay in the foreground instead of becoming a daemon
    #[arg(short = 'n', long)]
    pub nodaemon: bool,
    /// Check the config (with its includes) as a start would, and exit:
    /// every error with its file, line and key, config files others could
    /// change, a program running as the broker's user, a log directory the
    /// broker's user cannot write, a pidfile directory that does not exist
    /// (exit status 2), or "ok" (0)
    #[arg(long)]
    pub check: bool,
}
