//! `cargo xtask bench`: Taskmaster against supervisord and against the
//! machine's limit (a bare fork/exec loop), on this machine, in one run.
//!
//! Each daemon is started up to four times, each time in a fresh directory
//! with its own config and socket: with N programs (start-up, memory,
//! `status`, shutdown), with 100 (memory, idle, restart), with none
//! (memory) and with N again (hot reload). Output capture has runs of its
//! own, one program writing 1 GiB (capture.rs).
//! bench/README.md explains every figure.

mod bare;
mod capture;
mod daemon;
mod metrics;
mod procfs;
mod supervisord;
mod table;
mod taskmaster;
mod xmlrpc;

use anyhow::{Context, Result};
use daemon::{program_name, Driver};
use metrics::PollStats;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use table::{Cell, Column, Labels, Metric, Table};

/// A daemon or a metric, for `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Only {
    Taskmaster,
    Supervisord,
    /// The bare fork/exec loop (the limit column).
    Bare,
    Startup,
    /// The `status` and `status NAME` CLI runs.
    Status,
    /// `taskmasterctl --help`: the client's start-up alone.
    Help,
    Memory,
    Idle,
    Restart,
    Shutdown,
    /// Hot reload with N programs: one changed program, and nothing changed.
    Reload,
    /// One program writing 1 GiB: throughput and the daemons' CPU.
    Capture,
}

pub struct Options {
    pub quick: bool,
    pub only: Vec<Only>,
    pub n: Option<usize>,
    pub idle_secs: Option<u64>,
    /// Runs of start-up and shutdown with N programs.
    pub runs: Option<usize>,
    /// Build Taskmaster's release binaries before measuring them.
    pub build: bool,
}

/// The programs of the idle, restart and middle memory figures.
const SMALL_N: usize = 100;
/// Left between "all RUNNING" and a memory or idle sample, so that the
/// start-up's last log lines and timers are over.
const SETTLE: Duration = Duration::from_secs(1);

/// What to run, with every default resolved.
struct Plan {
    n: usize,
    idle: Duration,
    /// `status` CLI runs: Taskmaster's, supervisorctl's.
    status_runs: (usize, usize),
    /// `taskmasterctl --help` runs, and `/bin/true` runs for its limit.
    help_runs: usize,
    restart_tries: usize,
    reload_tries: usize,
    bare_repeats: usize,
    /// Start-ups and shutdowns of N programs, each with a fresh daemon.
    big_runs: usize,
    columns: Vec<Column>,
    metrics: Vec<Metric>,
    /// Whether to run the output capture figures.
    capture: bool,
    quick: bool,
}

impl Plan {
    fn new(options: &Options) -> Plan {
        let quick = options.quick;
        let columns: Vec<Column> = options
            .only
            .iter()
            .filter_map(|only| match only {
                Only::Taskmaster => Some(Column::Taskmaster),
                Only::Supervisord => Some(Column::Supervisord),
                Only::Bare => Some(Column::Limit),
                _ => None,
            })
            .collect();
        let metrics: Vec<Metric> = options
            .only
            .iter()
            .flat_map(|only| match only {
                Only::Startup => &[Metric::Startup][..],
                Only::Status => &[Metric::StatusCli, Metric::StatusNameCli],
                Only::Help => &[Metric::HelpStartup],
                Only::Memory => &[Metric::Rss0, Metric::Rss100, Metric::RssN],
                Only::Idle => &[Metric::IdleWakeups, Metric::IdleCpu],
                Only::Restart => &[Metric::Restart],
                Only::Shutdown => &[Metric::Shutdown],
                Only::Reload => &[Metric::ReloadChange, Metric::ReloadUnchanged],
                _ => &[],
            })
            .copied()
            .collect();
        let capture_only = options.only.contains(&Only::Capture) && metrics.is_empty();
        let capture = capture_only || metrics.is_empty();
        let all_columns = [Column::Taskmaster, Column::Supervisord, Column::Limit];
        let all_metrics = [
            Metric::Startup,
            Metric::StatusCli,
            Metric::StatusNameCli,
            Metric::HelpStartup,
            Metric::Rss0,
            Metric::Rss100,
            Metric::RssN,
            Metric::IdleWakeups,
            Metric::IdleCpu,
            Metric::Restart,
            Metric::Shutdown,
            Metric::ReloadChange,
            Metric::ReloadUnchanged,
        ];
        Plan {
            n: options.n.unwrap_or(if quick { 200 } else { 1000 }),
            idle: Duration::from_secs(options.idle_secs.unwrap_or(if quick { 5 } else { 30 })),
            status_runs: if quick { (5, 2) } else { (20, 5) },
            help_runs: if quick { 20 } else { 100 },
            restart_tries: if quick { 3 } else { 10 },
            reload_tries: if quick { 3 } else { 10 },
            bare_repeats: if quick { 1 } else { 3 },
            big_runs: options.runs.unwrap_or(if quick { 1 } else { 5 }),
            columns: if columns.is_empty() {
                all_columns.to_vec()
            } else {
                columns
            },
            capture,
            quick,
            metrics: if metrics.is_empty() && !capture_only {
                all_metrics.to_vec()
            } else {
                metrics
            },
        }
    }

