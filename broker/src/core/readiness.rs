//! `depends_on`, `ready` and `healthcheck` in the core: holding a start
//! until its dependencies run, running the probe a process needs in its
//! state, and acting on health checks.

use super::Core;
use crate::deps::{DepState, Gate, Graph};
use crate::health::Change;
use crate::jobs::{Job, Phase, PhaseKind};
use crate::probe::{self, Purpose, Report};
use crate::state::Event;
use crate::targets::Selected;
use taskmaster_config::{HealthAction, LogLevel, Stream};
use taskmaster_protocol::{EventBody, ProcessState, ReadinessInfo};
use tokio::sync::mpsc;

/// The probes' answers, for the core's loop.
pub(super) struct ProbeReports {
    pub sender: mpsc::UnboundedSender<Report>,
    pub receiver: mpsc::UnboundedReceiver<Report>,
}

impl ProbeReports {
    pub fn new() -> ProbeReports {
        let (sender, receiver) = mpsc::unbounded_channel();
        ProbeReports { sender, receiver }
    }
}

impl Core {
    /// A start of process `i` whose dependencies do not all run yet: holds
    /// it (the process stays where it is, `waiting`), starts the
    /// dependencies that are not under way, and returns true.
    pub(super) fn hold_start(&mut self, i: usize) -> bool {
        let gate = self.gate(i);
        let Gate::Wait { on, .. } = gate else {
            self.table[i].watch.waiting = None;
            return false;
        };
        let name = self.table[i].name.clone();
        if self.table[i].watch.waiting.is_none() {
            self.log.info(&format!(
                "{name}: start held until its dependencies run ({on})"
            ));
        }
        self.table[i].watch.waiting = Some(on);
        for d in self.dependency_processes(i) {
            let state = self.table[d].process.state;
            let idle = !state.is_alive() && state != ProcessState::Backoff;
            if idle && self.table[d].watch.waiting.is_none() {
                self.queue.push_back((d, Event::Start));
            }
        }
        // Queued starts may settle it; if not, the request is answered now.
        if let Gate::Wait { on, stuck: true } = self.gate(i) {
            if !self.queue.iter().any(|(_, e)| *e == Event::Start) {
                self.fail_jobs(i, &format!("waiting: {on}"));
            }
        }
        true
    }

    /// After process `i` changed state: the held starts that this may
    /// release or leave stuck.
    pub(super) fn after_change(&mut self, i: usize) {
        if self.graph.is_empty() {
            return;
        }
        let program = self.table[i].program.clone();
        let held: Vec<usize> = (0..self.table.len())
            .filter(|&w| {
                self.table[w].watch.waiting.is_some()
                    && self.graph.needs(&self.table[w].program).contains(&program)
            })
            .collect();
        for w in held {
            match self.gate(w) {
                Gate::Open => {
                    self.table[w].watch.waiting = None;
                    self.queue.push_back((w, Event::Start));
                }
                Gate::Wait { on, stuck } => {
                    if stuck && self.table[w].watch.waiting.as_deref() != Some(&on) {
                        let name = self.table[w].name.clone();
                        self.log.warn(&format!("{name}: not started: {on}"));
                        self.fail_jobs(w, &format!("waiting: {on}"));
                    }
                    self.table[w].watch.waiting = Some(on);
                }
            }
        }
    }

    /// A stop of a held process: it no longer waits.
    pub(super) fn cancel_hold(&mut self, i: usize) {
        if self.table[i].watch.waiting.take().is_some() {
            self.fail_jobs(i, "stopped while waiting for its dependencies");
        }
    }

