//! The interactive shell: `taskmasterctl` without a command. Line editing,
//! history and completion come from rustyline; each command line runs as a
//! child taskmasterctl, so that it behaves exactly as the one-shot command,
//! Ctrl-C ends it and not the shell, and a lost daemon is simply tried again
//! by the next command.

use crate::commands::{self, Connection};
use crate::complete::{self, Kind};
use crate::error::{exit, plain, Error};
use crate::plugins;
use crate::target::{self, Server, ShellSettings};
use crate::{cli, Context};
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{CompletionType, Config, Editor, Helper};
use std::io;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Runs the shell until `quit`, `exit` or end of input. Exits with the status
/// of the last command that failed, else 0: a script piping commands in
/// (`printf 'stop x\nstatus\n' | taskmasterctl`) learns that one failed even
/// when a later one succeeded, as with `set -e` it would have stopped there.
pub fn run(context: &Context) -> Result<u8, Error> {
    let server = context.server()?;
    let settings = target::shell_settings(context.config.as_deref()).unwrap_or_else(|error| {
        warn(&format!(
            "{}; using the default prompt and no history file",
            error.report().unwrap_or_default()
        ));
        ShellSettings::default()
    });
    // While a command runs, Ctrl-C must end it and not us: the flag makes
    // SIGINT harmless here, and the child gets the default action back at exec.
    signal_hook::flag::register(
        signal_hook::consts::SIGINT,
        Arc::new(AtomicBool::new(false)),
    )
    .map_err(|e| Error::new(exit::FAILED, "taskmasterctl: cannot handle SIGINT").caused_by(e))?;
    let mut editor = editor(server)?;
    let mut history = HistoryFile::open(settings.history, &mut editor);
    let prompt = format!("{}> ", settings.prompt);
    let mut last_failure = exit::OK;
    loop {
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            // Ctrl-C abandons the line, as in bash.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(error) => {
                return Err(
                    Error::new(exit::FAILED, "taskmasterctl: cannot read the command line")
                        .caused_by(error),
                )
            }
        };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        history.add(&mut editor, line);
        let code = match split_words(line) {
            // A comment alone, which a piped script may well hold.
            Ok(words) if words.is_empty() => continue,
            Ok(words) if complete::SHELL_WORDS.contains(&words[0].as_str()) => break,
            Ok(words) => run_line(context, &words),
            Err(message) => {
                warn(&format!("error: {message}"));
                exit::USAGE
            }
        };
        if code != exit::OK {
            last_failure = code;
        }
    }
    Ok(last_failure)
}

fn warn(text: &str) {
    eprintln!("{text}");
}

fn editor(server: Server) -> Result<Editor<ShellHelper, FileHistory>, Error> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .max_history_size(10_000)
        .map_err(|e| Error::new(exit::FAILED, "taskmasterctl: bad history size").caused_by(e))?
        .build();
    let mut editor = Editor::with_config(config).map_err(|e| {
        Error::new(exit::FAILED, "taskmasterctl: cannot set up the terminal").caused_by(e)
    })?;
    editor.set_helper(Some(ShellHelper { server }));
    Ok(editor)
}

/// The history file, given up (with one warning) when it cannot be written.
struct HistoryFile {
    path: Option<PathBuf>,
}

impl HistoryFile {
    fn open(path: Option<PathBuf>, editor: &mut Editor<ShellHelper, FileHistory>) -> Self {
        let Some(path) = path else {
            return HistoryFile { path: None };
        };
        match editor.load_history(&path) {
            Ok(()) => {}
            Err(ReadlineError::Io(e)) if e.kind() == io::ErrorKind::NotFound => {}
            Err(error) => warn(&format!(
                "taskmasterctl: warning: cannot read the history file {}: {}",
                path.display(),
                plain(&error)
            )),
        }
        HistoryFile { path: Some(path) }
    }

