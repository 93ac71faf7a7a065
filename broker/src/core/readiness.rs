//! `depends_on`, `ready` and `healthcheck` in the core: holding a start
//! until its dependencies run, running the probe a process needs in its
//! state, and acting on health checks.

use super::Core;
use crate::deps::{DepState, Gate, Graph};
use crate::describe::exit_text;
use crate::health::Change;
use crate::history;
use crate::jobs::{Job, Phase, PhaseKind};
use crate::probe::{self, Purpose, Report};
use crate::state::Event;
use crate::targets::Selected;
use std::collections::HashMap;
use std::time::SystemTime;
use taskmaster_config::{HealthAction, LogLevel, Probe, StopLevel, Stream};
use taskmaster_ipc::{ExitStatus, ProbeCheck, ProbeRequest, ToSupervisor};
use taskmaster_protocol::{Cause, EventBody, ProcessState, ReadinessInfo, Transition};
use tokio::sync::{mpsc, oneshot};

/// Datagrams kept from a process whose pid is not known yet.
const MAX_EARLY: usize = 16;

/// The probes' answers, for the core's loop.
pub(super) struct ProbeReports {
    pub sender: mpsc::UnboundedSender<probe::Message>,
    pub receiver: mpsc::UnboundedReceiver<probe::Message>,
    /// `command` probes asked of taskmasterd, by request id.
    commands: HashMap<u64, oneshot::Sender<Result<(), String>>>,
    next_id: u64,
}

impl ProbeReports {
    pub fn new() -> ProbeReports {
        let (sender, receiver) = mpsc::unbounded_channel();
        ProbeReports {
            sender,
            receiver,
            commands: HashMap::new(),
            next_id: 1,
        }
    }
}

impl Core {
    /// A start of process `i` whose dependencies do not all run yet: holds
    /// it (the process stays where it is, `waiting`), starts the
    /// dependencies that are not under way, and returns true.
    pub(super) fn hold_start(&mut self, i: usize) -> bool {
        let Gate::Wait { on, .. } = self.gate(i) else {
            self.table[i].watch.waiting = None;
            return false;
        };
        let name = self.table[i].name.clone();
        let mut starting = Vec::new();
        for d in self.dependency_processes(i) {
            let state = self.table[d].process.state;
            let idle = !state.is_alive() && state != ProcessState::Backoff;
            if idle && self.table[d].watch.waiting.is_none() {
                // Not a cause a past stop left behind.
                self.table[d].cause = Some(Cause::Needed { by: name.clone() });
                self.queue.push_back((d, Event::Start));
                starting.push(d);
            }
        }
        // What it waits for once the starts just queued are under way.
        let on = match self.gate_assuming(i, &starting) {
            Gate::Wait { on, .. } => on,
            Gate::Open => on,
        };
        if self.table[i].watch.waiting.is_none() {
            self.log.info(&format!(
                "{name}: start held until its dependencies run ({on})"
            ));
            self.note(i, Cause::Waiting { on: on.clone() });
        }
        self.table[i].watch.waiting = Some(on);
        // Queued starts may settle it; if not, the request is answered now.
        if let Gate::Wait { on, stuck: true } = self.gate(i) {
            if !self.queue.iter().any(|(_, e)| *e == Event::Start) {
                self.fail_jobs(i, &format!("waiting: {on}"));
            }
        }
        true
    }

    /// A spawn the state machine asks for on its own (autorestart, a retry
    /// after BACKOFF) while a dependency is not RUNNING: holds it (the
    /// process stays STARTING, `waiting`) and returns true. Released by
    /// [`Core::after_change`].
    pub(super) fn hold_spawn(&mut self, i: usize) -> bool {
        if self.graph.is_empty() {
            return false;
        }
        let Gate::Wait { on, .. } = self.gate(i) else {
            return false;
        };
        let name = &self.table[i].name;
        self.log.info(&format!(
            "{name}: restart held until its dependencies run ({on})"
        ));
        self.note(i, Cause::Waiting { on: on.clone() });
        self.table[i].watch.waiting = Some(on);
        true
    }

