//! One function per command that talks to taskmasterd: resolve job specs,
//! build the request, send it, print the reply and choose the exit status.

use crate::cli::{Action, Command, Control, Format, LogStream, Reading};
use crate::error::{exit, plain, Error};
use crate::jobspec;
use crate::output::{self, Style};
use crate::target::Server;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::io::{self, Write};
use std::path::PathBuf;
use taskmaster_protocol::{
    self as protocol, ActionContent, AvailContent, Client, ConnectError, ErrorBody, Event,
    EventBody, PidContent, ProcessInfo, Reply, Request, Selection, StatusContent, TailChunk,
    TailContent, VersionContent, WhyContent, PROTOCOL_VERSION,
};

mod fg;

/// The connection to taskmasterd, and where it goes for error messages.
pub struct Connection {
    client: Client,
    socket: PathBuf,
}

impl Connection {
    pub fn open(server: &Server) -> Result<Self, Error> {
        let client = Client::connect(&server.socket).map_err(unreachable)?;
        Ok(Connection {
            client,
            socket: server.socket.clone(),
        })
    }

    /// Sends `request` and returns the reply's content; an error reply
    /// becomes `error: <message>` and exit status 1.
    fn call(&mut self, request: &Request) -> Result<Value, Error> {
        let reply = self.client.request(request).map_err(|e| self.lost(e))?;
        let content = reply.content_value();
        refused(request, reply.status, reply.error.as_deref())?;
        Ok(content)
    }

    /// [`Connection::call`] with the content decoded straight into `T`,
    /// which may borrow strings from the reply line.
    fn call_as<'a, T: Deserialize<'a>>(&'a mut self, request: &Request) -> Result<T, Error> {
        let socket = &self.socket;
        let line = self
            .client
            .request_line(request)
            .map_err(|e| lost(socket, e))?;
        let bad = |e: &dyn std::fmt::Display| {
            let error = io::Error::new(io::ErrorKind::InvalidData, format!("bad reply line: {e}"));
            lost(socket, error)
        };
        // The line checked as UTF-8 once, whole: from bytes, serde_json
        // checks every string and key again, a sixth of a 1000-process status.
        let text = std::str::from_utf8(line).map_err(|e| bad(&e))?;
        let reply: Reply<T> = serde_json::from_str(text).map_err(|e| bad(&e))?;
        refused(request, reply.status, reply.error.as_ref())?;
        reply.content.ok_or_else(|| {
            Error::new(
                exit::FAILED,
                "taskmasterctl: taskmasterd answered without content (is it another version?)",
            )
        })
    }

    /// Another connection to the same daemon, for a second stream.
    fn another(&self) -> Result<Connection, Error> {
        let client = Client::connect(&self.socket).map_err(unreachable)?;
        Ok(Connection {
            client,
            socket: self.socket.clone(),
        })
    }

    fn lost(&self, error: io::Error) -> Error {
        lost(&self.socket, error)
    }
}

/// The connection to taskmasterd at `socket` failed: exit status 4, or 1
/// for a reply that cannot be read.
fn lost(socket: &std::path::Path, error: io::Error) -> Error {
    if error.kind() == io::ErrorKind::InvalidData {
        Error::new(
            exit::FAILED,
            format!(
                "taskmasterctl: unreadable reply from taskmasterd at {}",
                socket.display()
            ),
        )
        .caused_by(error)
    } else {
        Error::new(
            exit::UNREACHABLE,
            format!(
                "taskmasterctl: lost the connection to taskmasterd at {}",
                socket.display()
            ),
        )
        .caused_by(error)
    }
}

/// An error reply (status >= 400) to `sent` as the error to print: `error:
/// <message>` and exit status 1.
fn refused(sent: &Request, status: u16, error: Option<&ErrorBody>) -> Result<(), Error> {
    if status < 400 {
        return Ok(());
    }
    let message = match error {
        // supervisorctl's wording, which scripts grep for.
        Some(body) if body.code == "no_such_process" => {
            // A daemon older than the error's `name` field: the one name
            // sent, when there was one.
            let sent_one = || {
                let mut specs = sent.command.selection()?.specs();
                let one = specs.next()?;
                specs.next().is_none().then(|| one.to_owned())
            };
            let name = body.name.clone().or_else(sent_one);
            let name = name.as_deref().unwrap_or("?");
            format!("{name}: ERROR (no such process)")
        }
        Some(body) => format!("error: {}", body.message),
        None => format!("error: taskmasterd answered {status} without a reason"),
    };
    Err(Error::new(exit::FAILED, message))
}

