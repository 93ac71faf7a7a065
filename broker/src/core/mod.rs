//! The one task that owns every process's state. Everything that changes a
//! process arrives here as a message (from taskmasterd, from a client, or a
//! due deadline), goes through the pure state machine, and leaves as
//! packets to taskmasterd and replies to clients.

use crate::activity::ActivityLog;
use crate::capture;
use crate::describe::exit_text;
use crate::feed::Feed;
use crate::history;
use crate::jobs::{Job, Phase, PhaseKind, Precheck};
use crate::link::{LinkReceiver, LinkSender};
use crate::proc::Proc;
use crate::server::{ClientRequest, Served};
use crate::state::{self, step, Action, Event, Process};
use crate::statefile::StateDir;
use crate::targets::Selected;
use crate::watch::ConfigWatcher;
use nix::sys::signal::Signal;
use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use table::ProcessTable;
use taskmaster_config::signals::signal_name;
use taskmaster_config::{Config, LogLevel};
use taskmaster_ipc::{Child, SpawnRequest, Stream, ToBroker, ToSupervisor};
use taskmaster_protocol::{ActionContent, Cause, EventBody, ProcessState, Response, Transition};
use tokio::sync::mpsc;

mod authorize;
mod persist;
mod readiness;
mod reload;
mod requests;
mod service;
mod status;
mod table;
mod trim;

/// Requests taskmasterd refused from us: how many, and the last one.
#[derive(Default)]
struct Refusals {
    count: u64,
    last: Option<String>,
}

/// What the output pumps report (a log file that cannot be written...).
/// How long an exiting broker waits for the pumps to empty the pipes of
/// programs that have stopped.
const PUMP_DRAIN: Duration = Duration::from_secs(3);

struct PumpNotices {
    sender: mpsc::UnboundedSender<capture::Notice>,
    receiver: mpsc::UnboundedReceiver<capture::Notice>,
}

impl PumpNotices {
    fn new() -> PumpNotices {
        let (sender, receiver) = mpsc::unbounded_channel();
        PumpNotices { sender, receiver }
    }
}

/// "The config changed", from the watcher. Capacity 1: changes that arrive
/// while one is pending fold into it.
struct ConfigChanges {
    sender: mpsc::Sender<()>,
    receiver: mpsc::Receiver<()>,
}

impl ConfigChanges {
    fn new() -> ConfigChanges {
        let (sender, receiver) = mpsc::channel(1);
        ConfigChanges { sender, receiver }
    }
}

pub struct Core {
    config: Config,
    table: ProcessTable,
    next_spawn_id: u64,
    link: LinkSender,
    log: ActivityLog,
    jobs: Vec<Job>,
    /// Events waiting to go through the state machine, drained in order so
    /// that no handler re-enters another.
    queue: VecDeque<(usize, Event)>,
    events: Arc<Feed>,
    server: Served,
    /// Why the config on disk was refused at the last reload.
    config_errors: Vec<String>,
    /// What taskmasterd says an operator must know (e.g. the broker's user
    /// is a fallback), shown by `status`.
    warnings: Vec<String>,
    /// Packets taskmasterd refused, and the last one: a sound broker sends
    /// none, so `status` shows them.
    refused: Refusals,
    /// From the output pumps, for the activity log.
    pump_notices: PumpNotices,
    watcher: Option<ConfigWatcher>,
    /// The watcher's "the config changed" signal.
    config_changes: ConfigChanges,
    shutting_down: bool,
    finished: bool,
    /// taskmasterd's exit status once everything is stopped.
    exit_code: u8,
    /// While a request is answered: the processes its caller may touch
    /// (`None`: all), which `select` keeps to.
    scope: Option<Vec<bool>>,
    /// The state directory: intents, histories, event seqs.
    persist: persist::Persist,
    /// `depends_on` of the config in force.
    graph: crate::deps::Graph,
    /// The answers of `ready` and `healthcheck` probes.
    probe_reports: readiness::ProbeReports,
    /// What systemd was last told (readiness, status line).
    service: service::ServiceReport,
    /// When to give freed heap memory back.
    heap: trim::HeapTrim,
}

