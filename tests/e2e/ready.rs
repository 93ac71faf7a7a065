//! `depends_on`, `ready` probes and `healthcheck`, through the real
//! binaries: programs that listen after a while, an HTTP responder the
//! test turns to 500, a log line; the order of starts and stops read from
//! the activity log.

use crate::harness::{Builder, TestDaemon, WAIT};
use std::time::Duration;

/// A loopback port free now (the test's programs bind it later).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// The position in the activity log of the first line holding `text`.
fn log_position(d: &TestDaemon, text: &str) -> usize {
    let log = d.file_text("taskmasterd.log");
    log.find(text)
        .unwrap_or_else(|| panic!("{text:?} not in the activity log:\n{log}"))
}

/// Asserts that the activity log says `first` before `then`.
fn before(d: &TestDaemon, first: &str, then: &str) {
    assert!(
        log_position(d, first) < log_position(d, then),
        "expected {first:?} before {then:?} in:\n{}",
        d.file_text("taskmasterd.log")
    );
}

/// db listens after 300 ms (tcp), api answers HTTP after 300 ms, worker
/// prints its ready line after 300 ms: each starts only once the one it
/// depends on is ready.
fn chain(db: u16, api: u16) -> String {
    format!(
        r#"
[programs.worker]
command = "@PROG@"
args = ["--after-ms", "300", "--print", "worker listening on port 7"]
depends_on = ["api"]
ready = {{ log = "listening on port [0-9]+" }}
ready_interval = "100ms"
startsecs = 0

[programs.api]
command = "@PROG@"
args = ["--after-ms", "300", "--http", "{api}", "@DIR@/api-status"]
depends_on = ["db"]
ready = {{ http = "http://127.0.0.1:{api}/health" }}
ready_interval = "100ms"
startsecs = 0

[programs.db]
command = "@PROG@"
args = ["--after-ms", "300", "--listen", "{db}"]
ready = {{ tcp = "127.0.0.1:{db}" }}
ready_interval = "100ms"
startsecs = 0
"#
    )
}

#[test]
fn a_chain_starts_each_when_the_previous_is_ready_and_stops_in_reverse() {
    let d = TestDaemon::start(&chain(free_port(), free_port()));
    d.wait_state("worker", "RUNNING", WAIT);
    before(&d, "db: STARTING -> RUNNING", "api: STOPPED -> STARTING");
    before(
        &d,
        "api: STARTING -> RUNNING",
        "worker: STOPPED -> STARTING",
    );
    assert_eq!(d.process("worker")["ready"], true);
    let out = d.ctl(&["stop", "all"]);
    assert_eq!(out.code, 0, "{out:?}");
    before(
        &d,
        "worker: STOPPING -> STOPPED",
        "api: RUNNING -> STOPPING",
    );
    before(&d, "api: STOPPING -> STOPPED", "db: RUNNING -> STOPPING");
}

#[test]
fn stopping_a_dependency_stops_its_dependents_first_and_restart_brings_them_back() {
    let d = TestDaemon::start(&chain(free_port(), free_port()));
    d.wait_state("worker", "RUNNING", WAIT);
    let out = d.ctl(&["stop", "db"]);
    assert_eq!(out.code, 0, "{out:?}");
    for name in ["worker", "api", "db"] {
        assert!(
            out.stdout.contains(&format!("{name}: stopped")),
            "stop db says what else it stopped: {out:?}"
        );
        assert_eq!(d.state(name), "STOPPED");
    }
    before(&d, "worker: STOPPING -> STOPPED", "db: RUNNING -> STOPPING");
    d.ctl(&["start", "worker"]);
    d.wait_state("worker", "RUNNING", WAIT);
    let old_api = d.pid("api");
    let out = d.ctl(&["restart", "db"]);
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_state("worker", "RUNNING", WAIT);
    assert_ne!(d.pid("api"), old_api, "api restarted with db");
}

