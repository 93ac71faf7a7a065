//! What every daemon driver shares: its temporary directory, the daemon
//! process with its clean-up, and the two traits the metrics are written
//! against.

use super::procfs;
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The environment variable set on every daemon the bench starts. Its
/// programs inherit it, so whatever a run leaves behind can be found and killed.
pub const MARKER_KEY: &str = "TASKMASTER_BENCH_RUN";

/// Set to keep each run's directory (config, daemon output, logs) for a post-mortem.
pub const KEEP_KEY: &str = "TASKMASTER_BENCH_KEEP";

/// Every program runs `sleep SLEEP_SECS`; the reload figures change one
/// program's argument to something else.
pub const SLEEP_SECS: &str = "1000000";

/// Programs are named p0000, p0001...: fixed width, so sorted order is start order.
pub fn program_name(i: usize) -> String {
    format!("p{i:04}")
}

/// A fresh directory for one daemon run (config, socket, logs), removed on drop.
pub struct Workdir {
    path: PathBuf,
    id: String,
}

impl Workdir {
    pub fn new(daemon: &str) -> Result<Workdir> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let id = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // Short: a Unix socket path must fit in 108 bytes.
        let path = std::env::temp_dir().join(format!("tmb-{daemon}-{id}"));
        fs::create_dir_all(path.join("logs"))
            .with_context(|| format!("creating {}", path.display()))?;
        // taskmaster-broker is never root: run as root, it must still be
        // able to write the logs here.
        for dir in [path.clone(), path.join("logs")] {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o777))
                .with_context(|| format!("chmod {}", dir.display()))?;
        }
        Ok(Workdir { path, id })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn marker(&self) -> String {
        format!("{MARKER_KEY}={}", self.id)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        if std::env::var_os(KEEP_KEY).is_some() {
            eprintln!("  kept {}", self.path.display());
            return;
        }
        // Best effort: a leftover temp dir is harmless.
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// A daemon started in the foreground as our child. On drop it is killed,
/// with every process of its run, and its directory removed.
pub struct DaemonProcess {
    child: Child,
    exited: bool,
    name: &'static str,
    output: PathBuf,
    workdir: Workdir,
}

impl DaemonProcess {
    /// Spawns `command` with the run's marker in its environment and its
    /// output in `<workdir>/daemon.out`.
    pub fn spawn(name: &'static str, mut command: Command, workdir: Workdir) -> Result<Self> {
        let output = workdir.path().join("daemon.out");
        let out =
            fs::File::create(&output).with_context(|| format!("creating {}", output.display()))?;
        let err = out.try_clone().context("duplicating the output file")?;
        let marker = workdir.marker();
        let (key, value) = marker.split_once('=').unwrap_or((MARKER_KEY, ""));
        let child = command
            .env(key, value)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name} ({command:?})"))?;
        Ok(DaemonProcess {
            child,
            exited: false,
            name,
            output,
            workdir,
        })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// An error, with the end of the daemon's output, if it has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait().context("checking the daemon")? {
            self.exited = true;
            bail!(
                "{} exited early ({status}); its output ends with:\n{}",
                self.name,
                self.output_tail()
            );
        }
        Ok(())
    }

    fn output_tail(&self) -> String {
        let text = fs::read_to_string(&self.output).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Sends SIGTERM and waits until the daemon has exited; returns how long
    /// that took. Errors if it takes more than `limit` (it is then killed).
    pub fn terminate(&mut self, limit: Duration) -> Result<Duration> {
        let pid = Pid::from_raw(self.pid());
        let start = Instant::now();
        kill(pid, Signal::SIGTERM).with_context(|| format!("sending SIGTERM to {}", self.name))?;
        loop {
            if let Some(status) = self.child.try_wait().context("waiting for the daemon")? {
                self.exited = true;
                let took = start.elapsed();
                if !status.success() {
                    eprintln!("  note: {} exited with {status} after SIGTERM", self.name);
                }
                return Ok(took);
            }
            if start.elapsed() > limit {
                bail!("{} did not exit within {limit:?} of SIGTERM", self.name);
            }
            // Fine-grained, and it costs the daemon nothing: it does not talk to it.
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Kills whatever the run left (programs that outlived their daemon);
    /// returns how many were still alive. Call it once the daemon is reaped.
    ///
    /// The bench is a child subreaper ([`become_subreaper`]), so the orphans
    /// are its own children: found by ppid, which unlike the environment can
    /// always be read (even mid-exec), then reaped. The environment marker
    /// catches whatever escaped that.
    pub fn kill_leftovers(&self) -> usize {
        let me = std::process::id() as i32;
        let mut alive = 0;
        loop {
            let orphans = procfs::children_stats(me);
            if orphans.is_empty() {
                break;
            }
            for (pid, stat) in orphans {
                if stat.state != 'Z' {
                    alive += 1;
                }
                let pid = Pid::from_raw(pid);
                let _ = kill(pid, Signal::SIGKILL);
                let _ = waitpid(pid, None);
            }
        }
        alive + procfs::kill_marked(&self.workdir.marker())
    }
}

/// Makes the programs of a daemon that dies our children, so that they are
/// found and reaped however the daemon ended.
pub fn become_subreaper() -> Result<()> {
    nix::sys::prctl::set_child_subreaper(true).context("becoming a child subreaper (prctl)")
}

impl Drop for DaemonProcess {
    fn drop(&mut self) {
        if !self.exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = self.kill_leftovers();
    }
}

/// One supervisor under test: how to get it ready and start it.
pub trait Driver {
    /// The column title.
    fn name(&self) -> &'static str;
    /// Builds or installs what the driver needs; called once.
    fn prepare(&mut self) -> Result<()>;
    /// Writes a config with `n` programs (`sleep 1000000`, startsecs 0,
    /// autorestart) in a fresh directory and starts the daemon in the foreground.
    fn start(&self, n: usize) -> Result<Box<dyn Daemon>>;
    /// A sentence on how readiness and restarts are observed, for the notes.
    fn poll_note(&self) -> String;
    /// The command-line client asking for its help, when the client's
    /// start-up is measured (`None`: not measured).
    fn help_command(&self) -> Option<Command>;
}

/// A running daemon, as the metrics see it.
pub trait Daemon {
    fn process(&mut self) -> &mut DaemonProcess;
    /// The processes whose memory, wake-ups and CPU time are the daemon's.
    fn daemon_pids(&mut self) -> Result<Vec<i32>>;
    /// How many programs the daemon reports RUNNING; `None` while it does
    /// not answer yet (socket not bound).
    fn count_running(&mut self) -> Result<Option<usize>>;
    /// The pid of process `name` if the daemon reports it RUNNING.
    fn running_pid(&mut self, name: &str) -> Result<Option<i32>>;
    /// The command-line client asking for the status of process `name`, or
    /// of every process.
    fn status_command(&self, name: Option<&str>) -> Command;
    /// The bytes of one status request for `name` (or every process) as
    /// the client sends them, and of the reply line, read raw on a fresh
    /// connection; `None` when the daemon has no such line protocol.
    fn status_exchange(&mut self, name: Option<&str>) -> Result<Option<(Vec<u8>, Vec<u8>)>>;
    /// The pid of every process that has one, by name.
    fn pids(&mut self) -> Result<HashMap<String, i32>>;
    /// Saves the config with program `name`'s argument changed to `arg`
    /// (a new file renamed over the old one, as editors do) and does what
    /// a user of this daemon then does to apply it, if anything.
    fn change_args(&mut self, name: &str, arg: &str) -> Result<()>;
    /// One reload of an unchanged config, answered once it is done: how
    /// long it took; `None` when the daemon has no such request.
    fn reload_unchanged(&mut self) -> Result<Option<Duration>>;
}

/// Replaces `old` (which must be there once) by `new` in the config at
/// `path`, saved as an editor does: a new file renamed over the old one.
pub fn edit_config(path: &Path, old: &str, new: &str) -> Result<()> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    save_by_rename(path, &replace_once(&text, old, new)?)
}

/// Writes `text` beside `path` and renames it over `path`, so that the
/// daemon never reads a half-written config.
fn save_by_rename(path: &Path, text: &str) -> Result<()> {
    let temp = path.with_extension("tmp");
    fs::write(&temp, text).with_context(|| format!("writing {}", temp.display()))?;
    fs::rename(&temp, path)
        .with_context(|| format!("renaming {} over {}", temp.display(), path.display()))
}

/// `text` with `old` (which must be there once) replaced by `new`.
fn replace_once(text: &str, old: &str, new: &str) -> Result<String> {
    match text.matches(old).count() {
        1 => Ok(text.replacen(old, new, 1)),
        count => bail!("the config holds {old:?} {count} times, not once"),
    }
}
