//! `command` probes: the broker asks for the `ready` or `healthcheck`
//! command of a process by name; taskmasterd runs it from its own reading
//! of the config (argv, user, directory, environment), its output on
//! `/dev/null`, kills it (its process group) when it runs past the time
//! limit the config gives (and what it left in its group when it exits),
//! and reports how it ended. At most one probe per
//! process and check runs at a time, so a broker cannot multiply them.

use super::Supervisor;
use crate::policy::Refusal;
use crate::spawn;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::time::Instant;
use taskmaster_config::Check;
use taskmaster_ipc::{ExitStatus, ProbeCheck, ProbeRequest, ToBroker};

/// A probe that runs.
pub(super) struct ProbeRun {
    id: u64,
    name: String,
    check: ProbeCheck,
    /// When it is killed if still running.
    deadline: Instant,
}

impl Supervisor {
    pub(super) fn on_probe(&mut self, request: &ProbeRequest) {
        let busy = self
            .probes
            .values()
            .any(|run| run.name == request.name && run.check == request.check);
        if busy {
            let error = format!(
                "a {:?} probe of '{}' runs already",
                request.check, request.name
            );
            self.refuse(format!("probe of {:?}: {error}", request.name));
            return self.send(&ToBroker::ProbeFailed {
                id: request.id,
                error,
            });
        }
        let check = match request.check {
            ProbeCheck::Ready => Check::Ready,
            ProbeCheck::Health => Check::Health,
        };
        let (spec, limit) = match self
            .policy
            .probe_spec(&request.name, request.generation, check)
        {
            Ok(found) => found,
            Err(refusal) => {
                let error = refusal.to_string();
                if let Refusal::Undefined { name } = refusal {
                    self.refuse(format!("probe of {name:?}: {error}"));
                }
                return self.send(&ToBroker::ProbeFailed {
                    id: request.id,
                    error,
                });
            }
        };
        match spawn::spawn_probe(&spec, self.options.open_files) {
            Ok(pid) => {
                let run = ProbeRun {
                    id: request.id,
                    name: request.name.clone(),
                    check: request.check,
                    deadline: Instant::now() + limit,
                };
                self.probes.insert(pid.as_raw(), run);
            }
            Err(error) => self.send(&ToBroker::ProbeFailed {
                id: request.id,
                error: error.to_string(),
            }),
        }
    }

    /// A reaped pid that was a probe: its answer. False when it was not.
    pub(super) fn probe_exited(&mut self, pid: i32, status: ExitStatus) -> bool {
        let Some(run) = self.probes.remove(&pid) else {
            return false;
        };
        // What the probe left running in its group goes with it: the
        // broker may ask for the probe again at once, and each run must
        // not leave one more process behind. While a member remains the
        // group's id cannot be given to another process.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        if self.channel().is_some() {
            self.send(&ToBroker::ProbeExited { id: run.id, status });
        }
        true
    }

    pub(super) fn next_probe_deadline(&self) -> Option<Instant> {
        self.probes.values().map(|run| run.deadline).min()
    }

    /// Kills the probes past their time limit (`all`: every probe, when
    /// taskmasterd exits or the broker that asked is gone). They are
    /// reaped and reported as any probe.
    pub(super) fn kill_probes(&mut self, now: Instant, all: bool) {
        for (&pid, run) in &mut self.probes {
            if all || run.deadline <= now {
                // Once: the reap removes it.
                run.deadline = now + std::time::Duration::from_secs(3600);
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}
