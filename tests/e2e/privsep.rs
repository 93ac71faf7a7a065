//! Privilege separation: a broker taken over by an attacker gets nothing
//! from taskmasterd but refusals (each logged at CRIT), and taskmasterd goes
//! on supervising; a process of the broker's user cannot take the broker's
//! channel.

use crate::harness::{argv0, children_of, is_root_or_skip, Builder, TestDaemon, WAIT};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

const WEB: &str = r#"
[programs.web]
command = "@PROG@"
args = ["--sleep", "60"]
startsecs = 0
autostart = false
"#;

/// Polls `path` until `done` holds for its text; the text.
fn wait_text(path: &Path, what: &str, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if done(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; {path:?} holds:\n{text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

#[test]
fn a_hostile_broker_gets_refusals_and_taskmasterd_keeps_supervising() {
    let builder = Builder::new(WEB);
    let out = builder.dir().join("fake.out");
    let d = builder
        .env("TASKMASTER_BROKER", env!("CARGO_BIN_EXE_tm-fakebroker"))
        .env("TM_FAKE_OUT", &out.display().to_string())
        .env("TM_FAKE_VICTIM", &std::process::id().to_string())
        .start_unready();
    let text = wait_text(&out, "the answers to both sound spawns", |t| {
        t.contains(r#""type":"spawned","id":100"#) && t.contains(r#""id":101"#)
    });
    let refusals: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(r#""type":"refused""#))
        .collect();
    let expected = [
        r#"spawn of \"evil\": the config defines no process 'evil'"#,
        "unknown field `command`",
        "signal 9 to pid 1: it is not a program taskmasterd started",
        &format!(
            "signal 9 to pid {}: it is not a program",
            std::process::id()
        ),
        "malformed",
        "closed 1 descriptors sent with a Ready packet",
        r#"spawn of \"web\": 'web' is running already"#,
        r#"probe of \"web (a Ready command probe)\": the config defines no process"#,
        "unknown field `argv`",
        "keep seq 18446744073709551615: above the highest seq",
    ];
    for what in expected {
        assert!(
            refusals.iter().any(|r| r.contains(what)),
            "a refusal mentioning {what:?} in:\n{text}"
        );
    }
    assert_eq!(refusals.len(), expected.len(), "{text}");
    assert!(
        text.contains(
            r#""type":"spawn_failed","id":1,"error":"the config defines no process 'evil'""#
        ),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.contains(r#""id":3"#) && l.contains("changed again")),
        "a spawn of another generation fails: {text}"
    );
    assert!(
        !Path::new("/tmp/tm-pwned").exists(),
        "the forged command never ran"
    );
    // What did start is the config's command, not the forged one, once.
    let webs: Vec<i32> = children_of(d.daemon_pid())
        .into_iter()
        .filter(|&pid| argv0(pid).ends_with("tm-testprog"))
        .collect();
    assert_eq!(webs.len(), 1, "one web: {webs:?}");
    let web = webs[0];
    let cmdline = std::fs::read_to_string(format!("/proc/{web}/cmdline")).unwrap();
    assert!(cmdline.contains("--sleep\u{0}60"), "{cmdline:?}");
    let log = std::fs::read_to_string(d.dir().join("taskmasterd.out")).unwrap();
    assert_eq!(
        log.matches("CRIT refused request").count(),
        expected.len(),
        "{log}"
    );
}

/// pidfd_getfd on the broker, from a process of the broker's own user:
/// refused because the broker is not dumpable.
const STEAL: &str = r#"
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(int(sys.argv[1]))
fd = libc.syscall(438, pidfd, int(sys.argv[2]), 0)
print("stolen" if fd >= 0 else "refused errno=%d" % ctypes.get_errno())
"#;

#[test]
fn the_brokers_user_cannot_take_its_channel() {
    if !is_root_or_skip("the_brokers_user_cannot_take_its_channel") {
        return;
    }
    let d = TestDaemon::start(WEB);
    let broker = children_of(d.daemon_pid())
        .into_iter()
        .find(|&pid| argv0(pid).ends_with("taskmaster-broker"))
        .expect("a broker");
    let uid = {
        let status = std::fs::read_to_string(format!("/proc/{broker}/status")).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with("Uid:"))
            .unwrap()
            .to_string();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u32>()
            .unwrap()
    };
    assert_ne!(uid, 0, "the broker is not root");
    let as_uid = |program: &[&str]| {
        let mut command = Command::new("setpriv");
        command
            .args([
                "--reuid",
                &uid.to_string(),
                "--regid",
                "65534",
                "--clear-groups",
            ])
            .args(program);
        command
    };
    let steal = |pid: i32, fd: &str| {
        let output = as_uid(&["/usr/bin/python3", "-c", STEAL, &pid.to_string(), fd])
            .output()
            .expect("setpriv and python3");
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    };
    // The control: the same uid takes a descriptor of an ordinary
    // (dumpable) process of its own, so the refusal below is the broker's.
    let mut control = as_uid(&["sleep", "30"])
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("a process as the broker's uid");
    let ordinary = steal(i32::try_from(control.id()).unwrap(), "0");
    let _ = control.kill();
    let _ = control.wait();
    assert!(
        ordinary.contains("stolen"),
        "the control must succeed: {ordinary}"
    );
    let said = steal(broker, "3");
    assert!(
        said.contains("refused errno=1"),
        "pidfd_getfd on the broker as uid {uid} must fail with EPERM: {said}"
    );
}

#[test]
fn a_log_directory_out_of_the_brokers_reach_fails_start_and_check_with_the_fix() {
    if !is_root_or_skip("a_log_directory_out_of_the_brokers_reach") {
        return;
    }
    let builder = Builder::new(&format!("{WEB}stdout = \"@DIR@/locked/web.out\"\n"));
    let locked = builder.dir().join("locked");
    std::fs::create_dir(&locked).unwrap();
    crate::harness::set_mode(&locked, 0o755);
    for output in [builder.check(), builder.start_expecting_failure()] {
        assert_eq!(output.code, 2, "{output:?}");
        assert!(
            output
                .stderr
                .contains(&format!("cannot write in {}", locked.display()))
                && output.stderr.contains("chown"),
            "{output:?}"
        );
    }
}

#[test]
fn a_config_file_others_can_write_is_refused_with_the_fix() {
    let builder = Builder::new(WEB);
    let output = {
        // Written by the harness at start: make it group-writable first.
        let config = builder.dir().join("taskmaster.conf.toml");
        let check = builder.check();
        assert_eq!(check.code, 0, "{check:?}");
        crate::harness::set_mode(&config, 0o664);
        builder.start_with_args(&["--check", "-c", &config.display().to_string()])
    };
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output.stderr.contains("refusing the config file")
            && output.stderr.contains("lets group or others write it")
            && output.stderr.contains("chmod go-w"),
        "{output:?}"
    );
}

#[test]
fn a_program_may_not_run_as_the_brokers_user() {
    if !is_root_or_skip("a_program_may_not_run_as_the_brokers_user") {
        return;
    }
    let (_, _) = crate::harness::test_user();
    let builder = Builder::new(&format!("{WEB}user = \"tmtest\"\n")).daemon("user = \"tmtest\"");
    let output = builder.start_expecting_failure();
    assert_eq!(output.code, 2, "{output:?}");
    assert!(
        output
            .stderr
            .contains("programs.web.user: 'tmtest' is the user taskmaster-broker runs as"),
        "{output:?}"
    );
}
