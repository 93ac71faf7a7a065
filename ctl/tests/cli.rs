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
        [
            json!({ "command": "status", "names": ["web"], "fields": ["name", "state", "description"] })
        ]
    );
}

#[test]
fn status_exits_0_when_everything_runs() {
    let daemon = FakeDaemon::answering(vec![ok(json!({ "processes": [
        process("web", "RUNNING", "pid 1, uptime 0:00:01"),
    ]}))]);
    let output = daemon.ctl(&["status"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    // Only what the lines show.
    assert_eq!(
        daemon.requests(),
        [json!({ "command": "status", "fields": ["name", "state", "description"] })]
    );
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
fn an_unknown_signal_is_a_usage_error_that_never_reaches_the_daemon() {
    let daemon = FakeDaemon::answering(vec![ok(json!({ "results": [] }))]);
    let output = daemon.ctl(&["signal", "FOO", "web"]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("unknown signal 'FOO'"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("valid names: HUP INT QUIT"));
    // A connection of ours that says nothing ends the fake daemon's accept:
    // had taskmasterctl asked, its request would be there instead.
    drop(UnixStream::connect(&daemon.socket));
    assert_eq!(daemon.requests(), Vec::<Value>::new());
}

#[test]
fn error_reply_goes_to_stderr_with_exit_1() {
    let daemon = FakeDaemon::answering(vec![json!({
        "status": 409,
        "error": { "code": "shutting_down", "message": "taskmasterd is shutting down" },
    })]);
    let output = daemon.ctl(&["stop", "web"]);
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "error: taskmasterd is shutting down\n");
    assert_eq!(code(&output), 1);
}

#[test]
fn unknown_name_is_reported_as_supervisorctl_does() {
    let daemon = FakeDaemon::answering(vec![json!({
        "status": 404,
        "error": { "code": "no_such_process", "message": "no such process: 'nope'" },
    })]);
    let output = daemon.ctl(&["stop", "nope"]);
    assert_eq!(stdout(&output), "");
    assert_eq!(stderr(&output), "nope: ERROR (no such process)\n");
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

    let output = run(&["start"]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).starts_with("error: start requires a process name"),
        "{}",
        stderr(&output)
    );
    assert!(stderr(&output).contains("Usage: taskmasterctl start [--json] <NAME>..."));

    for args in [
        &["frobnicate"][..],
        &["status", "--bogus"],
        &["signal"],
        &["completions", "tcsh"],
    ] {
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

/// The protocol reads `stop` without a name as every program; the command
/// line does not, so that a forgotten name never stops everything.
#[test]
fn stop_and_restart_without_a_name_are_usage_errors() {
    let dir = TempDir::new();
    // A socket nobody serves: exit 2, not 4, shows nothing was sent.
    let url = format!("unix://{}", dir.0.join("none.sock").display());
    for command in ["stop", "restart", "start"] {
        let output = ctl_in(&dir.0, &["-s", &url, command], &[]);
        assert_eq!(code(&output), 2, "{command}");
        assert!(
            stderr(&output).starts_with(&format!("error: {command} requires a process name")),
            "{command}: {}",
            stderr(&output)
        );
    }
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

/// Answers every request on every connection with the same status reply,
/// until dropped: what the shell and the completion scripts need.
struct StatusDaemon {
    dir: TempDir,
    socket: PathBuf,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    server: Option<JoinHandle<()>>,
}

impl StatusDaemon {
    fn new(processes: Vec<Value>) -> Self {
        let dir = TempDir::new();
        let socket = dir.0.join("taskmaster.sock");
        let listener = UnixListener::bind(&socket).expect("bind the fake socket");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reply = ok(json!({ "processes": processes }));
        let stopping = stop.clone();
        let server = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let mut writer = stream.try_clone().expect("clone the stream");
                for line in BufReader::new(stream).lines() {
                    if line.is_err() || writeln!(writer, "{reply}").is_err() {
                        break;
                    }
                }
            }
        });
        StatusDaemon {
            dir,
            socket,
            stop,
            server: Some(server),
        }
    }

    fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for StatusDaemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.socket);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// Answers the first request with `first`, then writes `lines` and hangs up.
fn streaming_daemon(first: Value, lines: Vec<Value>) -> (TempDir, String, JoinHandle<Value>) {
    let dir = TempDir::new();
    let socket = dir.0.join("taskmaster.sock");
    let listener = UnixListener::bind(&socket).expect("bind the fake socket");
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("taskmasterctl connects");
        let mut writer = stream.try_clone().expect("clone the stream");
        let mut request = String::new();
        BufReader::new(stream)
            .read_line(&mut request)
            .expect("a request");
        for line in std::iter::once(first).chain(lines) {
            writeln!(writer, "{line}").expect("write a line");
        }
        serde_json::from_str(&request).expect("a JSON request")
    });
    let url = format!("unix://{}", socket.display());
    (dir, url, server)
}

