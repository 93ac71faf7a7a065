//! supervisord's XML-RPC methods, each translated to requests of our NDJSON
//! protocol through the protocol crate's client (one connection per call).

use crate::faults::{
    self, Fault, ALREADY_ADDED, BAD_ARGUMENTS, BAD_NAME, FAILED, INCORRECT_PARAMETERS,
    STILL_RUNNING, SUCCESS, UNKNOWN_METHOD,
};
use crate::logs;
use crate::names::{self, Entry, Found};
use crate::xml::Value;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};
use taskmaster_protocol::{
    Action, ActionContent, ActionResult, AvailContent, Client, Command, PidContent, ProcessState,
    Reading, Request, Selection, StatusContent, TailContent, VersionContent,
};

/// The API version supervisorctl checks (`supervisor.getVersion`).
const API_VERSION: &str = "3.0";

/// Every method: name, signature (return type first) and help.
pub const METHODS: &[(&str, &[&str], &str)] = &[
    ("supervisor.addProcessGroup", &["boolean", "string"], "Apply the config's change to the program or group NAME that reloadConfig reported as added or changed."),
    ("supervisor.clearAllProcessLogs", &["array"], "Clear the stdout and stderr logs of every process."),
    ("supervisor.clearLog", &["boolean"], "Clear taskmasterd's activity log."),
    ("supervisor.clearProcessLogs", &["boolean", "string"], "Clear the stdout and stderr logs of the process NAME."),
    ("supervisor.getAPIVersion", &["string"], "The version of supervisord's API this bridge speaks."),
    ("supervisor.getAllConfigInfo", &["array"], "Every configured process, with its group, priority and autostart."),
    ("supervisor.getAllProcessInfo", &["array"], "The state of every process."),
    ("supervisor.getIdentification", &["string"], "The identification string (\"supervisor\")."),
    ("supervisor.getPID", &["int"], "The pid of taskmasterd."),
    ("supervisor.getProcessInfo", &["struct", "string"], "The state of the process NAME."),
    ("supervisor.getState", &["struct"], "The state of taskmasterd: statecode and statename."),
    ("supervisor.getSupervisorVersion", &["string"], "taskmaster's version."),
    ("supervisor.getVersion", &["string"], "The API version (deprecated name of getAPIVersion)."),
    ("supervisor.readLog", &["string", "int", "int"], "Read LENGTH bytes of the activity log from OFFSET (negative: from the end)."),
    ("supervisor.readMainLog", &["string", "int", "int"], "Alias of readLog."),
    ("supervisor.readProcessLog", &["string", "string", "int", "int"], "Alias of readProcessStdoutLog."),
    ("supervisor.readProcessStderrLog", &["string", "string", "int", "int"], "Read LENGTH bytes of NAME's stderr log from OFFSET (negative: from the end)."),
    ("supervisor.readProcessStdoutLog", &["string", "string", "int", "int"], "Read LENGTH bytes of NAME's stdout log from OFFSET (negative: from the end)."),
    ("supervisor.reloadConfig", &["array"], "Read the config file again: [[added, changed, removed]]; nothing is applied."),
    ("supervisor.removeProcessGroup", &["boolean", "string"], "Remove the stopped program or group NAME that reloadConfig reported as removed."),
    ("supervisor.restart", &["boolean"], "Reload the config and restart every process."),
    ("supervisor.sendProcessStdin", &["boolean", "string", "string"], "Write CHARS to the stdin of the process NAME."),
    ("supervisor.shutdown", &["boolean"], "Stop every process and taskmasterd."),
    ("supervisor.signalAllProcesses", &["array", "string"], "Send SIGNAL to every running process."),
    ("supervisor.signalProcess", &["boolean", "string", "string"], "Send SIGNAL (name or number) to the process NAME."),
    ("supervisor.signalProcessGroup", &["array", "string", "string"], "Send SIGNAL to every running process of the group NAME."),
    ("supervisor.startAllProcesses", &["array", "boolean"], "Start every process not running; WAIT (default true) until each has started."),
    ("supervisor.startProcess", &["boolean", "string", "boolean"], "Start the process NAME (group:name, group:*); WAIT (default true) until it has started."),
    ("supervisor.startProcessGroup", &["array", "string", "boolean"], "Start every process of the group NAME not running."),
    ("supervisor.stopAllProcesses", &["array", "boolean"], "Stop every running process."),
    ("supervisor.stopProcess", &["boolean", "string", "boolean"], "Stop the process NAME; WAIT (default true) until it has stopped."),
    ("supervisor.stopProcessGroup", &["array", "string", "boolean"], "Stop every running process of the group NAME."),
    ("supervisor.tailProcessLog", &["array", "string", "int", "int"], "Alias of tailProcessStdoutLog."),
    ("supervisor.tailProcessStderrLog", &["array", "string", "int", "int"], "[text, offset, overflow]: at most LENGTH bytes of NAME's stderr log appended since OFFSET."),
    ("supervisor.tailProcessStdoutLog", &["array", "string", "int", "int"], "[text, offset, overflow]: at most LENGTH bytes of NAME's stdout log appended since OFFSET."),
    ("system.listMethods", &["array"], "The names of every method."),
    ("system.methodHelp", &["string", "string"], "What the method NAME does."),
    ("system.methodSignature", &["array", "string"], "The signature of the method NAME: [[return type, parameter types...]]."),
    ("system.multicall", &["array", "array"], "Run several calls ([{methodName, params}]) in one request; each result is [value] or a fault struct."),
];