    /// Adds `line` and writes it at once: a killed shell keeps its history.
    fn add(&mut self, editor: &mut Editor<ShellHelper, FileHistory>, line: &str) {
        let _ = editor.add_history_entry(line);
        let Some(path) = &self.path else {
            return;
        };
        if let Err(error) = editor.append_history(path) {
            warn(&format!(
                "taskmasterctl: warning: cannot write the history file {}: {}; \
                 this session's history will not be kept",
                path.display(),
                plain(&error)
            ));
            self.path = None;
        }
    }
}

/// Runs one command line as a child taskmasterctl with our global options;
/// returns its exit status as a shell would show it.
fn run_line(context: &Context, words: &[String]) -> u8 {
    let Ok(me) = std::env::current_exe() else {
        warn("taskmasterctl: cannot find its own binary to run the command");
        return exit::FAILED;
    };
    let status = Command::new(&me).args(context.args()).args(words).status();
    match status.map(plugins::shell_status) {
        Ok(code) => {
            if code > 128 {
                warn(&format!("({} ended by signal {})", words[0], code - 128));
            }
            code
        }
        Err(error) => {
            warn(&format!(
                "taskmasterctl: cannot run {}: {}",
                me.display(),
                plain(&error)
            ));
            exit::FAILED
        }
    }
}

/// Splits a command line into words as a shell would, without expansions:
/// blanks separate words, quotes group them, a backslash escapes a character,
/// `#` starts a comment. The rule is the `shell-words` crate's, which the
/// supervisord importer uses too, so both read a line the same way.
pub fn split_words(line: &str) -> Result<Vec<String>, shell_words::ParseError> {
    shell_words::split(line)
}

/// Completion of commands, plugins, process names and signals; the names
/// come from the daemon at each TAB, so they are never stale.
struct ShellHelper {
    server: Server,
}

impl ShellHelper {
    fn candidates(&self, kind: Kind) -> Vec<String> {
        match kind {
            Kind::Command => {
                let mut words = cli::command_names();
                words.extend(complete::SHELL_WORDS.iter().map(|w| w.to_string()));
                let path = std::env::var_os("PATH");
                words.extend(
                    plugins::installed(path.as_deref())
                        .into_iter()
                        .map(|p| p.name),
                );
                words
            }
            Kind::Name => Connection::open(&self.server)
                .and_then(|mut conn| commands::all_processes(&mut conn))
                .map(|processes| complete::process_names(&processes))
                .unwrap_or_default(),
            Kind::Signal => complete::SIGNALS.iter().map(|s| s.to_string()).collect(),
            Kind::Shell => complete::SHELLS.iter().map(|s| s.to_string()).collect(),
            Kind::Nothing => Vec::new(),
        }
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before.rfind(char::is_whitespace).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
        let word = &before[start..];
        let typed: Vec<&str> = before[..start].split_whitespace().collect();
        let mut matches: Vec<Pair> = self
            .candidates(complete::kind(&typed))
            .into_iter()
            .filter(|c| c.starts_with(word))
            .map(|c| Pair {
                display: c.clone(),
                replacement: format!("{c} "),
            })
            .collect();
        matches.sort_by(|a, b| a.display.cmp(&b.display));
        matches.dedup_by(|a, b| a.display == b.display);
        Ok((start, matches))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;
}

impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        split_words(line).unwrap()
    }

    #[test]
    fn words_split_on_blanks_and_keep_quotes_together() {
        assert_eq!(words("status  web\tdb "), ["status", "web", "db"]);
        assert_eq!(words("restart 'workers:*'"), ["restart", "workers:*"]);
        assert_eq!(words(r#"status "a b" c\ d"#), ["status", "a b", "c d"]);
        assert_eq!(words(r#"x "say \"hi\"" ''"#), ["x", "say \"hi\"", ""]);
        assert_eq!(words("status %?gunicorn"), ["status", "%?gunicorn"]);
    }

    #[test]
    fn bad_lines_are_errors_and_comments_are_nothing() {
        assert_eq!(
            split_words("status 'web").unwrap_err().to_string(),
            "missing closing quote"
        );
        assert!(split_words("   ").unwrap().is_empty());
        assert!(split_words("# stop everything").unwrap().is_empty());
        assert_eq!(words("status web # and db"), ["status", "web"]);
    }
}
