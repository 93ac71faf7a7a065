//! A request line, typed: one [`Command`] variant per operation, each with
//! the arguments it reads and no others.
//!
//! On the wire a request is one flat JSON object whose `command` field picks
//! the operation (`{"command":"stop","names":["web"]}`). [`Wire`] is that
//! object field by field; converting it is the one place where a command's
//! name is matched, so the broker and the clients dispatch on variants.

use crate::StatusField;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request line. Unknown fields are ignored so that newer clients can
/// talk to older daemons; an unknown `command` is [`Command::Unknown`], for
/// the daemon to refuse by name rather than as unreadable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "Wire", into = "Wire")]
pub struct Request {
    /// Any JSON value; echoed in the reply.
    pub id: Option<Value>,
    pub command: Command,
}

impl Request {
    pub fn new(command: Command) -> Self {
        Request { id: None, command }
    }
}

impl From<Command> for Request {
    fn from(command: Command) -> Self {
        Request::new(command)
    }
}

/// The operation a request asks for, with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Status {
        selection: Selection,
        /// Only these fields of each process; `None`: every field.
        fields: Option<Vec<StatusField>>,
    },
    Start(Action),
    Stop(Action),
    Restart(Action),
    Signal {
        /// A name (`HUP`, `SIGHUP`) or a number; checked by the daemon, so
        /// that a bad one is 400 `bad_signal` rather than an unreadable line.
        signal: Option<Value>,
        selection: Selection,
    },
    /// Without a selection, the daemon's own pid.
    Pid(Selection),
    Avail,
    Reread,
    Reload,
    Update,
    Version,
    Shutdown,
    Events,
    Tail {
        selection: Selection,
        /// `"stdout"` (the default) or `"stderr"`; any other word is the
        /// daemon's 400 `bad_request`, with the two it takes.
        stream: Option<String>,
        reading: Reading,
    },
    Maintail(Reading),
    Clear(Selection),
    Stdin {
        selection: Selection,
        /// Text to write to the process's stdin.
        data: Option<String>,
        /// Close the process's stdin (after `data`), so that it reads end
        /// of file.
        close: Option<bool>,
    },
    /// A command this version does not know, by its name.
    Unknown(String),
    /// What happened to one process and why: its history of transitions.
    Why(Selection),
    /// `events` with `since`: replay every event after that seq (from
    /// the daemon's ring), then follow live.
    EventsSince(u64),
}

/// Every command name the protocol knows, in the order docs list them.
pub const COMMAND_NAMES: [&str; 18] = [
    "status", "start", "stop", "restart", "signal", "pid", "avail", "reread", "reload", "update",
    "version", "shutdown", "events", "tail", "maintail", "clear", "stdin", "why",
];

impl Command {
    /// `status` of `selection`, every field.
    pub fn status(selection: Selection) -> Command {
        Command::Status {
            selection,
            fields: None,
        }
    }

    /// The name on the wire (`"stop"`), for messages and logs.
    pub fn name(&self) -> &str {
        match self {
            Command::Status { .. } => "status",
            Command::Start(_) => "start",
            Command::Stop(_) => "stop",
            Command::Restart(_) => "restart",
            Command::Signal { .. } => "signal",
            Command::Pid(_) => "pid",
            Command::Avail => "avail",
            Command::Reread => "reread",
            Command::Reload => "reload",
            Command::Update => "update",
            Command::Version => "version",
            Command::Shutdown => "shutdown",
            Command::Events => "events",
            Command::Tail { .. } => "tail",
            Command::Maintail(_) => "maintail",
            Command::Clear(_) => "clear",
            Command::Stdin { .. } => "stdin",
            Command::Unknown(name) => name,
            Command::Why(_) => "why",
            Command::EventsSince(_) => "events",
        }
    }

    /// The processes the command names, for the commands that act on or
    /// read processes; `None` for those about the daemon as a whole.
    pub fn selection(&self) -> Option<&Selection> {
        match self {
            Command::Status { selection, .. }
            | Command::Pid(selection)
            | Command::Clear(selection)
            | Command::Signal { selection, .. }
            | Command::Tail { selection, .. }
            | Command::Stdin { selection, .. }
            | Command::Why(selection) => Some(selection),
            Command::Start(action) | Command::Stop(action) | Command::Restart(action) => {
                Some(&action.selection)
            }
            // The daemon as a whole. A command added later lands here
            // until it is listed above, and the roles then judge it without
            // a process: no mere operator may run it, which fails closed.
            _ => None,
        }
    }
}

/// Which processes a request is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// How to read `name`: a program (all its instances), one process, a
    /// group, or everything. Without it, `name` is read as a process spec
    /// (`web`, `web:3`, `group:*`, `all`).
    pub target: Option<Target>,
    pub name: Option<String>,
    /// Several process specs at once; combined with `name`.
    pub names: Vec<String>,
}

impl Selection {
    /// The processes named by these specs.
    pub fn names(names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Selection {
            names: names.into_iter().map(Into::into).collect(),
            ..Selection::default()
        }
    }

