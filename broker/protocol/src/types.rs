//! Requests, replies and the content of each reply.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One reply line: `status` has HTTP's meanings (200 done, 400 bad request,
/// 404 no such process, 409 wrong state, 500 internal error).
///
/// The content is kept as the JSON text it is on the wire, so that the
/// daemon writes a large reply (`status` of 1000 processes) without building
/// a JSON tree, and a client decodes it straight into the type it wants
/// ([`Response::into_content`], [`Response::content_value`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Box<serde_json::value::RawValue>>,
    /// Boxed: the broker passes replies by value through every handler's
    /// `Result`, and the error, the rarer case, would double their size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<ErrorBody>>,
}

impl Response {
    pub fn ok(content: impl Serialize) -> Self {
        Response {
            id: None,
            status: 200,
            content: Some(
                serde_json::value::to_raw_value(&content).expect("reply content serializes"),
            ),
            error: None,
        }
    }

    pub fn error(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Response {
            id: None,
            status,
            content: None,
            error: Some(Box::new(ErrorBody::new(code, message))),
        }
    }

    /// Names the process an error reply is about, and its state when the
    /// error depends on it, so that no client reads them out of the message.
    pub fn about(mut self, name: impl Into<String>, state: Option<ProcessState>) -> Self {
        if let Some(error) = &mut self.error {
            error.name = Some(name.into());
            error.state = state;
        }
        self
    }

    /// The content decoded as `T`, or the reply's error.
    pub fn into_content<T: for<'de> Deserialize<'de>>(self) -> Result<T, ErrorBody> {
        if let Some(error) = self.error {
            return Err(*error);
        }
        let text = self.content.as_deref().map_or("null", |raw| raw.get());
        serde_json::from_str(text).map_err(|e| {
            ErrorBody::new(
                "bad_reply",
                format!("unexpected reply from taskmasterd: {e}"),
            )
        })
    }

    /// The content as a JSON value (`Null` when there is none).
    pub fn content_value(&self) -> Value {
        self.content
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(Value::Null)
    }
}

/// A reply as a client reads it, with its content typed: what
/// [`Client::request_as`](crate::Client::request_as) returns.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Reply<T> {
    #[serde(default)]
    pub id: Option<Value>,
    pub status: u16,
    #[serde(default = "none")]
    pub content: Option<T>,
    #[serde(default)]
    pub error: Option<ErrorBody>,
}

fn none<T>() -> Option<T> {
    None
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable machine-readable word: `bad_request`, `unknown_command`,
    /// `no_such_process`, `bad_signal`, `line_too_long`, `internal`...
    pub code: String,
    /// A sentence for people.
    pub message: String,
    /// The process the error is about, when it is about one: the spec that
    /// matched nothing (`no_such_process`), the process that is not running
    /// or whose stdin is full or closed, the one without a stderr log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// That process's state, when the error depends on it (`not_running`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ProcessState>,
    /// With 410 `gone` (`events` with a `since` the daemon no longer
    /// holds): the oldest seq it can still replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_seq: Option<u64>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            code: code.into(),
            message: message.into(),
            name: None,
            state: None,
            oldest_seq: None,
        }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// supervisord's process states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProcessState {
    Stopped,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
    Unknown,
}

impl ProcessState {
    /// Every state, in the order supervisord lists them.
    pub const ALL: [ProcessState; 8] = [
        ProcessState::Stopped,
        ProcessState::Starting,
        ProcessState::Running,
        ProcessState::Backoff,
        ProcessState::Stopping,
        ProcessState::Exited,
        ProcessState::Fatal,
        ProcessState::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ProcessState::Stopped => "STOPPED",
            ProcessState::Starting => "STARTING",
            ProcessState::Running => "RUNNING",
            ProcessState::Backoff => "BACKOFF",
            ProcessState::Stopping => "STOPPING",
            ProcessState::Exited => "EXITED",
            ProcessState::Fatal => "FATAL",
            ProcessState::Unknown => "UNKNOWN",
        }
    }

    /// True for the states in which the process has a pid.
    pub fn is_alive(self) -> bool {
        matches!(
            self,
            ProcessState::Starting | ProcessState::Running | ProcessState::Stopping
        )
    }
}

