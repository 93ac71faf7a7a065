//! Taskmaster's TOML config, pure: the types every part reads, [`load`],
//! which finds every error of a config and its includes at once, and
//! [`plan`], what a reload would change. The broker and taskmasterd read the
//! config through this one crate (the same parser, the same validator), so
//! it stays free of sockets and async code.
//!
//! Parsing and validation live in `parse.rs`; this file only says what a
//! valid config is.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod accounts;
mod command_line;
mod depends;
mod exec;
mod naming;
mod parse;
mod plan;
mod programs;
mod reader;
mod readiness;
#[cfg(test)]
mod retry_tests;
pub mod signals;
mod sources;
mod stop_order;
#[cfg(test)]
mod supervisord_keys_tests;
#[cfg(any(test, feature = "test-util"))]
pub mod test_dir;
#[cfg(test)]
mod tests;
mod values;
mod variables;

pub use depends::Place;
pub use exec::ExecSpec;
pub use parse::check;
pub use parse::load;
pub use plan::{plan, ChangeKind, Plan};
pub use readiness::{Check, HealthAction, HealthCheck, Probe, Readiness};
pub use stop_order::StopLevel;
pub use {parse::parse_str, plan::ProgramChange};

/// A fully validated config. Paths are absolute (relative ones are resolved
/// against the directory of the file that named them).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The main file the config was read from, absolute.
    pub path: PathBuf,
    /// Every file read: the main file, then the included ones, absolute.
    pub sources: Vec<PathBuf>,
    /// The directories to watch (not recursively) to see a change: the
    /// directory of every file read, and the fixed directory part of every
    /// include glob (`conf.d` of `conf.d/*.toml`), which may not exist yet.
    pub watch_dirs: Vec<PathBuf>,
    /// The include globs, absolute: a file appearing or disappearing where
    /// one matches is a change.
    pub include_patterns: Vec<String>,
    /// A digest of the text of every file read: taskmasterd and the broker
    /// compare it to know they read the same version of the config.
    pub generation: u64,
    pub server: ServerConfig,
    pub daemon: DaemonConfig,
    /// Programs by name; shared with the processes that run them (see
    /// [`Program::instance`]).
    pub programs: BTreeMap<String, Arc<Program>>,
    /// Groups by name. Every program belongs to exactly one group: the one
    /// that lists it, else a group of its own with the program's name.
    pub groups: BTreeMap<String, Group>,
}

/// `[unix_http_server]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// `file`; default `/tmp/taskmaster.sock`.
    pub file: PathBuf,
    /// `chmod`; default `0o700`.
    pub chmod: u32,
    /// `chown`: `"user"` or `"user:group"`, resolved.
    pub chown: Option<Owner>,
    /// `idle_timeout`: a connection with no request for this long is
    /// closed; default 60 s, `None` (`0`) never.
    pub idle_timeout: Option<Duration>,
    /// `admins` and `viewers`: who may do what over the socket.
    pub roles: Roles,
}

/// `admins` and `viewers` of `[unix_http_server]`; `None` when the key is
/// absent. With neither key, anyone who can connect is an admin (the
/// socket's mode is then the only gate); `operators` are per program.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    pub admins: Option<Vec<Principal>>,
    pub viewers: Option<Vec<Principal>>,
}

impl Roles {
    /// Neither `admins` nor `viewers` given: everyone is an admin.
    pub fn is_open(&self) -> bool {
        self.admins.is_none() && self.viewers.is_none()
    }
}

/// One entry of `admins`, `viewers` or `operators`: a user, or `@group`,
/// resolved to its id when the config is loaded so that a typo is a config
/// error, not a silent refusal at request time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The name as written (or the uid, when given as digits).
    User {
        name: String,
        uid: u32,
    },
    Group {
        name: String,
        gid: u32,
    },
}