/// Exit status 4, with what to try next.
fn unreachable(error: ConnectError) -> Error {
    let hint = match error.source.kind() {
        io::ErrorKind::PermissionDenied => {
            "; is this user allowed by the socket's [unix_http_server] chmod and chown?"
        }
        _ => "; is it running? Start it with `taskmasterd -c <config>`",
    };
    Error::new(
        exit::UNREACHABLE,
        format!(
            "taskmasterctl: cannot reach taskmasterd at {}: {}{hint}",
            error.path.display(),
            plain(&error.source)
        ),
    )
}

fn decode<T: DeserializeOwned>(content: Value) -> Result<T, Error> {
    serde_json::from_value(content).map_err(bad_content)
}

fn bad_content(error: serde_json::Error) -> Error {
    Error::new(
        exit::FAILED,
        "taskmasterctl: unexpected reply from taskmasterd (is it another version?)",
    )
    .caused_by(error)
}

/// Runs a command that talks to taskmasterd and returns the exit status it
/// calls for; the others are the caller's to run.
pub fn run(
    command: &Command,
    conn: &mut Connection,
    style: Style,
    out: &mut impl Write,
) -> Result<u8, Error> {
    match command {
        Command::Status { names, format } => status(conn, names, *format, style, out),
        Command::Start(c) => action(
            conn,
            |s| protocol::Command::Start(control(s, c)),
            &c.action,
            out,
        ),
        Command::Stop(c) => action(
            conn,
            |s| protocol::Command::Stop(control(s, c)),
            &c.action,
            out,
        ),
        Command::Restart(c) => action(
            conn,
            |s| protocol::Command::Restart(control(s, c)),
            &c.action,
            out,
        ),
        Command::Why { name, format } => why(conn, name, *format, style, out),
        Command::Signal {
            signal: sig,
            action: a,
        } => {
            let signal = |selection| protocol::Command::Signal {
                signal: Some(signal_value(sig)),
                selection,
            };
            action(conn, signal, a, out)
        }
        Command::Pid { names, format } => pid(conn, names, *format, out),
        Command::Avail { format } => avail(conn, *format, out),
        Command::Events { format, since } => events(conn, *format, *since, style, out),
        Command::Tail {
            reading,
            name,
            stream,
        } => tail(conn, Some((name, *stream)), *reading, out),
        Command::Maintail { reading } => tail(conn, None, *reading, out),
        Command::Fg { name } => fg::run(conn, name, out),
        Command::Clear(a) => action(conn, protocol::Command::Clear, a, out),
        Command::Reread { format } => reread(conn, *format, out),
        Command::Reload { format } => reload(conn, *format, out),
        Command::Shutdown { format } => shutdown(conn, *format, out),
        Command::Version { format } => version(conn, *format, out),
        Command::Help { .. } | Command::Completions { .. } | Command::External(_) => {
            Err(Error::new(
                exit::FAILED,
                format!(
                    "taskmasterctl: `{}` does not talk to taskmasterd",
                    command.name()
                ),
            ))
        }
    }
}

/// Every process, as `status` lists them.
pub fn all_processes(conn: &mut Connection) -> Result<Vec<ProcessInfo>, Error> {
    let request = Request::new(protocol::Command::status(Selection::default()));
    let status: StatusContent = decode(conn.call(&request)?)?;
    Ok(status.processes)
}

