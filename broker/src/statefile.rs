//! What survives a restart of taskmasterd, kept in `[taskmasterd] statedir`:
//! `state.json`, small and written at once (each process's operator intent:
//! stopped or started, by whom, when; and how far event seqs went), and
//! `history.json`, each process's history for `why`, written by a
//! [`HistoryWriter`] thread so that the core never waits for a large file.
//! Each file is written beside and renamed in (write, fsync, rename, fsync
//! of the directory), so a crash leaves the old file or the new one; a file
//! that cannot be read is the caller's to log and ignore, never fatal.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use taskmaster_protocol::Transition;

const FILE: &str = "state.json";
const HISTORY_FILE: &str = "history.json";
/// A larger file is not ours (100 transitions of 10 000 processes fit).
const MAX_BYTES: u64 = 512 << 20;

/// `state.json`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// Every event seq below this may have been given.
    #[serde(default)]
    pub seq_reserved: u64,
    /// By process name.
    #[serde(default)]
    pub intents: BTreeMap<String, Intent>,
}

/// `history.json`: by process name, oldest first.
pub type Histories = BTreeMap<String, Vec<Transition>>;

/// The histories to write: each process's transitions, shared with the
/// core (taking a snapshot copies pointers, not transitions).
pub type Snapshot = Vec<(String, Vec<Arc<Transition>>)>;

/// What an operator last asked of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    /// Started (`true`) or stopped.
    pub run: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
}

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(dir: &Path) -> StateDir {
        StateDir {
            dir: dir.to_path_buf(),
        }
    }

    /// Why the broker cannot keep its state there, with the fix.
    pub fn check(&self) -> Result<(), String> {
        use nix::unistd::{access, AccessFlags};
        let usable = fs::metadata(&self.dir).map(|m| m.is_dir()).unwrap_or(false)
            && access(&self.dir, AccessFlags::W_OK | AccessFlags::X_OK).is_ok();
        if usable {
            return Ok(());
        }
        let uid = nix::unistd::getuid();
        Err(format!(
            "statedir {} is not a directory the broker (uid {uid}) can write; create it: \
             install -d -o {uid} -m 0700 {}",
            self.dir.display(),
            self.dir.display()
        ))
    }

    pub fn file(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// `state.json`; nothing saved yet is the empty state, and any other
    /// failure says what is wrong with the file.
    pub fn load(&self) -> Result<Saved, String> {
        read_json(&self.file())
    }

    /// `history.json`, as [`StateDir::load`].
    pub fn load_history(&self) -> Result<Histories, String> {
        read_json(&self.dir.join(HISTORY_FILE))
    }

    /// Writes `state.json` atomically: a crash leaves the old file or the new.
    pub fn save(&self, saved: &Saved) -> io::Result<()> {
        write_json(&self.dir, FILE, saved)
    }
}

fn read_json<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    // Non-blocking: a FIFO planted at the name would otherwise hold the
    // broker's start for ever, waiting for a writer.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc_nofollow() | nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(T::default()),
        Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
    };
    if !file.metadata().is_ok_and(|meta| meta.is_file()) {
        return Err(format!(
            "{} is not a regular file: remove it",
            path.display()
        ));
    }
    let mut text = String::new();
    file.take(MAX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.len() as u64 > MAX_BYTES {
        return Err(format!(
            "{} is larger than {MAX_BYTES} bytes",
            path.display()
        ));
    }
    serde_json::from_str(&text).map_err(|e| format!("{} is corrupt: {e}", path.display()))
}

/// Writes `dir/name` beside (`.name.new`) and renames it in.
fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> io::Result<()> {
    let temporary = dir.join(format!(".{name}.new"));
    let text = serde_json::to_vec(value).map_err(io::Error::other)?;
    // Not following a link planted at the temporary name; only we (the
    // broker's user) can write the directory anyway.
    let _ = fs::remove_file(&temporary);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(&text)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary, dir.join(name))?;
    File::open(dir)?.sync_all()
}

/// Writes `history.json` on a thread of its own: [`HistoryWriter::submit`]
/// never waits, and a snapshot that arrives while one is written replaces
/// the older ones still waiting.
pub struct HistoryWriter {
    sender: mpsc::Sender<Job>,
    /// Why the last write failed, until one succeeds.
    error: Arc<Mutex<Option<String>>>,
}

enum Job {
    Write(Snapshot),
    /// Answered once everything submitted before is written.
    Flush(mpsc::Sender<()>),
}

/// Writes the snapshot as `{"name": [transition, ...], ...}`.
struct Serialized<'a>(&'a Snapshot);

impl Serialize for Serialized<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let entries = self.0.iter().map(|(name, transitions)| {
            let list: Vec<&Transition> = transitions.iter().map(|t| &**t).collect();
            (name, list)
        });
        serializer.collect_map(entries)
    }
}

