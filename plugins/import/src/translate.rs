//! supervisord's sections and keys to Taskmaster's TOML: what translates,
//! and a warning naming the file, line and key of everything that does not.

use crate::ini::{Entry, Section};
use crate::listener;
use std::fmt::Write as _;
use std::path::Path;
use toml::Value;

/// A key or section left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub at: String,
    pub reason: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.reason)
    }
}

/// One TOML table being written: its header and its keys in order.
#[derive(Debug, Default)]
struct Table {
    header: String,
    keys: Vec<(String, Value)>,
}

/// The translation of a whole config (its includes already read).
#[derive(Debug, Default)]
pub struct Translation {
    tables: Vec<Table>,
    pub warnings: Vec<Warning>,
    /// An event listener that stops supervisord when a process goes FATAL
    /// was found: `[taskmasterd] shutdown_on_fatal = true` does that.
    shutdown_on_fatal: bool,
}

impl Translation {
    /// The TOML file, tables in the order supervisord had them.
    pub fn to_toml(&self, source: &Path) -> String {
        let mut text = format!(
            "# Translated from {} by taskmasterctl-import.\n# See docs/config.md for every key.\n",
            source.display()
        );
        for table in &self.tables {
            let _ = write!(text, "\n[{}]\n", table.header);
            for (key, value) in &table.keys {
                let _ = writeln!(text, "{} = {value}", toml_key(key));
            }
        }
        text
    }

    /// Adds `[include] files = globs`.
    pub fn include(&mut self, globs: &[String]) {
        let files = globs.iter().cloned().map(Value::String).collect();
        self.tables.push(Table {
            header: "include".into(),
            keys: vec![("files".into(), Value::Array(files))],
        });
    }

    fn warn(&mut self, section: &Section, entry: Option<&Entry>, reason: impl Into<String>) {
        let at = match entry {
            Some(e) => format!(
                "{}:{}: [{}] {}",
                section.file.display(),
                e.line,
                section.name,
                e.key
            ),
            None => format!(
                "{}:{}: [{}]",
                section.file.display(),
                section.line,
                section.name
            ),
        };
        self.warnings.push(Warning {
            at,
            reason: reason.into(),
        });
    }
}

/// A bare key when TOML allows one, else a quoted one.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        key.to_string()
    } else {
        Value::String(key.to_string()).to_string()
    }
}

/// Translates every section, in order.
pub fn translate(sections: &[Section]) -> Translation {
    let mut out = Translation::default();
    for section in sections {
        let (kind, name) = section
            .name
            .split_once(':')
            .map_or((section.name.as_str(), ""), |(k, n)| (k, n));
        match kind {
            "unix_http_server" => simple(&mut out, section, "unix_http_server", UNIX_HTTP_SERVER),
            "supervisord" => daemon(&mut out, section),
            "supervisorctl" => supervisorctl(&mut out, section),
            "program" => program(&mut out, section, name),
            "group" => group(&mut out, section, name),
            "eventlistener" => event_listener(&mut out, section, name),
            // Read by the caller; nothing of it goes into the output.
            "include" => {}
            "rpcinterface" => {}
            "inet_http_server" => out.warn(
                section,
                None,
                "Taskmaster listens on its Unix socket only; section dropped",
            ),
            _ => out.warn(
                section,
                None,
                "not supported by Taskmaster (fcgi-programs are not); section dropped",
            ),
        }
    }
    if out.shutdown_on_fatal {
        let daemon = match out.tables.iter().position(|t| t.header == "taskmasterd") {
            Some(index) => &mut out.tables[index],
            None => {
                out.tables.insert(
                    0,
                    Table {
                        header: "taskmasterd".into(),
                        keys: Vec::new(),
                    },
                );
                &mut out.tables[0]
            }
        };
        daemon
            .keys
            .push(("shutdown_on_fatal".into(), Value::Boolean(true)));
    }
    out
}

