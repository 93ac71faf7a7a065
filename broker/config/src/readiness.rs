//! `depends_on`, `ready`, `ready_timeout`, `ready_interval` and
//! `healthcheck` of `[programs.NAME]`: what a program waits for before it
//! starts, what makes it RUNNING, and what keeps checking it once it runs.
//! The keys are read here; the names of `depends_on` are checked against
//! the whole config (and for cycles) in `depends.rs`.

use std::time::Duration;

use toml_edit::{Item, Value};

use super::reader::{Ctx, Field, Fields};
use super::values::{self, expected, Problem, Read};

/// Everything a program declares about readiness and health.
#[derive(Debug, Clone, PartialEq)]
pub struct Readiness {
    /// `depends_on`: program or group names, as written.
    pub depends_on: Vec<String>,
    /// `ready`: `None` means supervisord's readiness, `startsecs` elapsed.
    pub ready: Option<Probe>,
    /// `ready_timeout`: not ready by then is a failed start. `None`: wait
    /// as long as it takes.
    pub ready_timeout: Option<Duration>,
    /// `ready_interval`: time between two ready probes; default 1 s.
    pub ready_interval: Duration,
    pub healthcheck: Option<HealthCheck>,
    /// `watchdog` of `ready = { notify = true, watchdog = "10s" }`: a
    /// RUNNING process that sends no `WATCHDOG=1` for this long is
    /// unhealthy, and restarted.
    pub watchdog: Option<Duration>,
    /// Where `depends_on` is written, for the errors found once every
    /// file is read.
    pub depends_place: Option<super::depends::Place>,
}

impl Default for Readiness {
    fn default() -> Self {
        Readiness {
            depends_on: Vec::new(),
            ready: None,
            ready_timeout: None,
            ready_interval: DEFAULT_READY_INTERVAL,
            healthcheck: None,
            watchdog: None,
            depends_place: None,
        }
    }
}

/// One way to ask a program whether it is ready or healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A TCP connect to `host:port` succeeds.
    Tcp(String),
    /// An HTTP/1.1 GET of this `http://` URL answers 2xx.
    Http(String),
    /// A line of the program's stdout or stderr matches this regex.
    Log(String),
    /// The program writes `READY=1` to `$NOTIFY_SOCKET` (sd_notify).
    Notify,
    /// This argv exits 0, run by taskmasterd as the program's user, in its
    /// directory, with its environment.
    Command(Vec<String>),
}

/// `healthcheck`: a probe repeated every `interval` while RUNNING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub probe: Probe,
    pub interval: Duration,
    /// How long one probe may take before it counts as a failure.
    pub timeout: Duration,
    /// Consecutive failures before `action`.
    pub retries: u32,
    pub action: HealthAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthAction {
    Restart,
    Stop,
    /// Report only: status, events and the activity log.
    None,
}

const DEFAULT_READY_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_HEALTH_RETRIES: u32 = 3;
const PROBE_KINDS: &[&str] = &["tcp", "http", "log", "command"];
const READY_KINDS: &[&str] = &["tcp", "http", "log", "command", "notify"];
const READY_KEYS: &[&str] = &["tcp", "http", "log", "command", "notify", "watchdog"];
const HEALTH_KEYS: &[&str] = &[
    "tcp", "http", "log", "command", "notify", "interval", "timeout", "retries", "action",
];

/// `ready = { tcp = "127.0.0.1:5432" }`, or `{ notify = true, watchdog =
/// "10s" }`: the probe and the watchdog.
pub(super) fn read_ready(ctx: &mut Ctx, field: &Field) -> (Option<Probe>, Option<Duration>) {
    let Some(table) = ctx.table(field) else {
        return (None, None);
    };
    let mut fields = ctx.split(table, &field.path, READY_KEYS, &[]);
    let watchdog = fields.take("watchdog");
    let probe = probe_of(ctx, field, &mut fields, READY_KINDS);
    let watchdog = watchdog.and_then(|entry| {
        if probe.as_ref().is_some_and(|p| *p != Probe::Notify) {
            let message = "watchdog needs notify = true (the program sends WATCHDOG=1 to \
                           $NOTIFY_SOCKET); for other probes use healthcheck";
            ctx.error(entry.span.clone(), &entry.path, message);
            return None;
        }
        ctx.read(&entry, positive_duration)
    });
    (probe, watchdog)
}

