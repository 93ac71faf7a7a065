//! The broker's end of the socketpair to taskmasterd: a writer task that
//! sends [`ToSupervisor`] packets (with descriptors) as the socket accepts
//! them, and a receiver for [`ToBroker`] packets.

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{recv, sendmsg, ControlMessage, MsgFlags, UnixAddr};
use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use taskmaster_ipc::{decode, encode, ToBroker, ToSupervisor, MAX_PACKET};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// Sends packets to taskmasterd without ever blocking the caller: packets
/// queue until the socket has room.
#[derive(Clone)]
pub struct LinkSender {
    queue: mpsc::UnboundedSender<(Vec<u8>, Vec<OwnedFd>)>,
}

impl LinkSender {
    /// Queues `message`; `fds` travel with it and are closed here once sent.
    pub fn send(&self, message: &ToSupervisor, fds: Vec<OwnedFd>) {
        // If the writer is gone the supervisor is gone too, and the broker
        // is about to exit: nothing useful can be done with the packet.
        let _ = self.queue.send((encode(message), fds));
    }
}

pub struct LinkReceiver {
    socket: Arc<AsyncFd<OwnedFd>>,
    buf: Vec<u8>,
}

impl LinkReceiver {
    /// The next packet; `None` when taskmasterd has closed the channel.
    pub async fn recv(&mut self) -> io::Result<Option<ToBroker>> {
        loop {
            let mut guard = self.socket.readable().await?;
            let result = guard.try_io(|inner| {
                recv(inner.as_raw_fd(), &mut self.buf, MsgFlags::MSG_DONTWAIT)
                    .map_err(io::Error::from)
            });
            match result {
                Ok(Ok(0)) => return Ok(None),
                Ok(Ok(n)) => {
                    return decode(&self.buf[..n]).map(Some).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad packet from taskmasterd: {e}"),
                        )
                    })
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// The writer task; it ends once every [`LinkSender`] is dropped and the
/// queue is sent, so awaiting it flushes the last packets (`Exit`).
pub type LinkWriter = tokio::task::JoinHandle<()>;

/// Wraps the inherited channel and starts the writer task. Must be called
/// inside the runtime.
pub fn open(channel: OwnedFd) -> io::Result<(LinkSender, LinkReceiver, LinkWriter)> {
    let flags = OFlag::from_bits_truncate(fcntl(&channel, FcntlArg::F_GETFL)?);
    fcntl(&channel, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    // `AsyncFd::new` is deprecated because an arbitrary `AsRawFd` may close
    // or swap its descriptor behind the reactor's back; an `OwnedFd` owned
    // by the AsyncFd cannot, so the safe constructor is sound here.
    #[allow(deprecated)]
    let socket = Arc::new(AsyncFd::new(channel)?);
    let (queue, mut outgoing) = mpsc::unbounded_channel::<(Vec<u8>, Vec<OwnedFd>)>();
    let writer = Arc::clone(&socket);
    let writer_task = tokio::spawn(async move {
        while let Some((bytes, fds)) = outgoing.recv().await {
            if send_packet(&writer, &bytes, &fds).await.is_err() {
                return;
            }
        }
    });
    Ok((
        LinkSender { queue },
        LinkReceiver {
            socket,
            buf: vec![0; MAX_PACKET],
        },
        writer_task,
    ))
}

async fn send_packet(socket: &AsyncFd<OwnedFd>, bytes: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    let raw: Vec<_> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let cmsgs: &[ControlMessage] = if raw.is_empty() {
        &[]
    } else {
        &[ControlMessage::ScmRights(&raw)]
    };
    loop {
        let mut guard = socket.writable().await?;
        let result = guard.try_io(|inner| {
            sendmsg::<UnixAddr>(
                inner.as_raw_fd(),
                &[IoSlice::new(bytes)],
                cmsgs,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                None,
            )
            .map_err(io::Error::from)
        });
        match result {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
}
