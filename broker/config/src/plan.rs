//! What a reload changes: [`plan`] compares the running config with a new
//! one, program by program, and says which processes must restart, which
//! settings apply in place, and which need taskmasterd itself restarted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::{Config, LogSpec, Program, Roles, ServerConfig};

/// What applying `new` over `old` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// One entry per program of either config, sorted by name.
    pub programs: Vec<ProgramChange>,
    /// `[unix_http_server]` changed: the socket is bound again.
    pub server_changed: bool,
    /// `admins` or `viewers` changed: they apply from the next request,
    /// with no need to bind the socket again.
    pub roles_changed: bool,
    /// `[taskmasterd]` keys that changed and that only a restart of
    /// taskmasterd applies (its pidfile, umask, rlimits, user, directory).
    pub restart_needed: Vec<String>,
    /// `[taskmasterd]` keys that changed and that the broker applies live.
    pub daemon_changed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramChange {
    pub name: String,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// Start it if `autostart`.
    Added,
    /// Stop its processes (stopsignal, stopwaitsecs), then drop it.
    Removed,
    /// Leave its processes alone.
    Unchanged,
    Changed {
        /// The keys that changed, in the order of docs/config.md, with
        /// `group` and `group priority` for its group.
        keys: Vec<String>,
        /// Restart every process of the program. When false, the new
        /// settings apply in place (and `numprocs` says what to start or stop).
        restart: bool,
        /// `(old, new)` when `numprocs` changed. Without `restart`, start
        /// the new instances or stop the extra ones (the last ones), and
        /// leave the others alone.
        numprocs: Option<(u32, u32)>,
    },
}

/// `[taskmasterd]` keys that taskmasterd applies when it starts only.
const RESTART_DAEMON_KEYS: &[&str] = &[
    "pidfile",
    "umask",
    "nodaemon",
    "minfds",
    "minprocs",
    "user",
    "directory",
    "statedir",
];

/// The plan to go from `old` to `new`.
pub fn plan(old: &Config, new: &Config) -> Plan {
    let names: BTreeSet<&String> = old.programs.keys().chain(new.programs.keys()).collect();
    let programs = names
        .into_iter()
        .map(|name| ProgramChange {
            name: name.clone(),
            kind: match (old.programs.get(name), new.programs.get(name)) {
                (None, _) => ChangeKind::Added,
                (Some(_), None) => ChangeKind::Removed,
                (Some(before), Some(after)) => program_change(old, before, new, after),
            },
        })
        .collect();
    let (restart_needed, daemon_changed) = daemon_changes(old, new)
        .into_iter()
        .partition(|key| RESTART_DAEMON_KEYS.contains(&key.as_str()));
    Plan {
        programs,
        server_changed: socket_changed(&old.server, &new.server),
        roles_changed: old.server.roles != new.server.roles,
        restart_needed,
        daemon_changed,
    }
}

/// `[unix_http_server]` changed in more than its roles: who may do what is
/// read at every request, so a change of roles alone keeps the socket.
fn socket_changed(old: &ServerConfig, new: &ServerConfig) -> bool {
    let without_roles = |server: &ServerConfig| ServerConfig {
        roles: Roles::default(),
        ..server.clone()
    };
    without_roles(old) != without_roles(new)
}

/// The `[taskmasterd]` keys whose values differ.
fn daemon_changes(old: &Config, new: &Config) -> Vec<String> {
    let (a, b) = (&old.daemon, &new.daemon);
    let keys = [
        ("logfile", a.logfile != b.logfile),
        ("logfile_maxbytes", a.logfile_maxbytes != b.logfile_maxbytes),
        ("logfile_backups", a.logfile_backups != b.logfile_backups),
        ("pidfile", a.pidfile != b.pidfile),
        ("umask", a.umask != b.umask),
        ("nodaemon", a.nodaemon != b.nodaemon),
        ("minfds", a.minfds != b.minfds),
        ("minprocs", a.minprocs != b.minprocs),
        ("user", a.user != b.user),
        ("directory", a.directory != b.directory),
        ("childlogdir", a.childlogdir != b.childlogdir),
        ("loglevel", a.loglevel != b.loglevel),
        ("env", a.env != b.env),
        ("statedir", a.statedir != b.statedir),
    ];
    changed(&keys)
}

fn changed(keys: &[(&str, bool)]) -> Vec<String> {
    keys.iter()
        .filter(|(_, changed)| *changed)
        .map(|(key, _)| (*key).to_owned())
        .collect()
}

