//! `fg NAME`: attach to one process. Its stdout and stderr arrive on two
//! `tail` follow streams and are printed as they come; what is typed (or
//! piped in) goes to its stdin with `stdin` requests on a third connection.
//! Ctrl-C or the end of input detaches and leaves the process running.
//!
//! Each source (the two streams, the terminal, SIGINT) is a thread that
//! sends what happens to the main thread, which alone prints and talks to
//! taskmasterd: nothing is polled, and no output is interleaved mid-write.

use super::{refused, resolve_names, Connection};
use crate::cli::LogStream;
use crate::error::{exit, Error};
use std::io::{self, IsTerminal, Read, Write};
use std::sync::mpsc;
use taskmaster_protocol::{Command, Reading, Request, Selection, TailChunk};

/// The most of the input sent in one `stdin` request; a terminal sends a
/// line at a time anyway.
const INPUT_CHUNK: usize = 16 * 1024;

/// What the main thread hears about.
enum Happening {
    /// A piece of the process's output.
    Output(LogStream, TailChunk),
    /// Text typed or piped in, for the process's stdin.
    Input(String),
    /// Ctrl-C, or the end of the input: leave.
    Detach,
    /// A stream ended or failed: taskmasterd went away.
    Lost(Error),
}

/// Attaches to `name` until detached (exit 0) or taskmasterd goes away (exit 4).
pub fn run(conn: &mut Connection, name: &str, out: &mut impl Write) -> Result<u8, Error> {
    let name = resolve_names(conn, &[name.to_string()])?
        .pop()
        .unwrap_or_default();
    let (happened, happenings) = mpsc::channel();
    for stream in [LogStream::Stdout, LogStream::Stderr] {
        if let Some(follower) = follow(conn, &name, stream)? {
            let happened = happened.clone();
            std::thread::spawn(move || relay(follower, stream, &happened));
        }
    }
    watch_interrupt(happened.clone())?;
    let terminal = io::stdin().is_terminal();
    std::thread::spawn(move || read_input(&happened));
    if terminal {
        eprintln!(
            "taskmasterctl: attached to {name}: its output follows and what you type goes \
             to its stdin; Ctrl-C or Ctrl-D detaches (it keeps running)"
        );
    }
    loop {
        // The senders live as long as their threads, and the input thread
        // ends only after sending `Detach`.
        let Ok(happening) = happenings.recv() else {
            return Ok(exit::OK);
        };
        match happening {
            Happening::Output(stream, chunk) => show(stream, chunk, out)?,
            Happening::Input(text) => send_input(conn, &name, text)?,
            Happening::Detach => {
                if terminal {
                    eprintln!("\ntaskmasterctl: detached from {name} (it keeps running)");
                }
                return Ok(exit::OK);
            }
            Happening::Lost(error) => return Err(error),
        }
    }
}

/// Opens a `tail` follow stream of one of the process's logs, from now on;
/// `None` for stderr when it goes to the stdout log (`redirect_stderr`).
fn follow(conn: &Connection, name: &str, stream: LogStream) -> Result<Option<Connection>, Error> {
    let mut follower = conn.another()?;
    let request = Request::new(Command::Tail {
        selection: Selection::one(name),
        stream: Some(stream.as_str().to_string()),
        reading: Reading {
            lines: Some(0),
            follow: Some(true),
        },
    });
    let reply = follower
        .client
        .request(&request)
        .map_err(|e| follower.lost(e))?;
    if stream == LogStream::Stderr && reply.error.as_ref().is_some_and(|e| e.code == "no_log") {
        return Ok(None);
    }
    refused(&request, reply.status, reply.error.as_deref())?;
    Ok(Some(follower))
}

/// Passes on what one stream brings until it ends.
fn relay(mut follower: Connection, stream: LogStream, happened: &mpsc::Sender<Happening>) {
    loop {
        let happening = match follower.client.next_line::<TailChunk>() {
            Ok(Some(chunk)) => Happening::Output(stream, chunk),
            Ok(None) => Happening::Lost(Error::new(
                exit::UNREACHABLE,
                format!(
                    "taskmasterctl: taskmasterd at {} ended the {} stream (did it shut down?)",
                    follower.socket.display(),
                    stream.as_str()
                ),
            )),
            Err(e) => Happening::Lost(follower.lost(e)),
        };
        let last = matches!(happening, Happening::Lost(_));
        if happened.send(happening).is_err() || last {
            return;
        }
    }
}

/// Turns SIGINT into `Detach` instead of death, so that fg exits 0.
fn watch_interrupt(happened: mpsc::Sender<Happening>) -> Result<(), Error> {
    let mut signals =
        signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT]).map_err(|e| {
            Error::new(exit::FAILED, "taskmasterctl: cannot handle SIGINT").caused_by(e)
        })?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            let _ = happened.send(Happening::Detach);
        }
    });
    Ok(())
}

