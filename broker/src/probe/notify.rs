//! `ready = { notify = true }`: the sd_notify protocol. The broker binds
//! one datagram socket per process at `Config::notify_socket` (in
//! `notify/` under `childlogdir`), before the process is spawned so that no
//! early `READY=1` is lost; taskmasterd puts that path in the program's
//! `NOTIFY_SOCKET`.
//!
//! Permissions: the directory is the broker's own (created 0755, refused
//! when it is a link, belongs to someone else or others may write in it),
//! so nobody else can bind or replace a socket there; the socket is 0666
//! so that a program running as any user can send to it. Anyone who can
//! reach the directory can therefore send a datagram, so every datagram
//! carries its sender's credentials (`SO_PASSCRED`) and the core accepts
//! only those from the process itself or its session (the programs run in
//! sessions of their own). The program's user needs search permission on
//! `childlogdir` and its parents. A flood costs the broker a bounded
//! memory: at most [`MAX_WAITING`] datagrams per socket wait for the core,
//! the next ones in the socket's queue (and a stranger is logged once per
//! run).

use super::{Message, Running};
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};
use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// One datagram: who sent it and its `KEY=value` lines.
#[derive(Debug)]
pub struct Notified {
    pub name: String,
    /// The sender's pid, from the kernel.
    pub sender: Option<i32>,
    pub fields: Vec<(String, String)>,
    /// One of the socket's [`MAX_WAITING`] places, given back when the
    /// core drops it.
    _place: OwnedSemaphorePermit,
}

/// sd_notify datagrams are small; more is not the protocol.
const MAX_DATAGRAM: usize = 4096;

/// Datagrams of one socket read but not yet handled by the core: with
/// that many waiting, the listener stops reading until the core catches up,
/// and the datagrams wait in the socket's bounded queue (a sender blocks
/// meanwhile). Anyone who reaches the socket can send as fast as they
/// like; the broker's memory is not theirs, and the program's own
/// `READY=1` is delayed, never lost.
const MAX_WAITING: usize = 64;

/// Binds the socket of process `name` at `path` and forwards what arrives.
pub fn listen(
    path: &Path,
    name: String,
    out: mpsc::UnboundedSender<Message>,
) -> Result<Running, String> {
    let socket = bind(path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
    Ok(Running(tokio::spawn(async move {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        let places = Arc::new(Semaphore::new(MAX_WAITING));
        loop {
            let Ok(place) = Arc::clone(&places).acquire_owned().await else {
                return;
            };
            if socket.readable().await.is_err() {
                return;
            }
            let received = socket.try_io(Interest::READABLE, || {
                receive(socket.as_raw_fd(), &mut buffer)
            });
            let (bytes, sender) = match received {
                Ok(received) => received,
                // Woken for nothing.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let notified = Notified {
                name: name.clone(),
                sender,
                fields: parse(&buffer[..bytes]),
                _place: place,
            };
            if out.send(Message::Notify(notified)).is_err() {
                return;
            }
        }
    })))
}

fn bind(path: &Path) -> std::io::Result<UnixDatagram> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    if let Err(e) = std::fs::DirBuilder::new().mode(0o755).create(dir) {
        if e.kind() != std::io::ErrorKind::AlreadyExists {
            return Err(e);
        }
    }
    let meta = std::fs::symlink_metadata(dir)?;
    let mine = meta.uid() == nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || !mine || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "{} must be a directory of the broker's user that only it may write \
             (found uid {}, mode {:04o}); remove it and the broker creates it",
            dir.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    // A socket left by an earlier broker: nobody listens on it any more.
    if std::fs::symlink_metadata(path).is_ok() {
        std::fs::remove_file(path)?;
    }
    let socket = std::os::unix::net::UnixDatagram::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    setsockopt(&socket, sockopt::PassCred, &true)?;
    socket.set_nonblocking(true)?;
    UnixDatagram::from_std(socket)
}

fn receive(fd: std::os::fd::RawFd, buffer: &mut [u8]) -> std::io::Result<(usize, Option<i32>)> {
    let mut control = nix::cmsg_space!(nix::sys::socket::UnixCredentials);
    let mut iov = [IoSliceMut::new(buffer)];
    let message = recvmsg::<()>(fd, &mut iov, Some(&mut control), MsgFlags::MSG_DONTWAIT)?;
    let sender = message.cmsgs()?.find_map(|cmsg| match cmsg {
        ControlMessageOwned::ScmCredentials(credentials) => Some(credentials.pid()),
        _ => None,
    });
    Ok((message.bytes, sender))
}

/// `READY=1\nSTATUS=Accepting connections\n` -> its fields.
fn parse(datagram: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(datagram)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_flood_waits_in_memory_only_up_to_the_bound_and_nothing_is_lost() {
        let dir = std::env::temp_dir().join(format!("tm-notify-flood-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify/web.sock");
        let (out, mut received) = mpsc::unbounded_channel();
        let _listener = listen(&path, "web".into(), out).unwrap();
        let total = MAX_WAITING * 8;
        // From another thread: the listener runs on this one, whenever the
        // test waits.
        let target = path.clone();
        let flood = tokio::task::spawn_blocking(move || {
            let flooder = std::os::unix::net::UnixDatagram::unbound().unwrap();
            for _ in 0..total {
                flooder.send_to(b"READY=1\n", &target).unwrap();
            }
        });
        // The core is slow: it takes one, and lets the listener run.
        let mut most_waiting = 0;
        for _ in 0..total {
            tokio::task::yield_now().await;
            most_waiting = most_waiting.max(received.len());
            let message = tokio::time::timeout(std::time::Duration::from_secs(30), received.recv())
                .await
                .expect("every datagram is forwarded in the end")
                .unwrap();
            assert!(matches!(message, Message::Notify(_)));
        }
        flood.await.unwrap();
        assert!(
            most_waiting <= MAX_WAITING,
            "{most_waiting} waited for the core"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn datagrams_are_key_value_lines() {
        assert_eq!(
            parse(b"READY=1\nSTATUS=Accepting connections\nnonsense\n"),
            [
                ("READY".to_string(), "1".to_string()),
                ("STATUS".to_string(), "Accepting connections".to_string())
            ]
        );
    }
}
