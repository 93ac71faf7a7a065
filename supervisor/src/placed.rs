//! Files taskmasterd (root) writes at paths others may reach (the pidfile,
//! the inventory of children): created beside the path with
//! `O_EXCL|O_NOFOLLOW` and renamed onto it, so that a symlink planted at
//! the path is replaced, never followed, and root never truncates a file
//! someone pointed the path at; removed only while it is still the file we
//! wrote.

use nix::errno::Errno;
use nix::fcntl::{open, openat, renameat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, Mode};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Temporary names tried before giving up: a name taken means a leftover
/// of a crash or someone squatting it, and the next one is as good.
const TEMPORARY_TRIES: u32 = 16;

/// Why a placed file could not be written.
#[derive(Debug)]
pub struct PlaceError {
    /// "the pidfile", "the inventory".
    pub what: &'static str,
    pub path: PathBuf,
    pub step: PlaceStep,
    pub cause: Errno,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceStep {
    OpenDirectory,
    CreateTemporary,
    Write,
    Rename,
}

impl fmt::Display for PlaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = match self.step {
            PlaceStep::OpenDirectory => "cannot open the directory of",
            PlaceStep::CreateTemporary => "cannot create a temporary file for",
            PlaceStep::Write => "cannot write",
            PlaceStep::Rename => "cannot rename a temporary file onto",
        };
        write!(
            f,
            "{step} {} '{}': {}",
            self.what,
            self.path.display(),
            self.cause.desc()
        )
    }
}

impl std::error::Error for PlaceError {}

/// A file we wrote and still hold open (appends go to it).
pub struct PlacedFile {
    what: &'static str,
    path: PathBuf,
    /// Its directory, held open so that replacing and removing act on the
    /// directory the file was written in.
    dir: OwnedFd,
    name: OsString,
    /// `(st_dev, st_ino)` of the file we wrote.
    identity: (u64, u64),
    file: File,
}

impl PlacedFile {
    /// Writes `contents` to a new file beside `path` and renames it onto
    /// `path`.
    pub fn write(
        path: &Path,
        what: &'static str,
        contents: &[u8],
    ) -> Result<PlacedFile, PlaceError> {
        let fail = |step, cause| PlaceError {
            what,
            path: path.to_path_buf(),
            step,
            cause,
        };
        let name = path
            .file_name()
            .ok_or_else(|| fail(PlaceStep::OpenDirectory, Errno::EISDIR))?;
        let dir_path = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let dir = open(
            dir_path,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| fail(PlaceStep::OpenDirectory, e))?;
        let (identity, file) = place(&dir, name, contents).map_err(|(step, e)| fail(step, e))?;
        Ok(PlacedFile {
            what,
            path: path.to_path_buf(),
            dir,
            name: name.to_os_string(),
            identity,
            file,
        })
    }

    /// Appends `bytes` to the file we hold.
    pub fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Puts a new file with `contents` in place of ours, the same way.
    pub fn replace(&mut self, contents: &[u8]) -> Result<(), PlaceError> {
        let (identity, file) =
            place(&self.dir, &self.name, contents).map_err(|(step, cause)| PlaceError {
                what: self.what,
                path: self.path.clone(),
                step,
                cause,
            })?;
        self.identity = identity;
        self.file = file;
        Ok(())
    }

