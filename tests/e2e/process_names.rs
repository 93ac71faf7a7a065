//! `process_name` templates as operators use them: the names in `status`,
//! in commands, in the environment, and what a reload that changes the
//! template does.

use crate::harness::{TestDaemon, WAIT};
use std::fs;

const PROGRAM: &str = "[programs.queue]\ncommand = \"@PROG@\"\n\
    args = [\"--print-env\", \"TASKMASTER_PROCESS_NAME\"]\nnumprocs = 2\nnumprocs_start = 1\n\
    stdout = \"@DIR@/logs/${process_num:02}.out\"\nstartsecs = 0\n";

fn names(daemon: &TestDaemon) -> Vec<String> {
    let mut names: Vec<String> = daemon
        .processes()
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    names
}

#[test]
fn a_template_names_the_processes_and_a_reload_renames_them() {
    let daemon = TestDaemon::start(&format!(
        "{PROGRAM}process_name = \"${{program_name}}_${{process_num:02}}\"\n"
    ));
    assert_eq!(names(&daemon), ["queue:queue_01", "queue:queue_02"]);
    daemon.wait_state("queue:queue_02", "RUNNING", WAIT);
    daemon.wait_log_line("02.out", "env:TASKMASTER_PROCESS_NAME=queue:queue_02");
    let stop = daemon.ctl(&["stop", "queue:queue_01"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    assert_eq!(daemon.state("queue:queue_01"), "STOPPED");
    assert_eq!(daemon.state("queue:queue_02"), "RUNNING");

    // Back to the default names: the old processes go, the new ones run.
    let text = fs::read_to_string(daemon.config_path()).unwrap();
    let text = text.replace("process_name = \"${program_name}_${process_num:02}\"\n", "");
    fs::write(daemon.config_path(), text).unwrap();
    let reload = daemon.ctl(&["reload"]);
    assert_eq!(reload.code, 0, "{reload:?}");
    daemon.wait_for("the default names", WAIT, || {
        names(&daemon) == ["queue:1", "queue:2"]
    });
    daemon.wait_state("queue:2", "RUNNING", WAIT);
}
