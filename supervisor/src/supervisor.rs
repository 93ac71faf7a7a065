//! The supervisor proper: one poll(2) loop over the signalfd and the broker
//! channel, the table of live programs and broker restarts (shutdown is in
//! `shutdown.rs`).

use crate::broker::{self, BrokerCommand};
use crate::channel::{Channel, Received};
use crate::daemon::{self, Pidfile, Readiness};
use crate::inventory::Inventory;
use crate::notices::Notices;
use crate::notify::ServiceManager;
use crate::pipes::Pipes;
use crate::policy::{Policy, Refusal};
use crate::reaper;
use crate::socket::ControlSocket;
use crate::spawn;
use crate::stop_plan::StopPlan;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, killpg, Signal};
use nix::sys::signalfd::SignalFd;
use nix::unistd::Pid;
use std::collections::{BTreeMap, HashSet};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use taskmaster_ipc::{Child, ExitStatus, SpawnRequest, Stream, ToBroker, ToSupervisor, MAX_SEQ};

mod probes;
mod shutdown;
use shutdown::{Stop, STOP_GRACE};

/// Packets handled per wake-up, so a chatty broker cannot starve signals.
const PACKETS_PER_WAKE: usize = 64;

/// The settings the loop needs beyond the broker command.
pub struct Options {
    pub daemonized: bool,
    pub foreground: bool,
    pub pidfile: Option<PathBuf>,
    /// The open files limit programs get (see `daemon::raise_limits`).
    pub open_files: libc::rlimit,
    /// The control socket, handed to every broker.
    pub control: ControlSocket,
    /// The programs we run, on disk for a successor if we are killed.
    pub inventory: Option<Inventory>,
    /// What happened before any broker ran (survivors stopped).
    pub early_notices: Vec<String>,
    /// systemd's notification socket, under a `Type=notify` unit.
    pub service: Option<ServiceManager>,
}

/// A live program: what the broker is told about it and the broker's ends
/// of its pipes, kept (and closed) here until it is reaped.
struct Program {
    child: Child,
    pipes: Pipes,
    /// How to stop it without the broker.
    stop: StopPlan,
}

struct Broker {
    pid: Pid,
    started: Instant,
    /// `None` once the broker closed it or it broke.
    channel: Option<Channel>,
}

pub struct Supervisor {
    command: BrokerCommand,
    /// The config as we read it: what the broker may ask us to start.
    policy: Policy,
    /// Packets from the broker we refused (each logged at CRIT).
    refused: u64,
    signals: SignalFd,
    options: Options,
    readiness: Option<Readiness>,
    pidfile: Option<Pidfile>,
    notices: Notices,
    children: BTreeMap<i32, Program>,
    /// The process names of `children`: one instance runs once.
    running: HashSet<String>,
    broker: Option<Broker>,
    ready_once: bool,
    restart_at: Option<Instant>,
    /// Consecutive deaths within `STABLE_AFTER` of starting.
    quick_deaths: u32,
    /// How the last broker died, told to the next one.
    death: Option<String>,
    stop: Option<Stop>,
    /// The highest `KeepSeq` of any broker, for the next one's `Hello`.
    kept_seq: u64,
    /// The `command` probes running, by pid.
    probes: BTreeMap<i32, probes::ProbeRun>,
}

impl Supervisor {
    pub fn new(
        command: BrokerCommand,
        policy: Policy,
        signals: SignalFd,
        mut options: Options,
        readiness: Option<Readiness>,
    ) -> Self {
        let mut notices = Notices::new(options.foreground);
        for notice in std::mem::take(&mut options.early_notices) {
            notices.keep(notice);
        }
        Self {
            command,
            policy,
            refused: 0,
            signals,
            notices,
            options,
            readiness,
            pidfile: None,
            children: BTreeMap::new(),
            running: HashSet::new(),
            broker: None,
            ready_once: false,
            restart_at: None,
            quick_deaths: 0,
            death: None,
            stop: None,
            kept_seq: 0,
            probes: BTreeMap::new(),
        }
    }