fn timed(name: &str, state: &str, command: &str, changed_ms: u64) -> Value {
    let mut p = process(name, state, "");
    p["command"] = json!(command);
    p["changed_ms"] = json!(changed_ms);
    p
}

#[test]
fn job_specs_are_resolved_before_the_daemon_sees_them() {
    let all = ok(json!({ "processes": [
        timed("db", "RUNNING", "/usr/bin/postgres", 3_000),
        timed("web:0", "RUNNING", "/usr/bin/gunicorn app", 1_000),
        timed("web:1", "STOPPED", "/usr/bin/gunicorn app", 2_000),
    ]}));
    let daemon = FakeDaemon::answering(vec![
        all.clone(),
        ok(json!({ "results": [result("web:1", true, "started"), result("db", true, "started")] })),
    ]);
    let output = daemon.ctl(&["start", "%3", "%?postgres"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        daemon.requests(),
        [
            json!({ "command": "status" }),
            json!({ "command": "start", "names": ["web:1", "db"] }),
        ]
    );

    let daemon = FakeDaemon::answering(vec![all.clone(), all.clone()]);
    let output = daemon.ctl(&["status", "%+", "%-"]);
    assert_eq!(
        daemon.requests()[1],
        json!({ "command": "status", "names": ["db", "web:1"], "fields": ["name", "state", "description"] })
    );
    assert_eq!(code(&output), 3);

    let daemon = FakeDaemon::answering(vec![all.clone()]);
    let output = daemon.ctl(&["stop", "%web"]);
    assert_eq!(code(&output), 1);
    assert_eq!(
        stderr(&output),
        "error: job spec '%web' is ambiguous: it matches web:0, web:1\n"
    );
    assert_eq!(stdout(&output), "");
    assert_eq!(daemon.requests().len(), 1, "nothing is stopped");

    let daemon = FakeDaemon::answering(vec![all]);
    let output = daemon.ctl(&["pid", "%9"]);
    assert_eq!(code(&output), 1);
    assert_eq!(
        stderr(&output),
        "error: job spec '%9': status shows 3 processes; use %1 to %3\n"
    );
}

#[test]
fn json_on_actions_prints_the_content() {
    let content = json!({ "results": [result("web", false, "spawn error")] });
    let daemon = FakeDaemon::answering(vec![ok(content.clone())]);
    let output = daemon.ctl(&["start", "--json", "web"]);
    let printed: Value = serde_json::from_slice(&output.stdout).expect("stdout is JSON");
    assert_eq!(printed, content);
    assert_eq!(code(&output), 1);
}

#[test]
fn status_is_not_coloured_into_a_pipe() {
    let daemon = FakeDaemon::answering(vec![ok(json!({ "processes": [
        process("web", "RUNNING", "pid 1, uptime 0:00:01"),
    ]}))]);
    let output = daemon.ctl(&["status"]);
    assert!(!stdout(&output).contains('\x1b'), "{:?}", stdout(&output));
}

#[test]
fn events_print_one_line_per_change_then_exit_4_when_the_daemon_leaves() {
    let subscribed = ok(json!({ "subscribed": true }));
    let events = vec![
        json!({ "seq": 1, "time_ms": 1_795_619_403_250u64, "event": "state", "name": "web",
                "group": "web", "from": "STARTING", "to": "RUNNING", "pid": 4121 }),
        json!({ "seq": 2, "time_ms": 1_795_619_404_000u64, "event": "lagged", "missed": 3 }),
        json!({ "seq": 6, "time_ms": 1_795_619_405_000u64, "event": "future_kind" }),
        json!({ "seq": 7, "time_ms": 1_795_619_406_000u64, "event": "state", "name": "web",
                "group": "web", "from": "RUNNING", "to": "STOPPING" }),
    ];
    let (dir, url, server) = streaming_daemon(subscribed.clone(), events.clone());
    let output = ctl_in(&dir.0, &["-s", &url, "events"], &[("TZ", "UTC")]);
    assert_eq!(server.join().unwrap(), json!({ "command": "events" }));
    assert_eq!(
        stdout(&output),
        "2026-11-25 15:10:03 web STARTING -> RUNNING pid 4121\n\
         2026-11-25 15:10:06 web RUNNING -> STOPPING\n"
    );
    let err = stderr(&output);
    assert!(err.starts_with("taskmasterctl: missed 3 events"), "{err}");
    assert!(err.contains("ended the event stream"), "{err}");
    assert_eq!(code(&output), 4);

    let (dir, url, server) = streaming_daemon(subscribed, events.clone());
    let output = ctl_in(&dir.0, &["-s", &url, "events", "--json"], &[]);
    server.join().unwrap();
    let lines: Vec<Value> = stdout(&output)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines, events);
}