#[test]
fn a_diamond_starts_the_base_first_and_the_top_last() {
    let d = TestDaemon::start(
        r#"
[programs.top]
command = "@PROG@"
depends_on = ["left", "right"]
[programs.left]
command = "@PROG@"
depends_on = ["base"]
[programs.right]
command = "@PROG@"
depends_on = ["base"]
[programs.base]
command = "@PROG@"
"#,
    );
    d.wait_state("top", "RUNNING", WAIT);
    for middle in ["left", "right"] {
        before(
            &d,
            "base: STARTING -> RUNNING",
            &format!("{middle}: STOPPED -> STARTING"),
        );
        before(
            &d,
            &format!("{middle}: STARTING -> RUNNING"),
            "top: STOPPED -> STARTING",
        );
    }
    d.ctl(&["stop", "all"]);
    for middle in ["left", "right"] {
        before(
            &d,
            "top: STOPPING -> STOPPED",
            &format!("{middle}: RUNNING -> STOPPING"),
        );
        before(
            &d,
            &format!("{middle}: STOPPING -> STOPPED"),
            "base: RUNNING -> STOPPING",
        );
    }
}

#[test]
fn a_fatal_dependency_holds_its_dependent_and_status_says_why() {
    let d = TestDaemon::start(
        r#"
[programs.db]
command = "/nonexistent/db"
startretries = 0
[programs.api]
command = "@PROG@"
depends_on = ["db"]
"#,
    );
    d.wait_state("db", "FATAL", WAIT);
    d.wait_for("api to say why it waits", WAIT, || {
        d.process("api")["waiting_for"] == "db is FATAL"
    });
    let out = d.ctl(&["status", "api"]);
    let line = out.stdout.lines().next().unwrap_or_default().to_string();
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[..2], ["api", "STOPPED"], "{out:?}");
    assert!(line.ends_with("waiting: db is FATAL"), "{line:?}");
    let out = d.ctl(&["start", "api"]);
    assert_eq!(out.code, 1, "a start that cannot happen fails: {out:?}");
    assert_eq!(out.stdout, "api: ERROR (waiting: db is FATAL)\n", "{out:?}");
}

#[test]
fn not_ready_by_ready_timeout_is_a_failed_start() {
    let port = free_port();
    let d = TestDaemon::start(&format!(
        r#"
[programs.deaf]
command = "@PROG@"
ready = {{ tcp = "127.0.0.1:{port}" }}
ready_timeout = "1s"
ready_interval = "100ms"
startretries = 0
"#
    ));
    let process = d.wait_state("deaf", "FATAL", WAIT);
    assert_eq!(
        process["description"], "not ready after 1 s (ready_timeout); killed",
        "{process}"
    );
    assert_eq!(
        crate::why::why_lines(&d, "deaf")[..3],
        [
            "deaf: FATAL",
            "STOPPED -> STARTING  autostart",
            "STARTING -> FATAL  not ready after 1 s (ready_timeout); gave up after 1 attempt",
        ]
    );
}

#[test]
fn a_failing_health_check_restarts_the_program() {
    let port = free_port();
    let b = Builder::new(&format!(
        r#"
[programs.api]
command = "@PROG@"
args = ["--http", "{port}", "@DIR@/api-status"]
ready = {{ http = "http://127.0.0.1:{port}/" }}
healthcheck = {{ http = "http://127.0.0.1:{port}/", interval = "200ms", retries = 3 }}
startsecs = 0
"#
    ));
    let status_file = b.dir().join("api-status");
    let d = b.start();
    d.wait_state("api", "RUNNING", WAIT);
    d.wait_for("api to be healthy", WAIT, || {
        d.process("api")["health"] == "healthy"
    });
    let pid = d.pid("api");
    let mut events = d.events();
    std::fs::write(&status_file, "500").expect("turn it to 500");
    let event = events.wait_for("api unhealthy", WAIT, |e| {
        e["event"] == "health" && e["health"] == "unhealthy (2/3: HTTP 500)"
    });
    assert_eq!(event["healthy"], false);
    d.wait_for("the restart", WAIT, || {
        d.file_text("taskmasterd.log")
            .contains("api: restarting it: 3 consecutive failed health checks")
    });
    // The new process is not ready while the endpoint fails.
    std::fs::write(&status_file, "200").expect("turn it back");
    let new = d.wait_new_pid("api", pid, WAIT);
    assert_ne!(new, pid);
    let restarted = "health check failed 3/3 (HTTP 500): restarted";
    assert_eq!(
        crate::why::why_lines(&d, "api")[3..6],
        [
            format!("RUNNING -> STOPPING  {restarted}"),
            "STOPPING -> STOPPED  terminated by SIGTERM".to_string(),
            format!("STOPPED -> STARTING  {restarted}"),
        ]
    );
}

