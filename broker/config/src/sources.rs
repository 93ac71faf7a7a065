//! Finds the files of one config: the main file, then, depth first, the
//! files its `[include] files` globs match, in sorted order; and the
//! directories to watch so that a file appearing under a glob is seen.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, Metadata, OpenOptions};
use std::io::{ErrorKind, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use glob::Pattern;
use nix::fcntl::OFlag;
use toml_edit::Document;

use super::reader::{entries, Ctx};
use super::values::{self, Span};
use super::variables::Lookup;
use super::ConfigError;

const INCLUDE_KEYS: &[&str] = &["files"];

/// One parsed file.
pub(super) struct Source {
    /// As messages name it: the main file as given, included files by the
    /// path their glob matched.
    pub file: PathBuf,
    pub document: Document<String>,
}

/// Every file of a config, and what reading them found.
#[derive(Default)]
pub(super) struct Sources {
    /// The files that are TOML, main file first; empty when the main file
    /// is not.
    pub list: Vec<Source>,
    /// Every file read, absolute, in the order of `list`.
    pub read: Vec<PathBuf>,
    /// Every file tried, as messages name it: errors are sorted by it.
    pub order: Vec<PathBuf>,
    pub watch_dirs: BTreeSet<PathBuf>,
    /// The include globs, absolute.
    pub patterns: Vec<String>,
    pub errors: Vec<ConfigError>,
    /// Real path of each file read -> the name it was read under.
    seen: BTreeMap<PathBuf, PathBuf>,
}

/// Reads the includes of the main file `file`, whose content is `text`.
pub(super) fn collect(text: &str, file: &Path, lookup: Lookup) -> Sources {
    let mut sources = Sources::default();
    sources.remember(file);
    sources.visit(file.to_owned(), text.to_owned(), lookup);
    sources
}

/// A glob's matches, or why some could not be listed.
struct Matches {
    files: Vec<PathBuf>,
    /// `file:line` of the glob, for messages about the files it matched.
    place: String,
}

impl Sources {
    /// Notes a file as read; false when it was read already.
    fn remember(&mut self, file: &Path) -> bool {
        let real = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
        if self.seen.contains_key(&real) {
            return false;
        }
        self.seen.insert(real, file.to_owned());
        let absolute = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        if let Some(dir) = absolute.parent() {
            self.watch_dirs.insert(dir.to_owned());
        }
        self.read.push(absolute);
        true
    }

    fn visit(&mut self, file: PathBuf, text: String, lookup: Lookup) {
        self.order.push(file.clone());
        let document = match Document::parse(text.clone()) {
            Ok(document) => document,
            Err(error) => {
                let ctx = Ctx::new(&text, &file, lookup);
                self.errors.push(ConfigError {
                    file: file.clone(),
                    line: error.span().map_or(1, |span| ctx.line_at(span.start)),
                    key: String::new(),
                    message: format!("invalid TOML: {}", error.message()),
                });
                return;
            }
        };
        let matches = self.includes(&file, &document, lookup);
        self.list.push(Source { file, document });
        for found in matches {
            for included in found.files {
                self.include(included, &found.place, lookup);
            }
        }
    }

    /// The files matched by the `[include]` of one document.
    fn includes(
        &mut self,
        file: &Path,
        document: &Document<String>,
        lookup: Lookup,
    ) -> Vec<Matches> {
        let mut ctx = Ctx::new(document.raw(), file, lookup);
        let Some((_, include)) =
            entries(document.as_table(), "").find(|(name, _)| *name == "include")
        else {
            return Vec::new();
        };
        let mut fields = ctx.table_fields(Some(&include), INCLUDE_KEYS, &[]);
        let mut found = Vec::new();
        match fields.take("files") {
            Some(field) => {
                for glob in ctx.read(&field, values::string_array).unwrap_or_default() {
                    if let Some(files) = self.glob(&mut ctx, &field.span, &field.path, &glob) {
                        let place = ctx.place(field.span.clone());
                        found.push(Matches { files, place });
                    }
                }
            }
            None if ctx.table(&include).is_some() => ctx.error(
                include.span.clone(),
                "include",
                "missing required key 'files' (globs of the files to include, such as \
                 [\"conf.d/*.toml\"])",
            ),
            None => {}
        }
        self.errors.append(&mut ctx.errors);
        found
    }

    /// The regular files `glob` matches, sorted; hidden files (editors'
    /// swap and lock files) are left out.
    fn glob(&mut self, ctx: &mut Ctx, span: &Span, key: &str, glob: &str) -> Option<Vec<PathBuf>> {
        // Without `./`, so that the pattern matches the paths the watcher sees.
        let written: PathBuf = Path::new(glob)
            .components()
            .filter(|c| *c != Component::CurDir)
            .collect();
        let (pattern, dir) = if written.is_absolute() {
            (
                written.to_string_lossy().into_owned(),
                fixed_prefix(&written),
            )
        } else {
            let base = Pattern::escape(&ctx.base.to_string_lossy());
            let pattern = format!("{base}/{}", written.to_string_lossy());
            (
                pattern,
                ctx.base.join(fixed_prefix(&written)).components().collect(),
            )
        };
        let paths = match glob::glob(&pattern) {
            Ok(paths) => paths,
            Err(error) => {
                ctx.error(
                    span.clone(),
                    key,
                    format!("'{glob}' is not a valid glob: {error}"),
                );
                return None;
            }
        };
        self.watch_dirs.insert(dir);
        self.patterns.push(pattern);
        let mut files = Vec::new();
        for path in paths {
            match path {
                Ok(path) if is_hidden(&path) || path.is_dir() => {}
                Ok(path) => files.push(path),
                // A glob matching nothing is fine, even under a directory
                // that does not exist (yet).
                Err(error) if error.error().kind() == ErrorKind::NotFound => {}
                Err(error) => ctx.error(
                    span.clone(),
                    key,
                    format!(
                        "cannot list {} for '{glob}': {}; fix its permissions or the glob",
                        error.path().display(),
                        error.error()
                    ),
                ),
            }
        }
        files.sort();
        Some(files)
    }

    fn include(&mut self, file: PathBuf, place: &str, lookup: Lookup) {
        if !self.remember(&file) {
            let real = std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
            let first = self.seen.get(&real).cloned().unwrap_or_default();
            self.errors.push(ConfigError {
                file: file.clone(),
                line: 0,
                key: String::new(),
                message: format!(
                    "included again by {place}, but it is already read (as {}); a file is read \
                     once: make the globs not overlap, and not match the main file",
                    first.display()
                ),
            });
            return;
        }
        match read_file(&file) {
            Ok(text) => self.visit(file, text, lookup),
            Err(error) => {
                self.order.push(file.clone());
                self.errors.push(ConfigError {
                    file,
                    line: 0,
                    key: String::new(),
                    message: format!("cannot read this file, included by {place}: {error}"),
                });
            }
        }
    }
}

/// The largest config file read, main or included: a real config of
/// thousands of programs is a few hundred KiB, and the whole text is held
/// in memory (twice: the text and its parsed document).
pub(super) const MAX_FILE_BYTES: u64 = 4 << 20;

/// Why a config file was not read.
#[derive(Debug)]
pub(super) enum FileProblem {
    /// A FIFO would block the reader for ever, a device such as
    /// `/dev/zero` would be read without end: only regular files are read.
    NotRegular(&'static str),
    /// Larger than [`MAX_FILE_BYTES`], when checked or while read.
    TooBig,
    Io(std::io::Error),
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileProblem::NotRegular(kind) => {
                write!(f, "it is {kind}, not a regular file; name a regular file")
            }
            FileProblem::TooBig => write!(
                f,
                "it is larger than the {} MiB a config file may hold; split it with [include]",
                MAX_FILE_BYTES >> 20
            ),
            FileProblem::Io(error) => write!(f, "{error}"),
        }
    }
}

