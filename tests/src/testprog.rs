//! `tm-testprog`: the program the end-to-end tests supervise. Its flags say
//! what to report and how to behave, so that each test reads the answer from
//! the program's stdout log file.
//!
//! Flags run in the order given (so a `--print` after `--catch` proves the
//! signal is handled by then); each report is one `key=value` line on
//! stdout, flushed at once (the log file is the test's only window into the
//! program). After the flags it sleeps (`--sleep SECS`, forever by default)
//! and exits with `--exit CODE` (0 by default).
//!
//! ```text
//! --print TEXT            print TEXT as a line, verbatim
//! --stderr TEXT           print TEXT as a line on stderr
//! --print-env VAR         env:VAR=value, or env:VAR unset
//! --print-args            arg1=..., arg2=... (this process's argv)
//! --print-cwd             cwd=/path
//! --print-umask           umask=022
//! --print-fds             fds=0,1,2 (the descriptors open at this point)
//! --print-ids             uid=, gid=, euid=, egid=, groups=a,b
//! --print-pid             pid=, ppid=, pgid=, sid=
//! --write-pid FILE        write this process's pid to FILE
//! --append FILE TEXT      append the line TEXT to FILE
//! --append-name FILE      append $TASKMASTER_PROCESS_NAME (or "?") to FILE
//! --create-file FILE      create FILE with mode 0666 (the umask applies)
//! --ignore SIG            never act on SIG (it is blocked)
//! --catch SIG             on SIG print caught=SIGNAME and keep running
//! --catch-and-exit SIG    on SIG print caught=SIGNAME and exit 0
//! --fork-child FILE       start a grandchild that sleeps forever in this
//!                         process group and writes its pid to FILE
//! --echo-stdin            print stdin=LINE for each stdin line until EOF
//! --interval-ms MS        pause MS milliseconds after each line of the
//!                         `--count` flags that follow (0 by default)
//! --count N               print `line 1 of N` ... `line N of N`, each line
//!                         in one write(2)
//! --xs N                  print N bytes `x` and no newline
//! --all-bytes             print the 256 byte values 0..=255 once, in order
//! --connect SOCKET N      open N connections to the Unix socket SOCKET and
//!                         hold them; print connected=N
//! --request SOCKET LINE   connect to SOCKET, send LINE, print reply=FIRST
//!                         LINE OF THE ANSWER (reply=EOF if none) and hold
//!                         the connection
//! --after-ms MS           pause MS milliseconds before the next flag
//! --wait-file FILE        wait until FILE exists before the next flag
//! --listen PORT           accept TCP connections on 127.0.0.1:PORT (and
//!                         close them) from now on, in the background
//! --http PORT FILE        answer HTTP GETs on 127.0.0.1:PORT from now on,
//!                         with the status code written in FILE (200 when
//!                         FILE is missing): a test turns it to 500
//! --notify TEXT           send TEXT (`READY=1`) as one datagram to
//!                         $NOTIFY_SOCKET (sd_notify)
//! --watchdog-ms MS        send WATCHDOG=1 every MS milliseconds from now
//!                         on, in the background
//! --sleep SECS            sleep SECS (fractions allowed) instead of forever
//! --exit CODE             exit status
//! ```
//!
//! SIG is a name (`TERM`, `SIGTERM`) or a number.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::stat::{umask, Mode};
use nix::unistd::{getegid, geteuid, getgid, getgroups, getpgrp, getpid, getppid, getsid, getuid};
use std::io::{BufRead, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

/// What happens when a caught signal arrives.
#[derive(Clone, Copy, PartialEq)]
enum OnSignal {
    Ignore,
    Report,
    ReportAndExit,
}

struct Run {
    sleep: Option<Duration>,
    exit: u8,
    /// The pause after each `--count` line.
    interval: Duration,
    /// Connections held open until the program exits.
    held: Vec<UnixStream>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(run) => finish(run),
        Err(message) => {
            eprintln!("tm-testprog: {message}");
            ExitCode::from(100)
        }
    }
}

