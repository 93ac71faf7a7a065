//! What each reply looks like on stdout, supervisorctl's way, and the exit
//! status it implies. Pure: everything writes into any `Write`.

use crate::error::exit;
use serde::Deserialize;
use std::borrow::Cow;
use std::ffi::OsStr;
use std::io::{self, Write};
use taskmaster_protocol::{
    ActionResult, AvailProgram, Event, EventBody, PidContent, ProcessState, Skipped, StatusField,
    VersionContent, WhyContent,
};

/// Whether states are coloured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    /// Colour on a terminal only, and never when `NO_COLOR` is set to
    /// anything but the empty string (no-color.org).
    pub fn detect(is_terminal: bool, no_color: Option<&OsStr>) -> Style {
        Style {
            colour: is_terminal && no_color.unwrap_or_default().is_empty(),
        }
    }

    /// For stdout, as this process has it.
    pub fn for_stdout() -> Style {
        use std::io::IsTerminal;
        Style::detect(
            io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        )
    }

    /// `state` padded to `width`, coloured by how well things go; the
    /// padding stays outside the colour so that columns line up.
    fn state(self, state: ProcessState, width: usize) -> String {
        let mut text = String::new();
        self.push_state(&mut text, state, width);
        text
    }

    /// [`Style::state`] appended to `out`.
    fn push_state(self, out: &mut String, state: ProcessState, width: usize) {
        let text = state.as_str();
        match self.colour.then(|| colour_code(state)).flatten() {
            Some(code) => {
                out.push_str("\x1b[");
                out.push_str(code);
                out.push('m');
                out.push_str(text);
                out.push_str("\x1b[0m");
            }
            None => out.push_str(text),
        }
        pad(out, width.saturating_sub(text.len()));
    }
}

fn pad(out: &mut String, spaces: usize) {
    out.extend(std::iter::repeat_n(' ', spaces));
}

/// Green for running, yellow for on the way, red for failed; others plain.
fn colour_code(state: ProcessState) -> Option<&'static str> {
    match state {
        ProcessState::Running => Some("32"),
        ProcessState::Starting | ProcessState::Stopping | ProcessState::Backoff => Some("33"),
        ProcessState::Fatal | ProcessState::Unknown => Some("1;31"),
        ProcessState::Exited => Some("31"),
        ProcessState::Stopped => None,
    }
}

/// supervisorctl's name column: the longest name (at least 30) and 3 spaces.
fn name_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(str::len).max().unwrap_or(0).max(30) + 3
}

/// The errors that kept the daemon from loading the config file, above the
/// processes, so that a typo is seen where people look.
pub fn write_config_errors(out: &mut impl Write, errors: &[String]) -> io::Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "The config file has errors; the last good config is still in force:"
    )?;
    for error in errors {
        writeln!(out, "  {error}")?;
    }
    writeln!(out)
}

/// What the daemon says an operator must look at (requests taskmasterd
/// refused, a fallback user), above the processes.
pub fn write_warnings(out: &mut impl Write, warnings: &[String]) -> io::Result<()> {
    for warning in warnings {
        writeln!(out, "WARNING: {warning}")?;
    }
    if !warnings.is_empty() {
        writeln!(out)?;
    }
    Ok(())
}

/// The three fields `status` prints of a process, borrowed from the reply
/// line: a status of 1000 processes then copies none of its strings, and
/// skips the fields it does not print.
#[derive(Debug, Deserialize)]
pub struct StatusLine<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    pub state: ProcessState,
    #[serde(borrow)]
    description: Cow<'a, str>,
}

/// The fields of [`StatusLine`], asked of the daemon by name.
pub const STATUS_LINE_FIELDS: [StatusField; 3] = [
    StatusField::Name,
    StatusField::State,
    StatusField::Description,
];

/// A `status` reply's content as [`write_status`] needs it.
#[derive(Debug, Deserialize)]
pub struct StatusLines<'a> {
    #[serde(borrow)]
    pub processes: Vec<StatusLine<'a>>,
    #[serde(default)]
    pub config_errors: Vec<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// `web:0                            RUNNING   pid 4121, uptime 0:03:10`,
/// every line made in memory first and written with one `write_all`.
pub fn write_status(
    out: &mut impl Write,
    processes: &[StatusLine],
    style: Style,
) -> io::Result<()> {
    let width = name_width(processes.iter().map(|p| &*p.name));
    let mut text = String::with_capacity(processes.len() * (width + 48));
    for p in processes {
        let name = &p.name;
        text.push_str(name);
        // As `{:<width$}` pads: by characters.
        pad(&mut text, width.saturating_sub(name.chars().count()));
        if p.description.is_empty() {
            style.push_state(&mut text, p.state, 0);
        } else {
            style.push_state(&mut text, p.state, 10);
            text.push_str(&p.description);
        }
        text.push('\n');
    }
    out.write_all(text.as_bytes())
}

