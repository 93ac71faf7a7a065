//! supervisord's `[include] files`: globs separated by blanks, relative to
//! the including file's directory, in which `%(here)s` is that directory
//! and `%(ENV_X)s` the environment, as supervisord expands them. Each glob
//! is kept in Taskmaster's form (for an `[include]` of the output) with
//! the files it matches now.

use crate::ini::Section;
use crate::translate::expand_text;
use std::path::{Path, PathBuf};

/// One glob of `[include] files`.
#[derive(Debug)]
pub struct Pattern {
    /// As Taskmaster writes it: `%(here)s` expanded, `%(ENV_X)s` as `${X}`.
    pub written: String,
    /// The files it matches, sorted.
    pub files: Vec<PathBuf>,
}

/// The globs of the `[include]` sections of the file at `path`, whose
/// sections are `sections`; a warning (file:line) for each problem.
pub fn patterns(sections: &[Section], path: &Path) -> (Vec<Pattern>, Vec<String>) {
    let dir = std::path::absolute(path)
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    let here = dir.display().to_string();
    let mut patterns = Vec::new();
    let mut warnings = Vec::new();
    for section in sections.iter().filter(|s| s.name == "include") {
        let Some(entry) = section.get("files").filter(|e| !e.value.trim().is_empty()) else {
            warnings.push(format!(
                "{}:{}: [include] names no files, which supervisord refuses; ignored",
                section.file.display(),
                section.line
            ));
            continue;
        };
        let at = format!("{}:{}: [include] files", section.file.display(), entry.line);
        for raw in entry.value.split_whitespace() {
            let (written, problems) = expand_text(raw, &here);
            warnings.extend(problems.iter().map(|p| format!("{at}: {p}")));
            let files = match resolve_env(&written) {
                Ok(pattern) => glob(&dir.join(pattern)),
                Err(name) => {
                    warnings.push(format!(
                        "{at}: '{raw}' names the variable {name}, which is not set here: no \
                         file of it is read"
                    ));
                    Vec::new()
                }
            };
            if files.is_empty() {
                warnings.push(format!("{at}: '{raw}' matches no file"));
            }
            patterns.push(Pattern { written, files });
        }
    }
    (patterns, warnings)
}

/// `text` with its `${NAME}` (and `${NAME:-default}`) taken from this
/// process's environment and `$$` made `$`; the name of an unset
/// variable without a default as the error.
fn resolve_env(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(close) = rest.strip_prefix("${").and_then(|r| r.find('}')) {
            let inner = &rest[2..2 + close];
            let (name, default) = match inner.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (inner, None),
            };
            match (std::env::var(name).ok(), default) {
                (Some(value), _) => out.push_str(&value),
                (None, Some(default)) => out.push_str(default),
                (None, None) => return Err(name.to_string()),
            }
            rest = &rest[3 + close..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The Taskmaster glob for the translations of what `pattern` matches:
/// the extension of its last component made `.toml` (`conf.d/*.conf` →
/// `conf.d/*.toml`, `conf.d/*` → `conf.d/*.toml`), as [`toml_file`] names
/// each file.
pub fn toml_pattern(pattern: &str) -> String {
    let (dir, name) = pattern
        .rsplit_once('/')
        .map_or(("", pattern), |(dir, name)| (dir, name));
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    match dir {
        "" => format!("{stem}.toml"),
        _ => format!("{dir}/{stem}.toml"),
    }
}

/// The file a translation of `file` is written to, beside it: `web.conf`
/// → `web.toml`.
pub fn toml_file(file: &Path) -> PathBuf {
    file.with_extension("toml")
}

/// The files a pattern names: `*` and `?` in its last component, sorted.
fn glob(pattern: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (
        pattern.parent(),
        pattern.file_name().and_then(|n| n.to_str()),
    ) else {
        return Vec::new();
    };
    if !name.contains(['*', '?']) {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| matches(name, n)))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Shell wildcard matching of one file name.
fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // matched[i][j]: the first i pattern chars match the first j name chars.
    let mut matched = vec![vec![false; n.len() + 1]; p.len() + 1];
    matched[0][0] = true;
    for i in 1..=p.len() {
        for j in 0..=n.len() {
            matched[i][j] = match p[i - 1] {
                '*' => matched[i - 1][j] || (j > 0 && matched[i][j - 1]),
                '?' => j > 0 && matched[i - 1][j - 1],
                c => j > 0 && n[j - 1] == c && matched[i - 1][j - 1],
            };
        }
    }
    matched[p.len()][n.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*.conf", "web.conf"));
        assert!(matches("w?b.*", "web.ini"));
        assert!(!matches("*.conf", "web.conf.bak"));
        assert!(matches("*", ""));
        assert!(!matches("?", ""));
    }

    #[test]
    fn toml_names() {
        assert_eq!(toml_pattern("conf.d/*.conf"), "conf.d/*.toml");
        assert_eq!(toml_pattern("/etc/s/conf.d/*"), "/etc/s/conf.d/*.toml");
        assert_eq!(toml_pattern("web.ini"), "web.toml");
        assert_eq!(toml_pattern("${D}/w*.conf"), "${D}/w*.toml");
        assert_eq!(toml_file(Path::new("c/web.conf")), Path::new("c/web.toml"));
        assert_eq!(toml_file(Path::new("c/web")), Path::new("c/web.toml"));
    }

    #[test]
    fn here_and_the_environment_in_patterns() {
        let dir = std::env::temp_dir().join(format!("tm-import-here-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("conf.d")).unwrap();
        std::fs::write(dir.join("conf.d/a.conf"), "").unwrap();
        std::fs::write(dir.join("conf.d/b.ini"), "").unwrap();
        let main = dir.join("supervisord.conf");
        let text = "[include]\nfiles = %(here)s/conf.d/*.conf %(ENV_TM_IMPORT_UNSET)s/*.ini\n\
                    [include]\n";
        let sections = crate::ini::parse(text, &main).unwrap();
        let (patterns, warnings) = patterns(&crate::ini::merge(sections), &main);
        assert_eq!(patterns.len(), 2);
        assert_eq!(
            patterns[0].written,
            format!("{}/conf.d/*.conf", dir.display())
        );
        assert_eq!(patterns[0].files, [dir.join("conf.d/a.conf")]);
        assert_eq!(patterns[1].written, "${TM_IMPORT_UNSET}/*.ini");
        assert!(patterns[1].files.is_empty());
        let at = format!("{}:2: [include] files", main.display());
        assert_eq!(
            warnings,
            [
                format!(
                    "{at}: '%(ENV_TM_IMPORT_UNSET)s/*.ini' names the variable TM_IMPORT_UNSET, \
                     which is not set here: no file of it is read"
                ),
                format!("{at}: '%(ENV_TM_IMPORT_UNSET)s/*.ini' matches no file"),
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
