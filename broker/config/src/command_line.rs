//! `command_line`: a command and its arguments in one string, split into
//! words as a POSIX shell would (quotes, backslashes; no other shell
//! syntax) after its variables are expanded, so that `${FLAGS}` holding
//! `-v --color` gives two arguments, as an unquoted `%(ENV_FLAGS)s` does in
//! supervisord's `command`.

use super::reader::{Ctx, Field, Fields};
use super::values;
use super::variables::Expansion;

/// The command and arguments of `command_line`, or `None` when the program
/// does not have one. With an error (reported) the command is empty, as
/// for a bad `command`.
pub(super) fn read(ctx: &mut Ctx, fields: &mut Fields) -> Option<(String, Vec<String>)> {
    let field = fields.take("command_line")?;
    for other in ["command", "args"] {
        if let Some(given) = fields.get(other) {
            let (span, path) = (given.span.clone(), given.path.clone());
            ctx.error(
                span,
                &path,
                format!("{other} is given with command_line, which holds the command and its arguments; keep one of them"),
            );
        }
    }
    Some(split(ctx, &field).unwrap_or_default())
}

fn split(ctx: &mut Ctx, field: &Field) -> Option<(String, Vec<String>)> {
    // Per-process placeholders are kept: they fill one word each.
    let line = ctx.read_as(field, Expansion::KeepInstance, values::non_empty_string)?;
    let problem = match shell_words::split(&line) {
        Ok(mut words) if !words.is_empty() => {
            let command = words.remove(0);
            return Some((command, words));
        }
        Ok(_) => format!("'{line}' holds no command"),
        Err(_) => format!(
            "'{line}' has a quote without its closing quote (or ends with a backslash); \
             close it, or escape it with a backslash"
        ),
    };
    ctx.error(field.span.clone(), &field.path, problem);
    None
}
