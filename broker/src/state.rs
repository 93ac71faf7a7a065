//! The programs' state machine: supervisord's states and transitions as a
//! pure function of (process, event, now), so that every path is tested
//! without processes or sleeping.
//!
//! [`step`] never performs I/O: it updates the [`Process`] record and
//! returns the [`Action`]s the caller must carry out (spawn, signal) and the
//! states entered on the way, for the activity log and event subscribers.

use crate::backoff;
use std::time::{Duration, Instant};
use taskmaster_config::{AutoRestart, Program};
use taskmaster_ipc::ExitStatus;
use taskmaster_protocol::ProcessState;

/// What the broker knows about one process (one instance of a program).
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    pub state: ProcessState,
    /// Set from `Spawned` until the process is reaped.
    pub pid: Option<i32>,
    /// When the current or last process was started.
    pub started_at: Option<Instant>,
    /// The one timer this process waits for: end of `startsecs` while
    /// STARTING, the retry while BACKOFF, the SIGKILL while STOPPING.
    pub deadline: Option<Instant>,
    /// Failed attempts since the last successful start or operator request.
    pub failures: u32,
    /// How the last process ended.
    pub last_exit: Option<ExitStatus>,
    /// Why the last spawn failed.
    pub spawn_error: Option<String>,
    /// A spawn request is in flight (STARTING without a pid yet).
    pub spawning: bool,
    /// The last stop escalated to SIGKILL.
    pub killed: bool,
    /// Crashes of a RUNNING process, each within `backoff_reset` of the
    /// previous one: the count its restart's wait follows.
    pub crashes: u32,
    /// The wait before the pending (or last) retry, as `backoff` drew it.
    pub wait: Option<Duration>,
    /// Seeds the jitter of this process's waits (the core draws one per
    /// process; tests pin it).
    pub jitter_seed: u64,
    /// The `ready` probe of the current attempt has succeeded.
    pub ready: bool,
}

/// Something that happened to a process.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An operator or autostart asks for the process to run.
    Start,
    /// An operator or shutdown asks for the process to stop.
    Stop,
    Spawned {
        pid: i32,
    },
    SpawnFailed {
        error: String,
    },
    Exited {
        status: ExitStatus,
    },
    /// `now` has reached [`Process::deadline`].
    Deadline,
    /// The program's `ready` probe succeeded.
    Ready,
}

/// What the caller must do after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Spawn,
    /// Deliver `signal` to the process, or to its process group when `group`.
    Signal {
        signal: i32,
        group: bool,
    },
}

/// The result of one step: the states entered, in order, and the actions.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Outcome {
    pub entered: Vec<ProcessState>,
    pub actions: Vec<Action>,
}

const SIGKILL: i32 = 9;

impl Process {
    /// A process that has never run.
    pub fn new() -> Self {
        Process {
            state: ProcessState::Stopped,
            pid: None,
            started_at: None,
            deadline: None,
            failures: 0,
            last_exit: None,
            spawn_error: None,
            spawning: false,
            killed: false,
            crashes: 0,
            wait: None,
            jitter_seed: 0,
            ready: false,
        }
    }

    /// A process found alive after a broker restart, started at `started_at`.
    pub fn adopted(pid: i32, started_at: Instant, program: &Program, now: Instant) -> Self {
        let mut process = Process::new();
        process.pid = Some(pid);
        process.started_at = Some(started_at);
        let running_from = started_at + program.startsecs;
        if now >= running_from {
            process.state = ProcessState::Running;
        } else {
            process.state = ProcessState::Starting;
            process.deadline = Some(running_from);
        }
        process
    }
}

impl Process {
    /// The count a BACKOFF shows: failed starts, or crashes when the
    /// process had reached RUNNING.
    pub fn attempt(&self) -> u32 {
        if self.failures > 0 {
            self.failures
        } else {
            self.crashes
        }
    }
}

impl Default for Process {
    fn default() -> Self {
        Process::new()
    }
}