/// `[eventlistener:x]`: the container pattern that kills supervisord when a
/// process goes FATAL is Taskmaster's `shutdown_on_fatal`; any other
/// listener runs unchanged through taskmasterctl-eventlistener.
fn event_listener(out: &mut Translation, section: &Section, name: &str) {
    match listener::kills_on_fatal(section) {
        Some(also) => {
            out.shutdown_on_fatal = true;
            if !also.is_empty() {
                out.warn(
                    section,
                    section.get("events"),
                    format!(
                        "stops supervisord on {} too; translated as [taskmasterd] \
                         shutdown_on_fatal = true, which stops taskmasterd on FATAL only",
                        also.join(", ")
                    ),
                );
            }
        }
        None => listener_program(out, section, name),
    }
}

/// How one supervisord key becomes a Taskmaster key.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Bool,
    /// An integer, or a string with a unit ("50MB").
    Size,
    /// Octal digits, kept as a string ("022").
    Mode,
}

type Keys = &'static [(&'static str, &'static str, Kind)];

const UNIX_HTTP_SERVER: Keys = &[
    ("file", "file", Kind::Text),
    ("chmod", "chmod", Kind::Mode),
    ("chown", "chown", Kind::Text),
];

const SUPERVISORCTL: Keys = &[
    ("serverurl", "serverurl", Kind::Text),
    ("prompt", "prompt", Kind::Text),
    ("history_file", "history", Kind::Text),
];

const SUPERVISORD: Keys = &[
    ("logfile", "logfile", Kind::Text),
    ("logfile_maxbytes", "logfile_maxbytes", Kind::Size),
    ("logfile_backups", "logfile_backups", Kind::Integer),
    ("pidfile", "pidfile", Kind::Text),
    ("umask", "umask", Kind::Mode),
    ("nodaemon", "nodaemon", Kind::Bool),
    ("minfds", "minfds", Kind::Integer),
    ("minprocs", "minprocs", Kind::Integer),
    ("user", "user", Kind::Text),
    ("directory", "directory", Kind::Text),
    ("childlogdir", "childlogdir", Kind::Text),
    ("loglevel", "loglevel", Kind::Text),
];

const PROGRAM: Keys = &[
    ("numprocs", "numprocs", Kind::Integer),
    ("numprocs_start", "numprocs_start", Kind::Integer),
    ("priority", "priority", Kind::Integer),
    ("autostart", "autostart", Kind::Bool),
    ("startsecs", "startsecs", Kind::Integer),
    ("startretries", "startretries", Kind::Integer),
    ("stopsignal", "stopsignal", Kind::Text),
    ("stopwaitsecs", "stopwaitsecs", Kind::Integer),
    ("stopasgroup", "stopasgroup", Kind::Bool),
    ("killasgroup", "killasgroup", Kind::Bool),
    ("user", "user", Kind::Text),
    ("directory", "directory", Kind::Text),
    ("umask", "umask", Kind::Mode),
    ("redirect_stderr", "redirect_stderr", Kind::Bool),
    ("stdout_logfile_maxbytes", "stdout_maxbytes", Kind::Size),
    ("stdout_logfile_backups", "stdout_backups", Kind::Integer),
    ("stderr_logfile_maxbytes", "stderr_maxbytes", Kind::Size),
    ("stderr_logfile_backups", "stderr_backups", Kind::Integer),
];

/// A section whose keys all map one to one.
fn simple(out: &mut Translation, section: &Section, header: &str, keys: Keys) {
    let mut table = Table {
        header: header.to_string(),
        keys: Vec::new(),
    };
    for entry in &section.entries {
        if !mapped(out, section, entry, keys, &mut table) {
            out.warn(section, Some(entry), "no such key in Taskmaster; dropped");
        }
    }
    out.tables.push(table);
}

/// Translates `entry` if `keys` knows it; false if it does not.
fn mapped(
    out: &mut Translation,
    section: &Section,
    entry: &Entry,
    keys: Keys,
    table: &mut Table,
) -> bool {
    let Some(&(_, key, kind)) = keys.iter().find(|(from, _, _)| *from == entry.key) else {
        return false;
    };
    match convert(&expand(out, section, entry), kind) {
        Ok(value) => table.keys.push((key.to_string(), value)),
        Err(reason) => out.warn(section, Some(entry), format!("{reason}; dropped")),
    }
    true
}

