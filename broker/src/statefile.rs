//! What survives a restart of taskmasterd, kept in `[taskmasterd] statedir`
//! (`state.json`): each process's operator intent (stopped or started, by
//! whom, when), its history for `why`, and how far event seqs went. The
//! file is written beside and renamed in (write, fsync, rename, fsync of
//! the directory), so a crash leaves the old file or the new one; a file
//! that cannot be read is the caller's to log and ignore, never fatal.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use taskmaster_protocol::Transition;

const FILE: &str = "state.json";
const TEMPORARY: &str = ".state.json.new";
/// A larger file is not ours (100 transitions of 10 000 processes fit).
const MAX_BYTES: u64 = 256 << 20;

/// The file's content.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    /// Every event seq below this may have been given.
    #[serde(default)]
    pub seq_reserved: u64,
    /// By process name.
    #[serde(default)]
    pub intents: BTreeMap<String, Intent>,
    /// By process name, oldest first.
    #[serde(default)]
    pub history: BTreeMap<String, Vec<Transition>>,
}

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

    /// The saved state; nothing saved yet is the empty state, and any
    /// other failure says what is wrong with the file.
    pub fn load(&self) -> Result<Saved, String> {
        let path = self.file();
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc_nofollow())
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Saved::default()),
            Err(e) => return Err(format!("cannot open {}: {e}", path.display())),
        };
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

    /// Writes `saved` atomically: a crash leaves the old file or the new.
    pub fn save(&self, saved: &Saved) -> io::Result<()> {
        let temporary = self.dir.join(TEMPORARY);
        let text = serde_json::to_vec(saved).map_err(io::Error::other)?;
        // Not following a link planted at the temporary name; only we
        // (the broker's user) can write the directory anyway.
        let _ = fs::remove_file(&temporary);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(&text)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, self.file())?;
        File::open(&self.dir)?.sync_all()
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
        saved.history.insert(
            "api".into(),
            vec![Transition {
                time_ms: 4,
                from: ProcessState::Stopped,
                to: ProcessState::Starting,
                cause: Cause::Autostart,
                retry: None,
                text: "autostart".into(),
            }],
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
    fn a_corrupt_file_is_an_error_that_names_it() {
        let (_temp, state) = dir();
        fs::write(state.file(), "{\"intents\": [").unwrap();
        let error = state.load().unwrap_err();
        assert!(error.contains("state.json is corrupt"), "{error}");
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