    pub fn run(mut self) -> ! {
        self.start_broker();
        loop {
            self.wait_and_handle();
        }
    }

    fn start_broker(&mut self) {
        let (pid, fd) = match self.command.start() {
            Ok(started) => started,
            Err(error) => return self.broker_failed_to_start(error.to_string()),
        };
        let channel = match Channel::new(fd) {
            Ok(channel) => channel,
            Err(error) => {
                let message = error.to_string();
                let _ = kill(pid, Signal::SIGKILL);
                self.broker = Some(Broker {
                    pid,
                    started: Instant::now(),
                    channel: None,
                });
                return self.notices.note(message);
            }
        };
        if let Some(death) = self.death.take() {
            let running = self.children.len();
            let programs = if running == 1 { "program" } else { "programs" };
            self.notices.note(format!(
                "{death}; restarted it with {running} {programs} still running"
            ));
        }
        self.broker = Some(Broker {
            pid,
            started: Instant::now(),
            channel: Some(channel),
        });
        let hello = ToBroker::Hello {
            survivors: self.children.len(),
            notices: self.notices.take(),
            warnings: self.command.warning.iter().cloned().collect(),
            kept_seq: self.kept_seq,
            service_manager: self.options.service.is_some(),
        };
        match self.options.control.handle() {
            Ok(listener) => self.send_with(&hello, vec![listener]),
            Err(e) => {
                self.notices.note(format!(
                    "cannot hand the control socket to taskmaster-broker: {e}"
                ));
                self.send(&hello);
            }
        }
        // One packet per survivor, so that no number of them overflows a
        // packet.
        let pids: Vec<i32> = self.children.keys().copied().collect();
        for pid in pids {
            let child = self.children[&pid].child.clone();
            let (streams, fds) = self.streams_of(pid);
            self.send_with(&ToBroker::Survivor { child, streams }, fds);
        }
    }

    /// Copies of the broker's ends of `pid`'s pipes for one packet. When
    /// they cannot be made (no descriptor left), the program runs on and
    /// the broker is told it gets no streams.
    fn streams_of(&mut self, pid: i32) -> (Vec<Stream>, Vec<OwnedFd>) {
        let Some(program) = self.children.get(&pid) else {
            return (Vec::new(), Vec::new());
        };
        match program.pipes.duplicate() {
            Ok(fds) => (program.pipes.streams().to_vec(), fds),
            Err(message) => {
                let name = program.child.name.clone();
                self.notices.note(format!(
                    "{message}: the output of {name} (pid {pid}) is not captured"
                ));
                (Vec::new(), Vec::new())
            }
        }
    }

    fn broker_failed_to_start(&mut self, message: String) {
        self.notices.note(message);
        if !self.ready_once {
            self.finish(2);
        }
        // Counted as a quick death so that a persistent failure backs off.
        self.schedule_restart(true);
    }

