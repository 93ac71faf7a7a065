//! Hot reload: the config is edited (in place, by rename, by a ConfigMap
//! symlink swap), signalled or asked to reload, and exactly the programs
//! that changed are restarted, added or stopped; the others keep their pids.
//! A bad edit changes nothing that runs and is shown until fixed.

use crate::edits::{self, Style};
use crate::harness::{alive, argv0, testprog, Builder, TestDaemon, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Three programs; `web` prints which version of its args it runs with.
const THREE: &str = r#"
[programs.web]
command = "@PROG@"
args = ["--print", "v1"]
startsecs = 0

[programs.db]
command = "@PROG@"
startsecs = 0

[programs.cache]
command = "@PROG@"
startsecs = 0
"#;

/// Starts a daemon on `body` with its config laid out for `style`, and
/// waits until every process of `running` is RUNNING.
fn start(body: &str, style: Style, running: &[&str]) -> TestDaemon {
    let d = Builder::new(body).start_after(|config| {
        if style == Style::Symlink {
            edits::configmap_layout(config);
        }
    });
    for name in running {
        d.wait_state(name, "RUNNING", WAIT);
    }
    d
}

/// The whole command line of `pid`, arguments joined by spaces.
fn cmdline(pid: i32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    raw.split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end()
        .to_string()
}

/// Asserts that each of `names` still has the pid it had in `before`, and
/// is RUNNING.
fn assert_untouched(d: &TestDaemon, before: &BTreeMap<String, i32>, names: &[&str]) {
    for name in names {
        let process = d.process(name);
        assert_eq!(
            (process["state"].as_str(), process["pid"].as_i64()),
            (Some("RUNNING"), before.get(*name).map(|&p| i64::from(p))),
            "'{name}' did not change: it must keep running with the same pid"
        );
    }
}

/// Asserts that the last reload was applied (a `reload` event with `ok`).
fn assert_applied(event: &Value) {
    assert_eq!(event["ok"], true, "the reload was refused: {event}");
}

/// Polls the activity log until it has a line containing `text`.
fn wait_log(d: &TestDaemon, text: &str) {
    d.wait_for(&format!("'{text}' in the activity log"), WAIT, || {
        d.file_text("taskmasterd.log").contains(text)
    });
}

/// The config errors `status` shows (none: an empty list).
fn config_errors(d: &TestDaemon) -> Vec<String> {
    let content = d.status_content();
    match content.get("config_errors") {
        None | Some(Value::Null) => Vec::new(),
        Some(errors) => errors
            .as_array()
            .unwrap_or_else(|| panic!("config_errors is not a list: {content}"))
            .iter()
            .map(|e| e.as_str().unwrap_or_default().to_string())
            .collect(),
    }
}

/// The 1-based line of the file's text holding `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} not in:\n{text}"))
}

// --- One changed program among three, in each save style ---

fn changing_args_restarts_only_that_program(style: Style) {
    let d = start(THREE, style, &["web", "db", "cache"]);
    let before = d.pids();
    let mut events = d.events();
    edits::replace(d.config_path(), style, "\"v1\"", "\"v2\"");
    assert_applied(&events.wait_reload(WAIT));
    let web = d.wait_new_pid("web", before["web"], WAIT);
    assert!(
        cmdline(web).ends_with("--print v2"),
        "web runs with the new args: {}",
        cmdline(web)
    );
    assert!(!alive(before["web"]), "the old web process is gone");
    d.wait_log_line("web.stdout", "v2");
    assert_untouched(&d, &before, &["db", "cache"]);
}

#[test]
fn an_in_place_write_restarts_only_the_changed_program() {
    changing_args_restarts_only_that_program(Style::InPlace);
}

#[test]
fn a_write_and_rename_restarts_only_the_changed_program() {
    changing_args_restarts_only_that_program(Style::Rename);
}

#[test]
fn a_configmap_symlink_swap_restarts_only_the_changed_program() {
    changing_args_restarts_only_that_program(Style::Symlink);
}

// --- Each kind of change ---

