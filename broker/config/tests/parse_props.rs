//! Property tests of the config parser: any text, and any small mutation
//! of a valid config, gives a config within the limits or errors that point
//! into the text, never a panic.

use std::path::Path;

use proptest::prelude::*;
use taskmaster_config::{parse_str, Config, ConfigErrors};

/// Under a directory that does not exist, so that a mutated include glob
/// finds nothing.
const FILE: &str = "/nonexistent/taskmaster-props/t.toml";

const VALID: &str = r#"[unix_http_server]
file = "/tmp/tm-props.sock"
chmod = 0o770

[taskmasterd]
umask = "022"
loglevel = "info"
minfds = 1024

[taskmasterd.env]
GLOBAL = "1"

[programs.web]
command = "/usr/bin/python3"
args = ["-m", "http.server", "${process_num}"]
numprocs = 3
numprocs_start = 1
priority = -5
autorestart = "unexpected"
exitcodes = [0, 2]
stopsignal = "TERM"
stopwaitsecs = 2.5
stdout = "/var/log/web-${process_num}.log"
stderr_maxbytes = "1MB"

[programs.web.env]
PORT = 8000
NAME = "${process_name}"

[programs.worker]
cmd = "worker"
numprocs = 2
redirect_stderr = true

[groups.front]
programs = ["web", "worker"]
priority = 5
"#;

/// What must hold of any answer.
fn check(text: &str, result: Result<Config, ConfigErrors>) -> Result<(), TestCaseError> {
    match result {
        Ok(config) => {
            let mut total = 0u64;
            for program in config.programs.values() {
                prop_assert!((1..=10_000).contains(&program.numprocs));
                prop_assert!(program
                    .numprocs_start
                    .checked_add(program.numprocs)
                    .is_some());
                let names = program.process_names();
                prop_assert_eq!(names.len() as u64, u64::from(program.numprocs));
                total += u64::from(program.numprocs);
            }
            prop_assert!(total <= 100_000);
        }
        Err(errors) => {
            prop_assert!(!errors.0.is_empty());
            // A line past the end is one more than the count: the end of a
            // file without a final newline.
            let lines = text.lines().count() + 1;
            for error in &errors.0 {
                prop_assert!(error.line <= lines, "{error} (text has {lines} lines)");
                prop_assert!(!error.message.is_empty());
            }
            let shown = errors.to_string();
            prop_assert!(
                !shown.chars().any(|c| c.is_control() && c != '\n'),
                "control characters reach the terminal: {shown:?}"
            );
        }
    }
    Ok(())
}

/// One edit of a text: the kinds of damage hands and tools do.
#[derive(Debug, Clone)]
enum Edit {
    Delete {
        at: prop::sample::Index,
        len: usize,
    },
    Insert {
        at: prop::sample::Index,
        text: String,
    },
    Replace {
        at: prop::sample::Index,
        with: char,
    },
    DuplicateLine {
        at: prop::sample::Index,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = any::<prop::sample::Index>();
    prop_oneof![
        (at.clone(), 1usize..20).prop_map(|(at, len)| Edit::Delete { at, len }),
        (
            at.clone(),
            prop_oneof![
                "[\\[\\]=\"'{},.:$#\\n0-9a-z]{1,6}",
                Just("4294967295".to_owned()),
                Just("${process_num}".to_owned()),
                Just("\\u001b".to_owned()),
                ".{1,4}",
            ]
        )
            .prop_map(|(at, text)| Edit::Insert { at, text }),
        (at.clone(), any::<char>()).prop_map(|(at, with)| Edit::Replace { at, with }),
        at.prop_map(|at| Edit::DuplicateLine { at }),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    match edit {
        Edit::Delete { at, len } => {
            let start = at.index(chars.len() + 1);
            let end = (start + len).min(chars.len());
            chars.drain(start..end);
        }
        Edit::Insert { at, text } => {
            let start = at.index(chars.len() + 1);
            chars.splice(start..start, text.chars());
        }
        Edit::Replace { at, with } => {
            if !chars.is_empty() {
                let i = at.index(chars.len());
                chars[i] = *with;
            }
        }
        Edit::DuplicateLine { at } => {
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let i = at.index(lines.len());
            let mut out: Vec<&str> = lines.clone();
            out.insert(i, lines[i]);
            return out.concat();
        }
    }
    chars.into_iter().collect()
}

#[test]
fn the_sample_is_valid() {
    let config = parse_str(VALID, Path::new(FILE)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.programs.len(), 2);
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}") {
        check(&text, parse_str(&text, Path::new(FILE)))?;
    }

    /// Text made of TOML's own punctuation and words of the config reaches
    /// further than random characters.
    #[test]
    fn toml_shaped_text_never_panics(
        text in "(\\[(programs|groups|include|taskmasterd)(\\.[a-z]{1,3})?\\]\\n|[a-z_]{1,12} = (\"[^\"\\n]{0,8}\"|[0-9]{1,11}|true|\\[\\]|\\{\\})\\n){0,12}"
    ) {
        check(&text, parse_str(&text, Path::new(FILE)))?;
    }

    #[test]
    fn mutations_of_a_valid_config_never_panic(edits in prop::collection::vec(edit(), 1..4)) {
        let text = edits.iter().fold(VALID.to_owned(), |text, edit| apply(&text, edit));
        check(&text, parse_str(&text, Path::new(FILE)))?;
    }
}
