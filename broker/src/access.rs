//! Who may do what over the control socket: [`decide`] is a pure function
//! of the config's roles (`admins`, `viewers`, each program's `operators`),
//! the caller (uid and groups, from `SO_PEERCRED`), the command and the
//! program it touches, so that every rule is tested without users or
//! sockets. Only [`Caller::lookup`] asks the system (the user database).

use std::fmt;

use taskmaster_config::{Principal, Roles};
use taskmaster_protocol::Command;

/// What a command asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Says nothing about programs (`version`): anyone who can connect.
    Nothing,
    /// Reads state or logs: viewers; operators for their own programs.
    Read,
    /// Acts on processes: the operators of each one's program.
    Operate,
    /// Changes the daemon itself: admins only.
    Admin,
}

/// The need of a command. The match has no catch-all, so that a command
/// added later is given its need on purpose; a command this version does
/// not know is the admins' alone (they are told it is unknown, the others
/// that they may not).
pub fn need(command: &Command) -> Need {
    match command {
        Command::Version => Need::Nothing,
        Command::Status { .. }
        | Command::Tail { .. }
        | Command::Maintail(_)
        | Command::Events
        | Command::Pid(_)
        | Command::Avail
        | Command::Reread
        | Command::Why(_)
        | Command::EventsSince(_) => Need::Read,
        Command::Start(_)
        | Command::Stop(_)
        | Command::Restart(_)
        | Command::Signal { .. }
        | Command::Clear(_)
        | Command::Stdin { .. } => Need::Operate,
        Command::Reload | Command::Update | Command::Shutdown | Command::Unknown(_) => Need::Admin,
    }
}

/// Whom the roles apply to, and who is always an admin besides them.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'c> {
    pub roles: &'c Roles,
    /// The broker's own uid: it can do anything over the socket anyway.
    pub broker_uid: u32,
}

/// The client on the other end of the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// `None` when the kernel did not say (no `SO_PEERCRED`).
    pub uid: Option<u32>,
    /// The user's name, for messages; `None` for a uid with no account.
    pub name: Option<String>,
    /// The primary group and the supplementary ones.
    pub gids: Vec<u32>,
}

/// The program a request touches, with its operators.
#[derive(Debug, Clone, Copy)]
pub struct Target<'c> {
    pub program: &'c str,
    pub operators: &'c [Principal],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// The rule that refuses it, e.g. "not in admins or web's operators".
    Denied(String),
}

/// Whether `caller` may run `command` on `target` (`None` for commands that
/// touch no process, or every process at once: `maintail`, `reload`).
pub fn decide(
    policy: Policy,
    caller: &Caller,
    command: &Command,
    target: Option<Target>,
) -> Decision {
    let need = need(command);
    if need == Need::Nothing || is_admin(policy, caller) {
        return Decision::Allowed;
    }
    let member = |list: &[Principal]| match caller.uid {
        Some(uid) => list.iter().any(|p| p.matches(uid, &caller.gids)),
        None => false,
    };
    let viewer = member(policy.roles.viewers.as_deref().unwrap_or_default());
    let operator = target.is_some_and(|t| member(t.operators));
    let allowed = match (need, target) {
        (Need::Read, None) => viewer,
        (Need::Read, Some(_)) => viewer || operator,
        (Need::Operate, Some(_)) => operator,
        (Need::Operate, None) | (Need::Admin, _) | (Need::Nothing, _) => false,
    };
    if allowed {
        return Decision::Allowed;
    }
    Decision::Denied(match (need, target) {
        (Need::Read, None) => "not in admins or viewers".to_owned(),
        (Need::Read, Some(t)) => format!("not in admins, viewers or {}'s operators", t.program),
        (Need::Operate, Some(t)) => format!("not in admins or {}'s operators", t.program),
        _ => "not in admins".to_owned(),
    })
}

/// root, the broker's own user, and the admins; everyone when the config
/// names neither admins nor viewers (the socket's mode is then the gate).
pub fn is_admin(policy: Policy, caller: &Caller) -> bool {
    if policy.roles.is_open() {
        return true;
    }
    let Some(uid) = caller.uid else {
        return false;
    };
    uid == 0
        || uid == policy.broker_uid
        || policy
            .roles
            .admins
            .iter()
            .flatten()
            .any(|p| p.matches(uid, &caller.gids))
}

impl Caller {
    /// The caller with uid `uid`: its name, and its groups read now, so
    /// that adding someone to a group needs no reload.
    pub fn lookup(uid: Option<u32>) -> Caller {
        let Some(uid) = uid else {
            return Caller {
                uid: None,
                name: None,
                gids: Vec::new(),
            };
        };
        let Some(user) = uzers::get_user_by_uid(uid) else {
            return Caller {
                uid: Some(uid),
                name: None,
                gids: Vec::new(),
            };
        };
        let primary = user.primary_group_id();
        let mut gids: Vec<u32> = uzers::get_user_groups(user.name(), primary)
            .unwrap_or_default()
            .iter()
            .map(uzers::Group::gid)
            .collect();
        if !gids.contains(&primary) {
            gids.push(primary);
        }
        Caller {
            uid: Some(uid),
            name: Some(user.name().to_string_lossy().into_owned()),
            gids,
        }
    }
}

