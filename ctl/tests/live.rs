//! taskmasterctl and the shipped plugins against a real taskmasterd: the
//! event stream during a restart, `taskmasterctl wait`, a supervisord
//! config imported with `taskmasterctl import` and then run, and `fg` in a
//! terminal. The binaries are
//! the workspace's, beside taskmasterctl (`cargo test --workspace` builds them).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(15);

fn bin(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_taskmasterctl"))
        .parent()
        .expect("binaries live in a directory");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (cargo build --workspace)",
        path.display()
    );
    path
}

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tmctl-live-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        // The broker, never root, writes its logs here.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .expect("chmod temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A taskmasterd in its own directory, stopped with SIGTERM on drop.
struct Daemon {
    child: Child,
    config: PathBuf,
    dir: TempDir,
}

impl Daemon {
    /// Starts taskmasterd with `programs` (TOML) under the usual test settings.
    fn start(programs: &str) -> Daemon {
        let dir = TempDir::new();
        let config = dir.0.join("taskmaster.conf.toml");
        let d = dir.0.display();
        std::fs::write(
            &config,
            format!(
                "[unix_http_server]\nfile = \"{d}/t.sock\"\n\
                 [taskmasterd]\nnodaemon = true\nchildlogdir = \"{d}\"\nlogfile = \"{d}/taskmasterd.log\"\n\n{programs}"
            ),
        )
        .expect("write the config");
        Daemon::start_with(dir, config)
    }

    fn start_with(dir: TempDir, config: PathBuf) -> Daemon {
        let log = std::fs::File::create(dir.0.join("taskmasterd.out")).expect("daemon output");
        let child = Command::new(bin("taskmasterd"))
            .arg("-n")
            .arg("-c")
            .arg(&config)
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("start taskmasterd");
        let daemon = Daemon { child, config, dir };
        daemon.until("taskmasterd answers", |d| {
            d.ctl(&["pid"]).status.code() == Some(0)
        });
        daemon
    }

    fn ctl(&self, args: &[&str]) -> Output {
        self.ctl_command(args).output().expect("run taskmasterctl")
    }

    fn ctl_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(bin("taskmasterctl"));
        let path = format!(
            "{}:{}",
            bin("taskmasterctl-wait").parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        command
            .arg("-c")
            .arg(&self.config)
            .args(args)
            .env("PATH", path)
            .env_remove("TASKMASTER_SERVER_URL")
            .env_remove("TASKMASTER_CONFIG");
        command
    }