/// The names with job specs replaced by the process each names; `status`
/// is asked only when there is a job spec.
fn resolve_names(conn: &mut Connection, names: &[String]) -> Result<Vec<String>, Error> {
    if !names.iter().any(|n| jobspec::is_job_spec(n)) {
        return Ok(names.to_vec());
    }
    let processes = all_processes(conn)?;
    names
        .iter()
        .map(|name| {
            if jobspec::is_job_spec(name) {
                jobspec::resolve(name, &processes)
                    .map(str::to_string)
                    .map_err(|e| Error::new(exit::FAILED, format!("error: {e}")))
            } else {
                Ok(name.clone())
            }
        })
        .collect()
}

/// Prints a reply's content as JSON, for `--json`.
fn print_json(out: &mut impl Write, content: &Value) -> Result<(), Error> {
    serde_json::to_writer_pretty(&mut *out, content)
        .map_err(io::Error::from)
        .and_then(|()| writeln!(out))
        .map_err(Error::stdout)
}

fn status(
    conn: &mut Connection,
    names: &[String],
    format: Format,
    style: Style,
    out: &mut impl Write,
) -> Result<u8, Error> {
    let selection = Selection::names(resolve_names(conn, names)?);
    if format.json {
        let request = Request::new(protocol::Command::status(selection));
        let content = conn.call(&request)?;
        print_json(out, &content)?;
        let status = StatusContent::deserialize(&content).map_err(bad_content)?;
        return Ok(output::status_exit(
            status.processes.iter().map(|p| p.state),
        ));
    }
    // What the lines show, and no more: a third of the full reply.
    let request = Request::new(protocol::Command::Status {
        selection,
        fields: Some(output::STATUS_LINE_FIELDS.to_vec()),
    });
    let status: output::StatusLines = conn.call_as(&request)?;
    // On stderr: the status lines stay what scripts parse. Made first, then
    // written at once: stderr is not buffered.
    let mut warnings = Vec::new();
    let _ = output::write_warnings(&mut warnings, &status.warnings);
    let _ = io::stderr().write_all(&warnings);
    output::write_config_errors(out, &status.config_errors).map_err(Error::stdout)?;
    output::write_status(out, &status.processes, style).map_err(Error::stdout)?;
    Ok(output::status_exit(
        status.processes.iter().map(|p| p.state),
    ))
}

/// `start`, `stop`, `restart`, `signal` or `clear` (`command`) of the
/// processes the action names.
fn action(
    conn: &mut Connection,
    command: impl FnOnce(Selection) -> protocol::Command,
    action: &Action,
    out: &mut impl Write,
) -> Result<u8, Error> {
    let names = resolve_names(conn, &action.names)?;
    let content = conn.call(&Request::new(command(Selection::names(names))))?;
    let results = ActionContent::deserialize(&content).map_err(bad_content)?;
    if action.format.json {
        print_json(out, &content)?;
    } else {
        output::write_actions(out, &results.results).map_err(Error::stdout)?;
        output::write_skipped(out, &results.skipped).map_err(Error::stdout)?;
    }
    Ok(output::actions_exit(&results.results))
}

/// A start, stop or restart of `selection`, transient when asked.
fn control(selection: Selection, control: &Control) -> protocol::Action {
    protocol::Action {
        transient: control.transient.then_some(true),
        ..selection.into()
    }
}

/// `why`: the process's transitions, then the tail of its log, then (for
/// FATAL) what to do.
fn why(
    conn: &mut Connection,
    name: &str,
    format: Format,
    style: Style,
    out: &mut impl Write,
) -> Result<u8, Error> {
    let mut names = resolve_names(conn, &[name.to_string()])?;
    let selection = Selection {
        name: names.pop(),
        ..Selection::default()
    };
    let content = conn.call(&Request::new(protocol::Command::Why(selection.clone())))?;
    let why = WhyContent::deserialize(&content).map_err(bad_content)?;
    let tail = protocol::Command::Tail {
        selection,
        stream: Some(why.stream.clone()),
        reading: protocol::Reading {
            lines: Some(10),
            follow: None,
        },
    };
    // A process without a log file yet (never started) has no tail.
    let text = match conn.call(&Request::new(tail)) {
        Ok(reply) => TailContent::deserialize(&reply).map_or(String::new(), |t| t.text),
        Err(_) => String::new(),
    };
    if format.json {
        let mut content = content;
        content["output"] = Value::from(text.lines().collect::<Vec<_>>());
        print_json(out, &content)?;
    } else {
        let zone = jiff::tz::TimeZone::system();
        output::write_why(out, &why, &text, &zone, style).map_err(Error::stdout)?;
    }
    Ok(exit::OK)
}

