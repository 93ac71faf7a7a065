//! Becoming a daemon: resource limits, the fork with a readiness pipe (the
//! starting command returns only once the broker is ready, with its
//! status), detaching stdio, and the pidfile.

use crate::error::Error;

use crate::placed::{PlaceError, PlacedFile};
use crate::sys;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
use std::os::fd::OwnedFd;
use std::path::Path;

const READY: u8 = b'R';
const FAILED: u8 = b'X';

/// The daemon's side of the readiness pipe; the command that started us
/// waits on the other side.
pub struct Readiness(OwnedFd);

impl Readiness {
    /// The broker is ready: the waiting command exits 0.
    pub fn ready(self) {
        self.send([READY, 0]);
    }

    /// taskmasterd exits before being ready: the waiting command exits with
    /// `code` (the error was already printed on the shared stderr).
    pub fn failed(self, code: i32) {
        self.send([FAILED, u8::try_from(code).unwrap_or(1)]);
    }

    fn send(self, message: [u8; 2]) {
        // If the parent is gone there is nobody to tell.
        let _ = nix::unistd::write(&self.0, &message);
    }
}

/// Forks; returns in the daemon (a new session leader) with its readiness
/// handle. The original process waits for the report and exits with it.
pub fn daemonize() -> Result<Readiness, Error> {
    let pipe = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|errno| Error::errno("cannot create the readiness pipe", errno))?;
    let write_end = sys::fork_daemon(pipe, wait_for_daemon)
        .map_err(|errno| Error::errno("cannot fork the daemon", errno))?;
    nix::unistd::setsid().map_err(|errno| Error::errno("cannot start a new session", errno))?;
    Ok(Readiness(write_end))
}

