//! SIGTERM to taskmasterd: every program stopped (even one that ignores its
//! stop signal), socket and pidfile removed, exit status 0.

use crate::harness::{alive, exists, TestDaemon, WAIT};
use nix::sys::signal::Signal;
use std::time::Duration;

#[test]
fn sigterm_stops_all_programs_and_exits_0() {
    let mut d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
startsecs = 0

[programs.stubborn]
command = "@PROG@"
args = ["--ignore", "TERM", "--print", "ready"]
startsecs = 0
stopwaitsecs = 1

[programs.many]
command = "@PROG@"
numprocs = 3
startsecs = 0
"#,
    );
    let names = ["web", "stubborn", "many:0", "many:1", "many:2"];
    for name in names {
        d.wait_state(name, "RUNNING", WAIT);
    }
    d.wait_log_line("stubborn.stdout", "ready");
    let pids: Vec<i32> = names.iter().map(|n| d.pid(n)).collect();

    d.signal_daemon(Signal::SIGTERM);
    // stubborn needs stopwaitsecs (1 s) and a SIGKILL; the rest is slack.
    assert_eq!(
        d.wait_exit(Duration::from_secs(10)),
        0,
        "taskmasterd exits 0 on SIGTERM"
    );
    for (name, pid) in names.iter().zip(&pids) {
        assert!(!alive(*pid), "{name} (pid {pid}) outlived taskmasterd");
        assert!(!exists(*pid), "{name} (pid {pid}) left as a zombie");
    }
    assert!(!d.socket().exists(), "socket removed");
    assert!(!d.dir().join("taskmasterd.pid").exists(), "pidfile removed");
}
