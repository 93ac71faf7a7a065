//! taskmasterctl-xmlrpc: the real supervisorctl (from PyPI's `supervisor`)
//! against the bridge, its status table compared with what it prints
//! against a real supervisord running the same programs; every method
//! through Python's xmlrpc.client over TCP with basic auth.
//!
//! `supervisor` and `superlance` come from PyPI, in the oracle's venv
//! (`oracle::venv_bin`); if PyPI cannot be reached the tests fail saying so,
//! rather than pass untested.

use crate::harness::{bin_dir, testprog, Builder, Output, TestDaemon, WAIT};
use crate::oracle::venv_bin;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running taskmasterctl-xmlrpc, killed on drop.
struct Bridge {
    child: Child,
    socket: PathBuf,
}

impl Bridge {
    fn start(daemon: &TestDaemon, extra: &[&str]) -> Bridge {
        let socket = daemon.dir().join("x.sock");
        let child = Command::new(bin_dir().join("taskmasterctl-xmlrpc"))
            .arg("-s")
            .arg(format!("unix://{}", daemon.socket().display()))
            .arg("--unix")
            .arg(&socket)
            .args(extra)
            .stdin(Stdio::null())
            .spawn()
            .expect("cannot start taskmasterctl-xmlrpc: run `cargo build --workspace` first");
        wait_socket(&socket);
        Bridge { child, socket }
    }

    fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_socket(socket: &Path) {
    let deadline = Instant::now() + WAIT;
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "nothing listens on {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn output(out: std::process::Output) -> Output {
    Output {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// Runs the real supervisorctl against `url`.
fn supervisorctl(url: &str, args: &[&str]) -> Output {
    output(
        Command::new(venv_bin().join("supervisorctl"))
            .args(["-s", url])
            .args(args)
            .output()
            .expect("cannot run supervisorctl"),
    )
}

/// A real supervisord in `dir`, killed on drop.
struct Supervisord {
    child: Child,
    url: String,
}

impl Supervisord {
    fn start(dir: &Path, programs: &str) -> Supervisord {
        let socket = dir.join("s.sock");
        let conf = dir.join("supervisord.conf");
        fs::write(
            &conf,
            format!(
                "[unix_http_server]\nfile={socket}\n\n\
                 [supervisord]\nnodaemon=true\nlogfile={dir}/supervisord.log\n\
                 pidfile={dir}/supervisord.pid\nchildlogdir={dir}/logs\n\n\
                 [rpcinterface:supervisor]\n\
                 supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
                 {programs}",
                socket = socket.display(),
                dir = dir.display(),
            ),
        )
        .expect("cannot write supervisord.conf");
        let child = Command::new(venv_bin().join("supervisord"))
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start supervisord");
        wait_socket(&socket);
        Supervisord {
            child,
            url: format!("unix://{}", socket.display()),
        }
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// supervisorctl's status table with what changes from run to run (pids,
/// uptimes, dates) replaced by placeholders; the columns stay as printed.
fn normalized(table: &str) -> String {
    table
        .lines()
        .map(|line| {
            if let Some(at) = line.find("pid ") {
                format!("{}pid N, uptime T", &line[..at])
            } else if let Some(at) = [
                "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
            ]
            .iter()
            .filter_map(|m| line.find(&format!("{m} ")))
            .min()
            {
                format!("{}DATE", &line[..at])
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Polls supervisorctl status at `url` until `ready` holds for it.
fn wait_status(url: &str, what: &str, ready: impl Fn(&str) -> bool) -> Output {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = supervisorctl(url, &["status"]);
        if ready(&out.stdout) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what} at {url}; last status:\n{}{}",
            out.stdout,
            out.stderr
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state_of<'a>(table: &'a str, name: &str) -> Option<&'a str> {
    table.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        (words.next() == Some(name)).then(|| words.next()).flatten()
    })
}

#[test]
fn supervisorctl_status_prints_what_it_prints_against_supervisord() {
    let prog = testprog().display().to_string();
    let daemon = TestDaemon::start(&format!(
        "[programs.web]\ncommand = \"{prog}\"\nstartsecs = 1\n\
         [programs.worker]\ncommand = \"{prog}\"\nnumprocs = 2\nstartsecs = 1\n\
         [programs.idle]\ncommand = \"{prog}\"\nautostart = false\n\
         [programs.crash]\ncommand = \"{prog}\"\nargs = [\"--sleep\", \"0\", \"--exit\", \"1\"]\n\
         startsecs = 1\nstartretries = 0\n\
         [programs.done]\ncommand = \"{prog}\"\nargs = [\"--sleep\", \"0\"]\nstartsecs = 0\n\
         autorestart = false\n"
    ));
    let supervisord = Supervisord::start(
        daemon.dir(),
        &format!(
            "[program:web]\ncommand={prog}\nstartsecs=1\n\
             [program:worker]\ncommand={prog}\nnumprocs=2\nprocess_name=%(process_num)d\nstartsecs=1\n\
             [program:idle]\ncommand={prog}\nautostart=false\n\
             [program:crash]\ncommand={prog} --sleep 0 --exit 1\nstartsecs=1\nstartretries=0\n\
             [program:done]\ncommand={prog} --sleep 0\nstartsecs=0\nautorestart=false\n"
        ),
    );
    let bridge = Bridge::start(&daemon, &[]);
    let settled = |table: &str| {
        [
            ("web", "RUNNING"),
            ("worker:0", "RUNNING"),
            ("worker:1", "RUNNING"),
            ("idle", "STOPPED"),
            ("crash", "FATAL"),
            ("done", "EXITED"),
        ]
        .iter()
        .all(|(name, state)| state_of(table, name) == Some(state))
    };
    let ours = wait_status(&bridge.url(), "the programs to settle", settled);
    let theirs = wait_status(&supervisord.url, "the programs to settle", settled);
    assert_eq!(
        normalized(&ours.stdout),
        normalized(&theirs.stdout),
        "\nbridge:\n{}\nsupervisord:\n{}",
        ours.stdout,
        theirs.stdout
    );
    // Not everything is RUNNING: LSB's "program is not running".
    assert_eq!((ours.code, theirs.code), (3, 3));
    // A name, a group spec, and one that does not exist.
    for args in [&["status", "worker:*"][..], &["status", "web", "nope"]] {
        let ours = supervisorctl(&bridge.url(), args);
        let theirs = supervisorctl(&supervisord.url, args);
        assert_eq!(
            normalized(&ours.stdout),
            normalized(&theirs.stdout),
            "{args:?}"
        );
        assert_eq!(ours.code, theirs.code, "{args:?}");
    }
}

#[test]
fn supervisorctl_controls_taskmasterd_through_the_bridge() {
    let prog = testprog().display().to_string();
    let mut daemon = TestDaemon::start(&format!(
        "[programs.web]\ncommand = \"{prog}\"\nargs = [\"--print\", \"hello web\", \"--stderr\", \"oops\", \"--catch\", \"HUP\"]\nstartsecs = 0\n\
         [programs.worker]\ncommand = \"{prog}\"\nnumprocs = 2\nstartsecs = 0\n\
         [programs.idle]\ncommand = \"{prog}\"\nautostart = false\nstartsecs = 0\n"
    ));
    let bridge = Bridge::start(&daemon, &[]);
    let url = bridge.url();
    let ctl = |args: &[&str]| supervisorctl(&url, args);
    wait_status(&url, "web and the workers RUNNING", |t| {
        ["web", "worker:0", "worker:1"]
            .iter()
            .all(|n| state_of(t, n) == Some("RUNNING"))
    });

    assert_eq!(ctl(&["start", "idle"]).lines(), ["idle: started"]);
    assert_eq!(
        ctl(&["start", "idle"]).lines(),
        ["idle: ERROR (already started)"]
    );
    let out = ctl(&["stop", "worker:*"]);
    let mut lines = out.lines();
    lines.sort();
    assert_eq!(lines, ["worker:0: stopped", "worker:1: stopped"]);
    let out = ctl(&["start", "worker:0", "nope"]);
    assert_eq!(
        out.lines(),
        ["worker:0: started", "nope: ERROR (no such process)"]
    );
    assert_eq!(out.code, 1);
    assert_eq!(
        ctl(&["restart", "idle"]).lines(),
        ["idle: stopped", "idle: started"]
    );
    assert_eq!(ctl(&["stop", "idle"]).lines(), ["idle: stopped"]);
    assert_eq!(
        ctl(&["stop", "idle"]).lines(),
        ["idle: ERROR (not running)"]
    );

    assert_eq!(ctl(&["signal", "HUP", "web"]).lines(), ["web: signalled"]);
    daemon.wait_log_line("web.stdout", "caught=SIGHUP");
    assert_eq!(
        ctl(&["signal", "HUP", "idle"]).lines(),
        ["idle: ERROR (not running)"]
    );

    assert_eq!(ctl(&["pid"]).lines(), [daemon.daemon_pid().to_string()]);
    assert_eq!(
        ctl(&["pid", "web"]).lines(),
        [daemon.pid("web").to_string()]
    );
    let out = ctl(&["pid", "idle"]);
    assert_eq!((out.lines(), out.code), (vec!["0"], 7));

    let tail = ctl(&["tail", "web"]);
    assert!(
        tail.stdout.starts_with("hello web\ncaught=SIGHUP\n"),
        "{}",
        tail.stdout
    );
    assert_eq!(ctl(&["tail", "web", "stderr"]).lines(), ["oops"]);
    assert_eq!(
        ctl(&["tail", "nope"]).lines(),
        ["nope: ERROR (no such process name)"]
    );
    assert_eq!(ctl(&["clear", "web"]).lines(), ["web: cleared"]);
    assert_eq!(ctl(&["tail", "web"]).lines(), Vec::<&str>::new());
    assert_eq!(daemon.log_text("web.stdout"), "");

    assert_eq!(
        ctl(&["avail"]).lines(),
        [
            "idle                             in use    manual    999:999",
            "web                              in use    auto      999:999",
            "worker:0                         in use    auto      999:999",
            "worker:1                         in use    auto      999:999",
        ]
    );
    assert_eq!(ctl(&["reread"]).lines(), ["No config updates to processes"]);
    assert_eq!(ctl(&["version"]).lines(), [env!("CARGO_PKG_VERSION")]);

    // An edited config: `update` applies it (or finds it applied already:
    // taskmasterd also watches its file).
    let config = fs::read_to_string(daemon.config_path()).unwrap();
    fs::write(
        daemon.config_path(),
        format!("{config}\n[programs.extra]\ncommand = \"{prog}\"\nstartsecs = 0\n"),
    )
    .unwrap();
    let out = ctl(&["update"]);
    assert!(out.code == 0, "{out:?}");
    wait_status(&url, "extra RUNNING", |t| {
        state_of(t, "extra") == Some("RUNNING")
    });

    assert_eq!(ctl(&["shutdown"]).lines(), ["Shut down"]);
    daemon.wait_exit(WAIT);
}

#[test]
fn supervisorctl_tail_f_follows_the_log() {
    let prog = testprog().display().to_string();
    let daemon = TestDaemon::start(&format!(
        "[programs.echo]\ncommand = \"{prog}\"\nargs = [\"--print\", \"first\", \"--echo-stdin\"]\nstartsecs = 0\n"
    ));
    daemon.wait_log_line("echo.stdout", "first");
    let bridge = Bridge::start(&daemon, &[]);
    // What the bridge's descriptors point at (sockets by inode). The
    // connection wait_socket made may still be open when this is first
    // read, so "idle again" is: nothing open that was not open then.
    let fds = || {
        fs::read_dir(format!("/proc/{}/fd", bridge.child.id()))
            .unwrap()
            .filter_map(|entry| fs::read_link(entry.ok()?.path()).ok())
            .collect::<std::collections::BTreeSet<PathBuf>>()
    };
    let idle_fds = fds();
    let maintail = supervisorctl(&bridge.url(), &["maintail"]);
    assert!(maintail.stdout.contains("spawned: 'echo'"), "{maintail:?}");
    // `maintail -f` reads /mainlogtail: a chunked stream of the activity log.
    {
        use std::io::Write;
        let mut http = std::os::unix::net::UnixStream::connect(&bridge.socket).unwrap();
        http.write_all(b"GET /mainlogtail HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        http.set_read_timeout(Some(WAIT)).unwrap();
        let mut seen = Vec::new();
        let mut buf = [0; 4096];
        while !String::from_utf8_lossy(&seen).contains("spawned: 'echo'") {
            let n = http.read(&mut buf).expect("the activity log's first KiB");
            assert!(
                n > 0,
                "the stream ended: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&seen);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Transfer-Encoding: chunked\r\n"), "{text}");
    }
    let mut child = Command::new(venv_bin().join("supervisorctl"))
        .args(["-s", &bridge.url(), "tail", "-f", "echo"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("cannot run supervisorctl tail -f");
    let seen = Arc::new(Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = {
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                seen.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    let wait_seen = |text: &str| {
        let deadline = Instant::now() + WAIT;
        while !seen.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "tail -f did not show {text:?}; it showed {:?}",
                seen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    };
    wait_seen("first\n");
    daemon.request(serde_json::json!({"command": "stdin", "name": "echo", "data": "ping\n"}));
    wait_seen("stdin=ping\n");
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    // The client is gone: the bridge lets go of taskmasterd's stream at
    // once, though the log stays quiet.
    daemon.wait_for(
        "the bridge to close the follower's connections",
        WAIT,
        || fds().is_subset(&idle_fds),
    );
}

#[test]
fn every_method_answers_python_xmlrpc_over_tcp_with_auth() {
    let prog = testprog().display().to_string();
    let builder = Builder::new(&format!(
        "[programs.web]\ncommand = \"{prog}\"\nargs = [\"--print\", \"hello web\", \"--stderr\", \"oops\", \"--catch\", \"HUP\", \"--catch\", \"USR2\"]\nstartsecs = 0\n\
         [programs.echo]\ncommand = \"{prog}\"\nargs = [\"--echo-stdin\"]\nstartsecs = 0\n\
         [programs.worker]\ncommand = \"{prog}\"\nnumprocs = 2\nstartsecs = 0\nargs = [\"--catch\", \"USR2\"]\n\
         [programs.idle]\ncommand = \"{prog}\"\nautostart = false\nstartsecs = 0\n\
         [programs.crash]\ncommand = \"{prog}\"\nargs = [\"--sleep\", \"0\", \"--exit\", \"3\"]\nstartsecs = 1\nstartretries = 0\nautostart = false\n\
         [programs.done]\ncommand = \"{prog}\"\nargs = [\"--sleep\", \"0\"]\nstartsecs = 0\nautorestart = false\n"
    ));
    fs::write(builder.dir().join("password"), "s3cret\n").unwrap();
    let daemon = builder.start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let password = daemon.dir().join("password").display().to_string();
    let _bridge = Bridge::start(
        &daemon,
        &[
            "--tcp",
            &format!("127.0.0.1:{port}"),
            "--user",
            "admin",
            "--password-file",
            &password,
        ],
    );
    let out = output(
        Command::new(venv_bin().join("python"))
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("e2e/xmlrpc_methods.py"))
            .arg(format!("http://admin:s3cret@127.0.0.1:{port}/RPC2"))
            .arg(daemon.daemon_pid().to_string())
            .arg(format!("http://admin:wrong@127.0.0.1:{port}/RPC2"))
            .output()
            .expect("cannot run python"),
    );
    assert_eq!(out.stdout.trim(), "OK", "{}{}", out.stdout, out.stderr);
}

#[test]
fn tcp_beyond_loopback_needs_auth() {
    let daemon = TestDaemon::start("");
    let out = output(
        Command::new(bin_dir().join("taskmasterctl-xmlrpc"))
            .args(["-s", &format!("unix://{}", daemon.socket().display())])
            .args(["--tcp", "0.0.0.0:0"])
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr
            .contains("refusing to listen on 0.0.0.0:0 without --user and --password-file"),
        "{}",
        out.stderr
    );
}

/// The status line the bridge on `port` answers one raw request with.
fn status_line(port: u16, method: &str, host: &str, content_type: &str) -> String {
    use std::io::Write;
    let body = "<?xml version=\"1.0\"?><methodCall><methodName>supervisor.getState</methodName></methodCall>";
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "{method} /RPC2 HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or_default().to_owned()
}

/// A web page the operator visits can POST `text/plain` to the loopback
/// bridge without a preflight, or rebind its own name to 127.0.0.1 and
/// read the answers: both are refused, and a real client is served.
#[test]
fn calls_a_web_page_could_make_are_refused_on_loopback_tcp() {
    let daemon = TestDaemon::start("");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let _bridge = Bridge::start(&daemon, &["--tcp", &format!("127.0.0.1:{port}")]);
    let here = format!("127.0.0.1:{port}");
    assert_eq!(
        status_line(port, "POST", &here, "text/plain"),
        "HTTP/1.1 403 Forbidden"
    );
    let rebound = format!("evil.example:{port}");
    assert_eq!(
        status_line(port, "POST", &rebound, "text/xml"),
        "HTTP/1.1 403 Forbidden"
    );
    assert_eq!(
        status_line(port, "GET", &rebound, "text/xml"),
        "HTTP/1.1 403 Forbidden"
    );
    for host in [here.as_str(), "localhost", &format!("[::1]:{port}")] {
        assert_eq!(
            status_line(port, "POST", host, "text/xml; charset=utf-8"),
            "HTTP/1.1 200 OK",
            "{host}"
        );
    }
}

/// A program running `listener` (argv) through taskmasterctl-eventlistener.
fn listener_program(name: &str, events: &str, extra: &[&str], listener: &[&str]) -> String {
    let args: Vec<String> = ["--events", events]
        .iter()
        .chain(extra)
        .chain(&["--"])
        .chain(listener)
        .map(|a| format!("{a:?}"))
        .collect();
    format!(
        "[programs.{name}]\ncommand = \"{}\"\nargs = [{}]\nstartsecs = 0\nstopasgroup = true\n",
        bin_dir().join("taskmasterctl-eventlistener").display(),
        args.join(", ")
    )
}

fn wait_log_contains(daemon: &TestDaemon, file: &str, text: &str) -> String {
    let mut seen = String::new();
    daemon.wait_for(
        &format!("{text:?} in {file}"),
        Duration::from_secs(20),
        || {
            seen = daemon.log_text(file);
            seen.contains(text)
        },
    );
    seen
}

#[test]
fn crashmail_mails_an_unexpected_exit_and_not_an_expected_one() {
    let prog = testprog().display().to_string();
    let crashmail = venv_bin().join("crashmail").display().to_string();
    let builder = Builder::new(&format!(
        "{}\
         [programs.flaky]\ncommand = \"{prog}\"\nargs = [\"--sleep\", \"1\", \"--exit\", \"3\"]\n\
         startsecs = 0\nautostart = false\nautorestart = false\n\
         [programs.clean]\ncommand = \"{prog}\"\nargs = [\"--sleep\", \"1\", \"--exit\", \"3\"]\n\
         exitcodes = [3]\nstartsecs = 0\nautostart = false\nautorestart = false\n",
        listener_program(
            "crashmail",
            "PROCESS_STATE_EXITED",
            &["-c", "@DIR@/taskmaster.conf.toml"],
            &[
                &crashmail,
                "-a",
                "-m",
                "ops@example.com",
                "-s",
                "@DIR@/sendmail"
            ],
        )
    ));
    let sendmail = builder.dir().join("sendmail");
    fs::write(
        &sendmail,
        format!("#!/bin/sh\ncat >> {}/mail.txt\n", builder.dir().display()),
    )
    .unwrap();
    crate::harness::set_mode(&sendmail, 0o755);
    let daemon = builder.start();
    wait_log_contains(
        &daemon,
        "crashmail.stderr",
        "subscribed to PROCESS_STATE_EXITED",
    );
    // exit 3 is among clean's exitcodes: expected, no mail.
    daemon.ctl(&["start", "clean"]);
    daemon.wait_state("clean", "EXITED", WAIT);
    daemon.ctl(&["start", "flaky"]);
    daemon.wait_state("flaky", "EXITED", WAIT);
    let mail = daemon.dir().join("mail.txt");
    daemon.wait_for("crashmail's mail", Duration::from_secs(20), || {
        fs::read_to_string(&mail)
            .is_ok_and(|m| m.contains("Process flaky in group flaky exited unexpectedly"))
    });
    let text = fs::read_to_string(&mail).unwrap();
    assert!(text.contains("To: ops@example.com"), "{text}");
    assert!(
        !text.contains("clean"),
        "an expected exit was mailed:\n{text}"
    );
}

#[test]
fn httpok_restarts_a_program_whose_port_does_not_answer() {
    let prog = testprog().display().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let httpok = venv_bin().join("httpok").display().to_string();
    let url = format!("http://127.0.0.1:{port}/");
    // The bridge runs as a program too, as docs/migrating.md shows:
    // taskmasterd gives it TASKMASTER_SERVER_URL.
    let daemon = TestDaemon::start(&format!(
        "[programs.xmlrpc]\ncommand = \"{}\"\nargs = [\"--unix\", \"@DIR@/x.sock\"]\n\
         priority = 1\nstartsecs = 0\n\
         [programs.web]\ncommand = \"{prog}\"\nstartsecs = 0\n{}",
        bin_dir().join("taskmasterctl-xmlrpc").display(),
        listener_program(
            "httpok",
            "TICK_5",
            &["--supervisor-url", "unix://@DIR@/x.sock"],
            &[&httpok, "-p", "web", &url],
        )
    ));
    let pid = daemon.wait_state("web", "RUNNING", WAIT)["pid"]
        .as_i64()
        .unwrap() as i32;
    // The next TICK_5 makes httpok try the port, fail, and restart web
    // through the bridge.
    daemon.wait_new_pid("web", pid, Duration::from_secs(30));
    wait_log_contains(&daemon, "httpok.stderr", "web restarted");
}

#[test]
fn a_listener_that_does_not_read_overflows_its_buffer_and_nothing_else() {
    let prog = testprog().display().to_string();
    let daemon = TestDaemon::start(&format!(
        "[programs.web]\ncommand = \"{prog}\"\nstartsecs = 0\n{}",
        listener_program(
            "stuck",
            "PROCESS_STATE",
            &["--buffer-size", "2"],
            &["/bin/sh", "-c", "echo READY; exec sleep 1000"],
        )
    ));
    wait_log_contains(&daemon, "stuck.stderr", "subscribed to PROCESS_STATE");
    for _ in 0..3 {
        assert_eq!(daemon.ctl(&["restart", "web"]).code, 0);
    }
    wait_log_contains(
        &daemon,
        "stuck.stderr",
        "pool stuck event buffer overflowed, discarding event",
    );
    assert_eq!(daemon.state("web"), "RUNNING");
    assert_eq!(daemon.state("stuck"), "RUNNING");
}

#[test]
fn the_unix_socket_takes_its_mode_and_owner_and_replaces_only_a_stale_one() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let daemon = TestDaemon::start("");
    let mut bridge = Bridge::start(&daemon, &["--chmod", "0770", "--chown", "nobody"]);
    let meta = fs::metadata(&bridge.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o770);
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    assert_eq!(meta.uid(), nobody.uid.as_raw());

    // A second bridge on a live socket is refused and leaves it alone.
    let out = output(
        Command::new(bin_dir().join("taskmasterctl-xmlrpc"))
            .args(["-s", &format!("unix://{}", daemon.socket().display())])
            .arg("--unix")
            .arg(&bridge.socket)
            .output()
            .unwrap(),
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("is in use by a running server"),
        "{}",
        out.stderr
    );
    assert_eq!(supervisorctl(&bridge.url(), &["pid"]).code, 0);

    // Killed, it leaves its socket file behind: the next one replaces it.
    let _ = bridge.child.kill();
    let _ = bridge.child.wait();
    assert!(bridge.socket.exists());
    let again = Bridge::start(&daemon, &[]);
    assert_eq!(
        supervisorctl(&again.url(), &["pid"]).lines(),
        [daemon.daemon_pid().to_string()]
    );
}
