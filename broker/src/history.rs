//! Each process's history for `taskmasterctl why`: its last [`LIMIT`]
//! transitions, each with its time, its [`Cause`] and the retry arithmetic,
//! told in words. [`explain`] is pure: what a step of the state machine
//! did, from the event, the process before and after, and who asked.

use crate::describe::exit_text;
use crate::state::{expected, Event, Process};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use taskmaster_config::Program;
use taskmaster_protocol::{Cause, ProcessState, RetryInfo, Transition};

/// Transitions kept per process.
pub const LIMIT: usize = 100;

/// The last [`LIMIT`] transitions of one process, oldest first. Shared,
/// so that the state directory's writer takes them without copies.
#[derive(Debug, Default, Clone)]
pub struct History(VecDeque<Arc<Transition>>);

impl History {
    pub fn push(&mut self, transition: Transition) {
        if self.0.len() == LIMIT {
            self.0.pop_front();
        }
        self.0.push_back(Arc::new(transition));
    }

    pub fn transitions(&self) -> impl Iterator<Item = &Transition> {
        self.0.iter().map(|t| &**t)
    }

    /// The transitions, for the state directory's writer.
    pub fn shared(&self) -> Vec<Arc<Transition>> {
        self.0.iter().cloned().collect()
    }

    /// A history read back from the state directory, kept to [`LIMIT`].
    pub fn from_saved(saved: Vec<Transition>) -> History {
        let skip = saved.len().saturating_sub(LIMIT);
        History(saved.into_iter().skip(skip).map(Arc::new).collect())
    }
}

/// One step of the state machine, as [`explain`] reads it.
pub struct Step<'a> {
    pub event: &'a Event,
    pub before: &'a Process,
    pub after: &'a Process,
    pub program: &'a Program,
    /// Who asked for a `Start` or `Stop` (none: autostart).
    pub requested: Option<&'a Cause>,
    pub now: Instant,
}

/// Why the step entered `to` from `from`, and where the retries stand.
pub fn explain(step: &Step, from: ProcessState, to: ProcessState) -> (Cause, Option<RetryInfo>) {
    use ProcessState::*;
    let exit = |status| exit_text(status);
    match (to, step.event) {
        (Starting, Event::Start) => (step.requested.cloned().unwrap_or(Cause::Autostart), None),
        // The restart that follows a crash's wait (`backoff`).
        (Starting, Event::Deadline) if step.before.failures == 0 => (
            Cause::Autorestart {
                exit: step.before.last_exit.map(exit).unwrap_or_default(),
            },
            Some(RetryInfo {
                attempt: step.before.crashes,
                of: None,
                wait_ms: millis(step.before.wait.unwrap_or_default()),
            }),
        ),
        (Starting, Event::Deadline) => (
            Cause::Retry,
            Some(RetryInfo {
                attempt: step.before.attempt().saturating_add(1),
                of: attempts(step),
                wait_ms: millis(step.before.wait.unwrap_or_default()),
            }),
        ),
        (Starting, Event::Exited { status }) => (
            Cause::Autorestart {
                exit: exit(*status),
            },
            None,
        ),
        (Running, _) => (
            Cause::StayedUp {
                startsecs_ms: millis(step.program.startsecs),
            },
            None,
        ),
        (Backoff | Fatal, event) => {
            let cause = match event {
                Event::SpawnFailed { error } => Cause::ExecError {
                    error: error.clone(),
                },
                Event::Exited { status } if from == Exited => Cause::Autorestart {
                    exit: exit(*status),
                },
                // The one exit of a STARTING process with a pid that the
                // state machine asked for: the kill at `ready_timeout`.
                Event::Exited { .. }
                    if step.before.pid.is_some() && step.before.spawn_error.is_some() =>
                {
                    Cause::NotReady {
                        timeout_ms: millis(
                            step.program.readiness.ready_timeout.unwrap_or_default(),
                        ),
                    }
                }
                Event::Exited { status } => Cause::EarlyExit {
                    exit: exit(*status),
                    uptime_ms: step
                        .before
                        .started_at
                        .map_or(0, |at| millis(step.now.saturating_duration_since(at))),
                    startsecs_ms: millis(step.program.startsecs),
                },
                _ => Cause::Other,
            };
            let wait = if to == Backoff { step.after.wait } else { None };
            let retry = RetryInfo {
                attempt: step.after.attempt(),
                of: attempts(step),
                wait_ms: millis(wait.unwrap_or_default()),
            };
            (cause, Some(retry))
        }
        (Exited, Event::Exited { status }) => (
            Cause::Exited {
                exit: exit(*status),
                expected: expected(*status, &step.program.exitcodes),
            },
            None,
        ),
        (Stopped, Event::Exited { status }) => (
            Cause::Stopped {
                exit: exit(*status),
                killed: step.before.killed,
            },
            None,
        ),
        (Stopped, Event::SpawnFailed { error }) => (
            Cause::ExecError {
                error: error.clone(),
            },
            None,
        ),
        (Unknown, Event::Exited { status }) => (
            Cause::Unexplained {
                exit: exit(*status),
            },
            None,
        ),
        (Stopping | Stopped, Event::Stop) => {
            (step.requested.cloned().unwrap_or(Cause::Other), None)
        }
        _ => (Cause::Other, None),
    }
}