impl Principal {
    /// Whether a caller with this uid and these groups (primary and
    /// supplementary) is this user or a member of this group.
    pub fn matches(&self, uid: u32, gids: &[u32]) -> bool {
        match self {
            Principal::User { uid: own, .. } => *own == uid,
            Principal::Group { gid, .. } => gids.contains(gid),
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::User { name, .. } => write!(f, "{name}"),
            Principal::Group { name, .. } => write!(f, "@{name}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    /// `None`: keep the group.
    pub gid: Option<u32>,
}

/// `[taskmasterd]` and `[taskmasterd.env]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    /// `logfile`, the activity log; default `<childlogdir>/taskmasterd.log`.
    pub logfile: PathBuf,
    /// `logfile_maxbytes`: rotate the activity log at this size; 0: never.
    /// Default 50 MiB.
    pub logfile_maxbytes: u64,
    /// `logfile_backups`; default 10.
    pub logfile_backups: u32,
    pub pidfile: Option<PathBuf>,
    /// Default `0o022`.
    pub umask: u32,
    pub nodaemon: bool,
    /// `shutdown_on_fatal`: a program going FATAL stops everything and
    /// taskmasterd exits with status 1, so that a container's orchestrator
    /// restarts it. Default false.
    pub shutdown_on_fatal: bool,
    pub minfds: u64,
    pub minprocs: u64,
    pub user: Option<String>,
    pub directory: Option<PathBuf>,
    /// Default: the system's temporary directory.
    pub childlogdir: PathBuf,
    pub loglevel: LogLevel,
    /// `[taskmasterd.env]`, in file order.
    pub env: Vec<(String, String)>,
    /// `statedir`: where the broker keeps what must survive a restart
    /// (operator intent, history, event numbers); `None`: nothing does.
    pub statedir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Critical,
    Error,
    Warn,
    Info,
    Debug,
}

/// `[programs.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub name: String,
    /// `command` (alias `cmd`): the executable, no arguments.
    pub command: String,
    pub args: Vec<String>,
    pub numprocs: u32,
    pub numprocs_start: u32,
    pub priority: i32,
    pub autostart: bool,
    /// `startsecs` (alias `starttime`); integer or fractional seconds.
    pub startsecs: Duration,
    pub startretries: u32,
    pub autorestart: AutoRestart,
    pub exitcodes: Vec<i32>,
    /// A signal number, checked to be a real signal.
    pub stopsignal: i32,
    /// `stopwaitsecs` (alias `stoptime`).
    pub stopwaitsecs: Duration,
    pub stopasgroup: bool,
    pub killasgroup: bool,
    /// Checked to exist when the config is loaded.
    pub user: Option<String>,
    /// `directory` (alias `workingdir`).
    pub directory: Option<PathBuf>,
    pub umask: Option<u32>,
    pub stdout: LogSpec,
    pub stderr: LogSpec,
    pub redirect_stderr: bool,
    pub serverurl: Option<String>,
    /// `operators`: who may start, stop, restart, signal, clear and write
    /// to the stdin of this program (besides the admins), and read its
    /// status and logs.
    pub operators: Vec<Principal>,
    /// `[programs.NAME.env]`, in file order, scalars turned to strings.
    pub env: Vec<(String, String)>,
    /// `process_name`: the template of the part after `NAME:` in the
    /// process names (placeholders kept); `None`: `NAME` or `NAME:N`.
    pub process_name: Option<String>,
    /// `startretries = "infinite"`, `backoff`, `backoff_reset`: how failed
    /// starts and crashes are retried.
    pub retry: Retry,
    /// Where `command` is written (`file:line`), for advice such as "fix
    /// the command at taskmaster.conf.toml:14".
    pub command_at: Option<String>,
    /// `depends_on`, `ready`, `ready_timeout`, `ready_interval`,
    /// `healthcheck`.
    pub readiness: Readiness,
}

/// How a program's failed starts and crashes are retried. The default is
/// supervisord's: waits of 1 s, 2 s, 3 s... between failed starts, FATAL
/// after `startretries`, and an immediate restart after a crash.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Retry {
    /// `startretries = "infinite"`: never FATAL.
    pub forever: bool,
    /// `backoff = { ... }`; `None` is supervisord's linear wait.
    pub backoff: Option<Backoff>,
    /// `backoff_reset`: a process that stayed up this long starts the
    /// count afresh. Default 60 s.
    pub reset: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            forever: false,
            backoff: None,
            reset: Duration::from_secs(60),
        }
    }
}

/// `backoff = { initial = "1s", factor = 2.0, max = "5min", jitter = 0.2 }`:
/// the n-th wait is `min(max, initial * factor^(n-1))`, spread by ±jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub factor: f64,
    pub max: Duration,
    /// A fraction in `0..=1`: each wait is multiplied by a factor drawn in
    /// `1 - jitter ..= 1 + jitter`.
    pub jitter: f64,
}

/// Where one output stream of a program goes.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSpec {
    /// `stdout` / `stderr`; `None` means the default,
    /// `<childlogdir>/<process name>.stdout` (or `.stderr`), with the `:` of
    /// `NAME:N` written `_`. See [`Config::log_path`].
    pub path: Option<PathBuf>,
    /// `stdout_maxbytes`; 0 means never rotate. Default 50 MiB.
    pub maxbytes: u64,
    /// `stdout_backups`; default 10.
    pub backups: u32,
    /// `stdout_timestamps`: each line prefixed with the activity log's
    /// date format. Default false.
    pub timestamps: bool,
    /// `stdout_prefix`: each line prefixed with `[process name] `, for
    /// output shared with other programs (the daemon's stdout in a
    /// container). Default false.
    pub prefix: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoRestart {
    Always,
    Never,
    Unexpected,
}

