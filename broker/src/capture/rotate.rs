//! A log file that is only ever appended to and rotates by size as
//! supervisord's do (`NAME.stdout` → `NAME.stdout.1` → `.2` ...), without
//! cutting a line in two when a newline is near. Shared by the programs'
//! logs and the activity log.

use super::safe_open;
use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The most one `splice(2)` moves.
pub const SPLICE_CHUNK: usize = 1 << 20;
/// Below this many bytes from `maxbytes`, output goes through a buffer so
/// that the cut can be placed after a newline.
pub const CUT_WINDOW: u64 = 64 << 10;

/// Opens `path` for appending, creating it (mode 0o666 less the umask)
/// and its directory if missing, without following a symlink anywhere on
/// its path ([`safe_open`]).
pub fn open_append(path: &Path) -> io::Result<File> {
    safe_open::open_append(path)
}

/// Where to cut `data` when appending it to a file of `size` bytes would
/// cross `maxbytes` (a file is rotated lazily, by the write that would
/// take it over the limit, so that a write ending at the limit mid-line
/// is not followed by a cut): after the last newline that still fits; else before
/// `data` when the file ends a line (`line_ended`); else after the first
/// newline past the limit (the file grows a little over it rather than
/// split a line); else at the limit. `None`: no cut, all of it fits.
pub fn cut_point(size: u64, maxbytes: u64, data: &[u8], line_ended: bool) -> Option<usize> {
    if maxbytes == 0 || size + data.len() as u64 <= maxbytes {
        return None;
    }
    let fit = usize::try_from(maxbytes.saturating_sub(size)).unwrap_or(usize::MAX);
    if let Some(last) = data[..fit].iter().rposition(|&b| b == b'\n') {
        return Some(last + 1);
    }
    if line_ended && size > 0 {
        return Some(0);
    }
    match data[fit..].iter().position(|&b| b == b'\n') {
        Some(next) => Some(fit + next + 1),
        None => Some(fit),
    }
}

/// `name` with `.N` appended: the Nth backup.
fn backup(name: &OsStr, n: u32) -> OsString {
    let mut name = name.to_os_string();
    name.push(format!(".{n}"));
    name
}

/// Why a write did not complete.
#[derive(Debug)]
pub struct WriteFailure {
    /// Bytes that reached a file before the error.
    pub written: usize,
    pub error: io::Error,
}

/// An open log file with its rotation settings.
pub struct LogFile {
    path: PathBuf,
    maxbytes: u64,
    backups: u32,
    file: File,
    /// The file's size as far as this process knows.
    size: u64,
    /// Whether the file ends with a newline (or is empty), as far as
    /// known: a cut may then fall before the next write.
    line_ended: bool,
    /// Whether `O_APPEND` is set: `splice(2)` refuses an append-only
    /// target, so it is cleared while splicing and set again for writes.
    append: bool,
    /// A rotation that failed (a backup could not be renamed): rotation
    /// stops until the file is reopened, and writing goes on here.
    rotate_error: Option<io::Error>,
    rotation_disabled: bool,
    /// A regular file. Anything else (`/dev/null`, a FIFO, a terminal) is
    /// written but never rotated: renaming it away and creating a file in
    /// its place would destroy it.
    regular: bool,
}

impl LogFile {
    pub fn open(path: &Path, maxbytes: u64, backups: u32) -> io::Result<LogFile> {
        LogFile::with_file(path, open_append(path)?, maxbytes, backups)
    }

    fn with_file(path: &Path, file: File, maxbytes: u64, backups: u32) -> io::Result<LogFile> {
        let metadata = file.metadata()?;
        // The daemon's own output is never rotated, even when it is
        // redirected to a regular file: that file is not ours.
        let regular = metadata.file_type().is_file() && !safe_open::is_passthrough(path);
        let size = if regular { metadata.len() } else { 0 };
        let mut last = [b'\n'];
        if size > 0 && metadata.file_type().is_file() {
            file.read_exact_at(&mut last, size - 1)?;
        }
        Ok(LogFile {
            line_ended: last[0] == b'\n',
            path: path.to_owned(),
            maxbytes,
            backups,
            file,
            size,
            append: true,
            rotate_error: None,
            rotation_disabled: false,
            regular,
        })
    }

