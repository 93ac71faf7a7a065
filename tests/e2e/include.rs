//! `[include] files = [globs]`: a file appearing under a glob adds its
//! programs, one disappearing removes them, and an error in an included
//! file names that file; the other programs keep their pids throughout.

use crate::edits::{self, Style};
use crate::harness::{alive, Builder, TestDaemon, WAIT};
use std::fs;
use std::path::PathBuf;

const MAIN: &str = r#"
[include]
files = ["conf.d/*.toml"]

[programs.main]
command = "@PROG@"
startsecs = 0
"#;

/// A daemon whose conf.d/ holds `kept.toml` (program `kept`), with `main`
/// and `kept` RUNNING.
fn start() -> TestDaemon {
    let builder = Builder::new(MAIN);
    fs::create_dir(builder.dir().join("conf.d")).expect("mkdir conf.d");
    fs::write(
        builder.dir().join("conf.d/kept.toml"),
        program("kept", "k1"),
    )
    .expect("write conf.d/kept.toml");
    let d = builder.start();
    d.wait_state("main", "RUNNING", WAIT);
    d.wait_state("kept", "RUNNING", WAIT);
    d
}

/// A program table running the test program, printing `text`.
fn program(name: &str, text: &str) -> String {
    format!(
        "[programs.{name}]\ncommand = \"{}\"\nargs = [\"--print\", \"{text}\"]\nstartsecs = 0\n",
        crate::harness::testprog().display()
    )
}

fn include(d: &TestDaemon, name: &str) -> PathBuf {
    d.dir().join("conf.d").join(name)
}

#[test]
fn a_file_appearing_under_the_glob_adds_its_programs_and_leaving_removes_them() {
    let d = start();
    let before = d.pids();
    let extra = include(&d, "extra.toml");
    edits::save(&extra, Style::Rename, &program("extra", "e1"));
    d.wait_listed("extra", "RUNNING", WAIT);
    let extra_pid = d.pid("extra");
    assert_eq!(
        (d.pid("main"), d.pid("kept")),
        (before["main"], before["kept"])
    );

    fs::remove_file(&extra).expect("remove conf.d/extra.toml");
    d.wait_absent("extra", WAIT);
    d.wait_for("extra's process to exit", WAIT, || !alive(extra_pid));
    assert_eq!(
        (d.pid("main"), d.pid("kept")),
        (before["main"], before["kept"])
    );
}

#[test]
fn editing_an_included_file_restarts_only_its_program() {
    let d = start();
    let before = d.pids();
    edits::replace(
        &include(&d, "kept.toml"),
        Style::InPlace,
        "\"k1\"",
        "\"k2\"",
    );
    d.wait_new_pid("kept", before["kept"], WAIT);
    d.wait_log_line("kept.stdout", "k2");
    assert_eq!(d.pid("main"), before["main"], "main did not change");
}

#[test]
fn an_error_in_an_included_file_names_that_file_and_changes_nothing() {
    let d = start();
    let before = d.pids();
    let mut events = d.events();
    let bad = include(&d, "bad.toml");
    edits::save(
        &bad,
        Style::Rename,
        "[programs.bad]\ncommand = \"x\"\nbogus = 1\n",
    );
    let refused = events.wait_reload(WAIT);
    assert_eq!(refused["ok"], false, "{refused}");
    let at = format!("{}:3: programs.bad.bogus", bad.display());
    let errors = d.status_content()["config_errors"].to_string();
    assert!(errors.contains(&at), "status names {at}: {errors}");
    assert_eq!(
        (d.pid("main"), d.pid("kept")),
        (before["main"], before["kept"])
    );

    fs::remove_file(&bad).expect("remove conf.d/bad.toml");
    assert_eq!(events.wait_reload(WAIT)["ok"], true);
    assert!(
        d.status_content().get("config_errors").is_none(),
        "the error is gone: {}",
        d.status_content()
    );
    assert_eq!(
        (d.pid("main"), d.pid("kept")),
        (before["main"], before["kept"])
    );
}
