//! Opening log files without following a symbolic link anywhere on their
//! path: the path is walked one component at a time from `/` (or the
//! working directory) with `openat(O_NOFOLLOW)`, so that a link planted in
//! a directory someone else can write (`/tmp/d/sub` → `/etc`) cannot send
//! a log file, or a rotation's renames, somewhere else. Every program log
//! file and the activity log are opened, rotated and cleared through here.

use nix::errno::Errno;
use nix::fcntl::{openat, renameat, OFlag, AT_FDCWD};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// Why a log path could not be opened.
#[derive(Debug)]
pub struct PathError {
    /// The path asked for.
    pub path: PathBuf,
    /// The part of it (a prefix) where the walk stopped.
    pub component: PathBuf,
    pub kind: PathErrorKind,
}

#[derive(Debug)]
pub enum PathErrorKind {
    /// `component` is a symbolic link.
    Symlink,
    /// The path names no file (`/`, or ends with `..`).
    NoFileName,
    /// Opening, creating or checking `component` failed.
    Io(Errno),
}

impl PathError {
    fn new(path: &Path, component: PathBuf, kind: PathErrorKind) -> Self {
        PathError {
            path: path.to_path_buf(),
            component,
            kind,
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let component = self.component.display();
        match &self.kind {
            PathErrorKind::Symlink => write!(
                f,
                "{component} is a symbolic link: log paths may not go through symbolic links"
            ),
            PathErrorKind::NoFileName => {
                write!(f, "{} does not name a file", self.path.display())
            }
            // Callers name the path already ("cannot open PATH: ...").
            PathErrorKind::Io(errno) if self.component == self.path => {
                write!(f, "{}", io::Error::from(*errno))
            }
            PathErrorKind::Io(errno) => write!(f, "{component}: {}", io::Error::from(*errno)),
        }
    }
}

impl std::error::Error for PathError {}

impl From<PathError> for io::Error {
    fn from(error: PathError) -> io::Error {
        // The kind survives so that callers can still tell "not found".
        let kind = match &error.kind {
            PathErrorKind::Io(errno) => io::Error::from(*errno).kind(),
            PathErrorKind::Symlink | PathErrorKind::NoFileName => io::ErrorKind::InvalidInput,
        };
        io::Error::new(kind, error)
    }
}

/// The paths that name the daemon's own output rather than a file
/// (`/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`). They
/// are symbolic links by nature; they keep their former handling (a plain
/// `O_NOFOLLOW` open) until they are routed to the daemon's output.
pub fn is_passthrough(path: &Path) -> bool {
    let fd_number = |rest: &Path| {
        let bytes = rest.as_os_str().as_bytes();
        !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit)
    };
    path == Path::new("/dev/stdout")
        || path == Path::new("/dev/stderr")
        || path.strip_prefix("/dev/fd").is_ok_and(fd_number)
        || path.strip_prefix("/proc/self/fd").is_ok_and(fd_number)
}

/// The directory that holds a log file, reached without following a link,
/// and the file's name in it. Renames and opens relative to it cannot be
/// redirected by a link planted on the way.
pub struct Parent {
    dir: OwnedFd,
    name: OsString,
    path: PathBuf,
}

/// Walks to the directory of `path`, creating missing directories (mode
/// 0o777 less the umask, as `create_dir_all`) when `create` is set.
pub fn parent(path: &Path, create: bool) -> Result<Parent, PathError> {
    let fail = |component: &Path, kind| PathError::new(path, component.to_path_buf(), kind);
    let Some(name) = path.file_name() else {
        return Err(fail(path, PathErrorKind::NoFileName));
    };
    let dirs = path.parent().unwrap_or(Path::new(""));
    let start = if path.is_absolute() { "/" } else { "." };
    let mut dir = open_dir(AT_FDCWD, OsStr::new(start))
        .map_err(|errno| fail(Path::new(start), PathErrorKind::Io(errno)))?;
    let mut walked = PathBuf::new();
    for component in dirs.components() {
        walked.push(component);
        let name = match component {
            Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            // The real parent: no link was followed to get here, so it is
            // also the parent the path spells.
            Component::ParentDir => OsStr::new(".."),
            Component::Normal(name) => name,
        };
        dir = step(&dir, name, create).map_err(|kind| fail(&walked, kind))?;
    }
    Ok(Parent {
        dir,
        name: name.to_os_string(),
        path: path.to_path_buf(),
    })
}

fn open_dir<Fd: AsFd>(dir: Fd, name: &OsStr) -> nix::Result<OwnedFd> {
    // O_PATH: walking through a directory needs only its search (x)
    // permission, as a path lookup does, not read permission; the *at
    // calls accept such a descriptor.
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir, name, flags, Mode::empty())
}

/// Opens the directory `name` in `dir`, creating it first if asked.
fn step(dir: &OwnedFd, name: &OsStr, create: bool) -> Result<OwnedFd, PathErrorKind> {
    match open_dir(dir, name) {
        Ok(fd) => Ok(fd),
        Err(Errno::ENOENT) if create => {
            match mkdirat(dir, name, Mode::from_bits_truncate(0o777)) {
                // Someone made it meanwhile: open what is there, still
                // without following a link.
                Ok(()) | Err(Errno::EEXIST) => open_dir(dir, name).map_err(|e| why(dir, name, e)),
                Err(errno) => Err(PathErrorKind::Io(errno)),
            }
        }
        Err(errno) => Err(why(dir, name, errno)),
    }
}

