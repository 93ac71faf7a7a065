//! Reads a TOML config, its main file and the files it includes, into a
//! [`Config`]: every table and key is checked, and every problem of every
//! file is reported at once with its file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml_edit::{Item, TableLike, Value};

use super::programs::{self, implicit_groups, read_groups, read_programs, Groups};
use super::sources::{self, Source, Sources};
use super::values::{self, did_you_mean, Problem, Read, Span};
use super::variables::{expand, Expansion, Lookup};
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
    "env",
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
    let errors = ctxs.into_iter().flat_map(|ctx| ctx.errors).collect();
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
    }
}

/// `[taskmasterctl]` belongs to the client; the broker only checks it.
/// taskmasterctl expands no variables, so neither does this check.
fn read_ctl(ctx: &mut Ctx, field: Option<Field>) {
    let mut fields = ctx.table_fields(field.as_ref(), CTL_KEYS, &[]);
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

    pub fn get(&self, name: &str) -> Option<&Field<'d>> {
        let (_, field) = self.found.iter().find(|(known, _)| *known == name)?;
        Some(field)
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
    /// Where each line starts, so that a line number is a binary search
    /// (every program records where it is defined).
    line_starts: Vec<usize>,
    file: &'t Path,
    /// The file's directory, absolute.
    pub base: PathBuf,
    lookup: Lookup<'t>,
    pub errors: Vec<ConfigError>,
}

impl<'t> Ctx<'t> {
    pub fn new(text: &'t str, file: &'t Path, lookup: Lookup<'t>) -> Self {
        let parent = file.parent().unwrap_or(Path::new(""));
        let base = std::path::absolute(parent).unwrap_or_else(|_| parent.to_owned());
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Ctx {
            text,
            line_starts,
            file,
            base,
            lookup,
            errors: Vec::new(),
        }
    }

    /// The 1-based line of byte `offset`.
    pub fn line_at(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.line_starts.partition_point(|&start| start <= offset)
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

    /// Where `span` is, as `file:line`, for messages about another file.
    pub fn place(&self, span: Span) -> String {
        let line = span.map_or(1, |span| self.line_at(span.start));
        format!("{}:{line}", self.file.display())
    }

    /// Reads one field, its variables expanded, reporting its problem if it
    /// has one.
    pub fn read<T>(&mut self, field: &Field, reader: impl FnOnce(&Item) -> Read<T>) -> Option<T> {
        self.read_as(field, Expansion::Full, reader)
    }

    pub fn read_as<T>(
        &mut self,
        field: &Field,
        expansion: Expansion,
        reader: impl FnOnce(&Item) -> Read<T>,
    ) -> Option<T> {
        let read = match self.expand_item(field.item, expansion) {
            Ok(Some(expanded)) => reader(&expanded),
            Ok(None) => reader(field.item),
            Err(problem) => Err(problem),
        };
        match read {
            Ok(value) => Some(value),
            Err(problem) => {
                let span = problem.span.or_else(|| field.span.clone());
                self.error(span, &field.path, problem.message);
                None
            }
        }
    }

    /// The item with the variables of its strings expanded; `None` when
    /// nothing changed, so that the item keeps its places in the text.
    fn expand_item(&self, item: &Item, expansion: Expansion) -> Result<Option<Item>, Problem> {
        let expand = |text: &str| expand(text, expansion, self.lookup);
        match item.as_value() {
            Some(Value::String(s)) if s.value().contains('$') => {
                let text = expand(s.value()).map_err(Problem::new)?;
                Ok(Some(Item::Value(Value::from(text))))
            }
            Some(Value::Array(array))
                if array
                    .iter()
                    .any(|v| v.as_str().is_some_and(|s| s.contains('$'))) =>
            {
                let mut expanded = toml_edit::Array::new();
                for (index, value) in array.iter().enumerate() {
                    match value.as_str() {
                        Some(text) => expanded.push(expand(text).map_err(|message| {
                            Problem::new(format!("element [{index}]: {message}")).at(value.span())
                        })?),
                        None => expanded.push(value.clone()),
                    }
                }
                Ok(Some(Item::Value(Value::Array(expanded))))
            }
            _ => Ok(None),
        }
    }

    /// Reads the key `name` of `fields` if present.
    pub fn value<T>(
        &mut self,
        fields: &mut Fields,
        name: &str,
        reader: impl FnOnce(&Item) -> Read<T>,
    ) -> Option<T> {
        self.value_as(fields, name, Expansion::Full, reader)
    }

    pub fn value_as<T>(
        &mut self,
        fields: &mut Fields,
        name: &str,
        expansion: Expansion,
        reader: impl FnOnce(&Item) -> Read<T>,
    ) -> Option<T> {
        let field = fields.take(name)?;
        self.read_as(&field, expansion, reader)
    }

    pub fn mode(&mut self, fields: &mut Fields, name: &str) -> Option<u32> {
        let text = self.text;
        self.value(fields, name, |item| values::mode(item, text))
    }

    /// A path, made absolute against the config's directory.
    pub fn path(&mut self, fields: &mut Fields, name: &str) -> Option<PathBuf> {
        self.path_as(fields, name, Expansion::Full)
    }

    pub fn path_as(
        &mut self,
        fields: &mut Fields,
        name: &str,
        expansion: Expansion,
    ) -> Option<PathBuf> {
        let path = self.value_as(fields, name, expansion, values::path)?;
        // Collecting the components drops the `.` of `./logs`.
        Some(self.base.join(path).components().collect())
    }

    /// `[...env]`: every key a variable name, every value a scalar.
    pub fn env(&mut self, field: &Field, expansion: Expansion) -> Vec<(String, String)> {
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
            if let Some(value) = self.read_as(&entry, expansion, values::env_value) {
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