    /// Removes the file if it is still the one we wrote: one put there
    /// since (by another taskmasterd, or an admin) is left alone.
    pub fn remove(self) {
        let ours = fstatat(
            &self.dir,
            self.name.as_os_str(),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .is_ok_and(|stat| (stat.st_dev, stat.st_ino) == self.identity);
        if ours {
            let _ = unlinkat(&self.dir, self.name.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// A temporary file with `contents`, renamed onto `name` in `dir`.
fn place(
    dir: &OwnedFd,
    name: &OsStr,
    contents: &[u8],
) -> Result<((u64, u64), File), (PlaceStep, Errno)> {
    let (temporary, mut file) =
        create_temporary(dir, name).map_err(|e| (PlaceStep::CreateTemporary, e))?;
    let discard = |step, cause| {
        let _ = unlinkat(dir, temporary.as_os_str(), UnlinkatFlags::NoRemoveDir);
        (step, cause)
    };
    let written = file
        .write_all(contents)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)));
    let identity = written
        .and_then(|()| fstat(file.as_fd()))
        .map(|stat| (stat.st_dev, stat.st_ino))
        .map_err(|e| discard(PlaceStep::Write, e))?;
    renameat(dir, temporary.as_os_str(), dir, name).map_err(|e| discard(PlaceStep::Rename, e))?;
    Ok((identity, file))
}

/// Creates `.NAME.PID.N.tmp` in `dir`, mode 0o644, refusing any name that
/// exists (a symlink included).
fn create_temporary(dir: &OwnedFd, name: &OsStr) -> Result<(OsString, File), Errno> {
    let flags =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let pid = std::process::id();
    let mut last = Errno::EEXIST;
    for n in 0..TEMPORARY_TRIES {
        let mut temporary = OsString::from(".");
        temporary.push(name);
        temporary.push(format!(".{pid}.{n}.tmp"));
        match openat(
            dir,
            temporary.as_os_str(),
            flags,
            Mode::from_bits_truncate(0o644),
        ) {
            Ok(fd) => return Ok((temporary, fd.into())),
            Err(Errno::EEXIST) => last = Errno::EEXIST,
            Err(errno) => return Err(errno),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tm-placed-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn a_symlink_planted_at_the_pidfile_is_replaced_not_followed() {
        let dir = temp_dir("pid-symlink");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let path = dir.join("tm.pid");
        symlink(&victim, &path).unwrap();

        let pidfile = PlacedFile::write(&path, "the pidfile", b"4242\n").expect("pidfile");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert_eq!(
            std::fs::metadata(&victim).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4242\n");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");

        pidfile.remove();
        assert!(std::fs::symlink_metadata(&path).is_err());
        assert!(victim.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pidfile_replaced_since_is_not_removed() {
        let dir = temp_dir("pid-replaced");
        let path = dir.join("tm.pid");
        let pidfile = PlacedFile::write(&path, "the pidfile", b"1\n").expect("pidfile");
        let ours = std::fs::metadata(&path).unwrap().ino();
        // Another daemon's, written beside and renamed over (made while
        // ours still exists, so the inode cannot be reused).
        std::fs::write(dir.join("new"), "2\n").unwrap();
        std::fs::rename(dir.join("new"), &path).unwrap();
        assert_ne!(std::fs::metadata(&path).unwrap().ino(), ours);
        pidfile.remove();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "2\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_squatted_temporary_name_is_skipped() {
        let dir = temp_dir("pid-squat");
        let path = dir.join("tm.pid");
        let squatted = format!(".tm.pid.{}.0.tmp", std::process::id());
        symlink("/etc/passwd", dir.join(squatted)).unwrap();
        let pidfile = PlacedFile::write(&path, "the pidfile", b"7\n").expect("pidfile");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "7\n");
        pidfile.remove();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_the_pidfile() {
        let error = PlacedFile::write(
            Path::new("/nonexistent-tm-dir/tm.pid"),
            "the pidfile",
            b"1\n",
        )
        .err()
        .expect("error");
        assert_eq!(error.step, PlaceStep::OpenDirectory);
        assert_eq!(
            error.to_string(),
            "cannot open the directory of the pidfile '/nonexistent-tm-dir/tm.pid': No such file or directory"
        );
    }

    #[test]
    fn appends_and_replacements_stay_in_our_file() {
        let dir = temp_dir("append");
        let path = dir.join("list");
        let mut file = PlacedFile::write(&path, "the inventory", b"a\n").unwrap();
        file.append(b"b\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");
        file.replace(b"c\n").unwrap();
        file.append(b"d\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "c\nd\n");
        file.remove();
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
