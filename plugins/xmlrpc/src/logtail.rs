//! GET /logtail/NAME[/stdout|/stderr] and GET /mainlogtail: what
//! `supervisorctl tail -f` and `maintail -f` read. The last KiB of the log,
//! then what is appended, as a chunked HTTP body fed by taskmasterd's
//! `tail` (or `maintail`) follow stream.

use crate::faults::{Fault, FAILED};
use crate::http::Chunked;
use crate::rpc::Bridge;
use std::io::{self, BufReader, Write};
use std::os::unix::net::UnixStream;
use taskmaster_protocol::{
    read_line, Command, LineError, Reading, Request, Response, Selection, TailChunk, TailContent,
    MAX_REPLY_LINE,
};

/// supervisord starts a tail -f with the last 1024 bytes.
const FIRST_BYTES: usize = 1024;

/// A log stream from taskmasterd, opened and not yet sent.
pub struct Follower {
    /// Our own connection, rather than the protocol crate's client, so
    /// that [`Follower::closer`] can end it when the HTTP client leaves.
    broker: UnixStream,
    reader: BufReader<UnixStream>,
    first: TailContent,
}

/// A process's log: `rest` is what follows `/logtail/`.
pub fn open_process(bridge: &Bridge, rest: &str) -> Result<Follower, Fault> {
    let rest = percent_decode(rest);
    let (spec, stream) = match rest.rsplit_once('/') {
        Some((spec, stream @ ("stdout" | "stderr"))) => (spec.to_owned(), stream),
        _ => (rest.clone(), "stdout"),
    };
    let command = Command::Tail {
        selection: Selection::one(bridge.ours(&spec)?),
        stream: Some(stream.to_owned()),
        reading: FOLLOW,
    };
    open(bridge, command)
}

/// taskmasterd's activity log.
pub fn open_main(bridge: &Bridge) -> Result<Follower, Fault> {
    open(bridge, Command::Maintail(FOLLOW))
}

/// Enough lines for the first KiB, then what is appended.
const FOLLOW: Reading = Reading {
    lines: Some(100),
    follow: Some(true),
};

fn open(bridge: &Bridge, command: Command) -> Result<Follower, Fault> {
    let failed = |e: io::Error| Fault::new(FAILED, format!("taskmasterd: {e}"));
    let broker = UnixStream::connect(bridge.socket()).map_err(|e| {
        let socket = bridge.socket().display();
        Fault::new(FAILED, format!("cannot reach taskmasterd at {socket}: {e}"))
    })?;
    let mut line = serde_json::to_vec(&Request::new(command)).map_err(|e| Fault::new(FAILED, e))?;
    line.push(b'\n');
    (&broker).write_all(&line).map_err(failed)?;
    let mut reader = BufReader::new(broker.try_clone().map_err(failed)?);
    let reply: Response = next_line(&mut reader)
        .map_err(failed)?
        .ok_or_else(|| Fault::new(FAILED, "taskmasterd closed the connection"))?;
    let first = reply
        .into_content::<TailContent>()
        .map_err(|e| Fault::from_error(&e))?;
    Ok(Follower {
        broker,
        reader,
        first,
    })
}

fn next_line<T: for<'de> serde::Deserialize<'de>>(
    reader: &mut BufReader<UnixStream>,
) -> io::Result<Option<T>> {
    let mut line = Vec::new();
    match read_line(reader, &mut line, MAX_REPLY_LINE) {
        Ok(false) => Ok(None),
        Ok(true) => serde_json::from_slice(&line)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(LineError::Io(e)) => Err(e),
        Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
    }
}

impl Follower {
    /// A handle that ends the stream from another thread.
    pub fn closer(&self) -> io::Result<UnixStream> {
        self.broker.try_clone()
    }

    /// Sends the stream as a chunked body until taskmasterd ends it, the
    /// closer is used, or a write to the client fails.
    pub fn send(mut self, out: impl Write) -> io::Result<()> {
        let mut body = Chunked::start(out)?;
        body.send(last_bytes(&self.first.text, FIRST_BYTES).as_bytes())?;
        while let Some(chunk) = next_line::<TailChunk>(&mut self.reader)? {
            if let Some(text) = chunk.text {
                body.send(text.as_bytes())?;
            }
        }
        Ok(())
    }
}

/// The last `n` bytes of `text`, not cutting a character.
fn last_bytes(text: &str, n: usize) -> &str {
    let mut start = text.len().saturating_sub(n);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// `%3A` → `:`; anything malformed is kept as it is.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_decoded_and_cut_on_characters() {
        assert_eq!(percent_decode("web%3A0/stderr"), "web:0/stderr");
        assert_eq!(percent_decode("a%zz%"), "a%zz%");
        assert_eq!(last_bytes("héllo", 4), "llo");
        assert_eq!(last_bytes("hi", 10), "hi");
    }
}
