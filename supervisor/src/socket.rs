//! Binding the control socket as root without following a link an attacker
//! could plant: the socket is made, chmodded and chowned inside a private
//! directory nobody else can enter, then renamed onto its path (a rename
//! replaces a stale socket or a planted symlink itself, never what it
//! points at). A live daemon's socket and anything that is not a socket
//! are refused.

use nix::errno::Errno;
use nix::fcntl::{open, openat, renameat, AtFlags, OFlag};
use nix::sys::stat::{fchmodat, fstat, fstatat, FchmodatFlags, Mode, SFlag};
use nix::unistd::{fchownat, mkdtemp, unlinkat, Gid, Uid, UnlinkatFlags};
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The socket's name inside the private directory: short, so that the
/// temporary path stays within `sun_path`'s 108 bytes when the final one
/// does.
const INSIDE: &str = "s";

/// The step of [`bind`] that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Looking at what is at the path already.
    Inspect,
    CreateDirectory,
    OpenDirectory,
    /// Making the private directory the socket is prepared in.
    PrivateDirectory,
    Bind,
    Chown,
    Chmod,
    /// Moving the prepared socket onto its path.
    Rename,
}

impl Step {
    fn describe(self) -> &'static str {
        match self {
            Step::Inspect => "cannot inspect",
            Step::CreateDirectory => "cannot use the directory of",
            Step::OpenDirectory => "cannot open the directory of",
            Step::PrivateDirectory => "cannot make a private directory beside",
            Step::Bind => "cannot bind",
            Step::Chown => "cannot chown",
            Step::Chmod => "cannot chmod",
            Step::Rename => "cannot move the new socket onto",
        }
    }
}

/// Why the control socket could not be bound.
#[derive(Debug)]
pub enum SocketError {
    /// Something accepts connections on the path: another taskmasterd.
    Live { path: PathBuf },
    /// The path holds something that is not a socket (`kind`: "a regular
    /// file", "a directory"...).
    NotASocket { path: PathBuf, kind: &'static str },
    /// `step` failed with `cause`.
    Failed {
        path: PathBuf,
        step: Step,
        cause: io::Error,
    },
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::Live { path } => write!(
                f,
                "another taskmasterd is listening on {}; stop it first (taskmasterctl -s unix://{} shutdown)",
                path.display(),
                path.display()
            ),
            SocketError::NotASocket { path, kind } => write!(
                f,
                "{} exists and is {kind}, not a socket; remove it or choose another [unix_http_server] file",
                path.display()
            ),
            SocketError::Failed { path, step, cause } => {
                write!(f, "{} socket {}: {cause}", step.describe(), path.display())
            }
        }
    }
}

impl std::error::Error for SocketError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SocketError::Failed { cause, .. } => Some(cause),
            _ => None,
        }
    }
}

/// Binds a listening Unix socket at `path` with exactly `mode` and, when
/// given, `owner` (uid, and gid if given). The socket never exists at
/// `path` with another mode or owner, and no step follows a symlink at
/// `path`: a stale socket or a symlink there is replaced. The listener is
/// blocking; its user decides.
pub fn bind(
    path: &Path,
    mode: u32,
    owner: Option<(u32, Option<u32>)>,
    replacing: Option<u64>,
) -> Result<UnixListener, SocketError> {
    let fail = |step: Step| {
        move |cause: io::Error| SocketError::Failed {
            path: path.to_path_buf(),
            step,
            cause,
        }
    };
    let errno = |step: Step| move |errno: Errno| fail(step)(io::Error::from(errno));
    let Some(name) = path.file_name() else {
        return Err(fail(Step::Inspect)(io::ErrorKind::InvalidInput.into()));
    };
    check_target(path, replacing)?;
    let dir_path = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    // Not created: root making directories along a path that someone else
    // may have redirected is what this module avoids.
    if !dir_path.is_dir() {
        return Err(fail(Step::CreateDirectory)(io::Error::new(
            io::ErrorKind::NotFound,
            "its directory does not exist; create it (systemd: RuntimeDirectory=, or tmpfiles.d)",
        )));
    }
    let dir = open(
        dir_path,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno(Step::OpenDirectory))?;
    let private = Private::create(&dir, dir_path).map_err(errno(Step::PrivateDirectory))?;
    let listener = private.bind().map_err(fail(Step::Bind))?;
    if let Some((uid, gid)) = owner {
        // The name is in our 0700 directory: nobody can have swapped it
        // for a link, and AT_SYMLINK_NOFOLLOW says so twice.
        fchownat(
            &private.fd,
            INSIDE,
            Some(Uid::from_raw(uid)),
            gid.map(Gid::from_raw),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(errno(Step::Chown))?;
    }
    // After the chown, which may clear set-id bits: the mode ends exact.
    let mode = Mode::from_bits_truncate(mode);
    fchmodat(&private.fd, INSIDE, mode, FchmodatFlags::FollowSymlink)
        .map_err(errno(Step::Chmod))?;
    renameat(&private.fd, INSIDE, &dir, name).map_err(errno(Step::Rename))?;
    Ok(listener)
}

/// Refuses a live socket and anything that is neither a socket nor a
/// symlink at `path`; a missing path, a stale socket or a symlink (which
/// the rename replaces) may go.
fn check_target(path: &Path, replacing: Option<u64>) -> Result<(), SocketError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(cause) => {
            return Err(SocketError::Failed {
                path: path.to_path_buf(),
                step: Step::Inspect,
                cause,
            })
        }
    };
    let file_type = meta.file_type();
    // A symlink is replaced, and so is our own socket (inode `replacing`)
    // when its mode or owner changes.
    if file_type.is_symlink() || (file_type.is_socket() && replacing == Some(meta.ino())) {
        return Ok(());
    }
    if file_type.is_socket() {
        // Only a socket is connected to: connecting does not follow
        // anything further, and no daemon is ever replaced.
        return match UnixStream::connect(path) {
            Ok(_) => Err(SocketError::Live {
                path: path.to_path_buf(),
            }),
            Err(_) => Ok(()),
        };
    }
    let kind = if file_type.is_file() {
        "a regular file"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a named pipe"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "not a file taskmasterd knows"
    };
    Err(SocketError::NotASocket {
        path: path.to_path_buf(),
        kind,
    })
}