impl std::fmt::Display for ProcessState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Content of `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusContent {
    pub processes: Vec<ProcessInfo>,
    /// Why the config file on disk was refused at the last reload (one
    /// line per error, with file, line and key); empty once a good version
    /// is loaded. The config in force is the last good one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_errors: Vec<String>,
    /// What an operator must look at about the daemon itself: requests
    /// taskmasterd refused from the broker (each one is a bug or an attack),
    /// or the broker running as a fallback user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One process as `status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// `web` or `web:3`.
    pub name: String,
    pub program: String,
    pub group: String,
    pub state: ProcessState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Seconds since the process was started, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    /// How it ended last time, e.g. "exit status 1" or "terminated by SIGKILL".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<String>,
    /// Why the last spawn failed, e.g. "cannot execute 'x': No such file or directory".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn_error: Option<String>,
    /// supervisorctl's description column: "pid 4121, uptime 0:03:10",
    /// "Exited too quickly (process log may have details)", "Nov 25 03:10 PM".
    pub description: String,
    /// The command line, for `%?substring` job specs.
    pub command: String,
    /// When the process last changed state, in milliseconds since the Unix
    /// epoch (0 if never): `%+` and `%-` job specs pick by it.
    #[serde(default)]
    pub changed_ms: u64,
    /// Why the process's output is not reaching its log file right now
    /// (full disk, unwritable directory), with the bytes dropped so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_error: Option<String>,
    /// `ready`, `health` and `waiting_for`.
    #[serde(flatten)]
    pub readiness: ReadinessInfo,
    /// Bytes of output per logged stream since the daemon started,
    /// counted across the process's restarts (for `/metrics`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<OutputCount>,
}

impl ProcessInfo {
    /// A process with its names and state and every other field empty:
    /// where one is made up field by field.
    pub fn new(
        name: impl Into<String>,
        program: impl Into<String>,
        group: impl Into<String>,
        state: ProcessState,
    ) -> ProcessInfo {
        ProcessInfo {
            name: name.into(),
            program: program.into(),
            group: group.into(),
            state,
            pid: None,
            uptime_secs: None,
            exit: None,
            spawn_error: None,
            description: String::new(),
            command: String::new(),
            changed_ms: 0,
            output_error: None,
            readiness: ReadinessInfo::default(),
            output: Vec::new(),
        }
    }
}

/// A field of [`ProcessInfo`] on the wire, for a `status` request that
/// asks for only some (`"fields": ["name", "state", "description"]`): a
/// client that prints three columns has the daemon write, and itself
/// read, 70 bytes a process instead of 190. The four of
/// [`ReadinessInfo`] are fields of the process on the wire, so here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusField {
    Name,
    Program,
    Group,
    State,
    Pid,
    UptimeSecs,
    Exit,
    SpawnError,
    Description,
    Command,
    ChangedMs,
    OutputError,
    Ready,
    Health,
    WaitingFor,
    NotifyStatus,
    Output,
}

/// What `status` says of a process's readiness, health and dependencies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadinessInfo {
    /// With a `ready` probe, while the process lives: whether it succeeded
    /// (`false` while STARTING, `true` once RUNNING).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// With a `healthcheck`, while RUNNING and once checked: `healthy` or
    /// `unhealthy (2/3: connection refused)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// Why a start is held back: `db is FATAL`, `db is STARTING`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<String>,
    /// The last `STATUS=` a `notify` program sent, while it lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_status: Option<String>,
}

/// What one stream of a process has logged and lost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputCount {
    /// `stdout` or `stderr`.
    pub stream: String,
    /// Bytes that reached the log file (timestamps included).
    pub written_bytes: u64,
    /// Bytes the program wrote that could not be logged (a full disk, an
    /// unwritable directory).
    pub dropped_bytes: u64,
}

/// Content of `start`, `stop`, `restart` and `signal`: one result per process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionContent {
    pub results: Vec<ActionResult>,
    /// For `reload`: what the new config changed, as `reread` prints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The processes a wildcard (`all`, `group:*`) named but the caller
    /// may not act on, left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

/// A process left out of an action because of the caller's roles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub name: String,
    /// The rule that refused it, e.g. "not in admins or web's operators".
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionResult {
    pub name: String,
    pub ok: bool,
    /// The state the process was left in.
    pub state: ProcessState,
    /// supervisorctl's word: "started", "stopped", "signalled",
    /// "already started", "not running", "abnormal termination", "spawn error"...
    pub message: String,
}

/// Content of `pid`: the daemon's pid, or one line per named process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PidContent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<i32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<ProcessPid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessPid {
    pub name: String,
    /// 0 when the process is not running (supervisorctl prints 0 too).
    pub pid: i32,
}

