//! supervisord's INI dialect, as Python's ConfigParser reads it: `[section]`
//! (a comment may follow it), `key = value` or `key: value`, `;` and `#`
//! comments (inline ones after a blank), continuation lines indented deeper
//! than their key (a key indented like the one before is a key), keys in
//! any case, and a section or key given again merged into the first, the
//! later value winning.

use std::path::{Path, PathBuf};

/// One `key = value`, with where it was written for warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub file: PathBuf,
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

/// A line that is neither a section, a key, a comment nor a continuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub file: PathBuf,
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

/// Parses `text`, read from `file`.
pub fn parse(text: &str, file: &Path) -> Result<Vec<Section>, SyntaxError> {
    let error = |line, reason: &str| SyntaxError {
        file: file.to_path_buf(),
        line,
        reason: reason.to_string(),
    };
    let mut sections: Vec<Section> = Vec::new();
    // The indentation of the last key: a deeper line continues its value.
    let mut key_indent: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        if indent > 0 && key_indent.is_some_and(|key| indent > key) {
            let entry = sections
                .last_mut()
                .and_then(|s| s.entries.last_mut())
                .ok_or_else(|| error(number, "an indented line continues no key"))?;
            entry.value.push('\n');
            entry.value.push_str(strip_comment(trimmed));
            continue;
        }
        if let Some(header) = strip_comment(trimmed).strip_prefix('[') {
            let name = header
                .strip_suffix(']')
                .ok_or_else(|| error(number, "a section header must end with ']'"))?;
            sections.push(Section {
                name: name.trim().to_string(),
                file: file.to_path_buf(),
                line: number,
                entries: Vec::new(),
            });
            key_indent = None;
            continue;
        }
        let section = sections
            .last_mut()
            .ok_or_else(|| error(number, "a key before any [section]"))?;
        let at = trimmed
            .find(['=', ':'])
            .ok_or_else(|| error(number, "expected 'key = value'"))?;
        section.entries.push(Entry {
            key: trimmed[..at].trim().to_lowercase(),
            value: strip_comment(trimmed[at + 1..].trim()).to_string(),
            line: number,
        });
        key_indent = Some(indent);
    }
    Ok(sections)
}

/// Sections of the same name merged into the first, in the order given
/// (within a file and across included files, as supervisord does): a key
/// given again replaces the earlier value, so each key appears once.
pub fn merge(sections: Vec<Section>) -> Vec<Section> {
    let mut merged: Vec<Section> = Vec::with_capacity(sections.len());
    for mut section in sections {
        let entries = std::mem::take(&mut section.entries);
        let index = match merged.iter().position(|s| s.name == section.name) {
            Some(index) => index,
            None => {
                merged.push(section);
                merged.len() - 1
            }
        };
        add_entries(&mut merged[index], entries);
    }
    merged
}

/// Adds `entries` to `section`, a key given again replacing the earlier
/// value (and its line) where it stands.
pub fn add_entries(section: &mut Section, entries: Vec<Entry>) {
    for entry in entries {
        match section.entries.iter_mut().find(|e| e.key == entry.key) {
            Some(earlier) => *earlier = entry,
            None => section.entries.push(entry),
        }
    }
}

/// Cuts an inline comment: `;` or `#` after a blank.
fn strip_comment(value: &str) -> &str {
    let bytes = value.as_bytes();
    let cut = (1..bytes.len())
        .find(|&i| matches!(bytes[i], b';' | b'#') && bytes[i - 1].is_ascii_whitespace())
        .unwrap_or(bytes.len());
    value[..cut].trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(text: &str) -> Vec<Section> {
        parse(text, Path::new("s.conf")).unwrap()
    }

    #[test]
    fn sections_keys_comments_and_continuations() {
        let parsed = sections(
            "; top comment\n\
             [program:web]\n\
             Command = /bin/web --port 80 ; inline\n\
             environment: A=\"1\",\n    B=2\n\
             # comment\n\
             url = http://x/#frag\n\
             [group:g]\n\
             programs=web\n",
        );
        assert_eq!(parsed.len(), 2);
        let web = &parsed[0];
        assert_eq!(web.name, "program:web");
        assert_eq!(web.line, 2);
        assert_eq!(web.get("command").unwrap().value, "/bin/web --port 80");
        assert_eq!(web.get("command").unwrap().line, 3);
        assert_eq!(web.get("environment").unwrap().value, "A=\"1\",\nB=2");
        assert_eq!(web.get("url").unwrap().value, "http://x/#frag");
        assert_eq!(parsed[1].get("programs").unwrap().value, "web");
    }

    #[test]
    fn headers_with_comments_indented_keys_and_repeats() {
        let parsed = merge(sections(
            "[inet_http_server]   ; disabled\n\
             port = 9001\n\
             [program:web]\n\
             \x20 command = /bin/web\n\
             \x20 environment = A=1,\n\
             \x20\x20\x20\x20 B=2\n\
             \x20 autostart = true\n\
             [program:web]\n\
             autostart = false\n",
        ));
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].name, "inet_http_server");
        let web = &parsed[1];
        assert_eq!(web.get("command").unwrap().value, "/bin/web");
        assert_eq!(web.get("environment").unwrap().value, "A=1,\nB=2");
        assert_eq!(
            web.get("autostart").unwrap().value,
            "false",
            "the later one wins"
        );
    }

    #[test]
    fn broken_lines_name_their_line() {
        let error = parse("[a]\nnot a key\n", Path::new("s.conf")).unwrap_err();
        assert_eq!(error.to_string(), "s.conf:2: expected 'key = value'");
        let error = parse("key = 1\n", Path::new("s.conf")).unwrap_err();
        assert_eq!(error.line, 1);
        let error = parse("[a\n", Path::new("s.conf")).unwrap_err();
        assert!(error.reason.contains("']'"));
    }
}