    /// One round of the loop: wait for a signal, the broker or a deadline.
    fn wait_and_handle(&mut self) {
        let now = Instant::now();
        self.run_timers(now);
        let timeout = match self.next_deadline() {
            Some(deadline) => poll_timeout(deadline.saturating_duration_since(now)),
            None => PollTimeout::NONE,
        };
        let (signalled, channel_events) = {
            let mut fds = vec![PollFd::new(self.signals.as_fd(), PollFlags::POLLIN)];
            if let Some(channel) = self.channel() {
                let mut events = PollFlags::POLLIN;
                if channel.wants_to_write() {
                    events |= PollFlags::POLLOUT;
                }
                fds.push(PollFd::new(channel.fd(), events));
            }
            if poll(&mut fds, timeout).is_err() {
                // EINTR, or a transient failure: go round again.
                return;
            }
            let revents = |fd: &PollFd| fd.revents().unwrap_or(PollFlags::empty());
            (!revents(&fds[0]).is_empty(), fds.get(1).map(revents))
        };
        if signalled {
            self.handle_signals();
        }
        if let Some(events) = channel_events {
            if events.contains(PollFlags::POLLOUT) {
                self.flush();
            }
            if events.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                self.read_packets();
            }
        }
    }

    fn channel(&self) -> Option<&Channel> {
        self.broker.as_ref()?.channel.as_ref()
    }

    fn channel_mut(&mut self) -> Option<&mut Channel> {
        self.broker.as_mut()?.channel.as_mut()
    }

    fn next_deadline(&self) -> Option<Instant> {
        let stop = match &self.stop {
            Some(Stop::BrokerFinished { kill_at, .. }) => *kill_at,
            Some(Stop::Ourselves { kills, .. }) => kills.iter().map(|kill| kill.at).min(),
            _ => None,
        };
        [self.restart_at, stop, self.next_probe_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    fn run_timers(&mut self, now: Instant) {
        self.kill_probes(now, false);
        if self.restart_at.is_some_and(|at| at <= now) {
            self.restart_at = None;
            self.start_broker();
        }
        let broker = self.broker.as_ref().map(|b| b.pid);
        match &mut self.stop {
            Some(Stop::BrokerFinished { kill_at, .. }) if kill_at.is_some_and(|at| at <= now) => {
                *kill_at = None;
                if let Some(pid) = broker {
                    let _ = kill(pid, Signal::SIGKILL);
                }
            }
            Some(Stop::Ourselves { .. }) => self.run_kills(now),
            _ => {}
        }
    }

    fn handle_signals(&mut self) {
        let mut child_exited = false;
        while let Ok(Some(info)) = self.signals.read_signal() {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => child_exited = true,
                Ok(signal @ (Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT)) => {
                    self.on_stop_signal(signal)
                }
                // Without a broker there is nothing to do: the next one
                // reads the config and opens the logs afresh.
                Ok(Signal::SIGHUP) => self.send(&ToBroker::Reload),
                Ok(Signal::SIGUSR2) => self.send(&ToBroker::ReopenLogs),
                Ok(_) | Err(_) => {}
            }
        }
        if child_exited {
            self.reap();
        }
    }

    fn reap(&mut self) {
        for (pid, status) in reaper::reap_all() {
            // Its pid may be reused from now on: never SIGKILL it later.
            if let Some(Stop::Ourselves { kills, .. }) = &mut self.stop {
                kills.retain(|kill| kill.pid != pid);
            }
            if self.probe_exited(pid.as_raw(), status) {
                continue;
            }
            if self.broker.as_ref().is_some_and(|b| b.pid == pid) {
                self.drain_dead_broker();
                // Nobody is left to read their answers.
                self.kill_probes(Instant::now(), true);
                self.on_broker_exit(status);
            } else if let Some(program) = self.children.remove(&pid.as_raw()) {
                self.running.remove(&program.child.name);
                // Dropping the program closes our copies of its pipes.
                if let Some(Err(e)) = self
                    .options
                    .inventory
                    .as_mut()
                    .map(|i| i.removed(pid.as_raw()))
                {
                    self.inventory_failed(e.to_string());
                }
                self.on_program_exit(program.child, status);
            }
            // Anything else is an orphan reparented to us: reaped, nothing more.
        }
        self.finish_if_done();
    }

    fn on_program_exit(&mut self, child: Child, status: ExitStatus) {
        if self.channel().is_some() {
            self.send(&ToBroker::Exited {
                pid: child.pid,
                status,
            });
        } else {
            let when = match self.stop {
                Some(_) => "",
                None => " while taskmaster-broker was not running",
            };
            self.notices.note(format!(
                "{} (pid {}) {}{when}",
                child.name,
                child.pid,
                reaper::describe(&status)
            ));
        }
    }

    fn on_broker_exit(&mut self, status: ExitStatus) {
        let Some(broker) = self.broker.take() else {
            return;
        };
        self.keep_unsent_exits(broker.channel);
        let what = format!(
            "taskmaster-broker (pid {}) {}",
            broker.pid,
            reaper::describe(&status)
        );
        match self.stop {
            Some(Stop::Ourselves { .. }) => {}
            Some(Stop::BrokerFinished { code, .. }) if self.children.is_empty() => {
                self.finish(code)
            }
            Some(Stop::BrokerFinished { code, .. }) => self.stop_ourselves(code),
            Some(Stop::ViaBroker) => {
                self.notices.note(format!(
                    "{what} before stopping every program: stopping them directly"
                ));
                self.stop_ourselves(0);
            }
            // It already said why on stderr.
            None if !self.ready_once => self.stop_ourselves(reaper::exit_code(&status)),
            None => {
                self.death = Some(what);
                self.schedule_restart(broker.started.elapsed() < broker::STABLE_AFTER);
            }
        }
    }

    /// Program exits the dead broker never received become notices for the
    /// next one.
    fn keep_unsent_exits(&mut self, channel: Option<Channel>) {
        for message in channel.map(Channel::into_unsent).unwrap_or_default() {
            if let ToBroker::Exited { pid, status } = message {
                self.notices.note(format!(
                    "pid {pid} {} while taskmaster-broker was restarting",
                    reaper::describe(&status)
                ));
            }
        }
    }

    fn schedule_restart(&mut self, died_quickly: bool) {
        self.quick_deaths = if died_quickly {
            self.quick_deaths + 1
        } else {
            1
        };
        self.restart_at = Some(Instant::now() + broker::restart_delay(self.quick_deaths));
    }

    fn read_packets(&mut self) {
        for _ in 0..PACKETS_PER_WAKE {
            let Some(channel) = self.channel_mut() else {
                return;
            };
            match channel.receive() {
                Received::Packet(message, fds) => self.handle(message, fds),
                Received::Malformed(reason) => self.refuse(reason),
                Received::Empty => return,
                Received::Closed => return self.channel_lost(),
            }
        }
    }

    /// What a broker sent before it died (above all its `Exit`) is read
    /// before its death is handled, so that an orderly exit is never taken
    /// for a crash. Spawns are dropped: nobody would take the pipes, and a
    /// new broker starts what must run.
    fn drain_dead_broker(&mut self) {
        while let Some(channel) = self.channel_mut() {
            match channel.receive() {
                Received::Packet(ToSupervisor::Spawn(_) | ToSupervisor::Probe(_), _) => {}
                Received::Packet(message, fds) => self.handle(message, fds),
                Received::Malformed(reason) => self.refuse(reason),
                // Never `channel_lost`: the broker's pid is reaped already
                // and must not be signalled.
                Received::Empty | Received::Closed => return,
            }
        }
    }

    fn handle(&mut self, message: ToSupervisor, fds: Vec<OwnedFd>) {
        if !fds.is_empty() {
            // No request carries any (taskmasterd makes the pipes itself):
            // they are closed here.
            self.refuse(format!(
                "closed {} descriptors sent with a {message:?} packet, which carries none",
                fds.len()
            ));
        }
        match message {
            ToSupervisor::Ready => self.on_ready(),
            ToSupervisor::Spawn(request) => self.on_spawn(&request),
            ToSupervisor::Probe(request) => self.on_probe(&request),
            ToSupervisor::Signal { pid, signal, group } => self.on_signal(pid, signal, group),
            ToSupervisor::Rebind { generation } => self.on_rebind(generation),
            ToSupervisor::CloseStdin { pid } => {
                if let Some(program) = self.children.get_mut(&pid) {
                    program.pipes.close_stdin();
                }
            }
            // The highest only: a broker can push seqs up, never back, and
            // never to where the next broker's counter would overflow.
            ToSupervisor::KeepSeq { seq } if seq > MAX_SEQ => {
                self.refuse(format!("keep seq {seq}: above the highest seq {MAX_SEQ}"));
            }
            ToSupervisor::KeepSeq { seq } => self.kept_seq = self.kept_seq.max(seq),
            ToSupervisor::Exit { code } => {
                self.tell_stopping();
                if matches!(self.stop, None | Some(Stop::ViaBroker)) {
                    self.stop = Some(Stop::BrokerFinished {
                        kill_at: Some(Instant::now() + STOP_GRACE),
                        code: i32::from(code),
                    });
                }
            }
            ToSupervisor::Service { phase, status } => {
                if let Some(service) = &self.options.service {
                    service.phase(phase, &status);
                }
            }
        }
    }

    fn on_ready(&mut self) {
        if self.ready_once {
            return;
        }
        self.ready_once = true;
        if let Some(path) = self.options.pidfile.clone() {
            match Pidfile::write(&path, std::process::id()) {
                Ok(pidfile) => self.pidfile = Some(pidfile),
                Err(message) => self
                    .notices
                    .note(format!("{message}; continuing without it")),
            }
        }
        if let Some(readiness) = self.readiness.take() {
            readiness.ready();
        }
        if self.options.daemonized {
            if let Err(error) = daemon::detach_stdio() {
                self.notices.note(error.to_string());
            }
        }
        self.notices.broker_is_up();
    }

    fn on_spawn(&mut self, request: &SpawnRequest) {
        if self.running.contains(&request.name) {
            // A sound broker never starts a running instance again; a
            // taken-over one could start a defined program without bound.
            let error = format!("'{}' is running already", request.name);
            self.refuse(format!("spawn of {:?}: {error}", request.name));
            let reply = ToBroker::SpawnFailed {
                id: request.id,
                error,
            };
            return self.send(&reply);
        }
        let spec = match self.policy.exec_spec(&request.name, request.generation) {
            Ok(spec) => spec,
            Err(refusal) => {
                let error = refusal.to_string();
                if let Refusal::Undefined { name } = refusal {
                    self.refuse(format!("spawn of {name:?}: {error}"));
                }
                let reply = ToBroker::SpawnFailed {
                    id: request.id,
                    error,
                };
                return self.send(&reply);
            }
        };
        let (pid, pipes) = match spawn::spawn(&spec, self.options.open_files) {
            Ok(spawned) => spawned,
            Err(error) => {
                let reply = ToBroker::SpawnFailed {
                    id: request.id,
                    error: error.to_string(),
                };
                return self.send(&reply);
            }
        };
        let stop = StopPlan::of(&spec);
        let listed = self
            .options
            .inventory
            .as_mut()
            .map(|i| i.added(pid.as_raw(), stop, &spec.name));
        if let Some(Err(e)) = listed {
            self.inventory_failed(e.to_string());
        }
        let child = Child {
            pid: pid.as_raw(),
            name: spec.name.clone(),
            started_at_ms: now_ms(),
        };
        let started_at_ms = child.started_at_ms;
        self.running.insert(child.name.clone());
        self.children
            .insert(child.pid, Program { child, pipes, stop });
        let (streams, fds) = self.streams_of(pid.as_raw());
        let reply = ToBroker::Spawned {
            id: request.id,
            pid: pid.as_raw(),
            started_at_ms,
            streams,
        };
        self.send_with(&reply, fds);
    }

    /// Binds the control socket of config `generation` (a changed
    /// `[unix_http_server]`) and hands it to the broker; the old socket
    /// file goes once the new one is in place.
    fn on_rebind(&mut self, generation: u64) {
        let bound = match self.policy.at_generation(generation) {
            Ok(config) => ControlSocket::bind(&config.server, Some(&self.options.control))
                .map_err(|e| e.to_string()),
            Err(refusal) => Err(refusal.to_string()),
        };
        let reply = bound.and_then(|control| {
            let listener = control
                .handle()
                .map_err(|e| format!("cannot hand the control socket to taskmaster-broker: {e}"))?;
            let old = std::mem::replace(&mut self.options.control, control);
            if old.path() != self.options.control.path() {
                old.remove();
            }
            Ok(listener)
        });
        match reply {
            Ok(listener) => {
                let path = self.options.control.path().to_path_buf();
                self.send_with(&ToBroker::Listener { path }, vec![listener]);
            }
            Err(error) => self.send(&ToBroker::ListenerFailed { error }),
        }
    }

    fn on_signal(&mut self, pid: i32, signal: i32, group: bool) {
        if !self.children.contains_key(&pid) {
            return self.refuse(format!(
                "signal {signal} to pid {pid}: it is not a program taskmasterd started"
            ));
        }
        let Ok(signal) = Signal::try_from(signal) else {
            return self.refuse(format!("unknown signal {signal} to pid {pid}"));
        };
        let target = Pid::from_raw(pid);
        let sent = if group {
            killpg(target, signal)
        } else {
            kill(target, signal)
        };
        if let Err(errno) = sent {
            self.notices.note(format!(
                "cannot send {} to pid {pid}: {}",
                signal.as_str(),
                errno.desc()
            ));
        }
    }

    /// The inventory can no longer be written: it is dropped (a stale one
    /// would make a successor signal the wrong processes) and said once.
    fn inventory_failed(&mut self, error: String) {
        if let Some(inventory) = self.options.inventory.take() {
            inventory.remove();
            self.notices.note(format!(
                "cannot keep the inventory of children ({error}): if taskmasterd is killed, its programs will not be stopped by the next one"
            ));
        }
    }

    /// A packet from the broker that a sound broker never sends: logged
    /// at CRIT on our stderr, counted, and reported to the broker for its
    /// activity log and `status`. Supervision goes on.
    fn refuse(&mut self, what: String) {
        self.refused += 1;
        eprintln!(
            "taskmasterd: CRIT refused request #{} from taskmaster-broker: {what}",
            self.refused
        );
        self.send(&ToBroker::Refused { what });
    }

    fn send(&mut self, message: &ToBroker) {
        self.send_with(message, Vec::new());
    }

    /// Sends `message` with `fds` (closed here once sent, or dropped with
    /// it when there is no broker).
    fn send_with(&mut self, message: &ToBroker, fds: Vec<OwnedFd>) {
        let Some(channel) = self.channel_mut() else {
            return;
        };
        if channel.send(message, fds).is_err() {
            self.channel_lost();
        }
    }

    fn flush(&mut self) {
        if let Some(Err(_)) = self.channel_mut().map(Channel::flush) {
            self.channel_lost();
        }
    }

    /// The broker closed its end or the socket broke: a running broker we
    /// cannot talk to is of no use, so it is killed (and restarted when
    /// reaped).
    fn channel_lost(&mut self) {
        let Some(broker) = self.broker.as_mut() else {
            return;
        };
        let channel = broker.channel.take();
        let pid = broker.pid;
        self.keep_unsent_exits(channel);
        match self.stop {
            // Before its first Ready a broker closes the channel to exit with
            // the status that taskmasterd must exit with: let it.
            None if !self.ready_once => {}
            None => {
                let _ = kill(pid, Signal::SIGKILL);
            }
            Some(Stop::ViaBroker) => {
                self.notices.note(format!(
                    "taskmaster-broker (pid {pid}) went away before stopping every program: stopping them directly"
                ));
                self.stop_ourselves(0);
            }
            Some(Stop::BrokerFinished { .. } | Stop::Ourselves { .. }) => {}
        }
    }
}

/// A poll timeout that never wakes early (rounded up to the millisecond).
fn poll_timeout(wait: Duration) -> PollTimeout {
    let millis = wait.as_micros().div_ceil(1000);
    PollTimeout::try_from(i32::try_from(millis).unwrap_or(i32::MAX)).unwrap_or(PollTimeout::MAX)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
