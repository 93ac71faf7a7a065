//! Programs' output on its way to the log files, checked in the files
//! themselves: nothing lost or repeated when the broker is killed, size
//! rotation, `redirect_stderr`, per-line timestamps, `SIGUSR2` reopening,
//! a log directory that goes away, many programs at once, a huge line and
//! binary output. (Output kept across a program restart is in `logs`.)

use crate::harness::{argv0, children_of, set_mode, TestDaemon, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// The taskmaster-broker child of taskmasterd, if one runs.
fn broker_of(d: &TestDaemon) -> Option<i32> {
    children_of(d.daemon_pid())
        .into_iter()
        .find(|&pid| argv0(pid).ends_with("taskmaster-broker"))
}

/// A file of the test directory as bytes; empty when absent (the
/// harness's text helpers read nothing from a file that is not UTF-8).
fn bytes_of(d: &TestDaemon, relative: &str) -> Vec<u8> {
    fs::read(d.dir().join(relative)).unwrap_or_default()
}

/// Checks that the complete lines of `text` (a last line without its
/// newline is still being written) are `line 1 of TOTAL`, `line 2 of
/// TOTAL`... each exactly once and in order; how many there are.
fn numbered_lines(text: &str, total: u64) -> Result<u64, String> {
    let complete = text.rfind('\n').map_or("", |end| &text[..=end]);
    numbered_from(complete, 1, total)
}

/// As [`numbered_lines`] for `text` that must start at line `first` and
/// hold only complete lines; the number of its last line.
fn numbered_from(text: &str, first: u64, total: u64) -> Result<u64, String> {
    let mut expected = first;
    for (i, line) in text.lines().enumerate() {
        let wanted = format!("line {expected} of {total}");
        if line != wanted {
            return Err(format!(
                "line {} of the file is {line:?}, expected {wanted:?} (a line missing, \
                 repeated, cut or mixed with another)",
                i + 1
            ));
        }
        expected += 1;
    }
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(format!(
            "the text ends in the middle of a line: {:?}",
            &text[text.len().saturating_sub(40)..]
        ));
    }
    Ok(expected - 1)
}

/// Whether the file at `path` ends with `suffix`, reading only its end.
fn ends_with(path: &Path, suffix: &[u8]) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    let mut end = vec![0; suffix.len()];
    let back = i64::try_from(suffix.len()).expect("a short suffix");
    file.seek(SeekFrom::End(-back)).is_ok() && file.read_exact(&mut end).is_ok() && end == suffix
}

