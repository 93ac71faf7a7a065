//! `http` probes: a plain HTTP/1.1 GET written by hand (no TLS, no
//! redirects, no body read); any 2xx status is a success.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The status line is all we read; a server sending more than this
/// before its first line end is not answering HTTP.
const MAX_STATUS_LINE: usize = 1024;

pub async fn get(url: &str) -> Result<(), String> {
    let (authority, path) = split(url);
    let address = if has_port(authority) {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let mut stream = super::connect(&address).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: taskmaster\r\n\
         Connection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < MAX_STATUS_LINE {
        let n = stream
            .read(&mut buffer)
            .await
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..n]);
    }
    match status(&head) {
        Some(code) if (200..300).contains(&code) => Ok(()),
        Some(code) => Err(format!("HTTP {code}")),
        None => Err("not an HTTP answer".to_string()),
    }
}

/// `http://host:port/path?q` -> (`host:port`, `/path?q`).
fn split(url: &str) -> (&str, &str) {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    }
}

fn has_port(authority: &str) -> bool {
    authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
}

/// The code of `HTTP/1.x NNN reason`.
fn status(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut words = line.split_whitespace();
    words
        .next()
        .filter(|version| version.starts_with("HTTP/"))?;
    words.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_where_and_what() {
        assert_eq!(
            split("http://127.0.0.1:8080/health"),
            ("127.0.0.1:8080", "/health")
        );
        assert_eq!(split("http://example"), ("example", "/"));
        assert!(has_port("[::1]:80"));
        assert!(!has_port("[::1]"));
    }

    #[test]
    fn the_status_line_gives_the_code() {
        assert_eq!(status(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(status(b"HTTP/1.0 500 Oops\r\nx"), Some(500));
        assert_eq!(status(b"SSH-2.0-OpenSSH\r\n"), None);
    }
}