/// Reads stdin as it comes (a line at a time from a terminal) until its
/// end, then asks to detach.
fn read_input(happened: &mpsc::Sender<Happening>) {
    let mut stdin = io::stdin().lock();
    let mut buf = vec![0; INPUT_CHUNK];
    let mut pending = Vec::new();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                pending.extend_from_slice(&buf[..n]);
                let text = take_text(&mut pending);
                if !text.is_empty() && happened.send(Happening::Input(text)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A terminal that went away: nothing more will be typed.
            Err(_) => break,
        }
    }
    let _ = happened.send(Happening::Detach);
}

/// The text at the start of `pending`, leaving there a character whose end
/// has not been read yet; bytes that are not UTF-8 become U+FFFD (the
/// protocol carries text).
fn take_text(pending: &mut Vec<u8>) -> String {
    let cut = incomplete_tail(pending);
    let rest = pending.split_off(pending.len() - cut);
    let text = String::from_utf8_lossy(pending).into_owned();
    *pending = rest;
    text
}

/// How many bytes at the end of `bytes` start a UTF-8 character that is
/// not complete yet (0 to 3).
fn incomplete_tail(bytes: &[u8]) -> usize {
    let from = bytes.len().saturating_sub(3);
    (from..bytes.len())
        .find(|&at| {
            matches!(std::str::from_utf8(&bytes[at..]),
                Err(e) if e.valid_up_to() == 0 && e.error_len().is_none())
        })
        .map_or(0, |at| bytes.len() - at)
}

/// Prints a piece of output: stdout's on our stdout, stderr's on our stderr.
fn show(stream: LogStream, chunk: TailChunk, out: &mut impl Write) -> Result<(), Error> {
    if let Some(missed) = chunk.missed_bytes {
        eprintln!(
            "taskmasterctl: skipped {missed} bytes of {}: this client read too slowly",
            stream.as_str()
        );
    }
    let Some(text) = chunk.text else {
        return Ok(());
    };
    match stream {
        LogStream::Stdout => out
            .write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(Error::stdout),
        LogStream::Stderr => {
            let mut err = io::stderr().lock();
            // Nowhere to complain if stderr itself is gone.
            let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
            Ok(())
        }
    }
}

/// Sends input to the process. A process that is not running, or whose pipe
/// is full, is not a reason to detach: fg says what was not sent and goes on.
fn send_input(conn: &mut Connection, name: &str, text: String) -> Result<(), Error> {
    let request = Request::new(Command::Stdin {
        selection: Selection::one(name),
        data: Some(text),
        close: None,
    });
    let reply = match conn.client.request(&request) {
        // taskmasterd closes a connection idle for `idle_timeout`, saying
        // so; either way it never read this request, so it is sent again,
        // once, on a new connection.
        Ok(reply)
            if reply
                .error
                .as_ref()
                .is_some_and(|e| e.code == "idle_timeout") =>
        {
            resend(conn, &request)?
        }
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => resend(conn, &request)?,
        other => other.map_err(|e| conn.lost(e))?,
    };
    match &reply.error {
        Some(error) if matches!(reply.status, 409 | 503) => {
            eprintln!("taskmasterctl: not all sent: {}", error.message);
            Ok(())
        }
        _ => refused(&request, reply.status, reply.error.as_deref()),
    }
}

/// Sends `request` on a new connection, which replaces `conn`.
fn resend(
    conn: &mut Connection,
    request: &Request,
) -> Result<taskmaster_protocol::Response, Error> {
    *conn = conn.another()?;
    conn.client.request(request).map_err(|e| conn.lost(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_taken_whole_characters_at_a_time() {
        let euro = "€".as_bytes();
        let mut pending = [b"x = ".as_slice(), &euro[..2]].concat();
        assert_eq!(take_text(&mut pending), "x = ");
        assert_eq!(pending, &euro[..2]);
        pending.extend_from_slice(&euro[2..]);
        pending.push(b'\n');
        assert_eq!(take_text(&mut pending), "€\n");
        assert!(pending.is_empty());
    }

    #[test]
    fn invalid_bytes_are_replaced_not_held_back() {
        let mut pending = vec![b'a', 0xFF, b'b'];
        assert_eq!(take_text(&mut pending), "a\u{FFFD}b");
        assert!(pending.is_empty());
        // A stray continuation byte at the end cannot start a character.
        let mut pending = vec![b'a', 0x80];
        assert_eq!(take_text(&mut pending), "a\u{FFFD}");
    }

    #[test]
    fn incomplete_tails_of_every_length() {
        let four = "𝄞".as_bytes();
        assert_eq!(incomplete_tail(&four[..1]), 1);
        assert_eq!(incomplete_tail(&four[..2]), 2);
        assert_eq!(incomplete_tail(&four[..3]), 3);
        assert_eq!(incomplete_tail(four), 0);
        assert_eq!(incomplete_tail(b""), 0);
        assert_eq!(incomplete_tail(b"plain"), 0);
    }
}
