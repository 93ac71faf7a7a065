//! Client requests: each command of the protocol, answered from the
//! process table, or turned into a job that answers once settled.

use super::authorize::report_skipped;
use super::status::Fields;
use super::{Core, Proc};
use crate::access::{self, Need};
use crate::capture;
use crate::jobs::Job;
use crate::server::ClientRequest;
use crate::targets::{self, NoSuchProcess, Selected};
use nix::errno::Errno;
use taskmaster_config::signals::{parse_signal, signal_from_number, SignalError};
use taskmaster_config::{Program, Stream};
use taskmaster_ipc::ToSupervisor;
use taskmaster_protocol::{
    Action, ActionContent, ActionResult, AvailContent, AvailProgram, Cause, Command, OutputCount,
    PidContent, ProcessPid, ProcessState, Response, Selection, StdinContent, TailContent, Target,
    VersionContent, WhyContent, COMMAND_NAMES, PROTOCOL_VERSION,
};

impl Core {
    /// Applies the caller's roles (`authorize.rs`), then answers.
    pub(super) fn on_request(&mut self, mut client: ClientRequest) {
        let scope = match self.authorize(&client.request, &client.peer) {
            Ok(scope) => scope,
            Err(refusal) => {
                if let Some(error) = &refusal.error {
                    self.log.warn(&format!("refused: {}", error.message));
                }
                let _ = client.reply.send(refusal);
                return;
            }
        };
        if !scope.skipped.is_empty() && access::need(&client.request.command) == Need::Operate {
            let names: Vec<&str> = scope.skipped.iter().map(|s| s.name.as_str()).collect();
            self.log.info(&format!(
                "{} by {}: skipped {} (roles)",
                client.request.command.name(),
                client.peer.describe(),
                names.join(", ")
            ));
            client.reply = report_skipped(client.reply, scope.skipped);
        }
        // `select` reads the scope; it holds for this request only.
        self.scope = scope.allowed;
        self.answer(client);
        self.scope = None;
    }

    fn answer(&mut self, client: ClientRequest) {
        let ClientRequest {
            request,
            peer,
            first,
            reply,
        } = client;
        if first {
            self.log
                .debug(&format!("client connected: {}", peer.describe()));
        }
        let command = request.command;
        let response = match &command {
            Command::Status { selection, fields } => self
                .select(selection)
                .map(|s| self.status(&s, Fields::of(fields.as_deref()))),
            Command::Start(action) | Command::Stop(action) | Command::Restart(action) => {
                let who = peer.describe();
                self.log.info(&format!(
                    "{} {} requested by {who}",
                    command.name(),
                    request_names(&action.selection)
                ));
                match self.action(&command, action) {
                    Ok(job) => {
                        let wait = action.wait.unwrap_or(true);
                        let mut job = job;
                        job.cause = Some(Cause::Request {
                            command: command.name().to_string(),
                            uid: peer.uid,
                            pid: peer.pid,
                        });
                        if !action.transient.unwrap_or(false) {
                            let run = !matches!(command, Command::Stop(_));
                            let selected = self.select(&action.selection).unwrap_or_default();
                            self.note_intent(&selected, run, peer.uid);
                        }
                        if wait {
                            job.reply = Some(reply);
                            self.advance(job);
                            return;
                        }
                        let results = job.accepted(self.table.as_slice());
                        self.advance(job);
                        Ok(Response::ok(ActionContent {
                            results,
                            plan: None,
                            skipped: Vec::new(),
                        }))
                    }
                    Err(response) => Err(response),
                }
            }
            Command::Signal { signal, selection } => {
                self.log.info(&format!(
                    "signal {} requested by {}",
                    request_names(selection),
                    peer.describe()
                ));
                self.signal_request(&command, signal.as_ref(), selection)
            }
            Command::Reread => self.reread(),
            Command::Reload | Command::Update => {
                self.reload(Some(reply), &format!("requested by {}", peer.describe()));
                return;
            }
            Command::Tail {
                selection, stream, ..
            } => self.tail_target(&command, selection, stream.as_deref()),
            Command::Stdin {
                selection,
                data,
                close,
            } => self.stdin(
                &command,
                selection,
                data.as_deref(),
                close.unwrap_or(false),
                &peer.describe(),
            ),
            Command::Maintail(_) => Ok(Response::ok(TailContent {
                name: None,
                stream: None,
                path: self.config.daemon.logfile.display().to_string(),
                text: String::new(),
            })),
            Command::Clear(selection) => {
                self.log.info(&format!(
                    "clear {} requested by {}",
                    request_names(selection),
                    peer.describe()
                ));
                self.clear(&command, selection)
            }
            Command::Pid(selection) => self.pid(selection),
            // The server streams the events itself; it asks here only so
            // that the roles are checked (above).
            Command::Events | Command::EventsSince(_) => Ok(Response::ok(serde_json::json!({}))),
            Command::Why(selection) => self.why(&command, selection),
            Command::Avail => Ok(self.avail()),
            Command::Version => Ok(Response::ok(VersionContent {
                version: env!("CARGO_PKG_VERSION").to_string(),
                protocol: PROTOCOL_VERSION,
            })),
            Command::Shutdown => {
                let _ = reply.send(Response::ok(
                    serde_json::json!({ "message": "shutting down" }),
                ));
                self.begin_shutdown(&format!("requested by {}", peer.describe()));
                return;
            }
            Command::Unknown(other) => Err(Response::error(
                400,
                "unknown_command",
                format!(
                    "unknown command '{other}'; known commands: {}",
                    COMMAND_NAMES.join(", ")
                ),
            )),
        };
        let _ = reply.send(response.unwrap_or_else(|e| e));
    }

