//! supervisord itself, from PyPI, as the oracle of the importer's tests:
//! what process names it shows, what argv and output its programs get,
//! which configs it refuses. Installed once into a virtualenv under
//! target/ (`.ci/run` does it ahead; a test run does it when missing).
//! Without PyPI the tests fail with a message that says so: they never
//! pass without comparing.

use crate::harness::{bin_dir, Output, MARKER_VAR};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What is installed from PyPI: the supervisord compared against, and the
/// event listeners run through taskmasterctl-eventlistener; `.ci/run`
/// installs the same.
const PACKAGES: [&str; 2] = ["supervisor==4.3.0", "superlance==2.0.0"];

/// How long supervisord gets to answer, start its programs or exit: a
/// Python daemon on a loaded test machine takes seconds to start.
pub const ORACLE_WAIT: Duration = Duration::from_secs(30);

/// The virtualenv's bin directory (supervisord, supervisorctl, superlance's
/// listeners), installed on first use.
pub fn venv_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let venv = bin_dir()
            .parent()
            .expect("target/debug has a parent")
            .join("supervisord-venv");
        let bin = venv.join("bin");
        if !bin.join("supervisord").is_file() || !bin.join("httpok").is_file() {
            install(&venv);
        }
        bin
    })
}

fn install(venv: &Path) {
    let run = |command: &mut Command, what: &str| {
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
        assert!(
            output.status.success(),
            "{what} failed: these tests compare with supervisord and run superlance from PyPI \
             ({}), installed into {}; reach PyPI (or run .ci/run, which installs them). Its output:\n{}{}",
            PACKAGES.join(" "),
            venv.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    };
    run(
        Command::new("python3").arg("-m").arg("venv").arg(venv),
        "python3 -m venv",
    );
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet"])
            .args(PACKAGES),
        "pip install supervisor superlance",
    );
}

/// A supervisord running a config in the foreground; shut down on drop.
pub struct Supervisord {
    child: Child,
    config: PathBuf,
    /// Where its stdout and stderr go.
    pub output: PathBuf,
}

impl Supervisord {
    /// Starts `supervisord -n -c config` with `env`, marked for the test
    /// directory `dir`'s sweep, and waits until supervisorctl reaches it.
    pub fn start(config: &Path, dir: &Path, env: &[(&str, &str)]) -> Supervisord {
        let mut supervisord = Supervisord::spawn(config, dir, env);
        supervisord.wait_until("supervisorctl reaches it", |s| {
            let status = s.ctl(&["status"]);
            // 0: all running, 3: some not; 4: not reachable (yet).
            status.code == 0 || status.code == 3
        });
        supervisord
    }

    /// Starts it without waiting for it to answer.
    pub fn spawn(config: &Path, dir: &Path, env: &[(&str, &str)]) -> Supervisord {
        let output = config.with_file_name("supervisord.out");
        let out = std::fs::File::create(&output).expect("supervisord.out");
        let child = Command::new(venv_bin().join("supervisord"))
            .arg("-n")
            .arg("-c")
            .arg(config)
            .env(MARKER_VAR, dir)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .spawn()
            .expect("cannot start supervisord");
        Supervisord {
            child,
            config: config.to_path_buf(),
            output,
        }
    }

    /// Runs supervisorctl on this config.
    pub fn ctl(&self, args: &[&str]) -> Output {
        ctl(&self.config, args)
    }

    /// The process names `supervisorctl status` shows, once none is
    /// STARTING, sorted.
    pub fn names(&mut self) -> Vec<String> {
        self.wait_until("no process is STARTING", |s| {
            !s.ctl(&["status"]).stdout.contains("STARTING")
        });
        status_names(&self.ctl(&["status"]))
    }

    /// Its exit code once it exits by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waitpid supervisord") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "supervisord still runs {timeout:?} later; its output:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What it printed on stdout and stderr so far.
    pub fn text(&self) -> String {
        std::fs::read_to_string(&self.output).unwrap_or_default()
    }

    fn wait_until(&mut self, what: &str, mut done: impl FnMut(&mut Self) -> bool) {
        let deadline = Instant::now() + ORACLE_WAIT;
        while !done(self) {
            if let Some(status) = self.child.try_wait().expect("waitpid supervisord") {
                panic!(
                    "supervisord exited ({status}) before {what}:\n{}",
                    self.text()
                );
            }
            assert!(
                Instant::now() < deadline,
                "supervisord: not {what} within {ORACLE_WAIT:?}; its output:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.ctl(&["shutdown"]);
            let deadline = Instant::now() + ORACLE_WAIT;
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The process names of a `status` output (supervisorctl's or
/// taskmasterctl's: the first word of each line), sorted.
pub fn status_names(status: &Output) -> Vec<String> {
    let mut names: Vec<String> = status
        .lines()
        .iter()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

/// Runs supervisorctl on `config`.
pub fn ctl(config: &Path, args: &[&str]) -> Output {
    let output = Command::new(venv_bin().join("supervisorctl"))
        .arg("-c")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run supervisorctl");
    Output::from_std(output)
}

/// Runs `supervisord -n -c config` expecting it to refuse the config and
/// exit by itself: its output and exit code.
pub fn refused(config: &Path, dir: &Path) -> Output {
    let mut child = Command::new(venv_bin().join("supervisord"))
        .arg("-n")
        .arg("-c")
        .arg(config)
        .env(MARKER_VAR, dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start supervisord");
    let deadline = Instant::now() + ORACLE_WAIT;
    while child.try_wait().expect("waitpid supervisord").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("supervisord accepted {} and runs", config.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Output::from_std(child.wait_with_output().expect("supervisord output"))
}
