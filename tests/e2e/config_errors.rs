//! A bad config at start: taskmasterd exits 2 and says, for every problem at
//! once, the file, the line and the key.

use crate::harness::{Builder, Output};

/// The 1-based line of the config holding `needle`.
fn line_of(config: &str, needle: &str) -> usize {
    config
        .lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("'{needle}' not in the config:\n{config}"))
}

/// Runs taskmasterd on `body`; its output and the config text written.
fn refused(body: &str) -> (Output, String, String) {
    let builder = Builder::new(body);
    let path = builder.dir().join("taskmaster.conf.toml");
    let out = builder.start_expecting_failure();
    let config = std::fs::read_to_string(&path).expect("the config written");
    (out, config, path.display().to_string())
}

#[test]
fn every_error_is_reported_with_file_line_and_key() {
    let (out, config, path) = refused(
        r#"
[programs.nocommand]
args = ["x"]

[programs.badsignal]
command = "@PROG@"
stopsignal = "NOPE"

[programs.unknownkey]
command = "@PROG@"
bogus = 1

[programs.nouser]
command = "@PROG@"
user = "tm-no-such-user"

[programs.decimalumask]
command = "@PROG@"
umask = 22
"#,
    );
    assert_eq!(out.code, 2, "a bad config exits 2: {out:?}");
    for (needle, key) in [
        ("stopsignal = \"NOPE\"", "programs.badsignal.stopsignal"),
        ("bogus = 1", "programs.unknownkey.bogus"),
        ("user = \"tm-no-such-user\"", "programs.nouser.user"),
        ("umask = 22", "programs.decimalumask.umask"),
    ] {
        let at = format!("{path}:{}", line_of(&config, needle));
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("no error names {key}: {out:?}"));
        assert!(line.contains(&at), "the error for {key} names {at}: {line}");
    }
    assert!(
        out.stderr.contains("programs.nocommand"),
        "the missing command is reported: {out:?}"
    );
    assert!(out.stderr.contains("command"), "{out:?}");
    assert!(
        out.stderr.contains("0o022"),
        "a decimal umask suggests 0o022: {out:?}"
    );
}

#[test]
fn toml_syntax_error_names_the_line() {
    let (out, config, path) = refused(
        r#"
[programs.web]
command = "@PROG@"
startsecs = = 1
"#,
    );
    assert_eq!(out.code, 2, "{out:?}");
    let at = format!("{path}:{}", line_of(&config, "startsecs = = 1"));
    assert!(out.stderr.contains(&at), "the error names {at}: {out:?}");
}

#[test]
fn missing_config_file_is_named() {
    let builder = Builder::new("");
    let missing = builder.dir().join("nonexistent.toml");
    let out = builder.start_with_args(&["-n", "-c", &missing.display().to_string()]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains(&missing.display().to_string()),
        "{out:?}"
    );
}

/// Writes a config whose `[taskmasterd]` ends with `daemon_keys` (`{d}` is
/// the test directory) and checks that `--check` and a start both exit 2
/// with stderr holding every one of `expected`.
fn check_and_start_fail(daemon_keys: &str, expected: &[&str]) {
    let builder = Builder::new("");
    let config = builder.dir().join("own.toml");
    let d = builder.dir().display().to_string();
    std::fs::write(
        &config,
        format!(
            "[unix_http_server]\nfile = \"{d}/s.sock\"\n[taskmasterd]\nnodaemon = true\n\
             childlogdir = \"{d}/logs\"\n{}\n",
            daemon_keys.replace("{d}", &d)
        ),
    )
    .unwrap();
    for args in [&["--check", "-c"][..], &["-n", "-c"]] {
        let mut args = args.to_vec();
        let config = config.display().to_string();
        args.push(&config);
        let output = builder.start_with_args(&args);
        assert_eq!(output.code, 2, "{args:?}: {output:?}");
        assert!(
            expected.iter().all(|text| output.stderr.contains(text)),
            "{output:?}"
        );
    }
}

#[test]
fn a_pidfile_in_a_missing_directory_fails_start_and_check() {
    check_and_start_fail(
        "logfile = \"{d}/d.log\"\npidfile = \"{d}/nope/tm.pid\"",
        &["pidfile", "does not exist"],
    );
}

#[test]
fn a_log_under_dev_or_proc_in_no_directory_fails_start_and_check() {
    check_and_start_fail(
        "logfile = \"/proc/nope/taskmasterd.log\"",
        &["cannot open the log /proc/nope/taskmasterd.log: /proc/nope is no directory"],
    );
}
