//! Talking to taskmasterd from tokio: the protocol crate's types and line
//! limit over a non-blocking socket. The crate's own `Client` blocks; here
//! a stream (`events`, `tail -f`) must end the moment the browser that
//! asked for it goes away, which dropping an async socket does.

use serde::de::DeserializeOwned;
use std::io;
use std::path::{Path, PathBuf};
use taskmaster_protocol::{Command, Reply, Request, MAX_REPLY_LINE};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

/// Where the daemon listens; each request opens its own connection, so
/// that none sits idle long enough for the daemon's `idle_timeout`.
#[derive(Debug, Clone)]
pub struct Daemon {
    pub socket: PathBuf,
}

/// One connection to the daemon.
pub struct Connection {
    reader: BufReader<UnixStream>,
    line: Vec<u8>,
}

/// What went wrong talking to the daemon, in words for a page or a log.
pub fn unreachable(socket: &Path, error: &io::Error) -> String {
    format!("cannot reach taskmasterd at {}: {error}", socket.display())
}

impl Daemon {
    pub async fn connect(&self) -> Result<Connection, String> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| unreachable(&self.socket, &e))?;
        Ok(Connection {
            reader: BufReader::with_capacity(64 * 1024, stream),
            line: Vec::new(),
        })
    }

    /// Sends one request on a fresh connection and reads its reply.
    pub async fn request<T: DeserializeOwned>(&self, command: Command) -> Result<Reply<T>, String> {
        let mut connection = self.connect().await?;
        connection
            .request(command)
            .await
            .map_err(|e| unreachable(&self.socket, &e))
    }

    /// Like [`Daemon::request`], with a refusal (any status but 200) as its
    /// message.
    pub async fn content<T: DeserializeOwned>(&self, command: Command) -> Result<T, String> {
        let reply = self.request::<T>(command).await?;
        match (reply.content, reply.error) {
            (Some(content), None) => Ok(content),
            (_, Some(error)) => Err(error.message),
            (None, None) => Err(format!(
                "taskmasterd answered {} with no content",
                reply.status
            )),
        }
    }
}

impl Connection {
    /// Sends a request and reads its reply (for a stream, the first line).
    pub async fn request<T: DeserializeOwned>(&mut self, command: Command) -> io::Result<Reply<T>> {
        let mut line = serde_json::to_vec(&Request::new(command)).map_err(io::Error::other)?;
        line.push(b'\n');
        self.reader.get_mut().write_all(&line).await?;
        self.next_line().await?.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "taskmasterd closed the connection without a reply",
            )
        })
    }

    /// The next line of a stream; `None` when the daemon ends it.
    pub async fn next_line<T: DeserializeOwned>(&mut self) -> io::Result<Option<T>> {
        self.line.clear();
        let limit = MAX_REPLY_LINE as u64;
        let read = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut self.line)
            .await?;
        if read == 0 {
            return Ok(None);
        }
        if self.line.last() != Some(&b'\n') && read as u64 == limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("reply line longer than {MAX_REPLY_LINE} bytes"),
            ));
        }
        serde_json::from_slice(&self.line)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("bad reply line: {e}")))
    }

    /// True when a whole line is already buffered: reading it costs no
    /// wait, so a burst of events can be handled as one.
    pub fn has_buffered_line(&self) -> bool {
        self.reader.buffer().contains(&b'\n')
    }
}
