//! Our end of the socketpair with the broker: non-blocking, one JSON
//! document per packet with its descriptors, outgoing packets queued until
//! the socket can take them so that neither side can block the other.

use crate::error::Error;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use taskmaster_ipc::{ToBroker, ToSupervisor, MAX_PACKET};

/// More descriptors than any packet legitimately carries, so that extra
/// ones are received (and closed) rather than silently truncated.
const MAX_FDS: usize = 8;

/// What one read from the channel gave.
pub enum Received {
    Packet(ToSupervisor, Vec<OwnedFd>),
    /// A packet we could not use; the text says why.
    Malformed(String),
    /// Nothing more for now.
    Empty,
    /// The broker closed its end.
    Closed,
}

pub struct Channel {
    fd: OwnedFd,
    /// Encoded packets with the descriptors they carry (owned copies, closed
    /// once sent).
    outbox: VecDeque<(Vec<u8>, Vec<OwnedFd>)>,
    buffer: Vec<u8>,
}

impl Channel {
    pub fn new(fd: OwnedFd) -> Result<Self, Error> {
        fcntl(&fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
            .map_err(|errno| Error::errno("cannot make the broker channel non-blocking", errno))?;
        Ok(Self {
            fd,
            outbox: VecDeque::new(),
            buffer: vec![0; MAX_PACKET],
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Queues `message` with `fds` and sends what the socket takes now.
    pub fn send(&mut self, message: &ToBroker, fds: Vec<OwnedFd>) -> Result<(), Errno> {
        self.outbox
            .push_back((taskmaster_ipc::encode(message), fds));
        self.flush()
    }

    pub fn wants_to_write(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// Sends queued packets until the socket is full. An error means the
    /// broker is gone.
    pub fn flush(&mut self) -> Result<(), Errno> {
        while let Some((packet, fds)) = self.outbox.front() {
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL;
            let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
            let rights = [ControlMessage::ScmRights(&raw)];
            let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &rights };
            match sendmsg::<()>(
                self.fd.as_raw_fd(),
                &[IoSlice::new(packet)],
                cmsgs,
                flags,
                None,
            ) {
                Ok(_) => {
                    self.outbox.pop_front();
                }
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(errno) => return Err(errno),
            }
        }
        Ok(())
    }

    /// Reads one packet with the descriptors that came with it.
    pub fn receive(&mut self) -> Received {
        let mut control = nix::cmsg_space!([RawFd; MAX_FDS]);
        let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
        let mut iov = [IoSliceMut::new(&mut self.buffer)];
        let (bytes, truncated, fds) =
            match recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, Some(&mut control), flags) {
                Ok(message) => {
                    let fds = received_fds(&message);
                    let truncated = message
                        .flags
                        .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC);
                    (message.bytes, truncated, fds)
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => return Received::Empty,
                // The broker exited with packets of ours still unread.
                Err(Errno::ECONNRESET) => return Received::Closed,
                Err(errno) => {
                    return Received::Malformed(format!(
                        "cannot read from the broker: {}",
                        errno.desc()
                    ))
                }
            };
        if bytes == 0 && fds.is_empty() {
            return Received::Closed;
        }
        if truncated {
            return Received::Malformed(format!(
                "dropped a packet from the broker larger than {MAX_PACKET} bytes or with more than {MAX_FDS} descriptors"
            ));
        }
        match taskmaster_ipc::decode::<ToSupervisor>(&self.buffer[..bytes]) {
            Ok(message) => Received::Packet(message, fds),
            Err(e) => {
                Received::Malformed(format!("dropped a malformed packet from the broker: {e}"))
            }
        }
    }

    /// Unsent packets, for turning into notices when the broker died.
    pub fn into_unsent(self) -> Vec<ToBroker> {
        self.outbox
            .iter()
            .filter_map(|(packet, _)| taskmaster_ipc::decode(packet).ok())
            .collect()
    }
}

fn received_fds<S>(message: &nix::sys::socket::RecvMsg<'_, '_, S>) -> Vec<OwnedFd> {
    let Ok(cmsgs) = message.cmsgs() else {
        return Vec::new();
    };
    let raw: Vec<RawFd> = cmsgs
        .flat_map(|cmsg| match cmsg {
            ControlMessageOwned::ScmRights(fds) => fds,
            _ => Vec::new(),
        })
        .collect();
    taskmaster_ipc::received(&raw)
}
