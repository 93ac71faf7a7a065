//! One function per command: build the request, send it over the one
//! connection, print the reply and choose the exit status.

use crate::cli::Command;
use crate::error::{exit, plain, Error};
use crate::output;
use crate::target::Server;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use std::io::{self, Write};
use std::path::PathBuf;
use taskmaster_protocol::{
    ActionContent, AvailContent, Client, ConnectError, PidContent, Request, StatusContent,
    VersionContent, PROTOCOL_VERSION,
};

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
        if reply.status >= 400 {
            let message = match reply.error {
                Some(body) => body.message,
                None => format!("taskmasterd answered {} without a reason", reply.status),
            };
            return Err(Error::new(exit::FAILED, format!("error: {message}")));
        }
        Ok(reply.content.unwrap_or(Value::Null))
    }

    fn lost(&self, error: io::Error) -> Error {
        if error.kind() == io::ErrorKind::InvalidData {
            Error::new(
                exit::FAILED,
                format!(
                    "taskmasterctl: unreadable reply from taskmasterd at {}",
                    self.socket.display()
                ),
            )
            .caused_by(error)
        } else {
            Error::new(
                exit::UNREACHABLE,
                format!(
                    "taskmasterctl: lost the connection to taskmasterd at {}",
                    self.socket.display()
                ),
            )
            .caused_by(error)
        }
    }
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

/// Runs `command` and returns the exit status it calls for.
pub fn run(command: &Command, conn: &mut Connection, out: &mut impl Write) -> Result<u8, Error> {
    match command {
        Command::Status { names, json } => status(conn, names, *json, out),
        Command::Start(n) => action(conn, "start", &n.names, out),
        Command::Stop(n) => action(conn, "stop", &n.names, out),
        Command::Restart(n) => action(conn, "restart", &n.names, out),
        Command::Signal { signal: sig, names } => signal(conn, sig, &names.names, out),
        Command::Pid { names } => pid(conn, names, out),
        Command::Avail => avail(conn, out),
        Command::Shutdown => shutdown(conn, out),
        Command::Version => version(conn, out),
    }
}

fn status(
    conn: &mut Connection,
    names: &[String],
    json: bool,
    out: &mut impl Write,
) -> Result<u8, Error> {
    let content = conn.call(&Request::new("status").with_names(names))?;
    let status = if json {
        let status = StatusContent::deserialize(&content).map_err(bad_content)?;
        serde_json::to_writer_pretty(&mut *out, &content)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
            .map_err(Error::stdout)?;
        status
    } else {
        let status: StatusContent = decode(content)?;
        output::write_status(out, &status.processes).map_err(Error::stdout)?;
        status
    };
    Ok(output::status_exit(&status.processes))
}

fn action(
    conn: &mut Connection,
    command: &str,
    names: &[String],
    out: &mut impl Write,
) -> Result<u8, Error> {
    let content = conn.call(&Request::new(command).with_names(names))?;
    print_results(decode(content)?, out)
}

fn signal(
    conn: &mut Connection,
    sig: &str,
    names: &[String],
    out: &mut impl Write,
) -> Result<u8, Error> {
    let mut request = Request::new("signal").with_names(names);
    request.signal = Some(signal_value(sig));
    let content = conn.call(&request)?;
    print_results(decode(content)?, out)
}

/// The protocol takes a signal as a name or a number; `9` is sent as a number.
fn signal_value(sig: &str) -> Value {
    match sig.parse::<i64>() {
        Ok(number) => Value::from(number),
        Err(_) => Value::from(sig),
    }
}

fn print_results(content: ActionContent, out: &mut impl Write) -> Result<u8, Error> {
    output::write_actions(out, &content.results).map_err(Error::stdout)?;
    Ok(output::actions_exit(&content.results))
}

fn pid(conn: &mut Connection, names: &[String], out: &mut impl Write) -> Result<u8, Error> {
    let content: PidContent = decode(conn.call(&Request::new("pid").with_names(names))?)?;
    output::write_pids(out, &content).map_err(Error::stdout)?;
    Ok(output::pids_exit(&content))
}

fn avail(conn: &mut Connection, out: &mut impl Write) -> Result<u8, Error> {
    let content: AvailContent = decode(conn.call(&Request::new("avail"))?)?;
    output::write_avail(out, &content.programs).map_err(Error::stdout)?;
    Ok(exit::OK)
}

fn shutdown(conn: &mut Connection, out: &mut impl Write) -> Result<u8, Error> {
    conn.call(&Request::new("shutdown"))?;
    writeln!(out, "Shut down").map_err(Error::stdout)?;
    Ok(exit::OK)
}

fn version(conn: &mut Connection, out: &mut impl Write) -> Result<u8, Error> {
    let daemon: VersionContent = decode(conn.call(&Request::new("version"))?)?;
    let text = output::version_text(&daemon, env!("CARGO_PKG_VERSION"), PROTOCOL_VERSION);
    writeln!(out, "{text}").map_err(Error::stdout)?;
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