    /// After process `i` changed state: the held starts that this may
    /// release or leave stuck.
    pub(super) fn after_change(&mut self, i: usize) {
        if self.graph.is_empty() {
            return;
        }
        let program = self.table[i].program.clone();
        self.reconsider(|graph, waiter| graph.needs(waiter).contains(&program));
    }

    /// After a reload: `depends_on` may have changed for any held process.
    pub(super) fn reconsider_held(&mut self) {
        self.reconsider(|_, _| true);
    }

    /// Releases the held processes whose program `concerned` says may be
    /// affected and whose dependencies all run now; answers the requests
    /// of those that are stuck.
    fn reconsider(&mut self, concerned: impl Fn(&Graph, &str) -> bool) {
        let held: Vec<usize> = (0..self.table.len())
            .filter(|&w| {
                self.table[w].watch.waiting.is_some()
                    && concerned(&self.graph, &self.table[w].program)
            })
            .collect();
        for w in held {
            match self.gate(w) {
                Gate::Open => {
                    self.table[w].watch.waiting = None;
                    let dependencies = self.graph.needs(&self.table[w].program).to_vec();
                    if self.table[w].process.state == ProcessState::Starting {
                        let cause = None;
                        self.note(
                            w,
                            Cause::Released {
                                dependencies,
                                cause,
                            },
                        );
                        self.spawn(w);
                    } else {
                        // The start it was held from, told with its release.
                        let held = self.table[w].cause.take().unwrap_or(Cause::Autostart);
                        let cause = Some(Box::new(held));
                        self.table[w].cause = Some(Cause::Released {
                            dependencies,
                            cause,
                        });
                        self.queue.push_back((w, Event::Start));
                    }
                }
                Gate::Wait { on, stuck } => {
                    if stuck && self.table[w].watch.waiting.as_deref() != Some(&on) {
                        let name = self.table[w].name.clone();
                        self.log.warn(&format!("{name}: not started: {on}"));
                        self.note(w, Cause::Waiting { on: on.clone() });
                        self.fail_jobs(w, &format!("waiting: {on}"));
                    }
                    self.table[w].watch.waiting = Some(on);
                }
            }
        }
    }

    /// A stop of a held process: it no longer waits.
    pub(super) fn cancel_hold(&mut self, i: usize) {
        if self.table[i].watch.waiting.take().is_none() {
            return;
        }
        if self.table[i].process.state == ProcessState::Starting {
            // A held spawn: the attempt ends without a process.
            let error = "stopped while waiting for its dependencies".to_string();
            self.queue.push_back((i, Event::SpawnFailed { error }));
        }
        self.fail_jobs(i, "stopped while waiting for its dependencies");
    }

    fn gate(&self, i: usize) -> Gate {
        self.gate_assuming(i, &[])
    }

    /// The gate of process `i` with the dependencies in `starting` read as
    /// STARTING (their starts are queued).
    fn gate_assuming(&self, i: usize, starting: &[usize]) -> Gate {
        let deps = self.dependency_processes(i);
        Graph::gate(deps.into_iter().map(|d| {
            let proc = &self.table[d];
            let state = if starting.contains(&d) {
                ProcessState::Starting
            } else {
                proc.process.state
            };
            DepState {
                name: &proc.name,
                state,
                waiting: proc.watch.waiting.is_some(),
            }
        }))
    }

    fn dependency_processes(&self, i: usize) -> Vec<usize> {
        let needs = self.graph.needs(&self.table[i].program);
        if needs.is_empty() {
            return Vec::new();
        }
        (0..self.table.len())
            .filter(|&d| !self.table[d].retired && needs.contains(&self.table[d].program))
            .collect()
    }

    /// Answers every job waiting on process `i` that it will not start.
    fn fail_jobs(&mut self, i: usize, message: &str) {
        let state = self.table[i].process.state;
        let name = self.table[i].name.clone();
        self.complete_jobs(|job| job.fail(i, &name, state, message));
    }