/// What the last `reloadConfig` found, so that the `addProcessGroup` and
/// `removeProcessGroup` calls supervisorctl's `update` makes after it can
/// be answered: taskmasterd applies a whole config at once (`update`), the
/// first of those calls applies it, and the others find it done.
#[derive(Debug, Default)]
struct Pending {
    added: Vec<String>,
    changed: Vec<String>,
    removed: Vec<String>,
    applied: bool,
}

pub struct Bridge {
    socket: PathBuf,
    pending: Mutex<Pending>,
}

fn int(n: impl TryInto<i64>) -> Value {
    Value::Int(n.try_into().unwrap_or(i64::MAX))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// supervisord's state code.
pub fn state_code(state: ProcessState) -> i64 {
    match state {
        ProcessState::Stopped => 0,
        ProcessState::Starting => 10,
        ProcessState::Running => 20,
        ProcessState::Backoff => 30,
        ProcessState::Stopping => 40,
        ProcessState::Exited => 100,
        ProcessState::Fatal => 200,
        ProcessState::Unknown => 1000,
    }
}

/// getProcessInfo's struct for one process.
fn process_info(entry: &Entry, now: i64) -> Value {
    let info = &entry.info;
    let changed = (info.changed_ms / 1000) as i64;
    let start = match info.uptime_secs {
        Some(up) => now - up as i64,
        None if info.state.is_alive() => changed,
        None => 0,
    };
    let exitstatus = info
        .exit
        .as_deref()
        .and_then(|e| e.strip_prefix("exit status "))
        .and_then(|n| n.parse::<i64>().ok())
        .unwrap_or(0);
    Value::fields([
        ("name", Value::str(&entry.name)),
        ("group", Value::str(&info.group)),
        ("description", Value::str(&info.description)),
        ("start", int(start)),
        ("stop", int(if info.state.is_alive() { 0 } else { changed })),
        ("now", int(now)),
        ("state", int(state_code(info.state))),
        ("statename", Value::str(info.state.as_str())),
        (
            "spawnerr",
            Value::str(info.spawn_error.as_deref().unwrap_or("")),
        ),
        ("exitstatus", int(exitstatus)),
        ("logfile", Value::str("")),
        ("stdout_logfile", Value::str("")),
        ("stderr_logfile", Value::str("")),
        ("pid", int(info.pid.unwrap_or(0))),
    ])
}

/// Parameter `i` as a string.
fn text(params: &[Value], i: usize) -> Result<&str, Fault> {
    match params.get(i) {
        Some(Value::Str(s)) => Ok(s),
        Some(_) => Err(Fault::new(
            INCORRECT_PARAMETERS,
            format!("parameter {} must be a string", i + 1),
        )),
        None => Err(Fault::new(
            INCORRECT_PARAMETERS,
            format!("missing parameter {}", i + 1),
        )),
    }
}

/// Parameter `i` as an integer.
fn number(params: &[Value], i: usize) -> Result<i64, Fault> {
    match params.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        _ => Err(Fault::new(
            INCORRECT_PARAMETERS,
            format!("parameter {} must be an integer", i + 1),
        )),
    }
}

