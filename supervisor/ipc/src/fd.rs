//! Taking ownership of raw descriptors: the broker's end of the socketpair,
//! inherited from taskmasterd as a well-known descriptor number, and the
//! descriptors either side receives with `SCM_RIGHTS`.

use nix::sys::socket::{getsockopt, sockopt::SockType, SockType as Kind};
use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The descriptor number taskmasterd gives the broker its channel on.
pub const BROKER_CHANNEL_FD: RawFd = 3;

/// Takes ownership of the inherited channel, after checking that it really is
/// a `SOCK_SEQPACKET` socket (so running the broker by hand fails cleanly).
/// Call it once.
pub fn inherited_channel() -> io::Result<OwnedFd> {
    let not_started_by_taskmasterd = || {
        io::Error::other(format!(
            "descriptor {BROKER_CHANNEL_FD} is not a seqpacket socket: taskmaster-broker is started by taskmasterd, not by hand"
        ))
    };
    // SAFETY: the descriptor is only borrowed for the duration of the check;
    // if it is closed, getsockopt fails with EBADF and nothing is owned.
    let borrowed = unsafe { BorrowedFd::borrow_raw(BROKER_CHANNEL_FD) };
    match getsockopt(&borrowed, SockType) {
        Ok(Kind::SeqPacket) => {}
        _ => return Err(not_started_by_taskmasterd()),
    }
    // SAFETY: the check above proved the descriptor is open and a socket;
    // taskmasterd hands it to this process alone, and callers take it once.
    Ok(unsafe { OwnedFd::from_raw_fd(BROKER_CHANNEL_FD) })
}

/// Takes ownership of descriptors the kernel has just installed in this
/// process for a received `SCM_RIGHTS` message. Call it once per message,
/// with exactly the numbers `recvmsg` returned.
pub fn received(raw: &[RawFd]) -> Vec<OwnedFd> {
    raw.iter()
        .map(|&fd| {
            // SAFETY: recvmsg just created this descriptor in our table for
            // this message; nothing else knows its number, so it is owned by
            // nobody else and this becomes its one owner.
            unsafe { OwnedFd::from_raw_fd(fd) }
        })
        .collect()
}