/// `uid 1001 (alice)`, as refusals and the activity log name a caller.
impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.uid, &self.name) {
            (Some(uid), Some(name)) => write!(f, "uid {uid} ({name})"),
            (Some(uid), None) => write!(f, "uid {uid}"),
            (None, _) => write!(f, "an unknown peer"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BROKER: u32 = 990;
    const ALICE: u32 = 1001;
    const WEB_TEAM: u32 = 2001;
    const MONITORING: u32 = 2002;
    const STAFF: u32 = 2003;

    fn user(name: &str, uid: u32) -> Principal {
        Principal::User {
            name: name.into(),
            uid,
        }
    }

    fn group(name: &str, gid: u32) -> Principal {
        Principal::Group {
            name: name.into(),
            gid,
        }
    }

    /// The command a request line `{"command": name}` asks for.
    fn parsed(name: &str) -> Command {
        let line = serde_json::json!({ "command": name });
        serde_json::from_value::<taskmaster_protocol::Request>(line)
            .expect("a request")
            .command
    }

    fn caller(uid: u32, gids: &[u32]) -> Caller {
        Caller {
            uid: Some(uid),
            name: Some("alice".into()),
            gids: gids.to_vec(),
        }
    }

    /// `admins = ["@staff", "deploy"]`, `viewers = ["@monitoring"]`.
    fn roles() -> Roles {
        Roles {
            admins: Some(vec![group("staff", STAFF), user("deploy", 1500)]),
            viewers: Some(vec![group("monitoring", MONITORING)]),
        }
    }

    fn web_operators() -> Vec<Principal> {
        vec![group("web-team", WEB_TEAM)]
    }

    const ALL_COMMANDS: &[&str] = &[
        "version",
        "status",
        "tail",
        "maintail",
        "events",
        "pid",
        "avail",
        "reread",
        "start",
        "stop",
        "restart",
        "signal",
        "clear",
        "stdin",
        "reload",
        "update",
        "shutdown",
        "frobnicate",
    ];

    /// Every command, on web and on no process, as `who` sees it.
    fn table(roles: &Roles, who: &Caller) -> Vec<(&'static str, Decision, Decision)> {
        let policy = Policy {
            roles,
            broker_uid: BROKER,
        };
        let operators = web_operators();
        let web = Target {
            program: "web",
            operators: &operators,
        };
        ALL_COMMANDS
            .iter()
            .map(|&command| {
                (
                    command,
                    decide(policy, who, &parsed(command), Some(web)),
                    decide(policy, who, &parsed(command), None),
                )
            })
            .collect()
    }

    fn allowed_everything(roles: &Roles, who: &Caller) -> bool {
        table(roles, who).iter().all(|(_, on_web, on_none)| {
            *on_web == Decision::Allowed && *on_none == Decision::Allowed
        })
    }

    #[test]
    fn with_neither_admins_nor_viewers_anyone_is_an_admin() {
        let open = Roles::default();
        assert!(allowed_everything(&open, &caller(ALICE, &[])));
        let unknown = Caller {
            uid: None,
            name: None,
            gids: Vec::new(),
        };
        assert!(allowed_everything(&open, &unknown));
    }

    #[test]
    fn root_the_broker_and_admins_may_do_everything() {
        let roles = roles();
        assert!(allowed_everything(&roles, &caller(0, &[0])));
        assert!(allowed_everything(&roles, &caller(BROKER, &[BROKER])));
        assert!(allowed_everything(&roles, &caller(1500, &[1500])));
        // A member of @staff through a supplementary group.
        assert!(allowed_everything(&roles, &caller(ALICE, &[ALICE, STAFF])));
    }

    #[test]
    fn an_empty_admins_list_leaves_root_and_the_broker_only() {
        let roles = Roles {
            admins: Some(Vec::new()),
            viewers: None,
        };
        assert!(!roles.is_open());
        assert!(allowed_everything(&roles, &caller(0, &[])));
        assert!(allowed_everything(&roles, &caller(BROKER, &[])));
        let alice = table(&roles, &caller(ALICE, &[]));
        assert!(alice
            .iter()
            .filter(|(command, ..)| *command != "version")
            .all(|(_, on_web, on_none)| *on_web != Decision::Allowed
                && *on_none != Decision::Allowed));
    }

    #[test]
    fn a_viewer_reads_everything_and_acts_on_nothing() {
        let roles = roles();
        for (command, on_web, on_none) in table(&roles, &caller(ALICE, &[ALICE, MONITORING])) {
            let expected = match need(&parsed(command)) {
                Need::Nothing | Need::Read => (Decision::Allowed, Decision::Allowed),
                Need::Operate => (
                    Decision::Denied("not in admins or web's operators".into()),
                    Decision::Denied("not in admins".into()),
                ),
                Need::Admin => (
                    Decision::Denied("not in admins".into()),
                    Decision::Denied("not in admins".into()),
                ),
            };
            assert_eq!((on_web, on_none), expected, "{command}");
        }
    }

    #[test]
    fn an_operator_acts_on_and_reads_its_own_program_only() {
        let roles = roles();
        for (command, on_web, on_none) in table(&roles, &caller(ALICE, &[ALICE, WEB_TEAM])) {
            let expected = match need(&parsed(command)) {
                Need::Nothing => (Decision::Allowed, Decision::Allowed),
                Need::Read => (
                    Decision::Allowed,
                    Decision::Denied("not in admins or viewers".into()),
                ),
                Need::Operate => (Decision::Allowed, Decision::Denied("not in admins".into())),
                Need::Admin => (
                    Decision::Denied("not in admins".into()),
                    Decision::Denied("not in admins".into()),
                ),
            };
            assert_eq!((on_web, on_none), expected, "{command}");
        }
        let policy = Policy {
            roles: &roles,
            broker_uid: BROKER,
        };
        let db = Target {
            program: "db",
            operators: &[],
        };
        let alice = caller(ALICE, &[ALICE, WEB_TEAM]);
        assert_eq!(
            decide(policy, &alice, &parsed("stop"), Some(db)),
            Decision::Denied("not in admins or db's operators".into())
        );
        assert_eq!(
            decide(policy, &alice, &parsed("status"), Some(db)),
            Decision::Denied("not in admins, viewers or db's operators".into())
        );
    }

    #[test]
    fn an_operator_named_as_a_user_counts_too() {
        let roles = roles();
        let policy = Policy {
            roles: &roles,
            broker_uid: BROKER,
        };
        let operators = [user("alice", ALICE)];
        let web = Target {
            program: "web",
            operators: &operators,
        };
        assert_eq!(
            decide(policy, &caller(ALICE, &[]), &parsed("restart"), Some(web)),
            Decision::Allowed
        );
        assert_ne!(
            decide(policy, &caller(1002, &[]), &parsed("restart"), Some(web)),
            Decision::Allowed
        );
    }

    #[test]
    fn someone_with_no_role_may_only_ask_the_version() {
        let roles = roles();
        for (command, on_web, on_none) in table(&roles, &caller(ALICE, &[ALICE])) {
            let allowed = command == "version";
            assert_eq!(on_web == Decision::Allowed, allowed, "{command}");
            assert_eq!(on_none == Decision::Allowed, allowed, "{command}");
        }
        // Without SO_PEERCRED nobody can be matched, not even a group.
        let unknown = Caller {
            uid: None,
            name: None,
            gids: vec![STAFF, MONITORING, WEB_TEAM],
        };
        for (command, on_web, on_none) in table(&roles, &unknown) {
            let allowed = command == "version";
            assert_eq!(on_web == Decision::Allowed, allowed, "{command}");
            assert_eq!(on_none == Decision::Allowed, allowed, "{command}");
        }
    }

    #[test]
    fn viewers_without_admins_leave_admin_to_root_and_the_broker() {
        let roles = Roles {
            admins: None,
            viewers: Some(vec![group("monitoring", MONITORING)]),
        };
        let policy = Policy {
            roles: &roles,
            broker_uid: BROKER,
        };
        let viewer = caller(ALICE, &[MONITORING]);
        assert_eq!(
            decide(policy, &viewer, &parsed("status"), None),
            Decision::Allowed
        );
        assert_eq!(
            decide(policy, &viewer, &parsed("shutdown"), None),
            Decision::Denied("not in admins".into())
        );
        assert!(allowed_everything(&roles, &caller(0, &[])));
    }

    #[test]
    fn unknown_commands_are_the_admins_alone() {
        assert_eq!(need(&parsed("frobnicate")), Need::Admin);
        assert_eq!(need(&parsed("reload")), Need::Admin);
        assert_eq!(need(&parsed("update")), Need::Admin);
        assert_eq!(need(&parsed("shutdown")), Need::Admin);
    }

    #[test]
    fn a_caller_is_named_by_uid_and_user() {
        assert_eq!(caller(ALICE, &[]).to_string(), "uid 1001 (alice)");
        let nameless = Caller {
            uid: Some(4242),
            name: None,
            gids: Vec::new(),
        };
        assert_eq!(nameless.to_string(), "uid 4242");
        assert_eq!(Caller::lookup(None).to_string(), "an unknown peer");
        let root = Caller::lookup(Some(0));
        assert_eq!(root.name.as_deref(), Some("root"));
        assert!(root.gids.contains(&0));
    }
}