    /// The processes that also stop when `selected` stop: those of every
    /// program depending on theirs, directly or not.
    pub(super) fn dependents(&self, selected: &[Selected]) -> Vec<Selected> {
        if self.graph.is_empty() {
            return Vec::new();
        }
        let programs = selected
            .iter()
            .map(|s| self.table[s.index].program.clone())
            .collect();
        let all = self.graph.with_dependents(&programs);
        (0..self.table.len())
            .filter(|&d| {
                let proc = &self.table[d];
                !proc.retired
                    && all.contains(&proc.program)
                    && !programs.contains(&proc.program)
                    && !selected.iter().any(|s| s.index == d)
            })
            .map(|index| Selected {
                index,
                explicit: false,
            })
            .collect()
    }

    /// Why dependent `d` stops with `selected` (`command`: "stop" or
    /// "restart"): the first of them its program depends on.
    pub(super) fn taken_down_by(&self, d: usize, selected: &[Selected], command: &str) -> Cause {
        let program = &self.table[d].program;
        let dependency = selected
            .iter()
            .map(|s| &self.table[s.index].program)
            .find(|p| {
                let one = std::iter::once((*p).clone()).collect();
                self.graph.with_dependents(&one).contains(program)
            })
            .cloned()
            .unwrap_or_default();
        Cause::Dependency {
            dependency,
            command: command.to_string(),
        }
    }

    /// Adds to process `i`'s history something that did not change its
    /// state: a start held or released by `depends_on`.
    fn note(&mut self, i: usize, cause: Cause) {
        let proc = &mut self.table[i];
        let state = proc.process.state;
        proc.history.push(Transition {
            time_ms: super::unix_ms(SystemTime::now()),
            from: state,
            to: state,
            text: history::text(state, &cause, None),
            cause,
            retry: None,
        });
        self.history_changed();
    }

    /// The stop order: dependents first (deepest in the dependency graph),
    /// then by priority, highest first; the rule taskmasterd's stop budget
    /// for systemd follows too.
    pub(super) fn stop_key(&self, i: usize) -> StopLevel {
        let proc = &self.table[i];
        StopLevel {
            depth: self.config.dependency_depth(&proc.program),
            order: proc.order,
        }
    }

    /// Starts, replaces or ends the probe of process `i` for its state: the
    /// ready probe while STARTING with a pid, the health check while
    /// RUNNING, nothing otherwise; and the watchdog while RUNNING.
    pub(super) fn refresh_probe(&mut self, i: usize) {
        let proc = &mut self.table[i];
        let running = proc.process.state == ProcessState::Running && proc.process.pid.is_some();
        let readiness = &proc.def.readiness;
        if readiness.ready != Some(Probe::Notify) {
            proc.watch.notify = None;
        } else if proc.watch.notify.is_none() && proc.process.state.is_alive() {
            // Adopted after a broker restart: the program still writes to
            // the same path, bound afresh.
            self.prepare_notify(i);
        }
        let proc = &mut self.table[i];
        let readiness = &proc.def.readiness;
        match (running, readiness.watchdog, proc.process.pid) {
            (true, Some(limit), Some(pid)) if proc.watch.watchdog.is_none() => {
                let reporter = self.reporter(i, pid, Purpose::Watchdog);
                self.table[i].watch.watchdog = Some(probe::watchdog(limit, reporter));
            }
            (true, Some(_), _) => {}
            _ => proc.watch.watchdog = None,
        }
        let proc = &self.table[i];
        let p = &proc.process;
        let readiness = &proc.def.readiness;
        let polled = readiness
            .ready
            .as_ref()
            .is_some_and(|r| *r != Probe::Notify);
        let wanted = match (p.state, p.pid) {
            (ProcessState::Starting, Some(_)) if polled && !p.ready => Some(Purpose::Ready),
            (ProcessState::Running, Some(_)) if readiness.healthcheck.is_some() => {
                Some(Purpose::Health)
            }
            _ => None,
        };
        let current = proc.watch.probe.as_ref().map(|(purpose, _)| *purpose);
        if wanted == current {
            return;
        }
        self.table[i].watch.probe = None;
        let (Some(purpose), Some(pid)) = (wanted, self.table[i].process.pid) else {
            return;
        };
        let reporter = self.reporter(i, pid, purpose);
        let proc = &mut self.table[i];
        let mut logs = vec![self.config.log_path(&proc.def, &proc.name, Stream::Stdout)];
        if !proc.def.redirect_stderr {
            logs.push(self.config.log_path(&proc.def, &proc.name, Stream::Stderr));
        }
        let readiness = &proc.def.readiness;
        let running = match (&readiness.ready, &readiness.healthcheck, purpose) {
            (Some(probe), _, Purpose::Ready) => {
                proc.watch.ready_error = None;
                probe::ready(probe.clone(), readiness.ready_interval, logs, reporter)
            }
            (_, Some(check), _) => {
                proc.watch.health = Default::default();
                probe::health(check.clone(), logs, reporter)
            }
            _ => return,
        };
        proc.watch.probe = Some((purpose, running));
    }