/// Optional boolean parameter `i` (`wait`), true when absent.
fn flag(params: &[Value], i: usize) -> Result<bool, Fault> {
    match params.get(i) {
        None => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::Int(n)) => Ok(*n != 0),
        Some(_) => Err(Fault::new(
            INCORRECT_PARAMETERS,
            format!("parameter {} must be a boolean", i + 1),
        )),
    }
}

/// A signal parameter: a name or a number, as taskmasterd reads it.
fn signal(params: &[Value], i: usize) -> Result<serde_json::Value, Fault> {
    match params.get(i) {
        Some(Value::Str(s)) => Ok(json!(s)),
        Some(Value::Int(n)) => Ok(json!(n)),
        _ => Err(Fault::new(
            INCORRECT_PARAMETERS,
            format!("parameter {} must be a signal name or number", i + 1),
        )),
    }
}

#[derive(Clone, Copy)]
enum Act {
    Start,
    Stop,
}

impl Bridge {
    pub fn new(socket: PathBuf) -> Bridge {
        Bridge {
            socket,
            pending: Mutex::new(Pending::default()),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Sends one request to taskmasterd and decodes its content.
    fn ask<T: for<'de> serde::Deserialize<'de>>(&self, command: Command) -> Result<T, Fault> {
        let mut client = Client::connect(&self.socket).map_err(|e| Fault::new(FAILED, e))?;
        let response = client
            .request(&Request::new(command))
            .map_err(|e| Fault::new(FAILED, format!("taskmasterd: {e}")))?;
        response
            .into_content()
            .map_err(|error| Fault::from_error(&error))
    }

    fn table(&self) -> Result<Vec<Entry>, Fault> {
        let status: StatusContent = self.ask(Command::status(Selection::default()))?;
        Ok(status.processes.into_iter().map(Entry::new).collect())
    }

    /// Runs one call; `system.multicall` runs its calls through here too.
    pub fn call(&self, method: &str, params: &[Value]) -> Result<Value, Fault> {
        let p = params;
        match method {
            "supervisor.getAPIVersion" | "supervisor.getVersion" => Ok(Value::str(API_VERSION)),
            "supervisor.getSupervisorVersion" => {
                let version: VersionContent = self.ask(Command::Version)?;
                Ok(Value::str(version.version))
            }
            "supervisor.getIdentification" => Ok(Value::str("supervisor")),
            "supervisor.getState" => {
                self.ask::<VersionContent>(Command::Version)?;
                Ok(Value::fields([
                    ("statecode", Value::Int(1)),
                    ("statename", Value::str("RUNNING")),
                ]))
            }
            "supervisor.getPID" => {
                let pid: PidContent = self.ask(Command::Pid(Selection::default()))?;
                Ok(int(pid.daemon.unwrap_or(0)))
            }
            "supervisor.readLog" | "supervisor.readMainLog" => {
                let path = self.main_log()?;
                Ok(Value::Str(logs::read(&path, number(p, 0)?, number(p, 1)?)?))
            }
            "supervisor.clearLog" => {
                let path = self.main_log()?;
                std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&path)
                    .map_err(|e| {
                        Fault::new(FAILED, format!("cannot clear {}: {e}", path.display()))
                    })?;
                Ok(Value::Bool(true))
            }
            "supervisor.shutdown" => {
                self.ask::<serde_json::Value>(Command::Shutdown)?;
                Ok(Value::Bool(true))
            }
            "supervisor.restart" => {
                self.ask::<serde_json::Value>(Command::Reload)?;
                self.ask::<ActionContent>(Command::Restart(Action {
                    wait: Some(false),
                    ..Action::from(Selection::default())
                }))?;
                Ok(Value::Bool(true))
            }
            "supervisor.getAllProcessInfo" => {
                let now = now();
                let table = self.table()?;
                Ok(Value::Array(
                    table.iter().map(|e| process_info(e, now)).collect(),
                ))
            }
            "supervisor.getProcessInfo" => {
                let table = self.table()?;
                Ok(process_info(names::one(&table, text(p, 0)?)?, now()))
            }
            "supervisor.startProcess" => self.act_on(Act::Start, text(p, 0)?, flag(p, 1)?),
            "supervisor.stopProcess" => self.act_on(Act::Stop, text(p, 0)?, flag(p, 1)?),
            "supervisor.startProcessGroup" => {
                self.act_on_group(Act::Start, text(p, 0)?, flag(p, 1)?)
            }
            "supervisor.stopProcessGroup" => self.act_on_group(Act::Stop, text(p, 0)?, flag(p, 1)?),
            "supervisor.startAllProcesses" => {
                self.act_all(Act::Start, Selection::one("all"), flag(p, 0)?)
            }
            "supervisor.stopAllProcesses" => {
                self.act_all(Act::Stop, Selection::one("all"), flag(p, 0)?)
            }
            "supervisor.signalProcess" => {
                let table = self.table()?;
                let spec = text(p, 0)?;
                let sig = signal(p, 1)?;
                match names::resolve(&table, spec)? {
                    Found::Group(group) => {
                        self.signal(&table, sig, Selection::one(format!("{group}:*")))
                    }
                    Found::Process(entry) => self.single(
                        &table,
                        Command::Signal {
                            signal: Some(sig),
                            selection: Selection::one(entry.info.name.clone()),
                        },
                    ),
                }
            }
            "supervisor.signalProcessGroup" => {
                let table = self.table()?;
                let group = text(p, 0)?;
                if !table.iter().any(|e| e.info.group == group) {
                    return Err(Fault::new(BAD_NAME, group));
                }
                self.signal(&table, signal(p, 1)?, Selection::one(format!("{group}:*")))
            }
            "supervisor.signalAllProcesses" => {
                let table = self.table()?;
                self.signal(&table, signal(p, 0)?, Selection::one("all"))
            }
            "supervisor.sendProcessStdin" => {
                let table = self.table()?;
                let entry = names::one(&table, text(p, 0)?)?;
                self.ask::<serde_json::Value>(Command::Stdin {
                    selection: Selection::one(entry.info.name.clone()),
                    data: Some(text(p, 1)?.to_owned()),
                    close: None,
                })?;
                Ok(Value::Bool(true))
            }
            "supervisor.readProcessStdoutLog" | "supervisor.readProcessLog" => {
                let path = self.process_log(text(p, 0)?, "stdout")?;
                Ok(Value::Str(logs::read(&path, number(p, 1)?, number(p, 2)?)?))
            }
            "supervisor.readProcessStderrLog" => {
                let path = self.process_log(text(p, 0)?, "stderr")?;
                Ok(Value::Str(logs::read(&path, number(p, 1)?, number(p, 2)?)?))
            }
            "supervisor.tailProcessStdoutLog" | "supervisor.tailProcessLog" => {
                self.tail(text(p, 0)?, "stdout", number(p, 1)?, number(p, 2)?)
            }
            "supervisor.tailProcessStderrLog" => {
                self.tail(text(p, 0)?, "stderr", number(p, 1)?, number(p, 2)?)
            }
            "supervisor.clearProcessLogs" => {
                let table = self.table()?;
                let entry = names::one(&table, text(p, 0)?)?;
                let content: ActionContent =
                    self.ask(Command::Clear(Selection::one(entry.info.name.clone())))?;
                match content.results.first() {
                    Some(result) if !result.ok => Err(Fault::new(FAILED, &result.message)),
                    _ => Ok(Value::Bool(true)),
                }
            }
            "supervisor.clearAllProcessLogs" => {
                let table = self.table()?;
                let content: ActionContent = self.ask(Command::Clear(Selection::one("all")))?;
                Ok(results(&table, &content.results))
            }
            "supervisor.reloadConfig" => self.reload_config(),
            "supervisor.addProcessGroup" => self.add_group(text(p, 0)?),
            "supervisor.removeProcessGroup" => self.remove_group(text(p, 0)?),
            "supervisor.getAllConfigInfo" => self.config_info(),
            "system.listMethods" => Ok(Value::Array(
                METHODS.iter().map(|(name, ..)| Value::str(*name)).collect(),
            )),
            "system.methodHelp" => {
                let (_, _, help) = describe(text(p, 0)?)?;
                Ok(Value::str(*help))
            }
            "system.methodSignature" => {
                let (_, signature, _) = describe(text(p, 0)?)?;
                Ok(Value::Array(vec![Value::Array(
                    signature.iter().map(|t| Value::str(*t)).collect(),
                )]))
            }
            "system.multicall" => self.multicall(p),
            _ => Err(Fault::new(UNKNOWN_METHOD, method)),
        }
    }

    fn multicall(&self, params: &[Value]) -> Result<Value, Fault> {
        let Some(Value::Array(calls)) = params.first() else {
            return Err(Fault::new(
                INCORRECT_PARAMETERS,
                "system.multicall takes an array of {methodName, params}",
            ));
        };
        let results = calls
            .iter()
            .map(|call| {
                let result = match (call.member("methodName"), call.member("params")) {
                    (Some(Value::Str(name)), _) if name == "system.multicall" => Err(Fault::new(
                        INCORRECT_PARAMETERS,
                        "system.multicall cannot be nested",
                    )),
                    (Some(Value::Str(name)), Some(Value::Array(params))) => self.call(name, params),
                    (Some(Value::Str(name)), None) => self.call(name, &[]),
                    _ => Err(Fault::new(
                        INCORRECT_PARAMETERS,
                        "each call needs a methodName and an array of params",
                    )),
                };
                match result {
                    Ok(value) => Value::Array(vec![value]),
                    Err(fault) => Value::fields([
                        ("faultCode", Value::Int(fault.code)),
                        ("faultString", Value::Str(fault.message)),
                    ]),
                }
            })
            .collect();
        Ok(Value::Array(results))
    }

    fn main_log(&self) -> Result<PathBuf, Fault> {
        let content: TailContent = self.ask(Command::Maintail(Reading {
            lines: Some(0),
            follow: None,
        }))?;
        Ok(PathBuf::from(content.path))
    }

    /// Our name of the one process supervisord's `spec` names.
    pub fn ours(&self, spec: &str) -> Result<String, Fault> {
        let table = self.table()?;
        Ok(names::one(&table, spec)?.info.name.clone())
    }

    /// The log file of one process, named by taskmasterd's `tail`.
    fn process_log(&self, spec: &str, stream: &str) -> Result<PathBuf, Fault> {
        let content: TailContent = self.ask(Command::Tail {
            selection: Selection::one(self.ours(spec)?),
            stream: Some(stream.to_owned()),
            reading: Reading {
                lines: Some(0),
                follow: None,
            },
        })?;
        Ok(PathBuf::from(content.path))
    }

    fn tail(&self, spec: &str, stream: &str, offset: i64, length: i64) -> Result<Value, Fault> {
        let path = self.process_log(spec, stream)?;
        let (text, offset, overflow) = logs::tail(&path, offset, length)?;
        Ok(Value::Array(vec![
            Value::Str(text),
            Value::Int(offset),
            Value::Bool(overflow),
        ]))
    }

    fn action(act: Act, selection: Selection, wait: bool) -> Command {
        let action = Action {
            wait: Some(wait),
            ..Action::from(selection)
        };
        match act {
            Act::Start => Command::Start(action),
            Act::Stop => Command::Stop(action),
        }
    }

    /// startProcess, stopProcess: `true`, or the fault of the one result.
    fn act_on(&self, act: Act, spec: &str, wait: bool) -> Result<Value, Fault> {
        let table = self.table()?;
        match names::resolve(&table, spec)? {
            Found::Group(group) => self.act_all(act, Selection::one(format!("{group}:*")), wait),
            Found::Process(entry) => self.single(
                &table,
                Bridge::action(act, Selection::one(entry.info.name.clone()), wait),
            ),
        }
    }

    fn act_on_group(&self, act: Act, group: &str, wait: bool) -> Result<Value, Fault> {
        let table = self.table()?;
        if !table.iter().any(|e| e.info.group == group) {
            let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            if pending.applied && pending.removed.iter().any(|n| n == group) {
                // Removed by the update an earlier call of supervisorctl's
                // `update` applied: nothing left to stop.
                return Ok(Value::Array(Vec::new()));
            }
            return Err(Fault::new(BAD_NAME, group));
        }
        self.act_all(act, Selection::one(format!("{group}:*")), wait)
    }

    /// A wildcard action: one result struct per process acted on.
    fn act_all(&self, act: Act, selection: Selection, wait: bool) -> Result<Value, Fault> {
        let table = self.table()?;
        let content: ActionContent = self.ask(Bridge::action(act, selection, wait))?;
        Ok(results(&table, &content.results))
    }

    fn signal(
        &self,
        table: &[Entry],
        signal: serde_json::Value,
        selection: Selection,
    ) -> Result<Value, Fault> {
        let content: ActionContent = self.ask(Command::Signal {
            signal: Some(signal),
            selection,
        })?;
        // supervisord signals the running processes of a group and says
        // nothing of the others.
        let running: Vec<ActionResult> = content
            .results
            .into_iter()
            .filter(|r| r.ok || r.message != "not running")
            .collect();
        Ok(results(table, &running))
    }

    /// A request about one process: `true`, or its result as a fault.
    fn single(&self, table: &[Entry], command: Command) -> Result<Value, Fault> {
        let content: ActionContent = self.ask(command)?;
        match content.results.first() {
            Some(result) if !result.ok => {
                let spec = names::by_ours(table, &result.name)
                    .map_or(result.name.clone(), Entry::namespec);
                Err(Fault::new(
                    faults::code_of_result(false, &result.message),
                    spec,
                ))
            }
            _ => Ok(Value::Bool(true)),
        }
    }

    fn reload_config(&self) -> Result<Value, Fault> {
        let content: serde_json::Value = self.ask(Command::Reread)?;
        let plan = content["plan"].as_str().unwrap_or("");
        let mut pending = Pending::default();
        for line in plan.lines() {
            // "web: added", "web: changed (command)", "web: removed".
            let Some((name, change)) = line.split_once(": ") else {
                continue;
            };
            if name.starts_with('[') {
                continue;
            }
            let list = if change.starts_with("added") {
                &mut pending.added
            } else if change.starts_with("changed") {
                &mut pending.changed
            } else if change.starts_with("removed") {
                &mut pending.removed
            } else {
                continue;
            };
            list.push(name.to_owned());
        }
        let strings = |names: &[String]| Value::Array(names.iter().map(Value::str).collect());
        let value = Value::Array(vec![Value::Array(vec![
            strings(&pending.added),
            strings(&pending.changed),
            strings(&pending.removed),
        ])]);
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = pending;
        Ok(value)
    }

    /// Applies the config read by the last reloadConfig, once.
    fn apply(&self, pending: &mut Pending) -> Result<(), Fault> {
        if !pending.applied {
            self.ask::<serde_json::Value>(Command::Update)?;
            pending.applied = true;
        }
        Ok(())
    }

    fn add_group(&self, name: &str) -> Result<Value, Fault> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let known = pending
            .added
            .iter()
            .chain(&pending.changed)
            .any(|n| n == name);
        if !known {
            let table = self.table()?;
            let exists = table
                .iter()
                .any(|e| e.info.group == name || e.info.program == name);
            return Err(if exists {
                Fault::new(ALREADY_ADDED, name)
            } else {
                Fault::new(BAD_NAME, name)
            });
        }
        if pending.applied {
            // Applied by an earlier call of the same update: a stop made
            // since (supervisorctl stops a changed group before it adds it
            // back) is undone, as a fresh add would start it.
            let avail: AvailContent = self.ask(Command::Avail)?;
            if avail.programs.iter().any(|p| p.name == name && p.autostart) {
                self.ask::<ActionContent>(Bridge::action(
                    Act::Start,
                    Selection::one(format!("{name}:*")),
                    false,
                ))?;
            }
        } else {
            self.apply(&mut pending)?;
        }
        Ok(Value::Bool(true))
    }

