//! The `status` reply, written straight into its JSON text one process at
//! a time: a status of 1000 processes builds no table of 1000
//! `ProcessInfo`s first, and one reused `ProcessInfo` keeps its strings'
//! buffers from process to process, so that the reply costs no allocation
//! per process in the usual case.

use super::requests::{command_line, output_counts};
use super::{unix_ms, Core};
use crate::describe;
use crate::targets::Selected;
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};
use serde::Serialize;
use std::time::{Duration, Instant};
use taskmaster_protocol::{ProcessInfo, ProcessState, Response};

impl Core {
    pub(super) fn status(&self, selected: &[Selected]) -> Response {
        let now = Instant::now();
        // Name order (web:2 before web:10), whatever order reloads added
        // them in; the key borrows the names, and a table already in that
        // order (the usual case) is not sorted again.
        let key = |s: &Selected| {
            let proc = &self.table[s.index];
            let instance = proc
                .name
                .rsplit_once(':')
                .and_then(|(_, n)| n.parse::<u32>().ok());
            (proc.program.as_str(), instance)
        };
        let mut selected = selected.to_vec();
        if !selected.is_sorted_by_key(key) {
            selected.sort_by_cached_key(key);
        }
        let mut warnings = self.warnings.clone();
        if let super::Refusals {
            count,
            last: Some(last),
        } = &self.refused
        {
            warnings.push(format!(
                "taskmasterd refused {count} request(s) from the broker; the last: {last}"
            ));
        }
        Response::ok(Content {
            processes: Processes {
                count: selected.len(),
                fill: |i: usize, info: &mut ProcessInfo| self.fill(selected[i], now, info),
            },
            config_errors: &self.config_errors,
            warnings: &warnings,
        })
    }

    /// `info` made the status of process `s`, reusing its buffers. Every
    /// field is named, so that a field added to `ProcessInfo` cannot keep
    /// the previous process's value.
    fn fill(&self, s: Selected, now: Instant, info: &mut ProcessInfo) {
        let ProcessInfo {
            name,
            program,
            group,
            state,
            pid,
            uptime_secs,
            exit,
            spawn_error,
            description,
            command,
            changed_ms,
            output_error,
            readiness,
            output,
        } = info;
        let proc = &self.table[s.index];
        let p = &proc.process;
        let uptime = p
            .started_at
            .filter(|_| p.pid.is_some())
            .map(|at| now.duration_since(at));
        set(name, &proc.name);
        set(program, &proc.program);
        set(group, &proc.group);
        *state = p.state;
        *pid = p.pid;
        *uptime_secs = uptime.map(|u| u.as_secs());
        *exit = p.last_exit.map(describe::exit_text);
        spawn_error.clone_from(&p.spawn_error);
        description.clear();
        describe::write_description(
            description,
            &describe::Facts {
                state: p.state,
                pid: p.pid,
                uptime,
                last_exit: p.last_exit,
                spawn_error: p.spawn_error.as_deref(),
                stopped_at: proc.stopped_wall,
                operator_stop: self.operator_stop(s.index).map(|intent| {
                    let at = std::time::UNIX_EPOCH + Duration::from_millis(intent.time_ms);
                    (intent.uid, at)
                }),
                retry: p
                    .deadline
                    .filter(|_| p.state == ProcessState::Backoff)
                    .map(|at| (p.attempt(), at.saturating_duration_since(now))),
            },
        );
        *readiness = self.readiness_info(s.index, description);
        *output_error = super::requests::output_error(proc);
        if let Some(error) = output_error {
            description.push_str(&format!(" ({error})"));
        }
        command.clear();
        command_line(command, &proc.def);
        *changed_ms = proc.changed_wall.map(unix_ms).unwrap_or(0);
        *output = output_counts(proc);
    }
}

fn set(field: &mut String, value: &str) {
    field.clear();
    field.push_str(value);
}

/// `StatusContent` as the wire has it, with its processes written as they
/// are made. `status_content_has_the_protocols_shape` holds the two together.
struct Content<'a, F> {
    processes: Processes<F>,
    config_errors: &'a [String],
    warnings: &'a [String],
}

impl<F: Fn(usize, &mut ProcessInfo)> Serialize for Content<'_, F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = 1
            + usize::from(!self.config_errors.is_empty())
            + usize::from(!self.warnings.is_empty());
        let mut content = serializer.serialize_struct("StatusContent", fields)?;
        content.serialize_field("processes", &self.processes)?;
        if self.config_errors.is_empty() {
            content.skip_field("config_errors")?;
        } else {
            content.serialize_field("config_errors", self.config_errors)?;
        }
        if self.warnings.is_empty() {
            content.skip_field("warnings")?;
        } else {
            content.serialize_field("warnings", self.warnings)?;
        }
        content.end()
    }
}

/// `count` processes, the `i`th one made by `fill(i, info)` into one
/// `ProcessInfo` that every process reuses.
struct Processes<F> {
    count: usize,
    fill: F,
}

impl<F: Fn(usize, &mut ProcessInfo)> Serialize for Processes<F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.count))?;
        let mut info = ProcessInfo {
            name: String::new(),
            program: String::new(),
            group: String::new(),
            state: ProcessState::Stopped,
            pid: None,
            uptime_secs: None,
            exit: None,
            spawn_error: None,
            description: String::new(),
            command: String::new(),
            changed_ms: 0,
            output_error: None,
            readiness: Default::default(),
            output: Vec::new(),
        };
        for i in 0..self.count {
            (self.fill)(i, &mut info);
            seq.serialize_element(&info)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_protocol::{OutputCount, ReadinessInfo, StatusContent};

    fn process(i: usize) -> ProcessInfo {
        ProcessInfo {
            name: format!("web:{i}"),
            program: "web".into(),
            group: "web".into(),
            state: if i == 0 {
                ProcessState::Running
            } else {
                ProcessState::Exited
            },
            pid: (i == 0).then_some(4121),
            uptime_secs: (i == 0).then_some(3),
            exit: (i == 1).then(|| "exit status 1".into()),
            spawn_error: None,
            description: format!("pid {i}, \"quoted\""),
            command: "sleep 1".into(),
            changed_ms: 17,
            output_error: (i == 1).then(|| "disk full".into()),
            readiness: ReadinessInfo {
                ready: (i == 0).then_some(true),
                ..ReadinessInfo::default()
            },
            output: match i {
                0 => vec![OutputCount {
                    stream: "stdout".into(),
                    written_bytes: 5,
                    dropped_bytes: 0,
                }],
                _ => Vec::new(),
            },
        }
    }

    /// The text written one process at a time is the protocol's
    /// `StatusContent` byte for byte, with or without the optional lists.
    #[test]
    fn status_content_has_the_protocols_shape() {
        let errors = ["a.toml:3: bad key".to_string()];
        for (config_errors, warnings) in [(&[][..], &[][..]), (&errors[..], &errors[..])] {
            let expected = StatusContent {
                processes: (0..3).map(process).collect(),
                config_errors: config_errors.to_vec(),
                warnings: warnings.to_vec(),
            };
            let written = Content {
                processes: Processes {
                    count: 3,
                    fill: |i: usize, info: &mut ProcessInfo| *info = process(i),
                },
                config_errors,
                warnings,
            };
            assert_eq!(
                serde_json::to_string(&written).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
        }
    }
}