    /// `(maxbytes, backups)`.
    pub fn limits(&self) -> (u64, u32) {
        (self.maxbytes, self.backups)
    }

    /// Applies new rotation settings from the next write on.
    pub fn set_limits(&mut self, maxbytes: u64, backups: u32) {
        self.maxbytes = maxbytes;
        self.backups = backups;
    }

    /// Reads the size again (the file was truncated behind our back).
    pub fn refresh_size(&mut self) {
        if let Ok(meta) = self.file.metadata() {
            self.size = meta.len();
        }
    }

    fn max(&self) -> u64 {
        if self.rotation_disabled || !self.regular {
            0
        } else {
            self.maxbytes
        }
    }

    /// A rotation failure to report once; writing went on without it.
    pub fn take_rotate_error(&mut self) -> Option<io::Error> {
        self.rotate_error.take()
    }

    /// How much one splice may move without reaching the cut window, or
    /// `None` when the next bytes must go through [`LogFile::write`].
    pub fn splice_room(&self) -> Option<usize> {
        match self.max() {
            0 => Some(SPLICE_CHUNK),
            max => {
                let room = max.checked_sub(self.size)?.checked_sub(CUT_WINDOW)?;
                let room = usize::try_from(room).unwrap_or(usize::MAX);
                (room > 0).then_some(room.min(SPLICE_CHUNK))
            }
        }
    }

    /// Moves up to `len` bytes from `pipe` to the end of the file without
    /// copying them through this process. `Ok(0)`: end of the pipe.
    /// Whether the file is empty or ends with a newline.
    pub fn ends_a_line(&self) -> bool {
        self.line_ended
    }

    pub fn splice_from(&mut self, pipe: BorrowedFd<'_>, len: usize) -> nix::Result<usize> {
        self.set_append(false)?;
        // Without O_APPEND the offset is ours to keep at the end, even when
        // someone truncated the file (`clear`, copytruncate).
        self.size = (&self.file)
            .seek(SeekFrom::End(0))
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))?;
        let flags = SpliceFFlags::SPLICE_F_MOVE | SpliceFFlags::SPLICE_F_NONBLOCK;
        let moved = splice(pipe, None, &self.file, None, len, flags)?;
        self.size += moved as u64;
        // Unseen bytes: assume the worst, a line in progress.
        self.line_ended = moved == 0 && self.line_ended;
        Ok(moved)
    }

    fn set_append(&mut self, on: bool) -> nix::Result<()> {
        if self.append != on {
            let flags = OFlag::from_bits_truncate(fcntl(&self.file, FcntlArg::F_GETFL)?);
            let flags = if on {
                flags | OFlag::O_APPEND
            } else {
                flags - OFlag::O_APPEND
            };
            fcntl(&self.file, FcntlArg::F_SETFL(flags))?;
            self.append = on;
        }
        Ok(())
    }

    /// Appends `data`, rotating on the way as often as `maxbytes` says.
    pub fn write(&mut self, data: &[u8]) -> Result<(), WriteFailure> {
        let mut written = 0;
        let failed = |written, error| WriteFailure { written, error };
        self.set_append(true)
            .map_err(|e| failed(0, io::Error::from(e)))?;
        while written < data.len() {
            let rest = &data[written..];
            let cut = cut_point(self.size, self.max(), rest, self.line_ended);
            let piece = &rest[..cut.unwrap_or(rest.len())];
            let done = write_counted(&mut self.file, piece);
            self.size += done.0 as u64;
            written += done.0;
            if done.0 > 0 {
                self.line_ended = piece[done.0 - 1] == b'\n';
            }
            if let Some(error) = done.1 {
                return Err(failed(written, error));
            }
            if cut.is_some() {
                self.rotate().map_err(|e| failed(written, e))?;
            }
        }
        Ok(())
    }

    /// Shifts the backups up by one (the oldest is overwritten), moves the
    /// file to `.1` and starts a new one. A rename that fails disables
    /// rotation and keeps the current file: better a big file than lost
    /// lines. Failing to open the new file is an error.
    pub fn rotate(&mut self) -> io::Result<()> {
        // One walk for the renames and the new file: none of them can be
        // sent elsewhere by a link planted since the file was opened.
        // A walk that fails (a link planted on the way) is a failed rename:
        // writing goes on in the file already open.
        let walked = safe_open::parent(&self.path, false).map_err(io::Error::from);
        let shifted = walked.and_then(|parent| self.shift_backups(&parent).map(|()| parent));
        let parent = match shifted {
            Ok(parent) => parent,
            Err(e) => {
                self.rotate_error = Some(e);
                self.rotation_disabled = true;
                return Ok(());
            }
        };
        let file = parent.open_append()?;
        *self = LogFile::with_file(&self.path, file, self.maxbytes, self.backups)?;
        Ok(())
    }

    fn shift_backups(&self, parent: &safe_open::Parent) -> io::Result<()> {
        let ignore_missing = |result: io::Result<()>| match result {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        };
        let name = parent.name();
        if self.backups == 0 {
            return ignore_missing(parent.remove(name));
        }
        // Each backup is removed before another is renamed to its name, as
        // supervisord does: a rename over an existing file makes ext4 write
        // the renamed file's cached data out at once (its replace-by-rename
        // safeguard, `auto_da_alloc`), 100 MiB in this process at every
        // rotation, while the program waited for its pipe to drain.
        ignore_missing(parent.remove(&backup(name, self.backups)))?;
        for n in (1..self.backups).rev() {
            ignore_missing(parent.rename(&backup(name, n), &backup(name, n + 1)))?;
        }
        parent.rename(name, &backup(name, 1))
    }
}

