//! `events` with `since`: a consumer that saved the last seq it handled
//! gets every event after it (from the daemon's ring), then the live ones;
//! past the ring it gets 410 with the oldest seq kept; seqs never go back
//! when the broker is killed and restarted.

use crate::harness::{bin_dir, TestDaemon, WAIT};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A raw `events` request with `since`: its reply and the stream.
struct Resumed {
    reply: Value,
    reader: BufReader<UnixStream>,
}

impl Resumed {
    fn open(d: &TestDaemon, since: u64) -> Resumed {
        let mut stream = UnixStream::connect(d.socket()).expect("connect");
        let request = json!({"command": "events", "since": since});
        writeln!(stream, "{request}").expect("send");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let reply = next_line(&mut reader, WAIT).expect("a reply to events");
        Resumed { reply, reader }
    }

    /// The events read until `count` have come (or `WAIT` passed).
    fn take(&mut self, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + WAIT;
        let mut events = Vec::new();
        while events.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match next_line(&mut self.reader, left) {
                Some(event) => events.push(event),
                None => break,
            }
        }
        events
    }
}

fn next_line(reader: &mut BufReader<UnixStream>, timeout: Duration) -> Option<Value> {
    let deadline = Instant::now() + timeout;
    let mut line = String::new();
    loop {
        match reader.read_line(&mut line) {
            Ok(0) => return None,
            Ok(_) if line.ends_with('\n') => return serde_json::from_str(&line).ok(),
            Ok(_) => {}
            Err(_) if Instant::now() < deadline => {}
            Err(_) => return None,
        }
    }
}

