//! Several processes at once: numprocs names, priority order, groups, and
//! the `signal` command.

use crate::harness::{Output, TestDaemon, WAIT};

/// The process names of `status` lines.
fn first_column(out: &Output) -> Vec<&str> {
    out.lines()
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

fn sorted_lines(out: &Output) -> Vec<&str> {
    let mut lines = out.lines();
    lines.sort_unstable();
    lines
}

#[test]
fn numprocs_names_instances_from_numprocs_start() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
args = ["--print-env", "TASKMASTER_PROCESS_NAME"]
numprocs = 3
numprocs_start = 2
startsecs = 0
"#,
    );
    let names = ["web:2", "web:3", "web:4"];
    for name in names {
        d.wait_state(name, "RUNNING", WAIT);
        let file = format!("{}.stdout", name.replace(':', "_"));
        d.wait_log_line(&file, &format!("env:TASKMASTER_PROCESS_NAME={name}"));
    }
    let listed: Vec<String> = d
        .processes()
        .iter()
        .map(|p| p["name"].as_str().unwrap_or("?").to_string())
        .collect();
    assert_eq!(listed, names, "exactly these processes, in order");
    let out = d.ctl(&["status"]);
    assert_eq!(first_column(&out), names, "{out:?}");

    let out = d.ctl(&["stop", "web:3"]);
    assert_eq!(
        (out.code, out.lines()),
        (0, vec!["web:3: stopped"]),
        "{out:?}"
    );
    assert_eq!(
        [d.state("web:2"), d.state("web:3"), d.state("web:4")],
        ["RUNNING", "STOPPED", "RUNNING"]
    );

    let out = d.ctl(&["start", "web"]);
    assert!(
        out.lines().contains(&"web:3: started"),
        "start web starts web:3: {out:?}"
    );
    assert_eq!(
        [d.state("web:2"), d.state("web:3"), d.state("web:4")],
        ["RUNNING", "RUNNING", "RUNNING"]
    );
    let out = d.ctl(&["stop", "web"]);
    assert_eq!(
        (out.code, sorted_lines(&out)),
        (
            0,
            vec!["web:2: stopped", "web:3: stopped", "web:4: stopped"]
        ),
        "{out:?}"
    );
}

#[test]
fn priority_orders_start_and_reverse_orders_stop() {
    let d = TestDaemon::start(
        r#"
[programs.a]
command = "@PROG@"
priority = 300
startsecs = 0

[programs.b]
command = "@PROG@"
priority = 100
startsecs = 0

[programs.c]
command = "@PROG@"
priority = 200
startsecs = 0
"#,
    );
    for name in ["a", "b", "c"] {
        d.wait_state(name, "RUNNING", WAIT);
    }
    // Fork order, read from pids: kernels hand them out increasingly. Lines
    // the programs would append themselves race on exec speed, pids do not.
    let (a, b, c) = (d.pid("a"), d.pid("b"), d.pid("c"));
    assert!(
        b < c && c < a,
        "started b, c, a by priority; pids a={a} b={b} c={c}"
    );

    let out = d.ctl(&["stop", "all"]);
    assert_eq!(
        (out.code, out.lines()),
        (0, vec!["a: stopped", "c: stopped", "b: stopped"]),
        "reverse priority: {out:?}"
    );
    let out = d.ctl(&["start", "all"]);
    assert_eq!(
        (out.code, out.lines()),
        (0, vec!["b: started", "c: started", "a: started"]),
        "priority: {out:?}"
    );
}

