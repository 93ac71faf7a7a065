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
//! `childlogdir` and its parents.

use super::{Message, Running};
use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, MsgFlags};
use std::io::IoSliceMut;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;
use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio::sync::mpsc;

/// One datagram: who sent it and its `KEY=value` lines.
#[derive(Debug)]
pub struct Notified {
    pub name: String,
    /// The sender's pid, from the kernel.
    pub sender: Option<i32>,
    pub fields: Vec<(String, String)>,
}

/// sd_notify datagrams are small; more is not the protocol.
const MAX_DATAGRAM: usize = 4096;

/// Binds the socket of process `name` at `path` and forwards what arrives.
pub fn listen(
    path: &Path,
    name: String,
    out: mpsc::UnboundedSender<Message>,
) -> Result<Running, String> {
    let socket = bind(path).map_err(|e| format!("cannot bind {}: {e}", path.display()))?;
    Ok(Running(tokio::spawn(async move {
        let mut buffer = vec![0u8; MAX_DATAGRAM];
        loop {
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
