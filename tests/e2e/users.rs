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
    assert_holds_nothing(brokers[0]);
    let socket_owner = std::fs::metadata(d.socket())
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .expect("the socket exists");
    assert_eq!(
        socket_owner, 0,
        "taskmasterd binds the socket, the broker serves it"
    );
    // taskmasterd (root) still spawns: a program without `user` runs as root.
    let log = d.wait_log_line("asroot.stdout", "done");
    assert_eq!(value_of(&log, "uid"), Some("0"), "{log}");
}

/// The broker's /proc status: no capability in any set, no_new_privs, its
/// own session, not dumpable (its /proc files then belong to root).
fn assert_holds_nothing(broker: i32) {
    let status = std::fs::read_to_string(format!("/proc/{broker}/status")).expect("broker status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            .to_string()
    };
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(
            field(set),
            "0000000000000000",
            "{set} of the broker: {status}"
        );
    }
    assert_eq!(field("NoNewPrivs"), "1", "{status}");
    let stat = std::fs::read_to_string(format!("/proc/{broker}/stat")).expect("broker stat");
    let after_name = stat.rsplit_once(')').expect("stat has a name").1;
    let session: i32 = after_name
        .split_whitespace()
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(session, broker, "the broker leads its own session: {stat}");
    let owner = std::fs::metadata(format!("/proc/{broker}/environ"))
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .expect("broker environ");
    assert_eq!(owner, 0, "a non-dumpable process's /proc files are root's");
}

#[test]
fn without_a_user_the_broker_is_never_root_and_says_which_user_it_fell_back_to() {
    if !is_root_or_skip("without_a_user_the_broker_is_never_root") {
        return;
    }
    let d = Builder::new(
        "[programs.web]\ncommand = \"@PROG@\"\nargs = [\"--sleep\", \"60\"]\nstartsecs = 0\n",
    )
    .start();
    d.wait_state("web", "RUNNING", WAIT);
    let brokers: Vec<i32> = children_of(d.daemon_pid())
        .into_iter()
        .filter(|&pid| argv0(pid).ends_with("taskmaster-broker"))
        .collect();
    assert_eq!(brokers.len(), 1, "one broker: {brokers:?}");
    let expected = nix::unistd::User::from_name("taskmaster")
        .ok()
        .flatten()
        .or_else(|| nix::unistd::User::from_name("nobody").ok().flatten())
        .expect("a taskmaster or nobody user");
    assert_eq!(uid_of(brokers[0]), Some(expected.uid.as_raw()));
    assert_holds_nothing(brokers[0]);
    if expected.name == "nobody" {
        let status = d.ctl(&["status"]);
        assert!(
            status.stderr.contains("runs as 'nobody'") && status.stderr.contains("useradd"),
            "status warns about the fallback user: {status:?}"
        );
    }
}

#[test]
fn a_program_with_a_user_gets_its_home_user_and_logname() {
    if !is_root_or_skip("a_program_with_a_user_gets_its_home_user_and_logname") {
        return;
    }
    test_user();
    let home = nix::unistd::User::from_name("tmtest")
        .ok()
        .flatten()
        .expect("tmtest exists")
        .dir;
    let builder = Builder::new(
        r#"
[programs.asuser]
command = "@DIR@/tm-testprog"
args = ["--print-env", "HOME", "--print-env", "USER", "--print-env", "LOGNAME", "--print", "done"]
user = "tmtest"
startsecs = 0

[programs.ownhome]
command = "@DIR@/tm-testprog"
args = ["--print-env", "HOME", "--print-env", "USER", "--print", "done"]
user = "tmtest"
startsecs = 0

[programs.ownhome.env]
HOME = "/srv/ownhome"
"#,
    );
    std::fs::copy(testprog(), builder.dir().join("tm-testprog")).expect("copy tm-testprog");
    let d = builder.start();
    d.wait_state("asuser", "RUNNING", WAIT);
    let log = d.wait_log_line("asuser.stdout", "done");
    let want_home = format!("env:HOME={}", home.display());
    for want in [want_home.as_str(), "env:USER=tmtest", "env:LOGNAME=tmtest"] {
        assert!(log.lines().any(|l| l == want), "{want}, as su gives: {log}");
    }
    d.wait_state("ownhome", "RUNNING", WAIT);
    let log = d.wait_log_line("ownhome.stdout", "done");
    for want in ["env:HOME=/srv/ownhome", "env:USER=tmtest"] {
        assert!(
            log.lines().any(|l| l == want),
            "{want}: the program's env wins: {log}"
        );
    }
}
