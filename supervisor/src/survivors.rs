//! Stopping the programs a killed taskmasterd left running, before this one
//! starts its own: each with its own stop signal and wait, through a pidfd
//! (they are not our children, and a pidfd never reaches a process that
//! reused the pid), SIGKILL for whatever outlives its wait.

use crate::inventory::Entry;
use crate::stop_plan;
use crate::sys;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long a SIGKILLed survivor gets to disappear before we go on.
const KILL_WAIT: Duration = Duration::from_secs(5);

struct Stopping {
    entry: Entry,
    pidfd: OwnedFd,
    kill_at: Instant,
    killed: bool,
}

/// Stops every survivor; returns what happened, a line each, for the
/// activity log.
pub fn stop_all(survivors: Vec<Entry>) -> Vec<String> {
    let mut notes = Vec::new();
    let now = Instant::now();
    let mut stopping: Vec<Stopping> = Vec::new();
    for entry in survivors {
        let pidfd = match sys::pidfd_open(entry.pid) {
            Ok(pidfd) => pidfd,
            // Gone since we looked: nothing to stop.
            Err(_) => continue,
        };
        let plan = entry.stop;
        let sent = sys::pidfd_send_signal(&pidfd, plan.signal).and_then(|()| {
            if plan.group {
                stop_plan::send(Pid::from_raw(entry.pid), plan.signal, true)
                    .map_err(std::io::Error::from)
            } else {
                Ok(())
            }
        });
        notes.push(match &sent {
            Ok(()) => format!(
                "'{}' (pid {}) was left running by a taskmasterd that was killed: sent {} to stop it before starting it again",
                entry.name,
                entry.pid,
                plan.signal.as_str()
            ),
            Err(e) => format!(
                "cannot stop '{}' (pid {}), left running by a taskmasterd that was killed: {e}",
                entry.name, entry.pid
            ),
        });
        stopping.push(Stopping {
            kill_at: now + plan.wait,
            entry,
            pidfd,
            killed: false,
        });
    }
    while !stopping.is_empty() {
        let now = Instant::now();
        for s in stopping
            .iter_mut()
            .filter(|s| !s.killed && s.kill_at <= now)
        {
            let _ = sys::pidfd_send_signal(&s.pidfd, Signal::SIGKILL);
            if s.entry.stop.kill_group {
                let _ = stop_plan::send(Pid::from_raw(s.entry.pid), Signal::SIGKILL, true);
            }
            s.killed = true;
            s.kill_at = now + KILL_WAIT;
            notes.push(format!(
                "'{}' (pid {}) outlived its stopwaitsecs: sent SIGKILL",
                s.entry.name, s.entry.pid
            ));
        }
        let next = stopping.iter().map(|s| s.kill_at).min().unwrap_or(now);
        let wait = next.saturating_duration_since(now);
        let exited: Vec<bool> = {
            let mut fds: Vec<PollFd> = stopping
                .iter()
                .map(|s| PollFd::new(s.pidfd.as_fd(), PollFlags::POLLIN))
                .collect();
            let millis = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
            if poll(&mut fds, PollTimeout::from(millis)).is_err() {
                continue;
            }
            fds.iter()
                .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        let mut index = 0;
        stopping.retain(|s| {
            let gone = exited[index];
            index += 1;
            if gone {
                notes.push(format!("'{}' (pid {}) stopped", s.entry.name, s.entry.pid));
            } else if s.killed && s.kill_at <= Instant::now() {
                notes.push(format!(
                    "'{}' (pid {}) survives SIGKILL; going on without it",
                    s.entry.name, s.entry.pid
                ));
                return false;
            }
            !gone
        });
    }
    notes
}