    fn reporter(&self, i: usize, pid: i32, purpose: Purpose) -> probe::Reporter {
        probe::Reporter {
            name: self.table[i].name.clone(),
            pid,
            purpose,
            reports: self.probe_reports.sender.clone(),
        }
    }

    /// Before a spawn of process `i` with `ready = { notify = true }`: its
    /// socket, so that the program finds it from its first instruction.
    pub(super) fn prepare_notify(&mut self, i: usize) {
        if self.table[i].process.pid.is_none() {
            // A new process: what the last one said no longer holds.
            self.table[i].watch.notify_status = None;
            self.table[i].watch.stranger_logged = false;
        }
        let proc = &self.table[i];
        if proc.def.readiness.ready != Some(Probe::Notify) || proc.watch.notify.is_some() {
            return;
        }
        let path = self.config.notify_socket(&proc.name);
        let sender = self.probe_reports.sender.clone();
        match probe::listen_notify(&path, proc.name.clone(), sender) {
            Ok(listener) => self.table[i].watch.notify = Some(listener),
            Err(error) => {
                let name = proc.name.clone();
                self.log.error(&format!(
                    "{name}: no notify socket, so it cannot say READY=1: {error}"
                ));
                self.table[i].watch.ready_error = Some(error);
            }
        }
    }

    /// What the probe tasks say.
    pub(super) fn on_probe_message(&mut self, message: probe::Message) {
        match message {
            probe::Message::Answer(report) => self.on_probe(report),
            probe::Message::Notify(notified) => self.on_notify(notified),
            probe::Message::RunCommand {
                name,
                pid,
                purpose,
                reply,
            } => {
                let Some(i) = self.table.named(&name) else {
                    return;
                };
                if self.table[i].process.pid != Some(pid) {
                    return;
                }
                let reports = &mut self.probe_reports;
                let id = reports.next_id;
                reports.next_id += 1;
                reports.commands.insert(id, reply);
                let check = match purpose {
                    Purpose::Ready => ProbeCheck::Ready,
                    Purpose::Health | Purpose::Watchdog => ProbeCheck::Health,
                };
                let request = ProbeRequest {
                    id,
                    name,
                    generation: self.config.generation,
                    check,
                };
                self.link.send(&ToSupervisor::Probe(request), Vec::new());
            }
        }
    }

    /// taskmasterd's answer to a `command` probe: exit 0 is success.
    pub(super) fn on_command_probe(&mut self, id: u64, outcome: Result<ExitStatus, String>) {
        let Some(reply) = self.probe_reports.commands.remove(&id) else {
            return;
        };
        let outcome = match outcome {
            Ok(ExitStatus::Code { code: 0 }) => Ok(()),
            Ok(status @ ExitStatus::Signal { signal: 9, .. }) => {
                Err(format!("{} (ran past its time limit)", exit_text(status)))
            }
            Ok(status) => Err(exit_text(status)),
            Err(error) => Err(error),
        };
        // The probe task may have given up waiting.
        let _ = reply.send(outcome);
    }