/// `healthcheck = { http = "...", interval = "10s", ... }`.
pub(super) fn read_healthcheck(ctx: &mut Ctx, field: &Field) -> Option<HealthCheck> {
    let table = ctx.table(field)?;
    let mut fields = ctx.split(table, &field.path, HEALTH_KEYS, &[]);
    if let Some(notify) = fields.take("notify") {
        let message = "a health check cannot be notify; set ready = { notify = true, \
                       watchdog = \"10s\" } and have the program send WATCHDOG=1";
        ctx.error(notify.span.clone(), &notify.path, message);
    }
    let probe = probe_of(ctx, field, &mut fields, PROBE_KINDS);
    let interval = ctx
        .value(&mut fields, "interval", positive_duration)
        .unwrap_or(DEFAULT_HEALTH_INTERVAL);
    let timeout = ctx
        .value(&mut fields, "timeout", positive_duration)
        .unwrap_or(DEFAULT_HEALTH_TIMEOUT);
    let retries = ctx
        .value(&mut fields, "retries", |item| values::whole(item, 1, 1000))
        .unwrap_or(DEFAULT_HEALTH_RETRIES);
    let action = ctx
        .value(&mut fields, "action", health_action)
        .unwrap_or(HealthAction::Restart);
    Some(HealthCheck {
        probe: probe?,
        interval,
        timeout,
        retries,
        action,
    })
}

/// The one probe kind of a `ready` or `healthcheck` table.
fn probe_of(
    ctx: &mut Ctx,
    table: &Field,
    fields: &mut Fields,
    kinds_allowed: &[&'static str],
) -> Option<Probe> {
    let found: Vec<(&str, Field)> = kinds_allowed
        .iter()
        .filter_map(|kind| Some((*kind, fields.take(kind)?)))
        .collect();
    let kinds = "tcp = \"host:port\", http = \"http://host:port/path\", log = \"regex\" or \
                 command = [\"/path/to/check\", \"arg\"]";
    let [(kind, entry)] = <[_; 1]>::try_from(found)
        .map_err(|found: Vec<_>| {
            let message = if found.is_empty() {
                format!("needs one probe: {kinds}")
            } else {
                let names: Vec<&str> = found.iter().map(|(kind, _)| *kind).collect();
                format!(
                    "has {} probes ({}); keep one",
                    names.len(),
                    names.join(", ")
                )
            };
            ctx.error(table.span.clone(), &table.path, message);
        })
        .ok()?;
    match kind {
        "tcp" => ctx.read(&entry, tcp_address).map(Probe::Tcp),
        "http" => ctx.read(&entry, http_url).map(Probe::Http),
        "notify" => ctx.read(&entry, notify_true).map(|()| Probe::Notify),
        "command" => ctx.read(&entry, probe_command).map(Probe::Command),
        _ => ctx.read(&entry, log_pattern).map(Probe::Log),
    }
}

fn probe_command(item: &Item) -> Read<Vec<String>> {
    let argv = values::string_array(item)?;
    match argv.first() {
        Some(command) if !command.is_empty() => Ok(argv),
        _ => Err(Problem::new(
            "needs the command and its arguments, such as [\"/srv/api/bin/check\", \"--quick\"]",
        )),
    }
}

fn notify_true(item: &Item) -> Read<()> {
    match values::boolean(item)? {
        true => Ok(()),
        false => Err(Problem::new(
            "notify = false is no probe: write notify = true, or remove ready",
        )),
    }
}

fn tcp_address(item: &Item) -> Read<String> {
    let text = values::non_empty_string(item)?;
    host_port(&text)?;
    Ok(text)
}

/// `host:port`, the port a number (`[::1]:80` for IPv6).
fn host_port(text: &str) -> Result<(), Problem> {
    let bad = || {
        Problem::new(format!(
            "'{text}' is not host:port (such as \"127.0.0.1:5432\" or \"[::1]:80\")"
        ))
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(())
}

fn http_url(item: &Item) -> Read<String> {
    let text = values::non_empty_string(item)?;
    let Some(rest) = text.strip_prefix("http://") else {
        return Err(Problem::new(format!(
            "'{text}' is not an http:// URL (plain HTTP only; no TLS), such as \
             \"http://127.0.0.1:8080/health\""
        )));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.contains(']'))
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    host_port(&with_port)?;
    Ok(text)
}

fn log_pattern(item: &Item) -> Read<String> {
    let text = values::non_empty_string(item)?;
    match regex::Regex::new(&text) {
        Ok(_) => Ok(text),
        Err(error) => Err(Problem::new(format!("not a valid regex: {error}"))),
    }
}

/// A duration: seconds as a number (`10`, `0.5`) or a string with a unit
/// (`"500ms"`, `"10s"`, `"2m"`, `"1h"`).
pub(super) fn duration(item: &Item) -> Read<Duration> {
    let Some(Value::String(text)) = item.as_value() else {
        return values::seconds(item)
            .map_err(|_| expected("a duration such as \"10s\", \"500ms\" or 10", item));
    };
    let text = text.value().trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit.trim() {
        "ms" => 0.001,
        "s" | "" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => -1.0,
    };
    match number.parse::<f64>() {
        Ok(n) if scale > 0.0 && n * scale <= 365.0 * 24.0 * 3600.0 => {
            Ok(Duration::from_secs_f64(n * scale))
        }
        _ => Err(Problem::new(format!(
            "'{text}' is not a duration; write such as \"10s\", \"500ms\", \"2m\" or \"1h\" (at most a year)"
        ))),
    }
}

fn positive_duration(item: &Item) -> Read<Duration> {
    let value = duration(item)?;
    if value.is_zero() {
        return Err(Problem::new("must be more than zero"));
    }
    Ok(value)
}

pub(super) fn read_positive_duration(ctx: &mut Ctx, field: &Field) -> Option<Duration> {
    ctx.read(field, positive_duration)
}

fn health_action(item: &Item) -> Read<HealthAction> {
    let text =
        values::string(item).map_err(|_| expected("\"restart\", \"stop\" or \"none\"", item))?;
    match text.as_str() {
        "restart" => Ok(HealthAction::Restart),
        "stop" => Ok(HealthAction::Stop),
        "none" => Ok(HealthAction::None),
        other => Err(Problem::new(format!(
            "unknown action '{other}'; use \"restart\", \"stop\" or \"none\" (report only)"
        ))),
    }
}

/// `depends_on`: an array of names; each is checked later against every
/// program and group of the config.
pub(super) fn read_depends_on(
    ctx: &mut Ctx,
    field: &Field,
) -> (Vec<String>, super::depends::Place) {
    let (file, line) = ctx.location(field.span.clone());
    let names = ctx.read(field, values::string_array).unwrap_or_default();
    (names, super::depends::Place { file, line })
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Probe::Tcp(address) => write!(f, "tcp {address}"),
            Probe::Http(url) => write!(f, "http {url}"),
            Probe::Log(pattern) => write!(f, "log /{pattern}/"),
            Probe::Notify => write!(f, "notify READY=1"),
            Probe::Command(argv) => write!(f, "command {}", argv.join(" ")),
        }
    }
}