/// A directory made by `mkdtemp` (mode 0700) beside the socket's path, so
/// that the final rename stays on one file system. Removed, with whatever
/// is left in it, when dropped.
struct Private {
    /// The directory it is in.
    parent: OwnedFd,
    name: OsString,
    path: PathBuf,
    fd: OwnedFd,
}

impl Private {
    fn create(parent: &OwnedFd, parent_path: &Path) -> Result<Private, Errno> {
        let path = mkdtemp(&parent_path.join(".tm-XXXXXX"))?;
        let name = path.file_name().ok_or(Errno::EINVAL)?.to_os_string();
        let parent = parent.try_clone().map_err(|_| Errno::EMFILE)?;
        let fd = openat(
            &parent,
            name.as_os_str(),
            OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        let private = Private {
            parent,
            name,
            path,
            fd,
        };
        // What the name leads to now must be what mkdtemp made: ours and
        // closed to everyone else. Anything else was put there by someone.
        let stat = fstat(&private.fd)?;
        if stat.st_uid != Uid::effective().as_raw() || stat.st_mode & 0o777 != 0o700 {
            return Err(Errno::EPERM);
        }
        Ok(private)
    }

    /// Binds the socket inside; a path too long for `sun_path` goes
    /// through the directory's descriptor in /proc instead.
    fn bind(&self) -> io::Result<UnixListener> {
        let listener = match UnixListener::bind(self.path.join(INSIDE)) {
            Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                let short = format!("/proc/self/fd/{}/{INSIDE}", self.fd.as_raw_fd());
                UnixListener::bind(short)?
            }
            result => result?,
        };
        // The path was resolved again by bind: the socket must be in the
        // directory we hold, else someone moved the directory meanwhile.
        let stat = fstatat(&self.fd, INSIDE, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        if SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT != SFlag::S_IFSOCK {
            return Err(io::Error::other(
                "the private directory changed under taskmasterd",
            ));
        }
        Ok(listener)
    }
}

impl Drop for Private {
    fn drop(&mut self) {
        let _ = unlinkat(&self.fd, INSIDE, UnlinkatFlags::NoRemoveDir);
        let _ = unlinkat(
            &self.parent,
            OsStr::new(&self.name),
            UnlinkatFlags::RemoveDir,
        );
    }
}

/// The control socket as taskmasterd serves it through the broker: bound
/// from taskmasterd's own reading of `[unix_http_server]`, handed to each
/// broker (which never needs the privilege to chown it), and removed at
/// exit if it is still ours.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    inode: u64,
}