/// Applies one event. Events that mean nothing in the current state (a
/// second `Start`, a `Deadline` that is not due) change nothing.
pub fn step(process: &mut Process, program: &Program, event: Event, now: Instant) -> Outcome {
    use ProcessState::*;
    let mut out = Outcome::default();
    match (process.state, event) {
        (Stopped | Exited | Fatal | Backoff | Unknown, Event::Start) => {
            process.failures = 0;
            process.crashes = 0;
            begin_attempt(process, &mut out);
        }
        (Starting, Event::Spawned { pid }) => {
            process.spawning = false;
            process.pid = Some(pid);
            process.started_at = Some(now);
            process.spawn_error = None;
            process.ready = false;
            if program.startsecs.is_zero() && program.readiness.ready.is_none() {
                enter_running(process, &mut out);
            } else {
                process.deadline = starting_deadline(process, program, now);
            }
        }
        (Starting, Event::Ready) if process.pid.is_some() => {
            process.ready = true;
            starting_due(process, program, now, &mut out);
        }
        (Starting, Event::SpawnFailed { error }) => {
            process.spawning = false;
            process.spawn_error = Some(error);
            start_failed(process, program, now, &mut out);
        }
        (Starting, Event::Exited { status }) => {
            process.pid = None;
            process.last_exit = Some(status);
            start_failed(process, program, now, &mut out);
        }
        (Starting, Event::Deadline) if due(process, now) && process.pid.is_some() => {
            starting_due(process, program, now, &mut out);
        }
        (Running, Event::Exited { status }) => {
            let uptime = process
                .started_at
                .map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
            process.pid = None;
            process.last_exit = Some(status);
            enter(process, Exited, &mut out);
            if restarts(program.autorestart, status, &program.exitcodes) {
                let retry = &program.retry;
                process.crashes = backoff::count_crash(retry, process.crashes, uptime);
                match backoff::crash_wait(retry, process.crashes, process.jitter_seed) {
                    Some(wait) if !wait.is_zero() => back_off(process, now, wait, &mut out),
                    _ => begin_attempt(process, &mut out),
                }
            }
        }
        (Backoff, Event::Deadline) if due(process, now) => begin_attempt(process, &mut out),
        (Backoff, Event::Stop) => {
            process.deadline = None;
            enter(process, Stopped, &mut out);
        }
        (Starting | Running, Event::Stop) => {
            enter(process, Stopping, &mut out);
            process.killed = false;
            process.deadline = Some(now + program.stopwaitsecs);
            // A stop that arrives while the spawn is in flight is delivered
            // when the pid is known (see the Stopping + Spawned arm).
            if process.pid.is_some() {
                out.actions.push(Action::Signal {
                    signal: program.stopsignal,
                    group: program.stopasgroup,
                });
            }
        }
        (Stopping, Event::Spawned { pid }) => {
            process.spawning = false;
            process.pid = Some(pid);
            process.started_at = Some(now);
            out.actions.push(Action::Signal {
                signal: program.stopsignal,
                group: program.stopasgroup,
            });
        }
        (Stopping, Event::SpawnFailed { error }) => {
            process.spawning = false;
            process.spawn_error = Some(error);
            process.deadline = None;
            enter(process, Stopped, &mut out);
        }
        (Stopping, Event::Deadline) if due(process, now) && process.pid.is_some() => {
            process.deadline = None;
            process.killed = true;
            out.actions.push(Action::Signal {
                signal: SIGKILL,
                group: program.killasgroup || program.stopasgroup,
            });
        }
        (Stopping, Event::Exited { status }) => {
            process.pid = None;
            process.last_exit = Some(status);
            process.deadline = None;
            enter(process, Stopped, &mut out);
        }
        // An exit of a process the broker did not think was alive: it cannot
        // explain the state, so says so rather than guess.
        (Stopped | Exited | Fatal | Backoff, Event::Exited { status }) => {
            process.last_exit = Some(status);
            enter(process, Unknown, &mut out);
        }
        _ => {}
    }
    out
}