impl Core {
    pub fn new(
        config: Config,
        link: LinkSender,
        log: ActivityLog,
        events: Arc<Feed>,
        server: Served,
        state_dir: Option<StateDir>,
    ) -> Core {
        let procs: Vec<Proc> = config
            .programs
            .values()
            .flat_map(|program| {
                let config = &config;
                program
                    .process_names()
                    .into_iter()
                    .map(move |name| Proc::new(config, program, name))
            })
            .collect();
        let events_next = events.next_seq();
        Core {
            graph: crate::deps::Graph::new(&config),
            probe_reports: readiness::ProbeReports::new(),
            config,
            table: ProcessTable::new(procs),
            next_spawn_id: 1,
            link,
            log,
            jobs: Vec::new(),
            queue: VecDeque::new(),
            events,
            server,
            config_errors: Vec::new(),
            warnings: Vec::new(),
            refused: Refusals::default(),
            pump_notices: PumpNotices::new(),
            watcher: None,
            config_changes: ConfigChanges::new(),
            shutting_down: false,
            finished: false,
            exit_code: 0,
            scope: None,
            persist: persist::Persist::new(state_dir, events_next),
            service: service::ServiceReport::default(),
            heap: trim::HeapTrim::new(),
        }
    }

    /// Serves until shutdown completes or taskmasterd goes away.
    pub async fn run(
        mut self,
        hello: ToBroker,
        mut link: LinkReceiver,
        mut clients: mpsc::Receiver<ClientRequest>,
    ) {
        let survivors = self.on_hello(hello);
        if !self.adopt_survivors(survivors, &mut link).await {
            self.log.warn("taskmasterd closed the channel; exiting");
            return;
        }
        self.link.send(&ToSupervisor::Ready, Vec::new());
        self.watch_config();
        self.autostart();
        self.report_service();
        while !self.finished {
            // Here, between two messages, no handler holds an index.
            if self.jobs.is_empty() {
                self.compact();
            }
            if self.heap.take(self.table.spawns_awaited()) {
                taskmaster_ipc::release_free_memory();
            }
            let deadline = self.next_deadline();
            tokio::select! {
                packet = link.recv() => match packet {
                    Ok(Some((message, fds))) => self.on_supervisor(message, fds),
                    Ok(None) => {
                        self.log.warn("taskmasterd closed the channel; exiting");
                        return;
                    }
                    // One bad packet: the channel itself is fine.
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        self.log.error(&e.to_string());
                    }
                    Err(e) => {
                        self.log.error(&format!("channel to taskmasterd failed: {e}; exiting"));
                        return;
                    }
                },
                Some(request) = clients.recv() => self.on_request(request),
                Some(()) = self.config_changes.receiver.recv() => self.on_config_changed(),
                Some(notice) = self.pump_notices.receiver.recv() => self.on_capture_notice(notice),
                Some(message) = self.probe_reports.receiver.recv() => self.on_probe_message(message),
                () = sleep_until(deadline) => self.on_deadlines(),
            }
            self.report_service();
        }
        self.drain_pumps().await;
    }

    /// Every program has stopped, but its last lines may still be in its
    /// pipes: wait until each output pump has read to the end of its pipe
    /// (each holds a sender of `pump_notices`, so the channel closes when
    /// the last one ends). A pipe a surviving grandchild keeps open is
    /// given up after [`PUMP_DRAIN`], well within taskmasterd's grace.
    async fn drain_pumps(&mut self) {
        let (closed, _) = mpsc::unbounded_channel();
        drop(std::mem::replace(&mut self.pump_notices.sender, closed));
        let deadline = tokio::time::Instant::now() + PUMP_DRAIN;
        while let Ok(Some(notice)) =
            tokio::time::timeout_at(deadline, self.pump_notices.receiver.recv()).await
        {
            self.on_capture_notice(notice);
        }
    }

    /// Logs what taskmasterd tells a new broker; returns how many
    /// [`ToBroker::Survivor`] packets follow.
    fn on_hello(&mut self, hello: ToBroker) -> usize {
        let ToBroker::Hello {
            survivors,
            notices,
            warnings,
            service_manager,
            ..
        } = hello
        else {
            return 0;
        };
        for notice in notices {
            self.log.warn(&format!("taskmasterd: {notice}"));
        }
        for warning in &warnings {
            self.log.warn(&format!("taskmasterd: {warning}"));
        }
        self.warnings = warnings;
        self.service.enabled = service_manager;
        survivors
    }

    /// Takes back every survivor before anything is started, so that a
    /// program still running is never started a second time.
    async fn adopt_survivors(&mut self, mut expected: usize, link: &mut LinkReceiver) -> bool {
        while expected > 0 {
            match link.recv().await {
                Ok(Some((ToBroker::Survivor { child, streams }, fds))) => {
                    expected -= 1;
                    let pid = child.pid;
                    self.adopt(child);
                    if let Some(i) = self.table.with_pid(pid) {
                        self.attach_streams(i, &streams, fds, capture::Origin::Adopted);
                    }
                }
                Ok(Some((message, fds))) => self.on_supervisor(message, fds),
                Ok(None) => return false,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    self.log.error(&e.to_string());
                }
                Err(_) => return false,
            }
        }
        true
    }

    /// Takes back a program that survived a broker restart.
    fn adopt(&mut self, child: Child) {
        let Some(i) = self.table.named(&child.name) else {
            self.log.warn(&format!(
                "process '{}' (pid {}) is running but no longer configured; stopping it",
                child.name, child.pid
            ));
            self.link.send(
                &ToSupervisor::Signal {
                    pid: child.pid,
                    signal: Signal::SIGTERM as i32,
                    group: true,
                },
                Vec::new(),
            );
            return;
        };
        let now = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_millis(child.started_at_ms);
        let age = SystemTime::now().duration_since(wall).unwrap_or_default();
        let started = now.checked_sub(age).unwrap_or(now);
        self.table.running(i, child.pid);
        let proc = &mut self.table[i];
        proc.process = Process {
            jitter_seed: proc.process.jitter_seed,
            ..Process::adopted(child.pid, started, &proc.def, now)
        };
        proc.started_wall = Some(wall);
        self.log.info(&format!(
            "adopted: '{}' with pid {} ({})",
            proc.name, child.pid, proc.process.state
        ));
        self.refresh_probe(i);
    }

    fn autostart(&mut self) {
        let mut order: Vec<usize> = (0..self.table.len())
            .filter(|&i| {
                let proc = &self.table[i];
                // An operator's kept intent overrides autostart.
                let wanted = match self.persist.intents.get(&proc.name) {
                    Some(intent) => intent.run,
                    None => proc.def.autostart,
                };
                wanted && proc.process.state == ProcessState::Stopped
            })
            .collect();
        order.sort_by_key(|&i| self.table[i].order);
        for i in order {
            if let Some(intent) = self.persist.intents.get(&self.table[i].name) {
                self.table[i].cause = Some(Cause::Intent { uid: intent.uid });
            }
            self.dispatch(i, Event::Start);
        }
    }

    fn on_supervisor(&mut self, message: ToBroker, fds: Vec<OwnedFd>) {
        match message {
            ToBroker::Spawned {
                id,
                pid,
                started_at_ms,
                streams,
            } => {
                if let Some(i) = self.table.spawn_answered(id) {
                    self.table.running(i, pid);
                    self.attach_streams(i, &streams, fds, capture::Origin::Spawned);
                    self.table[i].started_wall =
                        Some(UNIX_EPOCH + Duration::from_millis(started_at_ms));
                    self.log
                        .info(&format!("spawned: '{}' with pid {pid}", self.table[i].name));
                    self.dispatch(i, Event::Spawned { pid });
                    // A job that ended may have compacted the table.
                    if let Some(i) = self.table.with_pid(pid) {
                        self.replay_notifications(i);
                    }
                }
            }
            ToBroker::SpawnFailed { id, error } => {
                if let Some(i) = self.table.spawn_answered(id) {
                    self.log
                        .error(&format!("spawnerr: '{}': {error}", self.table[i].name));
                    self.dispatch(i, Event::SpawnFailed { error });
                }
            }
            ToBroker::Exited { pid, status } => match self.table.exited(pid) {
                Some(i) => {
                    let proc = &self.table[i];
                    let program = &proc.def;
                    let message = if proc.process.state == ProcessState::Stopping {
                        format!("stopped: {} ({})", proc.name, exit_text(status))
                    } else {
                        let expected = proc.process.state == ProcessState::Running
                            && state::expected(status, &program.exitcodes);
                        let word = if expected { "expected" } else { "not expected" };
                        format!("exited: {} ({}; {word})", proc.name, exit_text(status))
                    };
                    self.log.info(&message);
                    self.table[i].stopped_wall = Some(SystemTime::now());
                    self.dispatch(i, Event::Exited { status });
                }
                None => self
                    .log
                    .debug(&format!("reaped unknown pid {pid} ({})", exit_text(status))),
            },
            ToBroker::Shutdown => self.begin_shutdown("taskmasterd received a stop signal"),
            ToBroker::Reload => self.reload(None, "taskmasterd received SIGHUP"),
            ToBroker::Survivor { child, .. } => self.log.warn(&format!(
                "unexpected survivor '{}' (pid {}) after start-up; ignored",
                child.name, child.pid
            )),
            ToBroker::ReopenLogs => self.reopen_logs(),
            ToBroker::Listener { path } => {
                let Some(listener) = fds.into_iter().next() else {
                    return self
                        .log
                        .error("taskmasterd sent a new control socket without its descriptor");
                };
                let result = self
                    .server
                    .replace(crate::server::Socket::new(listener, &path));
                match result {
                    Ok(()) => self.log.info(&format!("serving {}", path.display())),
                    Err(e) => self
                        .log
                        .error(&format!("[unix_http_server] not applied: {e}")),
                }
            }
            ToBroker::ListenerFailed { error } => self
                .log
                .error(&format!("[unix_http_server] not applied: {error}")),
            ToBroker::Refused { what } => {
                let message = format!("taskmasterd refused a request: {what}");
                self.log.log(LogLevel::Critical, &message);
                self.refused.count += 1;
                self.refused.last = Some(what);
            }
            ToBroker::Hello { .. } => self
                .log
                .warn("unexpected second hello from taskmasterd; ignored"),
            ToBroker::ProbeExited { id, status } => self.on_command_probe(id, Ok(status)),
            ToBroker::ProbeFailed { id, error } => self.on_command_probe(id, Err(error)),
        }
    }

    /// Takes the pipes of process `i`, one descriptor per entry of
    /// `streams`: its output goes to its log files.
    fn attach_streams(
        &mut self,
        i: usize,
        streams: &[Stream],
        fds: Vec<OwnedFd>,
        origin: capture::Origin,
    ) {
        let proc = &mut self.table[i];
        let earlier = std::mem::take(&mut proc.captures);
        proc.output_totals.retire(earlier);
        proc.stdin = None;
        for (&stream, fd) in streams.iter().zip(fds) {
            let Some(target) = log_target(&self.config, proc, stream) else {
                proc.stdin = Some(fd);
                continue;
            };
            let capture = capture::start(
                origin,
                proc.name.clone(),
                stream,
                fd,
                target,
                self.pump_notices.sender.clone(),
            );
            proc.captures.push((stream, capture));
        }
    }

    /// A pump started or stopped losing output.
    fn on_capture_notice(&mut self, notice: capture::Notice) {
        match notice {
            capture::Notice::Error {
                process,
                stream,
                message,
            } => self.log.error(&format!(
                "output of '{process}' ({}) is being dropped: {message}",
                stream_name(stream)
            )),
            capture::Notice::Recovered { process, stream } => self.log.info(&format!(
                "output of '{process}' ({}) is written again",
                stream_name(stream)
            )),
        }
    }

    /// SIGUSR2: every log file is opened again at its path.
    fn reopen_logs(&mut self) {
        let daemon = &self.config.daemon;
        if let Err(e) = self.log.reopen(&daemon.logfile, daemon.loglevel) {
            let path = daemon.logfile.display().to_string();
            self.log
                .error(&format!("cannot reopen the activity log {path}: {e}"));
        }
        for (_, capture) in self.table.iter().flat_map(|p| &p.captures) {
            capture.reopen();
        }
        self.log.info("reopened every log file (SIGUSR2)");
    }

    fn on_deadlines(&mut self) {
        let now = Instant::now();
        if self.persist.save_due.is_some_and(|at| at <= now) {
            self.save_history(false);
        }
        let due: Vec<usize> = (0..self.table.len())
            .filter(|&i| self.table[i].process.deadline.is_some_and(|d| d <= now))
            .collect();
        for i in due {
            self.dispatch(i, Event::Deadline);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let processes = self.table.iter().filter_map(|p| p.process.deadline);
        processes.chain(self.persist.save_due).min()
    }

    /// Queues an event and runs the queue dry.
    fn dispatch(&mut self, i: usize, event: Event) {
        self.queue.push_back((i, event));
        while let Some((i, event)) = self.queue.pop_front() {
            self.apply(i, event);
        }
    }

    fn apply(&mut self, i: usize, event: Event) {
        let idle = !self.table[i].process.state.is_alive()
            && self.table[i].process.state != ProcessState::Backoff;
        if event == Event::Start && idle && !self.graph.is_empty() && self.hold_start(i) {
            return;
        }
        let now = Instant::now();
        let proc = &mut self.table[i];
        let from = proc.process.state;
        let before = proc.process.clone();
        let outcome = step(&mut proc.process, &proc.def, event.clone(), now);
        let mut previous = from;
        for &state in &outcome.entered {
            self.log_transition(i, previous, state);
            previous = state;
        }
        self.remember(i, &event, &before, &outcome.entered, now);
        if outcome.entered.contains(&ProcessState::Fatal) && self.config.daemon.shutdown_on_fatal {
            let why = format!(
                "{} is FATAL and shutdown_on_fatal is set",
                self.table[i].name
            );
            self.exit_code = 1;
            self.begin_shutdown(&why);
        }
        for action in outcome.actions {
            match action {
                Action::Spawn => self.spawn(i),
                Action::Signal { signal, group } => self.signal(i, signal, group),
            }
        }
        self.refresh_probe(i);
        if !outcome.entered.is_empty() {
            self.settle(i);
            self.after_change(i);
        }
    }

    fn log_transition(&mut self, i: usize, from: ProcessState, to: ProcessState) {
        let proc = &self.table[i];
        let program = &proc.def;
        let (level, detail) = match to {
            ProcessState::Running => (
                LogLevel::Info,
                format!(
                    ", process has stayed up for > than {} seconds (startsecs)",
                    program.startsecs.as_secs_f64()
                ),
            ),
            ProcessState::Backoff => (
                LogLevel::Warn,
                format!(
                    ", retrying in {} s",
                    proc.process.wait.unwrap_or_default().as_secs_f64()
                ),
            ),
            ProcessState::Fatal => (
                LogLevel::Error,
                ", too many start retries too quickly".to_string(),
            ),
            ProcessState::Unknown => (
                LogLevel::Warn,
                ": an exit arrived for a process that was not running".to_string(),
            ),
            _ => (LogLevel::Info, String::new()),
        };
        let name = proc.name.clone();
        let line = format!("{name}: {from} -> {to}{detail}");
        self.log.log_about(level, Some((&name, to.as_str())), &line);
        let proc = &mut self.table[i];
        proc.changed_wall = Some(SystemTime::now());
        let body = EventBody::State {
            name,
            group: proc.group.clone(),
            from,
            to,
            pid: proc.process.pid,
        };
        self.publish(body);
    }

    /// Adds the states a step entered to the process's history, each with
    /// its cause.
    fn remember(
        &mut self,
        i: usize,
        event: &Event,
        before: &Process,
        entered: &[ProcessState],
        now: Instant,
    ) {
        let proc = &mut self.table[i];
        // A stop leaves the cause for the start that may follow (a
        // restart, a reload); a start uses it up.
        let requested = match event {
            Event::Start => proc.cause.take(),
            Event::Stop => proc.cause.clone(),
            _ => None,
        };
        let time_ms = unix_ms(SystemTime::now());
        let mut from = before.state;
        for &to in entered {
            let step = history::Step {
                event,
                before,
                after: &proc.process,
                program: &proc.def,
                requested: requested.as_ref(),
                now,
            };
            let (cause, retry) = history::explain(&step, from, to);
            let text = history::text(to, &cause, retry.as_ref());
            proc.history.push(Transition {
                time_ms,
                from,
                to,
                cause,
                retry,
                text,
            });
            from = to;
        }
        if !entered.is_empty() {
            self.history_changed();
        }
    }

    /// Sends an event to every `events` subscriber.
    fn publish(&mut self, body: EventBody) {
        self.reserve_seqs();
        self.events.publish(unix_ms(SystemTime::now()), body);
    }

    fn spawn(&mut self, i: usize) {
        if let Some(def) = self.table[i].pending.take() {
            self.table[i].def = def;
        }
        if self.hold_spawn(i) {
            return;
        }
        self.prepare_notify(i);
        let id = self.next_spawn_id;
        self.next_spawn_id += 1;
        // taskmasterd reads the command, user and environment from the
        // config itself: the broker only names the process.
        let request = SpawnRequest {
            id,
            name: self.table[i].name.clone(),
            generation: self.config.generation,
        };
        self.table.spawn_sent(id, i);
        self.heap.spawned();
        self.link.send(&ToSupervisor::Spawn(request), Vec::new());
    }

    fn signal(&mut self, i: usize, signal: i32, group: bool) {
        let proc = &self.table[i];
        if let Some(pid) = proc.process.pid {
            let level = if signal == Signal::SIGKILL as i32 {
                LogLevel::Warn
            } else {
                LogLevel::Info
            };
            let whom = if group { "process group of" } else { "" };
            let message = format!(
                "sending {} to {whom} '{}' (pid {pid})",
                signal_name(signal),
                proc.name
            );
            self.log.log(level, &message.replace("  ", " "));
            self.link
                .send(&ToSupervisor::Signal { pid, signal, group }, Vec::new());
        }
    }

    // ----- jobs: start, stop, restart, shutdown that reply once settled -----

    /// Tells every job waiting on process `i` about its new state, and
    /// moves on the jobs whose current phase is complete.
    fn settle(&mut self, i: usize) {
        let state = self.table[i].process.state;
        let spawn_error = self.table[i].process.spawn_error.is_some();
        let name = self.table[i].name.clone();
        self.complete_jobs(|job| job.settle(i, &name, state, spawn_error));
    }

    /// Tells every job something with `tell`, which says whether that
    /// completed the job's current phase; moves those jobs on.
    fn complete_jobs(&mut self, mut tell: impl FnMut(&mut Job) -> bool) {
        let mut done = Vec::new();
        let mut j = 0;
        while j < self.jobs.len() {
            if tell(&mut self.jobs[j]) {
                done.push(self.jobs.swap_remove(j));
            } else {
                j += 1;
            }
        }
        for job in done {
            self.advance(job);
        }
    }

    /// Starts the job's next phase, or finishes it.
    fn advance(&mut self, mut job: Job) {
        while let Some(phase) = job.next_phase() {
            for selected in phase.members.iter().copied() {
                if phase.kind == PhaseKind::Stop {
                    self.cancel_hold(selected.index);
                }
                let proc = &self.table[selected.index];
                match Job::precheck(phase.kind, selected, &proc.name, proc.process.state) {
                    Precheck::Done(result) => job.record(result),
                    Precheck::Wait => job.wait_for(selected.index),
                    Precheck::Issue => {
                        job.wait_for(selected.index);
                        // A reload's causes are set per process (what changed).
                        if let Some(cause) = job.cause_of(selected.index) {
                            self.table[selected.index].cause = Some(cause.clone());
                        }
                        let event = match phase.kind {
                            PhaseKind::Start => Event::Start,
                            PhaseKind::Stop => Event::Stop,
                        };
                        self.queue.push_back((selected.index, event));
                    }
                }
            }
            if job.waiting() {
                self.jobs.push(job);
                self.drain();
                return;
            }
        }
        self.finish(job);
    }

    fn drain(&mut self) {
        while let Some((i, event)) = self.queue.pop_front() {
            self.apply(i, event);
        }
    }

    fn finish(&mut self, job: Job) {
        let exit = job.exit_when_done;
        let (results, plan, reply) = job.into_results();
        if let Some(reply) = reply {
            let _ = reply.send(Response::ok(ActionContent {
                results,
                plan,
                skipped: Vec::new(),
            }));
        }
        if exit {
            self.log.info("every program is stopped; exiting");
            self.save_history(true);
            let code = self.exit_code;
            self.link.send(&ToSupervisor::Exit { code }, Vec::new());
            self.finished = true;
        }
    }

    fn begin_shutdown(&mut self, why: &str) {
        if self.shutting_down {
            return;
        }
        self.shutting_down = true;
        self.log.info(&format!("shutting down: {why}"));
        let everyone: Vec<Selected> = (0..self.table.len())
            .map(|index| Selected {
                index,
                explicit: false,
            })
            .collect();
        let phases = self.stop_phases(&everyone);
        let mut job = Job::new(None, phases);
        job.exit_when_done = true;
        job.cause = Some(Cause::Shutdown {
            reason: why.to_string(),
        });
        self.advance(job);
    }

    /// Stop phases in reverse start order: one phase per priority level,
    /// each waited for before the next begins.
    fn stop_phases(&self, selected: &[Selected]) -> Vec<Phase> {
        let mut sorted = selected.to_vec();
        sorted.sort_by_key(|s| std::cmp::Reverse(self.stop_key(s.index)));
        let mut phases: Vec<Phase> = Vec::new();
        for s in sorted {
            let order = self.stop_key(s.index);
            match phases.last_mut() {
                Some(phase) if self.stop_key(phase.members[0].index) == order => {
                    phase.members.push(s)
                }
                _ => phases.push(Phase {
                    kind: PhaseKind::Stop,
                    members: vec![s],
                }),
            }
        }
        phases
    }

    fn start_phase(&self, selected: &[Selected]) -> Phase {
        let mut members = selected.to_vec();
        members.sort_by_key(|s| self.table[s.index].order);
        Phase {
            kind: PhaseKind::Start,
            members,
        }
    }
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Where `stream` of `proc` is written; `None` for stdin, which is kept.
fn log_target(config: &Config, proc: &Proc, stream: Stream) -> Option<capture::LogTarget> {
    let (spec, which) = match stream {
        Stream::Stdin => return None,
        Stream::Stdout => (&proc.def.stdout, taskmaster_config::Stream::Stdout),
        Stream::Stderr => (&proc.def.stderr, taskmaster_config::Stream::Stderr),
    };
    Some(capture::LogTarget {
        path: config.log_path(&proc.def, &proc.name, which),
        maxbytes: spec.maxbytes,
        backups: spec.backups,
        timestamps: spec.timestamps,
        prefix: spec.prefix.then(|| format!("[{}] ", proc.name)),
    })
}

fn stream_name(stream: Stream) -> &'static str {
    match stream {
        Stream::Stdin => "stdin",
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
        None => std::future::pending().await,
    }
}