impl HistoryWriter {
    pub fn start(dir: &StateDir) -> HistoryWriter {
        let (sender, receiver) = mpsc::channel::<Job>();
        let error = Arc::new(Mutex::new(None));
        let (path, failed) = (dir.dir.clone(), Arc::clone(&error));
        let spawned = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || {
                while let Ok(first) = receiver.recv() {
                    // Only the newest snapshot is worth writing.
                    let (mut latest, mut flushes) = (None, Vec::new());
                    for job in std::iter::once(first).chain(receiver.try_iter()) {
                        match job {
                            Job::Write(snapshot) => latest = Some(snapshot),
                            Job::Flush(done) => flushes.push(done),
                        }
                    }
                    if let Some(snapshot) = latest {
                        let result = write_json(&path, HISTORY_FILE, &Serialized(&snapshot));
                        let message = result.err().map(|e| {
                            format!("cannot write {}: {e}", path.join(HISTORY_FILE).display())
                        });
                        *failed.lock().unwrap_or_else(|e| e.into_inner()) = message;
                    }
                    for done in flushes {
                        let _ = done.send(());
                    }
                }
            });
        if let Err(e) = spawned {
            *error.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                "cannot start the thread that writes histories: {e}"
            ));
        }
        HistoryWriter { sender, error }
    }

    pub fn submit(&self, snapshot: Snapshot) {
        let _ = self.sender.send(Job::Write(snapshot));
    }

    /// Waits until what was submitted is written (at exit).
    pub fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.sender.send(Job::Flush(done)).is_ok() {
            let _ = wait.recv();
        }
    }

    /// Why the last write failed, if it did.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// `O_NOFOLLOW`: the state file is never read through a link.
fn libc_nofollow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits()
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_config::test_dir::TestDir;
    use taskmaster_protocol::{Cause, ProcessState};

    fn dir() -> (TestDir, StateDir) {
        let temp = TestDir::new("statefile");
        let state = StateDir::new(temp.path());
        (temp, state)
    }

    #[test]
    fn nothing_saved_is_the_empty_state() {
        let (_temp, state) = dir();
        assert_eq!(state.load().unwrap(), Saved::default());
    }

    #[test]
    fn what_is_saved_loads_back() {
        let (_temp, state) = dir();
        let mut saved = Saved {
            seq_reserved: 3000,
            ..Saved::default()
        };
        saved.intents.insert(
            "api".into(),
            Intent {
                run: false,
                uid: Some(1000),
                time_ms: 5,
            },
        );
        state.save(&saved).unwrap();
        state.save(&saved).unwrap();
        assert_eq!(state.load().unwrap(), saved);
        let mode = fs::metadata(state.file()).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
    }

    #[test]
    fn histories_are_written_in_the_background_newest_last() {
        let (_temp, state) = dir();
        let writer = HistoryWriter::start(&state);
        let transition = |time_ms| {
            Arc::new(Transition {
                time_ms,
                from: ProcessState::Stopped,
                to: ProcessState::Starting,
                cause: Cause::Autostart,
                retry: None,
                text: "autostart".into(),
            })
        };
        for n in 1..=3 {
            let list = (0..n).map(transition).collect();
            writer.submit(vec![("api".to_string(), list)]);
        }
        writer.flush();
        let histories = state.load_history().unwrap();
        let times: Vec<u64> = histories["api"].iter().map(|t| t.time_ms).collect();
        assert_eq!(times, [0, 1, 2]);
        assert_eq!(writer.error(), None);
    }

    #[test]
    fn a_corrupt_file_is_an_error_that_names_it() {
        let (_temp, state) = dir();
        fs::write(state.file(), "{\"intents\": [").unwrap();
        let error = state.load().unwrap_err();
        assert!(error.contains("state.json is corrupt"), "{error}");
    }

    #[test]
    fn a_fifo_at_the_file_is_refused_without_waiting_for_a_writer() {
        let (_temp, state) = dir();
        nix::unistd::mkfifo(
            &state.file(),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let (done, loaded) = std::sync::mpsc::channel();
        std::thread::spawn(move || done.send(state.load()).unwrap());
        let error = loaded
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("load returns")
            .unwrap_err();
        assert!(error.contains("is not a regular file"), "{error}");
    }

    #[test]
    fn a_link_at_the_file_is_not_followed() {
        let (temp, state) = dir();
        let elsewhere = temp.path().join("elsewhere");
        fs::write(&elsewhere, "{}").unwrap();
        std::os::unix::fs::symlink(&elsewhere, state.file()).unwrap();
        assert!(state.load().is_err());
        // Saving replaces the link, and leaves its target alone.
        state.save(&Saved::default()).unwrap();
        assert_eq!(fs::read_to_string(&elsewhere).unwrap(), "{}");
        assert!(!fs::symlink_metadata(state.file())
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
