//! What a program finds when it starts: its environment, working directory,
//! umask, arguments, and what happens when its command cannot be run.

use crate::harness::{bin_dir, set_mode, value_of, Builder, WAIT};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

#[test]
fn environment_layers_inherited_then_daemon_then_program() {
    let d = Builder::new(
        r#"
[taskmasterd.env]
GLOBAL = "global"
OVERRIDDEN = "global"

[programs.envp]
command = "@PROG@"
args = [
    "--print-env", "INHERITED", "--print-env", "GLOBAL", "--print-env", "OVERRIDDEN",
    "--print-env", "LOCAL", "--print-env", "FLAG", "--print-env", "NUMBER",
    "--print-env", "TASKMASTER_ENABLED", "--print-env", "TASKMASTER_PROCESS_NAME",
    "--print-env", "TASKMASTER_GROUP_NAME", "--print-env", "TASKMASTER_SERVER_URL",
    "--print", "done",
]
startsecs = 0

[programs.envp.env]
LOCAL = "local"
OVERRIDDEN = "program"
FLAG = true
NUMBER = 42
"#,
    )
    .env("INHERITED", "from taskmasterd")
    .env("OVERRIDDEN", "daemon")
    .start();
    let log = d.wait_log_line("envp.stdout", "done");
    let expected = [
        ("INHERITED", "from taskmasterd".to_string()),
        ("GLOBAL", "global".to_string()),
        ("OVERRIDDEN", "program".to_string()),
        ("LOCAL", "local".to_string()),
        ("FLAG", "true".to_string()),
        ("NUMBER", "42".to_string()),
        ("TASKMASTER_ENABLED", "1".to_string()),
        ("TASKMASTER_PROCESS_NAME", "envp".to_string()),
        ("TASKMASTER_GROUP_NAME", "envp".to_string()),
        (
            "TASKMASTER_SERVER_URL",
            format!("unix://{}", d.socket().display()),
        ),
    ];
    for (var, value) in expected {
        assert_eq!(
            value_of(&log, &format!("env:{var}")),
            Some(value.as_str()),
            "{var} in:\n{log}"
        );
    }
}

#[test]
fn directory_absolute_and_relative_to_the_config() {
    let builder = Builder::new(
        r#"
[programs.abs]
command = "@PROG@"
args = ["--print-cwd"]
directory = "@DIR@/work"
startsecs = 0

[programs.rel]
command = "@PROG@"
args = ["--print-cwd"]
directory = "work"
startsecs = 0
"#,
    );
    std::fs::create_dir(builder.dir().join("work")).expect("create work dir");
    let d = builder.start();
    let work = d.dir().join("work").display().to_string();
    for name in ["abs", "rel"] {
        let log = d.wait_log_line(&format!("{name}.stdout"), &format!("cwd={work}"));
        assert_eq!(log.lines().count(), 1, "{log}");
    }
}

#[test]
fn umask_from_the_program_or_else_from_taskmasterd() {
    let d = Builder::new(
        r#"
[programs.own]
command = "@PROG@"
args = ["--print-umask", "--create-file", "@DIR@/own.file", "--print", "done"]
umask = "077"
startsecs = 0

[programs.inherit]
command = "@PROG@"
args = ["--print-umask", "--create-file", "@DIR@/inherit.file", "--print", "done"]
startsecs = 0
"#,
    )
    .daemon("umask = 0o027")
    .start();
    for (name, umask, mode) in [("own", "077", 0o600), ("inherit", "027", 0o640)] {
        let log = d.wait_log_line(&format!("{name}.stdout"), "done");
        assert_eq!(value_of(&log, "umask"), Some(umask), "{name}: {log}");
        let meta = std::fs::metadata(d.dir().join(format!("{name}.file"))).expect("file created");
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}.file mode");
    }
}

