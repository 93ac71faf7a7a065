//! The programs this taskmasterd runs, kept on disk beside the control
//! socket (`<socket>.children`), so that a taskmasterd started after this
//! one was killed (SIGKILL, the OOM killer) stops what it left running
//! instead of starting second copies.
//!
//! One line per change, appended: `+ PID START SIGNAL WAIT_MS GROUP
//! KILL_GROUP NAME` when a program starts, `- PID` when it is reaped;
//! rewritten whole when dead lines outnumber live ones. START is the
//! process's start time from /proc (clock ticks since boot), so that a pid
//! reused since is never taken for a survivor.

use crate::placed::{PlaceError, PlacedFile};
use crate::stop_plan::StopPlan;
use nix::fcntl::{open, OFlag};
use nix::sys::signal::Signal;
use nix::sys::stat::{fstat, Mode, SFlag};
use nix::unistd::geteuid;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An inventory larger than this is not ours to trust.
const MAX_BYTES: u64 = 16 << 20;

/// One program in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub pid: i32,
    pub start_time: u64,
    pub stop: StopPlan,
    pub name: String,
}

impl Entry {
    fn line(&self) -> String {
        format!(
            "+ {} {} {} {} {} {} {}\n",
            self.pid,
            self.start_time,
            self.stop.signal as i32,
            self.stop.wait.as_millis(),
            u8::from(self.stop.group),
            u8::from(self.stop.kill_group),
            self.name
        )
    }
}

/// Where the inventory of the daemon serving `socket` lives.
pub fn path_for(socket: &Path) -> PathBuf {
    let mut name = socket.as_os_str().to_os_string();
    name.push(".children");
    PathBuf::from(name)
}

/// The programs still listed after replaying `text`; malformed lines are
/// skipped (a line cut by the kill is the usual one).
pub fn parse(text: &str) -> Vec<Entry> {
    let mut live = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.splitn(8, ' ');
        match words.next() {
            Some("+") => {
                if let Some(entry) = parse_entry(&mut words) {
                    live.insert(entry.pid, entry);
                }
            }
            Some("-") => {
                if let Some(pid) = words.next().and_then(|w| w.parse::<i32>().ok()) {
                    live.remove(&pid);
                }
            }
            _ => {}
        }
    }
    live.into_values().collect()
}

fn parse_entry<'a>(words: &mut impl Iterator<Item = &'a str>) -> Option<Entry> {
    let mut number = || words.next()?.parse::<u64>().ok();
    let pid = i32::try_from(number()?).ok().filter(|pid| *pid > 1)?;
    let start_time = number()?;
    let signal = Signal::try_from(i32::try_from(number()?).ok()?).ok()?;
    let wait = Duration::from_millis(number()?);
    let group = number()? == 1;
    let kill_group = number()? == 1;
    let name = words.next()?.to_string();
    Some(Entry {
        pid,
        start_time,
        stop: StopPlan {
            signal,
            wait,
            group,
            kill_group,
        },
        name,
    })
}

/// The start time of `pid` from /proc, in clock ticks since boot; `None`
/// when it is gone.
pub fn start_time(pid: i32) -> Option<u64> {
    use std::io::Read;
    // One read into a buffer that holds any stat line (52 numbers and a
    // 16-byte name): this runs for every spawn, and read_to_string took
    // seven system calls.
    let mut buffer = [0u8; 4096];
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut filled = 0;
    loop {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
        if filled == buffer.len() {
            return None;
        }
    }
    let stat = std::str::from_utf8(&buffer[..filled]).ok()?;
    // After the command name, which may hold spaces and parentheses:
    // field 22 of stat(5) is the 20th.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Why an inventory left on disk is not used.
#[derive(Debug)]
pub struct Untrusted {
    pub path: PathBuf,
    pub reason: String,
}

impl std::fmt::Display for Untrusted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ignored the inventory '{}' left by an earlier taskmasterd: {}",
            self.path.display(),
            self.reason
        )
    }
}

/// The programs an earlier taskmasterd listed at `path` that still run
/// (same pid, same start time). Only a regular file that we own and that
/// nobody else can write is read: anyone able to write it could make root
/// signal any process.
pub fn survivors(path: &Path) -> Result<Vec<Entry>, Untrusted> {
    let untrusted = |reason: String| Untrusted {
        path: path.to_path_buf(),
        reason,
    };
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
    let fd = match open(path, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ENOENT) => return Ok(Vec::new()),
        Err(errno) => return Err(untrusted(errno.desc().to_string())),
    };
    let stat = fstat(&fd).map_err(|e| untrusted(e.desc().to_string()))?;
    if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(untrusted("it is not a regular file".into()));
    }
    if stat.st_uid != geteuid().as_raw() || stat.st_mode & 0o022 != 0 {
        return Err(untrusted(format!(
            "it is owned by uid {} with mode {:o}; only our own, unwritable by others, is trusted",
            stat.st_uid,
            stat.st_mode & 0o7777
        )));
    }
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_BYTES)
        .read_to_string(&mut text)
        .map_err(|e| untrusted(e.to_string()))?;
    Ok(parse(&text)
        .into_iter()
        .filter(|entry| start_time(entry.pid) == Some(entry.start_time))
        .collect())
}