#[test]
fn health_action_stop_and_none() {
    let (stop, report) = (free_port(), free_port());
    let b = Builder::new(&format!(
        r#"
[programs.stopper]
command = "@PROG@"
args = ["--http", "{stop}", "@DIR@/status"]
healthcheck = {{ http = "http://127.0.0.1:{stop}/", interval = "200ms", retries = 2, action = "stop" }}
startsecs = 0
[programs.reporter]
command = "@PROG@"
args = ["--http", "{report}", "@DIR@/status"]
healthcheck = {{ http = "http://127.0.0.1:{report}/", interval = "200ms", retries = 2, action = "none" }}
startsecs = 0
"#
    ));
    std::fs::write(b.dir().join("status"), "503").expect("status file");
    let d = b.start();
    d.wait_state("stopper", "STOPPED", WAIT);
    assert_eq!(
        crate::why::why_lines(&d, "stopper"),
        [
            "stopper: STOPPED",
            "STOPPED -> STARTING  autostart",
            "STARTING -> RUNNING  stayed up 0 s (startsecs)",
            "RUNNING -> STOPPING  health check failed 2/2 (HTTP 503): stopped",
            "STOPPING -> STOPPED  terminated by SIGTERM",
        ]
    );
    d.wait_for("reporter to count past retries", WAIT, || {
        d.process("reporter")["health"]
            .as_str()
            .is_some_and(|h| h.starts_with("unhealthy (3/2: HTTP 503"))
    });
    let process = d.process("reporter");
    assert_eq!(process["state"], "RUNNING");
    let out = d.ctl(&["status", "reporter"]);
    assert!(
        out.stdout.contains(", unhealthy (3/2: HTTP 503)") || out.stdout.contains("unhealthy ("),
        "{out:?}"
    );
}

#[test]
fn a_cycle_is_a_config_error_naming_it() {
    let b = Builder::new(
        r#"
[programs.a]
command = "@PROG@"
depends_on = ["b"]
[programs.b]
command = "@PROG@"
depends_on = ["a"]
"#,
    );
    let out = b.start_expecting_failure();
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("programs.a.depends_on: depends_on makes a cycle: a (")
            && out.stderr.contains("-> b ("),
        "{out:?}"
    );
}