    /// The processes `selection` names that its caller may touch.
    fn select(&self, selection: &Selection) -> Result<Vec<Selected>, Response> {
        let mut selected = self.select_any(selection)?;
        if let Some(allowed) = &self.scope {
            selected.retain(|s| allowed.get(s.index).copied().unwrap_or(false));
        }
        Ok(selected)
    }

    /// A selection without a name is every process; its handler has
    /// refused it first when that is not what its command means
    /// ([`unnamed_means_every_process`]).
    fn select_any(&self, selection: &Selection) -> Result<Vec<Selected>, Response> {
        let mut specs: Vec<String> = selection.specs().map(str::to_owned).collect();
        if specs.is_empty() && selection.target != Some(Target::All) {
            return Ok((0..self.table.len())
                .map(|index| Selected {
                    index,
                    explicit: false,
                })
                .collect());
        }
        if specs.is_empty() {
            specs.push(String::new());
        }
        targets::resolve(self.table.as_slice(), selection.target, &specs).map_err(
            |NoSuchProcess(name)| {
                Response::error(404, "no_such_process", format!("no such process: '{name}'"))
                    .about(name, None)
            },
        )
    }

    /// `why`: one process's history, the log to read, and for FATAL what
    /// to do.
    fn why(&self, command: &Command, selection: &Selection) -> Result<Response, Response> {
        let proc = &self.table[self.one_process(command, selection)?];
        let stream = if proc.def.redirect_stderr {
            "stdout"
        } else {
            "stderr"
        };
        let advice = (proc.process.state == ProcessState::Fatal).then(|| {
            let place = proc
                .def
                .command_at
                .clone()
                .unwrap_or_else(|| self.config.path.display().to_string());
            let start = format!("`taskmasterctl start {}`", proc.name);
            if proc.process.spawn_error.is_some() {
                format!("fix the command at {place}, then {start}")
            } else {
                format!(
                    "see why it exits within startsecs ({} s) in its {stream} below, fix it \
                     (the program is at {place}), then {start}",
                    proc.def.startsecs.as_secs_f64()
                )
            }
        });
        Ok(Response::ok(WhyContent {
            name: proc.name.clone(),
            state: proc.process.state,
            transitions: proc.history.transitions().cloned().collect(),
            stream: stream.to_string(),
            advice,
        }))
    }

