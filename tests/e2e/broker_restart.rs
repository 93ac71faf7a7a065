//! The broker dies and comes back: programs keep running under the same
//! pids, are not restarted, and their output still reaches the logs.

use crate::harness::{argv0, children_of, TestDaemon, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The taskmaster-broker child of taskmasterd, if one runs.
fn broker_of(d: &TestDaemon) -> Option<i32> {
    children_of(d.daemon_pid())
        .into_iter()
        .find(|&pid| argv0(pid).ends_with("taskmaster-broker"))
}

#[test]
fn killed_broker_is_restarted_and_programs_are_untouched() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
args = ["--append-name", "@DIR@/runs", "--catch", "USR1", "--print", "ready"]
startsecs = 0
autorestart = true

[programs.worker]
command = "@PROG@"
args = ["--append-name", "@DIR@/runs"]
numprocs = 2
startsecs = 0
"#,
    );
    let names = ["web", "worker:0", "worker:1"];
    for name in names {
        d.wait_state(name, "RUNNING", WAIT);
    }
    d.wait_log_line("web.stdout", "ready");
    let pids: Vec<i32> = names.iter().map(|n| d.pid(n)).collect();
    let broker = broker_of(&d).unwrap_or_else(|| {
        panic!(
            "no taskmaster-broker child of taskmasterd {}",
            d.daemon_pid()
        )
    });

    kill(Pid::from_raw(broker), Signal::SIGKILL).expect("kill -9 the broker");
    d.wait_for("a new broker that answers status", WAIT, || {
        broker_of(&d).is_some_and(|b| b != broker)
            && d.try_request(serde_json::json!({"command": "status"}))
                .is_ok()
    });
    for (name, pid) in names.iter().zip(&pids) {
        let process = d.wait_state(name, "RUNNING", WAIT);
        assert_eq!(
            process["pid"], *pid,
            "{name} keeps its pid across the broker restart"
        );
    }
    assert_eq!(
        d.file_text("runs").lines().count(),
        3,
        "no program was started again"
    );

    // The new broker has the pipes: output written now reaches the log.
    let out = d.ctl(&["signal", "USR1", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_log_line("web.stdout", "caught=SIGUSR1");
}