    fn labels(&self) -> Labels {
        Labels {
            n: self.n,
            idle_secs: self.idle.as_secs(),
            status_runs: self.status_runs,
            help_runs: self.help_runs,
            restart_tries: self.restart_tries,
            reload_tries: self.reload_tries,
            big_runs: self.big_runs,
        }
    }

    /// The selected metrics among `of`.
    fn selected(&self, of: &[Metric]) -> Vec<Metric> {
        of.iter()
            .copied()
            .filter(|m| self.metrics.contains(m))
            .collect()
    }
}

fn workspace_root() -> PathBuf {
    let xtask = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().map(PathBuf::from).unwrap_or(xtask)
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

pub fn run(options: Options) -> Result<()> {
    let plan = Plan::new(&options);
    daemon::become_subreaper()?;
    let mut table = Table::new(plan.labels());
    note_setup(&plan, &mut table);
    if plan.columns.contains(&Column::Limit) {
        measure_bare(&plan, &mut table);
    }
    if plan.columns.contains(&Column::Taskmaster) {
        let bin_dir = target_dir().join("release");
        let mut driver = taskmaster::Taskmaster::new(workspace_root(), bin_dir, options.build);
        measure_daemon(&mut driver, Column::Taskmaster, &plan, &mut table);
    }
    if plan.columns.contains(&Column::Supervisord) {
        let mut driver = supervisord::Supervisord::default();
        measure_daemon(&mut driver, Column::Supervisord, &plan, &mut table);
        if let Some(version) = driver.version() {
            table.note(format!("supervisord version {version}."));
        }
    }
    let mut markdown = if plan.metrics.is_empty() {
        String::new()
    } else {
        table.to_markdown()
    };
    if plan.capture {
        markdown.push_str(&measure_capture(&plan, options.build));
    }
    println!("{markdown}");
    let out_dir = target_dir().join("bench");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let out = out_dir.join("results.md");
    std::fs::write(&out, &markdown).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("written to {}", out.display());
    Ok(())
}

/// The output capture section, with each daemon prepared as for the table.
fn measure_capture(plan: &Plan, build: bool) -> String {
    let taskmaster = plan.columns.contains(&Column::Taskmaster).then(|| {
        let bin_dir = target_dir().join("release");
        let mut driver = taskmaster::Taskmaster::new(workspace_root(), bin_dir.clone(), build);
        driver.prepare().map(|()| bin_dir)
    });
    let supervisord = plan.columns.contains(&Column::Supervisord).then(|| {
        let mut driver = supervisord::Supervisord::default();
        driver.prepare()?;
        driver.bins().map(|(supervisord, _)| supervisord.clone())
    });
    let ready = |name: &str, prepared: Option<Result<PathBuf>>| match prepared? {
        Ok(path) => Some(path),
        Err(e) => {
            eprintln!("capture: {name}: {e:#}");
            None
        }
    };
    let daemons = capture::Daemons {
        taskmaster: ready("Taskmaster", taskmaster),
        supervisord: ready("supervisord", supervisord),
        limit: plan.columns.contains(&Column::Limit),
    };
    capture::run(&daemons, plan.quick)
}

fn note_setup(plan: &Plan, table: &mut Table) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    table.note(format!(
        "Machine: {cores} cores, Linux {}. Programs: `sleep 1000000`, startsecs 0, autorestart \
         true, one program table each; N = {}.",
        kernel.trim(),
        plan.n
    ));
    table.note(format!(
        "Start-up counts from spawning the daemon (`taskmasterd -n`, `supervisord -n`) until its \
         status shows every program RUNNING. It is polled with a {} pause between polls: the last \
         program's own status (a cheap request) until it runs, then the full status until all \
         do. The bare loop is the median of {} of N `Command::spawn`s of sleep.",
        table::format_duration(metrics::POLL_PAUSE),
        plural(plan.bare_repeats, "run")
    ));
    table.note(format!(
        "Memory is VmRSS ({} after all RUNNING): taskmasterd + taskmaster-broker; supervisord alone. \
         Wake-ups are voluntary + involuntary context switches summed over every thread of the \
         daemon's processes; CPU time is utime + stime (clock-tick resolution).",
        table::format_duration(SETTLE)
    ));
    table.note(
        "Restart: kill -9 of a RUNNING program; /proc is watched for the new child (a request \
         would wake supervisord's 1 s loop early), then status is polled without pause until it \
         shows a new pid RUNNING. Its limit is one `Command::spawn` of sleep. Shutdown's limit is \
         SIGTERM to N bare sleeps and reaping them all.",
    );
    if plan.metrics.contains(&Metric::StatusCli) || plan.metrics.contains(&Metric::StatusNameCli) {
        table.note(
            "Status CLI runs: the whole client process (`taskmasterctl -c FILE status [NAME]`, \
             `supervisorctl -c FILE status [NAME]`), output read through a pipe; NAME is the \
             middle program. Their limit is a client that does no work: a run of /bin/true, then \
             from the bench process a connection, the request taskmasterctl sends, and the reply \
             taskmasterd gave to it (recorded once) read back to its end from a server that \
             holds it ready; so it counts a process start and moving the bytes, not the \
             daemon's work, parsing or formatting.",
        );
    }
    if plan.metrics.contains(&Metric::HelpStartup) {
        table.note(
            "`--help`: the whole `taskmasterctl --help` process (it lists the plugins on PATH) \
             with this PATH; its limit is /bin/true, timed the same way.",
        );
    }
    if plan.metrics.contains(&Metric::ReloadChange) {
        table.note(
            "Reload, change: the config is saved with one program's `sleep` argument changed (a \
             new file renamed over it), and timed until that program is RUNNING with a new pid \
             (/proc watched for the new child first, then status polled without pause); \
             Taskmaster applies it by itself (file watcher, 100 ms debounce), supervisord is \
             told with `supervisorctl update`, whose run is included. Unchanged: the round trip \
             of a `reload` request on an unchanged config. Both fail if any other program's pid \
             changed.",
        );
    }
}

