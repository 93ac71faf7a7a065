//! The test harness: a real taskmasterd in a fresh temporary directory, a
//! taskmasterctl runner, protocol requests, and polling helpers that wait
//! with a deadline and say what they last saw when it passes.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use taskmaster_protocol::{Client, Request};

/// How long a daemon gets to answer its first `status`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a daemon gets to exit after SIGTERM before SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The default deadline of the `wait_*` helpers.
pub const WAIT: Duration = Duration::from_secs(10);
/// How often the helpers look again.
const POLL: Duration = Duration::from_millis(25);

/// Set in taskmasterd's environment, so inherited by everything it starts:
/// the drop sweep finds strays by it.
pub const MARKER_VAR: &str = "TM_E2E_DIR";

/// What a command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    /// The exit code, or 128 + signal when killed.
    pub code: i32,
}

impl Output {
    pub fn from_std(output: std::process::Output) -> Output {
        Output {
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            code: exit_code(output.status),
        }
    }

    /// The non-empty lines of stdout, trimmed.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The directory of the binaries under test: cargo builds tm-testprog for
/// this test, and the workspace's binaries live beside it.
pub fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_tm-testprog"))
        .parent()
        .expect("the test program lives in a directory")
        .to_path_buf()
}

pub fn testprog() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tm-testprog"))
}

fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `cargo build` (the whole workspace) before the e2e tests",
        path.display()
    );
    path
}

