//! Checks the users and groups a config names against this system, so that a
//! typo fails when the config is loaded rather than when a program starts.

use toml_edit::{Item, Value};

use super::values::{expected, non_empty_string, Problem, Read};
use super::{Owner, Principal};

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

/// `admins`, `viewers`, `operators`: an array of user names and `@group`
/// names (or ids as digits), each checked to exist now. A problem names
/// its element, so that the line points at the typo.
pub(super) fn principals(item: &Item) -> Read<Vec<Principal>> {
    let Some(Value::Array(array)) = item.as_value() else {
        return Err(expected(
            "an array of users and @groups, such as [\"deploy\", \"@ops\"]",
            item,
        ));
    };
    array
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let at = |problem: Problem| {
                Problem::new(format!("element [{index}]: {}", problem.message)).at(value.span())
            };
            let text = value.as_str().ok_or_else(|| {
                at(expected(
                    "a user or @group name",
                    &Item::Value(value.clone()),
                ))
            })?;
            principal(text).map_err(at)
        })
        .collect()
}

fn principal(text: &str) -> Read<Principal> {
    if let Some(group) = text.strip_prefix('@') {
        if group.is_empty() {
            return Err(Problem::new("'@' needs a group name after it"));
        }
        // A group named by number must exist too: a role for a gid nobody
        // can be in is surely a mistake.
        let gid = match parse_id(group) {
            Some(gid) if uzers::get_group_by_gid(gid).is_none() => {
                return Err(Problem::new(format!(
                    "no group with gid {gid} on this system; create it or name another group"
                )))
            }
            Some(gid) => gid,
            None => group_id(group)?,
        };
        return Ok(Principal::Group {
            name: group.to_owned(),
            gid,
        });
    }
    if text.is_empty() {
        return Err(Problem::new("must not be empty"));
    }
    let uid = match parse_id(text) {
        Some(uid) if uzers::get_user_by_uid(uid).is_some() => uid,
        Some(uid) => {
            return Err(Problem::new(format!(
                "no user with uid {uid} on this system; create it or name another user"
            )))
        }
        None => uzers::get_user_by_name(text)
            .map(|found| found.uid())
            .ok_or_else(|| {
                Problem::new(format!(
                    "no user '{text}' on this system; create it, fix the name, or write \
                     '@{text}' for a group"
                ))
            })?,
    };
    Ok(Principal::User {
        name: text.to_owned(),
        uid,
    })
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
pub(crate) fn parse_id(text: &str) -> Option<u32> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}