    /// A probe answered.
    fn on_probe(&mut self, report: Report) {
        let Some(i) = self.table.named(&report.name) else {
            return;
        };
        if self.table[i].process.pid != Some(report.pid) {
            return;
        }
        match (report.purpose, report.outcome) {
            (Purpose::Ready, Ok(())) => self.ready(i),
            (Purpose::Ready, Err(error)) => self.table[i].watch.ready_error = Some(error),
            (Purpose::Health, outcome) => self.on_health(i, outcome),
            (Purpose::Watchdog, outcome) => {
                let error = outcome.err().unwrap_or_default();
                let name = self.table[i].name.clone();
                let health = format!("unhealthy ({error})");
                self.log.warn(&format!("{name}: {health} (watchdog)"));
                self.publish(EventBody::Health {
                    name,
                    healthy: false,
                    health,
                });
                self.table[i].watch.watchdog = None;
                let cause = unhealthy("watchdog", 1, error, HealthAction::Restart);
                self.act_on_health(i, HealthAction::Restart, "its watchdog ran out", cause);
            }
        }
    }

    fn ready(&mut self, i: usize) {
        let proc = &mut self.table[i];
        proc.watch.probe = None;
        proc.watch.ready_error = None;
        let line = format!("{}: ready ({})", proc.name, probe_text(proc));
        self.log.info(&line);
        self.dispatch(i, Event::Ready);
    }

    /// A datagram on a process's notify socket.
    fn on_notify(&mut self, notified: probe::Notified) {
        let Some(i) = self.table.named(&notified.name) else {
            return;
        };
        let name = self.table[i].name.clone();
        let Some(pid) = self.table[i].process.pid else {
            // Sent before taskmasterd's `Spawned` reached us: judged once
            // the pid is known.
            let proc = &mut self.table[i];
            if proc.process.spawning && proc.watch.early.len() < MAX_EARLY {
                proc.watch.early.push(notified);
            }
            return;
        };
        if !notified.sender.is_some_and(|sender| belongs(sender, pid)) {
            if std::mem::replace(&mut self.table[i].watch.stranger_logged, true) {
                return;
            }
            let sender = notified.sender.unwrap_or_default();
            return self.log.warn(&format!(
                "{name}: ignored a notification from pid {sender}, which is not {name} (pid {pid}) \
                 nor in its session; further ones are ignored without a word until it restarts"
            ));
        }
        for (key, value) in notified.fields {
            match (key.as_str(), value.as_str()) {
                ("READY", "1") if self.table[i].process.state == ProcessState::Starting => {
                    self.ready(i);
                }
                ("STATUS", _) => self.table[i].watch.notify_status = Some(value),
                ("STOPPING", "1") => self.log.info(&format!("{name}: says it is stopping")),
                ("WATCHDOG", "1") => {
                    // The timer starts over.
                    self.table[i].watch.watchdog = None;
                    self.refresh_probe(i);
                }
                _ => {}
            }
        }
    }

    /// Once process `i` has its pid: the datagrams it sent before.
    pub(super) fn replay_notifications(&mut self, i: usize) {
        for notified in std::mem::take(&mut self.table[i].watch.early) {
            self.on_notify(notified);
        }
    }

    fn on_health(&mut self, i: usize, outcome: Result<(), String>) {
        let proc = &mut self.table[i];
        let Some(check) = proc.def.readiness.healthcheck.clone() else {
            return;
        };
        let change = proc.watch.health.observe(outcome, check.retries);
        let health = proc
            .watch
            .health
            .describe(check.retries)
            .unwrap_or_default();
        let name = proc.name.clone();
        let act = match change {
            Change::Same => return,
            Change::Recovered => {
                self.log.info(&format!("{name}: healthy again"));
                false
            }
            Change::Failed { act } => {
                self.log
                    .warn(&format!("{name}: {health} ({})", check.probe));
                act
            }
        };
        self.publish(EventBody::Health {
            name,
            healthy: change == Change::Recovered,
            health,
        });
        if act {
            let why = format!("{} consecutive failed health checks", check.retries);
            let error = self.table[i].watch.health.error.clone().unwrap_or_default();
            let cause = unhealthy("healthcheck", check.retries, error, check.action);
            self.act_on_health(i, check.action, &why, cause);
        }
    }