fn convert(text: &str, kind: Kind) -> Result<Value, String> {
    // `numprocs = %(ENV_N)s`: Taskmaster reads the number the variable
    // holds when it loads the config.
    if text.contains("${") && !matches!(kind, Kind::Text | Kind::Mode) {
        return Ok(Value::String(text.to_string()));
    }
    match kind {
        Kind::Text | Kind::Mode => Ok(Value::String(text.to_string())),
        Kind::Integer => text
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| format!("'{text}' is not an integer")),
        Kind::Bool => boolean(text).map(Value::Boolean),
        Kind::Size => Ok(text
            .parse::<i64>()
            .map_or_else(|_| Value::String(text.to_string()), Value::Integer)),
    }
}

/// supervisord's booleans.
fn boolean(text: &str) -> Result<bool, String> {
    match text.to_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("'{text}' is not a boolean")),
    }
}

/// `[supervisorctl]`: its `serverurl` is kept only when it names a Unix
/// socket; an HTTP one pointed at `[inet_http_server]`, which is not
/// carried over, and taskmasterctl could not use it.
fn supervisorctl(out: &mut Translation, section: &Section) {
    let mut table = Table {
        header: "taskmasterctl".into(),
        keys: Vec::new(),
    };
    for entry in &section.entries {
        if entry.key == "serverurl" && !is_unix_url(&entry.value) {
            out.warn(
                section,
                Some(entry),
                "Taskmaster serves its [unix_http_server] socket only, which taskmasterctl finds by itself; dropped",
            );
        } else if !mapped(out, section, entry, SUPERVISORCTL, &mut table) {
            out.warn(section, Some(entry), "no such key in Taskmaster; dropped");
        }
    }
    out.tables.push(table);
}

/// A URL taskmasterctl can use: a Unix socket's, or a bare path.
fn is_unix_url(url: &str) -> bool {
    url.starts_with("unix://") || !url.contains("://")
}

fn daemon(out: &mut Translation, section: &Section) {
    let mut table = Table {
        header: "taskmasterd".into(),
        keys: Vec::new(),
    };
    let mut env = None;
    for entry in &section.entries {
        if entry.key == "environment" {
            env = Some(entry);
        } else if !mapped(out, section, entry, SUPERVISORD, &mut table) {
            out.warn(section, Some(entry), "no such key in Taskmaster; dropped");
        }
    }
    out.tables.push(table);
    if let Some(entry) = env {
        environment(out, section, entry, "taskmasterd.env");
    }
}

fn program(out: &mut Translation, section: &Section, name: &str) {
    let header = format!("programs.{}", toml_key(name));
    let mut table = Table {
        header: header.clone(),
        keys: Vec::new(),
    };
    let mut env = None;
    for entry in &section.entries {
        match entry.key.as_str() {
            "command" => command(out, section, entry, &mut table),
            "environment" => env = Some(entry),
            "process_name" => process_name(out, section, entry, &mut table),
            "autorestart" if entry.value.contains("%(ENV_") => {
                let value = expand(out, section, entry);
                table.keys.push(("autorestart".into(), Value::String(value)));
            }
            "autorestart" => match entry.value.to_lowercase().as_str() {
                "unexpected" => table
                    .keys
                    .push(("autorestart".into(), Value::String("unexpected".into()))),
                other => match boolean(other) {
                    Ok(b) => table.keys.push(("autorestart".into(), Value::Boolean(b))),
                    Err(reason) => out.warn(section, Some(entry), format!("{reason}; dropped")),
                },
            },
            "exitcodes" => exitcodes(out, section, entry, &mut table),
            "stdout_logfile" | "stderr_logfile" => log_file(out, section, entry, &mut table),
            "serverurl" if entry.value.eq_ignore_ascii_case("auto") => {}
            "serverurl" if !is_unix_url(&entry.value) => out.warn(
                section,
                Some(entry),
                "Taskmaster serves a Unix socket only; dropped: the program gets the daemon's socket",
            ),
            "serverurl" => table
                .keys
                .push(("serverurl".into(), Value::String(entry.value.clone()))),
            _ => {
                if !mapped(out, section, entry, PROGRAM, &mut table) {
                    out.warn(section, Some(entry), "not supported by Taskmaster; dropped");
                }
            }
        }
    }
    if section.get("command").is_none() {
        out.warn(
            section,
            None,
            "no command: Taskmaster needs one; add it to the output",
        );
    }
    out.tables.push(table);
    if let Some(entry) = env {
        environment(out, section, entry, &format!("{header}.env"));
    }
}

