//! Programs' output capture: one task per stream drains the pipe that
//! taskmasterd handed over into the stream's log file, with rotation,
//! optional per-line timestamps, and `splice(2)` where no byte needs
//! looking at. A file that cannot be written never blocks the program:
//! its output is read, dropped and counted, and the activity log hears of
//! it once ([`Notice`]).

mod pump;
pub mod rotate;
mod safe_open;
pub use safe_open::is_passthrough;
mod stamp;
#[cfg(test)]
mod tests;
mod totals;

use std::io;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use taskmaster_ipc::Stream;
use tokio::sync::{mpsc, Notify};

/// Where one stream's output goes, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    pub path: PathBuf,
    /// Rotate when the file reaches this size; 0: never.
    pub maxbytes: u64,
    /// Rotated files kept (`.1` is the newest).
    pub backups: u32,
    /// Prefix each line with the activity log's date format.
    pub timestamps: bool,
    /// Written before each line (`[web] `), when the output is shared.
    pub prefix: Option<String>,
}

pub use totals::Totals;

/// For the activity log: a stream started or stopped losing output. One
/// `Error` per distinct error until `Recovered`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    Error {
        process: String,
        stream: Stream,
        message: String,
    },
    Recovered {
        process: String,
        stream: Stream,
    },
}

/// What a stream has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes that reached a log file (timestamps included).
    pub written: u64,
    /// Bytes read from the program that could not be written.
    pub dropped: u64,
    /// The error that is dropping output now; `None` once writes succeed.
    pub last_error: Option<String>,
}

/// A handle on one stream's pump. Dropping it leaves the pump draining the
/// pipe until every writer has closed it.
#[derive(Clone)]
pub struct Capture {
    shared: Arc<Shared>,
}

/// What the handle and the pump share.
struct Shared {
    requests: Mutex<Requests>,
    /// Set with every request, so the pump checks `requests` only then.
    pending: AtomicBool,
    /// Wakes an idle pump for a request.
    wake: Notify,
    written: AtomicU64,
    dropped: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Whether `last_error` holds one: a status of 1000 processes reads
    /// the stats of 2000 streams, which then take no lock.
    failing: AtomicBool,
    /// The current target's path, for `clear`.
    path: Mutex<PathBuf>,
}

#[derive(Default)]
struct Requests {
    /// Boxed: asked for at a reload at most, and held by every pump.
    retarget: Option<Box<LogTarget>>,
    reopen: bool,
    cleared: bool,
}

impl Shared {
    fn request(&self, change: impl FnOnce(&mut Requests)) {
        change(&mut self.requests.lock().unwrap_or_else(PoisonError::into_inner));
        self.pending.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn take_requests(&self) -> Option<Requests> {
        if !self.pending.swap(false, Ordering::AcqRel) {
            return None;
        }
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        Some(std::mem::take(&mut *requests))
    }

    fn set_error(&self, error: Option<String>) {
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.failing.store(error.is_some(), Ordering::Release);
        *last = error;
    }
}

/// Whose output a pump starts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A process just started: its first byte begins a line.
    Spawned,
    /// A process adopted after a broker restart: it may be in the middle of
    /// a line, which the log file tells (does it end with a newline?).
    Adopted,
}

/// Starts draining `pipe` (a non-blocking read end) into `target` on the
/// current tokio runtime. The file is opened (created if need be) when the
/// first output arrives.
pub fn start(
    origin: Origin,
    process: String,
    stream: Stream,
    pipe: OwnedFd,
    target: LogTarget,
    notices: mpsc::UnboundedSender<Notice>,
) -> Capture {
    let shared = Arc::new(Shared {
        requests: Mutex::new(Requests::default()),
        pending: AtomicBool::new(false),
        wake: Notify::new(),
        written: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        last_error: Mutex::new(None),
        failing: AtomicBool::new(false),
        path: Mutex::new(target.path.clone()),
    });
    let pump = pump::Pump::new(
        process,
        stream,
        target,
        Arc::clone(&shared),
        notices,
        origin,
    );
    tokio::spawn(pump.run(pipe));
    Capture { shared }
}

impl Capture {
    /// Closes the file and opens its path again (an external logrotate
    /// moved it away; `SIGUSR2`).
    pub fn reopen(&self) {
        self.shared.request(|r| r.reopen = true);
    }

    /// Applies a new path, rotation or timestamps setting (a reload).
    pub fn retarget(&self, target: LogTarget) {
        *self
            .shared
            .path
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = target.path.clone();
        self.shared.request(|r| r.retarget = Some(Box::new(target)));
    }

    pub fn stats(&self) -> Stats {
        Stats {
            written: self.shared.written.load(Ordering::Relaxed),
            dropped: self.shared.dropped.load(Ordering::Relaxed),
            last_error: if self.shared.failing.load(Ordering::Acquire) {
                self.shared
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
            } else {
                None
            },
        }
    }

    /// Truncates the current log file (not its backups). A file that does
    /// not exist is already clear.
    pub fn clear(&self) -> io::Result<()> {
        let path = self
            .shared
            .path
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        truncate(&path)?;
        self.shared.request(|r| r.cleared = true);
        Ok(())
    }
}

/// Empties the log file at `path`; one that does not exist has nothing to
/// clear, and a symlink planted there or on the way is refused.
pub fn truncate(path: &std::path::Path) -> io::Result<()> {
    let opened = safe_open::parent(path, false).and_then(|parent| parent.open_write());
    match opened.map_err(io::Error::from) {
        Ok(file) => file.set_len(0).map_err(|e| context(e, "truncate", path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(context(e, "open", path)),
    }
}

fn context(error: io::Error, what: &str, path: &std::path::Path) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("cannot {what} {}: {error}", path.display()),
    )
}