/// A unique directory under /tmp, removed on drop unless the test failed
/// (then it is kept and its path printed, for the post-mortem).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        // Short on purpose: a socket path must fit in 108 bytes.
        let path = PathBuf::from(format!("/tmp/tme2e-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(path.join("logs")).expect("cannot create the test directory under /tmp");
        // Programs may run as another user (user switching tests) and write
        // here, and so does the broker, which is never root.
        set_mode(&path, 0o777);
        set_mode(&path.join("logs"), 0o777);
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("test directory kept for inspection: {}", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
}

/// How to set up a daemon before starting it. Config text may use `@DIR@`
/// (the test directory) and `@PROG@` (the tm-testprog path).
pub struct Builder {
    dir: TempDir,
    body: String,
    server: String,
    daemon: String,
    socket: Option<PathBuf>,
    env: Vec<(String, String)>,
    own_process_group: bool,
    ignored_signals: Option<String>,
}

impl Builder {
    pub fn new(body: &str) -> Builder {
        Builder {
            dir: TempDir::new(),
            body: body.to_string(),
            server: String::new(),
            daemon: String::new(),
            socket: None,
            env: Vec::new(),
            own_process_group: false,
            ignored_signals: None,
        }
    }

    /// Starts taskmasterd with `signals` (`"SIGHUP SIGCHLD"`) ignored, as
    /// `nohup` or a careless parent leaves them: through python3, which
    /// ignores them and execs it, so that its pid is taskmasterd's (a shell
    /// cannot ignore SIGCHLD for its children).
    pub fn ignoring_signals(mut self, signals: &str) -> Builder {
        self.ignored_signals = Some(signals.to_string());
        self
    }

    /// Starts taskmasterd in a process group of its own, as a shell does
    /// for a foreground job: a test can then send the group what a
    /// terminal's Ctrl-C sends, without hitting the test runner.
    pub fn own_process_group(mut self) -> Builder {
        self.own_process_group = true;
        self
    }

    /// The test directory, to create files in before the daemon starts.
    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    /// Extra lines for `[unix_http_server]`.
    pub fn server(mut self, lines: &str) -> Builder {
        self.server = lines.to_string();
        self
    }

    /// Extra lines for `[taskmasterd]`.
    pub fn daemon(mut self, lines: &str) -> Builder {
        self.daemon = lines.to_string();
        self
    }

    /// Use this socket instead of the test directory's own.
    pub fn socket(mut self, path: &Path) -> Builder {
        self.socket = Some(path.to_path_buf());
        self
    }

    /// An environment variable for taskmasterd.
    pub fn env(mut self, key: &str, value: &str) -> Builder {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    fn expand(&self, text: &str) -> String {
        text.replace("@DIR@", &self.dir.0.display().to_string())
            .replace("@PROG@", &testprog().display().to_string())
    }

    fn socket_path(&self) -> PathBuf {
        self.socket
            .clone()
            .unwrap_or_else(|| self.dir.0.join("t.sock"))
    }

    fn write_config(&self) -> PathBuf {
        let dir = &self.dir.0;
        let socket = self.socket_path();
        let text = format!(
            "[unix_http_server]\nfile = \"{socket}\"\n{server}\n\n\
             [taskmasterd]\nnodaemon = true\nchildlogdir = \"{dir}/logs\"\n\
             logfile = \"{dir}/taskmasterd.log\"\npidfile = \"{dir}/taskmasterd.pid\"\n{daemon}\n\n\
             [taskmasterctl]\nserverurl = \"unix://{socket}\"\n\n{body}\n",
            socket = socket.display(),
            dir = dir.display(),
            server = self.expand(&self.server),
            daemon = self.expand(&self.daemon),
            body = self.expand(&self.body),
        );
        let path = dir.join("taskmaster.conf.toml");
        fs::write(&path, text).expect("cannot write the test config");
        path
    }

    fn command(&self, config: &Path) -> Command {
        let dir = &self.dir.0;
        let mut command = match &self.ignored_signals {
            None => Command::new(binary("taskmasterd")),
            Some(signals) => {
                let mut python = Command::new("python3");
                python
                    .arg("-c")
                    .arg(
                        "import os, signal, sys\n\
                         for name in sys.argv[1].split():\n    \
                         signal.signal(getattr(signal, name), signal.SIG_IGN)\n\
                         os.execv(sys.argv[2], sys.argv[2:])",
                    )
                    .arg(signals)
                    .arg(binary("taskmasterd"));
                python
            }
        };
        command
            .args(["-n", "-c"])
            .arg(config)
            .env(MARKER_VAR, dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(dir)
            .stdin(Stdio::null());
        if self.own_process_group {
            use std::os::unix::process::CommandExt;
            command.process_group(0);
        }
        command
    }

    /// Starts taskmasterd and waits until `taskmasterctl status` answers.
    pub fn start(self) -> TestDaemon {
        self.start_after(|_| {})
    }

    /// Like [`Builder::start`], but first calls `prepare` with the path of
    /// the config written, so that a test can lay it out differently (as a
    /// symlink, say) before the daemon reads it.
    pub fn start_after(self, prepare: impl FnOnce(&Path)) -> TestDaemon {
        let mut daemon = self.launch(prepare);
        daemon.wait_ready();
        daemon
    }

    /// Starts taskmasterd without waiting for its socket to answer (its
    /// broker may be a stand-in that serves none).
    pub fn start_unready(self) -> TestDaemon {
        self.launch(|_| {})
    }

    /// [`Builder::start_unready`] after `prepare`, as in
    /// [`Builder::start_after`].
    pub fn start_unready_after(self, prepare: impl FnOnce(&Path)) -> TestDaemon {
        self.launch(prepare)
    }

    fn launch(self, prepare: impl FnOnce(&Path)) -> TestDaemon {
        let config = self.write_config();
        prepare(&config);
        let dir = &self.dir.0;
        let out =
            fs::File::create(dir.join("taskmasterd.out")).expect("cannot create taskmasterd.out");
        let err = out.try_clone().expect("cannot dup taskmasterd.out");
        let child = self
            .command(&config)
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("cannot start taskmasterd");
        let socket = self.socket_path();
        TestDaemon {
            child: Some(child),
            exit: None,
            config,
            socket,
            env: self.env,
            dir: self.dir,
        }
    }

    /// Starts taskmasterd expecting it to exit by itself (a refused start):
    /// its output and exit code. Panics if it is still running after the
    /// deadline.
    pub fn start_expecting_failure(&self) -> Output {
        let config = self.write_config();
        let command = self.command(&config);
        run_to_exit(command, &self.dir.0)
    }

    /// Writes the config and runs `taskmasterd --check -c CONFIG` on it.
    pub fn check(&self) -> Output {
        let config = self.write_config();
        self.start_with_args(&["--check", "-c", &config.display().to_string()])
    }

    /// Runs taskmasterd with exactly these arguments, expecting it to exit.
    pub fn start_with_args(&self, args: &[&str]) -> Output {
        let mut command = Command::new(binary("taskmasterd"));
        command
            .args(args)
            .env(MARKER_VAR, &self.dir.0)
            .current_dir(&self.dir.0);
        run_to_exit(command, &self.dir.0)
    }
}

fn run_to_exit(mut command: Command, dir: &Path) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start taskmasterd");
    let deadline = Instant::now() + READY_TIMEOUT;
    while child.try_wait().expect("waitpid on taskmasterd").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = Output::from_std(child.wait_with_output().expect("taskmasterd output"));
            kill_strays(dir);
            panic!("taskmasterd was expected to exit by itself but still runs: {output:?}");
        }
        std::thread::sleep(POLL);
    }
    let output = Output::from_std(child.wait_with_output().expect("taskmasterd output"));
    kill_strays(dir);
    output
}

/// A running taskmasterd in its own directory. Dropping it stops the daemon
/// and kills whatever it left behind.
pub struct TestDaemon {
    child: Option<Child>,
    /// How the daemon ended, once it has.
    exit: Option<i32>,
    config: PathBuf,
    socket: PathBuf,
    /// taskmasterd's extra environment, for a restart.
    env: Vec<(String, String)>,
    dir: TempDir,
}

impl TestDaemon {
    /// SIGKILLs taskmasterd, waits for its broker to follow (its
    /// parent-death signal), and starts a new taskmasterd on the same
    /// config and directory, as a service manager's restart would; its
    /// output goes on in taskmasterd.out.
    pub fn kill_and_restart(&mut self) {
        let brokers: Vec<i32> = children_of(self.daemon_pid())
            .into_iter()
            .filter(|&pid| argv0(pid).ends_with("taskmaster-broker"))
            .collect();
        let mut child = self.child.take().expect("taskmasterd runs");
        let _ = child.kill();
        let _ = child.wait();
        let deadline = Instant::now() + WAIT;
        while brokers.iter().any(|&pid| exists(pid)) {
            assert!(Instant::now() < deadline, "the broker outlived taskmasterd");
            std::thread::sleep(POLL);
        }
        let out = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.0.join("taskmasterd.out"))
            .expect("taskmasterd.out");
        let err = out.try_clone().expect("cannot dup taskmasterd.out");
        let child = Command::new(binary("taskmasterd"))
            .args(["-n", "-c"])
            .arg(&self.config)
            .env(MARKER_VAR, &self.dir.0)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir.0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("cannot start taskmasterd again");
        self.child = Some(child);
        self.exit = None;
        self.wait_ready();
    }

    /// Starts a daemon with this config body (programs, groups...).
    pub fn start(body: &str) -> TestDaemon {
        Builder::new(body).start()
    }

    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The config file taskmasterd was started with (`-c`).
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// taskmasterd's pid.
    pub fn daemon_pid(&self) -> i32 {
        let child = self
            .child
            .as_ref()
            .expect("the daemon was already waited for");
        i32::try_from(child.id()).expect("pids fit in i32")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(code) = self.try_exit() {
                panic!(
                    "taskmasterd exited with {code} before answering; its output:\n{}",
                    self.file_text("taskmasterd.out")
                );
            }
            let out = self.ctl(&["status"]);
            // 0 or 3: it answered (3 = some process not RUNNING yet).
            if out.code == 0 || out.code == 3 {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "taskmasterd did not answer `status` within {READY_TIMEOUT:?}; last ctl: {out:?}\n\
                     taskmasterd output:\n{}",
                    self.file_text("taskmasterd.out")
                );
            }
            std::thread::sleep(POLL * 2);
        }
    }

    /// The daemon's exit code if it has exited (reaping it).
    pub fn try_exit(&mut self) -> Option<i32> {
        if self.exit.is_none() {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait().expect("waitpid on taskmasterd") {
                    self.exit = Some(exit_code(status));
                }
            }
        }
        self.exit
    }

    /// Waits for the daemon to exit by itself; its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(code) = self.try_exit() {
                return code;
            }
            if Instant::now() > deadline {
                panic!(
                    "taskmasterd still running {timeout:?} later; its output:\n{}",
                    self.file_text("taskmasterd.out")
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// Runs `taskmasterctl -c <config> ARGS...` as a user would type it.
    pub fn ctl(&self, args: &[&str]) -> Output {
        run_ctl(&[&["-c", &self.config.display().to_string()], args].concat())
    }

    /// Sends one request through the protocol crate's client; the reply as
    /// JSON. Panics when the daemon cannot be reached.
    pub fn request(&self, request: Value) -> Value {
        self.try_request(request.clone())
            .unwrap_or_else(|e| panic!("request {request} failed: {e}"))
    }

    pub fn try_request(&self, request: Value) -> Result<Value, String> {
        let request: Request =
            serde_json::from_value(request).map_err(|e| format!("bad test request: {e}"))?;
        let mut client = Client::connect(&self.socket).map_err(|e| e.to_string())?;
        let reply = client.request(&request).map_err(|e| e.to_string())?;
        serde_json::to_value(reply).map_err(|e| e.to_string())
    }

    /// Every process as the `status` reply lists it.
    pub fn processes(&self) -> Vec<Value> {
        let reply = self.request(serde_json::json!({"command": "status"}));
        assert_eq!(reply["status"], 200, "status failed: {reply}");
        reply["content"]["processes"]
            .as_array()
            .unwrap_or_else(|| panic!("status reply without processes: {reply}"))
            .clone()
    }

    /// One process from `status`; panics if it is not listed.
    pub fn process(&self, name: &str) -> Value {
        let all = self.processes();
        all.iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no process '{name}' in status: {all:#?}"))
    }

    pub fn state(&self, name: &str) -> String {
        self.process(name)["state"]
            .as_str()
            .unwrap_or("?")
            .to_string()
    }

    /// The pid `status` gives for a process; panics when it has none.
    pub fn pid(&self, name: &str) -> i32 {
        let process = self.process(name);
        process["pid"]
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or_else(|| panic!("'{name}' has no pid: {process}"))
    }

    /// Polls until `name` is in `state`; panics with the last status seen.
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let process = self.process(name);
            if process["state"] == state {
                return process;
            }
            if Instant::now() > deadline {
                panic!(
                    "'{name}' not {state} after {timeout:?}; last status: {process}\nactivity log:\n{}",
                    self.file_text("taskmasterd.log")
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The content of a `status` reply for every process.
    pub fn status_content(&self) -> Value {
        let reply = self.request(serde_json::json!({"command": "status"}));
        assert_eq!(reply["status"], 200, "status failed: {reply}");
        reply["content"].clone()
    }

    /// The pid of every process that has one, by name.
    pub fn pids(&self) -> BTreeMap<String, i32> {
        self.processes()
            .iter()
            .filter_map(|p| {
                let pid = i32::try_from(p["pid"].as_i64()?).ok()?;
                Some((p["name"].as_str()?.to_string(), pid))
            })
            .collect()
    }

    /// Polls until `name` is RUNNING with a pid other than `old`; that pid.
    pub fn wait_new_pid(&self, name: &str, old: i32, timeout: Duration) -> i32 {
        let mut pid = None;
        self.wait_for(
            &format!("'{name}' RUNNING with a pid other than {old}"),
            timeout,
            || {
                let all = self.processes();
                pid = all
                    .iter()
                    .find(|p| p["name"] == name && p["state"] == "RUNNING")
                    .and_then(|p| p["pid"].as_i64())
                    .and_then(|p| i32::try_from(p).ok())
                    .filter(|&p| p != old);
                pid.is_some()
            },
        );
        pid.expect("set when the wait ends")
    }

    /// Polls until `status` lists `name` in `state`; unlike
    /// [`TestDaemon::wait_state`], `name` may not be listed yet (a program
    /// a reload adds).
    pub fn wait_listed(&self, name: &str, state: &str, timeout: Duration) {
        self.wait_for(&format!("'{name}' listed as {state}"), timeout, || {
            self.processes()
                .iter()
                .any(|p| p["name"] == name && p["state"] == state)
        });
    }

    /// Polls until `status` no longer lists `name`.
    pub fn wait_absent(&self, name: &str, timeout: Duration) {
        self.wait_for(&format!("'{name}' gone from status"), timeout, || {
            !self.processes().iter().any(|p| p["name"] == name)
        });
    }

    /// Subscribes to the event stream; events published from now on are seen.
    pub fn events(&self) -> EventStream {
        EventStream::subscribe(&self.socket)
    }

    /// Polls `cond` until it is true; panics with `what` and the last status.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond() {
            if Instant::now() > deadline {
                let status = self.try_request(serde_json::json!({"command": "status"}));
                panic!("timed out after {timeout:?} waiting for {what}; last status: {status:?}");
            }
            std::thread::sleep(POLL);
        }
    }

    /// A child log file's text (`web.stdout` in childlogdir); empty when absent.
    pub fn log_text(&self, file: &str) -> String {
        self.file_text(&format!("logs/{file}"))
    }

    /// Polls until the log file has a line equal to `line`; the whole text.
    pub fn wait_log_line(&self, file: &str, line: &str) -> String {
        let mut text = String::new();
        self.wait_for(&format!("line '{line}' in {file}"), WAIT, || {
            text = self.log_text(file);
            text.lines().any(|l| l == line)
        });
        text
    }

    /// A file of the test directory, by relative path; empty when absent.
    pub fn file_text(&self, relative: &str) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(self.dir.0.join(relative)) {
            let _ = file.read_to_string(&mut text);
        }
        text
    }

    /// Sends `signal` to taskmasterd.
    pub fn signal_daemon(&self, signal: Signal) {
        kill(Pid::from_raw(self.daemon_pid()), signal).expect("cannot signal taskmasterd");
    }

    /// The taskmaster-broker child of taskmasterd, if one runs.
    pub fn broker_pid(&self) -> Option<i32> {
        children_of(self.daemon_pid())
            .into_iter()
            .find(|&pid| argv0(pid).ends_with("taskmaster-broker"))
    }

    /// SIGKILLs the broker and waits until taskmasterd's new one answers.
    pub fn kill_broker(&self) {
        let broker = self.broker_pid().expect("a broker runs");
        kill(Pid::from_raw(broker), Signal::SIGKILL).expect("kill -9 the broker");
        self.wait_for("a new broker that answers status", WAIT, || {
            self.broker_pid().is_some_and(|b| b != broker)
                && self
                    .try_request(serde_json::json!({"command": "status"}))
                    .is_ok()
        });
    }

    fn stop(&mut self) {
        if self.try_exit().is_none() {
            let _ = kill(Pid::from_raw(self.daemon_pid()), Signal::SIGTERM);
            let deadline = Instant::now() + STOP_TIMEOUT;
            while self.try_exit().is_none() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            if self.try_exit().is_none() {
                if let Some(child) = self.child.as_mut() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        kill_strays(&self.dir.0);
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- taskmasterd output ---\n{}\n--- activity log ---\n{}",
                self.file_text("taskmasterd.out"),
                self.file_text("taskmasterd.log")
            );
        }
        self.stop();
    }
}

/// An `events` subscription, read with a deadline.
pub struct EventStream {
    reader: BufReader<UnixStream>,
    /// A line read in part when a read timed out.
    partial: String,
}

impl EventStream {
    fn subscribe(socket: &Path) -> EventStream {
        let mut stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
        stream
            .write_all(b"{\"command\": \"events\"}\n")
            .expect("cannot send the events request");
        stream
            .set_read_timeout(Some(POLL))
            .expect("cannot set a read timeout");
        let mut events = EventStream {
            reader: BufReader::new(stream),
            partial: String::new(),
        };
        // The daemon subscribes before it replies: once the reply is read,
        // nothing published later is missed.
        let reply = events.next(WAIT).expect("no reply to the events request");
        assert_eq!(reply["status"], 200, "events refused: {reply}");
        events
    }

    /// The next line, or `None` when `timeout` passes first.
    fn next(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.reader.read_line(&mut self.partial) {
                Ok(0) => panic!("the daemon closed the event stream"),
                Ok(_) if self.partial.ends_with('\n') => {
                    let line = std::mem::take(&mut self.partial);
                    return Some(
                        serde_json::from_str(&line)
                            .unwrap_or_else(|e| panic!("bad event line {line:?}: {e}")),
                    );
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("reading the event stream: {e}"),
            }
            if Instant::now() > deadline {
                return None;
            }
        }
    }

    /// Reads events until one satisfies `wanted`; panics with what it saw
    /// when `timeout` passes first.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        mut wanted: impl FnMut(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Some(event) if wanted(&event) => return event,
                Some(event) => seen.push(event),
                None => panic!("no event {what} within {timeout:?}; saw: {seen:#?}"),
            }
        }
    }

    /// Waits for the next `reload` event; it says whether the config was
    /// applied (`ok`) and, if not, its `errors`.
    pub fn wait_reload(&mut self, timeout: Duration) -> Value {
        self.wait_for("reload", timeout, |e| e["event"] == "reload")
    }
}

