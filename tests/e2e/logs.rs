//! Reading logs from the client: `tail` (stdout, stderr, -n, -f), `maintail`,
//! `clear`, output kept across restarts, unknown names, and a huge line
//! without a newline.

use crate::harness::{argv0, bin_dir, children_of, TestDaemon, WAIT};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A `taskmasterctl ... -f` running in the background; its stdout lines
/// arrive through a channel so that a test waits for one with a deadline.
struct Following {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Following {
    fn start(d: &TestDaemon, args: &[&str]) -> Following {
        let mut child = Command::new(bin_dir().join("taskmasterctl"))
            .arg("-c")
            .arg(d.config_path())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot run taskmasterctl");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Following {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until a line equal to `wanted` has been printed.
    fn wait_line(&mut self, wanted: &str) {
        self.wait_match(&format!("'{wanted}'"), |l| l == wanted);
    }

    /// Waits until a printed line satisfies `wanted`; the first that does.
    fn wait_match(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.seen.iter().find(|l| wanted(l)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "`taskmasterctl -f` did not print {what} within {WAIT:?}; it printed {:?}",
                    self.seen
                ),
            }
        }
    }

    /// How many printed lines so far equal `line`.
    fn count(&mut self, line: &str) -> usize {
        while let Ok(more) = self.lines.try_recv() {
            self.seen.push(more);
        }
        self.seen.iter().filter(|l| *l == line).count()
    }