#[test]
fn groups_start_and_stop_together() {
    let d = TestDaemon::start(
        r#"
[programs.a]
command = "@PROG@"
startsecs = 0

[programs.b]
command = "@PROG@"
startsecs = 0

[programs.c]
command = "@PROG@"
startsecs = 0

[groups.grp]
programs = ["a", "b"]
"#,
    );
    for name in ["a", "b", "c"] {
        d.wait_state(name, "RUNNING", WAIT);
    }
    assert_eq!(d.process("a")["group"], "grp");
    assert_eq!(
        d.process("c")["group"],
        "c",
        "an ungrouped program is its own group"
    );
    let c = d.pid("c");

    let out = d.ctl(&["stop", "grp:*"]);
    assert_eq!(
        (out.code, sorted_lines(&out)),
        (0, vec!["a: stopped", "b: stopped"]),
        "{out:?}"
    );
    assert_eq!([d.state("a"), d.state("b")], ["STOPPED", "STOPPED"]);
    assert_eq!(d.pid("c"), c, "c is not in grp");

    let out = d.ctl(&["start", "grp"]);
    assert_eq!(
        (out.code, sorted_lines(&out)),
        (0, vec!["a: started", "b: started"]),
        "{out:?}"
    );
    assert_eq!([d.state("a"), d.state("b")], ["RUNNING", "RUNNING"]);
}

#[test]
fn signal_command_delivers_by_name_or_number() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
args = ["--catch", "USR1", "--catch", "HUP", "--print", "ready"]
startsecs = 0

[programs.idle]
command = "@PROG@"
autostart = false
"#,
    );
    d.wait_state("web", "RUNNING", WAIT);
    d.wait_log_line("web.stdout", "ready");
    let pid = d.pid("web");

    let out = d.ctl(&["signal", "USR1", "web"]);
    assert_eq!(
        (out.code, out.lines()),
        (0, vec!["web: signalled"]),
        "{out:?}"
    );
    d.wait_log_line("web.stdout", "caught=SIGUSR1");
    let out = d.ctl(&["signal", "SIGHUP", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_log_line("web.stdout", "caught=SIGHUP");
    let out = d.ctl(&["signal", "10", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_for("a second caught=SIGUSR1", WAIT, || {
        d.log_text("web.stdout").matches("caught=SIGUSR1").count() == 2
    });
    assert_eq!(
        d.pid("web"),
        pid,
        "the program handled the signals and kept running"
    );

    let out = d.ctl(&["signal", "BOGUS", "web"]);
    assert_ne!(out.code, 0, "{out:?}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("BOGUS"),
        "the error names the bad signal: {out:?}"
    );
    let out = d.ctl(&["signal", "USR1", "idle"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains("idle: ERROR (not running)"),
        "{out:?}"
    );
}

#[test]
fn program_star_names_a_numprocs_programs_instances_like_its_name() {
    // As in examples/taskmaster.conf.toml: `worker` runs two instances and
    // sits in the group `demo`, so `worker:*` names no group.
    let d = TestDaemon::start(
        r#"
[programs.worker]
command = "@PROG@"
numprocs = 2
startsecs = 0

[programs.clock]
command = "@PROG@"
startsecs = 0

[programs.pool]
command = "@PROG@"
numprocs = 2
startsecs = 0

[groups.demo]
programs = ["clock", "worker"]
"#,
    );
    for name in ["worker:0", "worker:1", "clock", "pool:0", "pool:1"] {
        d.wait_state(name, "RUNNING", WAIT);
    }
    let by_name = d.ctl(&["status", "worker"]);
    assert_eq!(
        first_column(&by_name),
        ["worker:0", "worker:1"],
        "{by_name:?}"
    );
    let by_star = d.ctl(&["status", "worker:*"]);
    assert_eq!(
        (by_star.code, first_column(&by_star)),
        (0, first_column(&by_name)),
        "{by_star:?}"
    );
    let out = d.ctl(&["status", "pool:*"]);
    assert_eq!(first_column(&out), ["pool:0", "pool:1"], "{out:?}");
    let out = d.ctl(&["status", "demo:*"]);
    assert_eq!(
        first_column(&out),
        ["clock", "worker:0", "worker:1"],
        "the group still wins: {out:?}"
    );

    let out = d.ctl(&["stop", "worker:*"]);
    assert_eq!(
        (out.code, sorted_lines(&out)),
        (0, vec!["worker:0: stopped", "worker:1: stopped"]),
        "{out:?}"
    );
    assert_eq!(d.state("clock"), "RUNNING");
}