#[test]
fn a_new_program_starts_and_a_removed_one_is_stopped() {
    let d = start(THREE, Style::Rename, &["web", "db", "cache"]);
    let before = d.pids();
    let prog = testprog().display().to_string();
    let cache = format!("[programs.cache]\ncommand = \"{prog}\"\nstartsecs = 0\n");
    let text = edits::read(d.config_path());
    assert!(text.contains(&cache), "{text}");
    let new = text.replacen(&cache, "", 1)
        + &format!("\n[programs.added]\ncommand = \"{prog}\"\nstartsecs = 0\n");
    edits::save(d.config_path(), Style::Rename, &new);
    d.wait_listed("added", "RUNNING", WAIT);
    d.wait_absent("cache", WAIT);
    d.wait_for("the removed program's process to exit", WAIT, || {
        !alive(before["cache"])
    });
    assert_untouched(&d, &before, &["web", "db"]);
}

#[test]
fn changing_the_command_restarts_that_program() {
    let d = start(THREE, Style::InPlace, &["web", "db", "cache"]);
    let before = d.pids();
    let other = d.dir().join("other-prog");
    std::os::unix::fs::symlink(testprog(), &other).expect("symlink the test program");
    let db_block = format!("[programs.db]\ncommand = \"{}\"", testprog().display());
    edits::replace(
        d.config_path(),
        Style::InPlace,
        &db_block,
        &format!("[programs.db]\ncommand = \"{}\"", other.display()),
    );
    let db = d.wait_new_pid("db", before["db"], WAIT);
    assert!(
        argv0(db).ends_with("other-prog"),
        "db runs the new command: argv0 is {}",
        argv0(db)
    );
    assert_untouched(&d, &before, &["web", "cache"]);
}

#[test]
fn changing_env_restarts_with_the_new_value() {
    let body = r#"
[programs.web]
command = "@PROG@"
args = ["--print-env", "COLOR"]
startsecs = 0
env = { COLOR = "red" }

[programs.db]
command = "@PROG@"
startsecs = 0
"#;
    let d = start(body, Style::Rename, &["web", "db"]);
    d.wait_log_line("web.stdout", "env:COLOR=red");
    let before = d.pids();
    edits::replace(d.config_path(), Style::Rename, "\"red\"", "\"blue\"");
    d.wait_new_pid("web", before["web"], WAIT);
    d.wait_log_line("web.stdout", "env:COLOR=blue");
    assert_untouched(&d, &before, &["db"]);
}

#[test]
fn keys_that_need_no_restart_apply_in_place() {
    let body = r#"
[programs.web]
command = "@PROG@"
startsecs = 0
autorestart = false
startretries = 3
priority = 999

[programs.db]
command = "@PROG@"
startsecs = 0
"#;
    let d = start(body, Style::InPlace, &["web", "db"]);
    let before = d.pids();
    let mut events = d.events();
    let text = edits::read(d.config_path())
        .replacen("autorestart = false", "autorestart = true", 1)
        .replacen("startretries = 3", "startretries = 5", 1)
        .replacen("priority = 999", "priority = 10", 1);
    edits::save(d.config_path(), Style::InPlace, &text);
    assert_applied(&events.wait_reload(WAIT));
    wait_log(
        &d,
        "reload: web: changed (priority, startretries, autorestart)",
    );
    assert_untouched(&d, &before, &["web", "db"]);
    // The new autorestart is in force: a killed web comes back (it stayed
    // EXITED under the old `autorestart = false`).
    kill(Pid::from_raw(before["web"]), Signal::SIGKILL).expect("kill web");
    d.wait_new_pid("web", before["web"], WAIT);
    assert_untouched(&d, &before, &["db"]);
}

const WORKERS: &str = r#"
[programs.worker]
command = "@PROG@"
numprocs = 2
startsecs = 0

[programs.db]
command = "@PROG@"
startsecs = 0
"#;

#[test]
fn numprocs_up_starts_new_instances_and_keeps_the_first() {
    let d = start(WORKERS, Style::Rename, &["worker:0", "worker:1", "db"]);
    let before = d.pids();
    edits::replace(
        d.config_path(),
        Style::Rename,
        "numprocs = 2",
        "numprocs = 4",
    );
    d.wait_listed("worker:2", "RUNNING", WAIT);
    d.wait_listed("worker:3", "RUNNING", WAIT);
    assert_untouched(&d, &before, &["worker:0", "worker:1", "db"]);
}

