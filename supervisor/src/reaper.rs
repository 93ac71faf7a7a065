//! Reaping: collecting every exited child (programs, the broker, orphans
//! reparented to us as subreaper) and describing how it ended.

use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use taskmaster_ipc::ExitStatus;

/// Every child that has ended since the last call, without blocking.
pub fn reap_all() -> Vec<(Pid, ExitStatus)> {
    let mut reaped = Vec::new();
    loop {
        match waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
            Ok(status) => reaped.extend(exit_status(status)),
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    reaped
}

/// The pid and exit of a `waitpid` result, `None` for a child that only
/// stopped or continued.
pub fn exit_status(status: WaitStatus) -> Option<(Pid, ExitStatus)> {
    match status {
        WaitStatus::Exited(pid, code) => Some((pid, ExitStatus::Code { code })),
        WaitStatus::Signaled(pid, signal, core_dumped) => Some((
            pid,
            ExitStatus::Signal {
                signal: signal as i32,
                core_dumped,
            },
        )),
        _ => None,
    }
}

/// "exited with status 3", "was killed by SIGKILL", "was killed by SIGSEGV
/// (core dumped)".
pub fn describe(status: &ExitStatus) -> String {
    match *status {
        ExitStatus::Code { code } => format!("exited with status {code}"),
        ExitStatus::Signal {
            signal,
            core_dumped,
        } => {
            let name = Signal::try_from(signal)
                .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_string());
            let core = if core_dumped { " (core dumped)" } else { "" };
            format!("was killed by {name}{core}")
        }
    }
}

/// The status taskmasterd exits with when the broker ended this way: its
/// own code, or 1 when a signal killed it.
pub fn exit_code(status: &ExitStatus) -> i32 {
    match *status {
        ExitStatus::Code { code } => code,
        ExitStatus::Signal { .. } => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(raw: i32) -> Option<ExitStatus> {
        let status = WaitStatus::from_raw(Pid::from_raw(42), raw).expect("valid status");
        exit_status(status).map(|(pid, status)| {
            assert_eq!(pid.as_raw(), 42);
            status
        })
    }

    #[test]
    fn decodes_codes_and_signals() {
        assert_eq!(decode(3 << 8), Some(ExitStatus::Code { code: 3 }));
        assert_eq!(
            decode(libc::SIGKILL),
            Some(ExitStatus::Signal {
                signal: libc::SIGKILL,
                core_dumped: false
            })
        );
        assert_eq!(
            decode(libc::SIGSEGV | 0x80),
            Some(ExitStatus::Signal {
                signal: libc::SIGSEGV,
                core_dumped: true
            })
        );
        // Stopped, not ended.
        assert_eq!(decode((libc::SIGSTOP << 8) | 0x7f), None);
    }

    #[test]
    fn descriptions_and_codes() {
        let code = ExitStatus::Code { code: 2 };
        let killed = ExitStatus::Signal {
            signal: libc::SIGKILL,
            core_dumped: false,
        };
        let segv = ExitStatus::Signal {
            signal: libc::SIGSEGV,
            core_dumped: true,
        };
        assert_eq!(describe(&code), "exited with status 2");
        assert_eq!(describe(&killed), "was killed by SIGKILL");
        assert_eq!(describe(&segv), "was killed by SIGSEGV (core dumped)");
        assert_eq!((exit_code(&code), exit_code(&killed)), (2, 1));
    }
}
