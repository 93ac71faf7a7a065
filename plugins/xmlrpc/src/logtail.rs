//! GET /logtail/NAME[/stdout|/stderr]: what `supervisorctl tail -f` reads.
//! The last KiB of the log, then what is appended, as a chunked HTTP body
//! fed by taskmasterd's `tail` follow stream.

use crate::http::{self, Chunked};
use crate::rpc::Bridge;
use std::io::{self, Write};
use taskmaster_protocol::{Client, Command, Reading, Request, Selection, TailChunk, TailContent};

/// supervisord starts a tail -f with the last 1024 bytes.
const FIRST_BYTES: usize = 1024;

pub fn serve(bridge: &Bridge, rest: &str, mut out: impl Write) -> io::Result<()> {
    let rest = percent_decode(rest);
    let (spec, stream) = match rest.rsplit_once('/') {
        Some((spec, stream @ ("stdout" | "stderr"))) => (spec.to_owned(), stream),
        _ => (rest.clone(), "stdout"),
    };
    let (mut client, first) = match follow(bridge, &spec, stream) {
        Ok(started) => started,
        Err(fault) => {
            let body = format!("{}\n", fault.message);
            return http::respond(&mut out, 404, "text/plain", body.as_bytes(), false);
        }
    };
    let mut body = Chunked::start(out)?;
    body.send(last_bytes(&first.text, FIRST_BYTES).as_bytes())?;
    // Ends when taskmasterd ends the stream or the client is gone (the
    // next write fails).
    while let Some(chunk) = client.next_line::<TailChunk>()? {
        if let Some(text) = chunk.text {
            body.send(text.as_bytes())?;
        }
    }
    Ok(())
}

fn follow(
    bridge: &Bridge,
    spec: &str,
    stream: &str,
) -> Result<(Client, TailContent), crate::faults::Fault> {
    use crate::faults::{Fault, FAILED};
    // The protocol names processes our way: find ours for the spec.
    let ours = bridge.ours(spec)?;
    let mut client = Client::connect(bridge.socket()).map_err(|e| Fault::new(FAILED, e))?;
    let reply = client
        .request(&Request::new(Command::Tail {
            selection: Selection::one(ours),
            stream: Some(stream.to_owned()),
            reading: Reading {
                lines: Some(100),
                follow: Some(true),
            },
        }))
        .map_err(|e| Fault::new(FAILED, format!("taskmasterd: {e}")))?;
    let first = reply
        .into_content::<TailContent>()
        .map_err(|e| Fault::from_error(&e))?;
    Ok((client, first))
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
