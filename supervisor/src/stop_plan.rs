//! How taskmasterd stops a program by itself, when no broker can (it died
//! during a shutdown) or for a survivor of a killed taskmasterd: the
//! program's own `stopsignal` (to its process group with `stopasgroup`),
//! then SIGKILL after `stopwaitsecs` (to the group with `killasgroup` or
//! `stopasgroup`), as the broker's state machine does.

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};
use taskmaster_config::ExecSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopPlan {
    pub signal: Signal,
    pub wait: Duration,
    /// The stop signal goes to the process group.
    pub group: bool,
    /// SIGKILL goes to the process group.
    pub kill_group: bool,
}

impl StopPlan {
    pub fn of(spec: &ExecSpec) -> StopPlan {
        StopPlan {
            signal: Signal::try_from(spec.stopsignal).unwrap_or(Signal::SIGTERM),
            wait: spec.stopwaitsecs,
            group: spec.stopasgroup,
            kill_group: spec.killasgroup || spec.stopasgroup,
        }
    }

    /// What taskmasterd did before it knew each program's settings: SIGTERM
    /// to the process group, SIGKILL 10 s later. For a process with no
    /// plan (the broker).
    pub fn fallback(wait: Duration) -> StopPlan {
        StopPlan {
            signal: Signal::SIGTERM,
            wait,
            group: false,
            kill_group: false,
        }
    }

    /// Sends the stop signal to `pid`; returns when SIGKILL is due.
    pub fn begin(&self, pid: Pid, now: Instant) -> Instant {
        let _ = send(pid, self.signal, self.group);
        now + self.wait
    }
}

/// `signal` to `pid`, or to its process group (each program leads its own).
pub fn send(pid: Pid, signal: Signal, group: bool) -> nix::Result<()> {
    if group {
        killpg(pid, signal)
    } else {
        kill(pid, signal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(stopasgroup: bool, killasgroup: bool) -> ExecSpec {
        ExecSpec {
            name: "web".into(),
            command: "/bin/true".into(),
            args: vec![],
            env: vec![],
            user: None,
            directory: None,
            umask: None,
            redirect_stderr: false,
            stopsignal: Signal::SIGUSR1 as i32,
            stopwaitsecs: Duration::from_secs(3),
            stopasgroup,
            killasgroup,
        }
    }

    #[test]
    fn the_programs_own_settings_are_used() {
        let plan = StopPlan::of(&spec(false, false));
        assert_eq!(plan.signal, Signal::SIGUSR1);
        assert_eq!(plan.wait, Duration::from_secs(3));
        assert!(!plan.group && !plan.kill_group);
        // stopasgroup implies killasgroup, as in supervisord.
        let plan = StopPlan::of(&spec(true, false));
        assert!(plan.group && plan.kill_group);
        let plan = StopPlan::of(&spec(false, true));
        assert!(!plan.group && plan.kill_group);
    }
}