/// The protocol takes a signal as a name or a number; `9` is sent as a number.
fn signal_value(sig: &str) -> Value {
    match sig.parse::<i64>() {
        Ok(number) => Value::from(number),
        Err(_) => Value::from(sig),
    }
}

fn pid(
    conn: &mut Connection,
    names: &[String],
    format: Format,
    out: &mut impl Write,
) -> Result<u8, Error> {
    let names = resolve_names(conn, names)?;
    let content = conn.call(&Request::new(protocol::Command::Pid(Selection::names(
        names,
    ))))?;
    let pids = PidContent::deserialize(&content).map_err(bad_content)?;
    if format.json {
        print_json(out, &content)?;
    } else {
        output::write_pids(out, &pids).map_err(Error::stdout)?;
    }
    Ok(output::pids_exit(&pids))
}

fn reread(conn: &mut Connection, format: Format, out: &mut impl Write) -> Result<u8, Error> {
    let content = conn.call(&Request::new(protocol::Command::Reread))?;
    if format.json {
        print_json(out, &content)?;
    } else {
        let plan = content
            .get("plan")
            .and_then(Value::as_str)
            .unwrap_or_default();
        writeln!(out, "{plan}").map_err(Error::stdout)?;
    }
    Ok(exit::OK)
}

/// Prints the plan, then what happened to each process it stopped or started.
fn reload(conn: &mut Connection, format: Format, out: &mut impl Write) -> Result<u8, Error> {
    let content = conn.call(&Request::new(protocol::Command::Reload))?;
    let reply = ActionContent::deserialize(&content).map_err(bad_content)?;
    if format.json {
        print_json(out, &content)?;
    } else {
        if let Some(plan) = &reply.plan {
            writeln!(out, "{plan}").map_err(Error::stdout)?;
        }
        output::write_actions(out, &reply.results).map_err(Error::stdout)?;
    }
    Ok(output::actions_exit(&reply.results))
}

fn avail(conn: &mut Connection, format: Format, out: &mut impl Write) -> Result<u8, Error> {
    let content = conn.call(&Request::new(protocol::Command::Avail))?;
    if format.json {
        print_json(out, &content)?;
    } else {
        let avail: AvailContent = decode(content)?;
        output::write_avail(out, &avail.programs).map_err(Error::stdout)?;
    }
    Ok(exit::OK)
}

/// Follows the event stream until taskmasterd ends it (exit 4: it went away)
/// or the reader does (a closed pipe ends quietly). Each line is flushed at
/// once: someone is watching.
fn events(
    conn: &mut Connection,
    format: Format,
    since: Option<u64>,
    style: Style,
    out: &mut impl Write,
) -> Result<u8, Error> {
    let command = match since {
        Some(seq) => protocol::Command::EventsSince(seq),
        None => protocol::Command::Events,
    };
    conn.call(&Request::new(command))?;
    let zone = jiff::tz::TimeZone::system();
    loop {
        let Some(line) = conn.client.next_line::<Value>().map_err(|e| conn.lost(e))? else {
            return Err(Error::new(
                exit::UNREACHABLE,
                format!(
                    "taskmasterctl: taskmasterd at {} ended the event stream (did it shut down?)",
                    conn.socket.display()
                ),
            ));
        };
        if format.json {
            serde_json::to_writer(&mut *out, &line)
                .map_err(io::Error::from)
                .and_then(|()| writeln!(out))
                .map_err(Error::stdout)?;
        } else {
            // An event of a kind this client does not know yet is skipped.
            if let Ok(event) = Event::deserialize(&line) {
                print_event(&event, &zone, style, out)?;
            }
        }
        out.flush().map_err(Error::stdout)?;
    }
}

