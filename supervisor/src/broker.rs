//! Starting taskmaster-broker: where its binary is, as which user and with
//! which capabilities it runs, and how fast it is restarted when it dies.

use crate::credentials::{self, Switch};
use crate::error::Error;

use crate::sys::{self, BrokerPlan, CStringArray, Privilege};
use nix::sys::socket::{setsockopt, socketpair, sockopt, AddressFamily, SockFlag, SockType};
use nix::unistd::{geteuid, Pid};
use std::ffi::CString;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Overrides where the broker binary is.
pub const BROKER_ENV: &str = "TASKMASTER_BROKER";

/// The broker's user when `[taskmasterd] user` is not set and taskmasterd
/// runs as root (the Debian package creates it).
pub const DEFAULT_USER: &str = "taskmaster";
/// The broker's user when [`DEFAULT_USER`] does not exist: it owns nothing,
/// which is what the broker needs.
const FALLBACK_USER: &str = "nobody";

/// A broker that lived at least this long had a normal life: its next death
/// is restarted at once.
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// How to start the broker, resolved once at start-up.
pub struct BrokerCommand {
    program: PathBuf,
    config: PathBuf,
    nodaemon: bool,
    user: Option<sys::Credentials>,
    /// Why the broker runs as a fallback user, for the logs and `status`.
    pub warning: Option<String>,
}

impl BrokerCommand {
    /// Checks everything that can be checked before the first start: the
    /// binary exists and the user (if any) can be switched to. The error is
    /// the message to show; taskmasterd then exits with status 2.
    pub fn new(config: &Path, nodaemon: bool, user: Option<&str>) -> Result<Self, Error> {
        let program = locate()?;
        let (user, warning) = choose_user(user)?;
        Ok(Self {
            program,
            config: config.to_path_buf(),
            nodaemon,
            user,
            warning,
        })
    }

    /// The uid the broker runs as when it is not ours.
    pub fn uid(&self) -> Option<u32> {
        self.user.as_ref().map(|credentials| credentials.uid)
    }

    /// Who the broker runs as when it is not ours.
    pub fn user(&self) -> Option<&sys::Credentials> {
        self.user.as_ref()
    }

    /// Starts a broker; returns its pid and our end of the channel.
    pub fn start(&self) -> Result<(Pid, OwnedFd), Error> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|errno| Error::errno("cannot create the broker's socketpair", errno))?;
        // A Hello listing thousands of children must fit in one packet.
        let _ = setsockopt(&ours, sockopt::SndBuf, &(2 * taskmaster_ipc::MAX_PACKET));
        let plan = self.plan(theirs)?;
        let child = sys::start_broker(&plan)
            .map_err(|errno| Error::errno("cannot fork taskmaster-broker", errno))?;
        Ok((child, ours))
    }

    fn plan(&self, channel: OwnedFd) -> Result<BrokerPlan, Error> {
        let c_string =
            |s: &[u8]| CString::new(s).map_err(|_| "a path contains a NUL byte".to_string());
        let program = c_string(self.program.as_os_str().as_bytes())?;
        let mut argv = vec![
            program.clone(),
            c_string(b"-c")?,
            c_string(self.config.as_os_str().as_bytes())?,
        ];
        if self.nodaemon {
            argv.push(c_string(b"--nodaemon")?);
        }
        let privilege = match &self.user {
            Some(credentials) => Privilege::User {
                credentials: credentials.clone(),
                drop_bounding: caps::runtime::thread_all_supported().into_iter().collect(),
            },
            None => Privilege::Unchanged,
        };
        Ok(BrokerPlan {
            channel,
            privilege,
            parent: std::process::id() as libc::pid_t,
            program,
            argv: CStringArray::new(argv),
            exec_error: format!(
                "taskmasterd: cannot execute taskmaster-broker '{}': ",
                self.program.display()
            )
            .into_bytes(),
        })
    }
}

/// Where the Debian package installs the broker: out of `PATH`, as a
/// program only taskmasterd runs.
pub const LIBEXEC_BROKER: &str = "/usr/libexec/taskmaster/taskmaster-broker";