/// Stops `api` (RUNNING), restarts as `restart` does, restarts `api`:
/// the seq after is above the seq before, which is returned.
pub fn seqs_go_up_across(d: &mut TestDaemon, restart: impl FnOnce(&mut TestDaemon)) -> u64 {
    d.wait_state("api", "RUNNING", WAIT);
    let mut live = d.events();
    assert_eq!(d.ctl(&["stop", "api"]).code, 0);
    let before = live.wait_for("api STOPPED", WAIT, |e| e["to"] == "STOPPED")["seq"]
        .as_u64()
        .unwrap();
    restart(d);
    let mut live = d.events();
    assert_eq!(d.ctl(&["restart", "api"]).code, 0);
    let after = live.wait_for("api STARTING", WAIT, |e| e["to"] == "STARTING")["seq"]
        .as_u64()
        .unwrap();
    assert!(
        after > before,
        "seq {after} after the restart, {before} before"
    );
    before
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

#[test]
fn a_consumer_resumes_after_its_last_seq_then_follows_live() {
    let d = TestDaemon::start(
        r#"
[programs.api]
command = "@PROG@"
startsecs = 0
autostart = false
"#,
    );
    let mut live = d.events();
    assert_eq!(d.ctl(&["start", "api"]).code, 0);
    let first = live.wait_for("api RUNNING", WAIT, |e| e["to"] == "RUNNING");
    assert_eq!(d.ctl(&["stop", "api"]).code, 0);
    let stopped = live.wait_for("api STOPPED", WAIT, |e| e["to"] == "STOPPED");
    let (from, to) = (
        first["seq"].as_u64().unwrap(),
        stopped["seq"].as_u64().unwrap(),
    );

    // Resuming after RUNNING: STOPPING and STOPPED, exactly.
    let mut resumed = Resumed::open(&d, from);
    assert_eq!(resumed.reply["status"], 200, "{}", resumed.reply);
    let replay = resumed.take(2);
    assert_eq!(seqs(&replay), [from + 1, to], "{replay:#?}");
    assert_eq!(replay[0]["to"], "STOPPING");
    assert_eq!(replay[1]["to"], "STOPPED");
    // Then live, with no gap.
    assert_eq!(d.ctl(&["start", "api"]).code, 0);
    let next = resumed.take(1);
    assert_eq!(seqs(&next), [to + 1], "{next:#?}");

    // The same through taskmasterctl, which follows until killed.
    let mut ctl = Command::new(bin_dir().join("taskmasterctl"))
        .arg("-c")
        .arg(d.config_path())
        .args(["events", "--json", "--since", &from.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run taskmasterctl events");
    let mut lines = BufReader::new(ctl.stdout.take().unwrap()).lines();
    let printed: Vec<u64> = (0..3)
        .map(|_| {
            let line = lines.next().expect("a line").expect("readable");
            let event: Value = serde_json::from_str(&line).expect("JSON");
            event["seq"].as_u64().unwrap()
        })
        .collect();
    let _ = ctl.kill();
    let _ = ctl.wait();
    assert_eq!(printed, [from + 1, to, to + 1]);
}

#[test]
fn past_the_ring_the_reply_is_410_with_the_oldest_seq() {
    let d = TestDaemon::start(
        r#"
[programs.spin]
command = "@PROG@"
args = ["--sleep", "0", "--exit", "0"]
startsecs = 0
autorestart = true
"#,
    );
    let mut live = d.events();
    let first = live.wait_for("an event", WAIT, |_| true)["seq"]
        .as_u64()
        .unwrap();
    // More than the 1024 events the daemon keeps.
    live.wait_for("1100 more events", Duration::from_secs(60), |e| {
        e["seq"].as_u64().unwrap_or(0) > first + 1100
    });
    assert_eq!(d.ctl(&["stop", "spin"]).code, 0);
    let resumed = Resumed::open(&d, first);
    assert_eq!(resumed.reply["status"], 410, "{}", resumed.reply);
    let error = &resumed.reply["error"];
    assert_eq!(error["code"], "gone", "{error}");
    let oldest = error["oldest_seq"].as_u64().unwrap();
    assert!(oldest > first + 1, "{error}");
    // From just before the oldest, it replays.
    let mut fine = Resumed::open(&d, oldest - 1);
    assert_eq!(fine.reply["status"], 200, "{}", fine.reply);
    assert_eq!(seqs(&fine.take(1)), [oldest]);
    // taskmasterctl says so, and exits 1.
    let out = d.ctl(&["events", "--since", &first.to_string()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains(&format!("events before seq {oldest} are no longer kept")),
        "{out:?}"
    );
}

#[test]
fn seqs_never_go_back_after_a_kill_of_the_broker() {
    let mut d = TestDaemon::start(
        r#"
[programs.api]
command = "@PROG@"
startsecs = 0
"#,
    );
    let before = seqs_go_up_across(&mut d, |d| d.kill_broker());
    // A consumer at `before` is told it may have missed some.
    let resumed = Resumed::open(&d, before);
    assert_eq!(resumed.reply["status"], 410, "{}", resumed.reply);
}

/// The Python plugin of docs/plugins.md, as a reader copies it.
fn mirror_plugin() -> String {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/plugins.md");
    let text = std::fs::read_to_string(&docs).expect("docs/plugins.md");
    let section = text
        .split("## A resumable mirror of the states")
        .nth(1)
        .expect("the mirror section");
    let code = section.split("```python\n").nth(1).expect("its code block");
    code.split("```").next().unwrap().to_string()
}

/// The mirror's states, once its file is whole JSON.
fn mirrored(d: &TestDaemon) -> Option<Value> {
    serde_json::from_str::<Value>(&d.file_text("mirror.json"))
        .ok()
        .map(|m| m["states"].clone())
}

fn actual_states(d: &TestDaemon) -> Value {
    let states: serde_json::Map<String, Value> = d
        .processes()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_string(), p["state"].clone()))
        .collect();
    Value::Object(states)
}

#[test]
fn the_mirror_plugin_of_the_docs_keeps_an_exact_copy_across_its_restarts() {
    use std::os::unix::fs::PermissionsExt;
    let d = TestDaemon::start(
        r#"
[programs.api]
command = "@PROG@"
startsecs = 0

[programs.worker]
command = "@PROG@"
startsecs = 0
numprocs = 2
"#,
    );
    let plugin = d.dir().join("bin/taskmasterctl-mirror");
    std::fs::create_dir_all(plugin.parent().unwrap()).unwrap();
    std::fs::write(&plugin, mirror_plugin()).unwrap();
    std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        plugin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = || {
        Command::new(bin_dir().join("taskmasterctl"))
            .arg("-c")
            .arg(d.config_path())
            .args(["mirror", &d.dir().join("mirror.json").display().to_string()])
            .env("PATH", &path)
            .stdin(Stdio::null())
            .spawn()
            .expect("run taskmasterctl mirror")
    };
    let in_step = |what: &str| {
        d.wait_for(what, WAIT, || mirrored(&d) == Some(actual_states(&d)));
    };
    for name in ["api", "worker:0", "worker:1"] {
        d.wait_state(name, "RUNNING", WAIT);
    }
    let mut mirror = run();
    in_step("the first copy");
    assert_eq!(d.ctl(&["stop", "worker:1"]).code, 0);
    in_step("the copy after a stop");
    // Stopped, the state moves on; run again, it catches up from its seq.
    let _ = mirror.kill();
    let _ = mirror.wait();
    assert_eq!(d.ctl(&["stop", "api"]).code, 0);
    assert_eq!(d.ctl(&["start", "worker:1"]).code, 0);
    let mut mirror = run();
    in_step("the copy after resuming");
    assert_eq!(mirrored(&d).unwrap()["api"], "STOPPED");
    let _ = mirror.kill();
    let _ = mirror.wait();
}
