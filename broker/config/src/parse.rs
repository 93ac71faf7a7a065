//! Reads a TOML config, its main file and the files it includes, into a
//! [`Config`]: every table and key is checked, and every problem of every
//! file is reported at once with its file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml_edit::Item;

use super::programs::{self, implicit_groups, read_groups, read_programs, Groups};
use super::reader::{Ctx, Field, Fields};
use super::sources::{self, Source, Sources};
use super::values::{self, Read};
use super::variables::{Expansion, Lookup};
use super::{
    accounts, Config, ConfigError, ConfigErrors, DaemonConfig, LogLevel, Roles, ServerConfig,
};

const TOP_TABLES: &[&str] = &[
    "unix_http_server",
    "taskmasterd",
    "taskmasterctl",
    "programs",
    "groups",
    "include",
];
/// The tables that only the main file may hold.
const MAIN_ONLY_TABLES: &[&str] = &["unix_http_server", "taskmasterd", "taskmasterctl"];
const SERVER_KEYS: &[&str] = &[
    "file",
    "chmod",
    "chown",
    "idle_timeout",
    "admins",
    "viewers",
];
const DAEMON_KEYS: &[&str] = &[
    "logfile",
    "logfile_maxbytes",
    "logfile_backups",
    "pidfile",
    "umask",
    "nodaemon",
    "minfds",
    "minprocs",
    "user",
    "directory",
    "childlogdir",
    "loglevel",
    "shutdown_on_fatal",
    "env",
    "statedir",
];
const CTL_KEYS: &[&str] = &["serverurl", "prompt", "history"];

const DEFAULT_SOCKET: &str = "/tmp/taskmaster.sock";
/// Long enough for a person reading a reply, short enough that idle
/// connections cannot hold every slot for long.
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads and parses the config file at `path` and the files it includes,
/// expanding `${VAR}` from this process's environment.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, &process_env)
}

/// `taskmaster-broker --check`: every error of the config, or nothing.
pub fn check(path: &Path) -> Result<(), ConfigErrors> {
    load(path).map(|_| ())
}

/// [`load`], with variables looked up in `lookup`.
pub(super) fn load_with(path: &Path, lookup: Lookup) -> Result<Config, ConfigErrors> {
    match sources::read_file(path) {
        Ok(text) => parse_with(&text, path, lookup),
        Err(error) => Err(ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: 0,
            key: String::new(),
            message: format!("cannot read the config file: {error}"),
        }])),
    }
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Parses `text`, the content of the file at `path`: `path` names the file
/// in messages, and relative paths and include globs in `text` are relative
/// to its directory.
pub fn parse_str(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
    parse_with(text, path, &process_env)
}

pub(super) fn parse_with(text: &str, path: &Path, lookup: Lookup) -> Result<Config, ConfigErrors> {
    let mut sources = sources::collect(text, path, lookup);
    if sources.list.is_empty() {
        // The main file is not TOML: its includes are unknown.
        return Err(ConfigErrors(sources.errors));
    }
    let (config, errors) = read_sources(&sources, lookup);
    sources.errors.extend(errors);
    if sources.errors.is_empty() {
        return Ok(config);
    }
    // Readers run table by table and file by file; people read each file
    // top to bottom, in the order they are included.
    let order = &sources.order;
    sources.errors.sort_by_key(|error| {
        let file = order.iter().position(|file| *file == error.file);
        (file.unwrap_or(usize::MAX), error.line)
    });
    Err(ConfigErrors(sources.errors))
}

fn read_sources(sources: &Sources, lookup: Lookup) -> (Config, Vec<ConfigError>) {
    let mut ctxs: Vec<Ctx> = sources
        .list
        .iter()
        .map(|source| Ctx::new(source.document.raw(), &source.file, lookup))
        .collect();
    let mut tops: Vec<Fields> = Vec::new();
    for (index, (ctx, source)) in ctxs.iter_mut().zip(&sources.list).enumerate() {
        tops.push(top_tables(ctx, source, index == 0));
    }
    let main = &mut ctxs[0];
    let server = read_server(main, tops[0].take("unix_http_server"));
    let daemon = read_daemon(main, tops[0].take("taskmasterd"));
    read_ctl(main, tops[0].take("taskmasterctl"));
    let mut programs = BTreeMap::new();
    let mut places = BTreeMap::new();
    for (ctx, top) in ctxs.iter_mut().zip(&mut tops) {
        read_programs(ctx, top.take("programs"), &mut programs, &mut places);
    }
    let mut groups = Groups::default();
    for (ctx, top) in ctxs.iter_mut().zip(&mut tops) {
        read_groups(ctx, top.take("groups"), &programs, &mut groups);
    }
    let groups = implicit_groups(groups, &programs);
    let depends_errors = super::depends::check(&programs, &groups);
    let config = Config {
        path: std::path::absolute(&sources.list[0].file)
            .unwrap_or_else(|_| sources.list[0].file.clone()),
        sources: sources.read.clone(),
        watch_dirs: sources.watch_dirs.iter().cloned().collect(),
        include_patterns: sources.patterns.clone(),
        generation: crate::exec::generation(
            sources
                .list
                .iter()
                .map(|source| (source.file.as_path(), source.document.raw())),
        ),
        server,
        daemon,
        programs,
        groups,
    };
    let errors = ctxs
        .into_iter()
        .flat_map(|ctx| ctx.errors)
        .chain(depends_errors)
        .collect();
    (config, errors)
}