/// Writes as much of `data` as possible: the count, and the error that
/// stopped it if any.
fn write_counted(file: &mut File, data: &[u8]) -> (usize, Option<io::Error>) {
    let mut done = 0;
    while done < data.len() {
        match file.write(&data[done..]) {
            Ok(0) => return (done, Some(io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cut_below_the_limit_or_without_one() {
        assert_eq!(cut_point(0, 0, b"abc", false), None);
        assert_eq!(cut_point(7, 10, b"abc", false), None);
    }

    #[test]
    fn cut_after_last_newline_that_fits() {
        assert_eq!(cut_point(5, 10, b"a\nb\ncdefgh\n", false), Some(4));
    }

    #[test]
    fn cut_before_when_the_file_ends_a_line() {
        assert_eq!(cut_point(8, 10, b"abcdef\nxy", true), Some(0));
    }

    #[test]
    fn cut_after_near_newline_past_the_limit() {
        assert_eq!(cut_point(8, 10, b"abcdef\nxy", false), Some(7));
    }

    #[test]
    fn cut_at_limit_without_newline() {
        assert_eq!(cut_point(8, 10, b"abcdefgh", false), Some(2));
    }

    #[test]
    fn rotation_does_not_follow_a_link_planted_after_the_open() {
        let dir = std::env::temp_dir().join(format!("tm-rotate-link-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        let mut log = LogFile::open(&dir.join("logs/p.log"), 10, 2).unwrap();
        log.write(b"12345678\n").unwrap();
        // The directory moves away and a link to it takes its place.
        std::fs::rename(dir.join("logs"), dir.join("real")).unwrap();
        std::os::unix::fs::symlink(dir.join("real"), dir.join("logs")).unwrap();
        log.write(b"abc\n").unwrap();
        let error = log.take_rotate_error().expect("the rotation failed");
        assert!(error.to_string().contains("is a symbolic link"), "{error}");
        // Nothing was renamed through the link; the lines are all kept.
        assert!(!dir.join("real/p.log.1").exists());
        assert_eq!(
            std::fs::read_to_string(dir.join("real/p.log")).unwrap(),
            "12345678\nabc\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn what_is_not_a_regular_file_is_written_but_never_rotated() {
        use std::os::unix::fs::FileTypeExt;
        let dir = std::env::temp_dir().join(format!("tm-rotate-fifo-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let mut log = LogFile::open(&path, 4, 2).unwrap();
        log.write(b"more than four bytes\n").unwrap();
        log.write(b"and more\n").unwrap();
        assert!(log.take_rotate_error().is_none());
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_fifo());
        assert!(!dir.join("out.1").exists(), "never renamed away");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn backup_names() {
        assert_eq!(backup(OsStr::new("web.stdout"), 2), "web.stdout.2");
    }
}
