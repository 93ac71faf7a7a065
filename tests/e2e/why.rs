//! `taskmasterctl why`: the transitions of a process with their causes,
//! the tail of its stderr and, for FATAL, what to do, exactly as printed.

use crate::harness::{TestDaemon, WAIT};
use crate::webdriver::free_port;
use serde_json::json;

/// The lines of `why` with the leading date and time cut off.
pub fn why_lines(d: &TestDaemon, name: &str) -> Vec<String> {
    let out = d.ctl(&["why", name]);
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout
        .lines()
        .map(|line| match line.split_once("  ") {
            // "2026-11-26 10:00:00  FROM -> TO  cause"
            Some((time, rest)) if time.len() == 19 && time.as_bytes()[4] == b'-' => {
                rest.to_string()
            }
            _ => line.to_string(),
        })
        .collect()
}

/// The line of `config` where `needle` is written, 1-based.
fn line_of(config: &str, needle: &str) -> usize {
    config
        .lines()
        .position(|line| line.contains(needle))
        .expect("needle in config")
        + 1
}

#[test]
fn an_exec_error_then_fatal_says_what_to_fix() {
    let d = TestDaemon::start(
        r#"
[programs.missing]
command = "/nonexistent/tm-why"
startretries = 1
"#,
    );
    d.wait_state("missing", "FATAL", WAIT);
    let config = std::fs::read_to_string(d.config_path()).unwrap();
    let place = format!(
        "{}:{}",
        d.config_path().display(),
        line_of(&config, "/nonexistent/tm-why")
    );
    let error = d.process("missing")["spawn_error"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(error.contains("No such file or directory"), "{error}");
    assert_eq!(
        why_lines(&d, "missing"),
        [
            "missing: FATAL".to_string(),
            "STOPPED -> STARTING  autostart".to_string(),
            format!("STARTING -> BACKOFF  {error}; attempt 1 of 2, retrying in 1 s"),
            "BACKOFF -> STARTING  attempt 2 of 2, waited 1 s".to_string(),
            format!("STARTING -> FATAL  {error}; gave up after 2 attempts"),
            format!("what to do: fix the command at {place}, then `taskmasterctl start missing`"),
        ]
    );
}

#[test]
fn a_startsecs_failure_shows_the_uptime_and_the_stderr_tail() {
    let d = TestDaemon::start(
        r#"
[programs.early]
command = "@PROG@"
args = ["--stderr", "early: cannot read /etc/early.conf", "--sleep", "0.2", "--exit", "3"]
startsecs = 1
startretries = 0
"#,
    );
    d.wait_state("early", "FATAL", WAIT);
    let lines = why_lines(&d, "early");
    assert_eq!(
        lines[..2],
        ["early: FATAL", "STOPPED -> STARTING  autostart"],
        "{lines:#?}"
    );
    let fatal = &lines[2];
    assert!(
        fatal.starts_with("STARTING -> FATAL  exit status 3 after 0.")
            && fatal.ends_with(" s, before startsecs (1 s); gave up after 1 attempt"),
        "{lines:#?}"
    );
    assert_eq!(
        lines[3..5],
        [
            "last lines of its stderr:",
            "  early: cannot read /etc/early.conf"
        ],
        "{lines:#?}"
    );
    assert!(
        lines[5]
            .starts_with("what to do: see why it exits within startsecs (1 s) in its stderr below"),
        "{lines:#?}"
    );
}

#[test]
fn an_operator_stop_names_the_requesters_uid_and_pid() {
    let d = TestDaemon::start(
        r#"
[programs.api]
command = "@PROG@"
startsecs = 0
"#,
    );
    d.wait_state("api", "RUNNING", WAIT);
    // From this test process, so that its pid is known.
    let reply = d.request(json!({"command": "stop", "name": "api"}));
    assert_eq!(reply["status"], 200, "{reply}");
    let me = std::process::id();
    let uid = nix::unistd::getuid();
    let lines = why_lines(&d, "api");
    assert_eq!(
        lines[1..4],
        [
            "STOPPED -> STARTING  autostart".to_string(),
            "STARTING -> RUNNING  stayed up 0 s (startsecs)".to_string(),
            format!("RUNNING -> STOPPING  stop requested by uid {uid} (pid {me})"),
        ],
        "{lines:#?}"
    );
    assert_eq!(
        lines[4], "STOPPING -> STOPPED  terminated by SIGTERM",
        "{lines:#?}"
    );
    // The same, for scripts.
    let out = d.ctl(&["why", "--json", "api"]);
    let content: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let stop = &content["transitions"][2];
    assert_eq!(stop["to"], "STOPPING", "{content}");
    assert_eq!(
        stop["cause"],
        json!({"kind": "request", "command": "stop", "uid": uid.as_raw(), "pid": me}),
        "{content}"
    );
}

#[test]
fn why_names_one_process() {
    let d = TestDaemon::start(
        r#"
[programs.api]
command = "@PROG@"
"#,
    );
    let out = d.ctl(&["why", "nosuch"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.stderr, "nosuch: ERROR (no such process)\n", "{out:?}");
}

#[test]
fn a_reload_says_what_changed_in_which_file() {
    let d = TestDaemon::start(
        r#"
[programs.api]
command = "@PROG@"
args = ["--sleep", "600"]
startsecs = 0
"#,
    );
    d.wait_state("api", "RUNNING", WAIT);
    let config = std::fs::read_to_string(d.config_path()).unwrap();
    std::fs::write(d.config_path(), config.replace("\"600\"", "\"601\"")).unwrap();
    assert_eq!(d.ctl(&["reload"]).code, 0);
    d.wait_state("api", "RUNNING", WAIT);
    let lines = why_lines(&d, "api");
    let uid = nix::unistd::getuid();
    let reason = lines[3]
        .strip_prefix(&format!(
            "RUNNING -> STOPPING  reload: requested by uid {uid} (pid "
        ))
        .unwrap_or_else(|| panic!("{lines:#?}"));
    let what = format!(
        "); args changed at {}:{}",
        d.config_path().display(),
        line_of(&config, "command = ")
    );
    assert!(reason.ends_with(&what), "{lines:#?}");
    assert_eq!(lines[4], "STOPPING -> STOPPED  terminated by SIGTERM");
    assert!(
        lines[5].starts_with("STOPPED -> STARTING  reload: ") && lines[5].ends_with(&what),
        "{lines:#?}"
    );
}

#[test]
fn a_start_held_by_depends_on_says_what_it_waited_for_and_a_stop_of_the_dependency_says_so() {
    let port = free_port();
    let d = TestDaemon::start(&format!(
        r#"
[programs.api]
command = "@PROG@"
depends_on = ["db"]
startsecs = 0
[programs.db]
command = "@PROG@"
args = ["--after-ms", "300", "--listen", "{port}"]
ready = {{ tcp = "127.0.0.1:{port}" }}
ready_interval = "100ms"
startsecs = 0
"#
    ));
    d.wait_state("api", "RUNNING", WAIT);
    assert_eq!(d.ctl(&["stop", "db"]).code, 0);
    assert_eq!(
        why_lines(&d, "api"),
        [
            "api: STOPPED",
            "STOPPED -> STOPPED  waiting: db is STARTING",
            "STOPPED -> STARTING  autostart; released: db is RUNNING",
            "STARTING -> RUNNING  stayed up 0 s (startsecs)",
            "RUNNING -> STOPPING  stopped: db, which it depends on, was stopped",
            "STOPPING -> STOPPED  terminated by SIGTERM",
        ]
    );
    // Starting api starts db first, for api's sake.
    assert_eq!(d.ctl(&["start", "api"]).code, 0);
    let db = why_lines(&d, "db");
    assert_eq!(
        db[db.len() - 2..],
        [
            "STOPPED -> STARTING  started: api depends on it",
            "STARTING -> RUNNING  stayed up 0 s (startsecs)",
        ],
        "{db:#?}"
    );
    let api = why_lines(&d, "api");
    let uid = nix::unistd::getuid();
    assert_eq!(
        api[6], "STOPPED -> STOPPED  waiting: db is STARTING",
        "{api:#?}"
    );
    assert!(
        api[7].starts_with(&format!(
            "STOPPED -> STARTING  start requested by uid {uid} (pid "
        )) && api[7].ends_with("); released: db is RUNNING"),
        "{api:#?}"
    );
}
