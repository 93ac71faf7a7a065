//! Programs' stdin: the protocol's `stdin` request (data, close, the error
//! cases) and `taskmasterctl fg` driven through a pipe (typed lines reach
//! the program, its output comes back, end of input and Ctrl-C detach and
//! leave it running, a daemon that goes away ends fg with status 4).

use crate::harness::{bin_dir, TestDaemon, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `echo` prints `stdin=LINE` for each line of its stdin, then exits 3 at
/// its end; `keeper` echoes too but stays up after the end of its input;
/// `idle` is not started.
const PROGRAMS: &str = r#"
[programs.echo]
command = "@PROG@"
args = ["--echo-stdin", "--sleep", "0", "--exit", "3"]
startsecs = 0
autorestart = false

[programs.keeper]
command = "@PROG@"
args = ["--echo-stdin", "--sleep", "600"]
startsecs = 0

[programs.idle]
command = "@PROG@"
autostart = false

[programs.pair]
command = "@PROG@"
numprocs = 2
startsecs = 0
"#;

fn stdin_request(d: &TestDaemon, name: &str, fields: Value) -> Value {
    let mut request = json!({"command": "stdin", "name": name});
    for (key, value) in fields.as_object().expect("an object of fields") {
        request[key] = value.clone();
    }
    d.request(request)
}

fn error_of(reply: &Value) -> (u64, &str, &str) {
    (
        reply["status"].as_u64().unwrap_or(0),
        reply["error"]["code"].as_str().unwrap_or("?"),
        reply["error"]["message"].as_str().unwrap_or("?"),
    )
}

#[test]
fn stdin_data_reaches_the_program() {
    let d = TestDaemon::start(PROGRAMS);
    d.wait_state("echo", "RUNNING", WAIT);
    let reply = stdin_request(&d, "echo", json!({"data": "hello\n"}));
    assert_eq!(reply, json!({"status": 200, "content": {"written": 6}}));
    d.wait_log_line("echo.stdout", "stdin=hello");
    let reply = stdin_request(&d, "echo", json!({"data": "two\nlines\n"}));
    assert_eq!(reply["content"]["written"], 10, "{reply}");
    d.wait_log_line("echo.stdout", "stdin=lines");
    let out = d.ctl(&["tail", "echo"]);
    assert_eq!(
        out.stdout, "stdin=hello\nstdin=two\nstdin=lines\n",
        "{out:?}"
    );
}

#[test]
fn close_refuses_further_data() {
    let d = TestDaemon::start(PROGRAMS);
    d.wait_state("keeper", "RUNNING", WAIT);
    let reply = stdin_request(&d, "keeper", json!({"data": "last\n", "close": true}));
    assert_eq!(
        reply,
        json!({"status": 200, "content": {"written": 5, "closed": true}})
    );
    d.wait_log_line("keeper.stdout", "stdin=last");
    let reply = stdin_request(&d, "keeper", json!({"data": "more\n"}));
    let (status, code, message) = error_of(&reply);
    assert_eq!((status, code), (409, "not_running"), "{reply}");
    assert!(message.contains("keeper's stdin is closed"), "{message}");
    assert!(
        d.file_text("taskmasterd.log")
            .contains("stdin of 'keeper' closed, requested by uid"),
        "the close is in the activity log"
    );
}

/// taskmasterd keeps its own copy of every program's stdin pipe (so that a
/// broker restart keeps it): a close drops that copy too.
#[test]
fn close_gives_the_program_end_of_file() {
    let d = TestDaemon::start(PROGRAMS);
    d.wait_state("echo", "RUNNING", WAIT);
    let reply = stdin_request(&d, "echo", json!({"close": true}));
    assert_eq!(
        reply,
        json!({"status": 200, "content": {"written": 0, "closed": true}})
    );
    let process = d.wait_state("echo", "EXITED", WAIT);
    assert_eq!(process["exit"], "exit status 3", "{process}");
}

#[test]
fn stdin_errors_name_the_problem() {
    let d = TestDaemon::start(PROGRAMS);
    d.wait_state("pair:1", "RUNNING", WAIT);

    let reply = stdin_request(&d, "nope", json!({"data": "x\n"}));
    assert_eq!(error_of(&reply).0, 404, "{reply}");
    assert_eq!(error_of(&reply).1, "no_such_process", "{reply}");

    let reply = stdin_request(&d, "idle", json!({"data": "x\n"}));
    let (status, code, message) = error_of(&reply);
    assert_eq!((status, code), (409, "not_running"), "{reply}");
    assert_eq!(message, "idle is not running (STOPPED); start it first");

    let reply = stdin_request(&d, "pair", json!({"data": "x\n"}));
    let (status, code, message) = error_of(&reply);
    assert_eq!((status, code), (400, "ambiguous_name"), "{reply}");
    assert!(message.contains("pair:0, pair:1"), "{message}");

    let reply = stdin_request(&d, "pair:0", json!({}));
    assert_eq!(error_of(&reply).1, "bad_request", "{reply}");
}

/// A `taskmasterctl fg` whose stdin is a pipe the test writes to; its
/// stdout lines arrive through a channel.
struct Attached {
    child: Child,
    input: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Attached {
    fn start(d: &TestDaemon, name: &str) -> Attached {
        // fg attaches to a running process: one still starting (under load)
        // would refuse the first typed line.
        d.wait_state(name, "RUNNING", WAIT);
        let mut child = Command::new(bin_dir().join("taskmasterctl"))
            .arg("-c")
            .arg(d.config_path())
            .args(["fg", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run taskmasterctl");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Attached {
            input: child.stdin.take(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    fn type_line(&mut self, line: &str) {
        let input = self.input.as_mut().expect("stdin still open");
        writeln!(input, "{line}").expect("write to fg's stdin");
        input.flush().expect("flush fg's stdin");
    }

    /// Waits until fg has printed `wanted`.
    fn wait_line(&mut self, wanted: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.seen.iter().any(|l| l == wanted) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "fg did not print '{wanted}' within {WAIT:?}; it printed {:?}",
                    self.seen
                ),
            }
        }
    }

    /// Types a line and waits for the program's echo: fg is then attached
    /// (it reads its input only once both streams are followed).
    fn wait_attached(&mut self) {
        self.type_line("ping");
        self.wait_line("stdin=ping");
    }

    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("waitpid on taskmasterctl") {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "fg still running after {WAIT:?}");
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Like `echo`, but for ever: fg's detaching must leave it running.
const FOREVER: &str = r#"
[programs.echo]
command = "@PROG@"
args = ["--echo-stdin"]
startsecs = 0
"#;

#[test]
fn fg_sends_lines_and_detaches_at_end_of_input() {
    let d = TestDaemon::start(FOREVER);
    let pid = d.wait_state("echo", "RUNNING", WAIT)["pid"].clone();
    let mut fg = Attached::start(&d, "echo");
    fg.wait_attached();
    fg.type_line("typed in fg");
    fg.wait_line("stdin=typed in fg");
    drop(fg.input.take());
    assert_eq!(fg.wait_exit(), 0, "end of input detaches with status 0");
    let process = d.process("echo");
    assert_eq!(
        (&process["state"], &process["pid"]),
        (&json!("RUNNING"), &pid),
        "{process}"
    );
}

#[test]
fn fg_detaches_on_ctrl_c() {
    let d = TestDaemon::start(FOREVER);
    let mut fg = Attached::start(&d, "echo");
    fg.wait_attached();
    let pid = Pid::from_raw(fg.child.id() as i32);
    kill(pid, Signal::SIGINT).expect("send SIGINT to fg");
    assert_eq!(fg.wait_exit(), 0, "Ctrl-C detaches with status 0");
    assert_eq!(d.state("echo"), "RUNNING");
}

#[test]
fn fg_ends_with_status_4_when_the_daemon_goes_away() {
    let mut d = TestDaemon::start(FOREVER);
    let mut fg = Attached::start(&d, "echo");
    fg.wait_attached();
    d.signal_daemon(Signal::SIGTERM);
    d.wait_exit(WAIT);
    assert_eq!(fg.wait_exit(), 4);
}

#[test]
fn fg_of_an_unknown_process_fails() {
    let d = TestDaemon::start(FOREVER);
    let out = d.ctl(&["fg", "nope"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stderr, "nope: ERROR (no such process)\n");
}