    /// The process (or program, or group) named by one spec.
    pub fn one(name: impl Into<String>) -> Self {
        Selection {
            name: Some(name.into()),
            ..Selection::default()
        }
    }

    /// No name, no names and no target: the request names nothing. What
    /// that means is the command's (every process, the daemon, or a 400).
    pub fn is_empty(&self) -> bool {
        self.target.is_none() && self.name.is_none() && self.names.is_empty()
    }

    /// `name`, then `names`.
    pub fn specs(&self) -> impl Iterator<Item = &str> {
        self.name
            .iter()
            .chain(self.names.iter())
            .map(String::as_str)
    }
}

/// The arguments of `start`, `stop` and `restart`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    pub selection: Selection,
    /// Reply once the processes have settled (the default), or at once
    /// when false.
    pub wait: Option<bool>,
    /// Do not remember this start or stop as the operator's intent (the
    /// daemon's `statedir`): after a restart the config's `autostart` rules.
    pub transient: Option<bool>,
}

impl From<Selection> for Action {
    fn from(selection: Selection) -> Self {
        Action {
            selection,
            wait: None,
            transient: None,
        }
    }
}

/// How `tail` and `maintail` read a log file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reading {
    /// How many lines to send first (the daemon's default is 10).
    pub lines: Option<u64>,
    /// After the first reply, stream what is appended to the file until
    /// the client disconnects.
    pub follow: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Program,
    Process,
    Group,
    All,
}

/// A request as it is on the wire: every command's fields side by side,
/// each with the type it has always had, so that a line that was refused
/// as unreadable still is, and one that was read is read the same.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<Value>,
    command: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<Target>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    signal: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wait: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lines: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    follow: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    close: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transient: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fields: Option<Vec<StatusField>>,
}

impl From<Wire> for Request {
    /// Fields the command does not read are dropped, as the daemon always
    /// ignored them.
    fn from(wire: Wire) -> Self {
        let selection = Selection {
            target: wire.target,
            name: wire.name,
            names: wire.names,
        };
        let action = |selection| Action {
            selection,
            wait: wire.wait,
            transient: wire.transient,
        };
        let reading = Reading {
            lines: wire.lines,
            follow: wire.follow,
        };
        let command = match wire.command.as_str() {
            "status" => Command::Status {
                selection,
                fields: wire.fields,
            },
            "start" => Command::Start(action(selection)),
            "stop" => Command::Stop(action(selection)),
            "restart" => Command::Restart(action(selection)),
            "signal" => Command::Signal {
                signal: wire.signal,
                selection,
            },
            "pid" => Command::Pid(selection),
            "avail" => Command::Avail,
            "reread" => Command::Reread,
            "reload" => Command::Reload,
            "update" => Command::Update,
            "version" => Command::Version,
            "shutdown" => Command::Shutdown,
            "events" => match wire.since {
                Some(since) => Command::EventsSince(since),
                None => Command::Events,
            },
            "why" => Command::Why(selection),
            "tail" => Command::Tail {
                selection,
                stream: wire.stream,
                reading,
            },
            "maintail" => Command::Maintail(reading),
            "clear" => Command::Clear(selection),
            "stdin" => Command::Stdin {
                selection,
                data: wire.data,
                close: wire.close,
            },
            _ => Command::Unknown(wire.command),
        };
        Request {
            id: wire.id,
            command,
        }
    }
}