#[test]
fn adding_a_dependency_on_reload_does_not_restart_a_running_program() {
    let d = TestDaemon::start(
        r#"
[programs.db]
command = "@PROG@"
[programs.api]
command = "@PROG@"
"#,
    );
    d.wait_state("api", "RUNNING", WAIT);
    let pid = d.pid("api");
    let text = std::fs::read_to_string(d.config_path()).expect("config");
    let text = text.replace(
        "[programs.api]\n",
        "[programs.api]\ndepends_on = [\"db\"]\nhealthcheck = { tcp = \"127.0.0.1:1\", interval = \"1h\" }\n",
    );
    std::fs::write(d.config_path(), text).expect("rewrite config");
    let out = d.ctl(&["reload"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout
            .contains("api: changed (depends_on, healthcheck)"),
        "{out:?}"
    );
    assert_eq!(d.pid("api"), pid, "api keeps running");
    d.ctl(&["stop", "db"]);
    assert_eq!(d.state("api"), "STOPPED", "api now depends on db");
}

#[test]
fn an_idle_daemon_without_health_checks_does_not_wake() {
    let port = free_port();
    let d = TestDaemon::start(&format!(
        r#"
[programs.db]
command = "@PROG@"
args = ["--listen", "{port}"]
ready = {{ tcp = "127.0.0.1:{port}" }}
startsecs = 0
[programs.api]
command = "@PROG@"
depends_on = ["db"]
startsecs = 0
"#
    ));
    d.wait_state("api", "RUNNING", WAIT);
    let broker = broker_of(&d);
    // Let the replies of the last status request drain.
    std::thread::sleep(Duration::from_millis(200));
    let first = switches(broker);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(switches(broker), first, "the broker woke while idle");
}

/// The taskmaster-broker child of taskmasterd.
fn broker_of(d: &TestDaemon) -> i32 {
    crate::harness::children_of(d.daemon_pid())
        .into_iter()
        .find(|&pid| comm(pid) == "taskmaster-brok")
        .expect("the broker process")
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Context switches of every thread of `pid`: each wake-up adds one.
fn switches(pid: i32) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks") {
        let status =
            std::fs::read_to_string(entry.expect("task").path().join("status")).unwrap_or_default();
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    total
}

#[test]
fn a_notify_program_is_running_once_it_says_ready_and_shows_its_status() {
    let d = TestDaemon::start(
        r#"
[programs.worker]
command = "@PROG@"
args = ["--print-env", "NOTIFY_SOCKET", "--after-ms", "300", "--notify", "STATUS=Serving 3 queues", "--notify", "READY=1"]
ready = { notify = true }
startsecs = 0
"#,
    );
    let process = d.wait_state("worker", "RUNNING", WAIT);
    assert_eq!(process["ready"], true, "{process}");
    assert_eq!(process["notify_status"], "Serving 3 queues", "{process}");
    let out = d.ctl(&["status", "worker"]);
    assert!(out.stdout.contains(", \"Serving 3 queues\""), "{out:?}");
    let socket = d.dir().join("logs/notify/worker.sock");
    d.wait_log_line(
        "worker.stdout",
        &format!("env:NOTIFY_SOCKET={}", socket.display()),
    );
}

/// Another local process (here the test, in a session of its own) floods
/// the 0666 notify socket with `READY=1`: it is not believed, and the log
/// says so once, not once per datagram.
#[test]
fn notifications_from_outside_the_session_are_ignored_and_logged_once() {
    let d = TestDaemon::start(
        r#"
[programs.worker]
command = "@PROG@"
args = ["--wait-file", "@DIR@/go", "--notify", "READY=1"]
ready = { notify = true }
startsecs = 0
"#,
    );
    let go = d.dir().join("go");
    d.wait_state("worker", "STARTING", WAIT);
    let socket = d.dir().join("logs/notify/worker.sock");
    let spoofer = std::os::unix::net::UnixDatagram::unbound().unwrap();
    for _ in 0..300 {
        spoofer.send_to(b"READY=1\n", &socket).unwrap();
    }
    assert_eq!(d.state("worker"), "STARTING");
    // The program's own READY=1 comes after every forged one.
    std::fs::write(&go, "").unwrap();
    d.wait_state("worker", "RUNNING", WAIT);
    let log = d.file_text("taskmasterd.log");
    let ignored = format!("ignored a notification from pid {}", std::process::id());
    assert_eq!(log.matches(&ignored).count(), 1, "{log}");
}

/// `pinger` sends WATCHDOG=1 every 100 ms under a 1 s watchdog; `silent`
/// never does, under `silent_watchdog`.
fn pinger_and_silent(silent_watchdog: &str) -> String {
    format!(
        r#"
[programs.pinger]
command = "@PROG@"
args = ["--notify", "READY=1", "--watchdog-ms", "100"]
ready = {{ notify = true, watchdog = "1s" }}
startsecs = 0
[programs.silent]
command = "@PROG@"
args = ["--notify", "READY=1"]
ready = {{ notify = true, watchdog = "{silent_watchdog}" }}
startsecs = 0
"#
    )
}

#[test]
fn a_program_that_stops_pinging_its_watchdog_is_restarted() {
    let d = TestDaemon::start(&pinger_and_silent("1s"));
    d.wait_state("pinger", "RUNNING", WAIT);
    let silent = d.wait_state("silent", "RUNNING", WAIT)["pid"]
        .as_i64()
        .unwrap() as i32;
    let pinger = d.pid("pinger");
    d.wait_new_pid("silent", silent, WAIT);
    let log = d.file_text("taskmasterd.log");
    assert!(
        log.contains("silent: restarting it: its watchdog ran out"),
        "{log}"
    );
    assert_eq!(d.pid("pinger"), pinger, "the pinging program keeps running");
}

#[test]
fn an_autorestart_waits_for_its_dependencies_to_run_again() {
    let port = free_port();
    let d = TestDaemon::start(&format!(
        r#"
[programs.db]
command = "@PROG@"
args = ["--after-ms", "500", "--listen", "{port}"]
ready = {{ tcp = "127.0.0.1:{port}" }}
ready_interval = "100ms"
startsecs = 0
[programs.api]
command = "@PROG@"
depends_on = ["db"]
startsecs = 0
"#
    ));
    d.wait_state("api", "RUNNING", WAIT);
    let (db, api) = (d.pid("db"), d.pid("api"));
    let kill = |pid: i32| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill")
    };
    kill(db);
    d.wait_for("db to restart", WAIT, || {
        let process = d.process("db");
        process["state"] == "STARTING"
            && process["pid"].as_i64().is_some_and(|p| p != i64::from(db))
    });
    kill(api);
    d.wait_new_pid("api", api, WAIT);
    let log = d.file_text("taskmasterd.log");
    assert!(
        log.contains("api: restart held until its dependencies run (db is STARTING)"),
        "{log}"
    );
    let db_running = log.rfind("db: STARTING -> RUNNING").expect("db ran again");
    let api_spawned = log.rfind("spawned: 'api'").expect("api spawned again");
    assert!(
        db_running < api_spawned,
        "api spawned before db was ready:\n{log}"
    );
}