impl ControlSocket {
    /// Binds the socket `config` describes; `current` is the socket being
    /// served, replaced in place when the path is the same.
    pub fn bind(
        config: &taskmaster_config::ServerConfig,
        current: Option<&ControlSocket>,
    ) -> Result<ControlSocket, SocketError> {
        let path = &config.file;
        let replacing = current.filter(|c| c.path == *path).map(|c| c.inode);
        let owner = config.chown.as_ref().map(|o| (o.uid, o.gid));
        let listener = bind(path, config.chmod, owner, replacing)?;
        let inode = std::fs::symlink_metadata(path)
            .map_err(|cause| SocketError::Failed {
                path: path.clone(),
                step: Step::Inspect,
                cause,
            })?
            .ino();
        Ok(ControlSocket {
            listener,
            path: path.clone(),
            inode,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A descriptor of the listening socket for a broker.
    pub fn handle(&self) -> io::Result<OwnedFd> {
        self.listener.try_clone().map(OwnedFd::from)
    }

    /// Removes the socket file if it is still the one we bound (never a
    /// socket another daemon bound there since).
    pub fn remove(&self) {
        if std::fs::symlink_metadata(&self.path).is_ok_and(|m| m.ino() == self.inode) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tm-socket-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn entries(dir: &Path) -> Vec<OsString> {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn binds_with_the_exact_mode_and_leaves_nothing_else() {
        let dir = temp_dir("bind");
        let path = dir.join("tm.sock");
        let listener = bind(&path, 0o660, None, None).expect("bind");
        assert!(std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_socket());
        assert_eq!(mode(&path), 0o660);
        assert_eq!(entries(&dir), vec![OsString::from("tm.sock")]);
        let _client = UnixStream::connect(&path).expect("connect");
        listener.accept().expect("accept");
        let other = dir.join("other.sock");
        let _other = bind(&other, 0o700, None, None).expect("bind 0o700");
        assert_eq!(mode(&other), 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_planted_symlink_is_replaced_not_followed() {
        let dir = temp_dir("symlink");
        let victim = dir.join("shadow");
        std::fs::write(&victim, "secret\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
        let before = std::fs::metadata(&victim).unwrap();
        let path = dir.join("tm.sock");
        symlink(&victim, &path).unwrap();
        let me = Uid::effective().as_raw();
        let owner = if me == 0 { 65534 } else { me };
        let _listener = bind(&path, 0o666, Some((owner, None)), None).expect("bind");
        let after = std::fs::metadata(&victim).unwrap();
        assert_eq!(mode(&victim), 0o600);
        assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "secret\n");
        let socket = std::fs::symlink_metadata(&path).unwrap();
        assert!(socket.file_type().is_socket());
        assert_eq!(socket.uid(), owner);
        assert_eq!(mode(&path), 0o666);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_live_socket_is_refused_and_keeps_serving() {
        let dir = temp_dir("live");
        let path = dir.join("tm.sock");
        let first = bind(&path, 0o700, None, None).expect("bind");
        let error = bind(&path, 0o700, None, None).expect_err("refused");
        assert!(matches!(error, SocketError::Live { .. }), "{error:?}");
        assert!(
            error.to_string().starts_with(&format!(
                "another taskmasterd is listening on {}",
                path.display()
            )),
            "{error}"
        );
        let _client = UnixStream::connect(&path).expect("still served");
        first.accept().expect("accept");
        assert_eq!(entries(&dir), vec![OsString::from("tm.sock")]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_stale_socket_is_replaced() {
        let dir = temp_dir("stale");
        let path = dir.join("tm.sock");
        drop(bind(&path, 0o700, None, None).expect("bind"));
        let listener = bind(&path, 0o700, None, None).expect("rebind over a stale socket");
        let _client = UnixStream::connect(&path).expect("connect");
        listener.accept().expect("accept");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_regular_file_or_directory_is_refused() {
        let dir = temp_dir("file");
        let path = dir.join("tm.sock");
        std::fs::write(&path, "data").unwrap();
        let error = bind(&path, 0o700, None, None).expect_err("refused");
        assert_eq!(
            error.to_string(),
            format!(
                "{} exists and is a regular file, not a socket; remove it or choose another [unix_http_server] file",
                path.display()
            )
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
        std::fs::create_dir(dir.join("d.sock")).unwrap();
        let error = bind(&dir.join("d.sock"), 0o700, None, None).expect_err("refused");
        assert!(
            matches!(
                error,
                SocketError::NotASocket {
                    kind: "a directory",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error
            .to_string()
            .contains(&dir.join("d.sock").display().to_string()));
        assert_eq!(
            entries(&dir),
            vec![OsString::from("d.sock"), OsString::from("tm.sock")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_path_too_long_for_the_private_directory_still_binds() {
        let dir = temp_dir("long");
        // 107 bytes in all: the longest sun_path takes, too long with the
        // private directory's `/.tm-XXXXXX/s` inside.
        let room = 107 - dir.as_os_str().len() - 1;
        let path = dir.join("x".repeat(room));
        let _listener = bind(&path, 0o700, None, None).expect("bind");
        assert!(UnixStream::connect(&path).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
