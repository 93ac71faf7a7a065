//! `/metrics`: the daemon's processes in Prometheus's text exposition
//! format, from one `status` and one pass over /proc per scrape.

use std::fmt::Write;
use std::str::FromStr;

use nix::sys::signal::Signal;
use taskmaster_protocol::{ProcessInfo, ProcessState, Selection, StatusContent};

use crate::live::{now_ms, Shared};
use taskmaster_procstat as procstat;

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

/// One sample: the labels besides `name`, and the value.
type Sample = (Vec<(&'static str, String)>, f64);

/// A metric with one sample per process (or per process and stream).
struct PerProcess<'a> {
    name: &'static str,
    kind: &'static str,
    help: &'static str,
    /// The samples of one process: extra labels and the value.
    values: &'a dyn Fn(&ProcessInfo) -> Vec<Sample>,
}

fn exposition(
    status: Option<&StatusContent>,
    usage: &dyn Fn(i32) -> Option<procstat::Usage>,
    restarts: &dyn Fn(&str) -> u64,
    now_ms: u64,
) -> String {
    let mut out = String::new();
    Family::start(
        &mut out,
        "taskmaster_up",
        "gauge",
        "Whether taskmasterd answered (1) or not (0).",
    )
    .sample("taskmaster_up", &[], u8::from(status.is_some()));
    let Some(status) = status else {
        return out;
    };
    Family::start(
        &mut out,
        "taskmaster_config_errors",
        "gauge",
        "Errors in the config on disk that kept the last reload from applying.",
    )
    .sample("taskmaster_config_errors", &[], status.config_errors.len());
    let one = |value: Option<f64>| {
        value
            .map(|v| (Vec::new(), v))
            .into_iter()
            .collect::<Vec<_>>()
    };
    let usage_of = |p: &ProcessInfo| p.pid.and_then(usage);
    let per_stream = |p: &ProcessInfo, dropped: bool| {
        p.output
            .iter()
            .map(|c| {
                let value = if dropped {
                    c.dropped_bytes
                } else {
                    c.written_bytes
                };
                (vec![("stream", c.stream.clone())], value as f64)
            })
            .collect::<Vec<_>>()
    };
    let metrics = [
        PerProcess {
            name: "taskmaster_process_state",
            kind: "gauge",
            help: "1 for the state each process is in, 0 for the others.",
            values: &|p| {
                ProcessState::ALL
                    .iter()
                    .map(|s| {
                        let labels = vec![("group", p.group.clone()), ("state", s.as_str().to_owned())];
                        (labels, f64::from(u8::from(p.state == *s)))
                    })
                    .collect()
            },
        },
        PerProcess {
            name: "taskmaster_process_start_time_seconds",
            kind: "gauge",
            help: "When each running process started, in seconds since the Unix epoch.",
            values: &|p| {
                let uptime = p.uptime_secs.filter(|_| p.state.is_alive());
                one(uptime.map(|u| (now_ms / 1000).saturating_sub(u) as f64))
            },
        },
        PerProcess {
            name: "taskmaster_process_restarts_total",
            kind: "counter",
            help: "Times each process started again after it exited or failed to start, seen since this exporter started.",
            values: &|p| one(Some(restarts(&p.name) as f64)),
        },
        PerProcess {
            name: "taskmaster_process_exit_status",
            kind: "gauge",
            help: "How each process last ended: its exit code, or 128 + the signal that killed it.",
            values: &|p| one(p.exit.as_deref().and_then(exit_code).map(|c| c as f64)),
        },
        PerProcess {
            name: "taskmaster_process_cpu_seconds_total",
            kind: "counter",
            help: "CPU time (user + system) of each running process's process group, reaped children included, in seconds.",
            values: &|p| one(usage_of(p).map(|u| u.cpu_seconds)),
        },
        PerProcess {
            name: "taskmaster_process_resident_memory_bytes",
            kind: "gauge",
            help: "Resident memory of each running process's process group, in bytes.",
            values: &|p| one(usage_of(p).map(|u| u.resident_bytes as f64)),
        },
        PerProcess {
            name: "taskmaster_log_bytes_total",
            kind: "counter",
            help: "Bytes of each process's output written to its log files, per stream, since taskmasterd started.",
            values: &|p| per_stream(p, false),
        },
        PerProcess {
            name: "taskmaster_log_dropped_bytes_total",
            kind: "counter",
            help: "Bytes of each process's output that could not be logged (full disk, unwritable directory), per stream.",
            values: &|p| per_stream(p, true),
        },
    ];
    for metric in metrics {
        let mut family = Family::start(&mut out, metric.name, metric.kind, metric.help);
        for p in &status.processes {
            for (extra, value) in (metric.values)(p) {
                let mut labels = vec![("name", p.name.as_str())];
                labels.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
                family.sample(metric.name, &labels, value);
            }
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
