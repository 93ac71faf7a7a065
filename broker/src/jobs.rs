//! Start, stop and restart requests that answer once their processes have
//! settled: a [`Job`] is a queue of phases (stop one priority level, then
//! the next; then start), each complete when all its processes have
//! reached a resting state.

use crate::proc::Proc;
use crate::targets::Selected;
use std::collections::{BTreeMap, VecDeque};
use taskmaster_protocol::{ActionResult, Cause, ProcessState, Response};
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseKind {
    Start,
    Stop,
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub kind: PhaseKind,
    pub members: Vec<Selected>,
}

/// What to do with one member when its phase begins.
pub enum Precheck {
    /// Send it the phase's event and wait for it to settle.
    Issue,
    /// Only wait: it is already on its way (a stop of a STOPPING process).
    Wait,
    /// Nothing to do; the result to report, if any.
    Done(Option<ActionResult>),
}

pub struct Job {
    /// Where the reply goes; `None` for shutdown and for `wait: false`.
    pub reply: Option<oneshot::Sender<Response>>,
    /// Tell taskmasterd to exit when the job is done (shutdown).
    pub exit_when_done: bool,
    /// For a reload: the plan, returned with the results.
    pub plan: Option<String>,
    /// Who or what asked, for each process's history.
    pub cause: Option<Cause>,
    /// Causes that replace `cause` for some processes: the dependents a
    /// stop takes down, by index.
    pub causes: BTreeMap<usize, Cause>,
    phases: VecDeque<Phase>,
    current: Option<PhaseKind>,
    pending: Vec<usize>,
    results: Vec<ActionResult>,
}

impl Job {
    pub fn new(reply: Option<oneshot::Sender<Response>>, phases: Vec<Phase>) -> Job {
        Job {
            reply,
            exit_when_done: false,
            plan: None,
            cause: None,
            causes: BTreeMap::new(),
            phases: phases.into(),
            current: None,
            pending: Vec::new(),
            results: Vec::new(),
        }
    }

    /// Who or what asked for process `i`'s part in the job.
    pub fn cause_of(&self, i: usize) -> Option<&Cause> {
        self.causes.get(&i).or(self.cause.as_ref())
    }

    pub fn next_phase(&mut self) -> Option<Phase> {
        let phase = self.phases.pop_front()?;
        self.current = Some(phase.kind);
        Some(phase)
    }

    /// Decides what a member needs at the start of a phase.
    pub fn precheck(
        kind: PhaseKind,
        selected: Selected,
        name: &str,
        state: ProcessState,
    ) -> Precheck {
        use ProcessState::*;
        let refuse = |message: &str| {
            Precheck::Done(selected.explicit.then(|| ActionResult {
                name: name.to_string(),
                ok: false,
                state,
                message: message.to_string(),
            }))
        };
        match (kind, state) {
            (PhaseKind::Start, Starting | Running | Stopping) => refuse("already started"),
            (PhaseKind::Start, _) => Precheck::Issue,
            (PhaseKind::Stop, Starting | Running | Backoff) => Precheck::Issue,
            (PhaseKind::Stop, Stopping) => Precheck::Wait,
            (PhaseKind::Stop, _) => refuse("not running"),
        }
    }

    pub fn wait_for(&mut self, index: usize) {
        self.pending.push(index);
    }

    pub fn record(&mut self, result: Option<ActionResult>) {
        self.results.extend(result);
    }