    fn action(&self, command: &Command, action: &Action) -> Result<Job, Response> {
        if self.shutting_down {
            return Err(Response::error(
                409,
                "shutting_down",
                "taskmasterd is shutting down",
            ));
        }
        let mut selected = self.select(&action.selection)?;
        // Processes a reload removed are on their way out.
        selected.retain(|s| !self.table[s.index].retired);
        // What depends on a stopped program stops first; a restart starts
        // again those that were up.
        let dependents = match command {
            Command::Start(_) => Vec::new(),
            _ => self.dependents(&selected),
        };
        let up: Vec<Selected> = dependents
            .iter()
            .copied()
            .filter(|s| {
                let state = self.table[s.index].process.state;
                state.is_alive() || state == ProcessState::Backoff
            })
            .collect();
        let causes = dependents
            .iter()
            .map(|d| {
                (
                    d.index,
                    self.taken_down_by(d.index, &selected, command.name()),
                )
            })
            .collect();
        let phases = match command {
            Command::Start(_) => vec![self.start_phase(&selected)],
            Command::Stop(_) => self.stop_phases(&[selected, dependents].concat()),
            _ => {
                // A restart starts again what it named, even what was not running.
                let start = self.start_phase(&[selected.clone(), up].concat());
                let mut phases = self.stop_phases(&[selected, dependents].concat());
                for phase in &mut phases {
                    for member in &mut phase.members {
                        member.explicit = false;
                    }
                }
                phases.push(start);
                phases
            }
        };
        let mut job = Job::new(None, phases);
        job.causes = causes;
        Ok(job)
    }

    fn signal_request(
        &mut self,
        command: &Command,
        signal: Option<&serde_json::Value>,
        selection: &Selection,
    ) -> Result<Response, Response> {
        let bad = |error: SignalError| Response::error(400, "bad_signal", error.to_string());
        let signal = match signal {
            Some(serde_json::Value::String(text)) => parse_signal(text).map_err(bad)?,
            Some(serde_json::Value::Number(n)) => {
                signal_from_number(n.as_i64().unwrap_or(-1)).map_err(bad)?
            }
            _ => {
                return Err(Response::error(
                    400,
                    "bad_signal",
                    "signal needs a \"signal\": a name such as \"HUP\" or a number",
                ))
            }
        };
        require_name(command, selection)?;
        let selected = self.select(selection)?;
        let mut results = Vec::new();
        for s in selected {
            let proc = &self.table[s.index];
            let state = proc.process.state;
            match proc.process.pid {
                Some(_) => {
                    self.signal(s.index, signal, false);
                    results.push(ActionResult {
                        name: self.table[s.index].name.clone(),
                        ok: true,
                        state,
                        message: "signalled".into(),
                    });
                }
                None if s.explicit => results.push(ActionResult {
                    name: proc.name.clone(),
                    ok: false,
                    state,
                    message: "not running".into(),
                }),
                None => {}
            }
        }
        Ok(Response::ok(ActionContent {
            results,
            plan: None,
            skipped: Vec::new(),
        }))
    }

    fn pid(&self, selection: &Selection) -> Result<Response, Response> {
        if selection.is_empty() {
            return Ok(Response::ok(PidContent {
                daemon: Some(nix::unistd::getppid().as_raw()),
                processes: Vec::new(),
            }));
        }
        let processes = self
            .select(selection)?
            .iter()
            .map(|s| ProcessPid {
                name: self.table[s.index].name.clone(),
                pid: self.table[s.index].process.pid.unwrap_or(0),
            })
            .collect();
        Ok(Response::ok(PidContent {
            daemon: None,
            processes,
        }))
    }

    fn avail(&self) -> Response {
        let programs = self
            .config
            .programs
            .values()
            .map(|program| AvailProgram {
                name: program.name.clone(),
                group: self
                    .table
                    .iter()
                    .find(|p| p.program == program.name)
                    .map(|p| p.group.clone())
                    .unwrap_or_default(),
                numprocs: program.numprocs,
                autostart: program.autostart,
                priority: program.priority,
                in_use: true,
            })
            .collect();
        Response::ok(AvailContent { programs })
    }
}

// ----- logs: the server reads and follows them (tail.rs); the core only
// resolves the process and clears its files -----