/// STARTING becomes RUNNING once `startsecs` has elapsed and, with a
/// `ready` probe, the probe has succeeded; not ready by `ready_timeout` is a
/// failed start: the process is killed and its exit counts as an attempt.
fn starting_due(process: &mut Process, program: &Program, now: Instant, out: &mut Outcome) {
    let Some(started) = process.started_at else {
        return;
    };
    let waited = now.saturating_duration_since(started);
    let probed = program.readiness.ready.is_none() || process.ready;
    if waited >= program.startsecs && probed {
        return enter_running(process, out);
    }
    match program.readiness.ready_timeout {
        Some(timeout) if !probed && waited >= timeout => {
            process.deadline = None;
            process.spawn_error = Some(format!(
                "not ready after {} s (ready_timeout); killed",
                timeout.as_secs_f64()
            ));
            out.actions.push(Action::Signal {
                signal: SIGKILL,
                group: program.killasgroup || program.stopasgroup,
            });
        }
        _ => process.deadline = starting_deadline(process, program, now),
    }
}

/// The next moment a STARTING process needs looking at: the end of
/// `startsecs`, else the end of `ready_timeout`; `None` when only the
/// probe can move it on.
fn starting_deadline(process: &Process, program: &Program, now: Instant) -> Option<Instant> {
    let started = process.started_at?;
    let startsecs_end = started + program.startsecs;
    let timeout_end = program
        .readiness
        .ready_timeout
        .map(|timeout| started + timeout);
    if startsecs_end > now {
        return Some(timeout_end.map_or(startsecs_end, |end| end.min(startsecs_end)));
    }
    timeout_end.filter(|_| !process.ready)
}

fn due(process: &Process, now: Instant) -> bool {
    process.deadline.is_some_and(|deadline| now >= deadline)
}

fn enter(process: &mut Process, state: ProcessState, out: &mut Outcome) {
    process.state = state;
    out.entered.push(state);
}

fn begin_attempt(process: &mut Process, out: &mut Outcome) {
    process.pid = None;
    process.deadline = None;
    process.spawning = true;
    process.killed = false;
    enter(process, ProcessState::Starting, out);
    out.actions.push(Action::Spawn);
}

fn enter_running(process: &mut Process, out: &mut Outcome) {
    process.deadline = None;
    process.failures = 0;
    enter(process, ProcessState::Running, out);
}

/// An attempt ended before `startsecs`: wait (`failures` seconds, or per
/// `backoff`) and retry, or give up once `1 + startretries` attempts have
/// failed (never with `startretries = "infinite"`).
fn start_failed(process: &mut Process, program: &Program, now: Instant, out: &mut Outcome) {
    process.failures = process.failures.saturating_add(1);
    process.pid = None;
    let retry = &program.retry;
    if backoff::gives_up(retry, program.startretries, process.failures) {
        process.deadline = None;
        enter(process, ProcessState::Fatal, out);
    } else {
        let wait = backoff::start_wait(retry, process.failures, process.jitter_seed);
        back_off(process, now, wait, out);
    }
}

/// BACKOFF until `now + wait`, then a new attempt.
fn back_off(process: &mut Process, now: Instant, wait: Duration, out: &mut Outcome) {
    process.wait = Some(wait);
    process.deadline = Some(now + wait);
    enter(process, ProcessState::Backoff, out);
}

/// Whether `autorestart` restarts a process that exited with `status`
/// after reaching RUNNING. A death by signal is always unexpected.
pub fn restarts(policy: AutoRestart, status: ExitStatus, exitcodes: &[i32]) -> bool {
    match policy {
        AutoRestart::Always => true,
        AutoRestart::Never => false,
        AutoRestart::Unexpected => match status {
            ExitStatus::Code { code } => !exitcodes.contains(&code),
            ExitStatus::Signal { .. } => true,
        },
    }
}

/// Whether `status` is one of the program's expected exits (for the
/// description of an EXITED process).
pub fn expected(status: ExitStatus, exitcodes: &[i32]) -> bool {
    matches!(status, ExitStatus::Code { code } if exitcodes.contains(&code))
}

#[cfg(test)]
pub(crate) mod tests;