/// Content of `avail`: every configured program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailContent {
    pub programs: Vec<AvailProgram>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AvailProgram {
    pub name: String,
    pub group: String,
    pub numprocs: u32,
    pub autostart: bool,
    pub priority: i32,
    /// "in use" in supervisorctl's words: the config in force has it.
    pub in_use: bool,
}

/// One line of the `events` stream, after its first reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Increases by one per event the daemon publishes; a gap means the
    /// client missed events (see `lagged`).
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    #[serde(flatten)]
    pub body: EventBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventBody {
    /// A process changed state.
    State {
        name: String,
        group: String,
        from: ProcessState,
        to: ProcessState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<i32>,
    },
    /// The client read too slowly and `missed` events were dropped for it.
    Lagged { missed: u64 },
    /// The config was reloaded (`ok`), or refused with `errors`.
    Reload {
        ok: bool,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        errors: Vec<String>,
    },
    /// A health check of a running process failed, or passed after failing:
    /// `health` as `status` shows it.
    Health {
        name: String,
        healthy: bool,
        health: String,
    },
}

impl EventBody {
    /// A process started again after it ended (EXITED) or failed to start
    /// (BACKOFF): what dashboards count as a restart. A start from STOPPED
    /// or FATAL is someone's request.
    pub fn is_restart(&self) -> bool {
        matches!(
            self,
            EventBody::State {
                from: ProcessState::Exited | ProcessState::Backoff,
                to: ProcessState::Starting,
                ..
            }
        )
    }
}

/// Content of `tail` and `maintail`: the end of a log file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TailContent {
    /// The process, for `tail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `stdout` or `stderr`, for `tail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// The log file read.
    pub path: String,
    /// Its last lines (at most the last MiB), invalid UTF-8 replaced by U+FFFD.
    pub text: String,
}

/// One line of a `tail` or `maintail` stream (`"follow": true`), after its
/// first reply: text appended to the file, or how much was skipped because
/// the client read too slowly.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TailChunk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_bytes: Option<u64>,
}

/// Content of `stdin`: how many bytes of `data` the process's stdin pipe
/// took (all of them on success; fewer with the 503 `stdin_full` error).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StdinContent {
    pub written: u64,
    /// The request closed the process's stdin.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub closed: bool,
}

/// Content of `version`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionContent {
    /// taskmaster's version, e.g. "0.1.0".
    pub version: String,
    pub protocol: u32,
}

/// Content of `why`: what happened to one process, oldest first, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhyContent {
    pub name: String,
    pub state: ProcessState,
    /// The last transitions (the daemon keeps 100 per process).
    pub transitions: Vec<Transition>,
    /// The log whose tail explains the most: `stderr`, or `stdout` when
    /// stderr is redirected to it (a client reads it with `tail`).
    pub stream: String,
    /// What to do now, for a FATAL process: "fix the command at
    /// taskmaster.conf.toml:14, then `taskmasterctl start api`".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<String>,
}

/// One change of state, with when and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub from: ProcessState,
    pub to: ProcessState,
    pub cause: Cause,
    /// With BACKOFF, FATAL and a retry: the retry count and the wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryInfo>,
    /// The cause and retry in words, as `taskmasterctl why` prints them.
    pub text: String,
}

/// Where a process stands in its retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryInfo {
    /// Failed starts so far (or crashes within `backoff_reset`).
    pub attempt: u32,
    /// How many attempts it gets (`1 + startretries`); `None`: infinite,
    /// or a crash loop (which never goes FATAL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub of: Option<u32>,
    /// The wait before the next attempt, or the one just waited.
    pub wait_ms: u64,
}

