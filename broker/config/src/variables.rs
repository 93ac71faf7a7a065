//! `${VAR}` in string values: expanded from the daemon's environment when
//! the config is loaded, except the per-instance placeholders
//! (`${process_num}`, ...), which stay in the stored strings until
//! [`substitute_instance`] makes one process's copy.

/// The placeholders that [`substitute_instance`] fills per process.
pub(super) const RESERVED: &[&str] = &["process_num", "process_name", "program_name", "group_name"];

/// What a load-time expansion does with the per-instance parts of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expansion {
    /// The value is final: `$$` becomes `$`, and a placeholder is an error.
    Full,
    /// A program's per-instance value (command, args, env, directory,
    /// stdout, stderr): placeholders and `$$` are kept for
    /// [`substitute_instance`], which also turns `$$` into `$`.
    KeepInstance,
    /// Not expanded at all: tables that the broker only checks.
    None,
}

/// Looks a variable up in the daemon's environment.
pub(super) type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// One `${...}` reference, split into its name and optional default.
struct Reference<'a> {
    name: &'a str,
    default: Option<&'a str>,
    /// The whole `${...}`, as written.
    written: &'a str,
}

/// A `$` that cannot be expanded: which and why, said with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum VariableError {
    /// `${` with no `}` after it; the text from the `${`.
    Unclosed(String),
    /// `${...}` that is no variable name.
    NotAName(String),
    /// A placeholder given a default; the reference as written.
    PlaceholderDefault { written: String, name: String },
    /// A placeholder outside a program's per-instance values.
    PlaceholderHere(String),
    /// A variable neither set nor given a default.
    Undefined(String),
}

impl std::fmt::Display for VariableError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VariableError::Unclosed(text) => write!(
                f,
                "'{text}' has a '${{' without its '}}'; write '$${{' for a literal '${{'"
            ),
            VariableError::NotAName(written) => write!(
                f,
                "'{written}' is not a variable: write ${{NAME}} or ${{NAME:-default}}, NAME made of \
                 letters, digits and '_'; write '$$' for a literal '$'"
            ),
            VariableError::PlaceholderDefault { written, name } => {
                write!(f, "'{written}' takes no default: ${{{name}}} is always set")
            }
            VariableError::PlaceholderHere(name) => write!(
                f,
                "${{{name}}} is a per-process placeholder, usable only in a program's command, \
                 args, env, directory, stdout and stderr"
            ),
            VariableError::Undefined(name) => write!(
                f,
                "undefined variable '{name}': set it in taskmasterd's environment, or give a \
                 default with ${{{name}:-default}}"
            ),
        }
    }
}

/// Expands `text` for the load; the error says which variable and how to fix it.
pub(super) fn expand(text: &str, mode: Expansion, lookup: Lookup) -> Result<String, VariableError> {
    if mode == Expansion::None {
        return Ok(text.to_owned());
    }
    scan(text, |rest| {
        if rest.starts_with("$$") {
            let kept = if mode == Expansion::Full { "$" } else { "$$" };
            Ok((kept.to_owned(), 2))
        } else if rest.starts_with("${") {
            let reference = reference(rest)?;
            Ok((resolve(&reference, mode, lookup)?, reference.written.len()))
        } else {
            // A bare `$` (a shell's `$HOME` in args) is kept as it is.
            Ok(("$".to_owned(), 1))
        }
    })
}

/// Copies `text`, asking `at` what to write for each `$`: given the text
/// from that `$` on, it answers the replacement and how many bytes it
/// stands for. The one walk over `$`s that expansion and per-instance
/// substitution share.
fn scan<E>(
    text: &str,
    mut at: impl FnMut(&str) -> Result<(String, usize), E>,
) -> Result<String, E> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar..];
        let (replacement, used) = at(rest)?;
        out.push_str(&replacement);
        rest = &rest[used..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses the `${...}` at the start of `text`.
fn reference(text: &str) -> Result<Reference<'_>, VariableError> {
    let Some(end) = text.find('}') else {
        return Err(VariableError::Unclosed(text.to_string()));
    };
    let written = &text[..=end];
    let inner = &text[2..end];
    // `${process_num:03}`: kept as written for substitute_instance.
    if padded_process_num(inner).is_some() {
        return Ok(Reference {
            name: "process_num",
            default: None,
            written,
        });
    }
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    };
    let valid = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(VariableError::NotAName(written.to_string()));
    }
    Ok(Reference {
        name,
        default,
        written,
    })
}

/// The width of `process_num:0N`, the inside of `${process_num:03}`: the
/// number zero-padded to N digits (supervisord's `%(process_num)03d`).
fn padded_process_num(inner: &str) -> Option<usize> {
    let digits = inner.strip_prefix("process_num:0")?;
    let valid = (1..=2).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    digits.parse().ok().filter(|_| valid)
}

/// `${process_num:0N}` at the start of `text`: its width and length.
fn padded_at(text: &str) -> Option<(usize, usize)> {
    let inner = text.strip_prefix("${")?;
    let end = inner.find('}')?;
    Some((padded_process_num(&inner[..end])?, end + 3))
}

fn resolve(
    reference: &Reference,
    mode: Expansion,
    lookup: Lookup,
) -> Result<String, VariableError> {
    let name = reference.name;
    if RESERVED.contains(&name) {
        return match (mode, reference.default) {
            (Expansion::KeepInstance, None) => Ok(reference.written.to_owned()),
            (Expansion::KeepInstance, Some(_)) => Err(VariableError::PlaceholderDefault {
                written: reference.written.to_string(),
                name: name.to_string(),
            }),
            _ => Err(VariableError::PlaceholderHere(name.to_string())),
        };
    }
    match (lookup(name), reference.default) {
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(VariableError::Undefined(name.to_string())),
    }
}

