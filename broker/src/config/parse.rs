//! Reads a TOML config into a [`Config`]: every table and key is checked,
//! and every problem of the file is reported at once with its line and key.

use std::path::{Path, PathBuf};

use toml_edit::{Document, Item, Table, TableLike};

use super::programs::{read_groups, read_programs};
use super::values::{self, did_you_mean, Read, Span};
use super::{accounts, Config, ConfigError, ConfigErrors, DaemonConfig, LogLevel, ServerConfig};

const TOP_TABLES: &[&str] = &[
    "unix_http_server",
    "taskmasterd",
    "taskmasterctl",
    "programs",
    "groups",
    "include",
];
const SERVER_KEYS: &[&str] = &["file", "chmod", "chown"];
const DAEMON_KEYS: &[&str] = &[
    "logfile",
    "pidfile",
    "umask",
    "nodaemon",
    "minfds",
    "minprocs",
    "user",
    "directory",
    "childlogdir",
    "loglevel",
    "env",
];
const CTL_KEYS: &[&str] = &["serverurl", "prompt", "history"];

const DEFAULT_SOCKET: &str = "/tmp/taskmaster.sock";

/// Reads and parses the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_str(&text, path),
        Err(error) => Err(ConfigErrors(vec![ConfigError {
            file: path.to_owned(),
            line: 0,
            key: String::new(),
            message: format!("cannot read the config file: {error}"),
        }])),
    }
}

/// Parses `text`, the content of the file at `path`: `path` names the file
/// in messages, and relative paths in `text` are relative to its directory.
pub fn parse_str(text: &str, path: &Path) -> Result<Config, ConfigErrors> {
    let mut ctx = Ctx::new(text, path);
    let document = match Document::parse(text) {
        Ok(document) => document,
        Err(error) => {
            let line = error.span().map_or(1, |span| ctx.line_at(span.start));
            ctx.errors.push(ConfigError {
                file: path.to_owned(),
                line,
                key: String::new(),
                message: format!("invalid TOML: {}", error.message()),
            });
            return Err(ConfigErrors(ctx.errors));
        }
    };
    let config = read_document(&mut ctx, document.as_table());
    if ctx.errors.is_empty() {
        Ok(config)
    } else {
        // Readers run table by table; people read files top to bottom.
        ctx.errors.sort_by_key(|error| error.line);
        Err(ConfigErrors(ctx.errors))
    }
}

fn read_document(ctx: &mut Ctx, root: &Table) -> Config {
    let mut top = ctx.split(root, "", TOP_TABLES, &[]);
    let server = read_server(ctx, top.take("unix_http_server"));
    let daemon = read_daemon(ctx, top.take("taskmasterd"));
    read_ctl(ctx, top.take("taskmasterctl"));
    if let Some(include) = top.take("include") {
        ctx.error(
            include.span,
            "include",
            "[include] is not supported yet; put every program in this file",
        );
    }
    let programs = read_programs(ctx, top.take("programs"));
    let groups = read_groups(ctx, top.take("groups"), &programs);
    Config {
        path: std::path::absolute(ctx.file).unwrap_or_else(|_| ctx.file.to_owned()),
        server,
        daemon,
        programs,
        groups,
    }
}

fn read_server(ctx: &mut Ctx, field: Option<Field>) -> ServerConfig {
    let mut fields = ctx.table_fields(field.as_ref(), SERVER_KEYS, &[]);
    ServerConfig {
        file: ctx
            .path(&mut fields, "file")
            .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)),
        chmod: ctx.mode(&mut fields, "chmod").unwrap_or(0o700),
        chown: ctx.value(&mut fields, "chown", accounts::owner),
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
        pidfile: ctx.path(&mut fields, "pidfile"),
        umask: ctx.mode(&mut fields, "umask").unwrap_or(0o022),
        nodaemon: ctx
            .value(&mut fields, "nodaemon", values::boolean)
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
            .map(|env| ctx.env(&env))
            .unwrap_or_default(),
    }
}

/// `[taskmasterctl]` belongs to the client; the broker only checks it.
fn read_ctl(ctx: &mut Ctx, field: Option<Field>) {
    let mut fields = ctx.table_fields(field.as_ref(), CTL_KEYS, &[]);
    for key in CTL_KEYS {
        ctx.value(&mut fields, key, values::non_empty_string);
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

/// One entry of a table: its dotted key path, its item and where it is.
pub(super) struct Field<'d> {
    pub path: String,
    pub item: &'d Item,
    pub span: Span,
}

/// The known keys of one table, by canonical name.
pub(super) struct Fields<'d> {
    found: Vec<(&'static str, Field<'d>)>,
}

impl<'d> Fields<'d> {
    fn none() -> Self {
        Fields { found: Vec::new() }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.found.iter().any(|(known, _)| *known == name)
    }

    pub fn take(&mut self, name: &str) -> Option<Field<'d>> {
        let index = self.found.iter().position(|(known, _)| *known == name)?;
        Some(self.found.swap_remove(index).1)
    }
}

/// The entries of a table, each with its key path and place.
pub(super) fn entries<'d>(
    table: &'d dyn TableLike,
    parent: &str,
) -> impl Iterator<Item = (&'d str, Field<'d>)> + 'd {
    let parent = parent.to_owned();
    table.iter().map(move |(name, item)| {
        let path = if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        };
        let span = item
            .span()
            .or_else(|| table.key(name).and_then(|k| k.span()));
        (name, Field { path, item, span })
    })
}