/// How many attempts the process gets: `1 + startretries`, or `None` when
/// it retries forever (infinite, or a crash loop).
fn attempts(step: &Step) -> Option<u32> {
    let crash_loop = step.after.failures == 0 && step.before.failures == 0;
    (!step.program.retry.forever && !crash_loop)
        .then(|| step.program.startretries.saturating_add(1))
}

/// The transition in words: the cause, then the retry arithmetic.
pub fn text(to: ProcessState, cause: &Cause, retry: Option<&RetryInfo>) -> String {
    let mut text = match cause {
        Cause::Request { command, uid, pid } => {
            let who = match (uid, pid) {
                (Some(uid), Some(pid)) => format!("uid {uid} (pid {pid})"),
                (Some(uid), None) => format!("uid {uid}"),
                _ => "an unknown peer".to_string(),
            };
            format!("{command} requested by {who}")
        }
        Cause::Autostart => "autostart".to_string(),
        Cause::Intent { uid: Some(uid) } => {
            format!("started again: an operator (uid {uid}) had started it")
        }
        Cause::Intent { uid: None } => "started again: an operator had started it".to_string(),
        Cause::Shutdown { reason } => format!("shutdown: {reason}"),
        Cause::Reload { reason } => format!("reload: {reason}"),
        Cause::ExecError { error } => error.clone(),
        Cause::EarlyExit {
            exit,
            uptime_ms,
            startsecs_ms,
        } => format!(
            "{exit} after {} s, before startsecs ({} s)",
            secs(*uptime_ms),
            secs(*startsecs_ms)
        ),
        Cause::StayedUp { startsecs_ms } => {
            format!("stayed up {} s (startsecs)", secs(*startsecs_ms))
        }
        Cause::Retry => "retry".to_string(),
        Cause::Exited { exit, expected } => {
            let word = if *expected {
                "expected"
            } else {
                "not expected"
            };
            format!("{exit} ({word})")
        }
        Cause::Autorestart { exit } => format!("autorestart after {exit}"),
        Cause::Stopped { exit, killed: true } => {
            format!("{exit}: killed with SIGKILL after stopwaitsecs")
        }
        Cause::Stopped { exit, .. } => exit.clone(),
        Cause::Unexplained { exit } => {
            format!("an exit arrived for a process that was not running: {exit}")
        }
        Cause::Unhealthy {
            probe,
            failures,
            error,
            action,
        } => {
            let done = if action == "stop" {
                "stopped"
            } else {
                "restarted"
            };
            match probe.as_str() {
                "watchdog" => format!("watchdog ran out ({error}): {done}"),
                _ => format!("health check failed {failures}/{failures} ({error}): {done}"),
            }
        }
        Cause::Waiting { on } => format!("waiting: {on}"),
        Cause::Released {
            dependencies,
            cause,
        } => {
            let verb = if dependencies.len() == 1 { "is" } else { "are" };
            let released = format!("released: {} {verb} RUNNING", dependencies.join(", "));
            match cause {
                Some(cause) => format!("{}; {released}", text(to, cause, None)),
                None => released,
            }
        }
        Cause::Dependency {
            dependency,
            command,
        } => match command.as_str() {
            "restart" => format!("restarted: {dependency}, which it depends on, was restarted"),
            _ => format!("stopped: {dependency}, which it depends on, was stopped"),
        },
        Cause::Needed { by } => format!("started: {by} depends on it"),
        Cause::NotReady { timeout_ms } => {
            format!("not ready after {} s (ready_timeout)", secs(*timeout_ms))
        }
        Cause::Other => String::new(),
    };
    if let Some(retry) = retry {
        let of = retry.of.map(|of| format!(" of {of}")).unwrap_or_default();
        let wait = secs(retry.wait_ms);
        let crash = matches!(cause, Cause::Autorestart { .. });
        let tail = match to {
            ProcessState::Backoff if crash => format!(
                "crash {} within backoff_reset, restarting in {wait} s",
                retry.attempt
            ),
            ProcessState::Starting if crash => format!("waited {wait} s"),
            ProcessState::Backoff => format!("attempt {}{of}, retrying in {wait} s", retry.attempt),
            ProcessState::Fatal if retry.attempt == 1 => "gave up after 1 attempt".to_string(),
            ProcessState::Fatal => format!("gave up after {} attempts", retry.attempt),
            _ => format!("attempt {}{of}, waited {wait} s", retry.attempt),
        };
        text = if text == "retry" || text.is_empty() {
            tail
        } else {
            format!("{text}; {tail}")
        };
    }
    text
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds as seconds for people: `2`, `0.2`, `1.5`.
fn secs(ms: u64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::step;
    use crate::state::tests::program;
    use taskmaster_ipc::ExitStatus;

    /// Runs `event` and tells each transition in words.
    fn told(
        process: &mut Process,
        program: &Program,
        event: Event,
        now: Instant,
        requested: Option<&Cause>,
    ) -> Vec<String> {
        let before = process.clone();
        let outcome = step(process, program, event.clone(), now);
        let mut from = before.state;
        let mut lines = Vec::new();
        for &to in &outcome.entered {
            let s = Step {
                event: &event,
                before: &before,
                after: process,
                program,
                requested,
                now,
            };
            let (cause, retry) = explain(&s, from, to);
            lines.push(format!(
                "{from} -> {to}: {}",
                text(to, &cause, retry.as_ref())
            ));
            from = to;
        }
        lines
    }

    #[test]
    fn an_exec_error_backs_off_with_the_arithmetic_then_goes_fatal() {
        let program = program();
        let mut p = Process::new();
        let mut now = Instant::now();
        let error = "cannot execute '/x': No such file or directory".to_string();
        let mut lines = told(&mut p, &program, Event::Start, now, None);
        for _ in 0..4 {
            let failed = Event::SpawnFailed {
                error: error.clone(),
            };
            lines.extend(told(&mut p, &program, failed, now, None));
            if let Some(deadline) = p.deadline {
                now = deadline;
                lines.extend(told(&mut p, &program, Event::Deadline, now, None));
            }
        }
        assert_eq!(
            lines,
            [
                "STOPPED -> STARTING: autostart",
                "STARTING -> BACKOFF: cannot execute '/x': No such file or directory; attempt 1 of 4, retrying in 1 s",
                "BACKOFF -> STARTING: attempt 2 of 4, waited 1 s",
                "STARTING -> BACKOFF: cannot execute '/x': No such file or directory; attempt 2 of 4, retrying in 2 s",
                "BACKOFF -> STARTING: attempt 3 of 4, waited 2 s",
                "STARTING -> BACKOFF: cannot execute '/x': No such file or directory; attempt 3 of 4, retrying in 3 s",
                "BACKOFF -> STARTING: attempt 4 of 4, waited 3 s",
                "STARTING -> FATAL: cannot execute '/x': No such file or directory; gave up after 4 attempts",
            ]
        );
    }

    #[test]
    fn an_early_exit_says_the_uptime_and_startsecs() {
        let program = program();
        let mut p = Process::new();
        let now = Instant::now();
        told(&mut p, &program, Event::Start, now, None);
        told(&mut p, &program, Event::Spawned { pid: 7 }, now, None);
        let later = now + Duration::from_millis(200);
        let exited = Event::Exited {
            status: ExitStatus::Code { code: 1 },
        };
        assert_eq!(
            told(&mut p, &program, exited, later, None),
            ["STARTING -> BACKOFF: exit status 1 after 0.2 s, before startsecs (1 s); attempt 1 of 4, retrying in 1 s"]
        );
    }

    #[test]
    fn an_operator_stop_names_the_requester() {
        let program = program();
        let mut p = Process::new();
        let now = Instant::now();
        told(&mut p, &program, Event::Start, now, None);
        told(&mut p, &program, Event::Spawned { pid: 7 }, now, None);
        let stop = Cause::Request {
            command: "stop".into(),
            uid: Some(1000),
            pid: Some(4242),
        };
        let mut lines = told(&mut p, &program, Event::Stop, now, Some(&stop));
        let exited = Event::Exited {
            status: ExitStatus::Signal {
                signal: 15,
                core_dumped: false,
            },
        };
        lines.extend(told(&mut p, &program, exited, now, None));
        assert_eq!(
            lines,
            [
                "STARTING -> STOPPING: stop requested by uid 1000 (pid 4242)",
                "STOPPING -> STOPPED: terminated by SIGTERM",
            ]
        );
    }

    #[test]
    fn a_crash_loop_under_backoff_counts_crashes_and_waits() {
        let mut program = program();
        program.startsecs = Duration::ZERO;
        program.autorestart = taskmaster_config::AutoRestart::Always;
        program.retry.backoff = Some(taskmaster_config::Backoff {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(60),
            jitter: 0.0,
        });
        let mut p = Process::new();
        let mut now = Instant::now();
        let crash = || Event::Exited {
            status: ExitStatus::Code { code: 1 },
        };
        told(&mut p, &program, Event::Start, now, None);
        told(&mut p, &program, Event::Spawned { pid: 1 }, now, None);
        let mut lines = told(&mut p, &program, crash(), now, None);
        told(&mut p, &program, Event::Spawned { pid: 2 }, now, None);
        lines.extend(told(&mut p, &program, crash(), now, None));
        now = p.deadline.unwrap();
        lines.extend(told(&mut p, &program, Event::Deadline, now, None));
        assert_eq!(
            lines,
            [
                "RUNNING -> EXITED: exit status 1 (not expected)",
                "EXITED -> STARTING: autorestart after exit status 1",
                "RUNNING -> EXITED: exit status 1 (not expected)",
                "EXITED -> BACKOFF: autorestart after exit status 1; crash 2 within backoff_reset, restarting in 1 s",
                "BACKOFF -> STARTING: autorestart after exit status 1; waited 1 s",
            ]
        );
    }

    #[test]
    fn not_ready_by_ready_timeout_says_so_rather_than_an_early_exit() {
        let mut program = program();
        program.readiness.ready = Some(taskmaster_config::Probe::Tcp("127.0.0.1:1".into()));
        program.readiness.ready_timeout = Some(Duration::from_secs(5));
        let mut p = Process::new();
        let now = Instant::now();
        told(&mut p, &program, Event::Start, now, None);
        told(&mut p, &program, Event::Spawned { pid: 7 }, now, None);
        let later = now + Duration::from_secs(5);
        assert_eq!(
            told(&mut p, &program, Event::Deadline, later, None),
            [""; 0]
        );
        let killed = Event::Exited {
            status: ExitStatus::Signal {
                signal: 9,
                core_dumped: false,
            },
        };
        assert_eq!(
            told(&mut p, &program, killed, later, None),
            ["STARTING -> BACKOFF: not ready after 5 s (ready_timeout); attempt 1 of 4, retrying in 1 s"]
        );
    }

    #[test]
    fn health_and_dependency_causes_in_words() {
        let told = |to, cause: Cause| text(to, &cause, None);
        let unhealthy = |probe: &str, action: &str| Cause::Unhealthy {
            probe: probe.into(),
            failures: 3,
            error: "HTTP 500".into(),
            action: action.into(),
        };
        use ProcessState::*;
        assert_eq!(
            told(Stopping, unhealthy("healthcheck", "restart")),
            "health check failed 3/3 (HTTP 500): restarted"
        );
        assert_eq!(
            told(Stopping, unhealthy("healthcheck", "stop")),
            "health check failed 3/3 (HTTP 500): stopped"
        );
        assert_eq!(
            told(Stopping, unhealthy("watchdog", "restart")),
            "watchdog ran out (HTTP 500): restarted"
        );
        let waiting = Cause::Waiting {
            on: "db is STARTING".into(),
        };
        assert_eq!(told(Stopped, waiting), "waiting: db is STARTING");
        let released = |dependencies: &[&str], cause: Option<Cause>| Cause::Released {
            dependencies: dependencies.iter().map(|d| d.to_string()).collect(),
            cause: cause.map(Box::new),
        };
        assert_eq!(
            told(Starting, released(&["db"], Some(Cause::Autostart))),
            "autostart; released: db is RUNNING"
        );
        assert_eq!(
            told(Starting, released(&["db", "cache"], None)),
            "released: db, cache are RUNNING"
        );
        let dependency = |command: &str| Cause::Dependency {
            dependency: "db".into(),
            command: command.into(),
        };
        assert_eq!(
            told(Stopping, dependency("stop")),
            "stopped: db, which it depends on, was stopped"
        );
        assert_eq!(
            told(Stopping, dependency("restart")),
            "restarted: db, which it depends on, was restarted"
        );
        let needed = Cause::Needed { by: "api".into() };
        assert_eq!(told(Starting, needed), "started: api depends on it");
    }

    #[test]
    fn the_history_keeps_the_last_100() {
        let mut history = History::default();
        for n in 0..150u64 {
            history.push(Transition {
                time_ms: n,
                from: ProcessState::Stopped,
                to: ProcessState::Starting,
                cause: Cause::Autostart,
                retry: None,
                text: String::new(),
            });
        }
        let times: Vec<u64> = history.transitions().map(|t| t.time_ms).collect();
        assert_eq!(times.len(), LIMIT);
        assert_eq!((times[0], times[99]), (50, 149));
    }
}