fn program_change(old: &Config, a: &Program, new: &Config, b: &Program) -> ChangeKind {
    let restart_keys = [
        ("command", a.command != b.command),
        ("args", a.args != b.args),
        ("numprocs_start", a.numprocs_start != b.numprocs_start),
        ("user", a.user != b.user),
        ("directory", a.directory != b.directory),
        ("umask", a.umask != b.umask),
        (
            "stdout",
            log_target(old, &a.stdout) != log_target(new, &b.stdout),
        ),
        (
            "stderr",
            log_target(old, &a.stderr) != log_target(new, &b.stderr),
        ),
        ("redirect_stderr", a.redirect_stderr != b.redirect_stderr),
        ("serverurl", a.serverurl != b.serverurl),
        ("env", effective_env(old, a) != effective_env(new, b)),
        ("process_name", a.process_name != b.process_name),
    ];
    let (group_a, group_b) = (group_of(old, a), group_of(new, b));
    let in_place_keys = [
        ("priority", a.priority != b.priority),
        ("autostart", a.autostart != b.autostart),
        ("startsecs", a.startsecs != b.startsecs),
        ("startretries", a.startretries != b.startretries),
        ("autorestart", a.autorestart != b.autorestart),
        ("exitcodes", a.exitcodes != b.exitcodes),
        ("stopsignal", a.stopsignal != b.stopsignal),
        ("stopwaitsecs", a.stopwaitsecs != b.stopwaitsecs),
        ("stopasgroup", a.stopasgroup != b.stopasgroup),
        ("killasgroup", a.killasgroup != b.killasgroup),
        ("operators", a.operators != b.operators),
        ("backoff", a.retry != b.retry),
        ("stdout_maxbytes", a.stdout.maxbytes != b.stdout.maxbytes),
        ("stdout_backups", a.stdout.backups != b.stdout.backups),
        ("stderr_maxbytes", a.stderr.maxbytes != b.stderr.maxbytes),
        ("stderr_backups", a.stderr.backups != b.stderr.backups),
        (
            "stdout_timestamps",
            a.stdout.timestamps != b.stdout.timestamps,
        ),
        (
            "stderr_timestamps",
            a.stderr.timestamps != b.stderr.timestamps,
        ),
        (
            "depends_on",
            a.readiness.depends_on != b.readiness.depends_on,
        ),
        (
            "ready",
            (&a.readiness.ready, a.readiness.watchdog)
                != (&b.readiness.ready, b.readiness.watchdog),
        ),
        (
            "ready_timeout",
            a.readiness.ready_timeout != b.readiness.ready_timeout,
        ),
        (
            "ready_interval",
            a.readiness.ready_interval != b.readiness.ready_interval,
        ),
        (
            "healthcheck",
            a.readiness.healthcheck != b.readiness.healthcheck,
        ),
        ("group", group_a.0 != group_b.0),
        (
            "group priority",
            group_a.0 == group_b.0 && group_a.1 != group_b.1,
        ),
    ];
    let numprocs = (a.numprocs != b.numprocs).then_some((a.numprocs, b.numprocs));
    // `web` becomes `web:0` when going from one process to several (and
    // back): no process keeps its name, so all restart.
    let renamed = numprocs.is_some_and(|(from, to)| (from == 1) != (to == 1));
    let restart = renamed || restart_keys.iter().any(|(_, changed)| *changed);
    let mut keys = Vec::new();
    if numprocs.is_some() {
        keys.push("numprocs".to_owned());
    }
    keys.extend(changed(&restart_keys));
    keys.extend(changed(&in_place_keys));
    if keys.is_empty() {
        ChangeKind::Unchanged
    } else {
        ChangeKind::Changed {
            keys,
            restart,
            numprocs,
        }
    }
}

/// Where a stream goes: its own path, or the default under childlogdir
/// (so that moving childlogdir moves the programs that use the default).
fn log_target(config: &Config, spec: &LogSpec) -> (Option<PathBuf>, Option<PathBuf>) {
    match &spec.path {
        Some(path) => (Some(path.clone()), None),
        None => (None, Some(config.daemon.childlogdir.clone())),
    }
}

/// The variables the config gives a program: `[taskmasterd.env]`, then its own.
fn effective_env<'c>(config: &'c Config, program: &'c Program) -> BTreeMap<&'c str, &'c str> {
    config
        .daemon
        .env
        .iter()
        .chain(&program.env)
        .map(|(key, value)| (key.as_str(), value.as_str()))
        .collect()
}

/// The program's group and that group's priority. The group of its own
/// that an ungrouped program gets follows the program's priority, which
/// `priority` already reports: it counts as no priority of its own.
fn group_of<'c>(config: &'c Config, program: &Program) -> (Option<&'c str>, Option<i32>) {
    match config.group_of(&program.name) {
        Some(group) if group.name == program.name => (Some(&group.name), None),
        Some(group) => (Some(&group.name), Some(group.priority)),
        None => (None, None),
    }
}

impl Plan {
    /// What `taskmasterctl reread` prints: one line per program, then the
    /// lines of the daemon's settings.
    pub fn render(&self) -> String {
        let mut lines: Vec<String> = self.programs.iter().map(ProgramChange::render).collect();
        if self.server_changed {
            lines.push("[unix_http_server]: changed (the socket is bound again)".to_owned());
        }
        if self.roles_changed {
            lines.push(
                "[unix_http_server]: changed (admins, viewers; applied from the next request)"
                    .to_owned(),
            );
        }
        if !self.daemon_changed.is_empty() {
            lines.push(format!(
                "[taskmasterd]: changed ({})",
                self.daemon_changed.join(", ")
            ));
        }
        if !self.restart_needed.is_empty() {
            lines.push(format!(
                "[taskmasterd]: changed ({}; applied when taskmasterd restarts)",
                self.restart_needed.join(", ")
            ));
        }
        lines.join("\n")
    }
}

impl ProgramChange {
    fn render(&self) -> String {
        let name = &self.name;
        match &self.kind {
            ChangeKind::Added => format!("{name}: added"),
            ChangeKind::Removed => format!("{name}: removed"),
            ChangeKind::Unchanged => format!("{name}: unchanged"),
            ChangeKind::Changed {
                keys,
                restart,
                numprocs,
            } => {
                let keys: Vec<String> = keys
                    .iter()
                    .map(|key| match numprocs {
                        Some((from, to)) if key == "numprocs" => format!("numprocs {from} -> {to}"),
                        _ => key.clone(),
                    })
                    .collect();
                let restart = if *restart { "; restart" } else { "" };
                format!("{name}: changed ({}{restart})", keys.join(", "))
            }
        }
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
