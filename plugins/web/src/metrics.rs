//! `/metrics`: the daemon's processes in Prometheus's text exposition
//! format, from one `status` and one pass over /proc per scrape.

use std::fmt::Write;
use std::str::FromStr;

use nix::sys::signal::Signal;
use taskmaster_protocol::{ProcessInfo, ProcessState, Selection, StatusContent};

use crate::live::{now_ms, Shared};
use taskmaster_procstat as procstat;

const STATES: [ProcessState; 8] = [
    ProcessState::Stopped,
    ProcessState::Starting,
    ProcessState::Running,
    ProcessState::Backoff,
    ProcessState::Stopping,
    ProcessState::Exited,
    ProcessState::Fatal,
    ProcessState::Unknown,
];

/// A label value with `\`, `"` and newlines escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exit code of "exit status 3", or 128 + N for "terminated by SIGN",
/// as a shell reports it.
pub fn exit_code(exit: &str) -> Option<i64> {
    if let Some(code) = exit.strip_prefix("exit status ") {
        return code.trim().parse().ok();
    }
    let signal = exit
        .strip_prefix("terminated by ")?
        .split_whitespace()
        .next()?;
    Signal::from_str(signal).ok().map(|s| 128 + s as i64)
}

/// One metric family: its help, type, and samples.
struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn start<'a>(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Family { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            let pairs: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// The exposition text. The daemon being down is `taskmaster_up 0`, not
/// an error: that is what an alert wants to see.
pub async fn render(shared: &Shared) -> Result<String, String> {
    let status = shared.status(Selection::default()).await;
    let groups: Vec<i32> = status
        .iter()
        .flat_map(|s| s.processes.iter().filter_map(|p| p.pid))
        .collect();
    let usage = tokio::task::spawn_blocking(move || procstat::sample(&groups))
        .await
        .map_err(|e| format!("sampling /proc failed: {e}"))?;
    let restarts = shared.restarts();
    Ok(exposition(
        status.as_ref().ok(),
        &|pid| usage.get(&pid).copied(),
        &|name| restarts.get(name).copied().unwrap_or(0),
        now_ms(),
    ))
}

fn exposition(
    status: Option<&StatusContent>,
    usage: &dyn Fn(i32) -> Option<procstat::Usage>,
    restarts: &dyn Fn(&str) -> u64,
    now_ms: u64,
) -> String {
    let mut out = String::new();
    let processes: &[ProcessInfo] = status.map_or(&[], |s| &s.processes);
    Family::start(
        &mut out,
        "taskmaster_up",
        "gauge",
        "Whether taskmasterd answered (1) or not (0).",
    )
    .sample("taskmaster_up", &[], u8::from(status.is_some()));
    if let Some(status) = status {
        Family::start(
            &mut out,
            "taskmaster_config_errors",
            "gauge",
            "Errors in the config on disk that kept the last reload from applying.",
        )
        .sample("taskmaster_config_errors", &[], status.config_errors.len());
    }
    let name = "taskmaster_process_state";
    let mut family = Family::start(
        &mut out,
        name,
        "gauge",
        "1 for the state each process is in, 0 for the others.",
    );
    for p in processes {
        for state in STATES {
            let labels = [
                ("name", p.name.as_str()),
                ("group", p.group.as_str()),
                ("state", state.as_str()),
            ];
            family.sample(name, &labels, u8::from(p.state == state));
        }
    }
    let name = "taskmaster_process_start_time_seconds";
    let mut family = Family::start(
        &mut out,
        name,
        "gauge",
        "When each running process started, in seconds since the Unix epoch.",
    );
    for p in processes {
        if let (Some(uptime), true) = (p.uptime_secs, p.state.is_alive()) {
            family.sample(
                name,
                &[("name", &p.name)],
                (now_ms / 1000).saturating_sub(uptime),
            );
        }
    }
    let name = "taskmaster_process_restarts_total";
    let mut family = Family::start(
        &mut out,
        name,
        "counter",
        "Times each process started again after it exited or failed to start, seen since this exporter started.",
    );
    for p in processes {
        family.sample(name, &[("name", &p.name)], restarts(&p.name));
    }
    let name = "taskmaster_process_exit_status";
    let mut family = Family::start(
        &mut out,
        name,
        "gauge",
        "How each process last ended: its exit code, or 128 + the signal that killed it.",
    );
    for p in processes {
        if let Some(code) = p.exit.as_deref().and_then(exit_code) {
            family.sample(name, &[("name", &p.name)], code);
        }
    }
    let usages: Vec<(&ProcessInfo, procstat::Usage)> = processes
        .iter()
        .filter_map(|p| Some((p, usage(p.pid?)?)))
        .collect();
    let name = "taskmaster_process_cpu_seconds_total";
    let mut family = Family::start(
        &mut out,
        name,
        "counter",
        "CPU time (user + system) of each running process's process group, in seconds.",
    );
    for (p, u) in &usages {
        family.sample(name, &[("name", &p.name)], u.cpu_seconds);
    }
    let name = "taskmaster_process_resident_memory_bytes";
    let mut family = Family::start(
        &mut out,
        name,
        "gauge",
        "Resident memory of each running process's process group, in bytes.",
    );
    for (p, u) in &usages {
        family.sample(name, &[("name", &p.name)], u.resident_bytes);
    }
    let name = "taskmaster_log_bytes_total";
    let mut family = Family::start(&mut out, name, "counter", "Bytes of each process's output written to its log files, per stream, since taskmasterd started.");
    for p in processes {
        for count in &p.output {
            family.sample(
                name,
                &[("name", &p.name), ("stream", &count.stream)],
                count.written_bytes,
            );
        }
    }
    let name = "taskmaster_log_dropped_bytes_total";
    let mut family = Family::start(&mut out, name, "counter", "Bytes of each process's output that could not be logged (full disk, unwritable directory), per stream.");
    for p in processes {
        for count in &p.output {
            family.sample(
                name,
                &[("name", &p.name), ("stream", &count.stream)],
                count.dropped_bytes,
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_read_like_a_shell() {
        assert_eq!(exit_code("exit status 3"), Some(3));
        assert_eq!(exit_code("terminated by SIGKILL"), Some(137));
        assert_eq!(exit_code("terminated by SIGSEGV (core dumped)"), Some(139));
        assert_eq!(exit_code("something else"), None);
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_daemon_that_does_not_answer_is_up_0() {
        let text = exposition(None, &|_| None, &|_| 0, 0);
        assert!(text.contains("\ntaskmaster_up 0\n"), "{text}");
    }
}