/// `command = /bin/web --port 80` → `command` and `args`, split as a shell
/// would (POSIX words, no expansions: what supervisord's `shlex.split` does,
/// through the same `shell-words` rule as taskmasterctl's shell). supervisord
/// splits after expanding, so a `%(ENV_FLAGS)s` may give several words:
/// such a command becomes a `command_line`, which Taskmaster splits after
/// expanding too.
fn command(out: &mut Translation, section: &Section, entry: &Entry, table: &mut Table) {
    let expanded = expand(out, section, entry);
    if entry.value.contains("%(ENV_") && shell_words::split(&expanded).is_ok() {
        table
            .keys
            .push(("command_line".into(), Value::String(expanded)));
        return;
    }
    match shell_words::split(&expanded) {
        Ok(words) if !words.is_empty() => {
            table
                .keys
                .push(("command".into(), Value::String(words[0].clone())));
            if words.len() > 1 {
                let args = words[1..].iter().cloned().map(Value::String).collect();
                table.keys.push(("args".into(), Value::Array(args)));
            }
        }
        Ok(_) => out.warn(section, Some(entry), "empty command; dropped"),
        Err(reason) => out.warn(section, Some(entry), format!("{reason}; dropped")),
    }
}

/// `process_name`: the default names the processes as Taskmaster does;
/// a template becomes Taskmaster's, so the processes keep their names
/// (`worker:worker_00`).
fn process_name(out: &mut Translation, section: &Section, entry: &Entry, table: &mut Table) {
    if entry.value == "%(program_name)s" {
        return;
    }
    let template = expand(out, section, entry);
    if template.contains("${group_name}") || template.contains("${process_name}") {
        out.warn(
            section,
            Some(entry),
            "Taskmaster's process_name may use only %(program_name)s, %(process_num)s and \
             environment variables; dropped: the processes are named NAME:N",
        );
    } else if outside_variables(&template)
        .contains(|c: char| c == ':' || c == '/' || c.is_whitespace())
    {
        out.warn(
            section,
            Some(entry),
            "a process name may not hold ':', '/' or spaces in Taskmaster; dropped: the \
             processes are named NAME:N",
        );
    } else {
        table
            .keys
            .push(("process_name".into(), Value::String(template)));
    }
}

/// The text of `template` outside its `${...}`.
fn outside_variables(template: &str) -> String {
    let mut text = String::new();
    let mut rest = template;
    while let Some(at) = rest.find("${") {
        text.push_str(&rest[..at]);
        rest = rest[at..].find('}').map_or("", |end| &rest[at + end + 1..]);
    }
    text.push_str(rest);
    text
}

fn exitcodes(out: &mut Translation, section: &Section, entry: &Entry, table: &mut Table) {
    let codes: Result<Vec<Value>, _> = entry
        .value
        .split(',')
        .map(|c| c.trim().parse::<i64>().map(Value::Integer))
        .collect();
    match codes {
        Ok(codes) => table.keys.push(("exitcodes".into(), Value::Array(codes))),
        Err(_) => out.warn(
            section,
            Some(entry),
            format!("'{}' is not a list of exit codes; dropped", entry.value),
        ),
    }
}

/// `AUTO` is Taskmaster's default too; `NONE` discards the output.
fn log_file(out: &mut Translation, section: &Section, entry: &Entry, table: &mut Table) {
    let key = entry.key.trim_end_matches("_logfile").to_string();
    match entry.value.to_uppercase().as_str() {
        "AUTO" => {}
        "NONE" => table.keys.push((key, Value::String("/dev/null".into()))),
        _ => {
            let path = expand(out, section, entry);
            table.keys.push((key, Value::String(path)));
        }
    }
}