/// The exit status of the starting command: what the daemon reports.
fn wait_for_daemon(pipe: &OwnedFd) -> i32 {
    let mut message = [0u8; 2];
    let mut filled = 0;
    while filled < message.len() {
        match nix::unistd::read(pipe, &mut message[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    match message {
        [READY, _] if filled == 2 => 0,
        [FAILED, code] if filled == 2 => i32::from(code),
        _ => {
            eprintln!("taskmasterd: the daemon exited before it was ready");
            1
        }
    }
}

/// Points stdin, stdout and stderr at /dev/null.
pub fn detach_stdio() -> Result<(), Error> {
    let devnull = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|e| Error::io("cannot open /dev/null", e))?;
    sys::redirect_std_fds(&devnull.into())
        .map_err(|e| Error::io("cannot redirect stdio to /dev/null", e))
}

/// The pidfile we wrote (see `placed.rs`: a planted symlink is replaced,
/// never followed).
pub struct Pidfile(PlacedFile);

impl Pidfile {
    pub fn write(path: &Path, pid: u32) -> Result<Pidfile, PlaceError> {
        PlacedFile::write(path, "the pidfile", format!("{pid}\n").as_bytes()).map(Pidfile)
    }

    /// Removes the pidfile if it is still the file we wrote.
    pub fn remove(self) {
        self.0.remove();
    }
}

/// One resource limit taskmasterd needs, with the words to explain it.
struct Limit {
    resource: Resource,
    key: &'static str,
    what: &'static str,
    ulimit: &'static str,
}

const OPEN_FILES: Limit = Limit {
    resource: Resource::RLIMIT_NOFILE,
    key: "minfds",
    what: "open files",
    ulimit: "ulimit -Hn",
};

const PROCESSES: Limit = Limit {
    resource: Resource::RLIMIT_NPROC,
    key: "minprocs",
    what: "processes",
    ulimit: "ulimit -Hu",
};

/// Raises the limits: the soft limit of open files to the hard limit
/// (taskmasterd and the broker each hold three pipe ends per program, as
/// systemd raises its own), and that of processes to at least `minprocs`;
/// the hard limits too when root and `minfds`/`minprocs` ask for more.
/// Returns the open files limit programs get: what they would have had
/// without the raise (at least `minfds`), so that a `select(2)` program is
/// not handed descriptors above 1024.
pub fn raise_limits(minfds: u64, minprocs: u64) -> Result<libc::rlimit, Error> {
    let root = nix::unistd::geteuid().is_root();
    let (soft, hard) = current(&OPEN_FILES)?;
    let plan = plan_open_files(minfds, soft, hard, root)?;
    if let Some((soft, hard)) = plan.raised {
        set(&OPEN_FILES, minfds, soft, hard)?;
    }
    raise(&PROCESSES, minprocs, root)?;
    Ok(libc::rlimit {
        rlim_cur: plan.for_programs.0,
        rlim_max: plan.for_programs.1,
    })
}

/// What to do with the open files limit.
#[derive(Debug, PartialEq, Eq)]
struct OpenFiles {
    /// The new `(soft, hard)` limits of taskmasterd, `None` to keep them.
    raised: Option<(u64, u64)>,
    /// The `(soft, hard)` limits programs get.
    for_programs: (u64, u64),
}

fn plan_open_files(wanted: u64, soft: u64, hard: u64, root: bool) -> Result<OpenFiles, Error> {
    // What minfds alone asks for is what programs get.
    let (program_soft, new_hard) =
        plan_limit(&OPEN_FILES, wanted, soft, hard, root)?.unwrap_or((soft, hard));
    let ours = if new_hard == RLIM_INFINITY {
        // Not a soft limit of open files the kernel accepts.
        program_soft
    } else {
        new_hard
    };
    let raised = (ours, new_hard) != (soft, hard);
    Ok(OpenFiles {
        raised: raised.then_some((ours, new_hard)),
        for_programs: (program_soft, new_hard),
    })
}

fn raise(limit: &Limit, wanted: u64, root: bool) -> Result<(), Error> {
    let (soft, hard) = current(limit)?;
    match plan_limit(limit, wanted, soft, hard, root)? {
        Some((soft, hard)) => set(limit, wanted, soft, hard),
        None => Ok(()),
    }
}

fn current(limit: &Limit) -> Result<(u64, u64), Error> {
    getrlimit(limit.resource)
        .map_err(|errno| Error::errno(format!("cannot read the limit of {}", limit.what), errno))
}

fn set(limit: &Limit, wanted: u64, soft: u64, hard: u64) -> Result<(), Error> {
    setrlimit(limit.resource, soft, hard).map_err(|errno| {
        Error::new(format!(
            "cannot raise the limit of {} to {} = {wanted}: {}: lower {}",
            limit.what,
            limit.key,
            errno.desc(),
            limit.key
        ))
    })
}

/// The new `(soft, hard)` limits, `None` when the current ones suffice.
fn plan_limit(
    limit: &Limit,
    wanted: u64,
    soft: u64,
    hard: u64,
    root: bool,
) -> Result<Option<(u64, u64)>, Error> {
    if soft == RLIM_INFINITY || soft >= wanted {
        Ok(None)
    } else if hard == RLIM_INFINITY || wanted <= hard {
        Ok(Some((wanted, hard)))
    } else if root {
        Ok(Some((wanted, wanted)))
    } else {
        Err(Error::new(format!(
            "{} = {wanted} exceeds the hard limit of {} ({hard}): lower {} or raise the limit ({})",
            limit.key, limit.what, limit.key, limit.ulimit
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_raised_only_when_needed() {
        assert_eq!(
            plan_limit(&OPEN_FILES, 1024, 4096, 8192, false).map_err(|e| e.to_string()),
            Ok(None)
        );
        assert_eq!(
            plan_limit(&OPEN_FILES, 1024, RLIM_INFINITY, RLIM_INFINITY, false)
                .map_err(|e| e.to_string()),
            Ok(None)
        );
        assert_eq!(
            plan_limit(&OPEN_FILES, 4096, 1024, 8192, false).map_err(|e| e.to_string()),
            Ok(Some((4096, 8192)))
        );
        assert_eq!(
            plan_limit(&OPEN_FILES, 4096, 1024, RLIM_INFINITY, false).map_err(|e| e.to_string()),
            Ok(Some((4096, RLIM_INFINITY)))
        );
        assert_eq!(
            plan_limit(&OPEN_FILES, 100000, 1024, 65536, true).map_err(|e| e.to_string()),
            Ok(Some((100000, 100000)))
        );
    }

    #[test]
    fn open_files_go_up_to_the_hard_limit_but_not_for_programs() {
        let plan = |wanted, soft, hard, root| {
            plan_open_files(wanted, soft, hard, root).map_err(|e| e.to_string())
        };
        assert_eq!(
            plan(1024, 1024, 524288, false),
            Ok(OpenFiles {
                raised: Some((524288, 524288)),
                for_programs: (1024, 524288),
            })
        );
        assert_eq!(
            plan(4096, 1024, 524288, false),
            Ok(OpenFiles {
                raised: Some((524288, 524288)),
                for_programs: (4096, 524288),
            })
        );
        // Already at the hard limit: nothing to change.
        assert_eq!(
            plan(1024, 8192, 8192, false),
            Ok(OpenFiles {
                raised: None,
                for_programs: (8192, 8192),
            })
        );
        // Root raises the hard limit for minfds.
        assert_eq!(
            plan(100000, 1024, 65536, true),
            Ok(OpenFiles {
                raised: Some((100000, 100000)),
                for_programs: (100000, 100000),
            })
        );
        // No finite hard limit: the soft limit goes to minfds only.
        assert_eq!(
            plan(4096, 1024, RLIM_INFINITY, false),
            Ok(OpenFiles {
                raised: Some((4096, RLIM_INFINITY)),
                for_programs: (4096, RLIM_INFINITY),
            })
        );
        assert!(plan(100000, 1024, 65536, false)
            .unwrap_err()
            .starts_with("minfds = 100000 exceeds the hard limit of open files (65536)"));
    }

    #[test]
    fn a_limit_above_the_hard_limit_explains_itself() {
        assert_eq!(
            plan_limit(&OPEN_FILES, 100000, 1024, 65536, false).map_err(|e| e.to_string()),
            Err("minfds = 100000 exceeds the hard limit of open files (65536): lower minfds or raise the limit (ulimit -Hn)".to_string())
        );
        assert_eq!(
            plan_limit(&PROCESSES, 500, 100, 200, false).map_err(|e| e.to_string()),
            Err("minprocs = 500 exceeds the hard limit of processes (200): lower minprocs or raise the limit (ulimit -Hu)".to_string())
        );
    }
}
