//! The NDJSON protocol over a raw socket, as a buggy or hostile client would
//! use it: bad lines, unknown commands and names, oversized lines, crowds,
//! clients that vanish or never read. Other clients and programs must not
//! notice.

use crate::harness::{TestDaemon, WAIT};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const WEB: &str = r#"
[programs.web]
command = "@PROG@"
startsecs = 0
"#;

/// One raw connection with line reads bounded by a timeout.
struct Raw {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Raw {
    fn connect(path: &Path) -> Raw {
        let stream = UnixStream::connect(path).expect("connect to the daemon");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set timeout");
        let writer = stream.try_clone().expect("clone the stream");
        Raw {
            reader: BufReader::new(stream),
            writer,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write a request");
    }

    /// The next reply line as JSON; `None` when the daemon closed the connection.
    fn reply(&mut self) -> Option<Value> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(
                serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("reply is not JSON ({e}): {line:?}")),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => None,
            Err(e) => panic!("no reply line: {e}"),
        }
    }

    fn ask(&mut self, request: &Value) -> Value {
        self.send(format!("{request}\n").as_bytes());
        self.reply()
            .unwrap_or_else(|| panic!("connection closed instead of a reply to {request}"))
    }
}

/// The daemon still serves a fresh client and web is untouched.
fn still_serving(d: &TestDaemon, web: i32) {
    let reply = Raw::connect(d.socket()).ask(&json!({"command": "status"}));
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(d.pid("web"), web);
    assert_eq!(d.state("web"), "RUNNING");
}

#[test]
fn invalid_json_gets_400_and_the_connection_goes_on() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let mut raw = Raw::connect(d.socket());
    raw.send(b"this is not json\n");
    let reply = raw.reply().expect("a reply to a malformed line");
    assert_eq!(reply["status"], 400, "{reply}");
    assert!(reply["error"]["message"].is_string(), "{reply}");
    let reply = raw.ask(&json!({"id": 1, "command": "status"}));
    assert_eq!(
        (reply["status"].clone(), reply["id"].clone()),
        (json!(200), json!(1)),
        "{reply}"
    );
}

#[test]
fn unknown_command_400_unknown_name_404_ids_echoed() {
    let d = TestDaemon::start(WEB);
    let mut raw = Raw::connect(d.socket());
    let reply = raw.ask(&json!({"id": "x", "command": "frobnicate"}));
    assert_eq!(reply["status"], 400, "{reply}");
    assert_eq!(reply["error"]["code"], "unknown_command", "{reply}");
    assert_eq!(reply["id"], "x", "{reply}");

    let reply = raw.ask(&json!({"command": "stop", "target": "program", "name": "nosuch"}));
    assert_eq!(reply["status"], 404, "{reply}");
    assert_eq!(reply["error"]["code"], "no_such_process", "{reply}");

    let reply = raw.ask(&json!({"id": [1, 2], "command": "version"}));
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(reply["id"], json!([1, 2]));
    assert_eq!(
        reply["content"]["protocol"],
        taskmaster_protocol::PROTOCOL_VERSION
    );
    assert_eq!(reply["content"]["version"], env!("CARGO_PKG_VERSION"));
}

/// The original specification: "if empty, targets all". A `stop`, `start`
/// or `restart` naming nothing acts on every program; `signal` and `clear`
/// still want a name.
#[test]
fn start_stop_and_restart_without_a_target_act_on_every_program() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
startsecs = 0

[programs.worker]
command = "@PROG@"
startsecs = 0
numprocs = 2
"#,
    );
    let all = ["web", "worker:0", "worker:1"];
    for name in all {
        d.wait_state(name, "RUNNING", WAIT);
    }
    let states = |d: &TestDaemon| -> Vec<(String, String)> {
        d.processes()
            .iter()
            .map(|p| (p["name"].to_string(), p["state"].to_string()))
            .collect()
    };
    let every = |state: &str| -> Vec<(String, String)> {
        all.iter()
            .map(|name| (json!(name).to_string(), json!(state).to_string()))
            .collect()
    };

    let reply = d.request(json!({"command": "stop"}));
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(
        reply["content"]["results"].as_array().map(Vec::len),
        Some(3),
        "{reply}"
    );
    assert_eq!(states(&d), every("STOPPED"));

    let reply = d.request(json!({"command": "start"}));
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(states(&d), every("RUNNING"));

    let before = d.pid("web");
    let reply = d.request(json!({"id": 3, "command": "restart"}));
    assert_eq!(
        (reply["status"].clone(), reply["id"].clone()),
        (json!(200), json!(3)),
        "{reply}"
    );
    assert_eq!(states(&d), every("RUNNING"));
    assert_ne!(d.pid("web"), before);

    for command in ["signal", "clear"] {
        let reply = d.request(json!({"command": command, "signal": "HUP"}));
        assert_eq!(reply["status"], 400, "{reply}");
        assert_eq!(reply["error"]["code"], "missing_name", "{reply}");
    }
    assert_eq!(states(&d), every("RUNNING"));
}

