//! Access control from `SO_PEERCRED`: real users in real groups run
//! taskmasterctl against a socket anyone may open (chmod 0777), and the
//! roles of the config (`admins`, `viewers`, `operators`) decide.

use crate::harness::{bin_dir, is_root_or_skip, Builder, Output, TestDaemon, WAIT};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

/// Members of each role, each through a supplementary group so that
/// membership is read from the group database, not the primary gid.
const ADMIN: &str = "tmr-admin";
const VIEWER: &str = "tmr-view";
const OPERATOR: &str = "tmr-op";
const NOBODY: &str = "tmr-nobody";

const PROGRAMS: &str = r#"
[programs.web]
command = "@PROG@"
startsecs = 0
stopwaitsecs = 2
operators = ["@tmr-web"]

[programs.other]
command = "@PROG@"
startsecs = 0
stopwaitsecs = 2
"#;

const ROLES: &str = "chmod = 0o777\nadmins = [\"@tmr-admins\"]\nviewers = [\"@tmr-mon\"]";

/// Creates the groups and users once per test run (they stay, as tmtest does).
fn users() {
    static CREATED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    CREATED.get_or_init(|| {
        for group in ["tmr-admins", "tmr-mon", "tmr-web"] {
            if nix::unistd::Group::from_name(group)
                .ok()
                .flatten()
                .is_none()
            {
                let status = Command::new("groupadd")
                    .args(["-r", group])
                    .status()
                    .expect("cannot run groupadd");
                assert!(status.success(), "groupadd {group} failed: {status}");
            }
        }
        for (user, group) in [
            (ADMIN, "tmr-admins"),
            (VIEWER, "tmr-mon"),
            (OPERATOR, "tmr-web"),
            (NOBODY, ""),
        ] {
            if nix::unistd::User::from_name(user).ok().flatten().is_none() {
                let mut useradd = Command::new("useradd");
                useradd.args(["-r", "-M", "-s", "/usr/sbin/nologin"]);
                if !group.is_empty() {
                    useradd.args(["-G", group]);
                }
                let status = useradd.arg(user).status().expect("cannot run useradd");
                assert!(status.success(), "useradd {user} failed: {status}");
            }
        }
    });
}

fn uid_of(user: &str) -> u32 {
    nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("user {user} exists"))
        .uid
        .as_raw()
}

/// `taskmasterctl -s unix://SOCKET ARGS...` as `user`, with the groups the
/// group database gives it (setpriv --init-groups).
fn ctl_as(d: &TestDaemon, user: &str, args: &[&str]) -> Output {
    let account = nix::unistd::User::from_name(user)
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("user {user} exists"));
    let output = Command::new("setpriv")
        .arg(format!("--reuid={}", account.uid))
        .arg(format!("--regid={}", account.gid))
        .arg("--init-groups")
        .arg(bin_dir().join("taskmasterctl"))
        .arg("-s")
        .arg(format!("unix://{}", d.socket().display()))
        .args(args)
        .env_remove("TASKMASTER_CONFIG")
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("cannot run setpriv");
    Output {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        code: output
            .status
            .code()
            .unwrap_or_else(|| 128 + output.status.signal().unwrap_or(0)),
    }
}

/// A daemon with `web` and `other` running, and the roles of [`ROLES`]
/// (or `server`); `None` when the test cannot create users.
fn daemon(test: &str, server: &str) -> Option<TestDaemon> {
    if !is_root_or_skip(test) {
        return None;
    }
    users();
    let d = Builder::new(PROGRAMS).server(server).start();
    d.wait_state("web", "RUNNING", WAIT);
    d.wait_state("other", "RUNNING", WAIT);
    Some(d)
}