/// The values of the per-instance placeholders for one process.
pub(super) struct Instance<'a> {
    pub process_num: &'a str,
    pub process_name: &'a str,
    pub program_name: &'a str,
    pub group_name: &'a str,
}

/// Fills the placeholders kept by [`Expansion::KeepInstance`] and turns
/// `$$` into `$`. The text was checked at load, so anything else is literal.
pub(super) fn substitute_instance(text: &str, instance: &Instance) -> String {
    let placeholders = [
        ("${process_num}", instance.process_num),
        ("${process_name}", instance.process_name),
        ("${program_name}", instance.program_name),
        ("${group_name}", instance.group_name),
    ];
    let filled: Result<String, std::convert::Infallible> = scan(text, |rest| {
        if rest.starts_with("$$") {
            return Ok(("$".to_owned(), 2));
        }
        if let Some((width, used)) = padded_at(rest) {
            return Ok((format!("{:0>width$}", instance.process_num), used));
        }
        Ok(placeholders
            .iter()
            .find(|(placeholder, _)| rest.starts_with(placeholder))
            .map_or(("$".to_owned(), 1), |(placeholder, value)| {
                ((*value).to_owned(), placeholder.len())
            }))
    });
    match filled {
        Ok(text) => text,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/tm".to_owned()),
            "EMPTY" => Some(String::new()),
            "process_id" => Some("lower".to_owned()),
            _ => None,
        }
    }

    fn full(text: &str) -> Result<String, String> {
        expand(text, Expansion::Full, &env).map_err(|e| e.to_string())
    }

    fn keep(text: &str) -> Result<String, String> {
        expand(text, Expansion::KeepInstance, &env).map_err(|e| e.to_string())
    }

    #[test]
    fn variables_defaults_and_escapes() {
        assert_eq!(full("${HOME}/logs").as_deref(), Ok("/home/tm/logs"));
        assert_eq!(full("${NOPE:-/tmp}/x").as_deref(), Ok("/tmp/x"));
        assert_eq!(full("${HOME:-/tmp}").as_deref(), Ok("/home/tm"));
        assert_eq!(
            full("${EMPTY:-x}").as_deref(),
            Ok(""),
            "a set variable wins, even empty"
        );
        assert_eq!(full("${NOPE:-}").as_deref(), Ok(""));
        assert_eq!(full("a$$b $${HOME}").as_deref(), Ok("a$b ${HOME}"));
        assert_eq!(full("echo $PWD $1 $").as_deref(), Ok("echo $PWD $1 $"));
        assert_eq!(full("${process_id}").as_deref(), Ok("lower"));
        assert_eq!(full("no dollar").as_deref(), Ok("no dollar"));
    }

    #[test]
    fn bad_references_say_how_to_write_them() {
        assert_eq!(
            full("${NOPE}/x").unwrap_err(),
            "undefined variable 'NOPE': set it in taskmasterd's environment, or give a default \
             with ${NOPE:-default}"
        );
        assert_eq!(
            full("x ${HOME").unwrap_err(),
            "'${HOME' has a '${' without its '}'; write '$${' for a literal '${'"
        );
        for bad in ["${}", "${1A}", "${A-B}", "${ A }"] {
            assert!(
                full(bad).unwrap_err().contains("is not a variable"),
                "{bad}"
            );
        }
    }

    #[test]
    fn placeholders_are_kept_only_where_instances_differ() {
        assert_eq!(
            keep("${HOME}/w-${process_num}.log $$").as_deref(),
            Ok("/home/tm/w-${process_num}.log $$")
        );
        assert_eq!(
            full("/log/${process_name}").unwrap_err(),
            "${process_name} is a per-process placeholder, usable only in a program's command, \
             args, env, directory, stdout and stderr"
        );
        assert_eq!(
            keep("${group_name:-g}").unwrap_err(),
            "'${group_name:-g}' takes no default: ${group_name} is always set"
        );
        assert_eq!(
            expand("${NOPE} $$", Expansion::None, &env).as_deref(),
            Ok("${NOPE} $$")
        );
    }

    #[test]
    fn instances_fill_placeholders_and_unescape() {
        let instance = Instance {
            process_num: "3",
            process_name: "web:3",
            program_name: "web",
            group_name: "front",
        };
        assert_eq!(
            substitute_instance(
                "${program_name}/${process_num} ${process_name}@${group_name} $$ $${process_num} $PWD",
                &instance
            ),
            "web/3 web:3@front $ ${process_num} $PWD"
        );
    }

    #[test]
    fn process_num_pads_to_a_width() {
        assert_eq!(
            keep("w_${process_num:02}").as_deref(),
            Ok("w_${process_num:02}")
        );
        assert!(full("${process_num:02}")
            .unwrap_err()
            .contains("per-process placeholder"));
        for bad in [
            "${process_num:2}",
            "${process_num:0}",
            "${process_num:0123}",
        ] {
            assert!(
                keep(bad).unwrap_err().contains("is not a variable"),
                "{bad}"
            );
        }
        let instance = Instance {
            process_num: "7",
            process_name: "w:w_07",
            program_name: "w",
            group_name: "w",
        };
        assert_eq!(
            substitute_instance(
                "${program_name}_${process_num:02} ${process_num:03} ${process_num:01}",
                &instance
            ),
            "w_07 007 7"
        );
        let wide = Instance {
            process_num: "123",
            ..instance
        };
        assert_eq!(
            substitute_instance("${process_num:02}", &wide),
            "123",
            "never cut"
        );
    }
}