impl Core {
    /// The log file `tail` reads: one process's stdout or stderr. The
    /// server task reads it, so that a slow client never holds the core.
    fn tail_target(
        &self,
        command: &Command,
        selection: &Selection,
        stream: Option<&str>,
    ) -> Result<Response, Response> {
        let bad = |code: &str, message: String| Response::error(400, code, message);
        let stream_name = stream.unwrap_or("stdout");
        let stream = match stream_name {
            "stdout" => Stream::Stdout,
            "stderr" => Stream::Stderr,
            other => {
                return Err(bad(
                    "bad_request",
                    format!("unknown stream '{other}': use \"stdout\" or \"stderr\""),
                ))
            }
        };
        let proc = &self.table[self.one_process(command, selection)?];
        if stream == Stream::Stderr && proc.def.redirect_stderr {
            return Err(bad(
                "no_log",
                format!(
                    "{}'s stderr goes to its stdout log (redirect_stderr); tail its stdout",
                    proc.name
                ),
            )
            .about(&proc.name, None));
        }
        let path = self.config.log_path(&proc.def, &proc.name, stream);
        Ok(Response::ok(TailContent {
            name: Some(proc.name.clone()),
            stream: Some(stream_name.to_owned()),
            path: path.display().to_string(),
            text: String::new(),
        }))
    }

    /// The index of the one process `request` names: 400 `missing_name`
    /// without a name, 400 `ambiguous_name` when it names several, 404 when
    /// none. For the commands that act on one process (`tail`, `stdin`).
    fn one_process(&self, command: &Command, selection: &Selection) -> Result<usize, Response> {
        let bad = |code: &str, message: String| Response::error(400, code, message);
        let command = command.name();
        let Some(spec) = selection.specs().next() else {
            return Err(bad(
                "missing_name",
                format!("{command} needs the name of one process"),
            ));
        };
        let selected = self.select(selection)?;
        let [one] = selected.as_slice() else {
            let names: Vec<&str> = selected
                .iter()
                .map(|s| self.table[s.index].name.as_str())
                .collect();
            return Err(bad(
                "ambiguous_name",
                format!(
                    "'{spec}' names {} processes ({}); {command} one of them",
                    names.len(),
                    names.join(", ")
                ),
            )
            .about(spec, None));
        };
        Ok(one.index)
    }

    /// Truncates the stdout and stderr files of the named processes. The
    /// programs keep writing: their descriptors are in append mode, so the
    /// next line lands at the new start of the file.
    /// Truncates a process's log files: through its pumps when it has
    /// run (so that they count from zero again), else by path.
    fn clear_logs(&self, proc: &Proc) -> std::io::Result<()> {
        if !proc.captures.is_empty() {
            return proc
                .captures
                .iter()
                .try_for_each(|(_, capture)| capture.clear());
        }
        let mut streams = vec![Stream::Stdout];
        if !proc.def.redirect_stderr {
            streams.push(Stream::Stderr);
        }
        streams.into_iter().try_for_each(|stream| {
            capture::truncate(&self.config.log_path(&proc.def, &proc.name, stream))
        })
    }

    fn clear(&mut self, command: &Command, selection: &Selection) -> Result<Response, Response> {
        require_name(command, selection)?;
        let mut results = Vec::new();
        for s in self.select(selection)? {
            let proc = &self.table[s.index];
            let outcome = self.clear_logs(proc).map_err(|e| e.to_string());
            let (ok, message) = match outcome {
                Ok(()) => (true, "cleared".to_string()),
                Err(error) => (false, error),
            };
            if !ok {
                self.log
                    .error(&format!("clear: '{}': {message}", proc.name));
            }
            results.push(ActionResult {
                name: proc.name.clone(),
                ok,
                state: proc.process.state,
                message,
            });
        }
        Ok(Response::ok(ActionContent {
            results,
            plan: None,
            skipped: Vec::new(),
        }))
    }
}

// ----- stdin: written by the core itself, never waiting: the pipe is
// non-blocking, and what it cannot take at once is refused -----

