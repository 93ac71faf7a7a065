//! The `status` reply, written straight into its JSON text one process at
//! a time: a status of 1000 processes builds no table of 1000
//! `ProcessInfo`s first, and one reused `ProcessInfo` keeps its strings'
//! buffers from process to process, so that the reply costs no allocation
//! per process in the usual case.

use super::requests::{command_line, output_counts};
use super::{unix_ms, Core};
use crate::describe;
use crate::targets::Selected;
use serde::ser::{SerializeMap, SerializeSeq, SerializeStruct, Serializer};
use serde::Serialize;
use std::time::{Duration, Instant};
use taskmaster_protocol::{ProcessInfo, ProcessState, ReadinessInfo, Response, StatusField};

impl Core {
    pub(super) fn status(&self, selected: &[Selected], fields: Fields) -> Response {
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
                fields,
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
/// `ProcessInfo` that every process reuses, and written with `fields`.
struct Processes<F> {
    count: usize,
    fill: F,
    fields: Fields,
}

impl<F: Fn(usize, &mut ProcessInfo)> Serialize for Processes<F> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.count))?;
        let mut info = ProcessInfo::new("", "", "", ProcessState::Stopped);
        for i in 0..self.count {
            (self.fill)(i, &mut info);
            seq.serialize_element(&Projected {
                info: &info,
                fields: self.fields,
            })?;
        }
        seq.end()
    }
}

/// The fields of each process a `status` request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fields(u32);

impl Fields {
    pub const ALL: Fields = Fields(u32::MAX);

    /// `None`: the request named no fields, so every one.
    pub fn of(wanted: Option<&[StatusField]>) -> Fields {
        wanted.map_or(Fields::ALL, |wanted| {
            Fields(wanted.iter().fold(0, |set, &f| set | Fields::bit(f)))
        })
    }

    fn bit(field: StatusField) -> u32 {
        1 << field as u32
    }

    fn has(self, field: StatusField) -> bool {
        self.0 & Fields::bit(field) != 0
    }
}

/// A `ProcessInfo` with only the fields asked for: with all of them, its
/// text is `ProcessInfo`'s own (`status_content_has_the_protocols_shape`),
/// optional fields left out when empty just as there.
struct Projected<'a> {
    info: &'a ProcessInfo,
    fields: Fields,
}

impl Serialize for Projected<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use StatusField as F;
        // Named one by one: a field added to `ProcessInfo` does not
        // compile until it is written here too.
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
            readiness:
                ReadinessInfo {
                    ready,
                    health,
                    waiting_for,
                    notify_status,
                },
            output,
        } = self.info;
        let has = |field| self.fields.has(field);
        let mut map = serializer.serialize_map(None)?;
        if has(F::Name) {
            map.serialize_entry("name", name)?;
        }
        if has(F::Program) {
            map.serialize_entry("program", program)?;
        }
        if has(F::Group) {
            map.serialize_entry("group", group)?;
        }
        if has(F::State) {
            map.serialize_entry("state", state)?;
        }
        optional(&mut map, has(F::Pid), "pid", pid)?;
        optional(&mut map, has(F::UptimeSecs), "uptime_secs", uptime_secs)?;
        optional(&mut map, has(F::Exit), "exit", exit)?;
        optional(&mut map, has(F::SpawnError), "spawn_error", spawn_error)?;
        if has(F::Description) {
            map.serialize_entry("description", description)?;
        }
        if has(F::Command) {
            map.serialize_entry("command", command)?;
        }
        if has(F::ChangedMs) {
            map.serialize_entry("changed_ms", changed_ms)?;
        }
        optional(&mut map, has(F::OutputError), "output_error", output_error)?;
        optional(&mut map, has(F::Ready), "ready", ready)?;
        optional(&mut map, has(F::Health), "health", health)?;
        optional(&mut map, has(F::WaitingFor), "waiting_for", waiting_for)?;
        optional(
            &mut map,
            has(F::NotifyStatus),
            "notify_status",
            notify_status,
        )?;
        if has(F::Output) && !output.is_empty() {
            map.serialize_entry("output", output)?;
        }
        map.end()
    }
}

/// An optional field: written when asked for and present.
fn optional<M: SerializeMap, T: Serialize>(
    map: &mut M,
    asked: bool,
    key: &str,
    value: &Option<T>,
) -> Result<(), M::Error> {
    match value {
        Some(value) if asked => map.serialize_entry(key, value),
        _ => Ok(()),
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
            spawn_error: (i == 2).then(|| "cannot execute 'x'".into()),
            description: format!("pid {i}, \"quoted\""),
            command: "sleep 1".into(),
            changed_ms: 17,
            output_error: (i == 1).then(|| "disk full".into()),
            readiness: ReadinessInfo {
                ready: (i == 0).then_some(true),
                health: (i == 2).then(|| "healthy".into()),
                waiting_for: (i == 2).then(|| "db is FATAL".into()),
                notify_status: (i == 2).then(|| "warming up".into()),
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
                    fields: Fields::ALL,
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

    /// Only the fields asked for, in the protocol's order, and an optional
    /// one asked for but empty is still left out.
    #[test]
    fn a_status_with_fields_writes_only_those() {
        use StatusField as F;
        let fields = Fields::of(Some(&[F::Description, F::Name, F::State, F::Exit]));
        let written = Processes {
            count: 2,
            fill: |i: usize, info: &mut ProcessInfo| *info = process(i),
            fields,
        };
        assert_eq!(
            serde_json::to_string(&written).unwrap(),
            concat!(
                r#"[{"name":"web:0","state":"RUNNING","description":"pid 0, \"quoted\""},"#,
                r#"{"name":"web:1","state":"EXITED","exit":"exit status 1","description":"pid 1, \"quoted\""}]"#
            )
        );
        assert_eq!(Fields::of(None), Fields::ALL);
    }
}
