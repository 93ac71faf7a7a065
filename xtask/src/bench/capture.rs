//! Output capture: one program writing 1 GiB as fast as it can (`dd` in
//! 64 KiB blocks, and `yes`), with and without rotation, under Taskmaster,
//! under supervisord, and redirected straight to a file (the limit).
//! Throughput in MiB/s and the daemons' CPU seconds.

use super::daemon::{DaemonProcess, Workdir};
use super::procfs;
use anyhow::{bail, Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The broker's comm as the kernel shows it.
const BROKER_COMM: &str = "taskmaster-brok";
/// `maxbytes` and backups of the rotating runs.
const ROTATE_MAXBYTES: u64 = 100 << 20;
const ROTATE_BACKUPS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writer {
    Dd,
    Yes,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
struct Case {
    writer: Writer,
    rotate: bool,
}

/// The daemons of the comparison, with what starting each needs.
pub struct Daemons {
    /// taskmasterd's directory (target/release), if Taskmaster is measured.
    pub taskmaster: Option<PathBuf>,
    /// supervisord, if it is measured.
    pub supervisord: Option<PathBuf>,
    pub limit: bool,
}

/// One measurement: MiB/s, and the daemons' CPU seconds (none for the limit).
struct Figure {
    mib_per_s: f64,
    cpu_secs: Option<f64>,
}

/// Runs every case for every daemon; the markdown section of the results.
pub fn run(daemons: &Daemons, quick: bool) -> String {
    let bytes: u64 = if quick { 256 << 20 } else { 1 << 30 };
    let mut text = format!(
        "\n## Output capture: one program writing {} MiB\n\n\
         | case | Taskmaster | supervisord | `writer > file` |\n|---|---|---|---|\n",
        bytes >> 20
    );
    let cases = [
        (Writer::Dd, false),
        (Writer::Dd, true),
        (Writer::Yes, false),
        (Writer::Yes, true),
    ];
    let runs = if quick { 1 } else { 3 };
    for (writer, rotate) in cases {
        let case = Case { writer, rotate };
        let columns = [
            ("Taskmaster", daemons.taskmaster.is_some()),
            ("supervisord", daemons.supervisord.is_some()),
            ("limit", daemons.limit),
        ];
        // Runs interleaved, so that a slow spell of the machine (the disk
        // writing back) falls on every column alike.
        let mut results: Vec<Result<Vec<Figure>, String>> =
            columns.iter().map(|_| Ok(Vec::new())).collect();
        for run in 1..=runs {
            for ((name, wanted), result) in columns.iter().zip(&mut results) {
                let Ok(figures) = result else { continue };
                if !wanted {
                    continue;
                }
                eprintln!("capture: {name}, {} (run {run} of {runs})...", label(case));
                // The previous run's file written back first: its
                // writeback would slow this one down.
                nix::unistd::sync();
                let figure = match (*name, &daemons.taskmaster, &daemons.supervisord) {
                    ("Taskmaster", Some(bin), _) => taskmaster(bin, case, bytes),
                    ("supervisord", _, Some(bin)) => supervisord(bin, case, bytes),
                    _ => limit(case, bytes),
                };
                match figure {
                    Ok(figure) => figures.push(figure),
                    Err(e) => {
                        eprintln!("capture: {name}: {e:#}");
                        *result = Err(format!("failed: {}", format!("{e:#}").replace('|', "/")));
                    }
                }
            }
        }
        let cells: Vec<String> = results
            .iter()
            .map(|result| match result {
                Ok(figures) if figures.is_empty() => "not run".to_string(),
                Ok(figures) => cell(figures),
                Err(failed) => failed.clone(),
            })
            .collect();
        let _ = writeln!(text, "| {} | {} |", label(case), cells.join(" | "));
    }
    text.push_str(
        "\nMiB/s from the program's own clock around the writer (it is held back by the pipe, \
         so this is the drain rate): the median of 3 runs (1 with --quick) and the worst, the \
         columns' runs interleaved, each after a sync(2); CPU (the median) is utime + stime of taskmasterd + taskmaster-broker \
         (supervisord alone) from the program's start until the last byte is in the file. \
         Without rotation the file must hold every byte, or the run fails. Rotation: \
         maxbytes 100 MiB, 2 backups.\n",
    );
    text
}

fn label(case: Case) -> String {
    let writer = match case.writer {
        Writer::Dd => "`dd bs=64k`",
        Writer::Yes => "`yes | head -c`",
    };
    let rotation = if case.rotate {
        "rotating"
    } else {
        "no rotation"
    };
    format!("{writer}, {rotation}")
}

/// The median rate of the runs, the worst when there are several, and the
/// median CPU time.
fn cell(figures: &[Figure]) -> String {
    let mut rates: Vec<f64> = figures.iter().map(|f| f.mib_per_s).collect();
    rates.sort_by(f64::total_cmp);
    let mut text = format!("{:.0} MiB/s", rates[rates.len() / 2]);
    if rates.len() > 1 {
        let _ = write!(text, " (worst {:.0})", rates[0]);
    }
    let mut cpu: Vec<f64> = figures.iter().filter_map(|f| f.cpu_secs).collect();
    cpu.sort_by(f64::total_cmp);
    if let Some(median) = cpu.get(cpu.len() / 2) {
        let _ = write!(text, ", {median:.2} s CPU");
    }
    text
}

/// The shell script of the program: marks its start, writes, and records
/// how long the writing took in nanoseconds.
fn script(dir: &Path, writer: Writer, bytes: u64) -> String {
    let write = match writer {
        Writer::Dd => format!("dd if=/dev/zero bs=64k count={} 2>/dev/null", bytes >> 16),
        Writer::Yes => format!("yes | head -c {bytes}"),
    };
    let dir = dir.display();
    format!(
        "touch {dir}/started; s=$(date +%s%N); {write}; e=$(date +%s%N); \
         echo $((e - s)) > {dir}/elapsed.tmp; mv {dir}/elapsed.tmp {dir}/elapsed"
    )
}

fn taskmaster(bin_dir: &Path, case: Case, bytes: u64) -> Result<Figure> {
    let dir = Workdir::new("tmc")?;
    let path = dir.path().to_owned();
    let log = path.join("logs/writer.out");
    let (maxbytes, backups) = rotation(case);
    let quote = |p: &Path| serde_json::to_string(&p.to_string_lossy()).unwrap_or_default();
    let config = format!(
        "[unix_http_server]\nfile = {socket}\n\n\
         [taskmasterd]\nnodaemon = true\nlogfile = {activity}\nchildlogdir = {logs}\n\n\
         [programs.writer]\ncommand = \"/bin/sh\"\nargs = [\"-c\", {script}]\nstartsecs = 0\n\
         autorestart = false\nstdout = {log}\nstdout_maxbytes = {maxbytes}\n\
         stdout_backups = {backups}\n",
        socket = quote(&path.join("tm.sock")),
        activity = quote(&path.join("taskmasterd.log")),
        logs = quote(&path.join("logs")),
        script = serde_json::to_string(&script(&path, case.writer, bytes))?,
        log = quote(&log),
    );
    let config_path = path.join("taskmaster.conf.toml");
    std::fs::write(&config_path, config)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let mut command = Command::new(bin_dir.join("taskmasterd"));
    command.arg("-n").arg("-c").arg(&config_path);
    let current = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(bin_dir.to_owned()).chain(std::env::split_paths(&current));
    command.env("PATH", std::env::join_paths(dirs).context("building PATH")?);
    let mut daemon = DaemonProcess::spawn("taskmasterd", command, dir)?;
    measure(&mut daemon, &path, &log, case, bytes, |pid| {
        let mut pids = vec![pid];
        pids.extend(
            procfs::children(pid)
                .into_iter()
                .filter(|(_, comm)| comm == BROKER_COMM)
                .map(|(pid, _)| pid),
        );
        pids
    })
}

fn supervisord(bin: &Path, case: Case, bytes: u64) -> Result<Figure> {
    let dir = Workdir::new("svc")?;
    let path = dir.path().to_owned();
    let log = path.join("logs/writer.out");
    let (maxbytes, backups) = rotation(case);
    // supervisord reads `%` as the start of an expansion.
    let script = script(&path, case.writer, bytes).replace('%', "%%");
    let config = format!(
        "[unix_http_server]\nfile={dir}/supervisor.sock\n\n\
         [supervisord]\nlogfile={dir}/supervisord.log\npidfile={dir}/supervisord.pid\n\
         childlogdir={dir}/logs\nnodaemon=true\n\n\
         [rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
         [program:writer]\ncommand=/bin/sh -c '{script}'\nstartsecs=0\nautorestart=false\n\
         stdout_logfile={log}\nstdout_logfile_maxbytes={maxbytes}\n\
         stdout_logfile_backups={backups}\n",
        dir = path.display(),
        log = log.display(),
    );
    let config_path = path.join("supervisord.conf");
    std::fs::write(&config_path, config)
        .with_context(|| format!("writing {}", config_path.display()))?;
    let mut command = Command::new(bin);
    command.arg("-n").arg("-c").arg(&config_path);
    let mut daemon = DaemonProcess::spawn("supervisord", command, dir)?;
    measure(&mut daemon, &path, &log, case, bytes, |pid| vec![pid])
}

fn rotation(case: Case) -> (u64, u32) {
    if case.rotate {
        (ROTATE_MAXBYTES, ROTATE_BACKUPS)
    } else {
        (0, 0)
    }
}

/// Waits for the program to start and finish, then for its output to be
/// all in the files; the figure.
fn measure(
    daemon: &mut DaemonProcess,
    dir: &Path,
    log: &Path,
    case: Case,
    bytes: u64,
    daemon_pids: impl Fn(i32) -> Vec<i32>,
) -> Result<Figure> {
    let cpu = |daemon: &DaemonProcess| -> u64 {
        daemon_pids(daemon.pid())
            .into_iter()
            .filter_map(|pid| procfs::stat(pid).ok())
            .map(|stat| stat.cpu_ticks)
            .sum()
    };
    wait(
        daemon,
        "the program to start",
        Duration::from_secs(30),
        || Ok(dir.join("started").exists()),
    )?;
    let cpu_before = cpu(daemon);
    wait(
        daemon,
        "the program to finish",
        Duration::from_secs(600),
        || Ok(dir.join("elapsed").exists()),
    )?;
    let elapsed_ns: f64 = std::fs::read_to_string(dir.join("elapsed"))?
        .trim()
        .parse()
        .context("reading the program's elapsed time")?;
    if case.rotate {
        settle(daemon, log)?;
    } else {
        wait(
            daemon,
            "every byte in the file",
            Duration::from_secs(120),
            || Ok(file_len(log) >= bytes),
        )
        .with_context(|| format!("{} of {bytes} bytes arrived", file_len(log)))?;
        if file_len(log) != bytes {
            bail!("the log holds {} bytes, not {bytes}", file_len(log));
        }
    }
    let ticks = cpu(daemon).saturating_sub(cpu_before);
    let _ = daemon.terminate(Duration::from_secs(20));
    Ok(Figure {
        mib_per_s: (bytes as f64 / 1048576.0) / (elapsed_ns / 1e9),
        cpu_secs: Some(ticks as f64 / procfs::clock_ticks_per_sec() as f64),
    })
}

/// With rotation the files do not add up to what was written: wait until
/// the current file has stopped growing for a while.
fn settle(daemon: &mut DaemonProcess, log: &Path) -> Result<()> {
    let mut last = (file_len(log), Instant::now());
    wait(
        daemon,
        "the log to settle",
        Duration::from_secs(120),
        || {
            let now = file_len(log);
            if now != last.0 {
                last = (now, Instant::now());
            }
            Ok(last.1.elapsed() > Duration::from_millis(300))
        },
    )
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn wait(
    daemon: &mut DaemonProcess,
    what: &str,
    limit: Duration,
    mut done: impl FnMut() -> Result<bool>,
) -> Result<()> {
    let start = Instant::now();
    while !done()? {
        daemon.check_alive()?;
        if start.elapsed() > limit {
            bail!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// `writer > file`: the same program, no supervisor.
fn limit(case: Case, bytes: u64) -> Result<Figure> {
    let dir = Workdir::new("lim")?;
    let path = dir.path();
    let log = path.join("writer.out");
    let script = format!("({}) > {}", script(path, case.writer, bytes), log.display());
    let status = Command::new("/bin/sh")
        .args(["-c", &script])
        .status()
        .context("running the writer")?;
    if !status.success() {
        bail!("the writer failed ({status})");
    }
    let elapsed_ns: f64 = std::fs::read_to_string(path.join("elapsed"))?
        .trim()
        .parse()
        .context("reading the writer's elapsed time")?;
    Ok(Figure {
        mib_per_s: (bytes as f64 / 1048576.0) / (elapsed_ns / 1e9),
        cpu_secs: None,
    })
}