impl Core {
    /// Writes `data` to one process's stdin pipe, then closes it when asked.
    fn stdin(
        &mut self,
        command: &Command,
        selection: &Selection,
        data: Option<&str>,
        close: bool,
        peer: &str,
    ) -> Result<Response, Response> {
        if data.is_none() && !close {
            return Err(Response::error(
                400,
                "bad_request",
                "stdin needs \"data\" (text to write) or \"close\": true",
            ));
        }
        let data = data.unwrap_or_default().as_bytes();
        let i = self.one_process(command, selection)?;
        let proc = &mut self.table[i];
        let not_running = |message: String| Response::error(409, "not_running", message);
        if proc.process.pid.is_none() {
            return Err(not_running(format!(
                "{} is not running ({}); start it first",
                proc.name, proc.process.state
            ))
            .about(&proc.name, Some(proc.process.state)));
        }
        let Some(pipe) = &proc.stdin else {
            return Err(not_running(format!(
                "{}'s stdin is closed (a stdin request closed it); it gets a new one when it restarts",
                proc.name
            ))
            .about(&proc.name, Some(proc.process.state)));
        };
        let written = match feed(data, |rest| nix::unistd::write(pipe, rest)) {
            Fed::All => data.len(),
            Fed::Full(written) => return Err(stdin_full(&proc.name, written, data.len())),
            Fed::Closed(_) => {
                return Err(Response::error(
                    409,
                    "stdin_closed",
                    format!(
                        "{} does not read its stdin any more (it closed it, or is exiting)",
                        proc.name
                    ),
                )
                .about(&proc.name, None))
            }
            Fed::Failed(errno) => {
                return Err(Response::error(
                    500,
                    "internal",
                    format!("cannot write to {}'s stdin: {}", proc.name, errno.desc()),
                )
                .about(&proc.name, None))
            }
        };
        if close {
            proc.stdin = None;
            if let Some(pid) = proc.process.pid {
                // taskmasterd's copy too, or the program never sees the end.
                self.link
                    .send(&ToSupervisor::CloseStdin { pid }, Vec::new());
            }
            let message = format!("stdin of '{}' closed, requested by {peer}", proc.name);
            self.log.info(&message);
        }
        Ok(Response::ok(StdinContent {
            written: written as u64,
            closed: close,
        }))
    }
}

/// 503 `stdin_full`, with the bytes taken in the message and the content.
fn stdin_full(name: &str, written: usize, wanted: usize) -> Response {
    let mut reply = Response::error(
        503,
        "stdin_full",
        format!(
            "{name}'s stdin pipe is full (the program is not reading it): \
             {written} of {wanted} bytes were written; send the rest later"
        ),
    );
    reply.content = Response::ok(StdinContent {
        written: written as u64,
        closed: false,
    })
    .content;
    reply.about(name, None)
}

/// How writing to a non-blocking pipe ended.
#[derive(Debug, PartialEq)]
enum Fed {
    All,
    /// The pipe took this many bytes, then was full.
    Full(usize),
    /// The reader is gone (EPIPE) after this many bytes.
    Closed(usize),
    Failed(Errno),
}

/// Writes `data` through `write` (one `write(2)` on a non-blocking pipe)
/// until it is all taken, the pipe is full, or the reader is gone.
fn feed(data: &[u8], mut write: impl FnMut(&[u8]) -> nix::Result<usize>) -> Fed {
    let mut done = 0;
    while done < data.len() {
        match write(&data[done..]) {
            Ok(0) | Err(Errno::EAGAIN) => return Fed::Full(done),
            Ok(n) => done += n,
            Err(Errno::EINTR) => {}
            Err(Errno::EPIPE) => return Fed::Closed(done),
            Err(errno) => return Fed::Failed(errno),
        }
    }
    Fed::All
}

/// Bytes logged and dropped per stream, over the process's restarts.
pub(super) fn output_counts(proc: &Proc) -> Vec<OutputCount> {
    let counts = proc.output_totals.counts(&proc.captures);
    // A stream that logged and lost nothing is left out: a status of 1000
    // quiet programs stays as small as it was before the counts.
    counts
        .into_iter()
        .filter(|&(_, written, dropped)| written > 0 || dropped > 0)
        .map(|(stream, written, dropped)| OutputCount {
            stream: super::stream_name(stream).to_owned(),
            written_bytes: written,
            dropped_bytes: dropped,
        })
        .collect()
}

