//! The broker's end of the socketpair to taskmasterd: a writer task that
//! sends [`ToSupervisor`] packets (with descriptors) as the socket accepts
//! them, and a receiver for [`ToBroker`] packets and the descriptors that
//! come with them.

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr};
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use taskmaster_ipc::{decode, encode, ToBroker, ToSupervisor, MAX_FDS, MAX_PACKET};
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc;

/// Sends packets to taskmasterd without ever blocking the caller: a packet
/// goes out at once when the socket has room and nothing is queued before
/// it (so taskmasterd starts spawning while the broker prepares the next
/// ones); otherwise it waits, in order, for the writer task.
#[derive(Clone)]
pub struct LinkSender {
    socket: Arc<AsyncFd<OwnedFd>>,
    queue: mpsc::UnboundedSender<(Vec<u8>, Vec<OwnedFd>)>,
    /// Packets in the queue; the broker's runtime is single-threaded, so
    /// this is only ever touched from one thread.
    queued: Arc<std::sync::atomic::AtomicUsize>,
}

impl LinkSender {
    /// Sends or queues `message`; `fds` travel with it and are closed here
    /// once sent.
    pub fn send(&self, message: &ToSupervisor, fds: Vec<OwnedFd>) {
        use std::sync::atomic::Ordering::Relaxed;
        let bytes = encode(message);
        if self.queued.load(Relaxed) == 0 {
            match try_send(&self.socket, &bytes, &fds) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // Sent, or the supervisor is gone (the broker is about to
                // exit and nothing useful can be done with the packet).
                _ => return,
            }
        }
        self.queued.fetch_add(1, Relaxed);
        let _ = self.queue.send((bytes, fds));
    }
}

pub struct LinkReceiver {
    socket: Arc<AsyncFd<OwnedFd>>,
    buf: Vec<u8>,
}

impl LinkReceiver {
    /// The next packet with the descriptors that came with it; `None` when
    /// taskmasterd has closed the channel. A packet that is malformed, too
    /// large or carries more than [`MAX_FDS`] descriptors is an
    /// `InvalidData` error (its descriptors are closed): the caller logs it
    /// and reads on.
    pub async fn recv(&mut self) -> io::Result<Option<(ToBroker, Vec<OwnedFd>)>> {
        loop {
            let mut guard = self.socket.readable().await?;
            match guard.try_io(|inner| receive(inner.as_raw_fd(), &mut self.buf)) {
                Ok(Ok(Received { bytes: 0, fds, .. })) if fds.is_empty() => return Ok(None),
                Ok(Ok(Received {
                    bytes,
                    fds,
                    truncated,
                })) => {
                    if truncated {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!(
                                "dropped a packet from taskmasterd larger than {MAX_PACKET} bytes or with more than {MAX_FDS} descriptors"
                            ),
                        ));
                    }
                    return match decode(&self.buf[..bytes]) {
                        Ok(message) => Ok(Some((message, fds))),
                        Err(e) => Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad packet from taskmasterd: {e}"),
                        )),
                    };
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// One packet as `recvmsg` gave it.
struct Received {
    bytes: usize,
    fds: Vec<OwnedFd>,
    /// The data or the descriptors did not fit.
    truncated: bool,
}

fn receive(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut control = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut iov = [IoSliceMut::new(buf)];
    let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC;
    let message = recvmsg::<()>(fd, &mut iov, Some(&mut control), flags)?;
    let raw: Vec<RawFd> = message
        .cmsgs()?
        .flat_map(|cmsg| match cmsg {
            ControlMessageOwned::ScmRights(fds) => fds,
            _ => Vec::new(),
        })
        .collect();
    Ok(Received {
        bytes: message.bytes,
        fds: taskmaster_ipc::received(&raw),
        truncated: message
            .flags
            .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC),
    })
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
    let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&queued);
    let writer_task = tokio::spawn(async move {
        while let Some((bytes, fds)) = outgoing.recv().await {
            let sent = send_packet(&writer, &bytes, &fds).await;
            counter.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            if sent.is_err() {
                return;
            }
        }
    });
    Ok((
        LinkSender {
            socket: Arc::clone(&socket),
            queue,
            queued,
        },
        LinkReceiver {
            socket,
            buf: vec![0; MAX_PACKET],
        },
        writer_task,
    ))
}

async fn send_packet(socket: &AsyncFd<OwnedFd>, bytes: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    loop {
        let mut guard = socket.writable().await?;
        match guard.try_io(|inner| try_send_raw(inner.as_raw_fd(), bytes, fds)) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
}

/// One attempt, without waiting; `WouldBlock` when the socket is full.
fn try_send(socket: &AsyncFd<OwnedFd>, bytes: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    try_send_raw(socket.as_raw_fd(), bytes, fds)
}

fn try_send_raw(fd: std::os::fd::RawFd, bytes: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    let raw: Vec<_> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let rights = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage] = if raw.is_empty() { &[] } else { &rights };
    sendmsg::<UnixAddr>(
        fd,
        &[IoSlice::new(bytes)],
        cmsgs,
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map(|_| ())
    .map_err(io::Error::from)
}
