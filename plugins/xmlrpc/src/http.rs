//! Just enough HTTP/1.1 for XML-RPC clients and supervisorctl: requests
//! with a `Content-Length` body, keep-alive, basic auth, and chunked
//! responses for `/logtail` streams.

use std::io::{self, BufRead, Read, Write};

/// The largest request body read: a `system.multicall` of many calls.
const MAX_BODY: usize = 4 * 1024 * 1024;
/// The longest request or header line.
const MAX_LINE: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;

#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The client wants the connection kept open after the reply.
    pub keep_alive: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request could not be read: the status to answer, if any.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection between requests.
    Closed,
    Io(io::Error),
    Bad(u16, &'static str),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Io(e)
    }
}

fn read_line(reader: &mut impl BufRead) -> Result<Option<String>, ReadError> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if n > MAX_LINE {
        return Err(ReadError::Bad(431, "header line too long"));
    }
    let text = String::from_utf8(line).map_err(|_| ReadError::Bad(400, "header not UTF-8"))?;
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
}

/// Reads one request; `Closed` when the client hung up before a new one.
pub fn read_request(reader: &mut impl BufRead) -> Result<Request, ReadError> {
    let first = loop {
        match read_line(reader)? {
            None => return Err(ReadError::Closed),
            // Some clients send a stray CRLF after a body.
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = first.split_whitespace();
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad(400, "bad request line"));
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?.ok_or(ReadError::Bad(400, "headers cut short"))?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(ReadError::Bad(431, "too many headers"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(ReadError::Bad(400, "bad header line"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        headers,
        body: Vec::new(),
        keep_alive: false,
    };
    let connection = request
        .header("connection")
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    request.keep_alive = if version == "HTTP/1.0" {
        connection == "keep-alive"
    } else {
        connection != "close"
    };
    if request.header("transfer-encoding").is_some() {
        return Err(ReadError::Bad(411, "send the body with a Content-Length"));
    }
    let length: usize = match request.header("content-length") {
        None => 0,
        Some(n) => n
            .parse()
            .map_err(|_| ReadError::Bad(400, "bad Content-Length"))?,
    };
    if length > MAX_BODY {
        return Err(ReadError::Bad(413, "request body larger than 4 MiB"));
    }
    request.body = vec![0; length];
    reader.read_exact(&mut request.body)?;
    Ok(request)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Writes a whole response.
pub fn respond(
    out: &mut impl Write,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        reason(status),
        body.len()
    );
    if status == 401 {
        head.push_str("WWW-Authenticate: Basic realm=\"taskmaster\"\r\n");
    }
    head.push_str(if keep_alive {
        "Connection: keep-alive\r\n\r\n"
    } else {
        "Connection: close\r\n\r\n"
    });
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}

/// A response whose body is sent in pieces as they come (`/logtail`).
pub struct Chunked<W: Write>(W);

impl<W: Write> Chunked<W> {
    pub fn start(mut out: W) -> io::Result<Chunked<W>> {
        out.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=utf-8\r\n\
              Transfer-Encoding: chunked\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n",
        )?;
        out.flush()?;
        Ok(Chunked(out))
    }

    pub fn send(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        write!(self.0, "{:x}\r\n", data.len())?;
        self.0.write_all(data)?;
        self.0.write_all(b"\r\n")?;
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_post_with_its_body_and_keep_alive() {
        let raw = b"POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nAuthorization: Basic eDp5\r\n\r\nhelloPOST";
        let mut reader = &raw[..];
        let request = read_request(&mut reader).unwrap();
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/RPC2")
        );
        assert_eq!(request.body, b"hello");
        assert!(request.keep_alive);
        assert_eq!(request.header("authorization"), Some("Basic eDp5"));
        assert_eq!(reader, b"POST");
    }

    #[test]
    fn http_1_0_closes_unless_asked_and_bad_input_is_named() {
        let request = read_request(&mut &b"GET / HTTP/1.0\r\n\r\n"[..]).unwrap();
        assert!(!request.keep_alive);
        assert!(matches!(
            read_request(&mut &b""[..]),
            Err(ReadError::Closed)
        ));
        assert!(matches!(
            read_request(&mut &b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"[..]),
            Err(ReadError::Bad(413, _))
        ));
        assert!(matches!(
            read_request(&mut &b"nonsense\r\n\r\n"[..]),
            Err(ReadError::Bad(400, _))
        ));
    }

    #[test]
    fn chunks_are_framed() {
        let mut out = Vec::new();
        let mut chunked = Chunked::start(&mut out).unwrap();
        chunked.send(b"hello\n").unwrap();
        chunked.send(b"").unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\r\n\r\n6\r\nhello\n\r\n"), "{text:?}");
    }
}
