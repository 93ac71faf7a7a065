//! The NDJSON framing of one client, both ways. Request lines: at most
//! `MAX_LINE` bytes each, and what waits for its newline counted against
//! the budget all clients share ([`crate::limits::MAX_BUFFERED`]), so that
//! many half-sent lines cannot fill the broker's memory (an idle connection
//! holds no buffer at all). Replies: one line each, written within
//! [`WRITE_TIMEOUT`]. The server and the streams (`tail -f`) both use it.

use crate::limits::{OverBudget, Tab};
use futures_util::SinkExt;
use std::io;
use std::time::Duration;
use taskmaster_protocol::Response;
use taskmaster_protocol::MAX_LINE;
use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::net::unix::OwnedWriteHalf;
use tokio_util::codec::{FramedWrite, LinesCodec};

/// A client that does not take its reply within this time is dropped, so
/// that it cannot hold memory or a task forever.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Writes one reply line; false when the client is gone or too slow. The
/// line goes to the socket as it is, not copied into the codec's buffer
/// first (the status of 1000 processes is some 190 kB); that buffer is
/// empty between replies, every send being flushed.
pub async fn send_line(writer: &mut FramedWrite<OwnedWriteHalf, LinesCodec>, line: String) -> bool {
    let mut line = line;
    line.push('\n');
    let write = async {
        SinkExt::<String>::flush(writer)
            .await
            .map_err(io::Error::other)?;
        writer.get_mut().write_all(line.as_bytes()).await
    };
    matches!(tokio::time::timeout(WRITE_TIMEOUT, write).await, Ok(Ok(())))
}

/// One reply as its line, with room for the newline [`send_line`] adds:
/// written into one buffer of about its size rather than grown by doubling.
pub fn encode(response: &Response) -> String {
    let content = response.content.as_ref().map_or(0, |c| c.get().len());
    let mut line = Vec::with_capacity(content + 256);
    serde_json::to_writer(&mut line, response).expect("responses serialize");
    // serde_json writes UTF-8 only.
    String::from_utf8(line).expect("JSON text is UTF-8")
}

/// The most read from the socket at once.
const READ_CHUNK: usize = 8 * 1024;

/// Why no line came.
#[derive(Debug)]
pub enum LineError {
    /// A line longer than `MAX_LINE`.
    TooLong,
    /// A line that is not UTF-8.
    NotUtf8,
    /// Keeping the line would pass the budget of all clients.
    OverBudget,
    /// Reading failed: the client is gone.
    Failed,
}

impl From<OverBudget> for LineError {
    fn from(_: OverBudget) -> LineError {
        LineError::OverBudget
    }
}

/// The reading half of a connection, framed in lines.
pub struct Lines<R> {
    read: R,
    /// Bytes read and not yet returned as lines; all counted in `tab`.
    pending: Vec<u8>,
    tab: Tab,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    pub fn new(read: R, tab: Tab) -> Lines<R> {
        Lines {
            read,
            pending: Vec::new(),
            tab,
        }
    }

