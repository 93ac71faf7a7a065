//! `taskmasterctl web` as people use it: a real headless chromium (through
//! chromedriver) on the dashboard and the log page, plain HTTP for what
//! scripts and Prometheus do, and the socket's roles applied to the user
//! who runs the server.

use crate::harness::{bin_dir, is_root_or_skip, test_user, Builder, TestDaemon, WAIT};
use crate::webdriver::{http, Browser};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

const PROGRAMS: &str = r#"
[programs.web]
command = "@PROG@"
startsecs = 0
stopwaitsecs = 2

[programs.worker]
command = "@PROG@"
numprocs = 2
startsecs = 0
stopwaitsecs = 2
"#;

/// A running `taskmasterctl-web`; killed on drop.
struct WebServer {
    child: Child,
    /// `http://127.0.0.1:PORT`
    base: String,
    token: String,
}

impl WebServer {
    fn start(daemon: &TestDaemon) -> WebServer {
        WebServer::start_as(daemon, None)
    }

    /// Serves `daemon` on a free loopback port, as `user` (uid, gid) when
    /// given; reads the URL it prints.
    fn start_as(daemon: &TestDaemon, user: Option<(u32, u32)>) -> WebServer {
        let mut command = Command::new(bin_dir().join("taskmasterctl-web"));
        command
            .args(["--listen", "127.0.0.1:0", "-s"])
            .arg(format!("unix://{}", daemon.socket().display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some((uid, gid)) = user {
            // std drops root's supplementary groups when it sets the uid.
            command.uid(uid).gid(gid);
        }
        let mut child = command.spawn().expect("cannot start taskmasterctl-web");
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let line = lines
            .recv_timeout(WAIT)
            .expect("taskmasterctl-web printed no URL");
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"));
        let (base, token) = url
            .split_once("/?token=")
            .unwrap_or_else(|| panic!("no token in {url}"));
        WebServer {
            child,
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn login_url(&self) -> String {
        format!("{}/?token={}", self.base, self.token)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn state_of(name: &str) -> String {
    format!("tr[data-name=\"{name}\"] .state")
}

fn pid_of(name: &str) -> String {
    format!("tr[data-name=\"{name}\"] .pid")
}

/// Opens the dashboard with the token and waits for its live stream.
fn open_dashboard(browser: &Browser, web: &WebServer) {
    browser.go(&web.login_url());
    browser.wait_text("#live", WAIT, |t| t == "live");
}

#[test]
fn dashboard_shows_every_process_and_its_stop_button_stops_it() {
    let daemon = TestDaemon::start(PROGRAMS);
    for name in ["web", "worker:0", "worker:1"] {
        daemon.wait_state(name, "RUNNING", WAIT);
    }
    let web = WebServer::start(&daemon);
    let browser = Browser::start(daemon.dir());
    open_dashboard(&browser, &web);
    for name in ["web", "worker:0", "worker:1"] {
        assert_eq!(
            browser.text(&state_of(name)).as_deref(),
            Some("RUNNING"),
            "{name}"
        );
        let pid = daemon.pid(name).to_string();
        assert_eq!(browser.text(&pid_of(name)), Some(pid), "{name}");
    }
    // The cookie that holds the token is out of the page's scripts' reach.
    let cookies = browser.eval("return document.cookie;", json!([]));
    assert!(
        !cookies.to_string().contains("taskmaster_token"),
        "{cookies}"
    );

    browser.click("button[aria-label=\"stop web\"]");
    browser.wait_text(&state_of("web"), WAIT, |t| t == "STOPPED");
    assert_eq!(daemon.state("web"), "STOPPED");
    let status = daemon.ctl(&["status", "web"]);
    assert!(status.stdout.contains("STOPPED"), "{status:?}");
    browser.wait_text("#notice", WAIT, |t| t.contains("web: stopped"));

    // A group's buttons act on all of its processes.
    browser.click("button[aria-label=\"stop worker:*\"]");
    browser.wait_text(&state_of("worker:0"), WAIT, |t| t == "STOPPED");
    browser.wait_text(&state_of("worker:1"), WAIT, |t| t == "STOPPED");
}

#[test]
fn a_program_killed_from_outside_shows_its_new_pid_without_a_reload() {
    let daemon = TestDaemon::start(PROGRAMS);
    let old = daemon.wait_state("web", "RUNNING", WAIT)["pid"].to_string();
    let web = WebServer::start(&daemon);
    let browser = Browser::start(daemon.dir());
    open_dashboard(&browser, &web);
    browser.eval("window.sameDocument = true;", json!([]));

    let old_pid: i32 = old.parse().expect("a pid");
    kill(Pid::from_raw(old_pid), Signal::SIGKILL).expect("kill the program");
    let new = browser.wait_text(&pid_of("web"), WAIT, |t| !t.is_empty() && t != old);
    browser.wait_text(&state_of("web"), WAIT, |t| t == "RUNNING");
    assert_eq!(new, daemon.pid("web").to_string());
    let same = browser.eval("return window.sameDocument === true;", json!([]));
    assert_eq!(same, json!(true), "the page was reloaded");
}

#[test]
fn log_page_shows_a_line_printed_after_it_opened() {
    let daemon = TestDaemon::start(
        "[programs.echo]\ncommand = \"@PROG@\"\nargs = [\"--print\", \"first line\", \"--echo-stdin\"]\nstartsecs = 0\n",
    );
    daemon.wait_state("echo", "RUNNING", WAIT);
    daemon.wait_log_line("echo.stdout", "first line");
    let web = WebServer::start(&daemon);
    let browser = Browser::start(daemon.dir());
    browser.go(&web.login_url());
    browser.go(&web.url("/logs/echo"));
    browser.wait_text("#stdout", WAIT, |t| t.contains("first line"));
    browser.wait_text("#live", WAIT, |t| t == "live");

    let reply = daemon.request(
        json!({"command": "stdin", "name": "echo", "data": "printed after the page opened\n"}),
    );
    assert_eq!(reply["status"], 200, "{reply}");
    browser.wait_text("#stdout", WAIT, |t| {
        t.contains("printed after the page opened")
    });
    // Without JavaScript, the page holds the lines already written.
    let page = http(
        "GET",
        &web.url("/logs/echo"),
        &[("Authorization", &web.bearer())],
        "",
    );
    assert!(
        page.body.contains("printed after the page opened"),
        "{page:?}"
    );
}

#[test]
fn without_the_token_every_page_is_401_and_forms_need_the_csrf_token() {
    let daemon = TestDaemon::start(PROGRAMS);
    daemon.wait_state("web", "RUNNING", WAIT);
    let web = WebServer::start(&daemon);
    for path in ["/", "/events", "/metrics", "/logs/web", "/logs/web/stream"] {
        assert_eq!(http("GET", &web.url(path), &[], "").status, 401, "{path}");
    }
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(
        http("POST", &web.url("/action"), &form, "action=stop&name=web").status,
        401
    );
    assert_eq!(http("GET", &web.url("/?token=wrong"), &[], "").status, 401);
    let cookie_bad = [("Cookie", "taskmaster_token=wrong")];
    assert_eq!(http("GET", &web.url("/"), &cookie_bad, "").status, 401);

    // The token in the URL earns a cookie scripts cannot read nor other
    // sites send.
    let login = http("GET", &web.login_url(), &[], "");
    assert_eq!(login.status, 303, "{login:?}");
    let set_cookie = login.header("set-cookie").expect("a cookie");
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let page = http("GET", &web.url("/"), &[("Cookie", &cookie)], "");
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("aria-label=\"stop web\""),
        "readable without JavaScript"
    );
    let policy = page.header("content-security-policy").unwrap_or_default();
    assert!(
        policy.contains("default-src 'self'"),
        "no script from elsewhere: {policy}"
    );

    // A form posted with the cookie but not the page's CSRF token: refused.
    let forged = [("Cookie", cookie.as_str()), form[0]];
    let refused = http("POST", &web.url("/action"), &forged, "action=stop&name=web");
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.body.contains("CSRF"), "{refused:?}");
    assert_eq!(daemon.state("web"), "RUNNING");

    // A script with the bearer token needs no CSRF token.
    let bearer = web.bearer();
    let script = [
        ("Authorization", bearer.as_str()),
        form[0],
        ("Accept", "application/json"),
    ];
    let done = http("POST", &web.url("/action"), &script, "action=stop&name=web");
    assert_eq!(done.status, 200, "{done:?}");
    assert!(done.body.contains("web: stopped"), "{done:?}");
    assert_eq!(daemon.state("web"), "STOPPED");
}

#[test]
fn a_non_loopback_address_needs_a_token_file() {
    let output = Command::new(bin_dir().join("taskmasterctl-web"))
        .args(["--listen", "0.0.0.0:0", "-s", "unix:///nonexistent.sock"])
        .output()
        .expect("run taskmasterctl-web");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--token-file"), "{stderr}");
}

#[test]
fn a_viewer_sees_no_buttons_and_an_action_gets_the_daemons_403() {
    if !is_root_or_skip("a_viewer_sees_no_buttons_and_an_action_gets_the_daemons_403") {
        return;
    }
    let viewer = test_user();
    let daemon = Builder::new(PROGRAMS)
        .server("chmod = 0o777\nviewers = [\"tmtest\"]")
        .start();
    daemon.wait_state("web", "RUNNING", WAIT);
    let web = WebServer::start_as(&daemon, Some(viewer));
    let browser = Browser::start(daemon.dir());
    open_dashboard(&browser, &web);
    assert_eq!(browser.text(&state_of("web")).as_deref(), Some("RUNNING"));
    let buttons = browser.eval(
        "return document.querySelectorAll('button').length;",
        json!([]),
    );
    assert_eq!(buttons, json!(0), "a viewer's page offers no button");

    let bearer = web.bearer();
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Accept", "application/json"),
    ];
    let refused = http(
        "POST",
        &web.url("/action"),
        &headers,
        "action=stop&name=web",
    );
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(refused.body.contains("may not stop web"), "{refused:?}");
    assert_eq!(daemon.state("web"), "RUNNING");
}

/// The value of the sample `series` (name and labels, as printed) in an
/// exposition text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_agree_with_status_and_pass_promtool() {
    let daemon = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
args = ["--print", "hello"]
startsecs = 0

[programs.crasher]
command = "@PROG@"
args = ["--sleep", "0.3", "--exit", "3"]
startsecs = 0
autostart = false
autorestart = true

[programs.done]
command = "@PROG@"
args = ["--sleep", "0", "--exit", "3"]
startsecs = 0
autorestart = false
"#,
    );
    daemon.wait_state("web", "RUNNING", WAIT);
    daemon.wait_state("done", "EXITED", WAIT);
    daemon.wait_log_line("web.stdout", "hello");
    let web = WebServer::start(&daemon);
    let bearer = web.bearer();
    let scrape = || {
        let reply = http(
            "GET",
            &web.url("/metrics"),
            &[("Authorization", &bearer)],
            "",
        );
        assert_eq!(reply.status, 200, "{reply:?}");
        assert!(reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")));
        reply.body
    };
    // The exporter sees the restarts that happen while it runs.
    assert_eq!(daemon.ctl(&["start", "crasher"]).code, 0);
    let mut text = String::new();
    daemon.wait_for("a restart of crasher counted", WAIT, || {
        text = scrape();
        sample(&text, "taskmaster_process_restarts_total{name=\"crasher\"}")
            .is_some_and(|n| n >= 1.0)
    });
    assert_eq!(sample(&text, "taskmaster_up"), Some(1.0));
    assert_eq!(sample(&text, "taskmaster_config_errors"), Some(0.0));
    assert_eq!(
        sample(&text, "taskmaster_process_exit_status{name=\"done\"}"),
        Some(3.0)
    );
    let status = daemon.process("web");
    assert_eq!(status["state"], "RUNNING");
    let running = "taskmaster_process_state{name=\"web\",group=\"web\",state=\"RUNNING\"}";
    assert_eq!(sample(&text, running), Some(1.0), "{text}");
    let stopped = "taskmaster_process_state{name=\"web\",group=\"web\",state=\"STOPPED\"}";
    assert_eq!(sample(&text, stopped), Some(0.0), "{text}");
    let started =
        sample(&text, "taskmaster_process_start_time_seconds{name=\"web\"}").expect("a start time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let uptime = status["uptime_secs"].as_f64().unwrap();
    assert!(
        (now - uptime - started).abs() <= 2.0,
        "started {started}, now {now}, uptime {uptime}"
    );
    let rss = sample(
        &text,
        "taskmaster_process_resident_memory_bytes{name=\"web\"}",
    )
    .expect("rss");
    assert!(rss > 0.0, "{text}");
    assert!(sample(&text, "taskmaster_process_cpu_seconds_total{name=\"web\"}").is_some());
    // Log bytes: what status says, which is what the file holds.
    let written = status["output"][0]["written_bytes"]
        .as_f64()
        .expect("stdout counted");
    assert_eq!(written, 6.0, "{status}");
    let series = "taskmaster_log_bytes_total{name=\"web\",stream=\"stdout\"}";
    assert_eq!(sample(&text, series), Some(written), "{text}");
    let dropped = "taskmaster_log_dropped_bytes_total{name=\"web\",stream=\"stdout\"}";
    assert_eq!(sample(&text, dropped), Some(0.0), "{text}");

    let promtool = std::path::Path::new("/usr/bin/promtool");
    assert!(
        promtool.exists(),
        "promtool is missing: install Debian's prometheus (.ci/run does)"
    );
    let mut check = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let verdict = check.wait_with_output().expect("promtool's verdict");
    assert!(
        verdict.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&verdict.stdout),
        String::from_utf8_lossy(&verdict.stderr)
    );
}

#[test]
fn a_refused_reload_shows_its_error_on_the_open_page() {
    use crate::edits::{self, Style};
    let daemon = TestDaemon::start(PROGRAMS);
    daemon.wait_state("web", "RUNNING", WAIT);
    let web = WebServer::start(&daemon);
    let browser = Browser::start(daemon.dir());
    open_dashboard(&browser, &web);
    assert_eq!(browser.text("#problems .config-error"), None);

    let text = edits::read(daemon.config_path()) + "\n[programs.typo]\ncomand = \"x\"\n";
    edits::save(daemon.config_path(), Style::Rename, &text);
    let shown = browser.wait_text("#problems .config-error", WAIT, |t| {
        t.contains("programs.typo")
    });
    assert!(
        shown.contains("taskmaster.conf.toml"),
        "names the file: {shown}"
    );
    // The programs in force run on.
    assert_eq!(browser.text(&state_of("web")).as_deref(), Some("RUNNING"));
}

#[test]
fn the_page_comes_back_live_after_taskmasterd_restarts() {
    let mut daemon = TestDaemon::start(PROGRAMS);
    let old = daemon.wait_state("web", "RUNNING", WAIT)["pid"].to_string();
    let web = WebServer::start(&daemon);
    let browser = Browser::start(daemon.dir());
    open_dashboard(&browser, &web);
    daemon.kill_and_restart();
    let new = daemon.wait_state("web", "RUNNING", WAIT)["pid"].to_string();
    assert_ne!(new, old);
    browser.wait_text(&pid_of("web"), WAIT, |t| t == new);
    browser.wait_text("#live", WAIT, |t| t == "live");
}