fn plural(count: usize, word: &str) -> String {
    match count {
        1 => format!("1 {word}"),
        _ => format!("{count} {word}s"),
    }
}

/// One timed piece of work of the bare loop.
type Figure<'a> = dyn Fn() -> Result<Duration> + 'a;

/// The limit column. A failure is recorded in the cell, not returned, so
/// that the daemons are still measured.
fn measure_bare(plan: &Plan, table: &mut Table) {
    eprintln!("bare loop: {} spawns...", plan.n);
    let n = plan.n;
    let figures: [(Metric, &Figure<'_>, usize); 3] = [
        (Metric::Startup, &|| bare::startup(n), plan.bare_repeats),
        (Metric::Restart, &bare::respawn, plan.restart_tries),
        (Metric::Shutdown, &|| bare::shutdown(n), plan.bare_repeats),
    ];
    for (metric, figure, times) in figures {
        if !plan.metrics.contains(&metric) {
            continue;
        }
        let samples: Result<Vec<Duration>> = (0..times).map(|_| figure()).collect();
        let cell = match samples {
            Ok(samples) => Cell::Time(metrics::median(samples)),
            Err(e) => Cell::Failed(format!("{e:#}")),
        };
        table.set(metric, Column::Limit, cell);
    }
    if plan.metrics.contains(&Metric::HelpStartup) {
        let cell = match bare::process_start(plan.help_runs) {
            Ok(spread) => Cell::Spread(spread),
            Err(e) => Cell::Failed(format!("{e:#}")),
        };
        table.set(Metric::HelpStartup, Column::Limit, cell);
    }
}

/// Every selected figure of one daemon; a failed run marks its figures
/// failed and the next run still happens.
fn measure_daemon(driver: &mut dyn Driver, column: Column, plan: &Plan, table: &mut Table) {
    if let Err(e) = driver.prepare() {
        eprintln!("{}: {e:#}", driver.name());
        table.fail_missing(&plan.metrics, column, &format!("{e:#}"));
        return;
    }
    table.note(format!("{}.", driver.poll_note()));
    let runs: [(&[Metric], RunFn); 5] = [
        (&[Metric::HelpStartup], help_run),
        (
            &[
                Metric::Startup,
                Metric::RssN,
                Metric::StatusCli,
                Metric::StatusNameCli,
                Metric::Shutdown,
            ],
            big_run,
        ),
        (
            &[
                Metric::Rss100,
                Metric::IdleWakeups,
                Metric::IdleCpu,
                Metric::Restart,
            ],
            small_run,
        ),
        (&[Metric::Rss0], empty_run),
        (&[Metric::ReloadChange, Metric::ReloadUnchanged], reload_run),
    ];
    for (metrics, run) in runs {
        let selected = plan.selected(metrics);
        if selected.is_empty() {
            continue;
        }
        let mut record = Record {
            table: &mut *table,
            column,
            selected: &selected,
        };
        if let Err(e) = run(&*driver, plan, &mut record) {
            eprintln!("{}: {e:#}", driver.name());
            table.fail_missing(&selected, column, &format!("{e:#}"));
        }
    }
}

type RunFn = fn(&dyn Driver, &Plan, &mut Record) -> Result<()>;

/// Where one run writes its figures: only the selected ones reach the table.
struct Record<'a> {
    table: &'a mut Table,
    column: Column,
    selected: &'a [Metric],
}

