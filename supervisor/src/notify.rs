//! Telling the service manager where taskmasterd stands (systemd's
//! `sd_notify` protocol: one datagram of `KEY=value` lines on the socket
//! named by `NOTIFY_SOCKET`), without libsystemd.
//!
//! Only fixed keys are ever written (`READY`, `RELOADING`, `STOPPING`,
//! `STATUS`, `MONOTONIC_USEC`, `EXTEND_TIMEOUT_USEC`), and the one text
//! that comes from the broker, the status, is cut to [`MAX_STATUS`] bytes
//! and stripped of newlines and other control characters first: a forged
//! packet cannot add a line such as `MAINPID=` to the message.

use nix::time::{clock_gettime, ClockId};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;
use taskmaster_ipc::ServicePhase;

/// Where systemd listens for our notifications.
const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// The longest status line sent, in bytes.
pub const MAX_STATUS: usize = 200;

/// The service manager's notification socket, when we have one.
pub struct ServiceManager {
    socket: UnixDatagram,
    address: SocketAddr,
}

impl ServiceManager {
    /// Takes `NOTIFY_SOCKET` out of the environment (programs and the broker
    /// must not inherit it: a program's `READY=1` is not ours) and opens a
    /// socket to it. `None` outside a `Type=notify` service, or when the
    /// variable names nothing usable (a notification is never worth failing
    /// the start).
    pub fn from_env() -> Option<ServiceManager> {
        let value = std::env::var_os(NOTIFY_SOCKET)?;
        std::env::remove_var(NOTIFY_SOCKET);
        let value = value.to_str()?;
        let address = match value.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()).ok()?,
            None if value.starts_with('/') => SocketAddr::from_pathname(value).ok()?,
            None => return None,
        };
        ServiceManager::connect(address)
    }

    /// A socket that never blocks: with the manager's queue full (it reads
    /// slowly, or a broker sends `Service` packets in a loop) a
    /// notification is dropped rather than taskmasterd stopping to wait.
    fn connect(address: SocketAddr) -> Option<ServiceManager> {
        let socket = UnixDatagram::unbound().ok()?;
        socket.set_nonblocking(true).ok()?;
        Some(ServiceManager { socket, address })
    }

    /// Sends `READY=1`, `RELOADING=1` or only the status.
    pub fn phase(&self, phase: ServicePhase, status: &str) {
        let reloading_at = (phase == ServicePhase::Reloading).then(monotonic_usec);
        self.send(&message(phase, status, reloading_at));
    }

    /// Sends `STOPPING=1`: a shutdown began and may take `budget`, which
    /// extends the unit's stop timeout when it is longer
    /// (`EXTEND_TIMEOUT_USEC`, which never shortens it).
    pub fn stopping(&self, budget: Duration) {
        self.send(&format!(
            "STOPPING=1\nEXTEND_TIMEOUT_USEC={}\n",
            budget.as_micros()
        ));
    }

    fn send(&self, message: &str) {
        // Best effort, as sd_notify: systemd gone or its socket full must
        // not disturb supervision.
        let _ = self.socket.send_to_addr(message.as_bytes(), &self.address);
    }
}

/// The notification for `phase`. `RELOADING=1` carries the monotonic clock
/// (`reloading_at`), which systemd 253 and later want with it.
fn message(phase: ServicePhase, status: &str, reloading_at: Option<u64>) -> String {
    let mut text = String::new();
    match phase {
        ServicePhase::Ready => text.push_str("READY=1\n"),
        ServicePhase::Reloading => {
            text.push_str("RELOADING=1\n");
            if let Some(usec) = reloading_at {
                text.push_str(&format!("MONOTONIC_USEC={usec}\n"));
            }
        }
        ServicePhase::Status => {}
    }
    text.push_str("STATUS=");
    text.push_str(&clean_status(status));
    text.push('\n');
    text
}

/// `status` as one harmless line: control characters (newlines among them)
/// become spaces, and it stops at [`MAX_STATUS`] bytes on a character
/// boundary.
fn clean_status(status: &str) -> String {
    let mut clean = String::new();
    for c in status.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if clean.len() + c.len_utf8() > MAX_STATUS {
            break;
        }
        clean.push(c);
    }
    clean
}

fn monotonic_usec() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        let usec = i128::from(t.tv_sec()) * 1_000_000 + i128::from(t.tv_nsec()) / 1000;
        u64::try_from(usec).unwrap_or(0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_write_fixed_keys() {
        assert_eq!(
            message(ServicePhase::Ready, "3 running", None),
            "READY=1\nSTATUS=3 running\n"
        );
        assert_eq!(
            message(ServicePhase::Reloading, "reloading", Some(42)),
            "RELOADING=1\nMONOTONIC_USEC=42\nSTATUS=reloading\n"
        );
        assert_eq!(
            message(ServicePhase::Status, "1 fatal", None),
            "STATUS=1 fatal\n"
        );
    }

    #[test]
    fn a_forged_status_cannot_add_a_line() {
        let text = message(ServicePhase::Status, "ok\nMAINPID=1\rREADY=1\0", None);
        assert_eq!(text, "STATUS=ok MAINPID=1 READY=1 \n");
        assert_eq!(text.lines().count(), 1);
    }

    #[test]
    fn status_is_bounded_on_a_character_boundary() {
        let long = "é".repeat(MAX_STATUS);
        let clean = clean_status(&long);
        assert_eq!(clean.len(), MAX_STATUS);
        assert!(clean.chars().all(|c| c == 'é'));
    }

    #[test]
    fn notifications_reach_an_abstract_socket() {
        let name = format!("taskmaster-notify-test-{}", std::process::id());
        let listener =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        let manager =
            ServiceManager::connect(SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        manager.stopping(Duration::from_secs(25));
        let mut buffer = [0u8; 64];
        let n = listener.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"STOPPING=1\nEXTEND_TIMEOUT_USEC=25000000\n");
    }

    #[test]
    fn a_manager_that_does_not_read_never_blocks_taskmasterd() {
        let name = format!("taskmaster-notify-full-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        // Bound, never read: its queue fills after a few datagrams.
        let _listener = UnixDatagram::bind_addr(&address).unwrap();
        let manager = ServiceManager::connect(address).unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            // Far more than the kernel queues (net.unix.max_dgram_qlen).
            for n in 0..10_000 {
                manager.phase(ServicePhase::Status, &format!("{n} running"));
            }
            done.send(()).unwrap();
        });
        finished
            .recv_timeout(Duration::from_secs(30))
            .expect("every notification returns, sent or dropped");
    }
}
