//! supervisord's state machine seen from outside: startsecs, backoff and
//! FATAL, autorestart policies, stop signals, SIGKILL escalation, process
//! groups, orphans, and restarts after a crash.

use crate::harness::{alive, exists, parent_of, TestDaemon, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn lines(text: &str) -> usize {
    text.lines().count()
}

#[test]
fn starting_becomes_running_after_startsecs() {
    let begin = Instant::now();
    let d = TestDaemon::start(
        r#"
[programs.slow]
command = "@PROG@"
startsecs = 2
"#,
    );
    let mut seen = BTreeSet::new();
    d.wait_for("slow to be RUNNING", WAIT, || {
        let state = d.state("slow");
        seen.insert(state.clone());
        state == "RUNNING"
    });
    assert!(
        seen.contains("STARTING"),
        "STARTING shows while startsecs runs: {seen:?}"
    );
    assert!(
        begin.elapsed() >= Duration::from_secs(2),
        "RUNNING before startsecs (2 s) had passed: {:?}",
        begin.elapsed()
    );
}

#[test]
fn quick_exits_back_off_then_fatal_after_1_plus_startretries_attempts() {
    // Exit status 0 is in exitcodes, but an exit before startsecs is still a
    // failed start.
    let d = TestDaemon::start(
        r#"
[programs.flaky]
command = "@PROG@"
args = ["--append-name", "@DIR@/attempts", "--exit", "0", "--sleep", "0"]
startsecs = 1
startretries = 2
exitcodes = [0]
autorestart = true
"#,
    );
    let mut seen = BTreeSet::new();
    // Backoff waits 1 s then 2 s: FATAL comes after about 3 s.
    d.wait_for("flaky to be FATAL", Duration::from_secs(15), || {
        let state = d.state("flaky");
        seen.insert(state.clone());
        state == "FATAL"
    });
    assert!(
        seen.contains("BACKOFF"),
        "BACKOFF between attempts: {seen:?}"
    );
    assert_eq!(
        lines(&d.file_text("attempts")),
        3,
        "1 + startretries attempts"
    );
    let out = d.ctl(&["status", "flaky"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stdout.contains("FATAL"), "{out:?}");
    assert!(
        out.stdout.contains("Exited too quickly"),
        "supervisord's description: {out:?}"
    );
}

#[test]
fn autorestart_policies_follow_exitcodes() {
    let d = TestDaemon::start(
        r#"
[programs.always]
command = "@PROG@"
args = ["--append-name", "@DIR@/always", "--sleep", "0.3", "--exit", "0"]
startsecs = 0
autorestart = true

[programs.expected]
command = "@PROG@"
args = ["--append-name", "@DIR@/expected", "--sleep", "0.3", "--exit", "3"]
startsecs = 0
autorestart = "unexpected"
exitcodes = [0, 3]

[programs.unexpected]
command = "@PROG@"
args = ["--append-name", "@DIR@/unexpected", "--sleep", "0.3", "--exit", "3"]
startsecs = 0
autorestart = "unexpected"
exitcodes = [0]

[programs.never]
command = "@PROG@"
args = ["--append-name", "@DIR@/never", "--sleep", "0.3", "--exit", "1"]
startsecs = 0
autorestart = false
"#,
    );
    d.wait_for("3 runs each of always and unexpected", WAIT, || {
        lines(&d.file_text("always")) >= 3 && lines(&d.file_text("unexpected")) >= 3
    });
    // The others exited at 0.3 s and would have restarted at once; two more
    // 0.3 s runs of their siblings have passed since, so they never will.
    for name in ["expected", "never"] {
        assert_eq!(d.state(name), "EXITED", "{name} stays EXITED");
        assert_eq!(lines(&d.file_text(name)), 1, "{name} ran once");
    }
    let out = d.ctl(&["status", "never"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stdout.contains("EXITED"), "{out:?}");
}

#[test]
fn stopsignal_is_the_one_sent() {
    let d = TestDaemon::start(
        r#"
[programs.int]
command = "@PROG@"
args = ["--catch-and-exit", "INT", "--catch-and-exit", "TERM", "--print", "ready"]
startsecs = 0
stopsignal = "INT"
stopwaitsecs = 8

[programs.usr1]
command = "@PROG@"
args = ["--catch-and-exit", "USR1", "--catch-and-exit", "TERM", "--print", "ready"]
startsecs = 0
stopsignal = 10
stopwaitsecs = 8
"#,
    );
    for name in ["int", "usr1"] {
        d.wait_state(name, "RUNNING", WAIT);
        d.wait_log_line(&format!("{name}.stdout"), "ready");
    }
    let begin = Instant::now();
    let out = d.ctl(&["stop", "int", "usr1"]);
    assert_eq!(out.code, 0, "{out:?}");
    // Well under stopwaitsecs: the programs exited on the signal, not SIGKILL.
    assert!(
        begin.elapsed() < Duration::from_secs(6),
        "stop took {:?}",
        begin.elapsed()
    );
    let int = d.log_text("int.stdout");
    assert!(
        int.contains("caught=SIGINT") && !int.contains("SIGTERM"),
        "int log: {int}"
    );
    let usr1 = d.log_text("usr1.stdout");
    assert!(
        usr1.contains("caught=SIGUSR1") && !usr1.contains("SIGTERM"),
        "usr1 log: {usr1}"
    );
}

#[test]
fn ignored_stopsignal_escalates_to_sigkill_after_stopwaitsecs() {
    let d = TestDaemon::start(
        r#"
[programs.stubborn]
command = "@PROG@"
args = ["--ignore", "TERM", "--print", "ready"]
startsecs = 0
stopwaitsecs = 1
"#,
    );
    d.wait_state("stubborn", "RUNNING", WAIT);
    d.wait_log_line("stubborn.stdout", "ready");
    let pid = d.pid("stubborn");
    let begin = Instant::now();
    let out = d.ctl(&["stop", "stubborn"]);
    let took = begin.elapsed();
    assert_eq!(
        (out.code, out.lines()),
        (0, vec!["stubborn: stopped"]),
        "{out:?}"
    );
    assert!(
        took >= Duration::from_millis(900),
        "SIGKILL before stopwaitsecs: {took:?}"
    );
    assert!(
        took < Duration::from_secs(6),
        "SIGKILL long after stopwaitsecs: {took:?}"
    );
    assert!(!alive(pid));
    assert_eq!(d.state("stubborn"), "STOPPED");
}

/// The grandchild pid a `--fork-child FILE` program wrote.
fn grandchild(d: &TestDaemon, file: &str) -> i32 {
    let mut pid = None;
    d.wait_for(&format!("a pid in {file}"), WAIT, || {
        pid = d.file_text(file).trim().parse().ok();
        pid.is_some()
    });
    pid.expect("polled until set")
}

#[test]
fn stopasgroup_kills_the_grandchild() {
    let d = TestDaemon::start(
        r#"
[programs.parent]
command = "@PROG@"
args = ["--fork-child", "@DIR@/gc.pid"]
startsecs = 0
stopasgroup = true
stopwaitsecs = 5
"#,
    );
    d.wait_state("parent", "RUNNING", WAIT);
    let gc = grandchild(&d, "gc.pid");
    assert!(alive(gc));
    let out = d.ctl(&["stop", "parent"]);
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_for("the grandchild to die", WAIT, || !alive(gc));
}

#[test]
fn killasgroup_sigkills_the_whole_group() {
    // TERM goes to the parent only (which ignores it); the SIGKILL after
    // stopwaitsecs goes to the group, grandchild included.
    let d = TestDaemon::start(
        r#"
[programs.parent]
command = "@PROG@"
args = ["--ignore", "TERM", "--fork-child", "@DIR@/gc.pid"]
startsecs = 0
killasgroup = true
stopwaitsecs = 1
"#,
    );
    d.wait_state("parent", "RUNNING", WAIT);
    let gc = grandchild(&d, "gc.pid");
    let out = d.ctl(&["stop", "parent"]);
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_for("the grandchild to die", WAIT, || !alive(gc));
}

#[test]
fn orphans_are_adopted_and_reaped_by_taskmasterd() {
    let d = TestDaemon::start(
        r#"
[programs.parent]
command = "@PROG@"
args = ["--fork-child", "@DIR@/gc.pid"]
startsecs = 0
stopasgroup = false
"#,
    );
    d.wait_state("parent", "RUNNING", WAIT);
    let gc = grandchild(&d, "gc.pid");
    let out = d.ctl(&["stop", "parent"]);
    assert_eq!(out.code, 0, "{out:?}");
    // Without stopasgroup the grandchild survives, and taskmasterd, a child
    // subreaper, becomes its parent.
    assert!(alive(gc), "the grandchild survives a plain stop");
    d.wait_for("taskmasterd to adopt the orphan", WAIT, || {
        parent_of(gc) == Some(d.daemon_pid())
    });
    kill(Pid::from_raw(gc), Signal::SIGKILL).expect("kill the grandchild");
    d.wait_for(
        "taskmasterd to reap the orphan (no zombie left)",
        WAIT,
        || !exists(gc),
    );
    assert_eq!(
        d.state("parent"),
        "STOPPED",
        "an orphan's exit is nobody's state"
    );
}

#[test]
fn killed_running_program_is_restarted_with_a_new_pid() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
startsecs = 0
autorestart = true
"#,
    );
    d.wait_state("web", "RUNNING", WAIT);
    let first = d.pid("web");
    kill(Pid::from_raw(first), Signal::SIGKILL).expect("kill -9 web");
    d.wait_for("web to run again under a new pid", WAIT, || {
        let p = d.process("web");
        p["state"] == "RUNNING" && p["pid"].as_i64().is_some_and(|pid| pid != i64::from(first))
    });
    d.wait_for("the killed process to be reaped", WAIT, || !exists(first));
}