#[test]
fn numprocs_down_stops_the_last_instances() {
    let body = WORKERS.replace("numprocs = 2", "numprocs = 4");
    let d = start(
        &body,
        Style::InPlace,
        &["worker:0", "worker:1", "worker:2", "worker:3"],
    );
    let before = d.pids();
    edits::replace(
        d.config_path(),
        Style::InPlace,
        "numprocs = 4",
        "numprocs = 2",
    );
    for name in ["worker:2", "worker:3"] {
        d.wait_absent(name, WAIT);
        d.wait_for(&format!("{name}'s process to exit"), WAIT, || {
            !alive(before[name])
        });
    }
    assert_untouched(&d, &before, &["worker:0", "worker:1", "db"]);
}

#[test]
fn a_group_change_touches_no_process() {
    let body = r#"
[programs.a]
command = "@PROG@"
startsecs = 0

[programs.b]
command = "@PROG@"
startsecs = 0

[groups.g]
programs = ["a"]
priority = 5
"#;
    let d = start(body, Style::Rename, &["a", "b"]);
    let before = d.pids();
    let mut events = d.events();
    let text = edits::read(d.config_path())
        .replacen("programs = [\"a\"]", "programs = [\"a\", \"b\"]", 1)
        .replacen("priority = 5", "priority = 7", 1);
    edits::save(d.config_path(), Style::Rename, &text);
    assert_applied(&events.wait_reload(WAIT));
    wait_log(&d, "reload: b: changed (group)");
    assert_untouched(&d, &before, &["a", "b"]);
    assert_eq!(d.process("b")["group"], "g", "b is now in group g");
}

// --- Bad edits ---

#[test]
fn an_invalid_edit_changes_nothing_until_fixed() {
    let d = start(THREE, Style::Rename, &["web", "db", "cache"]);
    let before = d.pids();
    let config = d.config_path().to_path_buf();
    let mut events = d.events();
    let bad = edits::read(&config)
        .replacen("\"v1\"", "\"v2\"", 1)
        .replacen("startsecs = 0", "startsecs = \"soon\"", 1);
    edits::save(&config, Style::Rename, &bad);
    let at = format!(
        "{}:{}: programs.web.startsecs",
        config.display(),
        line_of(&bad, "startsecs = \"soon\"")
    );
    let refused = events.wait_reload(WAIT);
    assert_eq!(refused["ok"], false, "a bad config is refused: {refused}");
    let errors = refused["errors"].to_string();
    assert!(errors.contains(&at), "the event names {at}: {refused}");
    let shown = config_errors(&d);
    assert!(
        shown.iter().any(|e| e.starts_with(&at)),
        "status shows the error as {at}...: {shown:?}"
    );
    assert_untouched(&d, &before, &["web", "db", "cache"]);
    let out = d.ctl(&["status"]);
    assert_eq!(out.code, 0, "taskmasterctl status still works: {out:?}");
    assert_eq!(
        out.lines().iter().filter(|l| l.contains("RUNNING")).count(),
        3,
        "{out:?}"
    );

    // The fix (which also keeps the args change) is applied as a whole.
    edits::save(
        &config,
        Style::Rename,
        &bad.replacen("startsecs = \"soon\"", "startsecs = 0", 1),
    );
    assert_applied(&events.wait_reload(WAIT));
    let web = d.wait_new_pid("web", before["web"], WAIT);
    assert!(cmdline(web).ends_with("--print v2"), "{}", cmdline(web));
    assert_eq!(config_errors(&d), Vec::<String>::new(), "the error is gone");
    assert_untouched(&d, &before, &["db", "cache"]);
}