#[test]
fn removing_the_dependency_on_reload_releases_a_held_start() {
    let d = TestDaemon::start(
        r#"
[programs.db]
command = "/nonexistent/db"
startretries = 0
[programs.api]
command = "@PROG@"
depends_on = ["db"]
"#,
    );
    d.wait_for("api to wait for db", WAIT, || {
        d.process("api")["waiting_for"] == "db is FATAL"
    });
    let text = std::fs::read_to_string(d.config_path()).expect("config");
    std::fs::write(d.config_path(), text.replace("depends_on = [\"db\"]\n", ""))
        .expect("rewrite config");
    let out = d.ctl(&["reload"]);
    assert_eq!(out.code, 0, "{out:?}");
    let api = d.wait_state("api", "RUNNING", WAIT);
    assert!(api.get("waiting_for").is_none(), "{api}");
}

#[test]
fn a_command_probe_runs_as_the_program_in_its_directory_with_its_environment() {
    if !crate::harness::is_root_or_skip("a_command_probe_runs_as_the_program") {
        return;
    }
    crate::harness::test_user();
    let b = Builder::new(
        r#"
[programs.migrate]
command = "@PROG@"
args = ["--after-ms", "300", "--create-file", "@DIR@/flag"]
user = "tmtest"
directory = "@DIR@"
ready = { command = ["/bin/sh", "-c", "echo \"$(id -un) $PWD $PROBE_VAR\" > @DIR@/probe.out; test -e @DIR@/flag"] }
ready_interval = "100ms"
startsecs = 0
[programs.migrate.env]
PROBE_VAR = "hello"
"#,
    );
    let dir = b.dir().to_path_buf();
    let d = b.start();
    let process = d.wait_state("migrate", "RUNNING", WAIT);
    assert_eq!(process["ready"], true, "{process}");
    let seen = std::fs::read_to_string(dir.join("probe.out")).expect("the probe ran");
    assert_eq!(seen.trim(), format!("tmtest {} hello", dir.display()));
}