    /// Polls `check` until it holds, or panics with what the daemon logged.
    fn until(&self, what: &str, check: impl Fn(&Daemon) -> bool) {
        let start = Instant::now();
        while !check(self) {
            if start.elapsed() > DEADLINE {
                let log =
                    std::fs::read_to_string(self.dir.0.join("taskmasterd.out")).unwrap_or_default();
                panic!("gave up waiting until {what}; taskmasterd said:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn status(&self) -> String {
        String::from_utf8_lossy(&self.ctl(&["status"]).stdout).into_owned()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Lines of a child's stdout, as they come.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

const SLEEPER: &str =
    "[programs.web]\ncommand = \"/bin/sleep\"\nargs = [\"1000\"]\nstartsecs = 0\n";

#[test]
fn events_stream_a_restart() {
    let daemon = Daemon::start(SLEEPER);
    daemon.until("web runs", |d| d.status().contains("RUNNING"));
    let mut events = daemon
        .ctl_command(&["events", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start events");
    let lines = lines_of(&mut events);
    // `events` prints nothing until the first change, so the subscription may
    // not be in place when the first restart happens: restart until a whole
    // restart is seen (the first one usually is).
    let whole = [
        "RUNNING -> STOPPING",
        "STOPPING -> STOPPED",
        "STOPPED -> STARTING",
        "STARTING -> RUNNING",
    ];
    let start = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    while !seen.ends_with(&whole.map(String::from)) {
        assert!(
            start.elapsed() < DEADLINE,
            "never saw a whole restart; last saw {seen:?}"
        );
        let output = daemon.ctl(&["restart", "web"]);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        // This restart's events, up to its RUNNING. The restart has already
        // happened: if the subscription missed it, nothing comes within a
        // few seconds and the next round restarts again.
        seen.clear();
        let round = Instant::now() + Duration::from_secs(3);
        while seen.last().map(String::as_str) != Some("STARTING -> RUNNING") {
            let left = round.saturating_duration_since(Instant::now());
            let Ok(line) = lines.recv_timeout(left) else {
                break;
            };
            let event: serde_json::Value = serde_json::from_str(&line).expect("JSON lines");
            assert!(event["seq"].as_u64().is_some() && event["time_ms"].as_u64().is_some());
            assert_eq!(event["name"], "web", "{event}");
            seen.push(format!(
                "{} -> {}",
                event["from"].as_str().unwrap(),
                event["to"].as_str().unwrap()
            ));
        }
    }
    let _ = events.kill();
    let _ = events.wait();
}

#[test]
fn wait_returns_when_the_state_is_reached_and_names_laggards() {
    let daemon = Daemon::start(&format!("{SLEEPER}autostart = false\n"));
    let waiter = daemon
        .ctl_command(&["wait", "web", "--timeout", "15s"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wait");
    let output = daemon.ctl(&["start", "web"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let waited = waiter.wait_with_output().expect("wait ends");
    assert_eq!(waited.status.code(), Some(0), "{}", text(&waited.stderr));

    let output = daemon.ctl(&["wait", "web", "--state", "stopped", "--timeout", "300ms"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "taskmasterctl-wait: timed out after 300ms waiting for STOPPED: web is RUNNING\n"
    );

    let output = daemon.ctl(&["wait", "nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("nope"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_supervisord_config_is_imported_and_runs() {
    let dir = TempDir::new();
    std::fs::create_dir(dir.0.join("conf.d")).unwrap();
    std::fs::write(
        dir.0.join("supervisord.conf"),
        "; a supervisord config\n\
         [unix_http_server]\nfile = %(here)s/s.sock\nchmod = 0700\n\n\
         [supervisord]\nnodaemon = true\nlogfile = %(here)s/supervisord.log\n\
         childlogdir = %(here)s\nlogfile_maxbytes = 50MB\n\n\
         [supervisorctl]\nserverurl = unix://%(here)s/s.sock\n\n\
         [program:worker]\ncommand = /bin/sleep 1000\nnumprocs = 2\n\
         process_name = %(program_name)s_%(process_num)02d\nstartsecs = 0\n\
         stdout_events_enabled = true\n\n\
         [include]\nfiles = conf.d/*.conf\n",
    )
    .unwrap();
    std::fs::write(
        dir.0.join("conf.d/api.conf"),
        "[program:api]\ncommand = /bin/sleep 1000\nstartsecs = 0\n\
         [group:backend]\nprograms = api\n",
    )
    .unwrap();
    let output = Command::new(bin("taskmasterctl"))
        .args(["import", "supervisord.conf", "-o", "taskmaster.conf.toml"])
        .current_dir(&dir.0)
        .env(
            "PATH",
            format!(
                "{}:/usr/bin:/bin",
                bin("taskmasterctl-import").parent().unwrap().display()
            ),
        )
        .output()
        .expect("run import");
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let warnings = text(&output.stderr);
    // logfile_maxbytes and the process_name template are carried over;
    // the events key is not, which is said.
    assert!(
        warnings.contains("stdout_events_enabled"),
        "a warning about stdout_events_enabled:\n{warnings}"
    );
    assert_eq!(warnings.lines().count(), 1, "{warnings}");
    let config = dir.0.join("taskmaster.conf.toml");
    let daemon = Daemon::start_with(dir, config);
    daemon.until("the imported programs run", |d| {
        d.ctl(&["status"]).status.code() == Some(0)
    });
    let status = daemon.status();
    let names: Vec<&str> = status
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        names,
        ["api", "worker:worker_00", "worker:worker_01"],
        "{status}"
    );
    let output = daemon.ctl(&["status", "backend:*"]);
    assert!(
        text(&output.stdout).starts_with("api "),
        "{}",
        text(&output.stdout)
    );
}

#[test]
fn fg_in_a_terminal_echoes_typed_lines_and_detaches_on_ctrl_c() {
    let program = bin("tm-testprog");
    let daemon = Daemon::start(&format!(
        "[programs.repl]\ncommand = \"{}\"\nargs = [\"--echo-stdin\"]\nstartsecs = 0\n",
        program.display()
    ));
    daemon.until("repl runs", |d| d.status().contains("RUNNING"));
    let mut command = daemon.ctl_command(&["fg", "repl"]);
    command.env("TERM", "xterm").env("NO_COLOR", "1");
    let options = rexpect::reader::Options::new()
        .timeout_ms(Some(DEADLINE.as_millis() as u64))
        .strip_ansi_escape_codes(true);
    let mut session =
        rexpect::session::spawn_with_options(command, options).expect("spawn fg in a pty");
    session
        .exp_string("attached to repl")
        .expect("fg says it is attached");
    session.send_line("typed on a tty").unwrap();
    // The terminal echoes the line as typed; the program's own echo is prefixed.
    session
        .exp_string("stdin=typed on a tty")
        .expect("the program's echo on screen");
    session.send_control('c').unwrap();
    session
        .exp_string("detached from repl (it keeps running)")
        .expect("Ctrl-C detaches");
    session.exp_eof().expect("fg exits");
    match session.process().wait() {
        Ok(rexpect::process::WaitStatus::Exited(_, code)) => assert_eq!(code, 0),
        other => panic!("fg ended with {other:?}"),
    }
    assert!(daemon.status().contains("RUNNING"), "{}", daemon.status());
}