/// The inventory this taskmasterd keeps.
pub struct Inventory {
    file: PlacedFile,
    /// Lines in the file, to know when to rewrite it.
    lines: usize,
    /// What the file lists.
    written: BTreeMap<i32, Entry>,
}

impl Inventory {
    /// A new, empty inventory at `path` (replacing the last one's).
    pub fn create(path: &Path) -> Result<Inventory, PlaceError> {
        Ok(Inventory {
            file: PlacedFile::write(path, "the inventory of children", b"")?,
            lines: 0,
            written: BTreeMap::new(),
        })
    }

    /// A program started (its start time is read from /proc now).
    pub fn added(&mut self, pid: i32, stop: StopPlan, name: &str) -> std::io::Result<()> {
        let Some(start_time) = start_time(pid) else {
            // Gone already: nothing to list.
            return Ok(());
        };
        let entry = Entry {
            pid,
            start_time,
            stop,
            name: name.to_string(),
        };
        self.lines += 1;
        self.file.append(entry.line().as_bytes())?;
        self.written.insert(pid, entry);
        Ok(())
    }

    /// `pid` was reaped. The file is written anew once it holds mostly
    /// dead lines.
    pub fn removed(&mut self, pid: i32) -> Result<(), Box<dyn std::error::Error>> {
        if self.written.remove(&pid).is_none() {
            return Ok(());
        }
        if self.lines > 2 * self.written.len() + 64 {
            let text: String = self.written.values().map(Entry::line).collect();
            self.lines = self.written.len();
            self.file.replace(text.as_bytes())?;
        } else {
            self.lines += 1;
            self.file.append(format!("- {pid}\n").as_bytes())?;
        }
        Ok(())
    }

    /// A clean exit: nothing is left running.
    pub fn remove(self) {
        self.file.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pid: i32, name: &str) -> Entry {
        Entry {
            pid,
            start_time: 1234,
            stop: StopPlan {
                signal: Signal::SIGUSR1,
                wait: Duration::from_millis(2500),
                group: true,
                kill_group: true,
            },
            name: name.into(),
        }
    }

    #[test]
    fn lines_replay_to_the_live_programs() {
        let text = [entry(10, "web"), entry(11, "worker:0"), entry(12, "api")]
            .iter()
            .map(Entry::line)
            .collect::<String>()
            + "- 11\n+ 13 99 15 1";
        // The last line was cut by the kill: skipped.
        assert_eq!(parse(&text), [entry(10, "web"), entry(12, "api")]);
    }

    #[test]
    fn nonsense_never_names_pid_1_or_a_bad_signal() {
        assert!(parse("+ 1 5 15 10 0 0 init\n+ 0 5 15 10 0 0 x\n+ -3 5 15 10 0 0 x\n").is_empty());
        assert!(parse("+ 40 5 99 10 0 0 x\n+ 40 x 15 10 0 0 y\ngarbage\n- nope\n").is_empty());
    }

    #[test]
    fn programs_are_listed_when_started_and_forgotten_when_reaped() {
        let dir = std::env::temp_dir().join(format!("tm-inventory-w-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.sock.children");
        let mut inventory = Inventory::create(&path).unwrap();
        let me = i32::try_from(std::process::id()).unwrap();
        let parent = i32::try_from(std::os::unix::process::parent_id()).unwrap();
        let plan = entry(0, "").stop;
        inventory.added(me, plan, "me").unwrap();
        inventory.added(parent, plan, "parent").unwrap();
        assert_eq!(survivors(&path).unwrap().len(), 2);
        inventory.removed(parent).unwrap();
        let listed = survivors(&path).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!((listed[0].pid, listed[0].name.as_str()), (me, "me"));
        inventory.removed(me).unwrap();
        assert!(survivors(&path).unwrap().is_empty());
        inventory.remove();
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn our_own_start_time_is_read() {
        let me = i32::try_from(std::process::id()).unwrap();
        assert!(start_time(me).is_some());
        assert_eq!(start_time(i32::MAX), None);
    }

    #[test]
    fn a_file_others_can_write_is_not_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("tm-inventory-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.sock.children");
        let me = i32::try_from(std::process::id()).unwrap();
        let mut live = entry(me, "me");
        live.start_time = start_time(me).unwrap();
        // The parent runs, but not since the start time listed: a reused pid.
        let parent = i32::try_from(std::os::unix::process::parent_id()).unwrap();
        std::fs::write(&path, live.line() + &entry(parent, "reused").line()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        // Ours, and the only entry whose start time matches.
        assert_eq!(survivors(&path).unwrap().len(), 1);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(survivors(&path)
            .unwrap_err()
            .to_string()
            .contains("mode 666"));
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &path).unwrap();
        assert!(survivors(&path).is_err(), "a symlink is never followed");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            survivors(&path).unwrap().is_empty(),
            "no file: no survivors"
        );
    }
}