#[test]
fn a_viewer_reads_status_but_may_not_stop() {
    let Some(d) = daemon("a_viewer_reads_status_but_may_not_stop", ROLES) else {
        return;
    };
    let status = ctl_as(&d, VIEWER, &["status"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(
        status.lines().len(),
        2,
        "a viewer sees everything: {status:?}"
    );

    let stop = ctl_as(&d, VIEWER, &["stop", "web"]);
    assert_eq!(stop.code, 1, "{stop:?}");
    let refusal = format!(
        "error: uid {} ({VIEWER}) may not stop web: not in admins or web's operators",
        uid_of(VIEWER)
    );
    assert_eq!(stop.stderr.trim(), refusal, "{stop:?}");
    assert_eq!(d.state("web"), "RUNNING");
    let warning = format!(" WARN refused: {}", &refusal["error: ".len()..]);
    d.wait_for("the refusal in the activity log", WAIT, || {
        d.file_text("taskmasterd.log")
            .lines()
            .any(|line| line.ends_with(&warning))
    });

    let shutdown = ctl_as(&d, VIEWER, &["shutdown"]);
    assert_eq!(shutdown.code, 1, "{shutdown:?}");
    assert!(
        shutdown.stderr.contains("may not shutdown: not in admins"),
        "{shutdown:?}"
    );
}

#[test]
fn an_operator_restarts_its_program_but_not_another() {
    let Some(d) = daemon("an_operator_restarts_its_program_but_not_another", ROLES) else {
        return;
    };
    let web = d.pid("web");
    let restart = ctl_as(&d, OPERATOR, &["restart", "web"]);
    assert_eq!(restart.code, 0, "{restart:?}");
    d.wait_new_pid("web", web, WAIT);

    let other = d.pid("other");
    let refused = ctl_as(&d, OPERATOR, &["restart", "other"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("may not restart other: not in admins or other's operators"),
        "{refused:?}"
    );
    assert_eq!(d.pid("other"), other, "other was left alone");

    // An operator reads its own programs only: `status` lists web alone,
    // and naming another is refused.
    let status = ctl_as(&d, OPERATOR, &["status"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert_eq!(status.lines().len(), 1, "{status:?}");
    assert!(status.lines()[0].starts_with("web "), "{status:?}");
    let theirs = ctl_as(&d, OPERATOR, &["status", "other"]);
    assert_eq!(theirs.code, 1, "{theirs:?}");
    assert!(
        theirs
            .stderr
            .contains("may not status other: not in admins, viewers or other's operators"),
        "{theirs:?}"
    );
}

#[test]
fn stop_all_by_an_operator_stops_only_theirs_and_says_what_it_skipped() {
    let Some(d) = daemon("stop_all_by_an_operator_stops_only_theirs", ROLES) else {
        return;
    };
    let stop = ctl_as(&d, OPERATOR, &["stop", "all"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    assert_eq!(
        stop.lines(),
        [
            "web: stopped",
            "other: skipped (not in admins or other's operators)"
        ],
        "{stop:?}"
    );
    assert_eq!(d.state("web"), "STOPPED");
    assert_eq!(d.state("other"), "RUNNING");

    // Someone who may touch none of them is refused outright.
    let viewer = ctl_as(&d, VIEWER, &["stop", "all"]);
    assert_eq!(viewer.code, 1, "{viewer:?}");
    assert!(viewer.stderr.contains("may not stop"), "{viewer:?}");
}

#[test]
fn an_admin_group_member_may_do_everything() {
    let Some(d) = daemon("an_admin_group_member_may_do_everything", ROLES) else {
        return;
    };
    for args in [
        &["stop", "all"][..],
        &["start", "other"],
        &["restart", "web"],
        &["reread"],
        &["clear", "all"],
    ] {
        let out = ctl_as(&d, ADMIN, args);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
    }
    d.wait_state("other", "RUNNING", WAIT);
    d.wait_state("web", "RUNNING", WAIT);
    let nobody = ctl_as(&d, NOBODY, &["status"]);
    assert_eq!(nobody.code, 1, "no role, no status: {nobody:?}");
    assert!(
        nobody
            .stderr
            .contains(&format!("uid {} ({NOBODY}) may not status", uid_of(NOBODY))),
        "{nobody:?}"
    );
}

#[test]
fn root_always_may() {
    // admins = []: nobody is named, root still is one.
    let Some(d) = daemon("root_always_may", "chmod = 0o777\nadmins = []") else {
        return;
    };
    let out = d.ctl(&["stop", "all"]);
    assert_eq!(out.code, 0, "{out:?}");
    let out = d.ctl(&["start", "all"]);
    assert_eq!(out.code, 0, "{out:?}");
    let refused = ctl_as(&d, ADMIN, &["stop", "web"]);
    assert_eq!(refused.code, 1, "{refused:?}");
}

#[test]
fn without_admins_or_viewers_anyone_who_connects_is_an_admin() {
    let Some(d) = daemon(
        "without_admins_or_viewers_anyone_is_an_admin",
        "chmod = 0o777",
    ) else {
        return;
    };
    let out = ctl_as(&d, NOBODY, &["stop", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(d.state("web"), "STOPPED");
    let out = ctl_as(&d, NOBODY, &["shutdown"]);
    assert_eq!(out.code, 0, "{out:?}");
}