/// Reads a config file: a regular file (a symlink to one is fine: the
/// main config is often a link to a managed file) of at most
/// [`MAX_FILE_BYTES`], as UTF-8.
pub(super) fn read_file(path: &Path) -> Result<String, FileProblem> {
    // Checked before opening: opening a FIFO blocks until a writer comes,
    // and opening some devices (tapes, modems) does something.
    check_regular(&std::fs::metadata(path).map_err(FileProblem::Io)?)?;
    // The file may be swapped between the check and the open: O_NONBLOCK
    // keeps the open of a FIFO from blocking, O_NOCTTY keeps a terminal
    // from becoming ours, and the open file is checked again.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
        .open(path)
        .map_err(FileProblem::Io)?;
    check_regular(&file.metadata().map_err(FileProblem::Io)?)?;
    read_bounded(file)
}

fn check_regular(metadata: &Metadata) -> Result<(), FileProblem> {
    let kind = metadata.file_type();
    let name = if kind.is_file() {
        if metadata.len() > MAX_FILE_BYTES {
            return Err(FileProblem::TooBig);
        }
        return Ok(());
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "a special file"
    };
    Err(FileProblem::NotRegular(name))
}

/// Reads at most one byte more than the cap, so that a file growing
/// after its size was checked cannot make us read without end.
fn read_bounded(file: File) -> Result<String, FileProblem> {
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(FileProblem::Io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FileProblem::TooBig);
    }
    String::from_utf8(bytes).map_err(|_| {
        FileProblem::Io(std::io::Error::new(
            ErrorKind::InvalidData,
            "stream did not contain valid UTF-8",
        ))
    })
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

/// The directory part of a glob before its first wildcard: the directory
/// whose entries the glob lists (`conf.d/*.toml` -> `conf.d`).
pub(super) fn fixed_prefix(glob: &Path) -> PathBuf {
    let components: Vec<Component> = glob.components().collect();
    let wild = components
        .iter()
        .position(|c| c.as_os_str().to_string_lossy().contains(['*', '?', '[']));
    let end = wild.unwrap_or(components.len().saturating_sub(1));
    components[..end].iter().collect()
}

#[cfg(test)]
#[path = "sources_tests.rs"]
mod tests;
