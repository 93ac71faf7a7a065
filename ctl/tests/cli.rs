//! taskmasterctl against a fake taskmasterd: a Unix socket in a temporary
//! directory that answers canned NDJSON replies. Each test checks what a user
//! sees: stdout, stderr and the exit status, and what the daemon was asked.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A directory of our own, removed at the end of the test.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tmctl-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Answers one connection: each request line gets the next canned reply;
/// a `null` reply hangs up instead.
struct FakeDaemon {
    dir: TempDir,
    socket: PathBuf,
    server: Option<JoinHandle<Vec<Value>>>,
}

impl FakeDaemon {
    fn answering(replies: Vec<Value>) -> Self {
        let dir = TempDir::new();
        let socket = dir.0.join("taskmaster.sock");
        let listener = UnixListener::bind(&socket).expect("bind the fake socket");
        let server = std::thread::spawn(move || serve(&listener, replies));
        FakeDaemon {
            dir,
            socket,
            server: Some(server),
        }
    }

    fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Runs taskmasterctl against this daemon.
    fn ctl(&self, args: &[&str]) -> Output {
        let url = self.url();
        let mut all = vec!["-s", url.as_str()];
        all.extend_from_slice(args);
        ctl_in(&self.dir.0, &all, &[])
    }

    /// The requests received, once taskmasterctl has gone.
    fn requests(mut self) -> Vec<Value> {
        let server = self.server.take().expect("joined once");
        server.join().expect("the fake daemon's thread")
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Wakes up an accept that nobody answered, so the thread ends.
            let _ = UnixStream::connect(&self.socket);
            let _ = server.join();
        }
    }
}

fn serve(listener: &UnixListener, replies: Vec<Value>) -> Vec<Value> {
    let Ok((stream, _)) = listener.accept() else {
        return Vec::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    let mut requests = Vec::new();
    for reply in replies {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        requests.push(serde_json::from_str(&line).expect("taskmasterctl sends JSON lines"));
        if reply.is_null() {
            break;
        }
        let mut text = reply.to_string();
        text.push('\n');
        if writer.write_all(text.as_bytes()).is_err() {
            break;
        }
    }
    requests
}

/// taskmasterctl in `dir`, with none of the caller's environment pointing elsewhere.
fn ctl_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_taskmasterctl"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("TASKMASTER_SERVER_URL")
        .env_remove("TASKMASTER_CONFIG");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run taskmasterctl")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn ok(content: Value) -> Value {
    json!({ "status": 200, "content": content })
}

fn process(name: &str, state: &str, description: &str) -> Value {
    json!({
        "name": name, "program": "web", "group": "web", "state": state,
        "description": description, "command": "/usr/bin/web",
    })
}

fn result(name: &str, ok: bool, message: &str) -> Value {
    json!({ "name": name, "ok": ok, "state": "RUNNING", "message": message })
}

#[test]
fn status_lists_processes_and_exits_3_when_one_is_not_running() {
    let daemon = FakeDaemon::answering(vec![ok(json!({ "processes": [
        process("web:0", "RUNNING", "pid 4121, uptime 0:03:10"),
        process("web:1", "STOPPED", "Not started"),
    ]}))]);
    let output = daemon.ctl(&["status", "web"]);
    assert_eq!(
        stdout(&output),
        "web:0                            RUNNING   pid 4121, uptime 0:03:10\n\
         web:1                            STOPPED   Not started\n"
    );
    assert_eq!(stderr(&output), "");
    assert_eq!(code(&output), 3);
    assert_eq!(
        daemon.requests(),
        [json!({ "command": "status", "names": ["web"] })]
    );
}