impl Record<'_> {
    fn wants(&self, metric: Metric) -> bool {
        self.selected.contains(&metric)
    }

    fn set(&mut self, metric: Metric, cell: Cell) {
        if self.wants(metric) {
            self.table.set(metric, self.column, cell);
        }
    }

    /// The daemon's memory in the table, and each process's share in the
    /// notes when it has several.
    fn memory(&mut self, metric: Metric, n: usize, daemon: &mut dyn daemon::Daemon) -> Result<()> {
        let shares = metrics::rss(daemon)?;
        self.set(metric, Cell::Bytes(shares.iter().map(|s| s.1).sum()));
        if shares.len() > 1 {
            let parts: Vec<String> = shares
                .iter()
                .map(|(name, bytes)| format!("{name} {:.1} MiB", *bytes as f64 / 1048576.0))
                .collect();
            self.table.note(format!(
                "{} memory with {n} programs: {}.",
                self.column.title(),
                parts.join(", ")
            ));
        }
        Ok(())
    }

    fn note_polls(&mut self, name: &str, n: usize, stats: PollStats) {
        self.table.note(format!(
            "{name} with {n} programs: {} readiness polls, {} each on average.",
            stats.polls,
            table::format_duration(stats.mean())
        ));
    }
}

/// N programs: start-up, memory, the status CLI, then shutdown; start-up
/// and shutdown again with a fresh daemon until there are `big_runs` of
/// each (the first run alone measures memory and the status CLI).
fn big_run(driver: &dyn Driver, plan: &Plan, record: &mut Record) -> Result<()> {
    let name = driver.name();
    let mut starts = Vec::new();
    let mut shutdowns = Vec::new();
    for run in 0..plan.big_runs {
        eprintln!(
            "{name}: starting {} programs (run {} of {})...",
            plan.n,
            run + 1,
            plan.big_runs
        );
        let (mut daemon, took, polls) = metrics::start_until_running(driver, plan.n)?;
        starts.push(took);
        if run == 0 {
            record.note_polls(name, plan.n, polls);
            first_run_figures(&mut *daemon, plan, record, name)?;
        }
        if record.wants(Metric::Shutdown) {
            eprintln!("{name}: shutdown...");
            let (took, leftovers) = metrics::shutdown(&mut *daemon)?;
            shutdowns.push(took);
            if leftovers > 0 {
                record.table.note(format!(
                    "{name} left {leftovers} processes running after its shutdown (killed by the bench)."
                ));
            }
        }
    }
    record.set(Metric::Startup, runs_cell(starts));
    if !shutdowns.is_empty() {
        record.set(Metric::Shutdown, runs_cell(shutdowns));
    }
    Ok(())
}

