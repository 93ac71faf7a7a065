//! Variable expansion: `${VAR}` from taskmasterd's environment (with
//! `${VAR:-default}` and `$$`), and the per-process `${process_num}` in the
//! args, env and stdout path of a numprocs program, also across a reload.

use crate::edits::{self, Style};
use crate::harness::{Builder, WAIT};

#[test]
fn daemon_environment_variables_expand_with_defaults_and_escapes() {
    let d = Builder::new(
        r#"
[programs.web]
command = "@PROG@"
args = ["--print", "${TM_E2E_GREETING}", "--print", "${TM_E2E_UNSET:-fallback}", "--print", "$${TM_E2E_GREETING}"]
startsecs = 0
"#,
    )
    .env("TM_E2E_GREETING", "hello")
    .start();
    d.wait_state("web", "RUNNING", WAIT);
    let log = d.wait_log_line("web.stdout", "hello");
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines, ["hello", "fallback", "${TM_E2E_GREETING}"], "{log}");
}

#[test]
fn process_num_fills_args_env_and_stdout_of_each_instance() {
    let d = Builder::new(
        r#"
[programs.worker]
command = "@PROG@"
args = ["--print", "n=${process_num}", "--print-env", "SLOT"]
numprocs = 2
startsecs = 0
stdout = "@DIR@/logs/w-${process_num}.out"
env = { SLOT = "slot-${process_num}" }
"#,
    )
    .start();
    for n in 0..2 {
        d.wait_state(&format!("worker:{n}"), "RUNNING", WAIT);
        let log = d.wait_log_line(&format!("w-{n}.out"), &format!("n={n}"));
        assert!(log.contains(&format!("env:SLOT=slot-{n}")), "{log}");
    }
    let before = d.pids();
    edits::replace(
        d.config_path(),
        Style::Rename,
        "numprocs = 2",
        "numprocs = 3",
    );
    d.wait_listed("worker:2", "RUNNING", WAIT);
    let log = d.wait_log_line("w-2.out", "n=2");
    assert!(log.contains("env:SLOT=slot-2"), "{log}");
    for name in ["worker:0", "worker:1"] {
        assert_eq!(d.pid(name), before[name], "{name} untouched");
    }
}

#[test]
fn an_undefined_variable_in_an_edit_is_refused_naming_it() {
    let d = Builder::new(
        r#"
[programs.web]
command = "@PROG@"
startsecs = 0
"#,
    )
    .start();
    d.wait_state("web", "RUNNING", WAIT);
    let web = d.pid("web");
    let mut events = d.events();
    let config = d.config_path().to_path_buf();
    let bad = edits::read(&config).replacen(
        "startsecs = 0",
        "startsecs = 0\nargs = [\"${TM_E2E_UNDEFINED}\"]",
        1,
    );
    edits::save(&config, Style::InPlace, &bad);
    let refused = events.wait_reload(WAIT);
    assert_eq!(refused["ok"], false, "{refused}");
    let line = bad
        .lines()
        .position(|l| l.contains("TM_E2E_UNDEFINED"))
        .map(|i| i + 1)
        .expect("the edit is in the file");
    let at = format!("{}:{line}: programs.web.args", config.display());
    let errors = d.status_content()["config_errors"].to_string();
    assert!(
        errors.contains(&at) && errors.contains("TM_E2E_UNDEFINED"),
        "status names {at} and the variable: {errors}"
    );
    assert_eq!((d.state("web"), d.pid("web")), ("RUNNING".to_string(), web));
}
