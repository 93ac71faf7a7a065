//! taskmasterctl-import on the supervisord configs of tests/supervisord/,
//! one per case people's real configs have: each is translated, checked
//! with `taskmasterd --check`, run, and compared with what supervisord
//! (from PyPI, see `oracle`) does with the same file: the process names it
//! shows, the argv, environment and output its programs get, the configs
//! it refuses.

use crate::harness::{bin_dir, testprog, Builder, Output, TestDaemon, WAIT};
use crate::oracle::{self, Supervisord, ORACLE_WAIT};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Copies the case `name` of tests/supervisord/ into `to`, with `@PROG@`
/// made the path of tm-testprog, and a `logs` directory beside it.
fn copy_case(name: &str, to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("supervisord")
        .join(name);
    copy_dir(&from, to);
    fs::create_dir_all(to.join("logs")).expect("logs directory");
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("case directory");
    for entry in fs::read_dir(from).expect("corpus directory").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            let text = fs::read_to_string(entry.path()).expect("corpus file");
            let text = text.replace("@PROG@", &testprog().display().to_string());
            fs::write(target, text).expect("copy of a corpus file");
        }
    }
}

/// Runs `taskmasterctl-import ARGS`.
fn import(args: &[&str]) -> Output {
    let output = Command::new(bin_dir().join("taskmasterctl-import"))
        .args(args)
        .output()
        .expect("cannot run taskmasterctl-import (cargo build first)");
    Output::from_std(output)
}

/// A case ready to compare: its copy for Taskmaster (the builder's
/// directory, the imported config replacing the builder's) and its copy
/// for supervisord (`oracle/`).
struct Case {
    builder: Builder,
    name: &'static str,
}

impl Case {
    fn new(name: &'static str) -> Case {
        let builder = Builder::new("");
        copy_case(name, builder.dir());
        copy_case(name, &builder.dir().join("oracle"));
        Case { builder, name }
    }

    fn dir(&self) -> PathBuf {
        self.builder.dir().to_path_buf()
    }

    fn source(&self) -> String {
        self.dir().join("supervisord.conf").display().to_string()
    }

    fn oracle_config(&self) -> PathBuf {
        self.dir().join("oracle/supervisord.conf")
    }

    /// Imports the case into the config taskmasterd will read, with the
    /// importer's extra `args`; its output.
    fn import(&self, args: &[&str]) -> Output {
        let config = self.dir().join("taskmaster.conf.toml");
        let config = config.display().to_string();
        let source = self.source();
        let mut all = vec![source.as_str()];
        if !args.contains(&"--recursive") {
            all.extend(["-o", &config]);
        }
        all.extend(args);
        let out = import(&all);
        assert_eq!(out.code, 0, "{}: import failed: {out:?}", self.name);
        out
    }

    /// The imported config's text.
    fn imported(&self) -> String {
        fs::read_to_string(self.dir().join("taskmaster.conf.toml")).expect("the imported config")
    }

    /// `taskmasterd --check` on the imported config, with `env`.
    fn check(&self, env: &[(&str, &str)]) -> Output {
        let config = self.dir().join("taskmaster.conf.toml");
        let output = Command::new(bin_dir().join("taskmasterd"))
            .arg("--check")
            .arg("-c")
            .arg(&config)
            .envs(env.iter().copied())
            .output()
            .expect("cannot run taskmasterd --check");
        Output::from_std(output)
    }

    /// Starts taskmasterd on the imported config (written by `import`).
    fn start(self, env: &[(&str, &str)]) -> TestDaemon {
        let text = self.imported();
        let mut builder = self.builder;
        for (key, value) in env {
            builder = builder.env(key, value);
        }
        builder.start_after(move |config| fs::write(config, text).expect("the config"))
    }

    fn supervisord(&self, env: &[(&str, &str)]) -> Supervisord {
        Supervisord::start(&self.oracle_config(), &self.dir(), env)
    }
}

/// The process names taskmasterctl's `status` shows, once none is
/// STARTING, sorted.
fn names(daemon: &TestDaemon) -> Vec<String> {
    daemon.wait_for("no process STARTING", WAIT, || {
        daemon.processes().iter().all(|p| p["state"] != "STARTING")
    });
    oracle::status_names(&daemon.ctl(&["status"]))
}

