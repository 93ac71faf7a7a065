//! Under systemd (`Type=notify`): taskmasterd tells `NOTIFY_SOCKET` READY=1
//! once the autostart programs have left STARTING, RELOADING=1 then READY=1
//! around a reload, STOPPING=1 at shutdown, with STATUS= lines; programs do
//! not inherit the socket. A datagram socket of the test stands in for
//! systemd's.

use crate::harness::{Builder, TestDaemon, WAIT};
use std::os::unix::net::UnixDatagram;

const TWO: &str = r#"
[programs.slow]
command = "@PROG@"
startsecs = 1

[programs.env]
command = "/bin/sh"
args = ["-c", "echo \"notify=[$NOTIFY_SOCKET]\"; exec sleep 600"]
startsecs = 0
"#;

fn next(socket: &UnixDatagram) -> String {
    let mut buffer = [0u8; 4096];
    let n = socket
        .recv(&mut buffer)
        .expect("no notification from taskmasterd in time");
    String::from_utf8_lossy(&buffer[..n]).into_owned()
}

/// A daemon started with `config` and `NOTIFY_SOCKET` set to the
/// returned socket, as systemd would.
fn under_systemd(config: &str) -> (UnixDatagram, TestDaemon) {
    let builder = Builder::new(config);
    let path = builder.dir().join("notify.sock");
    let notify = UnixDatagram::bind(&path).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();
    let d = builder
        .env("NOTIFY_SOCKET", &path.display().to_string())
        .start_unready();
    (notify, d)
}

/// What `systemctl stop` sends.
fn sigterm(d: &TestDaemon) {
    let pid = nix::unistd::Pid::from_raw(d.daemon_pid());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
}

#[test]
fn notify_socket_gets_ready_reloading_and_stopping() {
    let (notify, mut d) = under_systemd(TWO);

    // The first word is READY, and only once `slow` has stayed up its
    // startsecs: nothing is STARTING any more.
    assert_eq!(next(&notify), "READY=1\nSTATUS=2 running\n");
    assert_eq!(d.state("slow"), "RUNNING");

    let log = || std::fs::read_to_string(d.dir().join("logs/env.stdout")).unwrap_or_default();
    let deadline = std::time::Instant::now() + WAIT;
    while !log().contains("notify=") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        log().contains("notify=[]\n"),
        "programs must not inherit NOTIFY_SOCKET: {:?}",
        log()
    );

    let reload = d.ctl(&["reload"]);
    assert_eq!(reload.code, 0, "{reload:?}");
    let reloading = next(&notify);
    assert!(
        reloading.starts_with("RELOADING=1\nMONOTONIC_USEC=")
            && reloading.ends_with("\nSTATUS=reloading the config\n"),
        "{reloading:?}"
    );
    assert_eq!(next(&notify), "READY=1\nSTATUS=2 running\n");

    sigterm(&d);
    // slow's stopwaitsecs (10 by default) then the broker's grace (10 s).
    assert_eq!(next(&notify), "STOPPING=1\nEXTEND_TIMEOUT_USEC=20000000\n");
    assert_eq!(d.wait_exit(WAIT), 0);
}

#[test]
fn the_stop_budget_adds_up_the_levels_of_depends_on() {
    // One priority, but api stops before db, which it depends on: their
    // waits add up (30 + 5 s), then the broker's grace (10 s).
    let (notify, mut d) = under_systemd(
        r#"
[programs.api]
command = "@PROG@"
depends_on = ["db"]
stopwaitsecs = 30
startsecs = 0

[programs.db]
command = "@PROG@"
stopwaitsecs = 5
startsecs = 0
"#,
    );
    assert_eq!(next(&notify), "READY=1\nSTATUS=2 running\n");
    sigterm(&d);
    assert_eq!(next(&notify), "STOPPING=1\nEXTEND_TIMEOUT_USEC=45000000\n");
    assert_eq!(d.wait_exit(WAIT), 0);
}
