//! `taskmasterctl --help` and `-h` without clap formatting them: when clap
//! would wrap them at its default width (no terminal on stdin, stdout or
//! stderr, no `COLUMNS`: a pipe, a script, a file), the texts are those
//! `cargo xtask gen` stored from clap, and its test `generated_files_are_fresh` fails when
//! they are stale. Formatting seventy lines was half the instructions of a run.

use std::ffi::{OsStr, OsString};
use std::io::IsTerminal;
use std::path::Path;

/// The width clap wraps help at when nothing tells it a terminal's.
pub const WIDTH: usize = 100;

/// `--help`, as clap writes it at [`WIDTH`], without the installed plugins.
pub const LONG: &str = include_str!("help/long.txt");
/// `-h`, likewise.
pub const SHORT: &str = include_str!("help/short.txt");

/// clap's text for `long` (`--help`) or short (`-h`) help at [`WIDTH`]:
/// what `cargo xtask gen` stores.
pub fn render(command: &mut clap::Command, long: bool) -> String {
    let mut command = std::mem::take(command).term_width(WIDTH);
    let text = if long {
        command.render_long_help()
    } else {
        command.render_help()
    };
    text.to_string()
}

/// The stored text `args` asks for, if clap would write it as stored:
/// `args` is `taskmasterctl` (clap's usage line names the program as it
/// was called) and `--help` or `-h` alone, at the default width.
pub fn stored(args: &[OsString]) -> Option<&'static str> {
    let text = match args {
        [_, flag] if flag == "--help" => LONG,
        [_, flag] if flag == "-h" => SHORT,
        _ => return None,
    };
    let called = Path::new(&args[0]).file_name();
    let as_stored = called == Some(OsStr::new("taskmasterctl"))
        && std::env::var_os("COLUMNS").is_none()
        && !std::io::stdout().is_terminal()
        && !std::io::stderr().is_terminal()
        && !std::io::stdin().is_terminal();
    as_stored.then_some(text)
}

/// `text` followed by `plugins` (the section listing them, or nothing) as
/// clap ends its help with them; `None` if clap would wrap a line of it.
pub fn with_plugins(text: &str, plugins: &str) -> Option<String> {
    if plugins.lines().any(|line| line.chars().count() > WIDTH) {
        return None;
    }
    let body = text.strip_suffix('\n').unwrap_or(text);
    Some(format!("{body}{plugins}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::Plugin;

    /// With plugins, what `--help` writes without clap is what clap writes.
    #[test]
    fn the_plugins_end_the_stored_text_as_they_end_claps() {
        let plugins = [
            Plugin {
                name: "top".into(),
                path: "/usr/bin/taskmasterctl-top".into(),
            },
            Plugin {
                name: "web".into(),
                path: "/usr/local/bin/taskmasterctl-web".into(),
            },
        ];
        let section = crate::plugins_section(&plugins);
        let mut command = crate::command();
        let after = command.get_after_help().map(|t| t.to_string());
        command = command.after_help(after.unwrap_or_default() + &section);
        for (long, stored) in [(true, LONG), (false, SHORT)] {
            assert_eq!(
                with_plugins(stored, &section).as_deref(),
                Some(render(&mut command.clone(), long).as_str())
            );
        }
        assert_eq!(with_plugins(LONG, "").as_deref(), Some(LONG));
    }

    /// A line clap would wrap is left to clap.
    #[test]
    fn a_plugin_path_too_long_for_the_width_is_left_to_clap() {
        let plugins = [Plugin {
            name: "deep".into(),
            path: format!("/{}", "d/".repeat(60)).into(),
        }];
        assert_eq!(with_plugins(LONG, &crate::plugins_section(&plugins)), None);
    }
}