#[test]
fn unrunnable_commands_fail_with_the_errno_and_others_keep_running() {
    let builder = Builder::new(
        r#"
[programs.good]
command = "@PROG@"
startsecs = 0

[programs.missing]
command = "/nonexistent/tm-nosuch"
startsecs = 0
startretries = 1

[programs.notexec]
command = "@DIR@/notexec"
startsecs = 0
startretries = 1
"#,
    );
    let notexec = builder.dir().join("notexec");
    std::fs::write(&notexec, "#!/bin/sh\n").expect("write notexec");
    set_mode(&notexec, 0o644);
    let d = builder.start();
    d.wait_state("good", "RUNNING", WAIT);
    let good = d.pid("good");

    for (name, errno) in [
        ("missing", "No such file or directory"),
        ("notexec", "Permission denied"),
    ] {
        // One retry after 1 s of backoff, then FATAL.
        let process = d.wait_state(name, "FATAL", Duration::from_secs(10));
        let spawn_error = process["spawn_error"].as_str().unwrap_or_default();
        assert!(
            spawn_error.contains(errno),
            "{name}: spawn_error names the errno: {process}"
        );
        let status = d.ctl(&["status", name]);
        let start = d.ctl(&["start", name]);
        assert_eq!(
            start.code, 1,
            "start of an unrunnable program fails: {start:?}"
        );
        let user_text = format!("{}{}{}", status.stdout, start.stdout, start.stderr);
        assert!(
            user_text.contains(errno),
            "{name}: status or start says '{errno}': {status:?} {start:?}"
        );
    }
    assert_eq!(
        (d.state("good"), d.pid("good")),
        ("RUNNING".to_string(), good),
        "good undisturbed"
    );
}

#[test]
fn relative_command_is_found_in_path_and_args_pass_verbatim() {
    let path = format!("{}:/usr/bin:/bin", bin_dir().display());
    let d = Builder::new(
        r#"
[programs.rel]
command = "tm-testprog"
args = ["--print", "two  spaces", "--print", "a=b \"quoted\" $HOME", "--print-args"]
startsecs = 0
"#,
    )
    .env("PATH", &path)
    .start();
    let log = d.wait_log_line("rel.stdout", "arg5=--print-args");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines[..2], ["two  spaces", "a=b \"quoted\" $HOME"], "{log}");
    assert_eq!(value_of(&log, "arg2"), Some("two  spaces"), "{log}");
}

/// taskmasterd holds three pipe ends for every program, and starts each
/// program from a child that leaves its descriptor table early: whatever
/// the order, a program finds only its three standard streams.
#[test]
fn a_program_finds_only_its_three_standard_streams_open() {
    let mut config = String::new();
    for i in 0..8 {
        config.push_str(&format!(
            "[programs.p{i}]\ncommand = \"@PROG@\"\nargs = [\"--print-fds\"]\nstartsecs = 0\n\n"
        ));
    }
    config.push_str(
        "[programs.late]\ncommand = \"@PROG@\"\nargs = [\"--print-fds\"]\nautostart = false\nstartsecs = 0\n",
    );
    let d = Builder::new(&config).start();
    for i in 0..8 {
        d.wait_log_line(&format!("p{i}.stdout"), "fds=0,1,2");
    }
    let started = d.ctl(&["start", "late"]);
    assert_eq!(started.code, 0, "{started:?}");
    d.wait_log_line("late.stdout", "fds=0,1,2");
}

/// A program starts with no signal ignored or blocked, even when
/// taskmasterd was started with some ignored: ignoring survives exec, so
/// each spawn gives those their default back. And such a taskmasterd still
/// works: it hears SIGHUP (ignored by `nohup`), and an ignored SIGCHLD,
/// which would have the kernel reap the programs behind its back, is
/// set back to the default, so `cat` is seen to exit.
#[test]
fn a_program_starts_with_every_signal_at_its_default_under_a_daemon_started_with_some_ignored() {
    let d = Builder::new(
        "[programs.cat]\ncommand = \"/bin/cat\"\nargs = [\"/proc/self/status\"]\n\
         startsecs = 0\nautorestart = false\n",
    )
    .ignoring_signals("SIGHUP SIGINT SIGQUIT SIGCHLD")
    .start();
    let exited = d.wait_state("cat", "EXITED", WAIT);
    assert_eq!(exited["exit"], "exit status 0", "{exited}");
    let status = d.log_text("cat.stdout");
    let mask = |field: &str| {
        let line = status.lines().find_map(|l| l.strip_prefix(field));
        let hex = line.unwrap_or_else(|| panic!("no {field} in {status}"));
        u64::from_str_radix(hex.trim(), 16).expect("a hexadecimal signal mask")
    };
    // Signals 1 to 31; glibc keeps 32 and 33 for itself and resets them in
    // every program it starts.
    assert_eq!(mask("SigIgn:") & 0x7fff_ffff, 0, "{status}");
    assert_eq!(mask("SigBlk:"), 0, "{status}");
    let pid = d.daemon_pid();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGHUP,
    )
    .expect("SIGHUP to taskmasterd");
    d.wait_for("a reload after SIGHUP", WAIT, || {
        d.file_text("taskmasterd.log").contains("reloading ")
    });
}