#[test]
fn a_failing_command_health_check_restarts_and_a_hung_one_is_killed() {
    let b = Builder::new(
        r#"
[programs.api]
command = "@PROG@"
healthcheck = { command = ["/usr/bin/test", "-e", "@DIR@/healthy"], interval = "200ms", retries = 2 }
startsecs = 0
[programs.hung]
command = "@PROG@"
healthcheck = { command = ["/bin/sleep", "30"], interval = "200ms", timeout = "300ms", retries = 1, action = "none" }
startsecs = 0
"#,
    );
    let healthy = b.dir().join("healthy");
    std::fs::write(&healthy, "").expect("flag");
    let d = b.start();
    d.wait_state("api", "RUNNING", WAIT);
    d.wait_for("api to be healthy", WAIT, || {
        d.process("api")["health"] == "healthy"
    });
    let pid = d.pid("api");
    std::fs::remove_file(&healthy).expect("unflag");
    d.wait_for("the restart", WAIT, || {
        d.file_text("taskmasterd.log")
            .contains("api: restarting it: 2 consecutive failed health checks")
    });
    std::fs::write(&healthy, "").expect("flag again");
    d.wait_new_pid("api", pid, WAIT);
    d.wait_for("the hung probe to be killed", WAIT, || {
        d.process("hung")["health"]
            == "unhealthy (1/1: terminated by SIGKILL (ran past its time limit))"
    });
}

/// A probe that leaves a process behind in its group, run every 200 ms:
/// each leftover is killed when its probe ends, not kept for ever.
#[test]
fn what_a_command_probe_leaves_in_its_group_is_killed_when_it_ends() {
    let d = TestDaemon::start(
        r#"
[programs.api]
command = "@PROG@"
healthcheck = { command = ["/bin/sh", "-c", "sleep 3600 & echo $! >> @DIR@/left"], interval = "200ms" }
startsecs = 0
"#,
    );
    let left = d.dir().join("left");
    d.wait_for("two health checks", WAIT, || {
        std::fs::read_to_string(&left).is_ok_and(|text| text.lines().count() >= 2)
    });
    // The second runs only once the first has ended.
    let first: i32 = std::fs::read_to_string(&left)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    d.wait_for("the first probe's sleep to be gone", WAIT, || {
        std::fs::read_to_string(format!("/proc/{first}/cmdline"))
            .map_or(true, |cmdline| !cmdline.contains("3600"))
    });
}

#[test]
fn after_a_broker_restart_notify_and_the_watchdog_go_on() {
    let d = TestDaemon::start(&pinger_and_silent("2s"));
    d.wait_state("silent", "RUNNING", WAIT);
    let pinger = d.wait_state("pinger", "RUNNING", WAIT)["pid"].clone();
    let broker = broker_of(&d);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(broker),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9 the broker");
    // The new broker watches what it adopted: silent, which never pings,
    // is restarted 2 s after; by then pinger's 1 s watchdog would have run
    // out too, had its pings not reached the socket bound again.
    d.wait_for("silent restarted by the new broker", WAIT, || {
        let log = d.file_text("taskmasterd.log");
        let adopted = log.find("adopted: 'silent'");
        let restarted = log.rfind("silent: restarting it: its watchdog ran out");
        matches!((adopted, restarted), (Some(a), Some(r)) if a < r)
    });
    let process = d.process("pinger");
    assert_eq!(process["pid"], pinger, "pinger kept running: {process}");
    let log = d.file_text("taskmasterd.log");
    assert!(!log.contains("pinger: restarting"), "{log}");
}
