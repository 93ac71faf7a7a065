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

/// Exits on USR1, ignores TERM: SIGTERM then SIGKILL would print nothing.
const PICKY: &str = r#"
[programs.picky]
command = "@PROG@"
args = ["--ignore", "TERM", "--catch-and-exit", "USR1", "--print", "ready"]
startsecs = 0
stopsignal = "USR1"
stopwaitsecs = 3
"#;

#[test]
fn ctrl_c_on_a_foreground_taskmasterd_stops_programs_with_their_own_signal() {
    let mut d = crate::harness::Builder::new(PICKY)
        .own_process_group()
        .start();
    d.wait_log_line("picky.stdout", "ready");
    // What a terminal sends on Ctrl-C: SIGINT to the foreground job's
    // process group. The broker is in a session of its own: it stops the
    // program as configured, not as a dying process would.
    nix::sys::signal::killpg(nix::unistd::Pid::from_raw(d.daemon_pid()), Signal::SIGINT)
        .expect("SIGINT to the group");
    assert_eq!(d.wait_exit(WAIT), 0);
    assert_eq!(d.log_text("picky.stdout"), "ready\ncaught=SIGUSR1\n");
}

#[test]
fn without_a_broker_taskmasterd_stops_each_program_with_its_own_signal() {
    let mut d = TestDaemon::start(PICKY);
    d.wait_log_line("picky.stdout", "ready");
    let pid = d.pid("picky");
    let broker = crate::harness::children_of(d.daemon_pid())
        .into_iter()
        .find(|&pid| crate::harness::argv0(pid).ends_with("taskmaster-broker"))
        .expect("a broker");
    let broker = nix::unistd::Pid::from_raw(broker);
    // A broker that cannot answer: the second SIGTERM makes taskmasterd
    // stop every program itself.
    nix::sys::signal::kill(broker, Signal::SIGSTOP).unwrap();
    // Two different signals (two of the same may merge into one).
    d.signal_daemon(Signal::SIGTERM);
    d.signal_daemon(Signal::SIGINT);
    // Exit status 0 is its USR1 handler (TERM is ignored; SIGKILL would
    // say so). Its output waits in the pipe of the stopped broker, so
    // taskmasterd's own notes tell. Not `d.wait_for`: its report asks the
    // stopped broker for a status.
    let exited = format!("picky (pid {pid}) exited with status 0");
    let deadline = std::time::Instant::now() + WAIT;
    while !d.file_text("taskmasterd.out").contains(&exited) {
        if std::time::Instant::now() > deadline {
            let _ = nix::sys::signal::kill(broker, Signal::SIGCONT);
            panic!(
                "picky did not exit on USR1: {}",
                d.file_text("taskmasterd.out")
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = nix::sys::signal::kill(broker, Signal::SIGCONT);
    assert_eq!(d.wait_exit(WAIT), 0);
    let out = d.file_text("taskmasterd.out");
    assert!(out.contains("stopping every program directly"), "{out}");
}

#[test]
fn a_taskmasterd_killed_with_sigkill_leaves_no_second_copy() {
    let mut d = TestDaemon::start(PICKY);
    d.wait_log_line("picky.stdout", "ready");
    let old = d.pid("picky");
    d.kill_and_restart();
    // The new taskmasterd stopped the survivor (with its own USR1: TERM is
    // ignored) before starting the program again.
    assert!(!alive(old), "the survivor (pid {old}) was stopped");
    let new = d.wait_state("picky", "RUNNING", WAIT)["pid"]
        .as_i64()
        .unwrap();
    assert_ne!(new, i64::from(old));
    let out = d.file_text("taskmasterd.out");
    assert!(
        out.contains(&format!(
            "'picky' (pid {old}) was left running by a taskmasterd that was killed: sent SIGUSR1"
        )) && out.contains(&format!("'picky' (pid {old}) stopped")),
        "{out}"
    );
    assert!(
        !out.contains("SIGKILL"),
        "it stopped on its own signal: {out}"
    );
    d.wait_for("the notes in the activity log", WAIT, || {
        d.file_text("taskmasterd.log")
            .contains("left running by a taskmasterd that was killed")
    });
    let copies = crate::harness::children_of(d.daemon_pid())
        .into_iter()
        .filter(|&pid| crate::harness::argv0(pid).ends_with("tm-testprog"))
        .count();
    assert_eq!(copies, 1);
}

#[test]
fn shutdown_on_fatal_stops_everything_and_exits_1() {
    let mut d = crate::harness::Builder::new(
        r#"
[programs.steady]
command = "@PROG@"
args = ["--sleep", "60"]
startsecs = 0

[programs.broken]
command = "@PROG@"
args = ["--sleep", "0", "--exit", "1"]
startsecs = 1
startretries = 0
autostart = false
"#,
    )
    .daemon("shutdown_on_fatal = true")
    .start();
    d.wait_state("steady", "RUNNING", WAIT);
    let steady = d.pid("steady");
    d.ctl(&["start", "broken"]);
    assert_eq!(d.wait_exit(WAIT), 1, "an orchestrator sees a failure");
    assert!(!alive(steady), "everything was stopped first");
    let log = d.file_text("taskmasterd.log");
    assert!(
        log.contains("broken is FATAL and shutdown_on_fatal is set"),
        "{log}"
    );
}