impl super::Config {
    /// `$NOTIFY_SOCKET` of process `name` when its program has `ready = {
    /// notify = true }`: a datagram socket the broker binds in `notify/`
    /// under `childlogdir` (a directory the broker's user may write, which
    /// taskmasterd checks at start), named after the process. Derived from
    /// the config alone, so that taskmasterd sets it in the environment
    /// from its own reading and the broker binds the same path.
    pub fn notify_socket(&self, process_name: &str) -> std::path::PathBuf {
        self.daemon
            .childlogdir
            .join("notify")
            .join(format!("{}.sock", process_name.replace(':', "_")))
    }
}

/// Which probe of a program a `command` probe request is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Ready,
    Health,
}

impl super::Config {
    /// How taskmasterd runs the `command` probe `check` of process `name`:
    /// the process's own exec spec (user, directory, umask, environment)
    /// with the probe's argv, and how long it may run (`ready_interval`, or
    /// the health check's `timeout`). `None` when that probe is not a
    /// command.
    pub fn probe_spec(&self, name: &str, check: Check) -> Option<(super::ExecSpec, Duration)> {
        let (program, _) = self.program_of_process(name)?;
        let readiness = &program.readiness;
        let (argv, limit) = match (check, &readiness.ready, &readiness.healthcheck) {
            (Check::Ready, Some(Probe::Command(argv)), _) => (argv, readiness.ready_interval),
            (Check::Health, _, Some(h)) => match &h.probe {
                Probe::Command(argv) => (argv, h.timeout),
                _ => return None,
            },
            _ => return None,
        };
        let mut spec = self.exec_spec(name)?;
        spec.command = argv.first()?.clone();
        spec.args = argv[1..].to_vec();
        Some((spec, limit))
    }
}