    fn gate(&self, i: usize) -> Gate {
        let deps = self.dependency_processes(i);
        Graph::gate(deps.into_iter().map(|d| {
            let proc = &self.table[d];
            DepState {
                name: &proc.name,
                state: proc.process.state,
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

    /// The stop order: dependents first (deepest in the dependency graph),
    /// then by priority, highest first.
    pub(super) fn stop_key(&self, i: usize) -> (usize, (i32, i32)) {
        let proc = &self.table[i];
        (self.graph.depth(&proc.program), proc.order)
    }

    /// Starts, replaces or ends the probe of process `i` for its state: the
    /// ready probe while STARTING with a pid, the health check while
    /// RUNNING, nothing otherwise.
    pub(super) fn refresh_probe(&mut self, i: usize) {
        let proc = &self.table[i];
        let p = &proc.process;
        let readiness = &proc.def.readiness;
        let wanted = match (p.state, p.pid) {
            (ProcessState::Starting, Some(_)) if readiness.ready.is_some() && !p.ready => {
                Some(Purpose::Ready)
            }
            (ProcessState::Running, Some(_)) if readiness.healthcheck.is_some() => {
                Some(Purpose::Health)
            }
            _ => None,
        };
        let current = proc.watch.probe.as_ref().map(|(purpose, _)| *purpose);
        if wanted == current {
            return;
        }
        let proc = &mut self.table[i];
        proc.watch.probe = None;
        let (Some(purpose), Some(pid)) = (wanted, proc.process.pid) else {
            return;
        };
        let mut logs = vec![self.config.log_path(&proc.def, &proc.name, Stream::Stdout)];
        if !proc.def.redirect_stderr {
            logs.push(self.config.log_path(&proc.def, &proc.name, Stream::Stderr));
        }
        let reporter = probe::Reporter {
            name: proc.name.clone(),
            pid,
            purpose,
            reports: self.probe_reports.sender.clone(),
        };
        let readiness = &proc.def.readiness;
        let running = match purpose {
            Purpose::Ready => {
                proc.watch.ready_error = None;
                let probe = readiness.ready.clone().expect("checked above");
                probe::ready(probe, readiness.ready_interval, logs, reporter)
            }
            Purpose::Health => {
                proc.watch.health = Default::default();
                let check = readiness.healthcheck.clone().expect("checked above");
                probe::health(check, logs, reporter)
            }
        };
        proc.watch.probe = Some((purpose, running));
    }

    /// A probe answered.
    pub(super) fn on_probe(&mut self, report: Report) {
        let Some(i) = self.table.named(&report.name) else {
            return;
        };
        if self.table[i].process.pid != Some(report.pid) {
            return;
        }
        match (report.purpose, report.outcome) {
            (Purpose::Ready, Ok(())) => {
                let proc = &mut self.table[i];
                proc.watch.probe = None;
                proc.watch.ready_error = None;
                let line = format!("{}: ready ({})", proc.name, probe_text(proc));
                self.log.info(&line);
                self.dispatch(i, Event::Ready);
            }
            (Purpose::Ready, Err(error)) => self.table[i].watch.ready_error = Some(error),
            (Purpose::Health, outcome) => self.on_health(i, outcome),
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
            name: name.clone(),
            healthy: change == Change::Recovered,
            health,
        });
        if !act {
            return;
        }
        let member = vec![Selected {
            index: i,
            explicit: false,
        }];
        let phases = match check.action {
            HealthAction::None => return,
            HealthAction::Stop => vec![Phase {
                kind: PhaseKind::Stop,
                members: member,
            }],
            HealthAction::Restart => vec![
                Phase {
                    kind: PhaseKind::Stop,
                    members: member.clone(),
                },
                Phase {
                    kind: PhaseKind::Start,
                    members: member,
                },
            ],
        };
        let what = match check.action {
            HealthAction::Stop => "stopping",
            _ => "restarting",
        };
        let line = format!(
            "{name}: {what} it: {} consecutive failed health checks (healthcheck action)",
            check.retries
        );
        self.log.log(LogLevel::Warn, &line);
        self.advance(Job::new(None, phases));
    }
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
        let ready = (readiness.ready.is_some() && p.pid.is_some())
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
        ReadinessInfo {
            ready,
            health,
            waiting_for: proc.watch.waiting.clone(),
        }
    }
}