    /// The next line, without its `\n` (or `\r\n`); `None` at the end of
    /// the stream. Cancel-safe: bytes read are kept for the next call.
    pub async fn next(&mut self) -> Option<Result<String, LineError>> {
        loop {
            match self.take_line() {
                Ok(Some(line)) => return Some(Ok(line)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            let mut chunk = [0; READ_CHUNK];
            match read_some(&mut self.read, &mut chunk).await {
                // The end of the stream; an unfinished last line is dropped,
                // as a client that hangs up mid-request did not send it.
                Ok(0) => return None,
                Ok(n) => {
                    if let Err(e) = self.tab.charge(n) {
                        return Some(Err(e.into()));
                    }
                    self.pending.extend_from_slice(&chunk[..n]);
                }
                Err(_) => return Some(Err(LineError::Failed)),
            }
        }
    }

    /// Completes when the client closes its end (or the connection fails);
    /// what it sends meanwhile is read and dropped, never kept. Used by
    /// streams, so that a client that leaves frees its slot at once.
    pub async fn hang_up(&mut self) {
        self.tab.refund(self.pending.len());
        self.pending = Vec::new();
        let mut chunk = [0; READ_CHUNK];
        while let Ok(1..) = read_some(&mut self.read, &mut chunk).await {}
    }

    fn take_line(&mut self) -> Result<Option<String>, LineError> {
        let Some(end) = self.pending.iter().position(|&b| b == b'\n') else {
            if self.pending.len() >= MAX_LINE {
                return Err(LineError::TooLong);
            }
            return Ok(None);
        };
        // MAX_LINE counts the newline.
        if end >= MAX_LINE {
            return Err(LineError::TooLong);
        }
        let rest = self.pending.split_off(end + 1);
        let mut line = std::mem::replace(&mut self.pending, rest);
        self.tab.refund(line.len());
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if self.pending.is_empty() {
            // Give the memory back too: an idle connection holds nothing.
            self.pending = Vec::new();
        }
        String::from_utf8(line)
            .map(Some)
            .map_err(|_| LineError::NotUtf8)
    }
}

async fn read_some<R: AsyncRead + Unpin>(read: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    tokio::io::AsyncReadExt::read(read, buf).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::{Limits, MAX_BUFFERED};
    use tokio::io::AsyncWriteExt;

    async fn lines_of(input: &[u8]) -> Vec<Result<String, String>> {
        let limits = Limits::new(None);
        let mut lines = Lines::new(input, limits.tab());
        let mut out = Vec::new();
        while let Some(line) = lines.next().await {
            let failed = line.is_err();
            out.push(line.map_err(|e| format!("{e:?}")));
            if failed {
                break;
            }
        }
        out
    }

    #[tokio::test]
    async fn splits_lines_and_drops_an_unfinished_last_one() {
        assert_eq!(
            lines_of(b"a\r\nb\n\nc").await,
            vec![Ok("a".into()), Ok("b".into()), Ok(String::new())]
        );
    }

    #[tokio::test]
    async fn a_line_at_the_limit_passes_and_a_longer_one_fails() {
        let mut input = vec![b'x'; MAX_LINE - 1];
        input.push(b'\n');
        assert_eq!(
            lines_of(&input).await[0].as_ref().map(String::len),
            Ok(MAX_LINE - 1)
        );
        let input = vec![b'x'; MAX_LINE + 10];
        assert_eq!(lines_of(&input).await, vec![Err("TooLong".into())]);
        assert_eq!(lines_of(b"\xff\n").await, vec![Err("NotUtf8".into())]);
    }

    #[tokio::test]
    async fn unfinished_lines_of_all_clients_share_one_budget() {
        let limits = Limits::new(None);
        // Others already hold all but a few bytes of the budget.
        let mut others = limits.tab();
        others.charge(MAX_BUFFERED - 4).unwrap();
        let (mut client, server) = tokio::io::duplex(64);
        let mut lines = Lines::new(server, limits.tab());
        client.write_all(b"ok\n").await.unwrap();
        assert_eq!(lines.next().await.unwrap().unwrap(), "ok");
        client.write_all(b"too much").await.unwrap();
        assert!(matches!(
            lines.next().await,
            Some(Err(LineError::OverBudget))
        ));
        drop(others);
    }

    #[tokio::test]
    async fn hang_up_keeps_nothing_and_ends_at_eof() {
        let limits = Limits::new(None);
        let (mut client, server) = tokio::io::duplex(64);
        let mut lines = Lines::new(server, limits.tab());
        client.write_all(b"half a li").await.unwrap();
        drop(client);
        assert!(lines.next().await.is_none());
        assert_eq!(lines.tab.held(), 9);
        lines.hang_up().await;
        assert!(lines.pending.is_empty());
        assert_eq!(lines.tab.held(), 0);
    }
}