    fn remove_group(&self, name: &str) -> Result<Value, Fault> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        if pending.changed.iter().any(|n| n == name) {
            // Its addProcessGroup follows and applies the change.
            return Ok(Value::Bool(true));
        }
        if !pending.removed.iter().any(|n| n == name) {
            return Err(Fault::new(BAD_NAME, name));
        }
        if !pending.applied {
            let table = self.table()?;
            let running = table.iter().any(|e| {
                (e.info.group == name || e.info.program == name) && e.info.state.is_alive()
            });
            if running {
                return Err(Fault::new(STILL_RUNNING, name));
            }
            self.apply(&mut pending)?;
        }
        Ok(Value::Bool(true))
    }

    fn config_info(&self) -> Result<Value, Fault> {
        let avail: AvailContent = self.ask(Command::Avail)?;
        let table = self.table()?;
        let mut infos = Vec::new();
        for program in &avail.programs {
            let entries: Vec<&Entry> = table
                .iter()
                .filter(|e| e.info.program == program.name)
                .collect();
            let info = |name: &str, group: &str, inuse: bool, command: &str| {
                Value::fields([
                    ("name", Value::str(name)),
                    ("group", Value::str(group)),
                    ("inuse", Value::Bool(inuse)),
                    ("autostart", Value::Bool(program.autostart)),
                    ("group_prio", int(program.priority)),
                    ("process_prio", int(program.priority)),
                    ("command", Value::str(command)),
                ])
            };
            if entries.is_empty() {
                infos.push(info(&program.name, &program.group, false, ""));
            }
            for entry in entries {
                infos.push(info(
                    &entry.name,
                    &entry.info.group,
                    program.in_use,
                    &entry.info.command,
                ));
            }
        }
        Ok(Value::Array(infos))
    }
}

