//! Just enough XML-RPC over a Unix socket to ask supervisord for its
//! processes' states, without a Python helper (which would cost more than
//! the request it measures).

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

/// One process as supervisord's `getProcessInfo` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub name: String,
    pub statename: String,
    pub pid: i32,
}

/// Calls `method` with string parameters and returns the response body.
pub fn call(socket: &Path, method: &str, params: &[&str]) -> Result<String> {
    let params: String = params
        .iter()
        .map(|p| format!("<param><value><string>{p}</string></value></param>"))
        .collect();
    let body = format!(
        "<?xml version='1.0'?><methodCall><methodName>{method}</methodName>\
         <params>{params}</params></methodCall>"
    );
    // HTTP/1.0: supervisord closes the connection after the reply, so the
    // reply is everything up to the end of the stream.
    let request = format!(
        "POST /RPC2 HTTP/1.0\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("connecting to supervisord at {}", socket.display()))?;
    stream
        .write_all(request.as_bytes())
        .context("sending an XML-RPC request to supervisord")?;
    let mut reply = String::new();
    stream
        .read_to_string(&mut reply)
        .context("reading supervisord's XML-RPC reply")?;
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .context("supervisord's reply has no HTTP header")?;
    if !head.lines().next().is_some_and(|l| l.contains(" 200 ")) {
        bail!("supervisord answered {method} with: {head}");
    }
    if body.contains("<fault>") {
        let reason = member(body, "faultString").unwrap_or(body);
        bail!("supervisord refused {method}: {reason}");
    }
    Ok(body.to_string())
}

/// The processes listed in a `getAllProcessInfo` or `getProcessInfo` reply.
pub fn parse_processes(body: &str) -> Vec<ProcessInfo> {
    body.split("<struct>")
        .skip(1)
        .filter_map(|s| {
            Some(ProcessInfo {
                name: member(s, "name")?.to_string(),
                statename: member(s, "statename")?.to_string(),
                pid: member(s, "pid")?.parse().ok()?,
            })
        })
        .collect()
}

/// The text of the value of member `key` in the struct that `s` starts.
fn member<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let tag = format!("<name>{key}</name>");
    let rest = &s[s.find(&tag)? + tag.len()..];
    let value = &rest[rest.find("<value>")? + "<value>".len()..rest.find("</value>")?];
    // A typed value (`<string>x</string>`, `<int>3</int>`) or a bare string.
    match (value.find('>'), value.rfind('<')) {
        (Some(open), Some(close)) if value.starts_with('<') && close > open => {
            Some(&value[open + 1..close])
        }
        _ => Some(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shape Python's xmlrpc.client writes.
    const REPLY: &str = "<?xml version='1.0'?>
<methodResponse>
<params>
<param>
<value><array><data>
<value><struct>
<member>
<name>name</name>
<value><string>p0000</string></value>
</member>
<member>
<name>pid</name>
<value><int>4121</int></value>
</member>
<member>
<name>statename</name>
<value><string>RUNNING</string></value>
</member>
</struct></value>
<value><struct>
<member>
<name>statename</name>
<value><string>STARTING</string></value>
</member>
<member>
<name>name</name>
<value>p0001</value>
</member>
<member>
<name>pid</name>
<value><int>0</int></value>
</member>
</struct></value>
</data></array></value>
</param>
</params>
</methodResponse>";

    #[test]
    fn parses_every_process() {
        assert_eq!(
            parse_processes(REPLY),
            vec![
                ProcessInfo {
                    name: "p0000".into(),
                    statename: "RUNNING".into(),
                    pid: 4121
                },
                ProcessInfo {
                    name: "p0001".into(),
                    statename: "STARTING".into(),
                    pid: 0
                },
            ]
        );
    }

    #[test]
    fn fault_string_is_found() {
        let fault = "<fault><value><struct><member><name>faultString</name>\
                     <value><string>BAD_NAME: x</string></value></member></struct></value></fault>";
        assert_eq!(member(fault, "faultString"), Some("BAD_NAME: x"));
    }
}