#[test]
fn taskmasterctl_status_shows_config_errors_at_the_top() {
    let d = start(THREE, Style::InPlace, &["web", "db", "cache"]);
    let config = d.config_path().to_path_buf();
    let mut events = d.events();
    let bad = edits::read(&config).replacen("startsecs = 0", "startsecs = \"soon\"", 1);
    edits::save(&config, Style::InPlace, &bad);
    assert_eq!(events.wait_reload(WAIT)["ok"], false);
    let at = format!("{}:{}:", config.display(), line_of(&bad, "\"soon\""));
    let out = d.ctl(&["status"]);
    assert_eq!(out.code, 0, "every process still RUNNING: {out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    let error = text
        .find(&at)
        .unwrap_or_else(|| panic!("status shows the config error at {at}: {out:?}"));
    let first_process = text.find("RUNNING").unwrap_or(text.len());
    assert!(
        error < first_process,
        "the error comes before the processes: {out:?}"
    );
}

#[test]
fn a_deleted_config_changes_nothing_and_a_restored_one_applies() {
    let d = start(THREE, Style::InPlace, &["web", "db", "cache"]);
    let before = d.pids();
    let config = d.config_path().to_path_buf();
    let text = edits::read(&config);
    let mut events = d.events();
    std::fs::remove_file(&config).expect("delete the config");
    let refused = events.wait_reload(WAIT);
    assert_eq!(refused["ok"], false, "{refused}");
    let shown = config_errors(&d);
    assert!(
        shown
            .iter()
            .any(|e| e.contains(&config.display().to_string())),
        "status names the missing file: {shown:?}"
    );
    assert_untouched(&d, &before, &["web", "db", "cache"]);
    edits::save(
        &config,
        Style::InPlace,
        &text.replacen("\"v1\"", "\"v2\"", 1),
    );
    assert_applied(&events.wait_reload(WAIT));
    d.wait_new_pid("web", before["web"], WAIT);
    assert_eq!(config_errors(&d), Vec::<String>::new());
    assert_untouched(&d, &before, &["db", "cache"]);
}

#[test]
fn fifty_saves_in_one_second_converge_to_the_last() {
    let d = start(THREE, Style::InPlace, &["web", "db", "cache"]);
    let before = d.pids();
    let config = d.config_path().to_path_buf();
    let text = edits::read(&config);
    for i in 0..50 {
        let style = if i % 2 == 0 {
            Style::InPlace
        } else {
            Style::Rename
        };
        edits::save(
            &config,
            style,
            &text.replacen("\"v1\"", &format!("\"v{}\"", i + 2), 1),
        );
        // Pacing the saves over a second, as a script or a busy editor would.
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut web = 0;
    d.wait_for("web RUNNING with the last save's args", WAIT, || {
        let process = d.process("web");
        web = process["pid"].as_i64().unwrap_or(0) as i32;
        process["state"] == "RUNNING" && cmdline(web).ends_with("--print v51")
    });
    d.wait_log_line("web.stdout", "v51");
    assert_eq!(config_errors(&d), Vec::<String>::new());
    assert_untouched(&d, &before, &["db", "cache"]);
    assert!(d.try_request(json!({"command": "version"})).is_ok());
}

#[test]
fn a_config_emptied_by_a_save_in_progress_removes_nothing() {
    let d = start(THREE, Style::InPlace, &["web", "db", "cache"]);
    let before = d.pids();
    let config = d.config_path().to_path_buf();
    let text = edits::read(&config);
    // An editor writing in place truncates first: the watcher may read
    // the file in between.
    std::fs::File::create(&config).expect("truncate the config");
    d.wait_for("the empty config noticed", WAIT, || {
        d.file_text("taskmasterd.log")
            .contains("is empty: not applied (a save in progress?)")
    });
    assert_untouched(&d, &before, &["web", "db", "cache"]);
    assert_eq!(config_errors(&d), Vec::<String>::new());
    edits::save(&config, Style::InPlace, &text);
    d.wait_for("the rewritten config read", WAIT, || {
        d.file_text("taskmasterd.log")
            .contains(": the config file changed")
    });
    assert_untouched(&d, &before, &["web", "db", "cache"]);
}

// --- Reload without the watcher: SIGHUP, reread, reload ---

/// A second name (a hard link) for the config in a directory the daemon
/// does not watch: a save through it changes the config without the
/// watcher seeing it, so only SIGHUP or a request applies it.
fn quiet_link(config: &Path) -> PathBuf {
    let dir = config.parent().expect("config dir").join("quiet");
    std::fs::create_dir(&dir).expect("mkdir quiet");
    let link = dir.join("taskmaster.conf.toml");
    std::fs::hard_link(config, &link).expect("hard link the config");
    link
}

/// Starts a daemon on `body` with a quiet link to its config; the link.
fn start_quiet(body: &str, running: &[&str]) -> (TestDaemon, PathBuf) {
    let mut link = PathBuf::new();
    let d = Builder::new(body).start_after(|config| link = quiet_link(config));
    for name in running {
        d.wait_state(name, "RUNNING", WAIT);
    }
    (d, link)
}

#[test]
fn sighup_reloads_and_restarts_nothing_that_did_not_change() {
    let (d, quiet) = start_quiet(THREE, &["web", "db", "cache"]);
    let before = d.pids();
    let mut events = d.events();
    d.signal_daemon(Signal::SIGHUP);
    assert_applied(&events.wait_reload(WAIT));
    wait_log(&d, "taskmasterd received SIGHUP");
    assert_untouched(&d, &before, &["web", "db", "cache"]);

    let added = format!(
        "\n[programs.added]\ncommand = \"{}\"\nstartsecs = 0\n",
        testprog().display()
    );
    let text = edits::read(&quiet).replacen("\"v1\"", "\"v2\"", 1) + &added;
    edits::save(&quiet, Style::InPlace, &text);
    d.signal_daemon(Signal::SIGHUP);
    assert_applied(&events.wait_reload(WAIT));
    d.wait_listed("added", "RUNNING", WAIT);
    d.wait_new_pid("web", before["web"], WAIT);
    assert_untouched(&d, &before, &["db", "cache"]);
}

const PLAN_BEFORE: &str = r#"
[programs.cache]
command = "@PROG@"
startsecs = 0

[programs.old]
command = "@PROG@"
startsecs = 0

[programs.web]
command = "@PROG@"
args = ["--print", "v1"]
startsecs = 0
env = { COLOR = "red" }

[programs.worker]
command = "@PROG@"
numprocs = 2
startsecs = 0
"#;

/// PLAN_BEFORE with one program of each kind of change.
fn plan_after(config: &Path) -> String {
    let prog = testprog().display().to_string();
    let old = format!("[programs.old]\ncommand = \"{prog}\"\nstartsecs = 0\n");
    let text = edits::read(config);
    assert!(text.contains(&old), "{text}");
    text.replacen(&old, "", 1)
        .replacen("\"v1\"", "\"v2\"", 1)
        .replacen("\"red\"", "\"blue\"", 1)
        .replacen("numprocs = 2", "numprocs = 4", 1)
        + &format!("\n[programs.db]\ncommand = \"{prog}\"\nstartsecs = 0\n")
}

const PLAN: &str = "cache: unchanged\n\
                    db: added\n\
                    old: removed\n\
                    web: changed (args, env; restart)\n\
                    worker: changed (numprocs 2 -> 4)";

const EVERYONE: [&str; 5] = ["cache", "old", "web", "worker:0", "worker:1"];

#[test]
fn reread_shows_the_plan_and_reload_applies_it() {
    let (d, quiet) = start_quiet(PLAN_BEFORE, &EVERYONE);
    let before = d.pids();
    edits::save(&quiet, Style::InPlace, &plan_after(&quiet));

    let reply = d.request(json!({"command": "reread"}));
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(reply["content"]["plan"], PLAN, "{reply}");
    // reread changes nothing.
    assert!(
        !d.processes().iter().any(|p| p["name"] == "db"),
        "reread does not add db"
    );
    assert_untouched(&d, &before, &EVERYONE);

    let reply = d.request(json!({"command": "reload"}));
    assert_eq!(reply["status"], 200, "{reply}");
    assert_eq!(reply["content"]["plan"], PLAN, "{reply}");
    assert!(reply["content"]["results"].is_array(), "{reply}");
    // The reply comes once the restarted and new processes have settled.
    for name in ["db", "web", "worker:2", "worker:3"] {
        assert_eq!(d.state(name), "RUNNING", "{name} once reload answered");
    }
    assert_ne!(d.pid("web"), before["web"], "web restarted");
    assert!(
        !d.processes().iter().any(|p| p["name"] == "old"),
        "old is gone once reload answered"
    );
    assert!(!alive(before["old"]), "old's process was stopped");
    assert_untouched(&d, &before, &["cache", "worker:0", "worker:1"]);

    let reply = d.request(json!({"command": "reread"}));
    assert_eq!(
        reply["content"]["plan"],
        "cache: unchanged\ndb: unchanged\nweb: unchanged\nworker: unchanged",
        "{reply}"
    );
}

#[test]
fn a_reload_request_on_a_bad_config_is_refused_with_every_error() {
    let (d, quiet) = start_quiet(THREE, &["web", "db", "cache"]);
    let before = d.pids();
    let bad = edits::read(&quiet).replacen("startsecs = 0", "startsecs = \"soon\"", 1)
        + "\n[programs.broken]\nargs = [\"x\"]\n";
    edits::save(&quiet, Style::InPlace, &bad);
    let config = d.config_path().display().to_string();
    for command in ["reload", "update", "reread"] {
        let reply = d.request(json!({"command": command}));
        assert_eq!(reply["status"], 409, "{command}: {reply}");
        assert_eq!(
            reply["error"]["code"], "config_invalid",
            "{command}: {reply}"
        );
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        let startsecs = format!(
            "{config}:{}: programs.web.startsecs",
            line_of(&bad, "\"soon\"")
        );
        assert!(message.contains(&startsecs), "{command}: {message}");
        assert!(
            message.contains("programs.broken"),
            "{command}: every error: {message}"
        );
    }
    assert_untouched(&d, &before, &["web", "db", "cache"]);
}

#[test]
fn taskmasterctl_reread_prints_the_plan_and_reload_applies_it() {
    let (d, quiet) = start_quiet(PLAN_BEFORE, &EVERYONE);
    let before = d.pids();
    edits::save(&quiet, Style::InPlace, &plan_after(&quiet));
    let out = d.ctl(&["reread"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.lines(), PLAN.lines().collect::<Vec<_>>(), "{out:?}");
    assert_untouched(&d, &before, &EVERYONE);
    let out = d.ctl(&["reload"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(d.state("db"), "RUNNING", "{out:?}");
    assert_untouched(&d, &before, &["cache", "worker:0", "worker:1"]);
}

#[test]
fn update_adds_a_program_and_leaves_the_others_alone() {
    let (d, quiet) = start_quiet(THREE, &["web"]);
    let web = d.pid("web");
    let added = format!(
        "\n[programs.added]\ncommand = \"{}\"\nstartsecs = 0\n",
        testprog().display()
    );
    edits::save(&quiet, Style::InPlace, &(edits::read(&quiet) + &added));
    let out = d.ctl(&["update"]);
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_listed("added", "RUNNING", WAIT);
    assert_eq!(
        d.pid("web"),
        web,
        "web's config did not change: not restarted"
    );
}

#[test]
fn bad_config_on_update_changes_nothing_and_says_where() {
    let (d, quiet) = start_quiet(THREE, &["web"]);
    let web = d.pid("web");
    let bad =
        edits::read(&quiet).replacen("startsecs = 0", "startsecs = 0\nstopsignal = \"NOPE\"", 1);
    edits::save(&quiet, Style::InPlace, &bad);
    let out = d.ctl(&["update"]);
    assert_eq!(out.code, 1, "a refused reload fails: {out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    assert!(
        text.contains("programs.web.stopsignal"),
        "the error names the key: {out:?}"
    );
    assert_eq!(
        (d.state("web"), d.pid("web")),
        ("RUNNING".to_string(), web),
        "web untouched"
    );
}

// --- taskmasterd --check ---

#[test]
fn check_prints_ok_and_exits_0_for_a_good_config() {
    let builder = Builder::new(THREE);
    let out = builder.check();
    let config = builder.dir().join("taskmaster.conf.toml");
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        out.stdout.trim(),
        format!("{}: ok", config.display()),
        "{out:?}"
    );
    assert!(
        !builder.dir().join("t.sock").exists(),
        "--check starts nothing"
    );
}

#[test]
fn check_prints_every_error_and_exits_2() {
    let builder = Builder::new(
        r#"
[include]
files = ["conf.d/*.toml"]

[programs.web]
command = "@PROG@"
stopsignal = "NOPE"
"#,
    );
    std::fs::create_dir(builder.dir().join("conf.d")).expect("mkdir conf.d");
    let included = builder.dir().join("conf.d/extra.toml");
    std::fs::write(&included, "[programs.extra]\ncommand = \"x\"\nbogus = 1\n")
        .expect("write the include");
    let out = builder.check();
    let config = edits::read(&builder.dir().join("taskmaster.conf.toml"));
    let main = builder.dir().join("taskmaster.conf.toml");
    assert_eq!(out.code, 2, "{out:?}");
    let text = format!("{}{}", out.stdout, out.stderr);
    for expected in [
        format!(
            "{}:{}: programs.web.stopsignal",
            main.display(),
            line_of(&config, "\"NOPE\"")
        ),
        format!("{}:3: programs.extra.bogus", included.display()),
    ] {
        assert!(
            text.contains(&expected),
            "--check reports {expected}: {out:?}"
        );
    }
    assert!(!text.contains(": ok"), "{out:?}");
}
