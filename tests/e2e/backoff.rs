//! The restart policy seen from outside: a crash loop with `backoff`
//! waits 0, 1, 2, 4 s between restarts (measured from the daemon's event
//! times, with a wide tolerance for a loaded machine), `startretries =
//! "infinite"` never goes FATAL, and `status` tells the attempt and the
//! time left.

use crate::harness::{TestDaemon, WAIT};
use serde_json::Value;

fn state_event(event: &Value, name: &str, to: &str) -> bool {
    event["event"] == "state" && event["name"] == name && event["to"] == to
}

#[test]
fn a_crash_loop_with_factor_2_waits_0_1_2_4_seconds() {
    let d = TestDaemon::start(
        r#"
[programs.crashy]
command = "@PROG@"
args = ["--sleep", "0.2", "--exit", "1"]
autostart = false
startsecs = 0
autorestart = true
backoff = { initial = "1s", factor = 2.0, max = "1min" }
"#,
    );
    let mut events = d.events();
    let out = d.ctl(&["start", "crashy"]);
    assert_eq!(out.code, 0, "{out:?}");
    let mut waits = Vec::new();
    for _ in 0..4 {
        let exited = events.wait_for("crashy EXITED", WAIT, |e| {
            state_event(e, "crashy", "EXITED")
        });
        let restart = events.wait_for("crashy STARTING", WAIT, |e| {
            state_event(e, "crashy", "STARTING")
        });
        let gap = restart["time_ms"].as_u64().unwrap() - exited["time_ms"].as_u64().unwrap();
        waits.push(gap);
    }
    eprintln!("crash-loop waits: {waits:?} ms");
    let expected = [0u64, 1000, 2000, 4000];
    for (gap, want) in waits.iter().zip(expected) {
        // Never early; late by at most 900 ms on a loaded machine.
        assert!(
            *gap + 5 >= want && *gap <= want + 900,
            "waits {waits:?} ms, expected about {expected:?}"
        );
    }
}

#[test]
fn status_shows_the_attempt_and_the_time_left() {
    let d = TestDaemon::start(
        r#"
[programs.flaky]
command = "@PROG@"
args = ["--sleep", "0", "--exit", "3"]
startsecs = 1
startretries = 5
backoff = { initial = "30s", factor = 2.0, max = "5min" }
"#,
    );
    let info = d.wait_state("flaky", "BACKOFF", WAIT);
    assert_eq!(
        info["description"], "attempt 1, next in 30 s (exit status 3)",
        "{info}"
    );
    let out = d.ctl(&["status", "flaky"]);
    let line = out.stdout.lines().next().unwrap_or_default().to_string();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[..3], ["flaky", "BACKOFF", "attempt"], "{out:?}");
}

#[test]
fn infinite_startretries_never_goes_fatal() {
    let d = TestDaemon::start(
        r#"
[programs.missing]
command = "/nonexistent/taskmaster-e2e"
startretries = "infinite"
backoff = { initial = "0.05s", factor = 1.0, max = "0.05s" }
"#,
    );
    let mut events = d.events();
    // Far past 1 + startretries (3) attempts of the default.
    for _ in 0..12 {
        let event = events.wait_for("a BACKOFF or FATAL of missing", WAIT, |e| {
            state_event(e, "missing", "BACKOFF") || state_event(e, "missing", "FATAL")
        });
        assert_eq!(event["to"], "BACKOFF", "{event}");
    }
    let info = d.process("missing");
    assert_ne!(info["state"], "FATAL", "{info}");
}