/// The top tables of one file; `[include]` was read when the files were
/// collected, and an included file may hold only programs and groups.
fn top_tables<'d>(ctx: &mut Ctx, source: &'d Source, main: bool) -> Fields<'d> {
    let mut top = ctx.split(source.document.as_table(), "", TOP_TABLES, &[]);
    top.take("include");
    if !main {
        for name in MAIN_ONLY_TABLES {
            if let Some(field) = top.take(name) {
                let message = format!(
                    "[{name}] belongs in the main config file; an included file may hold only \
                     [programs.*], [groups.*] and [include]"
                );
                ctx.error(field.span, name, message);
            }
        }
    }
    top
}

fn read_server(ctx: &mut Ctx, field: Option<Field>) -> ServerConfig {
    let mut fields = ctx.table_fields(field.as_ref(), SERVER_KEYS, &[]);
    ServerConfig {
        file: ctx
            .path(&mut fields, "file")
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)),
        chmod: ctx.mode(&mut fields, "chmod").unwrap_or(0o700),
        chown: ctx.value(&mut fields, "chown", accounts::owner),
        idle_timeout: match ctx.value(&mut fields, "idle_timeout", values::seconds) {
            None => Some(DEFAULT_IDLE_TIMEOUT),
            Some(Duration::ZERO) => None,
            Some(timeout) => Some(timeout),
        },
        roles: Roles {
            admins: ctx.value(&mut fields, "admins", accounts::principals),
            viewers: ctx.value(&mut fields, "viewers", accounts::principals),
        },
    }
}

fn read_daemon(ctx: &mut Ctx, field: Option<Field>) -> DaemonConfig {
    let mut fields = ctx.table_fields(field.as_ref(), DAEMON_KEYS, &[]);
    let childlogdir = ctx
        .path(&mut fields, "childlogdir")
        .unwrap_or_else(std::env::temp_dir);
    DaemonConfig {
        logfile: ctx
            .path(&mut fields, "logfile")
            .unwrap_or_else(|| childlogdir.join("taskmasterd.log")),
        logfile_maxbytes: ctx
            .value(&mut fields, "logfile_maxbytes", values::byte_size)
            .unwrap_or(programs::DEFAULT_MAXBYTES),
        logfile_backups: ctx
            .value(&mut fields, "logfile_backups", |item| {
                values::whole(item, 0, u32::MAX.into())
            })
            .unwrap_or(programs::DEFAULT_BACKUPS),
        pidfile: ctx.path(&mut fields, "pidfile"),
        umask: ctx.mode(&mut fields, "umask").unwrap_or(0o022),
        nodaemon: ctx
            .value(&mut fields, "nodaemon", values::boolean)
            .unwrap_or(false),
        shutdown_on_fatal: ctx
            .value(&mut fields, "shutdown_on_fatal", values::boolean)
            .unwrap_or(false),
        minfds: ctx
            .value(&mut fields, "minfds", |item| {
                values::whole(item, 0, i64::MAX)
            })
            .unwrap_or(1024),
        minprocs: ctx
            .value(&mut fields, "minprocs", |item| {
                values::whole(item, 0, i64::MAX)
            })
            .unwrap_or(200),
        user: ctx.value(&mut fields, "user", accounts::user),
        directory: ctx.path(&mut fields, "directory"),
        childlogdir,
        loglevel: ctx
            .value(&mut fields, "loglevel", log_level)
            .unwrap_or(LogLevel::Info),
        env: fields
            .take("env")
            .map(|env| ctx.env(&env, Expansion::Full))
            .unwrap_or_default(),
        statedir: ctx.path(&mut fields, "statedir"),
    }
}

/// `[taskmasterctl]` belongs to the client; the broker only checks it.
/// taskmasterctl expands no variables, so neither does this check.
fn read_ctl(ctx: &mut Ctx, field: Option<Field>) {
    let mut fields = ctx.table_fields(field.as_ref(), CTL_KEYS, &[]);
    ctx.value_as(
        &mut fields,
        "serverurl",
        Expansion::None,
        values::server_url,
    );
    for key in CTL_KEYS {
        ctx.value_as(&mut fields, key, Expansion::None, values::non_empty_string);
    }
}

fn log_level(item: &Item) -> Read<LogLevel> {
    let text =
        values::string(item).map_err(|_| values::expected("a log level such as \"info\"", item))?;
    match text.trim().to_ascii_lowercase().as_str() {
        "critical" | "crit" => Ok(LogLevel::Critical),
        "error" => Ok(LogLevel::Error),
        "warn" | "warning" => Ok(LogLevel::Warn),
        "info" => Ok(LogLevel::Info),
        "debug" | "debg" => Ok(LogLevel::Debug),
        _ => Err(values::Problem::new(format!(
            "unknown log level '{text}'; use critical, error, warn, info or debug"
        ))),
    }
}
