//! Running programs as another user (root only): uid, gid and the user's
//! supplementary groups, never root's.

use crate::harness::{is_root_or_skip, test_user, testprog, value_of, Builder, WAIT};
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