    pub fn waiting(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Notes that process `index` is now in `state`; true when that
    /// completes the current phase.
    pub fn settle(
        &mut self,
        index: usize,
        name: &str,
        state: ProcessState,
        spawn_error: bool,
    ) -> bool {
        use ProcessState::*;
        let Some(position) = self.pending.iter().position(|&i| i == index) else {
            return false;
        };
        let outcome = match (self.current, state) {
            (Some(PhaseKind::Start), Running | Exited) => Some((true, "started")),
            (Some(PhaseKind::Start), Backoff | Fatal) if spawn_error => {
                Some((false, "spawn error"))
            }
            (Some(PhaseKind::Start), Backoff | Fatal) => Some((false, "abnormal termination")),
            (Some(PhaseKind::Start), Stopped) => Some((false, "stopped before it was running")),
            (Some(PhaseKind::Stop), Stopped | Exited | Fatal) => Some((true, "stopped")),
            (_, Unknown) => Some((false, "unknown state")),
            _ => None,
        };
        let Some((ok, message)) = outcome else {
            return false;
        };
        self.pending.swap_remove(position);
        self.results.push(ActionResult {
            name: name.to_string(),
            ok,
            state,
            message: message.to_string(),
        });
        self.pending.is_empty()
    }

    /// Answers for process `index` that it will not start now (`message`
    /// says why); true when that completes the current phase.
    pub fn fail(&mut self, index: usize, name: &str, state: ProcessState, message: &str) -> bool {
        let Some(position) = self.pending.iter().position(|&i| i == index) else {
            return false;
        };
        self.pending.swap_remove(position);
        self.results.push(ActionResult {
            name: name.to_string(),
            ok: false,
            state,
            message: message.to_string(),
        });
        self.pending.is_empty()
    }

    /// For `wait: false`: one "accepted" line per process the job will act on.
    pub fn accepted(&self, procs: &[Proc]) -> Vec<ActionResult> {
        let mut seen = Vec::new();
        let mut results = Vec::new();
        for member in self.phases.iter().flat_map(|p| &p.members) {
            if !seen.contains(&member.index) {
                seen.push(member.index);
                let proc = &procs[member.index];
                results.push(ActionResult {
                    name: proc.name.clone(),
                    ok: true,
                    state: proc.process.state,
                    message: "accepted".to_string(),
                });
            }
        }
        results
    }

    pub fn into_results(
        self,
    ) -> (
        Vec<ActionResult>,
        Option<String>,
        Option<oneshot::Sender<Response>>,
    ) {
        (self.results, self.plan, self.reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel(index: usize, explicit: bool) -> Selected {
        Selected { index, explicit }
    }

    #[test]
    fn refusals_only_for_explicit_names() {
        let p = Job::precheck(PhaseKind::Start, sel(0, true), "web", ProcessState::Running);
        assert!(
            matches!(p, Precheck::Done(Some(ref r)) if r.message == "already started" && !r.ok)
        );
        let p = Job::precheck(
            PhaseKind::Start,
            sel(0, false),
            "web",
            ProcessState::Running,
        );
        assert!(matches!(p, Precheck::Done(None)));
        let p = Job::precheck(PhaseKind::Stop, sel(0, true), "web", ProcessState::Exited);
        assert!(matches!(p, Precheck::Done(Some(ref r)) if r.message == "not running"));
        assert!(matches!(
            Job::precheck(PhaseKind::Stop, sel(0, true), "web", ProcessState::Backoff),
            Precheck::Issue
        ));
        assert!(matches!(
            Job::precheck(PhaseKind::Stop, sel(0, true), "web", ProcessState::Stopping),
            Precheck::Wait
        ));
    }

    #[test]
    fn phase_completes_when_every_member_settles() {
        let mut job = Job::new(
            None,
            vec![Phase {
                kind: PhaseKind::Start,
                members: vec![sel(0, true), sel(1, true)],
            }],
        );
        job.next_phase();
        job.wait_for(0);
        job.wait_for(1);
        assert!(!job.settle(0, "a", ProcessState::Starting, false));
        assert!(!job.settle(0, "a", ProcessState::Running, false));
        assert!(!job.settle(7, "x", ProcessState::Running, false));
        assert!(job.settle(1, "b", ProcessState::Fatal, true));
        let (results, _, _) = job.into_results();
        let words: Vec<_> = results
            .iter()
            .map(|r| (r.name.as_str(), r.ok, r.message.as_str()))
            .collect();
        assert_eq!(words, [("a", true, "started"), ("b", false, "spawn error")]);
    }

    #[test]
    fn stop_phase_waits_for_stopped() {
        let mut job = Job::new(
            None,
            vec![Phase {
                kind: PhaseKind::Stop,
                members: vec![sel(0, true)],
            }],
        );
        job.next_phase();
        job.wait_for(0);
        assert!(!job.settle(0, "a", ProcessState::Stopping, false));
        assert!(job.settle(0, "a", ProcessState::Stopped, false));
    }
}
