//! `taskmasterctl top` in a real terminal: tmux runs it in an 80x24 pane,
//! the test types keys (`send-keys`) and reads the screen (`capture-pane`).

use crate::harness::{bin_dir, TestDaemon, WAIT};
use std::process::{Command, Output};
use std::time::Instant;

/// A tmux server of our own (`-L`), with one session running `top`.
struct Tmux {
    server: String,
}

impl Tmux {
    fn start(daemon: &TestDaemon) -> Tmux {
        assert!(
            Command::new("tmux").arg("-V").output().is_ok(),
            "tmux is missing: install it (.ci/run does)"
        );
        let tmux = Tmux {
            server: format!("tm-e2e-top-{}", std::process::id()),
        };
        let top = format!(
            "env TASKMASTER_SERVER_URL=unix://{} {}",
            daemon.socket().display(),
            bin_dir().join("taskmasterctl-top").display()
        );
        let started = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "80",
            "-y",
            "24",
            &top,
        ]);
        assert!(started.status.success(), "tmux: {started:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.server])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "top"]).stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let sent = self.run(&[&["send-keys", "-t", "top"], keys].concat());
        assert!(sent.status.success(), "send-keys: {sent:?}");
    }

    /// Waits until the screen satisfies `wanted`; panics with it otherwise.
    fn wait_screen(&self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if wanted(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "never saw {what}; the screen:\n{screen}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn running(&self) -> bool {
        self.run(&["has-session", "-t", "top"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn line_of<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.starts_with(&format!("{name} ")))
}

#[test]
fn top_shows_the_processes_stops_one_with_a_key_and_quits() {
    let daemon = TestDaemon::start(
        "[programs.web]\ncommand = \"@PROG@\"\nstartsecs = 0\nstopwaitsecs = 2\n\n\
         [programs.db]\ncommand = \"@PROG@\"\nargs = [\"--print\", \"db says hello\"]\n\
         startsecs = 0\nstopwaitsecs = 2\n",
    );
    let pid = daemon.wait_state("web", "RUNNING", WAIT)["pid"].to_string();
    daemon.wait_state("db", "RUNNING", WAIT);
    let tmux = Tmux::start(&daemon);
    let screen = tmux.wait_screen("both processes running", |s| {
        line_of(s, "web").is_some_and(|l| l.contains("RUNNING") && l.contains(&pid))
            && line_of(s, "db").is_some_and(|l| l.contains("RUNNING"))
    });
    assert!(
        screen.starts_with("taskmaster top  2 processes, 2 running"),
        "{screen}"
    );
    // The /proc sample fills in memory within a second or two.
    tmux.wait_screen("web's memory", |s| {
        line_of(s, "web").is_some_and(|l| {
            l.split_whitespace()
                .any(|w| w.ends_with('K') || w.ends_with('M'))
        })
    });

    // Select web by filtering, then stop it with a key.
    tmux.keys(&["/", "web", "Enter"]);
    tmux.wait_screen("the filter", |s| {
        line_of(s, "db").is_none() && line_of(s, "web").is_some()
    });
    tmux.keys(&["t"]);
    tmux.wait_screen("web stopped", |s| {
        line_of(s, "web").is_some_and(|l| l.contains("STOPPED"))
    });
    assert_eq!(daemon.state("web"), "STOPPED");
    assert_eq!(daemon.state("db"), "RUNNING");

    // It follows the terminal's size.
    let resized = tmux.run(&["resize-window", "-t", "top", "-x", "100", "-y", "30"]);
    assert!(resized.status.success(), "{resized:?}");
    tmux.wait_screen("the answer to the stop on the 30th line", |s| {
        s.lines()
            .nth(29)
            .is_some_and(|l| l.contains("web: stopped"))
    });

    // Back to every process; db is above web: follow its log.
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the filter cleared", |s| line_of(s, "db").is_some());
    tmux.keys(&["Up", "l"]);
    tmux.wait_screen("db's log", |s| {
        s.contains("db stdout") && s.contains("db says hello")
    });

    tmux.keys(&["q"]);
    let deadline = Instant::now() + WAIT;
    while tmux.running() {
        assert!(
            Instant::now() < deadline,
            "top did not quit on q:\n{}",
            tmux.screen()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