    /// Restarts or stops process `i` because it is unhealthy (`why`, and
    /// `cause` for its history).
    fn act_on_health(&mut self, i: usize, action: HealthAction, why: &str, cause: Cause) {
        let member = vec![Selected {
            index: i,
            explicit: false,
        }];
        let (what, phases) = match action {
            HealthAction::None => return,
            HealthAction::Stop => (
                "stopping",
                vec![Phase {
                    kind: PhaseKind::Stop,
                    members: member,
                }],
            ),
            HealthAction::Restart => (
                "restarting",
                vec![
                    Phase {
                        kind: PhaseKind::Stop,
                        members: member.clone(),
                    },
                    Phase {
                        kind: PhaseKind::Start,
                        members: member,
                    },
                ],
            ),
        };
        let name = &self.table[i].name;
        let line = format!("{name}: {what} it: {why} (healthcheck action)");
        self.log.log(LogLevel::Warn, &line);
        let mut job = Job::new(None, phases);
        job.cause = Some(cause);
        self.advance(job);
    }
}

/// The cause a health action leaves in the history.
fn unhealthy(probe: &str, failures: u32, error: String, action: HealthAction) -> Cause {
    let action = match action {
        HealthAction::Stop => "stop",
        HealthAction::Restart | HealthAction::None => "restart",
    };
    Cause::Unhealthy {
        probe: probe.to_string(),
        failures,
        error,
        action: action.to_string(),
    }
}

/// Whether `sender` is the process `pid` or in its session: programs run
/// in sessions of their own, so a helper the program forks may notify too.
fn belongs(sender: i32, pid: i32) -> bool {
    use nix::unistd::{getsid, Pid};
    sender == pid || getsid(Some(Pid::from_raw(sender))).is_ok_and(|sid| sid.as_raw() == pid)
}

fn probe_text(proc: &crate::proc::Proc) -> String {
    proc.def
        .readiness
        .ready
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

impl Core {
    /// `ready`, `health` and `waiting_for` of process `i` for `status`,
    /// and the words they add to its description.
    pub(super) fn readiness_info(&self, i: usize, description: &mut String) -> ReadinessInfo {
        let proc = &self.table[i];
        let p = &proc.process;
        let readiness = &proc.def.readiness;
        let probed = matches!(p.state, ProcessState::Starting | ProcessState::Running);
        let ready = (readiness.ready.is_some() && probed && p.pid.is_some())
            .then_some(p.ready || p.state == ProcessState::Running);
        let health = match (&readiness.healthcheck, p.state) {
            (Some(check), ProcessState::Running) => proc.watch.health.describe(check.retries),
            _ => None,
        };
        if let Some(on) = &proc.watch.waiting {
            *description = format!("waiting: {on}");
        } else if ready == Some(false) {
            let why = proc.watch.ready_error.as_deref().unwrap_or("probing");
            *description = format!("pid {}, not ready yet ({why})", p.pid.unwrap_or_default());
        }
        if let Some(health) = health.as_ref().filter(|h| h.starts_with("unhealthy")) {
            description.push_str(&format!(", {health}"));
        }
        if let Some(text) = proc
            .watch
            .notify_status
            .as_ref()
            .filter(|_| p.pid.is_some())
        {
            description.push_str(&format!(", \"{text}\""));
        }
        ReadinessInfo {
            ready,
            health,
            waiting_for: proc.watch.waiting.clone(),
            notify_status: proc.watch.notify_status.clone().filter(|_| p.pid.is_some()),
        }
    }
}
