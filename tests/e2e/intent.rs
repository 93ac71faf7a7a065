//! Operator intent kept in `[taskmasterd] statedir`: a stop stays a stop
//! and a start a start across a restart of taskmasterd and a kill -9 of
//! the broker; `--transient` is not kept; a corrupt state file is logged
//! and ignored; a program removed from the config forgets its intent.

use crate::harness::{Builder, TestDaemon, WAIT};
use nix::unistd::{chown, User};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const PROGRAMS: &str = r#"
[programs.api]
command = "@PROG@"
startsecs = 0

[programs.manual]
command = "@PROG@"
startsecs = 0
autostart = false

[programs.other]
command = "@PROG@"
startsecs = 0
"#;

/// `dir/state`, as the package lays it out: owned by the broker's user
/// (taskmaster, else nobody, when the tests run as root), mode 0700.
fn make_state_dir(dir: &Path) {
    let state = dir.join("state");
    fs::create_dir(&state).expect("create the state directory");
    fs::set_permissions(&state, fs::Permissions::from_mode(0o700)).unwrap();
    if nix::unistd::geteuid().is_root() {
        let user = User::from_name("taskmaster")
            .ok()
            .flatten()
            .or_else(|| User::from_name("nobody").ok().flatten())
            .expect("a taskmaster or nobody user");
        chown(&state, Some(user.uid), Some(user.gid)).expect("chown the state directory");
    }
}

fn daemon_with_state(body: &str, prepare: impl FnOnce(&Path)) -> TestDaemon {
    Builder::new(body)
        .daemon("statedir = \"@DIR@/state\"")
        .start_after(|config| {
            let dir = config.parent().expect("the test directory");
            make_state_dir(dir);
            prepare(dir);
        })
}

#[test]
fn an_operator_stop_and_start_survive_a_restart_of_taskmasterd() {
    let mut d = daemon_with_state(PROGRAMS, |_| {});
    d.wait_state("api", "RUNNING", WAIT);
    assert_eq!(d.ctl(&["stop", "api"]).code, 0);
    assert_eq!(d.ctl(&["start", "manual"]).code, 0);
    let uid = nix::unistd::getuid();
    let description = d.process("api")["description"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        description.starts_with(&format!("by operator (uid {uid}) 20")),
        "{description}"
    );

    d.kill_and_restart();
    // other shows that autostart has run; api stays stopped, manual runs.
    d.wait_state("other", "RUNNING", WAIT);
    d.wait_state("manual", "RUNNING", WAIT);
    assert_eq!(d.state("api"), "STOPPED");
    let out = d.ctl(&["status", "api"]);
    assert!(out.stdout.contains("by operator"), "{out:?}");
    // manual says why it started.
    let why = d.ctl(&["why", "manual"]);
    assert!(
        why.stdout.contains(&format!(
            "STOPPED -> STARTING  started again: an operator (uid {uid}) had started it"
        )),
        "{why:?}"
    );
    // Until someone starts it.
    assert_eq!(d.ctl(&["start", "api"]).code, 0);
    d.kill_and_restart();
    d.wait_state("api", "RUNNING", WAIT);
}

#[test]
fn an_operator_stop_survives_a_kill_of_the_broker_and_so_does_the_history() {
    let d = daemon_with_state(PROGRAMS, |_| {});
    d.wait_state("api", "RUNNING", WAIT);
    assert_eq!(d.ctl(&["stop", "api"]).code, 0);
    let before = d.ctl(&["why", "api"]).stdout;
    // The history is written within a second of a change.
    d.wait_for("the stop in history.json", WAIT, || {
        d.file_text("state/history.json")
            .contains("terminated by SIGTERM")
    });
    d.kill_broker();
    d.wait_state("other", "RUNNING", WAIT);
    assert_eq!(d.state("api"), "STOPPED");
    let after = d.ctl(&["why", "api"]).stdout;
    assert_eq!(
        after, before,
        "the history is kept across the broker's restart"
    );
}

#[test]
fn a_transient_stop_is_not_kept() {
    let mut d = daemon_with_state(PROGRAMS, |_| {});
    d.wait_state("api", "RUNNING", WAIT);
    assert_eq!(d.ctl(&["stop", "--transient", "api"]).code, 0);
    assert!(!d.process("api")["description"]
        .as_str()
        .unwrap()
        .starts_with("by operator"));
    d.kill_and_restart();
    d.wait_state("api", "RUNNING", WAIT);
}

#[test]
fn a_corrupt_state_file_is_logged_and_ignored() {
    let d = daemon_with_state(PROGRAMS, |dir| {
        fs::write(dir.join("state/state.json"), "{\"intents\": {\"api\": 7").unwrap();
    });
    d.wait_state("api", "RUNNING", WAIT);
    // Logged before the broker serves: there by now.
    let log = d.file_text("taskmasterd.log");
    let line = log
        .lines()
        .find(|line| line.contains("state/state.json is corrupt"))
        .unwrap_or_else(|| panic!("no line about the corrupt file in {log}"));
    assert!(line.contains(" ERRO "), "{line}");
    assert!(
        line.ends_with(
            "starting without it: operator intents are forgotten, and the file is written anew"
        ),
        "{line}"
    );
    // The next save writes it anew.
    assert_eq!(d.ctl(&["stop", "api"]).code, 0);
    let text = d.file_text("state/state.json");
    let saved: serde_json::Value = serde_json::from_str(&text).expect("valid JSON again");
    assert_eq!(saved["intents"]["api"]["run"], false, "{saved}");
}

#[test]
fn removing_the_program_forgets_its_intent() {
    let d = daemon_with_state(PROGRAMS, |_| {});
    d.wait_state("api", "RUNNING", WAIT);
    assert_eq!(d.ctl(&["stop", "api"]).code, 0);
    let config = fs::read_to_string(d.config_path()).unwrap();
    let without = config.replace("[programs.api]", "[programs.api_renamed]");
    fs::write(d.config_path(), &without).unwrap();
    assert_eq!(d.ctl(&["reload"]).code, 0);
    d.wait_absent("api", WAIT);
    let saved: serde_json::Value = serde_json::from_str(&d.file_text("state/state.json")).unwrap();
    assert!(saved["intents"].get("api").is_none(), "{saved}");
    fs::write(d.config_path(), &config).unwrap();
    assert_eq!(d.ctl(&["reload"]).code, 0);
    d.wait_state("api", "RUNNING", WAIT);
}

#[test]
fn event_seqs_go_on_across_a_restart_of_taskmasterd() {
    let mut d = daemon_with_state(PROGRAMS, |_| {});
    crate::resume::seqs_go_up_across(&mut d, TestDaemon::kill_and_restart);
}