/// What the readers share: the text, where to resolve paths, and the
/// errors found so far.
pub(super) struct Ctx<'t> {
    text: &'t str,
    file: &'t Path,
    base: PathBuf,
    errors: Vec<ConfigError>,
}

impl<'t> Ctx<'t> {
    fn new(text: &'t str, file: &'t Path) -> Self {
        let parent = file.parent().unwrap_or(Path::new(""));
        let base = std::path::absolute(parent).unwrap_or_else(|_| parent.to_owned());
        Ctx {
            text,
            file,
            base,
            errors: Vec::new(),
        }
    }

    fn line_at(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }

    pub fn error(&mut self, span: Span, key: &str, message: impl Into<String>) {
        let line = span.map_or(1, |span| self.line_at(span.start));
        self.errors.push(ConfigError {
            file: self.file.to_owned(),
            line,
            key: key.to_owned(),
            message: message.into(),
        });
    }

    /// Reads one field, reporting its problem if it has one.
    pub fn read<T>(&mut self, field: &Field, reader: impl FnOnce(&Item) -> Read<T>) -> Option<T> {
        match reader(field.item) {
            Ok(value) => Some(value),
            Err(problem) => {
                let span = problem.span.or_else(|| field.span.clone());
                self.error(span, &field.path, problem.message);
                None
            }
        }
    }

    /// Reads the key `name` of `fields` if present.
    pub fn value<T>(
        &mut self,
        fields: &mut Fields,
        name: &str,
        reader: impl FnOnce(&Item) -> Read<T>,
    ) -> Option<T> {
        let field = fields.take(name)?;
        self.read(&field, reader)
    }

    pub fn mode(&mut self, fields: &mut Fields, name: &str) -> Option<u32> {
        let text = self.text;
        self.value(fields, name, |item| values::mode(item, text))
    }

    /// A path, made absolute against the config's directory.
    pub fn path(&mut self, fields: &mut Fields, name: &str) -> Option<PathBuf> {
        let path = self.value(fields, name, values::path)?;
        // Collecting the components drops the `.` of `./logs`.
        Some(self.base.join(path).components().collect())
    }

    /// `[...env]`: every key a variable name, every value a scalar.
    pub fn env(&mut self, field: &Field) -> Vec<(String, String)> {
        let Some(table) = self.table(field) else {
            return Vec::new();
        };
        let mut env = Vec::new();
        for (name, entry) in entries(table, &field.path) {
            if name.is_empty() || name.contains(['=', '\0']) {
                self.error(
                    entry.span.clone(),
                    &entry.path,
                    format!("'{name}' is not a variable name: it must be non-empty, without '='"),
                );
                continue;
            }
            if let Some(value) = self.read(&entry, values::env_value) {
                env.push((name.to_owned(), value));
            }
        }
        env
    }

    /// The field as a table, or an error saying it should be one.
    pub fn table<'d>(&mut self, field: &Field<'d>) -> Option<&'d dyn TableLike> {
        let table = field.item.as_table_like();
        if table.is_none() {
            let message = values::expected("a table", field.item).message;
            self.error(field.span.clone(), &field.path, message);
        }
        table
    }

    /// The known keys of a table field that may be absent.
    pub fn table_fields<'d>(
        &mut self,
        field: Option<&Field<'d>>,
        known: &[&'static str],
        aliases: &[(&str, &'static str)],
    ) -> Fields<'d> {
        match field.and_then(|field| Some((field, self.table(field)?))) {
            Some((field, table)) => self.split(table, &field.path, known, aliases),
            None => Fields::none(),
        }
    }

    /// Sorts the keys of `table` by canonical name (aliases resolved) and
    /// reports the unknown ones and the ones given twice under two names.
    pub fn split<'d>(
        &mut self,
        table: &'d dyn TableLike,
        path: &str,
        known: &[&'static str],
        aliases: &[(&str, &'static str)],
    ) -> Fields<'d> {
        let mut fields = Fields::none();
        for (name, field) in entries(table, path) {
            let canonical = known.iter().find(|known| **known == name).or_else(|| {
                aliases
                    .iter()
                    .find(|(alias, _)| *alias == name)
                    .map(|(_, c)| c)
            });
            let Some(&canonical) = canonical else {
                let message = unknown_key_message(name, path, known, aliases);
                self.error(field.span.clone(), &field.path, message);
                continue;
            };
            if fields.contains(canonical) {
                self.error(
                    field.span.clone(),
                    &field.path,
                    format!("'{canonical}' is given twice (once under another name); keep one"),
                );
                continue;
            }
            fields.found.push((canonical, field));
        }
        fields
    }
}

fn unknown_key_message(name: &str, path: &str, known: &[&str], aliases: &[(&str, &str)]) -> String {
    let candidates = known.iter().copied().chain(aliases.iter().map(|(a, _)| *a));
    if path.is_empty() {
        let hint = did_you_mean(name, candidates, ("[", "]"));
        format!("unknown table [{name}]{hint}")
    } else {
        let hint = did_you_mean(name, candidates, ("'", "'"));
        format!("unknown key '{name}' in [{path}]{hint}")
    }
}