/// Runs taskmasterctl with exactly these arguments.
pub fn run_ctl(args: &[&str]) -> Output {
    let output = Command::new(binary("taskmasterctl"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run taskmasterctl");
    Output::from_std(output)
}

/// SIGKILLs every process whose environment or command line names `dir`:
/// programs, grandchildren and brokers a test left behind. Matches are
/// exact (`/tmp/tme2e-1-1` must not match `/tmp/tme2e-1-10`, a live test).
fn kill_strays(dir: &Path) {
    let marker = format!("{MARKER_VAR}={}", dir.display());
    let inside = format!("{}/", dir.display());
    let Ok(entries) = fs::read_dir("/proc") else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me as i32 {
            continue;
        }
        let environ = fs::read(entry.path().join("environ")).unwrap_or_default();
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let marked = environ
            .split(|&b| b == 0)
            .any(|var| var == marker.as_bytes());
        let names_dir = cmdline
            .split(|&b| b == 0)
            .any(|arg| String::from_utf8_lossy(arg).contains(&inside));
        if marked || names_dir {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// True while `/proc/<pid>` exists at all (zombies included): false once
/// the process has been reaped.
pub fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The parent pid of `pid` from /proc.
pub fn parent_of(pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The children of `pid`, from every thread's `children` list.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut children = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return children;
    };
    for task in tasks.flatten() {
        let text = fs::read_to_string(task.path().join("children")).unwrap_or_default();
        children.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok()),
        );
    }
    children
}

/// argv[0] of `pid`.
pub fn argv0(pid: i32) -> String {
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let first = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    String::from_utf8_lossy(first).into_owned()
}

/// The value of the first `key=value` line of `text` for `key`.
pub fn value_of<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

/// Creates system user `tmtest` if absent (root only); its uid and gid.
pub fn test_user() -> (u32, u32) {
    static CREATED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    CREATED.get_or_init(|| {
        if nix::unistd::User::from_name("tmtest")
            .ok()
            .flatten()
            .is_none()
        {
            let status = Command::new("useradd")
                .args(["-r", "-M", "-s", "/usr/sbin/nologin", "tmtest"])
                .status()
                .expect("cannot run useradd");
            assert!(status.success(), "useradd tmtest failed: {status}");
        }
    });
    let user = nix::unistd::User::from_name("tmtest")
        .ok()
        .flatten()
        .expect("user tmtest exists after useradd");
    (user.uid.as_raw(), user.gid.as_raw())
}

/// True when the tests run as root; otherwise prints why a test is skipped.
pub fn is_root_or_skip(test: &str) -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("SKIPPED {test}: needs root (CI runs as root)");
    }
    root
}
