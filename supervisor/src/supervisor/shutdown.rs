//! Shutting down: asking the broker to stop every program, or stopping
//! them ourselves (each with its own stop signal and wait, see
//! `stop_plan.rs`) when it cannot, then exiting.

use super::Supervisor;
use crate::stop_plan::{self, StopPlan};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::time::{Duration, Instant};
use taskmaster_ipc::ToBroker;

/// How long the broker gets between SIGTERM and SIGKILL when taskmasterd
/// stops everything itself, and how long a broker that sent `Exit` gets to
/// exit.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// A SIGKILL due at `at` unless `pid` is reaped first.
#[derive(Debug, Clone, Copy)]
pub struct PendingKill {
    pub at: Instant,
    pub pid: Pid,
    pub group: bool,
}

/// Where a shutdown stands.
pub enum Stop {
    /// `Shutdown` sent: the broker stops every program, then sends `Exit`.
    ViaBroker,
    /// `Exit` received: waiting for the broker to exit, killing it at
    /// `kill_at` if it does not.
    BrokerFinished { kill_at: Option<Instant>, code: i32 },
    /// taskmasterd stops everything itself: each program's stop signal
    /// sent, a SIGKILL pending for each, then exit with `code`.
    Ourselves { kills: Vec<PendingKill>, code: i32 },
}

impl Supervisor {
    /// `STOPPING=1` for systemd: a shutdown began (said again by a second
    /// signal, which systemd takes as it is), with the time it may take
    /// from our own reading of the config, so that the unit's stop timeout
    /// never cuts a program's stopwaitsecs short: the programs' stops in
    /// the broker's order (the config crate's `StopLevel`), then
    /// [`STOP_GRACE`] for the broker to exit.
    pub(super) fn tell_stopping(&self) {
        if let Some(service) = &self.options.service {
            service.stopping(self.policy.config().stop_time() + STOP_GRACE);
        }
    }

    /// Exits with `code`, telling a still-waiting starter and removing the
    /// pidfile we wrote.
    pub(super) fn finish(&mut self, code: i32) -> ! {
        self.kill_probes(Instant::now(), true);
        if let Some(readiness) = self.readiness.take() {
            readiness.failed(code);
        }
        if let Some(pidfile) = self.pidfile.take() {
            pidfile.remove();
        }
        self.options.control.remove();
        if self.children.is_empty() {
            if let Some(inventory) = self.options.inventory.take() {
                inventory.remove();
            }
        }
        std::process::exit(code)
    }

    pub(super) fn on_stop_signal(&mut self, signal: Signal) {
        self.tell_stopping();
        let name = signal.as_str();
        match self.stop {
            None if self.channel().is_some() => {
                self.stop = Some(Stop::ViaBroker);
                self.send(&ToBroker::Shutdown);
            }
            None => self.stop_ourselves(0),
            Some(Stop::ViaBroker | Stop::BrokerFinished { .. }) => {
                self.notices.note(format!(
                    "received {name} again: stopping every program directly"
                ));
                self.stop_ourselves(0);
            }
            Some(Stop::Ourselves { .. }) => {
                self.notices
                    .note(format!("received {name} again: killing every program now"));
                if let Some(Stop::Ourselves { kills, .. }) = &mut self.stop {
                    let now = Instant::now();
                    for kill in kills {
                        kill.at = now;
                    }
                }
            }
        }
    }

    /// Each program's own stop signal, SIGTERM to the broker, a SIGKILL
    /// pending for each after its wait, then exit with `code` once all are
    /// reaped.
    pub(super) fn stop_ourselves(&mut self, code: i32) {
        let now = Instant::now();
        let mut kills: Vec<PendingKill> = self
            .children
            .iter()
            .map(|(pid, program)| {
                let pid = Pid::from_raw(*pid);
                PendingKill {
                    at: program.stop.begin(pid, now),
                    pid,
                    group: program.stop.kill_group,
                }
            })
            .collect();
        if let Some(broker) = self.broker.as_mut() {
            broker.channel = None;
            let plan = StopPlan::fallback(STOP_GRACE);
            kills.push(PendingKill {
                at: plan.begin(broker.pid, now),
                pid: broker.pid,
                group: false,
            });
        }
        self.restart_at = None;
        self.stop = Some(Stop::Ourselves { kills, code });
        self.finish_if_done();
    }

    /// SIGKILL to whatever is still there past its wait.
    pub(super) fn run_kills(&mut self, now: Instant) {
        let Some(Stop::Ourselves { kills, .. }) = &mut self.stop else {
            return;
        };
        kills.retain(|kill| {
            if kill.at > now {
                return true;
            }
            let _ = stop_plan::send(kill.pid, Signal::SIGKILL, kill.group);
            false
        });
    }

    pub(super) fn finish_if_done(&mut self) {
        if let Some(Stop::Ourselves { code, .. }) = self.stop {
            if self.broker.is_none() && self.children.is_empty() {
                self.finish(code);
            }
        }
    }
}