/// Why a process's output is being dropped now, and how much was lost.
pub(super) fn output_error(proc: &Proc) -> Option<String> {
    let errors: Vec<String> = proc
        .captures
        .iter()
        .filter_map(|(stream, capture)| {
            let stats = capture.stats();
            stats.last_error.map(|error| {
                format!(
                    "{} not logged: {error}; {} bytes dropped",
                    super::stream_name(*stream),
                    stats.dropped
                )
            })
        })
        .collect();
    (!errors.is_empty()).then(|| errors.join("; "))
}

/// Whether a `command` that names no process is about every process: so
/// are `status`, `start`, `stop` and `restart` (the original specification:
/// "if empty, targets all"). `pid` is then about the daemon, and the others
/// need a name ([`require_name`]).
pub(super) fn unnamed_means_every_process(command: &Command) -> bool {
    matches!(
        command,
        Command::Status { .. } | Command::Start(_) | Command::Stop(_) | Command::Restart(_)
    )
}

/// 400 `missing_name` for a command that acts only on the processes named
/// to it when `selection` names none, so that a forgotten name never
/// signals or clears everything.
fn require_name(command: &Command, selection: &Selection) -> Result<(), Response> {
    if !selection.is_empty() || unnamed_means_every_process(command) {
        return Ok(());
    }
    Err(Response::error(
        400,
        "missing_name",
        format!(
            "{} needs a process name, a group (group:*) or all",
            command.name()
        ),
    ))
}

fn request_names(selection: &Selection) -> String {
    let names: Vec<&str> = selection.specs().collect();
    if names.is_empty() {
        "all".to_string()
    } else {
        names.join(" ")
    }
}

/// The command line, appended to `out`: the command and its arguments,
/// joined with spaces.
pub(super) fn command_line(out: &mut String, program: &Program) {
    out.push_str(&program.command);
    for arg in &program.args {
        out.push(' ');
        out.push_str(arg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pipe that takes at most `room` bytes per call, failing with the
    /// queued errors first.
    fn pipe(room: usize, mut errors: Vec<Errno>) -> impl FnMut(&[u8]) -> nix::Result<usize> {
        move |bytes: &[u8]| match errors.pop() {
            Some(errno) => Err(errno),
            None => Ok(bytes.len().min(room)),
        }
    }

    #[test]
    fn feeding_writes_everything_across_short_writes_and_interrupts() {
        assert_eq!(feed(b"hello\n", pipe(2, vec![Errno::EINTR])), Fed::All);
        assert_eq!(feed(b"", pipe(0, vec![Errno::EAGAIN])), Fed::All);
    }

    #[test]
    fn a_full_pipe_reports_what_it_took() {
        let mut taken = 0;
        let full_after_four = |bytes: &[u8]| {
            if taken == 4 {
                return Err(Errno::EAGAIN);
            }
            let n = bytes.len().min(4 - taken);
            taken += n;
            Ok(n)
        };
        assert_eq!(feed(b"0123456789", full_after_four), Fed::Full(4));
        assert_eq!(feed(b"x", pipe(0, Vec::new())), Fed::Full(0));
    }

    #[test]
    fn a_gone_reader_and_other_errors_stop_the_write() {
        assert_eq!(feed(b"x", pipe(1, vec![Errno::EPIPE])), Fed::Closed(0));
        assert_eq!(
            feed(b"x", pipe(1, vec![Errno::EBADF])),
            Fed::Failed(Errno::EBADF)
        );
    }

    #[test]
    fn stdin_full_says_how_much_was_taken() {
        let reply = stdin_full("web", 65536, 100000);
        assert_eq!(reply.status, 503);
        assert_eq!(
            reply.content_value(),
            serde_json::json!({ "written": 65536 })
        );
        let error = reply.error.expect("an error body");
        assert_eq!(error.code, "stdin_full");
        assert!(
            error.message.contains("65536 of 100000 bytes"),
            "{}",
            error.message
        );
    }
}
