//! Applying a changed config with `update`: new programs start, untouched
//! ones keep their pids, and a bad config changes nothing that runs.

use crate::harness::{TestDaemon, WAIT};

const BEFORE: &str = r#"
[programs.web]
command = "@PROG@"
startsecs = 0
"#;

/// Rewrites the config body while keeping the harness's own tables.
fn rewrite(d: &TestDaemon, old: &str, new: &str) {
    let path = d.dir().join("taskmaster.conf.toml");
    let text = std::fs::read_to_string(&path).expect("read the config");
    assert!(text.contains(old), "the config holds {old:?}");
    std::fs::write(&path, text.replace(old, new)).expect("write the config");
}

#[test]
fn update_adds_a_program_and_leaves_the_others_alone() {
    let d = TestDaemon::start(BEFORE);
    d.wait_state("web", "RUNNING", WAIT);
    let web = d.pid("web");
    let added = format!(
        "startsecs = 0\n\n[programs.added]\ncommand = \"{}\"\nstartsecs = 0\n",
        crate::harness::testprog().display()
    );
    rewrite(&d, "startsecs = 0", &added);
    let out = d.ctl(&["update"]);
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_state("added", "RUNNING", WAIT);
    assert_eq!(
        d.pid("web"),
        web,
        "web's config did not change: not restarted"
    );
}

#[test]
fn bad_config_on_update_changes_nothing_and_says_where() {
    let d = TestDaemon::start(BEFORE);
    d.wait_state("web", "RUNNING", WAIT);
    let web = d.pid("web");
    rewrite(&d, "startsecs = 0", "startsecs = 0\nstopsignal = \"NOPE\"");
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