/// Why a process changed state. New causes are added as variants; a
/// client reads one it does not know as [`Cause::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cause {
    /// A client asked (`start`, `stop`, `restart`), from the peer
    /// credentials of its connection.
    Request {
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<i32>,
    },
    /// `autostart` when the daemon started.
    Autostart,
    /// An operator's intent kept in the state directory, applied at start.
    Intent {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        uid: Option<u32>,
    },
    /// Stopping everything: a shutdown, `shutdown_on_fatal`...
    Shutdown { reason: String },
    /// A reload changed or removed the program.
    Reload { reason: String },
    /// It could not be executed.
    ExecError { error: String },
    /// It exited before `startsecs`.
    EarlyExit {
        exit: String,
        uptime_ms: u64,
        startsecs_ms: u64,
    },
    /// It stayed up `startsecs`.
    StayedUp { startsecs_ms: u64 },
    /// A retry after BACKOFF.
    Retry,
    /// It exited while RUNNING.
    Exited { exit: String, expected: bool },
    /// `autorestart` restarted it after an exit.
    Autorestart { exit: String },
    /// It ended after a stop; `killed` when it took SIGKILL.
    Stopped { exit: String, killed: bool },
    /// An exit arrived for a process the daemon did not think was alive.
    Unexplained { exit: String },
    /// Its health check failed `failures` times in a row (`probe`:
    /// "healthcheck") or its watchdog ran out (`probe`: "watchdog"), and
    /// `healthcheck.action` did `action`: "restart" or "stop".
    Unhealthy {
        probe: String,
        failures: u32,
        error: String,
        action: String,
    },
    /// A start held by `depends_on`: `on` names the dependency and its
    /// state ("db is STARTING"). The state does not change: `from` and
    /// `to` are the same.
    Waiting { on: String },
    /// A held start went ahead: every one of `dependencies` runs. `cause`
    /// is why it was started (none for a held restart, whose own
    /// transition came before).
    Released {
        dependencies: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<Box<Cause>>,
    },
    /// `command` ("stop" or "restart") of `dependency`, which this
    /// program depends on, took it down too.
    Dependency { dependency: String, command: String },
    /// Its `ready` probe did not succeed within `ready_timeout`: killed,
    /// and counted as a failed attempt.
    NotReady { timeout_ms: u64 },
    /// Started because `by`, which depends on it, was to start.
    Needed { by: String },
    /// A cause this client does not know yet.
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_reply_round_trips() {
        let mut reply = Response::error(404, "no_such_process", "no such process: 'x'");
        reply.id = Some(Value::from(3));
        let line = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            line,
            r#"{"id":3,"status":404,"error":{"code":"no_such_process","message":"no such process: 'x'"}}"#
        );
        let back: Response = serde_json::from_str(&line).unwrap();
        assert_eq!(serde_json::to_string(&back).unwrap(), line);
        assert_eq!(
            back.into_content::<StatusContent>().unwrap_err().code,
            "no_such_process"
        );
    }

    #[test]
    fn an_error_about_a_process_names_it_in_fields() {
        let reply = Response::error(409, "not_running", "web is not running (EXITED)")
            .about("web", Some(ProcessState::Exited));
        let line = serde_json::to_string(&reply).unwrap();
        assert_eq!(
            line,
            r#"{"status":409,"error":{"code":"not_running","message":"web is not running (EXITED)","name":"web","state":"EXITED"}}"#
        );
        let error = serde_json::from_str::<Response>(&line)
            .unwrap()
            .error
            .unwrap();
        assert_eq!(error.name.as_deref(), Some("web"));
        assert_eq!(error.state, Some(ProcessState::Exited));
        // A reply from a daemon that names nothing still reads.
        let old: ErrorBody = serde_json::from_str(r#"{"code":"c","message":"m"}"#).unwrap();
        assert_eq!(old, ErrorBody::new("c", "m"));
    }

    #[test]
    fn typed_reply_reads_content_and_errors() {
        let ok: Reply<VersionContent> =
            serde_json::from_str(r#"{"status":200,"content":{"version":"1.2.3","protocol":1}}"#)
                .unwrap();
        assert_eq!(ok.content.unwrap().version, "1.2.3");
        let refused: Reply<VersionContent> = serde_json::from_str(
            r#"{"id":4,"status":404,"error":{"code":"no_such_process","message":"m"}}"#,
        )
        .unwrap();
        assert_eq!((refused.status, refused.content), (404, None));
        assert_eq!(refused.error.unwrap().code, "no_such_process");
    }

    #[test]
    fn states_serialize_as_supervisord_names() {
        let text = serde_json::to_string(&ProcessState::Backoff).unwrap();
        assert_eq!(text, r#""BACKOFF""#);
        assert_eq!(format!("{:<9}|", ProcessState::Running), "RUNNING  |");
    }

    #[test]
    fn causes_are_tagged_and_unknown_ones_still_read() {
        let cause = Cause::Request {
            command: "stop".into(),
            uid: Some(1000),
            pid: Some(42),
        };
        let text = serde_json::to_string(&cause).unwrap();
        assert_eq!(
            text,
            r#"{"kind":"request","command":"stop","uid":1000,"pid":42}"#
        );
        let future: Cause = serde_json::from_str(r#"{"kind":"health_check","probe":"x"}"#).unwrap();
        assert_eq!(future, Cause::Other);
    }
}
