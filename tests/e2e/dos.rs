//! Denial of service: what one client (or user) can hold of the control
//! socket is bounded, so that the others, and root above all, are served:
//! slots per uid and in all, idle connections, unfinished request lines,
//! `tail -f` watches, and streams whose client has left.

use crate::harness::{argv0, bin_dir, children_of, testprog, Builder, TestDaemon, WAIT};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

/// First uid of the made-up users the tests connect as (root may take any
/// uid; no account is needed to hold a socket).
const UID_BASE: u32 = 61_000;

/// A tm-testprog that connects as another uid; killed on drop.
struct Helper {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Helper {
    fn run_as(uid: u32, args: &[&str]) -> Helper {
        let mut child = Command::new(testprog())
            .args(args)
            .uid(uid)
            .gid(uid)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start tm-testprog");
        let stdout = child.stdout.take().expect("piped stdout");
        let (line, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for text in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.send(text).is_err() {
                    return;
                }
            }
        });
        Helper { child, lines }
    }

    /// The value of its next `key=` line; panics after the deadline.
    fn value(&self, key: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(text) => {
                    if let Some(value) = text.strip_prefix(&format!("{key}=")) {
                        return value.to_string();
                    }
                }
                Err(e) => panic!("no {key}= line from the helper within {WAIT:?}: {e}"),
            }
        }
    }

    /// Its reply line as JSON.
    fn reply(&self) -> Value {
        let text = self.value("reply");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad reply {text:?}: {e}"))
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn socket_arg(d: &TestDaemon) -> String {
    d.socket().display().to_string()
}

/// The taskmaster-broker child of taskmasterd.
fn broker_of(d: &TestDaemon) -> i32 {
    children_of(d.daemon_pid())
        .into_iter()
        .find(|&pid| argv0(pid).ends_with("taskmaster-broker"))
        .expect("a taskmaster-broker child of taskmasterd")
}

/// How many of `pid`'s descriptors link to something starting with `target`.
fn fds_linking_to(pid: i32, target: &str) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("cannot list the broker's descriptors")
        .flatten()
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|link| link.to_string_lossy().starts_with(target))
        })
        .count()
}

fn connect(socket: &Path) -> UnixStream {
    let stream = UnixStream::connect(socket)
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
    stream.set_read_timeout(Some(WAIT)).expect("read timeout");
    stream
}

fn read_reply(reader: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    reader.read_line(&mut line).expect("reading a reply");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad reply line {line:?}: {e}"))
}

