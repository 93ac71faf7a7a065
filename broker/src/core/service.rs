//! What the service manager (systemd, through taskmasterd, which owns the
//! notification socket) is told about the service: ready once the
//! autostart programs have left STARTING, reloading around a reload, and a
//! one-line summary of the processes ("12 running, 1 fatal").

use super::Core;
use taskmaster_ipc::{ServicePhase, ToSupervisor};
use taskmaster_protocol::ProcessState;

/// What was last reported.
#[derive(Default)]
pub struct ServiceReport {
    /// taskmasterd has a service manager to tell (its `Hello` says so):
    /// without one, nothing is computed or sent.
    pub enabled: bool,
    ready: bool,
    status: Option<String>,
}

impl ServiceReport {
    /// The packet the processes' current `states` call for, if any:
    /// `Ready` the first time none is STARTING or BACKOFF (each has run,
    /// exited, or given up as FATAL), then `Status` whenever the summary
    /// changes.
    pub fn update(&mut self, states: &[ProcessState]) -> Option<ToSupervisor> {
        let status = summary(states);
        let phase = if self.ready {
            if self.status.as_deref() == Some(status.as_str()) {
                return None;
            }
            ServicePhase::Status
        } else if states
            .iter()
            .any(|s| matches!(s, ProcessState::Starting | ProcessState::Backoff))
        {
            return None;
        } else {
            self.ready = true;
            ServicePhase::Ready
        };
        self.status = Some(status.clone());
        Some(ToSupervisor::Service { phase, status })
    }

    /// `Reloading` as a reload begins, and `Ready` once it is applied (its
    /// restarts go on, reported by later statuses). Nothing before the
    /// first `Ready`: systemd is still waiting for that one.
    pub fn reload(&mut self, phase: ServicePhase, states: &[ProcessState]) -> Option<ToSupervisor> {
        if !self.ready {
            return None;
        }
        let status = match phase {
            ServicePhase::Reloading => "reloading the config".to_owned(),
            ServicePhase::Ready | ServicePhase::Status => summary(states),
        };
        self.status = Some(status.clone());
        Some(ToSupervisor::Service { phase, status })
    }
}

/// "3 running, 1 fatal": how many processes are in each state present, in
/// a fixed order; "no programs" for an empty config.
fn summary(states: &[ProcessState]) -> String {
    const ORDER: [ProcessState; 8] = [
        ProcessState::Running,
        ProcessState::Starting,
        ProcessState::Backoff,
        ProcessState::Stopping,
        ProcessState::Exited,
        ProcessState::Fatal,
        ProcessState::Stopped,
        ProcessState::Unknown,
    ];
    let parts: Vec<String> = ORDER
        .iter()
        .filter_map(|&state| {
            let n = states.iter().filter(|&&s| s == state).count();
            (n > 0).then(|| format!("{n} {}", state.as_str().to_lowercase()))
        })
        .collect();
    if parts.is_empty() {
        "no programs".to_owned()
    } else {
        parts.join(", ")
    }
}

impl Core {
    fn states(&self) -> Vec<ProcessState> {
        self.table.iter().map(|proc| proc.process.state).collect()
    }

    /// Tells taskmasterd what changed for systemd, if anything did.
    pub(super) fn report_service(&mut self) {
        if !self.service.enabled || self.shutting_down {
            return;
        }
        let states = self.states();
        if let Some(packet) = self.service.update(&states) {
            self.link.send(&packet, Vec::new());
        }
    }

    /// Tells taskmasterd that a reload begins (`Reloading`) or is applied
    /// (`Ready`).
    pub(super) fn report_reload(&mut self, phase: ServicePhase) {
        if !self.service.enabled {
            return;
        }
        let states = self.states();
        if let Some(packet) = self.service.reload(phase, &states) {
            self.link.send(&packet, Vec::new());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProcessState::*;

    fn phase(packet: Option<ToSupervisor>) -> Option<(ServicePhase, String)> {
        match packet? {
            ToSupervisor::Service { phase, status } => Some((phase, status)),
            other => panic!("not a service packet: {other:?}"),
        }
    }

    #[test]
    fn ready_waits_until_nothing_is_starting_or_backing_off() {
        let mut report = ServiceReport::default();
        assert_eq!(phase(report.update(&[Starting, Running])), None);
        assert_eq!(phase(report.update(&[Running, Backoff])), None);
        assert_eq!(
            phase(report.update(&[Running, Fatal, Stopped])),
            Some((ServicePhase::Ready, "1 running, 1 fatal, 1 stopped".into()))
        );
    }

    #[test]
    fn after_ready_only_a_changed_summary_is_sent() {
        let mut report = ServiceReport::default();
        assert_eq!(
            phase(report.update(&[])),
            Some((ServicePhase::Ready, "no programs".into()))
        );
        assert_eq!(phase(report.update(&[])), None);
        assert_eq!(
            phase(report.update(&[Starting])),
            Some((ServicePhase::Status, "1 starting".into()))
        );
        assert_eq!(phase(report.update(&[Starting])), None);
    }

    #[test]
    fn a_reload_is_reported_only_once_ready() {
        let mut report = ServiceReport::default();
        assert_eq!(
            phase(report.reload(ServicePhase::Reloading, &[Starting])),
            None
        );
        report.update(&[Running]);
        assert_eq!(
            phase(report.reload(ServicePhase::Reloading, &[Running])),
            Some((ServicePhase::Reloading, "reloading the config".into()))
        );
        assert_eq!(
            phase(report.reload(ServicePhase::Ready, &[Running, Running])),
            Some((ServicePhase::Ready, "2 running".into()))
        );
        assert_eq!(phase(report.update(&[Running, Running])), None);
    }
}