    /// Waits for the client to exit by itself; its exit code.
    fn wait_exit(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("waitpid on taskmasterctl") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "`taskmasterctl -f` still running {timeout:?} after the daemon left"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CATCHER: &str = r#"
[programs.web]
command = "@PROG@"
args = ["--catch", "USR1", "--print", "ready", "--stderr", "err ready"]
startsecs = 0
"#;

/// Makes `web` print `caught=SIGUSR1`.
fn poke(d: &TestDaemon) {
    let out = d.ctl(&["signal", "USR1", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn tail_prints_the_last_lines_of_stdout_and_stderr() {
    let mut args: Vec<String> = Vec::new();
    for n in 1..=12 {
        args.extend(["--print".into(), format!("line {n}")]);
    }
    args.extend([
        "--stderr".into(),
        "e1".into(),
        "--stderr".into(),
        "e2".into(),
    ]);
    args.extend(["--print".into(), "done".into()]);
    let d = TestDaemon::start(&format!(
        "[programs.web]\ncommand = \"@PROG@\"\nargs = {args:?}\nstartsecs = 0\n"
    ));
    d.wait_log_line("web.stdout", "done");
    d.wait_log_line("web.stderr", "e2");

    let out = d.ctl(&["tail", "-n", "3", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "line 11\nline 12\ndone\n");

    let out = d.ctl(&["tail", "web"]);
    let expected: String = (4..=12)
        .map(|n| format!("line {n}\n"))
        .chain(["done\n".to_string()])
        .collect();
    assert_eq!(out.stdout, expected, "10 lines by default");

    let out = d.ctl(&["tail", "-n", "1", "web", "stderr"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, "e2\n"), "{out:?}");

    let reply =
        d.request(json!({"command": "tail", "name": "web", "stream": "stderr", "lines": 2}));
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(reply["content"]["text"], "e1\ne2\n");
    assert_eq!(reply["content"]["name"], "web");
    assert_eq!(reply["content"]["stream"], "stderr");
    let path = d.dir().join("logs/web.stderr");
    assert_eq!(reply["content"]["path"], path.display().to_string());
}

#[test]
fn tail_follow_prints_new_lines_and_survives_a_clear() {
    let mut d = TestDaemon::start(CATCHER);
    d.wait_log_line("web.stdout", "ready");
    let mut follow = Following::start(&d, &["tail", "-f", "web"]);
    follow.wait_line("ready");

    poke(&d);
    follow.wait_line("caught=SIGUSR1");
    poke(&d);
    d.wait_for("a second caught line", WAIT, || {
        follow.count("caught=SIGUSR1") == 2
    });

    // Truncated under the follower: what is written next still shows.
    assert_eq!(d.ctl(&["clear", "web"]).code, 0);
    poke(&d);
    d.wait_for("a caught line after the clear", WAIT, || {
        follow.count("caught=SIGUSR1") == 3
    });

    // The daemon going away ends the stream with "cannot reach" (4).
    assert_eq!(d.ctl(&["shutdown"]).code, 0);
    assert_eq!(follow.wait_exit(WAIT), 4);
    d.wait_exit(WAIT);
}

#[test]
fn tail_follow_of_stderr_and_a_program_printing_every_50ms() {
    let d = TestDaemon::start(
        r#"
[programs.ticker]
command = "/bin/sh"
args = ["-c", "i=0; while :; do i=$((i+1)); echo tick $i >&2; sleep 0.05; done"]
startsecs = 0
"#,
    );
    d.wait_log_line("ticker.stderr", "tick 2");
    let mut follow = Following::start(&d, &["tail", "-f", "-n", "1", "ticker", "stderr"]);
    // Lines written after the client started arrive, in order, none lost.
    let first = follow.wait_match("a tick", |l| l.starts_with("tick "));
    let n: u32 = first
        .strip_prefix("tick ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    for next in n + 1..n + 10 {
        follow.wait_line(&format!("tick {next}"));
    }
    let ticks: Vec<u32> = follow
        .seen
        .iter()
        .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
        .collect();
    let expected: Vec<u32> = (n..n + ticks.len() as u32).collect();
    assert_eq!(ticks, expected, "every line once, in order");
}

#[test]
fn maintail_shows_recent_activity() {
    let d = TestDaemon::start(CATCHER);
    d.wait_state("web", "RUNNING", WAIT);
    let out = d.ctl(&["maintail", "-n", "50"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.lines()
            .iter()
            .any(|l| l.contains(" INFO spawned: 'web' with pid ")),
        "{out:?}"
    );
    let out = d.ctl(&["maintail", "-n", "2"]);
    assert_eq!(out.lines().len(), 2, "{out:?}");

    let mut follow = Following::start(&d, &["maintail", "-f", "-n", "1"]);
    // The first line proves the stream is up before the stop is logged.
    follow.wait_match("a line", |_| true);
    assert_eq!(d.ctl(&["stop", "web"]).code, 0);
    follow.wait_match("the stop", |l| l.contains(" INFO stopped: web ("));
}

#[test]
fn clear_empties_the_logs_and_the_program_keeps_running() {
    let d = TestDaemon::start(CATCHER);
    d.wait_log_line("web.stdout", "ready");
    d.wait_log_line("web.stderr", "err ready");
    let pid = d.pid("web");

    let out = d.ctl(&["clear", "web"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "web: cleared\n"),
        "{out:?}"
    );
    assert_eq!(d.log_text("web.stdout"), "");
    assert_eq!(d.log_text("web.stderr"), "");
    assert_eq!(d.state("web"), "RUNNING");
    assert_eq!(d.pid("web"), pid, "clear does not restart");

    // The program writes on at the new start of the file (append mode: no hole).
    poke(&d);
    d.wait_log_line("web.stdout", "caught=SIGUSR1");
    assert_eq!(d.log_text("web.stdout"), "caught=SIGUSR1\n");
    assert_eq!(d.ctl(&["tail", "web"]).stdout, "caught=SIGUSR1\n");

    let out = d.ctl(&["clear", "all"]);
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "web: cleared\n"),
        "{out:?}"
    );
    assert_eq!(d.log_text("web.stdout"), "");

    let out = d.ctl(&["clear"]);
    assert_eq!(out.code, 2, "a name is required: {out:?}");
}

#[test]
fn output_survives_a_restart() {
    let d = TestDaemon::start(CATCHER);
    d.wait_log_line("web.stdout", "ready");
    let old = d.pid("web");
    assert_eq!(d.ctl(&["restart", "web"]).code, 0);
    d.wait_new_pid("web", old, WAIT);
    d.wait_for("two 'ready' lines", WAIT, || {
        d.log_text("web.stdout")
            .lines()
            .filter(|l| *l == "ready")
            .count()
            == 2
    });
    assert_eq!(d.ctl(&["tail", "web"]).stdout, "ready\nready\n");
    assert_eq!(
        d.ctl(&["tail", "web", "stderr"]).stdout,
        "err ready\nerr ready\n"
    );
}

#[test]
fn unknown_or_ambiguous_names_are_errors() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
startsecs = 0

[programs.many]
command = "@PROG@"
numprocs = 2
startsecs = 0
"#,
    );
    for args in [
        &["tail", "nosuch"][..],
        &["tail", "-f", "nosuch"],
        &["clear", "nosuch"],
    ] {
        let out = d.ctl(args);
        assert_eq!(out.code, 1, "{args:?}: {out:?}");
        assert_eq!(
            out.stderr.trim(),
            "nosuch: ERROR (no such process)",
            "{args:?}"
        );
    }
    let out = d.ctl(&["tail", "many"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr.trim(),
        "error: 'many' names 2 processes (many:0, many:1); tail one of them"
    );
    // One instance is fine, and a file not written yet is just empty.
    let out = d.ctl(&["tail", "many:1", "stderr"]);
    assert_eq!((out.code, out.stdout.as_str()), (0, ""), "{out:?}");

    let reply = d.request(json!({"command": "tail", "name": "web", "stream": "stdin"}));
    assert_eq!(reply["status"], 400, "{reply}");
}

#[test]
fn tail_of_a_2mb_line_without_newline() {
    let d = TestDaemon::start(CATCHER);
    d.wait_log_line("web.stdout", "ready");
    let mut follow = Following::start(&d, &["tail", "-f", "-n", "1", "web"]);
    follow.wait_line("ready");

    let huge = "x".repeat(2 * 1024 * 1024);
    let path = d.dir().join("logs/web.stdout");
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("the log file exists");
    file.write_all(huge.as_bytes()).expect("cannot append");

    let out = d.ctl(&["tail", "-n", "1", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout.len(), 1024 * 1024, "the last MiB of the line");
    assert!(out.stdout.bytes().all(|b| b == b'x'));

    // The follower goes through the huge line (skipping what it is too far
    // behind on) and shows what the program prints after it.
    poke(&d);
    let line = follow.wait_match("the line after", |l| l.ends_with("caught=SIGUSR1"));
    assert!(line.starts_with('x'), "{}", &line[..40.min(line.len())]);
}

/// The broker's resident memory in KiB.
fn broker_rss_kib(d: &TestDaemon) -> u64 {
    let broker = children_of(d.daemon_pid())
        .into_iter()
        .find(|&pid| argv0(pid).ends_with("taskmaster-broker"))
        .expect("taskmasterd has a broker child");
    let status = std::fs::read_to_string(format!("/proc/{broker}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

#[test]
fn a_follower_that_never_reads_slows_nothing() {
    const TOTAL: u64 = 64 * 1024 * 1024;
    let d = TestDaemon::start(&format!(
        r#"
[programs.spew]
command = "/bin/sh"
args = ["-c", "yes 'spew a line of text' | head -c {TOTAL}; echo end; sleep 600"]
autostart = false
startsecs = 0
# One file, so that its size says everything arrived.
stdout_maxbytes = 0
"#
    ));
    let before = broker_rss_kib(&d);
    // Asks to follow (the file does not exist yet), then never reads a byte.
    let mut stuck = UnixStream::connect(d.socket()).expect("cannot connect");
    stuck
        .write_all(b"{\"command\":\"tail\",\"name\":\"spew\",\"follow\":true}\n")
        .expect("cannot send");
    let started = Instant::now();
    assert_eq!(d.ctl(&["start", "spew"]).code, 0);
    let path = d.dir().join("logs/spew.stdout");
    d.wait_for("64 MiB written", WAIT, || {
        std::fs::metadata(&path).is_ok_and(|m| m.len() == TOTAL + 4)
    });
    let elapsed = started.elapsed();
    let asked = Instant::now();
    assert_eq!(d.ctl(&["status", "spew"]).code, 0, "spew still runs");
    let status_time = asked.elapsed();
    let after = broker_rss_kib(&d);
    eprintln!(
        "64 MiB written in {elapsed:?} with a stuck follower; status answered in \
         {status_time:?}; broker RSS {before} KiB -> {after} KiB"
    );
    assert!(
        after < before + 16 * 1024,
        "the broker grew from {before} KiB to {after} KiB"
    );
    // `head -c` cut the last `yes` line: "spewend".
    let last = d.ctl(&["tail", "-n", "1", "spew"]).stdout;
    assert!(
        last.ends_with("end\n") && last.lines().count() == 1,
        "{last:?}"
    );
    drop(stuck);
}

#[test]
fn a_monitoring_loop_does_not_flood_the_activity_log_but_actions_say_who_asked() {
    let d = TestDaemon::start(CATCHER);
    d.wait_state("web", "RUNNING", WAIT);
    for _ in 0..5 {
        assert_eq!(d.ctl(&["status"]).code, 0);
    }
    assert_eq!(d.ctl(&["stop", "web"]).code, 0);
    let asked = format!(
        " INFO stop web requested by uid {} (pid ",
        nix::unistd::getuid()
    );
    d.wait_for("the stop's requester in taskmasterd.log", WAIT, || {
        d.file_text("taskmasterd.log").contains(&asked)
    });
    let log = d.file_text("taskmasterd.log");
    assert!(
        !log.contains("client connected"),
        "every ctl call at INFO floods the log:\n{log}"
    );
}
