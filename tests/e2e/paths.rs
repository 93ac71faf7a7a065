//! No path is followed where an attacker can plant a link (issue 9): a
//! pidfile pre-planted as a symlink is replaced, not written through, and
//! a log path through a symlinked directory is refused with a reason in
//! `status` while the other programs keep logging.

use crate::harness::{Builder, WAIT};
use std::fs;
use std::os::unix::fs::symlink;

#[test]
fn a_pidfile_planted_as_a_symlink_is_replaced_not_followed() {
    let builder = Builder::new("");
    let victim = builder.dir().join("victim");
    fs::write(&victim, "do not touch\n").expect("cannot write the victim");
    let d = builder.start_after(|config| {
        let dir = config.parent().expect("the config's directory");
        symlink(dir.join("victim"), dir.join("taskmasterd.pid")).expect("cannot plant the link");
    });
    let pidfile = d.dir().join("taskmasterd.pid");
    let expected = format!("{}\n", d.daemon_pid());
    d.wait_for("the pidfile to hold taskmasterd's pid", WAIT, || {
        fs::read_to_string(&pidfile).is_ok_and(|text| text == expected)
    });
    let meta = fs::symlink_metadata(&pidfile).expect("the pidfile");
    assert!(
        meta.file_type().is_file(),
        "the pidfile is a regular file now: {meta:?}"
    );
    assert_eq!(
        fs::read_to_string(&victim).expect("the victim"),
        "do not touch\n"
    );
}

const THROUGH_A_LINK: &str = r#"
[programs.linked]
command = "@PROG@"
args = ["--print", "hello from linked"]
stdout = "@DIR@/d/sub/linked.log"
startsecs = 0

[programs.plain]
command = "@PROG@"
args = ["--print", "hello from plain"]
startsecs = 0
"#;

#[test]
fn a_log_path_through_a_symlinked_directory_is_refused_and_said_in_status() {
    let builder = Builder::new(THROUGH_A_LINK);
    let dir = builder.dir().to_path_buf();
    let elsewhere = dir.join("elsewhere");
    fs::create_dir(&elsewhere).expect("cannot create the link's target");
    // Writable by the broker, as an attacker's target would be: only the
    // link is in the way.
    crate::harness::set_mode(&elsewhere, 0o777);
    fs::create_dir(dir.join("d")).expect("cannot create d");
    symlink(&elsewhere, dir.join("d/sub")).expect("cannot plant the link");
    let d = builder.start();
    d.wait_state("linked", "RUNNING", WAIT);
    d.wait_state("plain", "RUNNING", WAIT);

    let mut line = String::new();
    d.wait_for("status to say why linked is not logged", WAIT, || {
        line = d.ctl(&["status", "linked"]).stdout;
        line.contains("not logged")
    });
    let component = dir.join("d/sub");
    assert!(
        line.contains("stdout not logged")
            && line.contains(&dir.join("d/sub/linked.log").display().to_string())
            && line.contains(&format!(
                "{} is a symbolic link: log paths may not go through symbolic links",
                component.display()
            )),
        "{line:?}"
    );
    assert!(line.contains("RUNNING"), "linked keeps running: {line:?}");
    assert_eq!(
        fs::read_dir(&elsewhere).expect("the link's target").count(),
        0,
        "nothing is created through the link"
    );

    // The other program is not disturbed.
    d.wait_log_line("plain.stdout", "hello from plain");
    let plain = d.ctl(&["status", "plain"]).stdout;
    assert!(
        plain.contains("RUNNING") && !plain.contains("not logged"),
        "{plain:?}"
    );
}
