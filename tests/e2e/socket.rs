//! The control socket: its mode and owner, one daemon per socket, and a
//! stale socket file left by a dead daemon.

use crate::harness::{is_root_or_skip, test_user, Builder, TestDaemon, WAIT};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixListener;

const WEB: &str = r#"
[programs.web]
command = "@PROG@"
startsecs = 0
"#;

fn mode_of(d: &TestDaemon) -> u32 {
    let meta = std::fs::metadata(d.socket()).expect("the socket exists");
    meta.permissions().mode() & 0o777
}

#[test]
fn socket_mode_defaults_to_0700() {
    let d = TestDaemon::start(WEB);
    assert_eq!(format!("{:o}", mode_of(&d)), "700");
}

#[test]
fn socket_chmod_is_applied() {
    let d = Builder::new(WEB).server("chmod = 0o770").start();
    assert_eq!(format!("{:o}", mode_of(&d)), "770");
}

#[test]
fn socket_chown_is_applied() {
    if !is_root_or_skip("socket_chown_is_applied") {
        return;
    }
    let (uid, gid) = test_user();
    let d = Builder::new(WEB)
        .server("chown = \"tmtest:tmtest\"")
        .start();
    let meta = std::fs::metadata(d.socket()).expect("the socket exists");
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
}

#[test]
fn second_daemon_on_a_live_socket_refuses_and_the_first_keeps_running() {
    let first = TestDaemon::start(WEB);
    first.wait_state("web", "RUNNING", WAIT);
    let pid = first.pid("web");

    let out = Builder::new(WEB)
        .socket(first.socket())
        .start_expecting_failure();
    assert_ne!(
        out.code, 0,
        "a second daemon on a live socket must fail: {out:?}"
    );
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains(&first.socket().display().to_string()),
        "the message names the socket: {out:?}"
    );

    assert!(first.socket().exists(), "the live socket was not removed");
    let status = first.ctl(&["status"]);
    assert_eq!(status.code, 0, "the first daemon still answers: {status:?}");
    assert_eq!(
        first.pid("web"),
        pid,
        "the first daemon's program is untouched"
    );
}

#[test]
fn stale_socket_file_is_replaced() {
    let builder = Builder::new(WEB);
    let path = builder.dir().join("t.sock");
    // Bound then closed: a socket file nobody listens on, as a crash leaves.
    drop(UnixListener::bind(&path).expect("bind a socket to leave behind"));
    assert!(path.exists());
    let d = builder.start();
    d.wait_state("web", "RUNNING", WAIT);
    assert_eq!(d.ctl(&["status"]).code, 0);
}
