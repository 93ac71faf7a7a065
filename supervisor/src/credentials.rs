//! Looking up the user a program or the broker runs as.

use crate::error::Error;
use crate::sys::Credentials;
use nix::unistd::{geteuid, getgrouplist, Uid, User};
use std::ffi::CString;

/// The credentials of `user`, a name or a numeric uid, with its
/// supplementary groups. The error is the message to show.
pub fn lookup(user: &str) -> Result<Credentials, Error> {
    let found = match User::from_name(user) {
        Ok(Some(found)) => Some(found),
        Ok(None) => match user.parse::<u32>() {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)).ok().flatten(),
            Err(_) => None,
        },
        Err(errno) => return Err(Error::errno(format!("cannot look up user '{user}'"), errno)),
    };
    let found = found.ok_or_else(|| format!("no such user '{user}'"))?;
    let name = CString::new(found.name.as_bytes())
        .map_err(|_| format!("user name '{}' contains a NUL byte", found.name))?;
    let groups = getgrouplist(&name, found.gid)
        .map_err(|errno| Error::errno(format!("cannot list the groups of user '{user}'"), errno))?;
    Ok(Credentials {
        name: found.name.clone(),
        uid: found.uid.as_raw(),
        gid: found.gid.as_raw(),
        groups: groups.into_iter().map(|g| g.as_raw()).collect(),
    })
}

/// What running as `user` takes from this process.
pub enum Switch {
    /// Switch to these credentials (we are root).
    To(Credentials),
    /// `user` is who we already are: nothing to do.
    AlreadyUs,
    /// Only root can switch to another user.
    NeedsRoot,
}

/// Looks `user` up and says whether and how to switch to it.
pub fn switch_to(user: &str) -> Result<Switch, Error> {
    let credentials = lookup(user)?;
    let me = geteuid();
    Ok(if me.is_root() {
        Switch::To(credentials)
    } else if credentials.uid == me.as_raw() {
        Switch::AlreadyUs
    } else {
        Switch::NeedsRoot
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_by_name_and_number() {
        let by_name = lookup("root").expect("root exists");
        assert_eq!((by_name.uid, by_name.gid), (0, 0));
        assert!(by_name.groups.contains(&0));
        assert_eq!(lookup("0").ok(), Some(by_name));
    }

    #[test]
    fn unknown_user() {
        assert_eq!(
            lookup("no-such-user-here").map_err(|e| e.to_string()).err(),
            Some("no such user 'no-such-user-here'".to_string())
        );
    }
}