/// `2026-11-25 15:10:03 web STARTING -> RUNNING pid 4121`, in `zone`'s time;
/// `None` for an event that is not for people's eyes (`lagged`).
pub fn event_line(event: &Event, zone: &jiff::tz::TimeZone, style: Style) -> Option<String> {
    let time = local_time(event.time_ms, zone);
    match &event.body {
        EventBody::State {
            name,
            from,
            to,
            pid,
            ..
        } => {
            let mut line = format!("{time} {name} {from} -> {}", style.state(*to, 0));
            if let Some(pid) = pid {
                line.push_str(&format!(" pid {pid}"));
            }
            Some(line)
        }
        EventBody::Reload { ok: true, .. } => Some(format!("{time} config reloaded")),
        EventBody::Reload { ok: false, errors } => Some(format!(
            "{time} config reload refused: {}",
            errors.join("; ")
        )),
        EventBody::Health { name, health, .. } => Some(format!("{time} {name} {health}")),
        EventBody::Lagged { .. } => None,
    }
}

/// `2026-11-25 15:10:03`, from milliseconds since the Unix epoch.
fn local_time(time_ms: u64, zone: &jiff::tz::TimeZone) -> String {
    i64::try_from(time_ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| {
            t.to_zoned_datetime(zone.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_else(|| format!("@{time_ms}ms"))
}

/// `why`: the process and its state, one line per transition (time,
/// states, cause), the tail of its log, and what to do.
pub fn write_why(
    out: &mut impl Write,
    why: &WhyContent,
    tail: &str,
    zone: &jiff::tz::TimeZone,
    style: Style,
) -> io::Result<()> {
    writeln!(out, "{}: {}", why.name, style.state(why.state, 0))?;
    for t in &why.transitions {
        let time = local_time(t.time_ms, zone);
        let line = format!("{time}  {} -> {}  {}", t.from, t.to, t.text);
        writeln!(out, "{}", line.trim_end())?;
    }
    if why.transitions.is_empty() {
        writeln!(out, "no transitions yet")?;
    }
    if !tail.is_empty() {
        writeln!(out, "last lines of its {}:", why.stream)?;
        for line in tail.lines() {
            writeln!(out, "  {line}")?;
        }
    }
    if let Some(advice) = &why.advice {
        writeln!(out, "what to do: {advice}")?;
    }
    Ok(())
}

/// 3 when a listed process is not RUNNING, as `systemctl is-active` would fail.
pub fn status_exit(states: impl IntoIterator<Item = ProcessState>) -> u8 {
    if states
        .into_iter()
        .all(|state| state == ProcessState::Running)
    {
        exit::OK
    } else {
        exit::NOT_RUNNING
    }
}

/// `web: started`, or `web: ERROR (already started)` when it failed.
pub fn write_actions(out: &mut impl Write, results: &[ActionResult]) -> io::Result<()> {
    for r in results {
        if r.ok {
            writeln!(out, "{}: {}", r.name, r.message)?;
        } else {
            writeln!(out, "{}: ERROR ({})", r.name, r.message)?;
        }
    }
    Ok(())
}

/// `db: skipped (not in admins or db's operators)`: what a wildcard named
/// but the caller may not touch. Not a failure: `all` means "all of mine".
pub fn write_skipped(out: &mut impl Write, skipped: &[Skipped]) -> io::Result<()> {
    skipped
        .iter()
        .try_for_each(|s| writeln!(out, "{}: skipped ({})", s.name, s.reason))
}

pub fn actions_exit(results: &[ActionResult]) -> u8 {
    if results.iter().all(|r| r.ok) {
        exit::OK
    } else {
        exit::FAILED
    }
}

/// The daemon's pid; one process's pid alone; else `NAME PID` lines, easy
/// to read with `while read name pid`.
pub fn write_pids(out: &mut impl Write, content: &PidContent) -> io::Result<()> {
    if let Some(pid) = content.daemon {
        writeln!(out, "{pid}")?;
    }
    match content.processes.as_slice() {
        [one] => writeln!(out, "{}", one.pid),
        many => many
            .iter()
            .try_for_each(|p| writeln!(out, "{} {}", p.name, p.pid)),
    }
}

/// 3 when a named process is not running (its pid is 0), as for `status`.
pub fn pids_exit(content: &PidContent) -> u8 {
    if content.processes.iter().any(|p| p.pid == 0) {
        exit::NOT_RUNNING
    } else {
        exit::OK
    }
}

/// `web                              in use    auto      999:999`
pub fn write_avail(out: &mut impl Write, programs: &[AvailProgram]) -> io::Result<()> {
    let width = name_width(programs.iter().map(|p| p.name.as_str()));
    for p in programs {
        let in_use = if p.in_use { "in use" } else { "avail" };
        let autostart = if p.autostart { "auto" } else { "manual" };
        let priority = p.priority;
        writeln!(
            out,
            "{:<width$}{in_use:<9} {autostart:<9} {priority}:{priority}",
            p.name
        )?;
    }
    Ok(())
}

/// The daemon's version alone when the client matches it, else both, with
/// their protocol versions so that a mismatch is plain.
pub fn version_text(daemon: &VersionContent, client_version: &str, client_protocol: u32) -> String {
    if daemon.version == client_version && daemon.protocol == client_protocol {
        daemon.version.clone()
    } else {
        format!(
            "taskmasterd {} (protocol {}), taskmasterctl {client_version} (protocol {client_protocol})",
            daemon.version, daemon.protocol
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_protocol::ProcessInfo;

    #[test]
    fn config_errors_come_first_and_only_when_there_are_some() {
        let mut out = Vec::new();
        write_config_errors(&mut out, &[]).unwrap();
        assert!(out.is_empty());
        write_config_errors(&mut out, &["t.toml:3: programs.web.x: unknown key".into()]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "The config file has errors; the last good config is still in force:\n  t.toml:3: programs.web.x: unknown key\n\n"
        );
    }
    use taskmaster_protocol::ProcessPid;

    fn process(name: &str, state: ProcessState, description: &str) -> ProcessInfo {
        ProcessInfo {
            description: description.into(),
            command: "/bin/true".into(),
            ..ProcessInfo::new(name, name.split(':').next().unwrap_or(name), name, state)
        }
    }

    fn result(name: &str, ok: bool, message: &str) -> ActionResult {
        ActionResult {
            name: name.into(),
            ok,
            state: ProcessState::Running,
            message: message.into(),
        }
    }

    fn text(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
        let mut out = Vec::new();
        write(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn status_lines_align_like_supervisorctl() {
        let processes = [
            process("web:0", ProcessState::Running, "pid 4121, uptime 0:03:10"),
            process("db", ProcessState::Stopped, ""),
        ];
        assert_eq!(
            text(|out| write_status(out, &lines(&processes), Style::default())),
            "web:0                            RUNNING   pid 4121, uptime 0:03:10\n\
             db                               STOPPED\n"
        );
    }

    fn lines(processes: &[ProcessInfo]) -> Vec<StatusLine<'_>> {
        processes
            .iter()
            .map(|p| StatusLine {
                name: Cow::Borrowed(&p.name),
                state: p.state,
                description: Cow::Borrowed(&p.description),
            })
            .collect()
    }

    #[test]
    fn status_lines_decoded_from_the_reply_print_as_the_processes_would() {
        let processes = vec![
            process("web:0", ProcessState::Running, "pid 4121, uptime 0:03:10"),
            process("d\u{e9}j\u{e0}", ProcessState::Stopped, "say \"hi\"\\"),
            process("db", ProcessState::Stopped, ""),
        ];
        let content = taskmaster_protocol::StatusContent {
            processes: processes.clone(),
            config_errors: vec!["a.toml:1: bad".into()],
            warnings: Vec::new(),
        };
        let json = serde_json::to_string(&content).unwrap();
        let decoded: StatusLines = serde_json::from_str(&json).unwrap();
        assert_eq!(decoded.config_errors, content.config_errors);
        for style in [Style::default(), Style { colour: true }] {
            assert_eq!(
                text(|out| write_status(out, &decoded.processes, style)),
                text(|out| write_status(out, &lines(&processes), style))
            );
        }
    }

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        let yes = Style { colour: true };
        let no = Style::default();
        assert_eq!(Style::detect(true, None), yes);
        assert_eq!(Style::detect(true, Some(OsStr::new(""))), yes);
        assert_eq!(Style::detect(true, Some(OsStr::new("1"))), no);
        assert_eq!(Style::detect(false, None), no);
    }

    #[test]
    fn coloured_status_keeps_its_columns() {
        let processes = [
            process("web", ProcessState::Running, "pid 1, uptime 0:00:01"),
            process("db", ProcessState::Stopped, "Not started"),
        ];
        let out = text(|out| write_status(out, &lines(&processes), Style { colour: true }));
        assert_eq!(
            out,
            format!(
                "{:<33}\x1b[32mRUNNING\x1b[0m   pid 1, uptime 0:00:01\n{:<33}STOPPED   Not started\n",
                "web", "db"
            )
        );
    }

    #[test]
    fn event_lines_in_local_time() {
        let event = Event {
            seq: 7,
            // 2026-11-25 15:10:03.250 UTC
            time_ms: 1_795_619_403_250,
            body: EventBody::State {
                name: "web".into(),
                group: "web".into(),
                from: ProcessState::Starting,
                to: ProcessState::Running,
                pid: Some(4121),
            },
        };
        let utc = jiff::tz::TimeZone::UTC;
        assert_eq!(
            event_line(&event, &utc, Style::default()).unwrap(),
            "2026-11-25 15:10:03 web STARTING -> RUNNING pid 4121"
        );
        let lagged = Event {
            seq: 9,
            time_ms: 0,
            body: EventBody::Lagged { missed: 3 },
        };
        assert_eq!(event_line(&lagged, &utc, Style::default()), None);
        let reload = Event {
            seq: 10,
            time_ms: 1_795_619_403_250,
            body: EventBody::Reload {
                ok: false,
                errors: vec!["a.toml:3: bad".into()],
            },
        };
        assert_eq!(
            event_line(&reload, &utc, Style::default()).unwrap(),
            "2026-11-25 15:10:03 config reload refused: a.toml:3: bad"
        );
    }

    #[test]
    fn status_column_grows_with_long_names() {
        let long = "a".repeat(40);
        let processes = [
            process(&long, ProcessState::Fatal, "Exited too quickly"),
            process("x", ProcessState::Running, "pid 1, uptime 0:00:01"),
        ];
        let out = text(|out| write_status(out, &lines(&processes), Style::default()));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], format!("{long}   FATAL     Exited too quickly"));
        assert_eq!(lines[1].find("RUNNING"), Some(43));
    }

    #[test]
    fn status_exit_is_3_unless_everything_runs() {
        use ProcessState::Running;
        assert_eq!(status_exit([]), exit::OK);
        assert_eq!(status_exit([Running]), exit::OK);
        for state in [
            ProcessState::Stopped,
            ProcessState::Starting,
            ProcessState::Backoff,
            ProcessState::Exited,
            ProcessState::Fatal,
        ] {
            assert_eq!(status_exit([Running, state]), exit::NOT_RUNNING, "{state}");
        }
    }

    #[test]
    fn action_lines_and_exit() {
        let results = [
            result("web", true, "started"),
            result("web:0", true, "stopped"),
            result("db", false, "already started"),
        ];
        assert_eq!(
            text(|out| write_actions(out, &results)),
            "web: started\nweb:0: stopped\ndb: ERROR (already started)\n"
        );
        assert_eq!(actions_exit(&results), exit::FAILED);
        assert_eq!(actions_exit(&results[..2]), exit::OK);
    }

    #[test]
    fn pids_one_alone_many_with_names() {
        let daemon = PidContent {
            daemon: Some(42),
            processes: vec![],
        };
        assert_eq!(text(|out| write_pids(out, &daemon)), "42\n");
        assert_eq!(pids_exit(&daemon), exit::OK);

        let pid = |name: &str, pid| ProcessPid {
            name: name.into(),
            pid,
        };
        let one = PidContent {
            daemon: None,
            processes: vec![pid("web", 4121)],
        };
        assert_eq!(text(|out| write_pids(out, &one)), "4121\n");
        let many = PidContent {
            daemon: None,
            processes: vec![pid("web:0", 4121), pid("web:1", 0)],
        };
        assert_eq!(text(|out| write_pids(out, &many)), "web:0 4121\nweb:1 0\n");
        assert_eq!(pids_exit(&many), exit::NOT_RUNNING);
    }

    #[test]
    fn avail_lines() {
        let program = |name: &str, in_use, autostart, priority| AvailProgram {
            name: name.into(),
            group: name.into(),
            numprocs: 1,
            autostart,
            priority,
            in_use,
        };
        let programs = [
            program("web", true, true, 999),
            program("cron", false, false, 5),
        ];
        assert_eq!(
            text(|out| write_avail(out, &programs)),
            "web                              in use    auto      999:999\n\
             cron                             avail     manual    5:5\n"
        );
    }

    #[test]
    fn version_alone_when_both_sides_agree() {
        let daemon = VersionContent {
            version: "0.1.0".into(),
            protocol: 1,
        };
        assert_eq!(version_text(&daemon, "0.1.0", 1), "0.1.0");
        assert_eq!(
            version_text(&daemon, "0.2.0", 1),
            "taskmasterd 0.1.0 (protocol 1), taskmasterctl 0.2.0 (protocol 1)"
        );
    }
}