/// One run's time, or the median and worst of several.
fn runs_cell(times: Vec<Duration>) -> Cell {
    match times[..] {
        [one] => Cell::Time(one),
        _ => Cell::Spread(metrics::Spread::of(times)),
    }
}

/// Memory and the status CLI, with N programs running.
fn first_run_figures(
    daemon: &mut dyn daemon::Daemon,
    plan: &Plan,
    record: &mut Record,
    name: &str,
) -> Result<()> {
    if record.wants(Metric::RssN) {
        std::thread::sleep(SETTLE);
        record.memory(Metric::RssN, plan.n, daemon)?;
    }
    let one = program_name(plan.n / 2);
    for (metric, process) in [
        (Metric::StatusCli, None),
        (Metric::StatusNameCli, Some(&*one)),
    ] {
        if record.wants(metric) {
            eprintln!("{name}: status CLI ({})...", process.unwrap_or("all"));
            status_cli(daemon, plan, record, metric, process)?;
        }
    }
    Ok(())
}

/// The status CLI's runs; for Taskmaster also the limit column, a client
/// that does no work (see [`bare::client_round_trip`]) on the same request
/// and a reply of the same bytes.
fn status_cli(
    daemon: &mut dyn daemon::Daemon,
    plan: &Plan,
    record: &mut Record,
    metric: Metric,
    name: Option<&str>,
) -> Result<()> {
    let runs = match record.column {
        Column::Taskmaster => plan.status_runs.0,
        _ => plan.status_runs.1,
    };
    let spread = metrics::cli_status(daemon, name, runs)?;
    record.set(metric, Cell::Spread(spread));
    if plan.columns.contains(&Column::Limit) {
        if let Some((request, reply)) = daemon.status_exchange(name)? {
            let limit = bare::client_round_trip(&request, &reply, runs)?;
            record.table.set(metric, Column::Limit, Cell::Spread(limit));
        }
    }
    Ok(())
}

/// The client's start-up alone: no daemon is started.
fn help_run(driver: &dyn Driver, plan: &Plan, record: &mut Record) -> Result<()> {
    let Some(command) = driver.help_command() else {
        return Ok(());
    };
    eprintln!("{}: --help runs...", driver.name());
    let make = || {
        let mut copy = Command::new(command.get_program());
        copy.args(command.get_args());
        copy
    };
    let spread = metrics::command_runs(make, plan.help_runs, |s| s.success())?;
    record.set(Metric::HelpStartup, Cell::Spread(spread));
    Ok(())
}