/// The number of newlines in a log file so far.
fn line_count(d: &TestDaemon, file: &str) -> usize {
    bytes_of(d, &format!("logs/{file}"))
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

#[test]
fn no_line_is_lost_or_repeated_when_the_broker_is_killed() {
    const TOTAL: u64 = 1_000_000;
    let d = TestDaemon::start(&format!(
        r#"
[programs.counter]
command = "@PROG@"
args = ["--interval-ms", "2", "--count", "{TOTAL}"]
startsecs = 0
"#
    ));
    let pid = d.wait_state("counter", "RUNNING", WAIT)["pid"].clone();
    d.wait_for("100 lines in counter.stdout", WAIT, || {
        line_count(&d, "counter.stdout") >= 100
    });
    kill_broker(&d);
    let process = d.wait_state("counter", "RUNNING", WAIT);
    assert_eq!(process["pid"], pid, "the program was not restarted");

    let back = line_count(&d, "counter.stdout");
    d.wait_for("300 more lines after the broker came back", WAIT, || {
        line_count(&d, "counter.stdout") >= back + 300
    });
    let text = d.log_text("counter.stdout");
    let seen = numbered_lines(&text, TOTAL).unwrap_or_else(|e| panic!("counter.stdout: {e}"));
    assert!(seen as usize >= back + 300, "{seen} lines");
}

/// `kill -9` the broker; returns once a new one answers `status`.
fn kill_broker(d: &TestDaemon) {
    let broker = broker_of(d).expect("taskmasterd has a broker child");
    kill(Pid::from_raw(broker), Signal::SIGKILL).expect("kill -9 the broker");
    d.wait_for("a new broker that answers status", WAIT, || {
        broker_of(d).is_some_and(|b| b != broker)
            && d.try_request(serde_json::json!({"command": "status"}))
                .is_ok()
    });
}

/// With timestamps every byte goes through the broker's buffer rather
/// than `splice(2)`: a broker killed while it holds output it has read
/// from the pipe but not yet written must still lose none of it.
#[test]
fn no_stamped_line_is_lost_when_the_broker_is_killed_while_busy() {
    const TOTAL: u64 = 500_000;
    let d = TestDaemon::start(&format!(
        r#"
[programs.counter]
command = "@PROG@"
args = ["--count", "{TOTAL}"]
startsecs = 0
stdout_timestamps = true
stdout_maxbytes = 0
"#
    ));
    let path = d.dir().join("logs/counter.stdout");
    let size = || fs::metadata(&path).map_or(0, |m| m.len());
    let last = format!(" line {TOTAL} of {TOTAL}\n");
    let done = || ends_with(&path, last.as_bytes());
    let mut kills = 0;
    while kills < 5 {
        // Killed once output flows fast again: the program writes faster
        // than the broker stamps, so the broker is busy with a chunk.
        let before = size();
        d.wait_for("more output", WAIT, || {
            size() > before + (128 << 10) || done()
        });
        if done() {
            break;
        }
        kill_broker(&d);
        kills += 1;
    }
    assert!(
        kills > 0,
        "the program finished before the broker was killed"
    );
    d.wait_for("the last line", Duration::from_secs(60), done);
    let text = d.log_text("counter.stdout");
    let mut unstamped = String::with_capacity(text.len());
    for line in text.lines() {
        // A line without its stamp is a line cut by the kill: show it as is.
        let rest = split_stamp(line).map_or(line, |(_, rest)| rest);
        unstamped.push_str(rest);
        unstamped.push('\n');
    }
    // Stamped output goes through the broker's buffer; the bytes leave the
    // pipe only once written, so a kill between the write and that moment
    // makes the next broker write the chunk again: nothing is lost, a few
    // lines may be repeated (and the line the kill cut is finished by the
    // repeat). Plain output is moved by splice(2) and never repeats (see
    // no_line_is_lost_or_repeated_when_the_broker_is_killed).
    let missing = missing_numbers(&unstamped, TOTAL);
    assert!(
        missing.is_empty(),
        "counter.stdout lost lines after {kills} kills: {} missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

/// The numbers of 1..=`total` that no line `... line N of TOTAL` of `text`
/// carries.
fn missing_numbers(text: &str, total: u64) -> Vec<u64> {
    let suffix = format!(" of {total}");
    let mut seen = vec![false; total as usize + 1];
    for line in text.lines() {
        let Some(head) = line.strip_suffix(&suffix) else {
            continue;
        };
        let number = head
            .rsplit("line ")
            .next()
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = number.filter(|&n| (1..=total).contains(&n)) {
            seen[n as usize] = true;
        }
    }
    (1..=total).filter(|&n| !seen[n as usize]).collect()
}

/// A line the program had begun when the broker died is finished after
/// it, under its one stamp: the new broker does not stamp its middle.
#[test]
fn a_line_in_progress_across_a_broker_restart_keeps_one_stamp() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
args = ["--catch", "USR1", "--xs", "3"]
startsecs = 0
stdout_timestamps = true
"#,
    );
    d.wait_for("the start of the line", WAIT, || {
        d.log_text("web.stdout").ends_with(" xxx")
    });
    kill_broker(&d);
    let out = d.ctl(&["signal", "USR1", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
    d.wait_for("the end of the line", WAIT, || {
        d.log_text("web.stdout").ends_with("\n")
    });
    let text = d.log_text("web.stdout");
    let rest = split_stamp(&text).map(|(_, rest)| rest);
    assert_eq!(rest, Some("xxxcaught=SIGUSR1\n"), "{text:?}");
}

#[test]
fn rotation_keeps_whole_lines_near_the_limit_and_the_newest_in_the_current_file() {
    // One program prints in a burst (many lines per read, cut inside a
    // read), the other a line at a time (cut between reads).
    let d = TestDaemon::start(&format!(
        r#"
[programs.burst]
command = "@PROG@"
args = ["--count", "{ROTATED}"]
startsecs = 0
stdout_maxbytes = "1KB"
stdout_backups = 2

[programs.trickle]
command = "@PROG@"
args = ["--interval-ms", "1", "--count", "{ROTATED}"]
startsecs = 0
stdout_maxbytes = "1KB"
stdout_backups = 2
"#
    ));
    check_rotated(&d, "burst.stdout");
    check_rotated(&d, "trickle.stdout");
}

/// The lines `--count` prints in the rotation test.
const ROTATED: u64 = 400;

/// Checks that `file`, rotated at 1 KiB with 2 backups, holds the last of
/// `ROTATED` numbered lines, each file cut within one line of the limit.
fn check_rotated(d: &TestDaemon, file: &str) {
    const LIMIT: u64 = 1024;
    let last = format!("line {ROTATED} of {ROTATED}");
    let current = d.wait_log_line(file, &last);
    assert!(
        current.ends_with(&format!("{last}\n")),
        "{file}: {current:?}"
    );

    let logs = d.dir().join("logs");
    assert!(
        !logs.join(format!("{file}.3")).exists(),
        "at most 2 backups: {:?}",
        fs::read_dir(&logs)
            .map(|entries| entries.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
    );
    let longest = last.len() as u64 + 1;
    let mut all = String::new();
    for backup in [format!("{file}.2"), format!("{file}.1")] {
        let text = d.log_text(&backup);
        let size = text.len() as u64;
        assert!(
            size <= LIMIT && size > LIMIT - longest,
            "{backup} holds {size} bytes: it should be cut within one line of {LIMIT}"
        );
        all.push_str(&text);
    }
    assert!(
        current.len() as u64 <= LIMIT,
        "{file}: {} bytes",
        current.len()
    );
    all.push_str(&current);

    // Each file starts a line and ends one, and together they are the
    // last lines printed, in order.
    let first: u64 = all
        .strip_prefix("line ")
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{file}.2 does not start with a line: {all:?}"));
    let end = numbered_from(&all, first, ROTATED)
        .unwrap_or_else(|e| panic!("{file}.2 + .1 + {file}: {e}"));
    assert_eq!(end, ROTATED, "{file}");
}

#[test]
fn redirect_stderr_puts_stderr_lines_in_the_stdout_log() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
args = ["--print", "out 1", "--stderr", "err 1", "--print", "out 2", "--stderr", "err 2", "--print", "done"]
startsecs = 0
redirect_stderr = true
"#,
    );
    let text = d.wait_log_line("web.stdout", "done");
    assert_eq!(text, "out 1\nerr 1\nout 2\nerr 2\ndone\n");
    assert_eq!(d.log_text("web.stderr"), "", "nothing goes to a stderr log");
}

/// Splits `YYYY-MM-DD HH:MM:SS,SSS ` off the start of `line`; `None` when
/// the line does not start with a date of that shape.
fn split_stamp(line: &str) -> Option<(&str, &str)> {
    const SHAPE: &[u8] = b"dddd-dd-dd dd:dd:dd,ddd ";
    let stamp = line.get(..SHAPE.len())?;
    let shaped = SHAPE.iter().zip(stamp.bytes()).all(|(&want, got)| {
        if want == b'd' {
            got.is_ascii_digit()
        } else {
            got == want
        }
    });
    let field = |range: std::ops::Range<usize>| stamp[range].parse::<u32>().ok();
    let sane = shaped
        && field(5..7).is_some_and(|month| (1..=12).contains(&month))
        && field(8..10).is_some_and(|day| (1..=31).contains(&day))
        && field(11..13).is_some_and(|hour| hour < 24)
        && field(14..16).is_some_and(|minute| minute < 60)
        && field(17..19).is_some_and(|second| second <= 60);
    sane.then(|| (stamp, &line[SHAPE.len()..]))
}

#[test]
fn timestamps_start_every_line_of_the_stream_that_asks_for_them() {
    let d = TestDaemon::start(
        r#"
[programs.web]
command = "@PROG@"
# "xxx" and " tail" are two writes of one line: one stamp.
args = ["--print", "first", "--print", "", "--xs", "3", "--print", " tail", "--stderr", "plain", "--print", "done"]
startsecs = 0
stdout_timestamps = true
"#,
    );
    d.wait_for("the last line in web.stdout", WAIT, || {
        d.log_text("web.stdout").ends_with(" done\n")
    });
    let text = d.log_text("web.stdout");
    let mut stamps = Vec::new();
    let mut lines = Vec::new();
    for line in text.lines() {
        let (stamp, rest) = split_stamp(line).unwrap_or_else(|| {
            panic!("{line:?} does not start with `YYYY-MM-DD HH:MM:SS,SSS `; log: {text:?}")
        });
        stamps.push(stamp);
        lines.push(rest);
    }
    assert_eq!(lines, ["first", "", "xxx tail", "done"], "{text:?}");
    assert!(
        stamps.windows(2).all(|pair| pair[0] <= pair[1]),
        "stamps go forward: {stamps:?}"
    );
    d.wait_log_line("web.stderr", "plain");
    assert_eq!(d.log_text("web.stderr"), "plain\n", "stderr is not stamped");
}

const CATCHER: &str = r#"
[programs.web]
command = "@PROG@"
args = ["--catch", "USR1", "--print", "ready"]
startsecs = 0
stderr = "@DIR@/web.stderr"
"#;

/// Makes `web` print `caught=SIGUSR1`.
fn poke(d: &TestDaemon) {
    let out = d.ctl(&["signal", "USR1", "web"]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn sigusr2_reopens_a_log_moved_away() {
    let d = TestDaemon::start(CATCHER);
    d.wait_log_line("web.stdout", "ready");
    let logs = d.dir().join("logs");
    fs::rename(logs.join("web.stdout"), logs.join("web.stdout.old")).expect("cannot move the log");

    // Until told, the broker writes on to the file it has open.
    poke(&d);
    d.wait_log_line("web.stdout.old", "caught=SIGUSR1");

    d.signal_daemon(Signal::SIGUSR2);
    d.wait_for("web.stdout opened again", WAIT, || {
        logs.join("web.stdout").exists()
    });
    poke(&d);
    d.wait_log_line("web.stdout", "caught=SIGUSR1");
    assert_eq!(d.log_text("web.stdout"), "caught=SIGUSR1\n");
    assert_eq!(d.log_text("web.stdout.old"), "ready\ncaught=SIGUSR1\n");
    assert!(
        d.file_text("taskmasterd.log")
            .contains("reopened every log file (SIGUSR2)"),
        "{}",
        d.file_text("taskmasterd.log")
    );
}

/// What `taskmasterctl status web` prints.
fn status_line(d: &TestDaemon) -> String {
    d.ctl(&["status", "web"]).stdout
}

#[test]
fn a_log_directory_replaced_by_a_file_drops_and_counts_output_until_restored() {
    let d = TestDaemon::start(CATCHER);
    d.wait_log_line("web.stdout", "ready");
    let pid = d.pid("web");
    let logs = d.dir().join("logs");
    let away = d.dir().join("logs.away");
    fs::rename(&logs, &away).expect("cannot move the log directory");
    fs::write(&logs, "not a directory\n").expect("cannot create a file at the log directory");

    // The open file still works (it moved with its directory)...
    poke(&d);
    d.wait_for("the line in the moved log", WAIT, || {
        fs::read_to_string(away.join("web.stdout")).is_ok_and(|t| t.contains("caught=SIGUSR1"))
    });
    // ... until the log is opened again at its path, which now fails.
    d.signal_daemon(Signal::SIGUSR2);
    d.wait_for(
        "an error about web's stdout in the activity log",
        WAIT,
        || {
            d.file_text("taskmasterd.log").lines().any(|l| {
                l.contains(" ERRO ") && l.contains("output of 'web' (stdout) is being dropped")
            })
        },
    );
    poke(&d);
    let dropped = "caught=SIGUSR1\n".len();
    let mut line = String::new();
    d.wait_for("status to count the dropped line", WAIT, || {
        line = status_line(&d);
        line.contains(&format!("{dropped} bytes dropped"))
    });
    let path = logs.join("web.stdout");
    assert!(line.starts_with("web "), "{line:?}");
    assert!(
        line.contains("RUNNING"),
        "the program keeps running: {line:?}"
    );
    assert!(
        line.contains("stdout not logged") && line.contains(&format!("{}", path.display())),
        "{line:?}"
    );
    let process = d.process("web");
    assert_eq!(process["pid"], pid);
    let error = process["output_error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("{dropped} bytes dropped")),
        "{process}"
    );

    // A directory again: the next output is written, and status is clean.
    fs::remove_file(&logs).expect("cannot remove the file");
    fs::create_dir(&logs).expect("cannot create the log directory again");
    // Writable by the broker, which is never root.
    set_mode(&logs, 0o777);
    poke(&d);
    d.wait_log_line("web.stdout", "caught=SIGUSR1");
    assert_eq!(d.log_text("web.stdout"), "caught=SIGUSR1\n");
    d.wait_for("status without the output error", WAIT, || {
        !status_line(&d).contains("not logged")
    });
    assert!(
        d.process("web")["output_error"].is_null(),
        "{}",
        d.process("web")
    );
    assert!(
        d.file_text("taskmasterd.log")
            .contains("output of 'web' (stdout) is written again"),
        "{}",
        d.file_text("taskmasterd.log")
    );
    assert_eq!(d.pid("web"), pid);
}

#[test]
fn a_hundred_programs_printing_every_millisecond_lose_and_mix_nothing() {
    const PROGRAMS: usize = 100;
    const TOTAL: u64 = 2000;
    let d = TestDaemon::start(&format!(
        r#"
[programs.many]
command = "@PROG@"
args = ["--interval-ms", "1", "--count", "{TOTAL}"]
numprocs = {PROGRAMS}
startsecs = 0
"#
    ));
    let last = format!("line {TOTAL} of {TOTAL}\n");
    let files: Vec<String> = (0..PROGRAMS).map(|n| format!("many_{n}.stdout")).collect();
    // Bounded, not timed: 100 programs on a small machine take a while.
    d.wait_for("every program's last line", Duration::from_secs(90), || {
        files.iter().all(|file| d.log_text(file).ends_with(&last))
    });
    for file in &files {
        let text = d.log_text(file);
        let seen = numbered_from(&text, 1, TOTAL).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(seen, TOTAL, "{file}");
    }
}

/// Waits until `logs/FILE` holds `len` bytes; its content.
fn wait_log_bytes(d: &TestDaemon, file: &str, len: usize, timeout: Duration) -> Vec<u8> {
    let path = d.dir().join("logs").join(file);
    let size = |path: &Path| fs::metadata(path).map_or(0, |m| m.len());
    d.wait_for(&format!("{len} bytes in {file}"), timeout, || {
        size(&path) >= len as u64
    });
    bytes_of(d, &format!("logs/{file}"))
}

#[test]
fn an_8mib_line_without_newline_arrives_whole() {
    const LEN: usize = 8 << 20;
    let d = TestDaemon::start(&format!(
        r#"
[programs.huge]
command = "@PROG@"
args = ["--xs", "{LEN}", "--print", "", "--print", "done"]
startsecs = 0
"#
    ));
    let expected_len = LEN + "\ndone\n".len();
    let bytes = wait_log_bytes(&d, "huge.stdout", expected_len, Duration::from_secs(30));
    assert_eq!(bytes.len(), expected_len, "nothing more, nothing repeated");
    let xs = bytes.iter().take_while(|&&b| b == b'x').count();
    assert_eq!(xs, LEN, "the line is whole");
    assert_eq!(&bytes[LEN..], b"\ndone\n");
}

#[test]
fn binary_output_arrives_intact() {
    let d = TestDaemon::start(
        r#"
[programs.bin]
command = "@PROG@"
args = ["--all-bytes", "--all-bytes", "--print", "", "--print", "done"]
startsecs = 0
"#,
    );
    let mut expected: Vec<u8> = (0..=255).chain(0..=255).collect();
    expected.extend_from_slice(b"\ndone\n");
    let bytes = wait_log_bytes(&d, "bin.stdout", expected.len(), WAIT);
    assert_eq!(bytes, expected);
}

/// A program that never writes gets no log files, not even when it ends:
/// the end of an empty pipe creates nothing (a thousand programs stopping
/// used to create two thousand files, which stalled shutdowns).
#[test]
fn a_silent_program_leaves_no_log_files_when_it_ends() {
    let mut d = TestDaemon::start(
        r#"
[programs.silent]
command = "@PROG@"
args = ["--sleep", "60"]
startsecs = 0
stopsignal = "KILL"
"#,
    );
    d.wait_state("silent", "RUNNING", WAIT);
    assert_eq!(d.ctl(&["stop", "silent"]).code, 0);
    d.wait_state("silent", "STOPPED", WAIT);
    // Shutting down waits for every pump: nothing is left to create them.
    d.signal_daemon(Signal::SIGTERM);
    assert_eq!(d.wait_exit(WAIT), 0);
    let logs = d.dir().join("logs");
    let files: Vec<_> = fs::read_dir(&logs)
        .expect("the log directory")
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        files.is_empty(),
        "no log file for a silent program: {files:?}"
    );
}

/// The container pattern: programs' output and the activity log on the
/// daemon's own stdout (what `docker logs` reads), each line whole and once,
/// with `[name] ` before the lines of programs that ask for it.
#[test]
fn output_to_the_daemons_stdout_keeps_every_line_whole() {
    let mut d = TestDaemon::start(
        r#"
[programs.a]
command = "@PROG@"
args = ["--count", "300", "--xs", "70000", "--print", "", "--print", "a done", "--sleep", "60"]
startsecs = 0
stdout = "/dev/stdout"
stdout_prefix = true

[programs.b]
command = "@PROG@"
args = ["--count", "300", "--print", "b done", "--sleep", "60"]
startsecs = 0
stdout = "/dev/fd/1"
stdout_prefix = true
"#,
    );
    d.wait_for("both programs' last lines", WAIT, || {
        let out = d.file_text("taskmasterd.out");
        out.contains("[a] a done\n") && out.contains("[b] b done\n")
    });
    let out = d.file_text("taskmasterd.out");
    for program in ["a", "b"] {
        for n in 1..=300 {
            let line = format!("[{program}] line {n} of 300");
            assert_eq!(
                out.lines().filter(|l| *l == line).count(),
                1,
                "{line:?} once and whole"
            );
        }
    }
    // 70000 bytes without a newline, then the newline: one line.
    let long = format!("[a] {}", "x".repeat(70000));
    assert_eq!(out.lines().filter(|l| *l == long).count(), 1);
    // Nothing is written to a file for them, and nothing was rotated.
    assert!(!d.dir().join("logs/a.stdout").exists());
    d.signal_daemon(Signal::SIGTERM);
    assert_eq!(d.wait_exit(WAIT), 0);
}

/// taskmasterd as a container's PID 1 (a new PID namespace), with its
/// programs' output on its stdout: every line once, orphans reaped, and
/// SIGTERM from outside ends it with status 0.
#[test]
fn as_pid_1_of_a_pid_namespace_output_reaches_its_stdout_and_sigterm_ends_it() {
    if !crate::harness::is_root_or_skip("as_pid_1_of_a_pid_namespace") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("tme2e-pid1-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    crate::harness::set_mode(&dir, 0o777);
    let prog = crate::harness::testprog();
    let config = dir.join("t.toml");
    fs::write(
        &config,
        format!(
            "[unix_http_server]\nfile = \"{d}/s.sock\"\n\
             [taskmasterd]\nlogfile = \"/dev/stdout\"\nchildlogdir = \"{d}\"\n\
             [programs.a]\ncommand = \"{p}\"\nargs = [\"--count\", \"50\", \"--fork-child\", \"{d}/grandchild.pid\", \"--sleep\", \"60\"]\n\
             startsecs = 0\nstdout = \"/dev/stdout\"\nstdout_prefix = true\n\
             [programs.b]\ncommand = \"{p}\"\nargs = [\"--count\", \"50\", \"--sleep\", \"60\"]\n\
             startsecs = 0\nstdout = \"/dev/stdout\"\nstdout_prefix = true\n",
            d = dir.display(),
            p = prog.display()
        ),
    )
    .unwrap();
    let out = fs::File::create(dir.join("out")).unwrap();
    let mut child = std::process::Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(crate::harness::bin_dir().join("taskmasterd"))
        .arg("-n")
        .arg("-c")
        .arg(&config)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .expect("unshare");
    let text = || fs::read_to_string(dir.join("out")).unwrap_or_default();
    let deadline = std::time::Instant::now() + WAIT;
    while !(text().contains("[a] line 50 of 50\n") && text().contains("[b] line 50 of 50\n")) {
        assert!(
            std::time::Instant::now() < deadline,
            "no output:\n{}",
            text()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    // taskmasterd is the namespace's PID 1: `unshare --fork` is its parent.
    let init = crate::harness::children_of(i32::try_from(child.id()).unwrap());
    assert_eq!(init.len(), 1, "{init:?}");
    kill(Pid::from_raw(init[0]), Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    let out = text();
    assert_eq!(status.code(), Some(0), "{out}");
    for program in ["a", "b"] {
        for n in 1..=50 {
            let line = format!("[{program}] line {n} of 50");
            assert_eq!(
                out.lines().filter(|l| *l == line).count(),
                1,
                "{line}\n{out}"
            );
        }
    }
    // The activity log went there too.
    assert!(out.contains("INFO spawned: 'a'"), "{out}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn status_counts_logged_bytes_per_stream_across_restarts() {
    let d = TestDaemon::start(
        "[programs.web]\ncommand = \"@PROG@\"\nargs = [\"--print\", \"hello\", \"--stderr\", \"oops\"]\nstartsecs = 0\nstopwaitsecs = 2\n",
    );
    d.wait_state("web", "RUNNING", WAIT);
    let counted = |stream: &str| {
        let process = d.process("web");
        let output = process["output"].as_array().cloned().unwrap_or_default();
        output
            .iter()
            .find(|c| c["stream"] == stream)
            .map(|c| (c["written_bytes"].as_u64(), c["dropped_bytes"].as_u64()))
    };
    d.wait_for("6 bytes of stdout counted", WAIT, || {
        counted("stdout") == Some((Some(6), Some(0)))
    });
    d.wait_for("5 bytes of stderr counted", WAIT, || {
        counted("stderr") == Some((Some(5), Some(0)))
    });
    // A restart's pumps count on from the earlier ones'.
    let restarted = d.ctl(&["restart", "web"]);
    assert_eq!(restarted.code, 0, "{restarted:?}");
    d.wait_for("12 bytes of stdout counted", WAIT, || {
        counted("stdout") == Some((Some(12), Some(0)))
    });
    let json = d.ctl(&["status", "--json", "web"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).expect("status --json");
    let output = &json["processes"][0]["output"];
    assert_eq!(output[0]["stream"], "stdout", "{json}");
    assert_eq!(output[0]["written_bytes"], 12, "{json}");
}
