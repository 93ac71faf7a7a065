//! A small blocking client: connect, send a request, read the reply and,
//! for streaming commands, the lines that follow.

use crate::{framing::read_line, Reply, Request, Response, MAX_REPLY_LINE};
use std::io::{self, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// The daemon could not be reached; the message names the socket.
#[derive(Debug)]
pub struct ConnectError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot reach taskmasterd at {}: {}",
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

pub struct Client {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    line: Vec<u8>,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Client, ConnectError> {
        let stream = UnixStream::connect(path).map_err(|source| ConnectError {
            path: path.to_path_buf(),
            source,
        })?;
        let writer = stream.try_clone().map_err(|source| ConnectError {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Client {
            reader: BufReader::with_capacity(64 * 1024, stream),
            writer,
            line: Vec::new(),
        })
    }

    /// A handle on the connection that another thread may shut down,
    /// ending a stream this client is blocked reading (a log followed no
    /// longer wanted): the read then returns end of stream.
    pub fn shutdown_handle(&self) -> io::Result<UnixStream> {
        self.writer.try_clone()
    }

    /// Sends one request and reads its reply.
    pub fn request(&mut self, request: &Request) -> io::Result<Response> {
        self.send(request)?;
        self.reply()
    }

    /// Sends one request and decodes its reply's content straight into `T`,
    /// without an intermediate JSON tree (a `status` of 1000 processes).
    pub fn request_as<T: for<'de> serde::Deserialize<'de>>(
        &mut self,
        request: &Request,
    ) -> io::Result<Reply<T>> {
        self.send(request)?;
        self.reply()
    }

    /// Sends one request and returns its reply line as read, without its
    /// newline, for a caller that decodes it borrowing its strings (a
    /// `status` of 1000 processes then copies none of them).
    pub fn request_line(&mut self, request: &Request) -> io::Result<&[u8]> {
        self.send(request)?;
        if !self.read_line()? {
            return Err(closed());
        }
        Ok(&self.line)
    }

    fn send(&mut self, request: &Request) -> io::Result<()> {
        let mut line = serde_json::to_vec(request).map_err(io::Error::other)?;
        line.push(b'\n');
        self.writer.write_all(&line)
    }

    fn reply<T: for<'de> serde::Deserialize<'de>>(&mut self) -> io::Result<T> {
        self.next_line()?.ok_or_else(closed)
    }

    /// The next line of a stream, decoded as `T`; `None` when the daemon ends it.
    pub fn next_line<T: for<'de> serde::Deserialize<'de>>(&mut self) -> io::Result<Option<T>> {
        if !self.read_line()? {
            return Ok(None);
        }
        serde_json::from_slice(&self.line)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad reply line: {e}")))
    }

    /// The next line into `self.line`; false at the end of the stream.
    fn read_line(&mut self) -> io::Result<bool> {
        read_line(&mut self.reader, &mut self.line, MAX_REPLY_LINE).map_err(|e| match e {
            crate::LineError::Io(e) => e,
            e => io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
        })
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "taskmasterd closed the connection without a reply",
    )
}
