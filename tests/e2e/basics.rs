//! The everyday commands as a user types them: status lines, `--json`,
//! start/stop/restart replies, exit codes, pid, avail, version, shutdown.

use crate::harness::{alive, run_ctl, Output, TestDaemon, WAIT};
use std::time::Duration;

const WEB: &str = r#"
[programs.web]
command = "@PROG@"
args = ["--print", "up"]
startsecs = 0
stopwaitsecs = 2

[programs.idle]
command = "@PROG@"
autostart = false
startsecs = 0
"#;

/// stdout and stderr together, for error lines whose stream is a detail.
fn all_text(out: &Output) -> String {
    format!("{}{}", out.stdout, out.stderr)
}

fn line_of<'a>(out: &'a Output, name: &str) -> Vec<&'a str> {
    out.lines()
        .into_iter()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no status line for '{name}' in {out:?}"))
        .split_whitespace()
        .collect()
}

#[test]
fn status_line_has_supervisorctl_shape() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let pid = d.pid("web");
    let out = d.ctl(&["status", "web"]);
    assert_eq!(out.code, 0, "status of a RUNNING process exits 0: {out:?}");
    let fields = line_of(&out, "web");
    assert_eq!(
        fields[..5],
        ["web", "RUNNING", "pid", &format!("{pid},"), "uptime"],
        "{out:?}"
    );
    assert!(
        fields[5].starts_with("0:00:0"),
        "uptime of a fresh process: {out:?}"
    );
    assert_eq!(out.lines().len(), 1, "`status web` lists only web: {out:?}");
}

#[test]
fn status_exits_3_when_a_process_is_not_running() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let out = d.ctl(&["status"]);
    assert_eq!(out.code, 3, "idle is STOPPED, so status exits 3: {out:?}");
    assert_eq!(line_of(&out, "idle")[1], "STOPPED", "{out:?}");
    assert_eq!(line_of(&out, "web")[1], "RUNNING", "{out:?}");
}

#[test]
fn status_json_is_the_protocol_content() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let pid = d.pid("web");
    let out = d.ctl(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json prints JSON ({e}): {out:?}"));
    let processes = json["processes"].as_array().expect("content has processes");
    let web = processes
        .iter()
        .find(|p| p["name"] == "web")
        .expect("web listed");
    assert_eq!(web["state"], "RUNNING");
    assert_eq!(web["pid"], pid);
    assert_eq!(web["program"], "web");
    assert!(
        processes
            .iter()
            .any(|p| p["name"] == "idle" && p["state"] == "STOPPED"),
        "{json}"
    );
}

#[test]
fn stop_start_restart_print_one_line_per_process() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let first = d.pid("web");

    let out = d.ctl(&["stop", "web"]);
    assert_eq!(
        (out.code, out.lines()),
        (0, vec!["web: stopped"]),
        "{out:?}"
    );
    assert_eq!(d.state("web"), "STOPPED");
    assert!(!alive(first), "stop returned while pid {first} still runs");

    let out = d.ctl(&["stop", "web"]);
    assert_eq!(out.code, 1, "stopping a stopped process fails: {out:?}");
    assert!(
        all_text(&out).contains("web: ERROR (not running)"),
        "{out:?}"
    );

    let out = d.ctl(&["start", "web"]);
    assert_eq!(
        (out.code, out.lines()),
        (0, vec!["web: started"]),
        "{out:?}"
    );
    let second = d.pid("web");
    assert_ne!(first, second);

    let out = d.ctl(&["start", "web"]);
    assert_eq!(out.code, 1, "starting a running process fails: {out:?}");
    assert!(
        all_text(&out).contains("web: ERROR (already started)"),
        "{out:?}"
    );

    let out = d.ctl(&["restart", "web"]);
    assert_eq!(
        (out.code, out.lines()),
        (0, vec!["web: stopped", "web: started"]),
        "{out:?}"
    );
    assert_ne!(d.pid("web"), second, "restart gives a new process");
    assert!(!alive(second));
}

#[test]
fn unknown_process_is_an_error_line_and_exit_1() {
    let d = TestDaemon::start(WEB);
    let out = d.ctl(&["stop", "nosuch"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        all_text(&out).contains("nosuch: ERROR (no such process)"),
        "{out:?}"
    );
    let out = d.ctl(&["start", "nosuch"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        all_text(&out).contains("nosuch: ERROR (no such process)"),
        "{out:?}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let d = TestDaemon::start(WEB);
    let out = d.ctl(&["status", "--no-such-option"]);
    assert_eq!(out.code, 2, "an unknown option is a usage error: {out:?}");
    let out = d.ctl(&["signal"]);
    assert_eq!(
        out.code, 2,
        "signal without arguments is a usage error: {out:?}"
    );
    assert!(
        !out.stderr.is_empty(),
        "a usage error explains itself on stderr: {out:?}"
    );
}

#[test]
fn no_daemon_exits_4_naming_the_socket() {
    let socket = format!("/tmp/tme2e-absent-{}.sock", std::process::id());
    let out = run_ctl(&["-s", &format!("unix://{socket}"), "status"]);
    assert_eq!(out.code, 4, "{out:?}");
    assert!(
        out.stderr.contains(&socket),
        "the message names the socket: {out:?}"
    );
}

#[test]
fn pid_avail_version() {
    let d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);

    let out = d.ctl(&["pid"]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, d.daemon_pid().to_string().as_str()),
        "pid is taskmasterd's: {out:?}"
    );
    let out = d.ctl(&["pid", "web"]);
    assert_eq!(
        (out.code, out.stdout.trim()),
        (0, d.pid("web").to_string().as_str()),
        "{out:?}"
    );

    let out = d.ctl(&["avail"]);
    assert_eq!(out.code, 0, "{out:?}");
    for name in ["web", "idle"] {
        let line = out
            .lines()
            .into_iter()
            .find(|l| l.split_whitespace().next() == Some(name))
            .unwrap_or_else(|| panic!("avail lists {name}: {out:?}"));
        assert!(line.contains("in use"), "{line}");
    }

    let out = d.ctl(&["version"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.contains(env!("CARGO_PKG_VERSION")), "{out:?}");
}

#[test]
fn shutdown_stops_everything_and_cleans_up() {
    let mut d = TestDaemon::start(WEB);
    d.wait_state("web", "RUNNING", WAIT);
    let web = d.pid("web");
    assert!(
        d.dir().join("taskmasterd.pid").exists(),
        "pidfile written at start"
    );

    let out = d.ctl(&["shutdown"]);
    assert_eq!(out.code, 0, "{out:?}");
    // stopwaitsecs is 2: the daemon has that plus some slack to be gone.
    assert_eq!(
        d.wait_exit(Duration::from_secs(10)),
        0,
        "taskmasterd exits 0 on shutdown"
    );
    assert!(!alive(web), "web (pid {web}) outlived shutdown");
    assert!(!d.socket().exists(), "socket removed on shutdown");
    assert!(
        !d.dir().join("taskmasterd.pid").exists(),
        "pidfile removed on shutdown"
    );

    let out = d.ctl(&["status"]);
    assert_eq!(out.code, 4, "nothing answers after shutdown: {out:?}");
    assert!(
        out.stderr.contains(&d.socket().display().to_string()),
        "{out:?}"
    );
}