#[test]
fn status_exits_0_when_everything_runs() {
    let daemon = FakeDaemon::answering(vec![ok(json!({ "processes": [
        process("web", "RUNNING", "pid 1, uptime 0:00:01"),
    ]}))]);
    let output = daemon.ctl(&["status"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(daemon.requests(), [json!({ "command": "status" })]);
}

#[test]
fn status_json_prints_the_content() {
    let content = json!({ "processes": [process("web", "FATAL", "Exited too quickly")] });
    let daemon = FakeDaemon::answering(vec![ok(content.clone())]);
    let output = daemon.ctl(&["status", "--json"]);
    let printed: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(printed, content);
    assert_eq!(code(&output), 3);
}

#[test]
fn start_prints_each_result_and_exits_1_when_one_failed() {
    let daemon = FakeDaemon::answering(vec![ok(json!({ "results": [
        result("web", true, "started"),
        result("db", false, "already started"),
    ]}))]);
    let output = daemon.ctl(&["start", "web", "db"]);
    assert_eq!(
        stdout(&output),
        "web: started\ndb: ERROR (already started)\n"
    );
    assert_eq!(stderr(&output), "");
    assert_eq!(code(&output), 1);
    assert_eq!(
        daemon.requests(),
        [json!({ "command": "start", "names": ["web", "db"] })]
    );
}

#[test]
fn stop_and_restart_succeed_with_exit_0() {
    for command in ["stop", "restart"] {
        let daemon = FakeDaemon::answering(vec![ok(
            json!({ "results": [result("web:0", true, "stopped")] }),
        )]);
        let output = daemon.ctl(&[command, "group:*"]);
        assert_eq!(stdout(&output), "web:0: stopped\n");
        assert_eq!(code(&output), 0);
        assert_eq!(
            daemon.requests(),
            [json!({ "command": command, "names": ["group:*"] })]
        );
    }
}

#[test]
fn signal_sends_names_and_numbers_as_such() {
    let reply = ok(json!({ "results": [result("web", true, "signalled")] }));
    let daemon = FakeDaemon::answering(vec![reply.clone()]);
    let output = daemon.ctl(&["signal", "HUP", "web"]);
    assert_eq!(stdout(&output), "web: signalled\n");
    assert_eq!(
        daemon.requests(),
        [json!({ "command": "signal", "signal": "HUP", "names": ["web"] })]
    );
    let daemon = FakeDaemon::answering(vec![reply]);
    daemon.ctl(&["signal", "9", "web"]);
    assert_eq!(daemon.requests()[0]["signal"], json!(9));
}

#[test]
fn error_reply_goes_to_stderr_with_exit_1() {
    let daemon = FakeDaemon::answering(vec![json!({
        "status": 404,
        "error": { "code": "no_such_process", "message": "no such process: 'nope'" },
    })]);
    let output = daemon.ctl(&["stop", "nope"]);
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "error: no such process: 'nope'\n");
    assert_eq!(code(&output), 1);
}

#[test]
fn pid_of_the_daemon_and_of_processes() {
    let daemon = FakeDaemon::answering(vec![ok(json!({ "daemon": 77 }))]);
    let output = daemon.ctl(&["pid"]);
    assert_eq!((stdout(&output).as_str(), code(&output)), ("77\n", 0));
    assert_eq!(daemon.requests(), [json!({ "command": "pid" })]);

    let daemon = FakeDaemon::answering(vec![ok(
        json!({ "processes": [{ "name": "web", "pid": 4121 }] }),
    )]);
    let output = daemon.ctl(&["pid", "web"]);
    assert_eq!((stdout(&output).as_str(), code(&output)), ("4121\n", 0));

    let daemon = FakeDaemon::answering(vec![ok(json!({ "processes": [
        { "name": "web:0", "pid": 4121 }, { "name": "web:1", "pid": 0 },
    ]}))]);
    let output = daemon.ctl(&["pid", "web"]);
    assert_eq!(stdout(&output), "web:0 4121\nweb:1 0\n");
    assert_eq!(code(&output), 3, "a process that is not running");
}

#[test]
fn avail_version_and_shutdown() {
    let daemon = FakeDaemon::answering(vec![ok(json!({ "programs": [{
        "name": "web", "group": "web", "numprocs": 1, "autostart": true,
        "priority": 999, "in_use": true,
    }]}))]);
    let output = daemon.ctl(&["avail"]);
    assert_eq!(
        stdout(&output),
        "web                              in use    auto      999:999\n"
    );
    assert_eq!(daemon.requests(), [json!({ "command": "avail" })]);

    let version = env!("CARGO_PKG_VERSION");
    let daemon = FakeDaemon::answering(vec![ok(json!({ "version": version, "protocol": 1 }))]);
    let output = daemon.ctl(&["version"]);
    assert_eq!(stdout(&output), format!("{version}\n"));

    let daemon = FakeDaemon::answering(vec![ok(json!({ "message": "shutting down" }))]);
    let output = daemon.ctl(&["shutdown"]);
    assert_eq!(
        (stdout(&output).as_str(), code(&output)),
        ("Shut down\n", 0)
    );
    assert_eq!(daemon.requests(), [json!({ "command": "shutdown" })]);
}

#[test]
fn unreachable_daemon_exits_4_and_names_the_socket() {
    let dir = TempDir::new();
    let socket = dir.0.join("absent.sock");
    let url = format!("unix://{}", socket.display());
    let output = ctl_in(&dir.0, &["-s", &url, "status"], &[]);
    assert_eq!(code(&output), 4);
    assert_eq!(stdout(&output), "");
    assert_eq!(
        stderr(&output),
        format!(
            "taskmasterctl: cannot reach taskmasterd at {}: No such file or directory; \
             is it running? Start it with `taskmasterd -c <config>`\n",
            socket.display()
        )
    );
}

#[test]
fn daemon_hanging_up_without_a_reply_exits_4() {
    let daemon = FakeDaemon::answering(vec![Value::Null]);
    let output = daemon.ctl(&["status"]);
    assert_eq!(code(&output), 4);
    let text = stderr(&output);
    assert!(
        text.starts_with("taskmasterctl: lost the connection to taskmasterd at "),
        "{text}"
    );
    assert!(
        text.contains("closed the connection without a reply"),
        "{text}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new();
    let run = |args: &[&str]| ctl_in(&dir.0, args, &[]);

    let output = run(&[]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("Usage: taskmasterctl [OPTIONS] [COMMAND]"));
    assert_eq!(stdout(&output), "");

    let output = run(&["start"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).starts_with("error: start requires a process name"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("Usage: taskmasterctl start <NAME>..."));

    for args in [&["frobnicate"][..], &["status", "--bogus"], &["signal"]] {
        let output = run(args);
        assert_eq!(code(&output), 2, "{args:?}");
        assert!(
            stderr(&output).starts_with("error: "),
            "{args:?}: {}",
            stderr(&output)
        );
    }

    let output = run(&["-s", "http://localhost:9001", "status"]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("unsupported server URL 'http://localhost:9001'"));

    let output = run(&["--help"]);
    assert_eq!(code(&output), 0);
    assert!(stdout(&output).contains("Exit status:"));
}

#[test]
fn server_url_comes_from_the_environment() {
    let daemon = FakeDaemon::answering(vec![ok(json!({ "daemon": 1 }))]);
    let url = daemon.url();
    let output = ctl_in(&daemon.dir.0, &["pid"], &[("TASKMASTER_SERVER_URL", &url)]);
    assert_eq!(
        (stdout(&output).as_str(), code(&output)),
        ("1\n", 0),
        "{}",
        stderr(&output)
    );
}

#[test]
fn socket_comes_from_the_config_relative_to_it() {
    let daemon = FakeDaemon::answering(vec![ok(json!({ "daemon": 2 }))]);
    let config = daemon.dir.0.join("taskmaster.conf.toml");
    std::fs::write(
        &config,
        "[unix_http_server]\nfile = \"taskmaster.sock\"\n[programs.web]\ncommand = \"web\"\n",
    )
    .expect("write the config");
    let elsewhere = TempDir::new();
    let config = config.to_str().expect("UTF-8 temp path");
    let output = ctl_in(&elsewhere.0, &["-c", config, "pid"], &[]);
    assert_eq!(
        (stdout(&output).as_str(), code(&output)),
        ("2\n", 0),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_config_named_by_c_is_a_usage_error() {
    let dir = TempDir::new();
    let output = ctl_in(&dir.0, &["-c", "nope.toml", "status"], &[]);
    assert_eq!(code(&output), 2);
    assert_eq!(
        stderr(&output),
        "taskmasterctl: cannot read config nope.toml (pass -s URL to name the socket instead): \
         No such file or directory\n"
    );
}

#[test]
fn broken_pipe_ends_quietly() {
    // Far more output than a pipe holds, yet a reply under the protocol's 1 MiB line limit.
    let processes: Vec<Value> = (0..3_000)
        .map(|i| process(&format!("worker:{i}"), "RUNNING", "pid 100, uptime 0:00:01"))
        .collect();
    let daemon = FakeDaemon::answering(vec![ok(json!({ "processes": processes }))]);
    let output = Command::new("sh")
        .arg("-c")
        .arg(r#"("$0" -s "$1" status; echo "taskmasterctl exited $?" >&2) | head -1"#)
        .arg(env!("CARGO_BIN_EXE_taskmasterctl"))
        .arg(daemon.url())
        .output()
        .expect("run sh");
    assert_eq!(stderr(&output), "taskmasterctl exited 0\n");
    assert_eq!(
        stdout(&output),
        "worker:0                         RUNNING   pid 100, uptime 0:00:01\n"
    );
}