/// 100 programs: memory, the idle window, then restarts.
fn small_run(driver: &dyn Driver, plan: &Plan, record: &mut Record) -> Result<()> {
    let name = driver.name();
    eprintln!("{name}: starting {SMALL_N} programs...");
    let (mut daemon, _, _) = metrics::start_until_running(driver, SMALL_N)?;
    std::thread::sleep(SETTLE);
    record.memory(Metric::Rss100, SMALL_N, &mut *daemon)?;
    if record.wants(Metric::IdleWakeups) || record.wants(Metric::IdleCpu) {
        eprintln!("{name}: idle for {:?}...", plan.idle);
        let idle = metrics::idle(&mut *daemon, plan.idle)?;
        record.set(Metric::IdleWakeups, Cell::Count(idle.wakeups));
        record.set(Metric::IdleCpu, Cell::Time(idle.cpu));
    }
    if record.wants(Metric::Restart) {
        eprintln!("{name}: restarts...");
        let took = metrics::restart(&mut *daemon, plan.restart_tries, SMALL_N)?;
        record.set(Metric::Restart, Cell::Time(took));
    }
    Ok(())
}

/// N programs: one program's args changed in the config, then a reload
/// that changes nothing.
fn reload_run(driver: &dyn Driver, plan: &Plan, record: &mut Record) -> Result<()> {
    let name = driver.name();
    eprintln!("{name}: starting {} programs for the reloads...", plan.n);
    let (mut daemon, _, _) = metrics::start_until_running(driver, plan.n)?;
    std::thread::sleep(SETTLE);
    if record.wants(Metric::ReloadChange) {
        eprintln!("{name}: reloads changing one program...");
        let took = metrics::reload_change(&mut *daemon, plan.reload_tries, plan.n)?;
        record.set(Metric::ReloadChange, Cell::Time(took));
    }
    if record.wants(Metric::ReloadUnchanged) {
        eprintln!("{name}: reloads changing nothing...");
        if let Some(took) = metrics::reload_unchanged(&mut *daemon, plan.reload_tries)? {
            record.set(Metric::ReloadUnchanged, Cell::Time(took));
        }
    }
    Ok(())
}

/// No programs: the daemon's own memory.
fn empty_run(driver: &dyn Driver, _plan: &Plan, record: &mut Record) -> Result<()> {
    eprintln!("{}: starting with no programs...", driver.name());
    let (mut daemon, _, _) = metrics::start_until_running(driver, 0)?;
    std::thread::sleep(SETTLE);
    record.memory(Metric::Rss0, 0, &mut *daemon)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(only: &[Only]) -> Options {
        Options {
            quick: false,
            only: only.to_vec(),
            n: None,
            idle_secs: None,
            runs: None,
            build: true,
        }
    }

    #[test]
    fn defaults_run_everything() {
        let plan = Plan::new(&options(&[]));
        assert_eq!((plan.n, plan.idle.as_secs()), (1000, 30));
        assert_eq!(plan.columns.len(), 3);
        assert_eq!(plan.metrics.len(), 13);
        assert!(plan.capture);
    }

    #[test]
    fn only_combines_daemons_and_metrics() {
        let plan = Plan::new(&options(&[Only::Supervisord, Only::Memory]));
        assert_eq!(plan.columns, [Column::Supervisord]);
        assert_eq!(plan.metrics, [Metric::Rss0, Metric::Rss100, Metric::RssN]);
        assert_eq!(
            plan.selected(&[Metric::Startup, Metric::RssN]),
            [Metric::RssN]
        );
        assert!(!plan.capture);
    }

    #[test]
    fn only_capture_runs_no_table_metric() {
        let plan = Plan::new(&options(&[Only::Capture]));
        assert!(plan.capture && plan.metrics.is_empty());
        assert_eq!(plan.columns.len(), 3);
    }

    #[test]
    fn quick_is_smaller() {
        let mut quick = options(&[]);
        quick.quick = true;
        let plan = Plan::new(&quick);
        assert_eq!((plan.n, plan.idle.as_secs()), (200, 5));
    }
}
