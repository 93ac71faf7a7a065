//! Checks the users and groups a config names against this system, so that a
//! typo fails when the config is loaded rather than when a program starts.

use toml_edit::{Item, Value};

use super::values::{expected, non_empty_string, Problem, Read};
use super::Owner;

/// A user that must exist: a name, or a uid (TOML integer or digits).
/// Kept as written; the supervisor resolves it again when it spawns.
pub(super) fn user(item: &Item) -> Read<String> {
    let text = match item.as_value() {
        Some(Value::Integer(n)) => n.value().to_string(),
        Some(Value::String(_)) => non_empty_string(item)?,
        _ => return Err(expected("a user name or uid", item)),
    };
    match parse_id(&text) {
        Some(uid) if uzers::get_user_by_uid(uid).is_none() => Err(Problem::new(format!(
            "no user with uid {uid} on this system; create it or name another user"
        ))),
        None if uzers::get_user_by_name(&text).is_none() => Err(Problem::new(format!(
            "no user '{text}' on this system; create it or fix the name"
        ))),
        _ => Ok(text),
    }
}

/// `"user"` or `"user:group"`, by name or number. Numbers are taken as they
/// are: chown(2) needs no account behind an id.
pub(super) fn owner(item: &Item) -> Read<Owner> {
    let text = item
        .as_str()
        .ok_or_else(|| expected("\"user\" or \"user:group\"", item))?;
    let (user, group) = match text.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (text, None),
    };
    if user.is_empty() || group.is_some_and(str::is_empty) {
        return Err(Problem::new(format!(
            "cannot read '{text}' as an owner; write \"user\" or \"user:group\""
        )));
    }
    let uid = match parse_id(user) {
        Some(uid) => uid,
        None => uzers::get_user_by_name(user)
            .map(|found| found.uid())
            .ok_or_else(|| {
                Problem::new(format!(
                    "no user '{user}' on this system; create it or fix the name"
                ))
            })?,
    };
    let gid = group.map(group_id).transpose()?;
    Ok(Owner { uid, gid })
}

fn group_id(group: &str) -> Read<u32> {
    match parse_id(group) {
        Some(gid) => Ok(gid),
        None => uzers::get_group_by_name(group)
            .map(|found| found.gid())
            .ok_or_else(|| {
                Problem::new(format!(
                    "no group '{group}' on this system; create it or fix the name"
                ))
            }),
    }
}

/// A numeric id: digits only, so that a name like `1abc` stays a name.
fn parse_id(text: &str) -> Option<u32> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}
