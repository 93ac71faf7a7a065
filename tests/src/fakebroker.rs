//! tm-fakebroker: a hostile taskmaster-broker for the privilege-separation
//! tests. Started by taskmasterd in the broker's place (`TASKMASTER_BROKER`),
//! it sends every forged request a taken-over broker could, then one sound
//! spawn and the same spawn again, and writes every packet taskmasterd answers, one JSON document a
//! line, to the file named by `TM_FAKE_OUT`. It answers `shutdown` with
//! `exit`, as a broker does.

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, MsgFlags};
use std::fs::File;
use std::io::{IoSlice, IoSliceMut, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let config = args
        .iter()
        .position(|a| a == "-c")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .expect("taskmasterd passes -c CONFIG");
    let generation = taskmaster_config::load(&config)
        .expect("the test config loads")
        .generation;
    let victim: i32 = std::env::var("TM_FAKE_VICTIM")
        .expect("TM_FAKE_VICTIM")
        .parse()
        .expect("a pid");
    let mut out = File::create(std::env::var("TM_FAKE_OUT").expect("TM_FAKE_OUT"))
        .expect("cannot create the output file");
    let channel = taskmaster_ipc::inherited_channel().expect("the channel on fd 3");
    let hello = receive(&channel).expect("a hello");
    writeln!(out, "{hello}").unwrap();

    let forged: Vec<Vec<u8>> = vec![
        format!(r#"{{"type":"spawn","id":1,"name":"evil","generation":{generation}}}"#).into(),
        format!(
            r#"{{"type":"spawn","id":2,"name":"web","generation":{generation},"command":"/bin/sh","args":["-c","id > /tmp/tm-pwned"],"user":null}}"#
        )
        .into(),
        format!(r#"{{"type":"spawn","id":3,"name":"web","generation":{}}}"#, generation ^ 1).into(),
        br#"{"type":"signal","pid":1,"signal":9,"group":false}"#.to_vec(),
        format!(r#"{{"type":"signal","pid":{victim},"signal":9,"group":true}}"#).into(),
        b"not json at all".to_vec(),
        // A probe of a program whose config has no command probe, and one
        // that brings its own argv.
        format!(r#"{{"type":"probe","id":4,"name":"web","generation":{generation},"check":"ready"}}"#)
            .into(),
        format!(
            r#"{{"type":"probe","id":5,"name":"web","generation":{generation},"check":"health","argv":["/bin/sh","-c","id > /tmp/tm-pwned"]}}"#
        )
        .into(),
        // A seq that would overflow every later broker's counter.
        format!(r#"{{"type":"keep_seq","seq":{}}}"#, u64::MAX).into(),
    ];
    for packet in &forged {
        send(&channel, packet, &[]);
    }
    let null = File::open("/dev/null").expect("/dev/null");
    send(&channel, br#"{"type":"ready"}"#, &[null.as_raw_fd()]);
    let sound = format!(r#"{{"type":"spawn","id":100,"name":"web","generation":{generation}}}"#);
    send(&channel, sound.as_bytes(), &[]);
    // The same instance again while it runs: copies without bound.
    let again = format!(r#"{{"type":"spawn","id":101,"name":"web","generation":{generation}}}"#);
    send(&channel, again.as_bytes(), &[]);
    while let Some(packet) = receive(&channel) {
        writeln!(out, "{packet}").unwrap();
        if packet.contains(r#""type":"shutdown""#) {
            send(&channel, br#"{"type":"exit"}"#, &[]);
            return;
        }
    }
}

fn send(channel: &OwnedFd, packet: &[u8], fds: &[RawFd]) {
    let rights = [ControlMessage::ScmRights(fds)];
    let cmsgs: &[ControlMessage] = if fds.is_empty() { &[] } else { &rights };
    sendmsg::<()>(
        channel.as_raw_fd(),
        &[IoSlice::new(packet)],
        cmsgs,
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .expect("taskmasterd takes the packet");
}

/// The next packet as text (its descriptors are closed); `None` at the end.
fn receive(channel: &OwnedFd) -> Option<String> {
    let mut buffer = vec![0u8; taskmaster_ipc::MAX_PACKET];
    let mut control = nix::cmsg_space!([RawFd; 4]);
    let mut iov = [IoSliceMut::new(&mut buffer)];
    let message = recvmsg::<()>(
        channel.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .ok()?;
    let bytes = message.bytes;
    let raw: Vec<RawFd> = message
        .cmsgs()
        .ok()?
        .flat_map(|cmsg| match cmsg {
            nix::sys::socket::ControlMessageOwned::ScmRights(fds) => fds,
            _ => Vec::new(),
        })
        .collect();
    drop(taskmaster_ipc::received(&raw));
    (bytes > 0).then(|| String::from_utf8_lossy(&buffer[..bytes]).into_owned())
}
