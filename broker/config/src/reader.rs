//! Reading TOML tables with their places: [`Ctx`] (the text of one file,
//! its line index and the errors found in it), [`Field`]s with their key
//! paths and spans, and the unknown-key messages. The table readers
//! (`parse.rs`, `programs.rs`, `sources.rs`) build on it; it knows none of
//! them.

use std::path::{Path, PathBuf};

use toml_edit::{Item, TableLike, Value};

use super::values::{self, did_you_mean, Problem, Read, Span};
use super::variables::{expand, Expansion, Lookup};
use super::ConfigError;

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

    /// The file and 1-based line of `span`, for an error found once every
    /// file is read (a cycle of `depends_on` across files).
    pub fn location(&self, span: Span) -> (PathBuf, usize) {
        let line = span.map_or(1, |span| self.line_at(span.start));
        (self.file.to_owned(), line)
    }

    /// Reads one field, its variables expanded, reporting its problem if it
    /// has one.
    pub fn read<T>(&mut self, field: &Field, reader: impl Fn(&Item) -> Read<T>) -> Option<T> {
        self.read_as(field, Expansion::Full, reader)
    }

    pub fn read_as<T>(
        &mut self,
        field: &Field,
        expansion: Expansion,
        reader: impl Fn(&Item) -> Read<T>,
    ) -> Option<T> {
        let read = match self.expand_item(field.item, expansion) {
            Ok(Some(expanded)) => retyped(field.item, &expanded, reader),
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
                let text = expand(s.value()).map_err(|e| Problem::new(e.to_string()))?;
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
                        Some(text) => expanded.push(expand(text).map_err(|error| {
                            Problem::new(format!("element [{index}]: {error}")).at(value.span())
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
        reader: impl Fn(&Item) -> Read<T>,
    ) -> Option<T> {
        self.value_as(fields, name, Expansion::Full, reader)
    }

    pub fn value_as<T>(
        &mut self,
        fields: &mut Fields,
        name: &str,
        expansion: Expansion,
        reader: impl Fn(&Item) -> Read<T>,
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

/// Reads a string that held variables. A key that takes a number or a
/// boolean refuses the string: it then gets the TOML value the expanded text
/// spells (`numprocs = "${WORKERS}"` with `WORKERS=4` is `numprocs = 4`),
/// and any problem says what the variables expanded to.
fn retyped<T>(written: &Item, expanded: &Item, reader: impl Fn(&Item) -> Read<T>) -> Read<T> {
    let refused = match reader(expanded) {
        Ok(value) => return Ok(value),
        Err(problem) => problem,
    };
    let (Some(written), Some(text)) = (written.as_str(), expanded.as_str()) else {
        return Err(refused);
    };
    if written == text {
        // Only placeholders, kept for each process: nothing to add.
        return Err(refused);
    }
    let said = format!("'{written}' is '{text}'");
    // Built afresh: a parsed value's place would be in `text`, not in the file.
    let scalar = match text.trim().parse::<Value>() {
        Ok(Value::Integer(n)) => Some(Value::from(*n.value())),
        Ok(Value::Float(f)) => Some(Value::from(*f.value())),
        Ok(Value::Boolean(b)) => Some(Value::from(*b.value())),
        _ => None,
    };
    let problem = match scalar {
        Some(value) => match reader(&Item::Value(value)) {
            Ok(value) => return Ok(value),
            Err(problem) => problem,
        },
        None => refused,
    };
    Err(Problem::new(format!("{} ({said})", problem.message)).at(problem.span))
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