/// The text of `file` once it holds a line ending with `last`.
fn wait_text(file: &Path, last: &str) -> String {
    let deadline = std::time::Instant::now() + ORACLE_WAIT;
    loop {
        let text = fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(|line| line.ends_with(last)) {
            return text;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{} has no line ending with {last:?} within {ORACLE_WAIT:?}: {text:?}",
            file.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

/// The same program log under Taskmaster's copy and supervisord's.
fn same_output(case_dir: &Path, log: &str, last: &str) -> String {
    let ours = wait_text(&case_dir.join("logs").join(log), last);
    let theirs = wait_text(&case_dir.join("oracle/logs").join(log), last);
    assert_eq!(
        ours, theirs,
        "{log}: Taskmaster's program output differs from supervisord's"
    );
    ours
}

fn warnings(out: &Output) -> Vec<&str> {
    out.stderr
        .lines()
        .filter(|line| line.starts_with("taskmasterctl-import: warning: "))
        .collect()
}

#[test]
fn docker_output_on_the_daemons_stdout_as_supervisord() {
    let case = Case::new("docker-stdout");
    let out = case.import(&[]);
    assert_eq!(warnings(&out), Vec::<&str>::new());
    let check = case.check(&[]);
    assert_eq!(check.code, 0, "{check:?}");
    let dir = case.dir();
    let mut oracle = case.supervisord(&[]);
    let daemon = case.start(&[]);
    for line in ["web says hello", "worker complains"] {
        daemon.wait_for(line, WAIT, || {
            daemon
                .file_text("taskmasterd.out")
                .lines()
                .filter(|l| *l == line)
                .count()
                == 1
        });
        wait_text(&oracle.output, line);
    }
    assert_eq!(names(&daemon), oracle.names());
    // The activity log goes to stdout too, not to a file.
    assert!(!dir.join("supervisord.log").exists());
    daemon.wait_for("the activity log on stdout", WAIT, || {
        daemon.file_text("taskmasterd.out").contains("RUNNING")
    });
}

#[test]
fn hand_written_ini_reads_as_supervisord_reads_it() {
    let case = Case::new("ini-syntax");
    let out = case.import(&[]);
    let warned = warnings(&out);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].contains("supervisord.conf:21: [inet_http_server]"),
        "{warned:?}"
    );
    let toml = case.imported();
    assert!(
        toml.contains("logfile_maxbytes = \"1MB\"\nlogfile_backups = 3\n"),
        "{toml}"
    );
    let check = case.check(&[]);
    assert_eq!(check.code, 0, "{check:?}");
    let dir = case.dir();
    let mut oracle = case.supervisord(&[]);
    let daemon = case.start(&[]);
    assert_eq!(names(&daemon), oracle.names());
    let output = same_output(&dir, "web.out", "env:C=three");
    assert!(output.contains("env:A=one, two\nenv:B=2\n"), "{output}");
}

#[test]
fn includes_with_here_merge_as_in_supervisord() {
    let case = Case::new("include-here");
    let out = case.import(&[]);
    assert_eq!(warnings(&out), Vec::<&str>::new());
    assert_eq!(case.check(&[]).code, 0);
    let dir = case.dir();
    let mut oracle = case.supervisord(&[]);
    let daemon = case.start(&[]);
    assert_eq!(names(&daemon), ["api", "cron"]);
    assert_eq!(names(&daemon), oracle.names());
    let api = same_output(&dir, "api.out", "env:ROLE=second");
    assert!(!api.contains("first"), "the later file wins: {api}");
    same_output(&dir, "cron.out", "arg3=600");
}

#[test]
fn recursive_import_keeps_conf_d_an_include() {
    let case = Case::new("include-recursive");
    let out = case.import(&["--recursive"]);
    let dir = case.dir();
    assert_eq!(warnings(&out), Vec::<&str>::new());
    assert_eq!(
        out.lines(),
        [
            dir.join("taskmaster.conf.toml").display().to_string(),
            dir.join("conf.d/queue.toml").display().to_string(),
            dir.join("conf.d/web.toml").display().to_string(),
        ]
    );
    let main = case.imported();
    assert!(
        main.contains("[include]\nfiles = [\"conf.d/*.toml\"]\n"),
        "{main}"
    );
    assert!(!main.contains("[programs"), "{main}");
    let web = fs::read_to_string(dir.join("conf.d/web.toml")).unwrap();
    assert!(web.contains("[programs.web]\n"), "{web}");
    assert_eq!(case.check(&[]).code, 0);
    let mut oracle = case.supervisord(&[]);
    let daemon = case.start(&[]);
    assert_eq!(names(&daemon), oracle.names());
    same_output(&dir, "web.out", "arg3=600");
    // A file dropped into conf.d later, translated the same way, is read.
    fs::copy(dir.join("later/mail.conf"), dir.join("conf.d/mail.conf")).unwrap();
    let mail = dir.join("conf.d/mail.conf").display().to_string();
    let toml = dir.join("conf.d/mail.toml").display().to_string();
    assert_eq!(import(&[&mail, "-o", &toml]).code, 0);
    daemon.wait_listed("mail", "RUNNING", WAIT);
    wait_text(&dir.join("logs/mail.out"), "arg3=600");
}

#[test]
fn numprocs_from_the_environment_and_process_names_as_in_supervisord() {
    let case = Case::new("numprocs-process-name");
    let out = case.import(&[]);
    assert_eq!(warnings(&out), Vec::<&str>::new());
    let toml = case.imported();
    assert!(toml.contains("numprocs = \"${N}\"\n"), "{toml}");
    assert!(
        toml.contains("process_name = \"${program_name}_${process_num:02}\"\n"),
        "{toml}"
    );
    // Without N: the usual error, with its file, line and key.
    let check = case.check(&[]);
    assert_eq!(check.code, 2, "{check:?}");
    let config = case.dir().join("taskmaster.conf.toml");
    let said = check
        .stderr
        .strip_prefix(&format!("{}:", config.display()))
        .and_then(|rest| rest.split_once(": "))
        .map(|(line, rest)| (line.parse::<usize>().is_ok(), rest));
    assert!(
        said.is_some_and(|(numbered, rest)| numbered
            && rest.starts_with("programs.queue.numprocs: undefined variable 'N'")),
        "{check:?}"
    );
    assert_eq!(case.check(&[("N", "2")]).code, 0);
    let dir = case.dir();
    let mut oracle = case.supervisord(&[("N", "2")]);
    let daemon = case.start(&[("N", "2")]);
    assert_eq!(names(&daemon), ["queue:queue_08", "queue:queue_09", "solo"]);
    assert_eq!(names(&daemon), oracle.names());
    // The names work in commands, as operators' scripts use them.
    let stop = daemon.ctl(&["stop", "queue:queue_09"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    assert_eq!(daemon.state("queue:queue_09"), "STOPPED");
    assert_eq!(oracle.ctl(&["stop", "queue:queue_09"]).code, 0);
    same_output(&dir, "queue-08.out", "arg3=600");
}

#[test]
fn an_environment_variable_in_a_command_gives_several_arguments_as_in_supervisord() {
    let case = Case::new("command-env");
    let out = case.import(&[]);
    assert_eq!(warnings(&out), Vec::<&str>::new());
    let toml = case.imported();
    assert!(toml.contains("command_line = "), "{toml}");
    let env = [("FLAGS", "--print 'a b' --print c")];
    assert_eq!(case.check(&env).code, 0);
    let dir = case.dir();
    let _oracle = case.supervisord(&env);
    let _daemon = case.start(&env);
    let output = same_output(&dir, "artisan.out", "arg7=600");
    assert!(
        output.contains("arg3=a b\narg4=--print\narg5=c\n"),
        "{output}"
    );
}

#[test]
fn an_empty_include_is_a_warning_where_supervisord_refuses() {
    let case = Case::new("empty-include");
    let out = case.import(&[]);
    let warned = warnings(&out);
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].ends_with(":15: [include] names no files, which supervisord refuses; ignored"),
        "{warned:?}"
    );
    assert_eq!(case.check(&[]).code, 0);
    let refused = oracle::refused(&case.oracle_config(), &case.dir());
    assert_ne!(refused.code, 0);
    assert!(
        refused
            .stderr
            .contains("[include] section, but no files setting"),
        "{refused:?}"
    );
    let daemon = case.start(&[]);
    daemon.wait_state("web", "RUNNING", WAIT);
}

#[test]
fn the_fatal_listener_stops_taskmasterd_as_it_stops_supervisord() {
    let case = Case::new("fatal-listener");
    let out = case.import(&[]);
    assert_eq!(warnings(&out), Vec::<&str>::new());
    let toml = case.imported();
    assert!(toml.contains("shutdown_on_fatal = true\n"), "{toml}");
    assert_eq!(case.check(&[]).code, 0);
    // Both go down once `broken` is FATAL, maybe before answering.
    let mut oracle = Supervisord::spawn(&case.oracle_config(), &case.dir(), &[]);
    // supervisord, killed by its listener, says nothing of the failure.
    assert_eq!(oracle.wait_exit(ORACLE_WAIT), 0, "{}", oracle.text());
    let imported = case.imported();
    let mut daemon = case
        .builder
        .start_unready_after(move |config| fs::write(config, imported).unwrap());
    let code = daemon.wait_exit(WAIT * 3);
    assert_ne!(code, 0, "an orchestrator must see the failure");
}

#[test]
fn an_http_server_url_is_dropped_and_taskmasterctl_reaches_the_socket() {
    let case = Case::new("http-serverurl");
    let out = case.import(&[]);
    let warned = warnings(&out);
    assert_eq!(warned.len(), 2, "{warned:?}");
    assert!(warned[0].contains(":4: [inet_http_server]"), "{warned:?}");
    assert!(
        warned[1].contains(":16: [supervisorctl] serverurl"),
        "{warned:?}"
    );
    assert_eq!(case.check(&[]).code, 0);
    let daemon = case.start(&[]);
    let status = daemon.ctl(&["status", "web"]);
    assert!(status.code == 0 || status.code == 3, "{status:?}");
    // Written by hand, such a URL is an error --check reports.
    let config = daemon.dir().join("by-hand.toml");
    fs::write(
        &config,
        "[taskmasterctl]\nserverurl = \"http://127.0.0.1:9001\"\n",
    )
    .unwrap();
    let check = Command::new(bin_dir().join("taskmasterd"))
        .arg("--check")
        .arg("-c")
        .arg(&config)
        .output()
        .unwrap();
    let check = Output::from_std(check);
    assert_eq!(check.code, 2, "{check:?}");
    assert!(
        check.stderr.contains(
            "by-hand.toml:2: taskmasterctl.serverurl: unsupported server URL \
             'http://127.0.0.1:9001': use unix:///path/to/taskmaster.sock"
        ),
        "{check:?}"
    );
}