#[test]
fn idle_connections_of_many_users_leave_root_a_slot() {
    let d = Builder::new("").server("chmod = 0o777").start();
    let socket = socket_arg(&d);
    // 18 users with 62 idle connections each: 1116, more than the 1024
    // slots, and none of them over the cap per user.
    let holders: Vec<Helper> = (0..18)
        .map(|k| Helper::run_as(UID_BASE + k, &["--connect", &socket, "62"]))
        .collect();
    for holder in &holders {
        assert_eq!(holder.value("connected"), "62");
    }
    // Accepted in the order they connect: this comes after all of them.
    let late = Helper::run_as(
        UID_BASE + 100,
        &["--request", &socket, r#"{"command":"version"}"#],
    );
    let reply = late.reply();
    assert_eq!(reply["status"], 503, "{reply}");
    let message = reply["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("1024 clients"), "{reply}");
    // Root still gets in, by the protocol and by taskmasterctl.
    let status = d.request(serde_json::json!({"command": "status"}));
    assert_eq!(status["status"], 200, "{status}");
    let out = d.ctl(&["status"]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn a_user_over_its_connection_cap_is_refused_with_the_limit() {
    let d = Builder::new("").server("chmod = 0o777").start();
    let socket = socket_arg(&d);
    let greedy = Helper::run_as(
        UID_BASE + 200,
        &[
            "--connect",
            &socket,
            "64",
            "--request",
            &socket,
            r#"{"command":"version"}"#,
        ],
    );
    assert_eq!(greedy.value("connected"), "64");
    let reply = greedy.reply();
    assert_eq!(reply["status"], 503, "{reply}");
    assert_eq!(
        reply["error"]["message"],
        format!(
            "uid {} already holds 64 connections (the limit per user); close one and try again",
            UID_BASE + 200
        ),
        "{reply}"
    );
    // Another user is served.
    let other = Helper::run_as(
        UID_BASE + 201,
        &["--request", &socket, r#"{"command":"version"}"#],
    );
    let reply = other.reply();
    assert_eq!(reply["status"], 200, "{reply}");
}

#[test]
fn an_idle_connection_is_closed_after_idle_timeout_but_a_stream_is_not() {
    let d =
        Builder::new("[programs.later]\ncommand = \"@PROG@\"\nautostart = false\nstartsecs = 0\n")
            .server("idle_timeout = 1")
            .start();
    // Subscribed first, so it has waited at least as long as the idle one.
    let mut events = d.events();
    let idle = connect(d.socket());
    let mut said = String::new();
    // Ends at EOF; the deadline is the read timeout.
    (&idle)
        .read_to_string(&mut said)
        .expect("the idle connection is closed, not left open");
    let reply: Value =
        serde_json::from_str(said.trim()).unwrap_or_else(|e| panic!("bad farewell {said:?}: {e}"));
    assert_eq!(reply["status"], 408, "{reply}");
    assert_eq!(reply["error"]["code"], "idle_timeout", "{reply}");
    // The event stream, as old, still delivers.
    let out = d.ctl(&["start", "later"]);
    assert_eq!(out.code, 0, "{out:?}");
    events.wait_for("later RUNNING", WAIT, |e| {
        e["event"] == "state" && e["name"] == "later" && e["to"] == "RUNNING"
    });
}

#[test]
fn unfinished_lines_over_the_budget_cut_only_the_client_that_passes_it() {
    let d = TestDaemon::start("");
    // 20 clients each send most of a line (under the 1 MiB line limit):
    // 20 MB in all, over the 16 MiB budget for everyone.
    let head = br#"{"command":"version","name":""#;
    let padding = vec![b'x'; 1_000_000 - head.len()];
    let clients: Vec<UnixStream> = (0..20)
        .map(|_| {
            let mut client = connect(d.socket());
            // A client cut off mid-line sees its write fail: that is the point.
            let _ = client
                .write_all(head)
                .and_then(|()| client.write_all(&padding));
            client
        })
        .collect();
    let (mut served, mut cut) = (0, 0);
    for client in clients {
        let _ = (&client).write_all(b"\"}\n");
        let reply = read_reply(&mut BufReader::new(client));
        match reply["status"].as_i64() {
            Some(200) => served += 1,
            Some(503) => {
                assert_eq!(reply["error"]["code"], "busy", "{reply}");
                let message = reply["error"]["message"].as_str().unwrap_or_default();
                assert!(message.contains("16 MiB of unfinished requests"), "{reply}");
                cut += 1;
            }
            _ => panic!("unexpected reply {reply}"),
        }
    }
    // At most 16 such lines fit the budget; the rest were cut.
    assert!(cut >= 4, "{cut} cut, {served} served");
    assert!(served >= 1, "{cut} cut, {served} served");
    let status = d.request(serde_json::json!({"command": "status"}));
    assert_eq!(status["status"], 200, "{status}");
}

#[test]
fn three_hundred_followers_share_one_inotify_instance() {
    let talker = "command = \"@PROG@\"\nargs = [\"--interval-ms\", \"200\", \"--count\", \"100000\"]\nstartsecs = 0\n";
    let d = TestDaemon::start(&format!("[programs.a]\n{talker}\n[programs.b]\n{talker}"));
    d.wait_state("a", "RUNNING", WAIT);
    d.wait_state("b", "RUNNING", WAIT);
    let broker = broker_of(&d);
    let before = fds_linking_to(broker, "anon_inode:inotify");
    let mut followers: Vec<BufReader<UnixStream>> = (0..300)
        .map(|n| {
            let mut client = connect(d.socket());
            let name = if n % 2 == 0 { "a" } else { "b" };
            writeln!(
                client,
                r#"{{"command":"tail","name":"{name}","follow":true,"lines":0}}"#
            )
            .expect("sending tail -f");
            let mut reader = BufReader::new(client);
            let reply = read_reply(&mut reader);
            assert_eq!(reply["status"], 200, "follower {n}: {reply}");
            reader
        })
        .collect();
    // Each follower is woken and gets what its program writes next.
    for (n, follower) in followers.iter_mut().enumerate() {
        let deadline = Instant::now() + WAIT;
        loop {
            let chunk = read_reply(follower);
            if chunk["text"].as_str().is_some_and(|t| t.contains("line ")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "follower {n} got no text: {chunk}"
            );
        }
    }
    assert_eq!(
        fds_linking_to(broker, "anon_inode:inotify"),
        before + 1,
        "300 followers use one more inotify instance"
    );
    drop(followers);
    d.wait_for("the tail watcher to go with its followers", WAIT, || {
        fds_linking_to(broker, "anon_inode:inotify") == before
    });
}

#[test]
fn a_closed_events_client_is_released_at_once() {
    let d = TestDaemon::start("[programs.idle]\ncommand = \"@PROG@\"\nautostart = false\n");
    let broker = broker_of(&d);
    let events = d.events();
    // Subscribed (its reply read): the broker holds its end now.
    let with = fds_linking_to(broker, "socket:");
    drop(events);
    // No event comes: only reading the client's end shows it left.
    d.wait_for("the broker to close the events connection", WAIT, || {
        fds_linking_to(broker, "socket:") < with
    });
}

#[test]
fn fg_sends_input_again_after_its_idle_connection_is_closed() {
    let d = Builder::new(
        "[programs.echo]\ncommand = \"@PROG@\"\nargs = [\"--echo-stdin\", \"--sleep\", \"600\"]\n",
    )
    .server("idle_timeout = 1")
    .start();
    d.wait_state("echo", "RUNNING", WAIT);
    let broker = broker_of(&d);
    let mut fg = Command::new(bin_dir().join("taskmasterctl"))
        .arg("-c")
        .arg(d.config_path())
        .args(["fg", "echo"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("cannot run taskmasterctl fg");
    let mut input = fg.stdin.take().expect("piped stdin");
    writeln!(input, "one").expect("typing into fg");
    d.wait_log_line("echo.stdout", "stdin=one");
    // fg holds two streams and the connection its input goes through; the
    // latter, idle, is closed by taskmasterd.
    let attached = fds_linking_to(broker, "socket:");
    d.wait_for("the idle input connection to be closed", WAIT, || {
        fds_linking_to(broker, "socket:") < attached
    });
    writeln!(input, "two").expect("typing into fg");
    d.wait_log_line("echo.stdout", "stdin=two");
    assert_eq!(
        fg.try_wait().expect("waitpid on fg"),
        None,
        "fg is still attached"
    );
    let _ = fg.kill();
    let _ = fg.wait();
}
