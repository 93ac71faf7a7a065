//! Running as another user (root only): programs with their uid, gid and
//! supplementary groups, never root's; the broker as `[taskmasterd] user`.

use crate::harness::{
    argv0, children_of, is_root_or_skip, set_mode, test_user, testprog, value_of, Builder, WAIT,
};
use std::process::Command;

/// The groups `id -G tmtest` lists: what initgroups gives the program.
fn groups_of_test_user() -> Vec<u32> {
    let out = Command::new("id")
        .args(["-G", "tmtest"])
        .output()
        .expect("run id -G");
    let mut groups: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|g| g.parse().ok())
        .collect();
    groups.sort_unstable();
    groups
}

#[test]
fn program_runs_as_the_configured_user_with_its_groups() {
    if !is_root_or_skip("program_runs_as_the_configured_user_with_its_groups") {
        return;
    }
    let (uid, gid) = test_user();
    let builder = Builder::new(
        r#"
[programs.asuser]
command = "@DIR@/tm-testprog"
args = ["--print-ids", "--print", "done"]
user = "tmtest"
startsecs = 0
"#,
    );
    // A copy in the world-readable test directory, so that tmtest can run it
    // wherever the workspace lives.
    std::fs::copy(testprog(), builder.dir().join("tm-testprog")).expect("copy tm-testprog");
    let d = builder.start();
    d.wait_state("asuser", "RUNNING", WAIT);
    let log = d.wait_log_line("asuser.stdout", "done");
    for (key, want) in [("uid", uid), ("euid", uid), ("gid", gid), ("egid", gid)] {
        assert_eq!(
            value_of(&log, key),
            Some(want.to_string().as_str()),
            "{key}: {log}"
        );
    }
    let mut groups: Vec<u32> = value_of(&log, "groups")
        .unwrap_or_default()
        .split(',')
        .filter_map(|g| g.parse().ok())
        .collect();
    groups.sort_unstable();
    assert_eq!(
        groups,
        groups_of_test_user(),
        "supplementary groups are tmtest's (no root group): {log}"
    );
}

/// The uid a process runs as, from /proc.
fn uid_of(pid: i32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn broker_runs_as_the_taskmasterd_user_and_programs_as_theirs() {
    if !is_root_or_skip("broker_runs_as_the_taskmasterd_user_and_programs_as_theirs") {
        return;
    }
    let (uid, _) = test_user();
    let builder = Builder::new(
        r#"
[programs.asroot]
command = "@DIR@/tm-testprog"
args = ["--print-ids", "--print", "done"]
startsecs = 0
"#,
    )
    .daemon("user = \"tmtest\"");
    std::fs::copy(testprog(), builder.dir().join("tm-testprog")).expect("copy tm-testprog");
    // The broker writes the programs' logs: tmtest must be able to.
    set_mode(&builder.dir().join("logs"), 0o777);
    let d = builder.start();
    d.wait_state("asroot", "RUNNING", WAIT);
    let brokers: Vec<i32> = children_of(d.daemon_pid())
        .into_iter()
        .filter(|&pid| argv0(pid).ends_with("taskmaster-broker"))
        .collect();
    assert_eq!(brokers.len(), 1, "one broker: {brokers:?}");
    assert_eq!(uid_of(brokers[0]), Some(uid), "the broker runs as tmtest");
    let socket_owner = std::fs::metadata(d.socket())
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .expect("the socket exists");
    assert_eq!(socket_owner, uid, "the broker created the socket");
    // taskmasterd (root) still spawns: a program without `user` runs as root.
    let log = d.wait_log_line("asroot.stdout", "done");
    assert_eq!(value_of(&log, "uid"), Some("0"), "{log}");
}