/// Turns the `ELOOP`/`ENOTDIR` an `O_NOFOLLOW` open gives for a link into
/// the error that says so.
fn why(dir: &OwnedFd, name: &OsStr, errno: Errno) -> PathErrorKind {
    if matches!(errno, Errno::ELOOP | Errno::ENOTDIR) && is_symlink(dir, name) {
        PathErrorKind::Symlink
    } else {
        PathErrorKind::Io(errno)
    }
}

fn is_symlink(dir: &OwnedFd, name: &OsStr) -> bool {
    fstatat(dir, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|stat| SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK)
}

impl Parent {
    /// The file's name in its directory.
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// Opens the file for appending (and reading: the last byte says
    /// whether a line is in progress), creating it with mode 0o666 less
    /// the umask; a link in its place is refused.
    pub fn open_append(&self) -> Result<File, PathError> {
        let flags = OFlag::O_RDWR
            | OFlag::O_APPEND
            | OFlag::O_CREAT
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY;
        self.open(flags, Mode::from_bits_truncate(0o666))
    }

    /// Opens the existing file for writing (to truncate it).
    pub fn open_write(&self) -> Result<File, PathError> {
        let flags = OFlag::O_WRONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NOCTTY;
        self.open(flags, Mode::empty())
    }

    fn open(&self, flags: OFlag, mode: Mode) -> Result<File, PathError> {
        openat(&self.dir, self.name.as_os_str(), flags, mode)
            .map(File::from)
            .map_err(|errno| {
                let kind = why(&self.dir, &self.name, errno);
                PathError::new(&self.path, self.path.clone(), kind)
            })
    }

    /// Renames `from` to `to`, both names in this directory; a link at
    /// either is renamed or replaced itself, never followed.
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        renameat(&self.dir, from, &self.dir, to).map_err(io::Error::from)
    }

    /// Removes `name` from this directory.
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        unlinkat(&self.dir, name, UnlinkatFlags::NoRemoveDir).map_err(io::Error::from)
    }
}

/// Opens `path` for appending, creating it and its missing directories,
/// without following a link anywhere on its path (passthrough paths
/// aside, see [`is_passthrough`]).
pub fn open_append(path: &Path) -> io::Result<File> {
    if is_passthrough(path) {
        return open_passthrough(path);
    }
    Ok(parent(path, true)?.open_append()?)
}

/// The broker's own standard output or error (inherited from taskmasterd:
/// a container's log, a terminal), as `/dev/stdout` means to a program:
/// a copy of the descriptor, not the path opened again (it is a symlink,
/// and a pipe or socket behind it may not reopen). Another `/dev/fd/N` is
/// opened by its path.
fn open_passthrough(path: &Path) -> io::Result<File> {
    use std::os::fd::AsFd;
    let own = match path.to_str() {
        Some("/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1") => {
            Some(io::stdout().as_fd().try_clone_to_owned()?)
        }
        Some("/dev/stderr" | "/dev/fd/2" | "/proc/self/fd/2") => {
            Some(io::stderr().as_fd().try_clone_to_owned()?)
        }
        _ => None,
    };
    match own {
        Some(fd) => Ok(File::from(fd)),
        None => std::fs::OpenOptions::new().append(true).open(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::symlink;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tm-safe-open-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn creates_missing_directories_and_appends() {
        let dir = temp_dir("create");
        let path = dir.join("a/b/c.log");
        open_append(&path).unwrap().write_all(b"one\n").unwrap();
        open_append(&path).unwrap().write_all(b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlinked_parent_directory_is_refused_and_named() {
        let dir = temp_dir("parent");
        let elsewhere = dir.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::create_dir(dir.join("d")).unwrap();
        symlink(&elsewhere, dir.join("d/sub")).unwrap();
        let path = dir.join("d/sub/deeper/p.log");
        let error = parent(&path, true).err().expect("refused");
        assert!(matches!(error.kind, PathErrorKind::Symlink));
        assert_eq!(error.component, dir.join("d/sub"));
        assert_eq!(
            error.to_string(),
            format!(
                "{} is a symbolic link: log paths may not go through symbolic links",
                dir.join("d/sub").display()
            )
        );
        assert!(open_append(&path).is_err());
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_symlink_at_the_file_is_refused() {
        let dir = temp_dir("last");
        std::fs::write(dir.join("victim"), "keep").unwrap();
        symlink(dir.join("victim"), dir.join("p.log")).unwrap();
        let error = open_append(&dir.join("p.log")).expect_err("refused");
        assert!(error.to_string().contains("is a symbolic link"), "{error}");
        // A dangling link too: O_CREAT must not create its target.
        symlink(dir.join("nothing"), dir.join("q.log")).unwrap();
        assert!(open_append(&dir.join("q.log")).is_err());
        assert!(!dir.join("nothing").exists());
        assert_eq!(std::fs::read_to_string(dir.join("victim")).unwrap(), "keep");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn renames_stay_in_the_walked_directory() {
        let dir = temp_dir("rename");
        std::fs::write(dir.join("p.log"), "x").unwrap();
        let parent = parent(&dir.join("p.log"), false).unwrap();
        parent.rename(parent.name(), OsStr::new("p.log.1")).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("p.log.1")).unwrap(), "x");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn passthrough_paths() {
        for path in [
            "/dev/stdout",
            "/dev/stderr",
            "/dev/fd/1",
            "/proc/self/fd/12",
        ] {
            assert!(is_passthrough(Path::new(path)), "{path}");
        }
        for path in [
            "/dev/fd/",
            "/dev/fd/x",
            "/dev/stdout/x",
            "/tmp/stdout",
            "/proc/1/fd/1",
        ] {
            assert!(!is_passthrough(Path::new(path)), "{path}");
        }
    }
}