fn print_event(
    event: &Event,
    zone: &jiff::tz::TimeZone,
    style: Style,
    out: &mut impl Write,
) -> Result<(), Error> {
    if let EventBody::Lagged { missed } = event.body {
        // On stderr: whoever parses stdout sees only state changes.
        eprintln!(
            "taskmasterctl: missed {missed} events: taskmasterd dropped them because \
             this client read too slowly"
        );
    }
    match output::event_line(event, zone, style) {
        Some(line) => writeln!(out, "{line}").map_err(Error::stdout),
        None => Ok(()),
    }
}

/// `tail` of a process's log, or (without a process) `maintail`: the last
/// lines, then with -f what is appended, each piece flushed at once, until
/// taskmasterd ends the stream (exit 4: it went away) or the reader does.
fn tail(
    conn: &mut Connection,
    process: Option<(&String, LogStream)>,
    reading: Reading,
    out: &mut impl Write,
) -> Result<u8, Error> {
    let wanted = protocol::Reading {
        lines: Some(reading.lines),
        follow: Some(reading.follow),
    };
    let command = match process {
        Some((name, stream)) => {
            let mut names = resolve_names(conn, std::slice::from_ref(name))?;
            protocol::Command::Tail {
                selection: Selection {
                    name: names.pop(),
                    ..Selection::default()
                },
                stream: Some(stream.as_str().to_string()),
                reading: wanted,
            }
        }
        None => protocol::Command::Maintail(wanted),
    };
    let first: TailContent = decode(conn.call(&Request::new(command))?)?;
    out.write_all(first.text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::stdout)?;
    if !reading.follow {
        return Ok(exit::OK);
    }
    loop {
        let Some(chunk) = conn
            .client
            .next_line::<TailChunk>()
            .map_err(|e| conn.lost(e))?
        else {
            return Err(Error::new(
                exit::UNREACHABLE,
                format!(
                    "taskmasterctl: taskmasterd at {} ended the stream of {} (did it shut down?)",
                    conn.socket.display(),
                    first.path
                ),
            ));
        };
        if let Some(missed) = chunk.missed_bytes {
            // On stderr: stdout stays the log's own bytes.
            eprintln!(
                "taskmasterctl: skipped {missed} bytes of {}: this client read too slowly",
                first.path
            );
        }
        if let Some(text) = chunk.text {
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(Error::stdout)?;
        }
    }
}

fn shutdown(conn: &mut Connection, format: Format, out: &mut impl Write) -> Result<u8, Error> {
    let content = conn.call(&Request::new(protocol::Command::Shutdown))?;
    if format.json {
        print_json(out, &content)?;
    } else {
        writeln!(out, "Shut down").map_err(Error::stdout)?;
    }
    Ok(exit::OK)
}

fn version(conn: &mut Connection, format: Format, out: &mut impl Write) -> Result<u8, Error> {
    let content = conn.call(&Request::new(protocol::Command::Version))?;
    let daemon = VersionContent::deserialize(&content).map_err(bad_content)?;
    if format.json {
        let both = serde_json::json!({
            "taskmasterd": content,
            "taskmasterctl": { "version": env!("CARGO_PKG_VERSION"), "protocol": PROTOCOL_VERSION },
        });
        print_json(out, &both)?;
    } else {
        let text = output::version_text(&daemon, env!("CARGO_PKG_VERSION"), PROTOCOL_VERSION);
        writeln!(out, "{text}").map_err(Error::stdout)?;
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_signals_are_sent_as_numbers() {
        assert_eq!(signal_value("9"), Value::from(9));
        assert_eq!(signal_value("HUP"), Value::from("HUP"));
        assert_eq!(signal_value("SIGUSR1"), Value::from("SIGUSR1"));
    }

    #[test]
    fn unreachable_names_the_socket_and_the_fix() {
        let error = unreachable(ConnectError {
            path: PathBuf::from("/tmp/x.sock"),
            source: io::Error::from_raw_os_error(2),
        });
        assert_eq!(error.code(), exit::UNREACHABLE);
        assert_eq!(
            error.report().unwrap(),
            "taskmasterctl: cannot reach taskmasterd at /tmp/x.sock: No such file or directory; \
             is it running? Start it with `taskmasterd -c <config>`"
        );
    }
}