fn describe(
    name: &str,
) -> Result<&'static (&'static str, &'static [&'static str], &'static str), Fault> {
    METHODS
        .iter()
        .find(|(n, ..)| *n == name)
        .ok_or_else(|| Fault::new(BAD_ARGUMENTS, format!("no such method: {name}")))
}

/// supervisord's result structs: name, group, status (a fault code,
/// SUCCESS when done) and description.
fn results(table: &[Entry], results: &[ActionResult]) -> Value {
    Value::Array(
        results
            .iter()
            .map(|result| {
                let (name, group) = match names::by_ours(table, &result.name) {
                    Some(entry) => (entry.name.clone(), entry.info.group.clone()),
                    None => (result.name.clone(), result.name.clone()),
                };
                let code = faults::code_of_result(result.ok, &result.message);
                let description = if code == SUCCESS {
                    "OK".to_owned()
                } else {
                    format!("{name}: {}", result.message)
                };
                Value::fields([
                    ("name", Value::Str(name)),
                    ("group", Value::Str(group)),
                    ("status", Value::Int(code)),
                    ("description", Value::Str(description)),
                ])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::{ALREADY_ADDED, STILL_RUNNING};
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::net::UnixListener;
    use std::sync::{Arc, Mutex};

    /// A fake taskmasterd: answers `status`, `reread`, `avail`, `update`
    /// and `start` from a shared state, and records each command with its
    /// names.
    struct Fake {
        states: Mutex<Vec<(&'static str, &'static str)>>,
        log: Mutex<Vec<String>>,
    }

    fn fake(states: &[(&'static str, &'static str)], plan: &'static str) -> (Bridge, Arc<Fake>) {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("xmlrpc-fake-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let shared = Arc::new(Fake {
            states: Mutex::new(states.to_vec()),
            log: Mutex::new(Vec::new()),
        });
        let fake = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut line = String::new();
                BufReader::new(&stream).read_line(&mut line).unwrap();
                let request: serde_json::Value = serde_json::from_str(&line).unwrap();
                let command = request["command"].as_str().unwrap().to_owned();
                fake.log.lock().unwrap().push(
                    format!("{command} {}", request["name"].as_str().unwrap_or(""))
                        .trim()
                        .to_owned(),
                );
                let states = fake.states.lock().unwrap().clone();
                let content = match command.as_str() {
                    "status" => json!({"processes": states.iter().map(|(name, state)| json!({
                        "name": name, "program": name, "group": name, "state": state,
                        "description": "", "command": "x"})).collect::<Vec<_>>()}),
                    "reread" => json!({ "plan": plan }),
                    "avail" => json!({"programs": states.iter().map(|(name, _)| json!({
                        "name": name, "group": name, "numprocs": 1, "autostart": true,
                        "priority": 999, "in_use": true})).collect::<Vec<_>>()}),
                    "start" => json!({ "results": [] }),
                    _ => json!({ "message": "ok" }),
                };
                let reply = json!({"status": 200, "content": content});
                (&stream)
                    .write_all(format!("{reply}\n").as_bytes())
                    .unwrap();
            }
        });
        (Bridge::new(path), shared)
    }

    fn strings(names: &[&str]) -> Value {
        Value::Array(names.iter().map(|n| Value::str(*n)).collect())
    }

    #[test]
    fn update_applies_the_config_once_and_answers_each_group() {
        let (bridge, fake) = fake(
            &[("old", "RUNNING"), ("older", "STOPPED"), ("web", "STOPPED"), ("idle", "STOPPED")],
            "extra: added\nidle: unchanged\nold: removed\nolder: removed\nweb: changed (args; restart)\n[taskmasterd]: changed (loglevel)",
        );
        let call = |method: &str, name: &str| bridge.call(method, &[Value::str(name)]);
        assert_eq!(
            bridge.call("supervisor.reloadConfig", &[]).unwrap(),
            Value::Array(vec![Value::Array(vec![
                strings(&["extra"]),
                strings(&["web"]),
                strings(&["old", "older"]),
            ])])
        );
        // supervisorctl stops a removed group first; still running, no.
        let fault = call("supervisor.removeProcessGroup", "old").unwrap_err();
        assert_eq!(fault.code, STILL_RUNNING);
        fake.states.lock().unwrap()[0].1 = "STOPPED";
        assert_eq!(
            call("supervisor.removeProcessGroup", "old"),
            Ok(Value::Bool(true))
        );
        // That applied the whole config: `older` went with it.
        fake.states
            .lock()
            .unwrap()
            .retain(|(name, _)| !name.starts_with("old"));
        let stop = call("supervisor.stopProcessGroup", "older");
        assert_eq!(stop, Ok(Value::Array(Vec::new())));
        assert_eq!(
            call("supervisor.removeProcessGroup", "older"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call("supervisor.stopProcessGroup", "nope")
                .unwrap_err()
                .code,
            BAD_NAME
        );
        // A changed group is removed then added: the config is applied
        // already, so the add starts it again, as a fresh add would.
        assert_eq!(
            call("supervisor.removeProcessGroup", "web"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call("supervisor.addProcessGroup", "web"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call("supervisor.addProcessGroup", "extra"),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            call("supervisor.addProcessGroup", "idle").unwrap_err().code,
            ALREADY_ADDED
        );
        assert_eq!(
            call("supervisor.addProcessGroup", "nope").unwrap_err().code,
            BAD_NAME
        );
        assert_eq!(
            call("supervisor.removeProcessGroup", "idle")
                .unwrap_err()
                .code,
            BAD_NAME
        );
        let log = fake.log.lock().unwrap().clone();
        assert_eq!(log.iter().filter(|c| *c == "update").count(), 1, "{log:?}");
        assert!(log.contains(&"start web:*".to_owned()), "{log:?}");
        let _ = std::fs::remove_file(bridge.socket());
    }

    #[test]
    fn state_codes_are_supervisords() {
        let codes: Vec<i64> = ProcessState::ALL.into_iter().map(state_code).collect();
        assert_eq!(codes, [0, 10, 20, 30, 40, 100, 200, 1000]);
    }
}