/// A directory of plugins for a temporary PATH.
fn plugin_dir(plugins: &[(&str, &str, u32)]) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new();
    for (name, script, mode) in plugins {
        let path = dir.0.join(format!("taskmasterctl-{name}"));
        std::fs::write(&path, script).expect("write a plugin");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode)).expect("chmod");
    }
    dir
}

fn path_with(dir: &Path) -> String {
    format!("{}:/usr/bin:/bin", dir.display())
}

const ECHO_PLUGIN: &str = "#!/bin/sh\n\
    if [ \"$1\" = --help ]; then echo 'hello: greets'; exit 0; fi\n\
    echo \"args=$*\"\n\
    echo \"url=$TASKMASTER_SERVER_URL\"\n\
    echo \"config=$TASKMASTER_CONFIG\"\n\
    echo \"ctl=$TASKMASTERCTL\"\n\
    exit 7\n";

#[test]
fn plugins_run_with_the_contract_environment_and_pass_their_status_through() {
    let plugins = plugin_dir(&[("hello", ECHO_PLUGIN, 0o755)]);
    let config = plugins.0.join("t.toml");
    std::fs::write(&config, "[unix_http_server]\nfile = \"t.sock\"\n").unwrap();
    let path = path_with(&plugins.0);
    let output = ctl_in(
        &plugins.0,
        &["-c", "t.toml", "hello", "a b", "--flag"],
        &[("PATH", &path)],
    );
    assert_eq!(code(&output), 7, "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        format!(
            "args=a b --flag\nurl=unix://{dir}/t.sock\nconfig={dir}/t.toml\nctl={ctl}\n",
            dir = plugins.0.display(),
            ctl = env!("CARGO_BIN_EXE_taskmasterctl")
        )
    );

    let output = ctl_in(&plugins.0, &["help", "hello"], &[("PATH", &path)]);
    assert_eq!(
        (stdout(&output).as_str(), code(&output)),
        ("hello: greets\n", 0)
    );
}