/// Prints one line on stdout and flushes it, so the log has it at once.
fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    // A closed stdout is not the test program's problem to report.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Writes `bytes` to stdout as they are and flushes them; a line given
/// whole goes out in one write(2), so nothing but the pipe can split it.
fn raw(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    // As in `say`: a closed stdout is not ours to report.
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// Numbered lines that say how many there will be, so a reader can tell a
/// missing, repeated or cut line from the rest.
fn count(total: u64, interval: Duration) {
    for n in 1..=total {
        raw(format!("line {n} of {total}\n").as_bytes());
        if !interval.is_zero() {
            std::thread::sleep(interval);
        }
    }
}

fn run(args: &[String]) -> Result<Run, String> {
    let mut run = Run {
        sleep: None,
        exit: 0,
        interval: Duration::ZERO,
        held: Vec::new(),
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--print" => say(value()?),
            "--stderr" => {
                eprintln!("{}", value()?);
            }
            "--print-env" => print_env(&value()?),
            "--print-args" => args
                .iter()
                .enumerate()
                .for_each(|(i, a)| say(format_args!("arg{}={a}", i + 1))),
            "--print-cwd" => say(format_args!(
                "cwd={}",
                std::env::current_dir()
                    .map_err(|e| e.to_string())?
                    .display()
            )),
            "--print-umask" => print_umask(),
            "--print-fds" => print_fds(),
            "--print-ids" => print_ids()?,
            "--print-pid" => print_pid()?,
            "--write-pid" => write_atomically(&value()?, &getpid().to_string())?,
            "--append" => {
                let file = value()?;
                append(&file, &value()?)?;
            }
            "--append-name" => {
                let name = std::env::var("TASKMASTER_PROCESS_NAME").unwrap_or_else(|_| "?".into());
                append(&value()?, &name)?;
            }
            "--create-file" => {
                let file = value()?;
                std::fs::File::create(&file).map_err(|e| format!("cannot create {file}: {e}"))?;
            }
            "--ignore" => install_handler(parse_signal(&value()?)?, OnSignal::Ignore)?,
            "--catch" => install_handler(parse_signal(&value()?)?, OnSignal::Report)?,
            "--catch-and-exit" => {
                install_handler(parse_signal(&value()?)?, OnSignal::ReportAndExit)?
            }
            "--fork-child" => fork_child(&value()?)?,
            "--echo-stdin" => echo_stdin(),
            "--interval-ms" => {
                let ms = value()?;
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| format!("bad --interval-ms '{ms}'"))?;
                run.interval = Duration::from_millis(ms);
            }
            "--count" => {
                let n = value()?;
                count(
                    n.parse().map_err(|_| format!("bad --count '{n}'"))?,
                    run.interval,
                );
            }
            "--xs" => {
                let n = value()?;
                let n: usize = n.parse().map_err(|_| format!("bad --xs '{n}'"))?;
                raw(&vec![b'x'; n]);
            }
            "--all-bytes" => raw(&(0..=255).collect::<Vec<u8>>()),
            "--sleep" => {
                let secs = value()?;
                let secs: f64 = secs.parse().map_err(|_| format!("bad --sleep '{secs}'"))?;
                run.sleep = Some(Duration::from_secs_f64(secs));
            }
            "--connect" => {
                let socket = value()?;
                let n = value()?;
                let n: usize = n
                    .parse()
                    .map_err(|_| format!("bad --connect count '{n}'"))?;
                for _ in 0..n {
                    let stream = UnixStream::connect(&socket)
                        .map_err(|e| format!("cannot connect to {socket}: {e}"))?;
                    run.held.push(stream);
                }
                say(format_args!("connected={n}"));
            }
            "--request" => {
                let socket = value()?;
                let line = value()?;
                let mut stream = UnixStream::connect(&socket)
                    .map_err(|e| format!("cannot connect to {socket}: {e}"))?;
                // A server that refuses the connection answers and closes
                // at once: the write may then fail (EPIPE) while its reply
                // waits to be read, so the reply is read either way.
                let _ = stream.write_all(format!("{line}\n").as_bytes());
                let mut reply = String::new();
                let mut reader = std::io::BufReader::new(&stream);
                match reader.read_line(&mut reply) {
                    Ok(0) | Err(_) => say("reply=EOF"),
                    Ok(_) => say(format_args!("reply={}", reply.trim_end())),
                }
                drop(reader);
                run.held.push(stream);
            }
            "--after-ms" => {
                let ms = value()?;
                let ms: u64 = ms.parse().map_err(|_| format!("bad --after-ms '{ms}'"))?;
                std::thread::sleep(Duration::from_millis(ms));
            }
            "--wait-file" => {
                let file = value()?;
                while !std::path::Path::new(&file).exists() {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            "--listen" => {
                let listener = bind(&value()?)?;
                std::thread::spawn(move || for _ in listener.incoming() {});
            }
            "--http" => {
                let listener = bind(&value()?)?;
                let file = value()?;
                std::thread::spawn(move || serve_http(&listener, &file));
            }
            "--notify" => notify(&value()?)?,
            "--watchdog-ms" => {
                let ms = value()?;
                let ms: u64 = ms
                    .parse()
                    .map_err(|_| format!("bad --watchdog-ms '{ms}'"))?;
                std::thread::spawn(move || loop {
                    let _ = notify("WATCHDOG=1");
                    std::thread::sleep(Duration::from_millis(ms));
                });
            }
            "--exit" => {
                let code = value()?;
                run.exit = code.parse().map_err(|_| format!("bad --exit '{code}'"))?;
            }
            other => return Err(format!("unknown flag '{other}'")),
        }
    }
    Ok(run)
}

fn finish(run: Run) -> ExitCode {
    let _held = &run.held;
    match run.sleep {
        Some(duration) => std::thread::sleep(duration),
        None => loop {
            std::thread::sleep(Duration::from_secs(3600));
        },
    }
    ExitCode::from(run.exit)
}

fn print_env(var: &str) {
    match std::env::var(var) {
        Ok(value) => say(format_args!("env:{var}={value}")),
        Err(_) => say(format_args!("env:{var} unset")),
    }
}

fn print_umask() {
    // umask(2) only reads by writing: set it back at once.
    let current = umask(Mode::empty());
    umask(current);
    say(format_args!("umask={:03o}", current.bits()));
}

fn print_fds() {
    // Asked one by one rather than listed from /proc/self/fd, whose listing
    // would hold a descriptor of its own.
    let open: Vec<String> = (0..4096)
        .filter(|fd| std::fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_ok())
        .map(|fd| fd.to_string())
        .collect();
    say(format_args!("fds={}", open.join(",")));
}

fn print_ids() -> Result<(), String> {
    say(format_args!("uid={}", getuid()));
    say(format_args!("gid={}", getgid()));
    say(format_args!("euid={}", geteuid()));
    say(format_args!("egid={}", getegid()));
    let groups = getgroups().map_err(|e| format!("getgroups: {e}"))?;
    let groups: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    say(format_args!("groups={}", groups.join(",")));
    Ok(())
}

fn print_pid() -> Result<(), String> {
    say(format_args!("pid={}", getpid()));
    say(format_args!("ppid={}", getppid()));
    say(format_args!("pgid={}", getpgrp()));
    let sid = getsid(None).map_err(|e| format!("getsid: {e}"))?;
    say(format_args!("sid={sid}"));
    Ok(())
}

/// Writes through a temporary file and a rename, so that a reader never sees
/// a half-written pid.
fn write_atomically(file: &str, text: &str) -> Result<(), String> {
    let tmp = format!("{file}.tmp{}", getpid());
    std::fs::write(&tmp, text).map_err(|e| format!("cannot write {tmp}: {e}"))?;
    std::fs::rename(&tmp, file).map_err(|e| format!("cannot rename {tmp} to {file}: {e}"))
}

/// One `write` in append mode, so lines from several processes never mix.
fn append(file: &str, text: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .map_err(|e| format!("cannot open {file}: {e}"))?;
    f.write_all(format!("{text}\n").as_bytes())
        .map_err(|e| format!("cannot append to {file}: {e}"))
}

fn parse_signal(text: &str) -> Result<Signal, String> {
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| format!("no signal number {number}"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| format!("no signal named '{text}'"))
}

/// Blocks `signal` and, unless it is only ignored, starts a thread that
/// waits for it. Blocking (rather than SIG_IGN) needs no unsafe code, and a
/// blocked signal is never acted on, which is what `--ignore` means.
fn install_handler(signal: Signal, on: OnSignal) -> Result<(), String> {
    let mut set = SigSet::empty();
    set.add(signal);
    set.thread_block()
        .map_err(|e| format!("cannot block {signal}: {e}"))?;
    if on == OnSignal::Ignore {
        return Ok(());
    }
    std::thread::spawn(move || {
        // Only the main thread may take signals this thread does not wait
        // for: one blocked there later must not kill us through this thread.
        let _ = SigSet::all().thread_block();
        loop {
            let Ok(got) = set.wait() else { continue };
            say(format_args!("caught={}", got.as_str()));
            if on == OnSignal::ReportAndExit {
                std::process::exit(0);
            }
        }
    });
    Ok(())
}

/// A grandchild of taskmasterd in this process group that outlives nothing
/// by itself: it sleeps until killed, so tests see who kills it.
fn fork_child(pid_file: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let child = std::process::Command::new(exe)
        .args(["--write-pid", pid_file])
        .spawn()
        .map_err(|e| format!("cannot start the grandchild: {e}"))?;
    say(format_args!("child={}", child.id()));
    Ok(())
}

fn echo_stdin() {
    for line in std::io::stdin().lock().lines() {
        match line {
            Ok(line) => say(format_args!("stdin={line}")),
            Err(_) => break,
        }
    }
}

fn bind(port: &str) -> Result<std::net::TcpListener, String> {
    std::net::TcpListener::bind(format!("127.0.0.1:{port}"))
        .map_err(|e| format!("cannot listen on port {port}: {e}"))
}

/// Answers each GET with the status code in `file`, then closes.
fn serve_http(listener: &std::net::TcpListener, file: &str) {
    for stream in listener.incoming().flatten() {
        let mut reader = std::io::BufReader::new(&stream);
        let mut line = String::new();
        // The request head ends with an empty line.
        while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
            line.clear();
        }
        let code = std::fs::read_to_string(file).unwrap_or_else(|_| "200".into());
        let answer = format!(
            "HTTP/1.1 {} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            code.trim()
        );
        let _ = (&stream).write_all(answer.as_bytes());
    }
}

fn notify(text: &str) -> Result<(), String> {
    let path = std::env::var("NOTIFY_SOCKET").map_err(|_| "NOTIFY_SOCKET is not set")?;
    let socket = std::os::unix::net::UnixDatagram::unbound().map_err(|e| e.to_string())?;
    socket
        .send_to(text.as_bytes(), &path)
        .map_err(|e| format!("cannot send to {path}: {e}"))?;
    Ok(())
}
