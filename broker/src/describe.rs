//! Words for people: the `status` description column, how an exit is told
//! in the log ("exit status 1", "terminated by SIGKILL"), and the time as
//! the logs write it.

use std::time::{Duration, SystemTime};
use taskmaster_config::signals::signal_name;
use taskmaster_ipc::ExitStatus;
use taskmaster_protocol::ProcessState;

/// The local time as the log writes it: `YYYY-MM-DD HH:MM:SS,SSS`.
pub fn timestamp() -> String {
    jiff::ZonedDateTime::now()
        .strftime("%Y-%m-%d %H:%M:%S,%3f")
        .to_string()
}

/// What `status` shows after the state, as supervisorctl does.
pub struct Facts<'a> {
    pub state: ProcessState,
    pub pid: Option<i32>,
    pub uptime: Option<Duration>,
    pub last_exit: Option<ExitStatus>,
    pub spawn_error: Option<&'a str>,
    /// When the process last stopped or exited.
    pub stopped_at: Option<SystemTime>,
    /// In BACKOFF: the attempt count and the time left before the retry.
    pub retry: Option<(u32, Duration)>,
    /// A stop an operator asked for and the state directory keeps: by
    /// whom and when.
    pub operator_stop: Option<(Option<u32>, SystemTime)>,
}

/// The description appended to `out`: a `status` of many processes writes
/// every description into one reused buffer.
pub fn write_description(out: &mut String, facts: &Facts) {
    use std::fmt::Write as _;
    use ProcessState::*;
    match facts.state {
        // The common case, written without a temporary string.
        Running | Stopping if facts.pid.is_some() => {
            let _ = write!(out, "pid {}", facts.pid.unwrap_or_default());
            if facts.state == Running {
                out.push_str(", uptime ");
                write_uptime(out, facts.uptime.unwrap_or_default());
            }
        }
        _ => out.push_str(&other_description(facts)),
    }
}

fn other_description(facts: &Facts) -> String {
    use ProcessState::*;
    match facts.state {
        Backoff if facts.retry.is_some() => {
            let (attempt, left) = facts.retry.unwrap_or_default();
            let why = match (facts.spawn_error, facts.last_exit) {
                (Some(error), _) => error.to_string(),
                (None, Some(exit)) => exit_text(exit),
                (None, None) => "exited too quickly".to_string(),
            };
            // Rounded up: "next in 0 s" would read as "now".
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            format!("attempt {attempt}, next in {secs} s ({why})")
        }
        Backoff | Fatal => match facts.spawn_error {
            Some(error) => error.to_string(),
            None => "Exited too quickly (process log may have details)".to_string(),
        },
        Exited => match (facts.last_exit, facts.stopped_at) {
            (Some(exit), Some(at)) => format!("{}, {}", when(at), exit_text(exit)),
            _ => String::new(),
        },
        Stopped if facts.operator_stop.is_some() => {
            let (uid, at) = facts
                .operator_stop
                .unwrap_or((None, SystemTime::UNIX_EPOCH));
            let who = uid.map(|uid| format!(" (uid {uid})")).unwrap_or_default();
            let time = jiff::Timestamp::try_from(at)
                .map(|t| {
                    t.to_zoned_datetime(jiff::tz::TimeZone::system())
                        .strftime("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default();
            format!("by operator{who} {time}")
        }
        Stopped => match facts.stopped_at {
            Some(at) => when(at),
            None => "Not started".to_string(),
        },
        Unknown => match facts.last_exit {
            Some(exit) => format!("unexplained exit: {}", exit_text(exit)),
            None => String::new(),
        },
        Starting | Running | Stopping => String::new(),
    }
}

/// `H:MM:SS`, or `N days, H:MM:SS` past a day.
fn write_uptime(out: &mut String, duration: Duration) {
    use std::fmt::Write as _;
    let secs = duration.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let _ = match days {
        0 => Ok(()),
        1 => write!(out, "1 day, "),
        n => write!(out, "{n} days, "),
    };
    let _ = write!(
        out,
        "{}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
}

/// "exit status 1", "terminated by SIGKILL", "terminated by SIGSEGV (core dumped)".
pub fn exit_text(status: ExitStatus) -> String {
    match status {
        ExitStatus::Code { code } => format!("exit status {code}"),
        ExitStatus::Signal {
            signal,
            core_dumped,
        } => {
            let core = if core_dumped { " (core dumped)" } else { "" };
            format!("terminated by {}{core}", signal_name(signal))
        }
    }
}

/// A local date and time as supervisorctl shows it: `Nov 25 03:10 PM`.
fn when(at: SystemTime) -> String {
    jiff::Timestamp::try_from(at)
        .map(|t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::system())
                .strftime("%b %d %I:%M %p")
                .to_string()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description(facts: &Facts) -> String {
        let mut text = String::new();
        write_description(&mut text, facts);
        text
    }

    fn uptime(duration: Duration) -> String {
        let mut text = String::new();
        write_uptime(&mut text, duration);
        text
    }

    fn facts(state: ProcessState) -> Facts<'static> {
        Facts {
            state,
            pid: None,
            uptime: None,
            last_exit: None,
            spawn_error: None,
            stopped_at: None,
            retry: None,
            operator_stop: None,
        }
    }

    #[test]
    fn running_shows_pid_and_uptime() {
        let f = Facts {
            pid: Some(4121),
            uptime: Some(Duration::from_secs(190)),
            ..facts(ProcessState::Running)
        };
        assert_eq!(description(&f), "pid 4121, uptime 0:03:10");
    }

    #[test]
    fn uptime_over_days() {
        assert_eq!(uptime(Duration::from_secs(86_400 + 61)), "1 day, 0:01:01");
        assert_eq!(
            uptime(Duration::from_secs(3 * 86_400 + 3600)),
            "3 days, 1:00:00"
        );
    }

    #[test]
    fn failures_explain_themselves() {
        assert_eq!(
            description(&facts(ProcessState::Fatal)),
            "Exited too quickly (process log may have details)"
        );
        let f = Facts {
            spawn_error: Some("cannot execute 'x': No such file or directory"),
            ..facts(ProcessState::Backoff)
        };
        assert_eq!(
            description(&f),
            "cannot execute 'x': No such file or directory"
        );
        assert_eq!(description(&facts(ProcessState::Stopped)), "Not started");
    }

    #[test]
    fn backoff_says_the_attempt_the_time_left_and_why() {
        let f = Facts {
            last_exit: Some(ExitStatus::Code { code: 1 }),
            retry: Some((5, Duration::from_millis(15_200))),
            ..facts(ProcessState::Backoff)
        };
        assert_eq!(description(&f), "attempt 5, next in 16 s (exit status 1)");
        let f = Facts {
            spawn_error: Some("cannot execute 'x': No such file or directory"),
            retry: Some((1, Duration::from_secs(1))),
            ..facts(ProcessState::Backoff)
        };
        assert_eq!(
            description(&f),
            "attempt 1, next in 1 s (cannot execute 'x': No such file or directory)"
        );
    }

    #[test]
    fn exits_in_words() {
        assert_eq!(exit_text(ExitStatus::Code { code: 3 }), "exit status 3");
        assert_eq!(
            exit_text(ExitStatus::Signal {
                signal: 11,
                core_dumped: true
            }),
            "terminated by SIGSEGV (core dumped)"
        );
        let f = Facts {
            last_exit: Some(ExitStatus::Code { code: 1 }),
            stopped_at: Some(SystemTime::now()),
            ..facts(ProcessState::Exited)
        };
        assert!(
            description(&f).ends_with(", exit status 1"),
            "{}",
            description(&f)
        );
    }
}