#[test]
fn a_plugin_killed_by_a_signal_is_seen_as_such() {
    use std::os::unix::process::ExitStatusExt;
    let plugins = plugin_dir(&[("die", "#!/bin/sh\nkill -TERM $$\n", 0o755)]);
    let path = path_with(&plugins.0);
    let output = ctl_in(&plugins.0, &["die"], &[("PATH", &path)]);
    assert_eq!(
        output.status.signal(),
        Some(15),
        "exec passes the signal through"
    );
    let shell = Command::new("sh")
        .arg("-c")
        .arg("\"$0\" die; echo \"status $?\"")
        .arg(env!("CARGO_BIN_EXE_taskmasterctl"))
        .env("PATH", &path)
        .output()
        .expect("run sh");
    assert_eq!(stdout(&shell), "status 143\n");
}

#[test]
fn plugins_are_listed_with_their_paths() {
    let plugins = plugin_dir(&[
        ("hello", ECHO_PLUGIN, 0o755),
        ("notes", "#!/bin/sh\n", 0o644),
    ]);
    let path = path_with(&plugins.0);
    let hello = plugins.0.join("taskmasterctl-hello");
    for args in [&["--list"][..], &["help"], &["--help"]] {
        let output = ctl_in(&plugins.0, args, &[("PATH", &path)]);
        assert_eq!(code(&output), 0, "{args:?}");
        let text = stdout(&output);
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with("hello "))
            .unwrap_or_else(|| panic!("{args:?} lists hello:\n{text}"));
        assert!(line.ends_with(&hello.display().to_string()), "{line}");
        assert!(
            !text.contains("notes"),
            "not executable: not a plugin\n{text}"
        );
    }
}

#[test]
fn unknown_and_unexecutable_commands() {
    let plugins = plugin_dir(&[("notes", "#!/bin/sh\n", 0o644)]);
    let path = path_with(&plugins.0);
    let output = ctl_in(&plugins.0, &["stauts"], &[("PATH", &path)]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).starts_with("error: no such command: `stauts`\n\n  Did you mean `status`?"),
        "{}",
        stderr(&output)
    );

    let output = ctl_in(&plugins.0, &["notes"], &[("PATH", &path)]);
    assert_eq!(code(&output), 126);
    let notes = plugins.0.join("taskmasterctl-notes");
    assert_eq!(
        stderr(&output),
        format!(
            "taskmasterctl: plugin {0} is not executable; make it so with `chmod +x {0}`\n",
            notes.display()
        )
    );
    let output = ctl_in(&plugins.0, &["help", "nope"], &[("PATH", &path)]);
    assert_eq!(code(&output), 2);
}

#[test]
fn complete_names_lists_processes_groups_and_plugins() {
    let daemon = StatusDaemon::new(vec![
        process("web:0", "RUNNING", ""),
        process("web:1", "RUNNING", ""),
    ]);
    let output = ctl_in(
        &daemon.dir.0,
        &["-s", &daemon.url(), "__complete-names"],
        &[],
    );
    assert_eq!(stdout(&output), "web\nweb:0\nweb:1\nweb:*\nall\n");
    let dir = TempDir::new();
    let output = ctl_in(
        &dir.0,
        &["-s", "/nonexistent.sock", "__complete-names"],
        &[],
    );
    assert_eq!(
        (stdout(&output).as_str(), stderr(&output).as_str()),
        ("", "")
    );
    let plugins = plugin_dir(&[("hello", ECHO_PLUGIN, 0o755)]);
    let path = path_with(&plugins.0);
    let output = ctl_in(
        &plugins.0,
        &["__complete-names", "--plugins"],
        &[("PATH", &path)],
    );
    assert_eq!(stdout(&output), "hello\n");
}

fn completion_script(shell: &str) -> String {
    let dir = TempDir::new();
    let output = ctl_in(&dir.0, &["completions", shell], &[]);
    assert_eq!(code(&output), 0);
    stdout(&output)
}