/// `KEY="value",OTHER=2` → a `[... .env]` table.
fn environment(out: &mut Translation, section: &Section, entry: &Entry, header: &str) {
    let expanded = expand(out, section, entry);
    let mut table = Table {
        header: header.to_string(),
        keys: Vec::new(),
    };
    for pair in split_pairs(&expanded) {
        match pair.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                    .unwrap_or(value);
                table
                    .keys
                    .push((key.trim().to_string(), Value::String(value.to_string())));
            }
            _ => out.warn(
                section,
                Some(entry),
                format!("'{pair}' is not KEY=value; dropped"),
            ),
        }
    }
    out.tables.push(table);
}

/// Splits at the commas outside quotes.
fn split_pairs(text: &str) -> Vec<String> {
    let mut pairs = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for c in text.chars() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (',', None) => {
                pairs.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    pairs.push(current);
    pairs
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn group(out: &mut Translation, section: &Section, name: &str) {
    let mut table = Table {
        header: format!("groups.{}", toml_key(name)),
        keys: Vec::new(),
    };
    for entry in &section.entries {
        match entry.key.as_str() {
            "programs" => {
                let programs = entry
                    .value
                    .split(',')
                    .map(str::trim)
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect();
                table.keys.push(("programs".into(), Value::Array(programs)));
            }
            "priority" => match entry.value.parse::<i64>() {
                Ok(p) => table.keys.push(("priority".into(), Value::Integer(p))),
                Err(_) => out.warn(section, Some(entry), "not an integer; dropped"),
            },
            _ => out.warn(section, Some(entry), "no such key in Taskmaster; dropped"),
        }
    }
    out.tables.push(table);
}

/// supervisord's `%(...)s` expansions in Taskmaster's `${...}` form; a
/// literal `$` is written `$$` so that Taskmaster keeps it.
fn expand(out: &mut Translation, section: &Section, entry: &Entry) -> String {
    let here = std::path::absolute(&section.file)
        .ok()
        .and_then(|f| f.parent().map(|d| d.display().to_string()))
        .unwrap_or_else(|| ".".into());
    let (text, problems) = expand_text(&entry.value, &here);
    for problem in problems {
        out.warn(section, Some(entry), problem);
    }
    text
}

/// The pure part of [`expand`]: the text and what could not be kept.
pub fn expand_text(value: &str, here: &str) -> (String, Vec<String>) {
    let mut text = String::with_capacity(value.len());
    let mut problems = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find(['%', '$']) {
        text.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix('$') {
            text.push_str("$$");
            rest = after;
        } else if let Some(after) = rest.strip_prefix("%%") {
            text.push('%');
            rest = after;
        } else if let Some((name, spec, after)) = reference(rest) {
            text.push_str(&replacement(name, spec, here, &mut problems));
            rest = after;
        } else {
            text.push('%');
            rest = &rest[1..];
        }
    }
    text.push_str(rest);
    (text, problems)
}

/// `%(name)spec` at the start of `text`: its name, format and what follows.
fn reference(text: &str) -> Option<(&str, &str, &str)> {
    let body = text.strip_prefix("%(")?;
    let close = body.find(')')?;
    let name = &body[..close];
    let after = &body[close + 1..];
    let end = after.find(|c: char| c.is_ascii_alphabetic())?;
    Some((name, &after[..end + 1], &after[end + 1..]))
}

fn replacement(name: &str, spec: &str, here: &str, problems: &mut Vec<String>) -> String {
    // `%(process_num)02d`: zero-padded, which Taskmaster writes `${process_num:02}`.
    let padding = spec
        .strip_suffix('d')
        .filter(|width| width.starts_with('0') && (2..=3).contains(&width.len()))
        .filter(|width| width.bytes().all(|b| b.is_ascii_digit()));
    if let (Some(width), "process_num") = (padding, name) {
        return format!("${{process_num:{width}}}");
    }
    if !matches!(spec, "s" | "d") {
        problems.push(format!(
            "the format '%({name}){spec}' is not kept: Taskmaster writes the plain value"
        ));
    }
    match name {
        "here" => here.to_string(),
        "process_num" | "program_name" | "process_name" | "group_name" => format!("${{{name}}}"),
        "host_node_name" => {
            problems.push("%(host_node_name)s is written as ${HOSTNAME:-localhost}".into());
            "${HOSTNAME:-localhost}".into()
        }
        _ => match name.strip_prefix("ENV_") {
            Some(var) => format!("${{{var}}}"),
            None => {
                problems.push(format!("unknown expansion %({name}){spec}; kept as text"));
                format!("%({name}){spec}")
            }
        },
    }
}

/// `[eventlistener:x]` → a program that runs the listener unchanged
/// through taskmasterctl-eventlistener, which feeds it taskmasterd's events
/// in supervisord's format (docs/migrating.md).
fn listener_program(out: &mut Translation, section: &Section, name: &str) {
    let own = ["events", "buffer_size", "result_handler"];
    let mut as_program = section.clone();
    as_program
        .entries
        .retain(|e| !own.contains(&e.key.as_str()));
    program(out, &as_program, name);
    let Some(table) = out.tables.last_mut() else {
        return;
    };
    let events: Vec<&str> = section
        .get("events")
        .map(|e| {
            e.value
                .split(',')
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut args = vec!["--events".to_owned(), events.join(",")];
    if let Some(size) = section.get("buffer_size") {
        args.extend(["--buffer-size".to_owned(), size.value.trim().to_owned()]);
    }
    args.push("--".to_owned());
    // The listener's own command and arguments go after the `--`.
    let take = |key: &str, keys: &mut Vec<(String, Value)>| {
        keys.iter()
            .position(|(k, _)| k == key)
            .map(|at| keys.remove(at).1)
    };
    if let Some(Value::String(command)) = take("command", &mut table.keys) {
        args.push(command);
    }
    if let Some(Value::Array(rest)) = take("args", &mut table.keys) {
        args.extend(
            rest.into_iter()
                .filter_map(|v| v.as_str().map(str::to_owned)),
        );
    }
    let mut keys = vec![
        (
            "command".to_owned(),
            Value::String("taskmasterctl-eventlistener".to_owned()),
        ),
        (
            "args".to_owned(),
            Value::Array(args.into_iter().map(Value::String).collect()),
        ),
    ];
    // A stop must reach the listener, the adapter's child, too.
    if !table.keys.iter().any(|(k, _)| k == "stopasgroup") {
        keys.push(("stopasgroup".to_owned(), Value::Boolean(true)));
    }
    keys.append(&mut table.keys);
    table.keys = keys;
    if events.is_empty() {
        out.warn(
            section,
            None,
            "no events: the listener receives nothing; add events to its --events",
        );
    }
    if let Some(entry) = section.get("result_handler") {
        out.warn(
            section,
            Some(entry),
            "not supported by Taskmaster (the listener's RESULT is OK or FAIL); dropped",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ini::parse;

    fn translate_text(text: &str) -> Translation {
        translate(&parse(text, Path::new("/etc/supervisord.conf")).unwrap())
    }

    #[test]
    fn expansions_become_taskmaster_variables() {
        let (text, problems) = expand_text(
            "%(ENV_HOME)s/w-%(process_num)s %(program_name)s 100%% $PATH %(here)s",
            "/etc",
        );
        assert_eq!(
            text,
            "${HOME}/w-${process_num} ${program_name} 100% $$PATH /etc"
        );
        assert!(problems.is_empty());
        let (text, problems) = expand_text(
            "%(program_name)s_%(process_num)02d %(process_num)3d %(bogus)s",
            "/",
        );
        assert_eq!(
            text,
            "${program_name}_${process_num:02} ${process_num} %(bogus)s"
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(expand_text("50% done", "/").0, "50% done");
    }

    #[test]
    fn a_program_with_everything() {
        let out = translate_text(
            "[program:web]\n\
             command = /usr/bin/web --port 80%(process_num)s \"a b\"\n\
             numprocs = 2\n\
             process_name = %(program_name)s_%(process_num)02d\n\
             autostart = yes\n\
             autorestart = unexpected\n\
             exitcodes = 0,2\n\
             stdout_logfile = /var/log/web-%(process_num)s.log\n\
             stderr_logfile = NONE\n\
             stdout_logfile_maxbytes = 10MB\n\
             environment = A=\"1,2\",B=x\n\
             stdout_events_enabled = true\n",
        );
        let toml = out.to_toml(Path::new("in.conf"));
        assert!(
            toml.contains(
                "[programs.web]\ncommand = \"/usr/bin/web\"\nargs = [\"--port\", \"80${process_num}\", \"a b\"]\n\
                 numprocs = 2\nprocess_name = \"${program_name}_${process_num:02}\"\nautostart = true\nautorestart = \"unexpected\"\nexitcodes = [0, 2]\n\
                 stdout = \"/var/log/web-${process_num}.log\"\nstderr = \"/dev/null\"\n\
                 stdout_maxbytes = \"10MB\"\n"
            ),
            "{toml}"
        );
        assert!(
            toml.contains("[programs.web.env]\nA = \"1,2\"\nB = \"x\"\n"),
            "{toml}"
        );
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        assert_eq!(
            out.warnings[0].to_string(),
            "/etc/supervisord.conf:12: [program:web] stdout_events_enabled: not supported by Taskmaster; dropped"
        );
        toml::from_str::<toml::Table>(&toml).expect("valid TOML");
    }

    #[test]
    fn daemon_client_socket_and_groups() {
        let out = translate_text(
            "[unix_http_server]\nfile=/tmp/s.sock\nchmod=0700\nusername=u\n\
             [supervisord]\nnodaemon=true\nlogfile_maxbytes=5MB\nenvironment=X=1\n\
             [supervisorctl]\nserverurl=unix:///tmp/s.sock\nhistory_file=~/.h\n\
             [inet_http_server]\nport=9001\n\
             [group:front]\nprograms=web, api\npriority=5\n\
             [fcgi-program:x]\ncommand=y\n",
        );
        let toml = out.to_toml(Path::new("in.conf"));
        for part in [
            "[unix_http_server]\nfile = \"/tmp/s.sock\"\nchmod = \"0700\"\n",
            "[taskmasterd]\nnodaemon = true\nlogfile_maxbytes = \"5MB\"\n",
            "[taskmasterd.env]\nX = \"1\"\n",
            "[taskmasterctl]\nserverurl = \"unix:///tmp/s.sock\"\nhistory = \"~/.h\"\n",
            "[groups.front]\nprograms = [\"web\", \"api\"]\npriority = 5\n",
        ] {
            assert!(toml.contains(part), "{part} not in\n{toml}");
        }
        let warned: Vec<String> = out.warnings.iter().map(|w| w.at.clone()).collect();
        assert_eq!(
            warned,
            [
                "/etc/supervisord.conf:4: [unix_http_server] username",
                "/etc/supervisord.conf:12: [inet_http_server]",
                "/etc/supervisord.conf:17: [fcgi-program:x]",
            ]
        );
        toml::from_str::<toml::Table>(&toml).expect("valid TOML");
    }

    #[test]
    fn an_http_serverurl_is_dropped_with_a_warning() {
        let out = translate_text("[supervisorctl]\nserverurl=http://127.0.0.1:9001\nprompt=x\n");
        let toml = out.to_toml(Path::new("in.conf"));
        assert!(!toml.contains("serverurl"), "{toml}");
        assert!(toml.contains("prompt = \"x\""), "{toml}");
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].to_string().contains("serverurl"));
    }

    #[test]
    fn an_event_listener_runs_through_taskmasterctl_eventlistener() {
        let out = translate_text(
            "[eventlistener:crashmail]\ncommand=crashmail -a -m ops@example.com\n\
             events=PROCESS_STATE_EXITED, TICK_60\nbuffer_size=50\nautostart=false\n",
        );
        let toml = out.to_toml(Path::new("in.conf"));
        assert!(
            toml.contains(
                "[programs.crashmail]\ncommand = \"taskmasterctl-eventlistener\"\n\
                 args = [\"--events\", \"PROCESS_STATE_EXITED,TICK_60\", \"--buffer-size\", \"50\", \
                 \"--\", \"crashmail\", \"-a\", \"-m\", \"ops@example.com\"]\n\
                 stopasgroup = true\nautostart = false\n"
            ),
            "{toml}"
        );
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        toml::from_str::<toml::Table>(&toml).expect("valid TOML");
    }

    #[test]
    fn odd_program_names_are_quoted() {
        assert_eq!(toml_key("web"), "web");
        assert_eq!(toml_key("web.v2"), "\"web.v2\"");
    }

    #[test]
    fn commands_split_like_a_shell() {
        assert_eq!(
            shell_words::split(r#"/bin/sh -c 'echo "hi"; exit 3' a\ b"#).unwrap(),
            ["/bin/sh", "-c", "echo \"hi\"; exit 3", "a b"]
        );
        assert!(shell_words::split("'open").is_err());
    }

    #[test]
    fn variables_in_numbers_and_commands_are_left_to_taskmaster() {
        let out = translate_text(
            "[program:q]\n\
             command = /usr/bin/php artisan queue:work %(ENV_FLAGS)s --tries=3\n\
             numprocs = %(ENV_N)s\n\
             process_name = %(program_name)s_%(process_num)02d\n\
             startsecs = %(ENV_WAIT)s\n\
             serverurl = http://127.0.0.1:9001\n\
             autorestart = %(ENV_RESTART)s\n\
             [program:r]\ncommand = /bin/r\nnumprocs = 2\n\
             process_name = %(program_name)s:%(process_num)d\n",
        );
        let toml = out.to_toml(Path::new("in.conf"));
        assert!(
            toml.contains(
                "[programs.q]\n\
                 command_line = \"/usr/bin/php artisan queue:work ${FLAGS} --tries=3\"\n\
                 numprocs = \"${N}\"\n\
                 process_name = \"${program_name}_${process_num:02}\"\n\
                 startsecs = \"${WAIT}\"\n\
                 autorestart = \"${RESTART}\"\n"
            ),
            "{toml}"
        );
        let warned: Vec<String> = out.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warned,
            [
                "/etc/supervisord.conf:6: [program:q] serverurl: Taskmaster serves a Unix socket \
              only; dropped: the program gets the daemon's socket",
                "/etc/supervisord.conf:11: [program:r] process_name: a process name may not hold \
                 ':', '/' or spaces in Taskmaster; dropped: the processes are named NAME:N",
            ]
        );
    }

    #[test]
    fn the_fatal_listener_becomes_shutdown_on_fatal_and_others_are_warned() {
        let out = translate_text(
            "[eventlistener:quit]\n\
             command=bash -c \"printf 'READY\\n' && while read line; do kill -SIGQUIT $PPID; done < /dev/stdin\"\n\
             events=PROCESS_STATE_FATAL,PROCESS_STATE_EXITED\n\
             [eventlistener:mail]\ncommand=crashmail -a\nevents=PROCESS_STATE_EXITED\n\
             [supervisord]\nnodaemon=true\n",
        );
        let toml = out.to_toml(Path::new("in.conf"));
        assert!(
            toml.contains("[taskmasterd]\nnodaemon = true\nshutdown_on_fatal = true\n"),
            "{toml}"
        );
        let warned: Vec<String> = out.warnings.iter().map(|w| w.at.clone()).collect();
        assert_eq!(
            warned,
            ["/etc/supervisord.conf:3: [eventlistener:quit] events"]
        );
        assert!(out.warnings[0].reason.contains("PROCESS_STATE_EXITED"));
        assert!(
            toml.contains("[programs.mail]\ncommand = \"taskmasterctl-eventlistener\"\n"),
            "{toml}"
        );
        let alone = translate_text(
            "[eventlistener:quit]\ncommand=kill_supervisor.py\nevents=PROCESS_STATE_FATAL\n",
        );
        assert!(alone.warnings.is_empty(), "{:?}", alone.warnings);
        assert!(alone
            .to_toml(Path::new("in.conf"))
            .contains("[taskmasterd]\nshutdown_on_fatal = true\n"));
    }
}
