//! Shutting down: asking the broker to stop every program, or stopping
//! them ourselves (SIGTERM to each process group, SIGKILL after a grace
//! period) when it cannot, then exiting.

use super::Supervisor;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};
use taskmaster_ipc::ToBroker;

/// How long programs get between SIGTERM and SIGKILL when taskmasterd
/// stops them itself, and how long a broker that sent `Exit` gets to exit.
pub const STOP_GRACE: Duration = Duration::from_secs(10);

/// Where a shutdown stands.
pub enum Stop {
    /// `Shutdown` sent: the broker stops every program, then sends `Exit`.
    ViaBroker,
    /// `Exit` received: waiting for the broker to exit, killing it at
    /// `kill_at` if it does not.
    BrokerFinished { kill_at: Option<Instant> },
    /// taskmasterd stops everything itself: SIGTERM sent, SIGKILL at
    /// `kill_at`, then exit with `code`.
    Ourselves {
        kill_at: Option<Instant>,
        groups: Vec<Pid>,
        code: i32,
    },
}

impl Supervisor {
    /// Exits with `code`, telling a still-waiting starter and removing the
    /// pidfile we wrote.
    pub(super) fn finish(&mut self, code: i32) -> ! {
        if let Some(readiness) = self.readiness.take() {
            readiness.failed(code);
        }
        if let Some(pidfile) = self.pidfile.take() {
            pidfile.remove();
        }
        self.options.control.remove();
        std::process::exit(code)
    }

    pub(super) fn on_stop_signal(&mut self, signal: Signal) {
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
                if let Some(Stop::Ourselves { kill_at, .. }) = &mut self.stop {
                    *kill_at = Some(Instant::now());
                }
            }
        }
    }

    /// SIGTERM to every program's process group and to the broker, SIGKILL
    /// after [`STOP_GRACE`], then exit with `code` once all are reaped.
    pub(super) fn stop_ourselves(&mut self, code: i32) {
        let groups: Vec<Pid> = self
            .children
            .keys()
            .map(|pid| Pid::from_raw(*pid))
            .collect();
        let broker = self.broker.as_mut().map(|broker| {
            broker.channel = None;
            broker.pid
        });
        self.restart_at = None;
        kill_all(&groups, broker, Signal::SIGTERM);
        self.stop = Some(Stop::Ourselves {
            kill_at: Some(Instant::now() + STOP_GRACE),
            groups,
            code,
        });
        self.finish_if_done();
    }

    pub(super) fn finish_if_done(&mut self) {
        if let Some(Stop::Ourselves { code, .. }) = self.stop {
            if self.broker.is_none() && self.children.is_empty() {
                self.finish(code);
            }
        }
    }
}

/// Sends `signal` to every program's process group and to the broker.
pub fn kill_all(groups: &[Pid], broker: Option<Pid>, signal: Signal) {
    for group in groups {
        let _ = killpg(*group, signal);
    }
    if let Some(pid) = broker {
        let _ = kill(pid, signal);
    }
}