/// `$TASKMASTER_BROKER`, else `taskmaster-broker` next to taskmasterd (a
/// build tree, `cargo install`), else [`LIBEXEC_BROKER`].
pub fn locate() -> Result<PathBuf, Error> {
    if let Some(path) = std::env::var_os(BROKER_ENV).filter(|p| !p.is_empty()) {
        let program = PathBuf::from(&path);
        let program = std::path::absolute(&program).unwrap_or(program);
        if !program.is_file() {
            return Err(Error::new(format!(
                "cannot find taskmaster-broker at '{}' (from {BROKER_ENV}): correct or unset it",
                program.display()
            )));
        }
        return Ok(program);
    }
    // Without /proc (a bare chroot) our own path is unknown: only the
    // fixed place is tried.
    let beside = std::env::current_exe()
        .ok()
        .map(|exe| exe.with_file_name("taskmaster-broker"));
    let candidates: Vec<PathBuf> = beside
        .into_iter()
        .chain([PathBuf::from(LIBEXEC_BROKER)])
        .collect();
    candidates
        .iter()
        .find(|program| program.is_file())
        .cloned()
        .ok_or_else(|| {
            let tried: Vec<String> = candidates
                .iter()
                .map(|p| format!("'{}'", p.display()))
                .collect();
            Error::new(format!(
                "cannot find taskmaster-broker (tried {}): install it next to taskmasterd or in {}, or set {BROKER_ENV}",
                tried.join(", "),
                Path::new(LIBEXEC_BROKER).parent().unwrap_or(Path::new("/")).display()
            ))
        })
}

/// The identity the broker switches to, never root: `[taskmasterd] user`,
/// else (when we are root) [`DEFAULT_USER`], else [`FALLBACK_USER`] with a
/// warning. `None` when taskmasterd is not root and the broker simply runs
/// as the same user. The error is the message to show.
fn choose_user(
    configured: Option<&str>,
) -> Result<(Option<sys::Credentials>, Option<String>), Error> {
    let never_root = |user: &str, credentials: sys::Credentials| {
        if credentials.uid == 0 {
            Err(Error::new(format!(
                "[taskmasterd] user = '{user}': taskmaster-broker never runs as root; remove the setting to use the '{DEFAULT_USER}' user, or name an unprivileged one"
            )))
        } else {
            Ok(Some(credentials))
        }
    };
    if let Some(user) = configured {
        return match credentials::switch_to(user).map_err(|e| Error::context("[taskmasterd] user", e))? {
            Switch::To(credentials) => never_root(user, credentials).map(|c| (c, None)),
            Switch::AlreadyUs => Ok((None, None)),
            Switch::NeedsRoot => Err(Error::new(format!(
                "[taskmasterd] user = '{user}' needs taskmasterd to run as root: start it as root or remove the setting"
            ))),
        };
    }
    if !geteuid().is_root() {
        return Ok((None, None));
    }
    if let Ok(credentials) = credentials::lookup(DEFAULT_USER) {
        return never_root(DEFAULT_USER, credentials).map(|c| (c, None));
    }
    let credentials = credentials::lookup(FALLBACK_USER).map_err(|e| {
        Error::context(
            format!(
                "neither the '{DEFAULT_USER}' nor the '{FALLBACK_USER}' user is usable for taskmaster-broker: create one with `{}` or set [taskmasterd] user",
                create_user_command()
            ),
            e,
        )
    })?;
    let warning = format!(
        "taskmaster-broker runs as '{FALLBACK_USER}': the '{DEFAULT_USER}' user does not exist (create it with `{}`, or set [taskmasterd] user)",
        create_user_command()
    );
    never_root(FALLBACK_USER, credentials).map(|c| (c, Some(warning)))
}

fn create_user_command() -> String {
    format!("useradd --system --no-create-home --shell /usr/sbin/nologin {DEFAULT_USER}")
}

/// How long to wait before restarting a broker that died for the `deaths`th
/// time in a row, each within [`STABLE_AFTER`] of its start: at once, then
/// 1 s, 2 s, ... up to 10 s.
pub fn restart_delay(deaths: u32) -> Duration {
    Duration::from_secs(u64::from(deaths.saturating_sub(1).min(10)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_to_ten_seconds() {
        let delays: Vec<u64> = (1..=13).map(|n| restart_delay(n).as_secs()).collect();
        assert_eq!(delays, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10]);
    }
}