/// An error about a process names it in fields, so that no client reads
/// it out of the message.
/// `status` with `fields` sends those and no others; a field the daemon
/// does not know is a 400 that names it, and the connection goes on.
#[test]
fn status_sends_only_the_fields_asked_for() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let mut raw = Raw::connect(d.socket());
    let reply = raw.ask(&json!({"command": "status", "fields": ["name", "state", "pid"]}));
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(
        reply["content"]["processes"],
        json!([{"name": "web", "state": "RUNNING", "pid": d.pid("web")}])
    );
    let reply = raw.ask(&json!({"command": "status", "fields": ["name", "colour"]}));
    assert_eq!(reply["status"], 400, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("unknown variant `colour`"), "{reply}");
    // Without fields, all of them.
    let reply = raw.ask(&json!({"command": "status"}));
    assert_eq!(
        reply["content"]["processes"][0]["program"], "web",
        "{reply}"
    );
}

#[test]
fn errors_about_a_process_name_it_in_fields() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let reply = d.request(json!({"command": "stop", "names": ["web", "ngnix"]}));
    assert_eq!(reply["status"], 404, "{reply}");
    assert_eq!(reply["error"]["name"], "ngnix", "{reply}");

    d.request(json!({"command": "stop", "name": "web"}));
    let reply = d.request(json!({"command": "stdin", "name": "web", "data": "x\n"}));
    assert_eq!(reply["status"], 409, "{reply}");
    assert_eq!(
        (
            reply["error"]["name"].clone(),
            reply["error"]["state"].clone()
        ),
        (json!("web"), json!("STOPPED")),
        "{reply}"
    );
}

#[test]
fn seed_request_shape_stops_a_program() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let reply = d.request(json!({"command": "stop", "target": "program", "name": "web"}));
    assert_eq!(reply["status"], 200, "{reply}");
    let result = &reply["content"]["results"][0];
    assert_eq!(
        (
            result["name"].clone(),
            result["ok"].clone(),
            result["state"].clone()
        ),
        (json!("web"), json!(true), json!("STOPPED")),
        "{reply}"
    );
    assert_eq!(d.state("web"), "STOPPED");
}

#[test]
fn oversized_line_is_refused_without_harm() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let web = d.pid("web");
    let mut raw = Raw::connect(d.socket());
    let mut line = vec![b'x'; 1536 * 1024];
    line.push(b'\n');
    // The daemon may hang up mid-way: a failed write is one of the allowed outcomes.
    let written = raw.writer.write_all(&line).is_ok();
    match raw.reply() {
        Some(reply) => {
            assert!(
                reply["status"].as_u64().is_some_and(|s| s >= 400),
                "an error reply: {reply}"
            );
            assert_eq!(reply["error"]["code"], "line_too_long", "{reply}");
        }
        None => eprintln!("oversized line: dropped (written whole: {written})"),
    }
    still_serving(&d, web);
}

#[test]
fn two_hundred_clients_at_once_all_get_status() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let clients = 200;
    let barrier = Arc::new(Barrier::new(clients));
    let socket = d.socket().to_path_buf();
    let handles: Vec<_> = (0..clients)
        .map(|i| {
            let barrier = barrier.clone();
            let socket = socket.clone();
            std::thread::spawn(move || {
                let mut raw = Raw::connect(&socket);
                barrier.wait();
                raw.ask(&json!({"id": i, "command": "status"}))
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        let reply = handle.join().expect("a client thread panicked");
        assert_eq!(
            (reply["status"].clone(), reply["id"].clone()),
            (json!(200), json!(i)),
            "{reply}"
        );
        assert_eq!(reply["content"]["processes"][0]["name"], "web");
    }
}

#[test]
fn clients_that_vanish_mid_request_or_reply_disturb_nothing() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
startsecs = 0

[programs.many]
command = "@PROG@"
numprocs = 40
startsecs = 0
"#,
    );
    d.wait_state("web", "RUNNING", WAIT);
    let web = d.pid("web");
    for _ in 0..30 {
        // A request whose (large) reply nobody reads.
        let mut gone = UnixStream::connect(d.socket()).expect("connect");
        gone.write_all(b"{\"command\": \"status\"}\n")
            .expect("write");
        drop(gone);
        // Half a request, then gone.
        let mut half = UnixStream::connect(d.socket()).expect("connect");
        half.write_all(b"{\"command\": \"sta").expect("write");
        drop(half);
    }
    still_serving(&d, web);
}

#[test]
fn a_client_that_never_reads_does_not_block_others() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
startsecs = 0

[programs.many]
command = "@PROG@"
numprocs = 20
startsecs = 0
"#,
    );
    d.wait_state("web", "RUNNING", WAIT);
    let web = d.pid("web");
    let slow = UnixStream::connect(d.socket()).expect("connect");
    slow.set_write_timeout(Some(Duration::from_secs(5)))
        .expect("set timeout");
    let flood = std::thread::spawn(move || {
        let mut slow = slow;
        let request = b"{\"command\": \"status\"}\n".repeat(5000);
        // Stops at the first refused or timed-out write: the daemon is free
        // to stop reading or to drop this client.
        let _ = slow.write_all(&request);
        slow
    });
    // While the flooder's replies pile up unread, another client is served.
    let begin = Instant::now();
    still_serving(&d, web);
    assert!(
        begin.elapsed() < Duration::from_secs(5),
        "a fresh client waited {:?}",
        begin.elapsed()
    );
    drop(flood.join().expect("the flooding thread"));
    still_serving(&d, web);
}