impl From<Request> for Wire {
    fn from(request: Request) -> Self {
        let mut wire = Wire {
            id: request.id,
            command: request.command.name().to_owned(),
            ..Wire::default()
        };
        let mut select = |selection: Selection| {
            wire.target = selection.target;
            wire.name = selection.name;
            wire.names = selection.names;
        };
        let mut transient = None;
        let mut since = None;
        let mut fields = None;
        let (wait, signal, stream, reading, data, close) = match request.command {
            Command::Status {
                selection,
                fields: wanted,
            } => {
                select(selection);
                fields = wanted;
                Default::default()
            }
            Command::Pid(selection) | Command::Clear(selection) | Command::Why(selection) => {
                select(selection);
                Default::default()
            }
            Command::Start(action) | Command::Stop(action) | Command::Restart(action) => {
                select(action.selection);
                transient = action.transient;
                (action.wait, None, None, Reading::default(), None, None)
            }
            Command::EventsSince(seq) => {
                since = Some(seq);
                Default::default()
            }
            Command::Signal { signal, selection } => {
                select(selection);
                (None, signal, None, Reading::default(), None, None)
            }
            Command::Tail {
                selection,
                stream,
                reading,
            } => {
                select(selection);
                (None, None, stream, reading, None, None)
            }
            Command::Maintail(reading) => (None, None, None, reading, None, None),
            Command::Stdin {
                selection,
                data,
                close,
            } => {
                select(selection);
                (None, None, None, Reading::default(), data, close)
            }
            Command::Avail
            | Command::Reread
            | Command::Reload
            | Command::Update
            | Command::Version
            | Command::Shutdown
            | Command::Events
            | Command::Unknown(_) => Default::default(),
        };
        Wire {
            wait,
            signal,
            stream,
            lines: reading.lines,
            follow: reading.follow,
            data,
            close,
            transient,
            since,
            fields,
            ..wire
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(line: &str) -> Request {
        serde_json::from_str(line).unwrap()
    }

    #[test]
    fn seed_request_shape_parses() {
        let request = parse(r#"{"command": "stop", "target": "program", "name": "nginx"}"#);
        let Command::Stop(action) = request.command else {
            panic!("not a stop: {request:?}");
        };
        assert_eq!(action.selection.target, Some(Target::Program));
        assert_eq!(action.selection.name.as_deref(), Some("nginx"));
        assert_eq!(action.wait, None);
    }

    #[test]
    fn unknown_fields_and_fields_of_other_commands_are_ignored() {
        let request = parse(r#"{"command": "status", "future": [1, 2], "lines": 3}"#);
        assert_eq!(request, Command::status(Selection::default()).into());
    }

    #[test]
    fn every_command_name_parses_to_its_variant_and_back() {
        for name in COMMAND_NAMES {
            let request: Request = serde_json::from_value(json!({ "command": name })).unwrap();
            assert!(!matches!(request.command, Command::Unknown(_)), "{name}");
            assert_eq!(request.command.name(), name);
            assert_eq!(
                serde_json::to_value(&request).unwrap(),
                json!({ "command": name })
            );
        }
    }

    #[test]
    fn a_status_asks_for_some_fields_by_their_wire_names() {
        let request = parse(r#"{"command": "status", "fields": ["name", "uptime_secs"]}"#);
        let wanted = Command::Status {
            selection: Selection::default(),
            fields: Some(vec![StatusField::Name, StatusField::UptimeSecs]),
        };
        assert_eq!(request.command, wanted);
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"command":"status","fields":["name","uptime_secs"]}"#
        );
        let error = serde_json::from_str::<Request>(r#"{"command": "status", "fields": ["nme"]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown variant `nme`, expected one of `name`"),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_command_is_kept_by_name() {
        let request = parse(r#"{"id": "x", "command": "frobnicate", "name": "web"}"#);
        assert_eq!(request.id, Some(json!("x")));
        assert_eq!(request.command, Command::Unknown("frobnicate".into()));
        assert_eq!(request.command.name(), "frobnicate");
        assert_eq!(request.command.selection(), None);
    }

    #[test]
    fn a_field_of_the_wrong_type_is_still_unreadable() {
        for line in [
            r#"{"command": "status", "names": "web"}"#,
            r#"{"command": "tail", "lines": -1}"#,
            r#"{"command": "stop", "target": "planet"}"#,
            r#"{"command": 3}"#,
            r#"{"name": "web"}"#,
        ] {
            assert!(serde_json::from_str::<Request>(line).is_err(), "{line}");
        }
    }

    #[test]
    fn each_command_writes_the_fields_it_always_wrote() {
        let stop = Request::new(Command::Stop(Selection::names(["web", "db"]).into()));
        assert_eq!(
            serde_json::to_string(&stop).unwrap(),
            r#"{"command":"stop","names":["web","db"]}"#
        );
        let tail = Request {
            id: Some(json!(7)),
            command: Command::Tail {
                selection: Selection::one("web"),
                stream: Some("stderr".into()),
                reading: Reading {
                    lines: Some(0),
                    follow: Some(true),
                },
            },
        };
        assert_eq!(
            serde_json::to_string(&tail).unwrap(),
            r#"{"id":7,"command":"tail","name":"web","stream":"stderr","lines":0,"follow":true}"#
        );
        let signal = parse(r#"{"command":"signal","signal":9,"names":["web"],"wait":false}"#);
        assert_eq!(
            serde_json::to_string(&signal).unwrap(),
            r#"{"command":"signal","names":["web"],"signal":9}"#
        );
    }

    #[test]
    fn a_selection_names_nothing_only_without_name_names_or_target() {
        assert!(Selection::default().is_empty());
        assert!(!Selection::one("web").is_empty());
        assert!(!Selection::names(["web"]).is_empty());
        let all = Selection {
            target: Some(Target::All),
            ..Selection::default()
        };
        assert!(!all.is_empty());
        let both = Selection {
            name: Some("a".into()),
            names: vec!["b".into()],
            target: None,
        };
        assert_eq!(both.specs().collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn events_since_why_and_transient_read_and_write() {
        let since = parse(r#"{"command": "events", "since": 41}"#);
        assert_eq!(since.command, Command::EventsSince(41));
        assert_eq!(since.command.name(), "events");
        assert_eq!(
            serde_json::to_string(&since).unwrap(),
            r#"{"command":"events","since":41}"#
        );
        let why = parse(r#"{"command": "why", "name": "api"}"#);
        assert_eq!(why.command, Command::Why(Selection::one("api")));
        let stop = parse(r#"{"command": "stop", "names": ["api"], "transient": true}"#);
        let Command::Stop(action) = &stop.command else {
            panic!("{stop:?}");
        };
        assert_eq!(action.transient, Some(true));
        assert_eq!(
            serde_json::to_string(&stop).unwrap(),
            r#"{"command":"stop","names":["api"],"transient":true}"#
        );
    }
}