/// `[groups.NAME]`, or the implicit group of an ungrouped program.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: String,
    pub programs: Vec<String>,
    pub priority: i32,
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is not tied to a line (unreadable file).
    pub line: usize,
    /// Dotted key path, e.g. `programs.web.stopsignal`; empty when none.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let file = self.file.display().to_string();
        write!(f, "{}", printable(&file))?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", printable(&self.key))?;
        }
        write!(f, ": {}", printable(&self.message))
    }
}

/// `text` with its control characters escaped (`\u{1b}`): keys and
/// messages quote what the file says, and a config must not be able to
/// send escape sequences to the terminal of whoever checks it.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| match c.is_control() {
            true => c.escape_debug().to_string(),
            false => c.to_string(),
        })
        .collect::<String>()
        .into()
}

/// Every problem found in one load, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Which output stream of a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Config {
    /// The group `program` belongs to. Most programs are in a group of
    /// their own, found by name at once; only the members of declared
    /// groups need a search (a reload of 1000 programs asks 3000 times).
    pub fn group_of(&self, program: &str) -> Option<&Group> {
        if let Some(own) = self.groups.get(program) {
            if own.programs.iter().any(|p| p == program) {
                return Some(own);
            }
        }
        self.groups
            .values()
            .filter(|group| !(group.programs.len() == 1 && group.programs[0] == group.name))
            .find(|group| group.programs.iter().any(|p| p == program))
    }

    /// The name of the group `program` belongs to (its own name when no
    /// group lists it).
    pub fn group_name_of<'a>(&'a self, program: &'a Program) -> &'a str {
        self.group_of(&program.name)
            .map_or(program.name.as_str(), |g| g.name.as_str())
    }

    /// The log file of one stream of one process.
    pub fn log_path(&self, program: &Program, process_name: &str, stream: Stream) -> PathBuf {
        let (spec, suffix) = match stream {
            Stream::Stdout => (&program.stdout, "stdout"),
            Stream::Stderr => (&program.stderr, "stderr"),
        };
        spec.path.clone().unwrap_or_else(|| {
            self.daemon
                .childlogdir
                .join(format!("{}.{suffix}", process_name.replace(':', "_")))
        })
    }
}

impl Program {
    /// [`Program::for_instance`] for process `process_name` (`NAME`,
    /// `NAME:N`, or as the `process_name` template names it) of group
    /// `group`, its number found from its name. Spawn this, never the
    /// program itself.
    ///
    /// The program itself is returned, shared, when filling the variables
    /// in changes nothing (no `${process_num}` or the like): a thousand
    /// programs of one process each then hold one definition each, not two.
    pub fn instance(self: &Arc<Program>, process_name: &str, group: &str) -> Arc<Program> {
        let number = self.number_of(process_name).filter(|_| self.numprocs > 1);
        let copy = self.for_instance(number, process_name, group);
        if copy == **self {
            Arc::clone(self)
        } else {
            Arc::new(copy)
        }
    }

    /// This program as one of its processes runs it: `${process_num}`,
    /// `${process_name}`, `${program_name}` and `${group_name}` filled in
    /// (and `$$` made `$`) in its command, args, env values, directory and
    /// log paths. `process_num` is `None` for a program of one process,
    /// whose `${process_num}` is then `numprocs_start`.
    pub fn for_instance(
        &self,
        process_num: Option<u32>,
        process_name: &str,
        group_name: &str,
    ) -> Program {
        let number = process_num.unwrap_or(self.numprocs_start).to_string();
        let instance = variables::Instance {
            process_num: &number,
            process_name,
            program_name: &self.name,
            group_name,
        };
        let fill = |text: &str| variables::substitute_instance(text, &instance);
        let fill_path = |path: &PathBuf| match path.to_str() {
            Some(text) => PathBuf::from(fill(text)),
            None => path.clone(),
        };
        let mut copy = self.clone();
        copy.command = fill(&self.command);
        copy.args = self.args.iter().map(|arg| fill(arg)).collect();
        copy.env = self
            .env
            .iter()
            .map(|(key, value)| (key.clone(), fill(value)))
            .collect();
        copy.directory = self.directory.as_ref().map(fill_path);
        copy.stdout.path = self.stdout.path.as_ref().map(fill_path);
        copy.stderr.path = self.stderr.path.as_ref().map(fill_path);
        copy
    }

    /// The process names of this program: `NAME` for one process, else
    /// `NAME:N` for each N from `numprocs_start` (or as its `process_name`
    /// template names them).
    pub fn process_names(&self) -> Vec<String> {
        (self.numprocs_start..self.numprocs_start + self.numprocs)
            .map(|n| self.process_name_of(n))
            .collect()
    }
}