fn installed(shell: &str) -> bool {
    Command::new(shell)
        .arg("-c")
        .arg("true")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    for (shell, ext) in [("bash", "bash"), ("zsh", "zsh"), ("fish", "fish")] {
        if shell != "bash" && !installed(shell) {
            eprintln!("{shell} is not installed: its script is not checked");
            continue;
        }
        let dir = TempDir::new();
        let file = dir.0.join(format!("taskmasterctl.{ext}"));
        std::fs::write(&file, completion_script(shell)).unwrap();
        let output = Command::new(shell).arg("-n").arg(&file).output().unwrap();
        assert!(output.status.success(), "{shell} -n: {}", stderr(&output));
    }
}

/// What bash offers for `line` (the cursor at its end), with the real script.
fn bash_complete(line: &str, url: &str, path: &str) -> Vec<String> {
    let dir = TempDir::new();
    let script = dir.0.join("taskmasterctl.bash");
    std::fs::write(&script, completion_script("bash")).unwrap();
    let program = r#"
        source "$1"
        COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}
        read -ra COMP_WORDS <<< "$COMP_LINE"
        [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
        _taskmasterctl_dynamic "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let ctl = env!("CARGO_BIN_EXE_taskmasterctl");
    let output = Command::new("bash")
        .arg("-c")
        .arg(program)
        .arg("bash")
        .arg(&script)
        .arg(line.replacen("taskmasterctl", ctl, 1))
        .env("TASKMASTER_SERVER_URL", url)
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let mut words: Vec<String> = stdout(&output).lines().map(String::from).collect();
    words.sort();
    words
}

#[test]
fn bash_completes_process_names_signals_and_plugins() {
    let named = |name: &str, program: &str| {
        let mut p = process(name, "RUNNING", "");
        p["program"] = json!(program);
        p["group"] = json!(program);
        p
    };
    let daemon = StatusDaemon::new(vec![
        named("web:0", "web"),
        named("worker", "worker"),
        named("db", "db"),
    ]);
    let plugins = plugin_dir(&[("hello", ECHO_PLUGIN, 0o755)]);
    let path = path_with(&plugins.0);
    let url = daemon.url();
    assert_eq!(
        bash_complete("taskmasterctl restart w", &url, &path),
        ["web", "web:*", "web:0", "worker", "worker:*"]
    );
    // bash splits "web:0" at ':'; the replies continue after it.
    assert_eq!(
        bash_complete("taskmasterctl stop web:", &url, &path),
        ["*", "0"]
    );
    assert_eq!(
        bash_complete(&format!("taskmasterctl -s {url} status d"), "", &path),
        ["db", "db:*"]
    );
    assert_eq!(
        bash_complete("taskmasterctl signal U", &url, &path),
        ["USR1", "USR2"]
    );
    assert_eq!(
        bash_complete("taskmasterctl signal HUP d", &url, &path),
        ["db", "db:*"]
    );
    assert_eq!(
        bash_complete("taskmasterctl he", &url, &path),
        ["hello", "help"]
    );
}

/// taskmasterctl's shell in a pseudo-terminal, as a person types.
fn shell(dir: &Path, args: &[&str]) -> rexpect::session::PtySession {
    let mut command = Command::new(env!("CARGO_BIN_EXE_taskmasterctl"));
    command
        .args(args)
        .current_dir(dir)
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env_remove("TASKMASTER_SERVER_URL")
        .env_remove("TASKMASTER_CONFIG");
    let options = rexpect::reader::Options::new()
        .timeout_ms(Some(10_000))
        .strip_ansi_escape_codes(true);
    rexpect::session::spawn_with_options(command, options).expect("spawn the shell in a pty")
}

#[test]
fn shell_prompt_commands_history_and_completion() {
    let daemon = StatusDaemon::new(vec![
        process("web:0", "RUNNING", "pid 7, uptime 0:00:05"),
        process("db", "RUNNING", "pid 8, uptime 0:00:05"),
    ]);
    let config = daemon.dir.0.join("taskmaster.conf.toml");
    std::fs::write(
        &config,
        "[unix_http_server]\nfile = \"taskmaster.sock\"\n\
         [taskmasterctl]\nprompt = \"tm\"\nhistory = \"ctl.history\"\n",
    )
    .unwrap();
    let mut session = shell(&daemon.dir.0, &["-c", "taskmaster.conf.toml"]);
    session.exp_string("tm> ").expect("the configured prompt");
    session.send_line("status").unwrap();
    session
        .exp_regex(r"web:0\s+RUNNING\s+pid 7, uptime 0:00:05")
        .expect("status output");
    session.exp_string("tm> ").unwrap();
    // TAB completes the only process name starting with "d".
    session.send("status d\t").unwrap();
    session.flush().unwrap();
    session.exp_string("status db ").expect("completed name");
    session.send_line("").unwrap();
    session
        .exp_regex(r"db\s+RUNNING\s+pid 8")
        .expect("status of the completed name");
    session.exp_string("tm> ").unwrap();
    session.send_line("bogus-command").unwrap();
    session
        .exp_string("error: no such command: `bogus-command`")
        .expect("an unknown command is reported");
    session.exp_string("tm> ").expect("and the shell goes on");
    session.send_line("quit").unwrap();
    session.exp_eof().expect("quit ends the shell");
    let history = std::fs::read_to_string(daemon.dir.0.join("ctl.history")).expect("history");
    let lines: Vec<&str> = history.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines, ["status", "status db", "bogus-command", "quit"]);
}

#[test]
fn shell_survives_a_missing_daemon_and_an_unwritable_history() {
    let dir = TempDir::new();
    std::fs::write(
        dir.0.join("t.toml"),
        "[unix_http_server]\nfile = \"absent.sock\"\n\
         [taskmasterctl]\nhistory = \"/nonexistent/dir/history\"\n",
    )
    .unwrap();
    let mut session = shell(&dir.0, &["-c", "t.toml"]);
    session
        .exp_string("taskmaster> ")
        .expect("the default prompt");
    session.send_line("status").unwrap();
    session
        .exp_string("cannot write the history file /nonexistent/dir/history")
        .expect("one warning about the history");
    session
        .exp_string("cannot reach taskmasterd at")
        .expect("the daemon is reported missing");
    session
        .exp_string("taskmaster> ")
        .expect("the shell goes on");
    session.send_control('d').unwrap();
    session.exp_eof().expect("Ctrl-D ends the shell");
}

/// The shell with `input` piped in, as a script would run it.
fn piped_shell(url: &str, input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskmasterctl"))
        .args(["-s", url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn shell_reads_commands_from_a_pipe() {
    let daemon = StatusDaemon::new(vec![process("web", "RUNNING", "pid 1, uptime 0:00:01")]);
    let output = piped_shell(&daemon.url(), "status\nexit\n");
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("web                              RUNNING"));
}

#[test]
fn a_piped_shell_exits_with_its_last_failing_command_status() {
    let daemon = StatusDaemon::new(vec![process("web", "RUNNING", "pid 1, uptime 0:00:01")]);
    // `stop` without a name is a usage error (2); the `status` after it succeeds.
    let output = piped_shell(&daemon.url(), "stop\nstatus\n");
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(stdout(&output).contains("web                              RUNNING"));
    let output = piped_shell(&daemon.url(), "status 'web\nstatus\n");
    assert_eq!(
        code(&output),
        2,
        "an unterminated quote: {}",
        stderr(&output)
    );

    let daemon = StatusDaemon::new(vec![process("web", "STOPPED", "Not started")]);
    // The last failure counts, not the first: status finds web stopped (3).
    let output = piped_shell(&daemon.url(), "stop\nstatus\nexit\n");
    assert_eq!(code(&output), 3, "{}", stderr(&output));
    let output = piped_shell(&daemon.url(), "status\nstop\n");
    assert_eq!(code(&output), 2, "{}", stderr(&output));
}
