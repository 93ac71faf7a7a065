//! The measurements, written once against the [`Daemon`] trait so that
//! every supervisor is measured the same way.

use super::daemon::{program_name, Daemon, Driver};
use super::procfs;
use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Longest wait for all programs to be RUNNING (supervisord needs seconds).
const START_DEADLINE: Duration = Duration::from_secs(180);
/// Longest wait for one restart or one shutdown.
const STEP_DEADLINE: Duration = Duration::from_secs(60);
/// The pause between two readiness polls. A pause proportional to the
/// last poll's duration would be wrong: a poll that waited while the daemon
/// was busy spawning says nothing about what polls cost it.
pub const POLL_PAUSE: Duration = Duration::from_millis(1);

/// How the readiness poll went, for the notes under the table.
#[derive(Debug, Clone, Copy, Default)]
pub struct PollStats {
    pub polls: u32,
    pub busy: Duration,
}

impl PollStats {
    pub fn mean(&self) -> Duration {
        self.busy / self.polls.max(1)
    }
}

pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    match samples.len() {
        0 => Duration::ZERO,
        len if len % 2 == 1 => samples[len / 2],
        len => (samples[len / 2 - 1] + samples[len / 2]) / 2,
    }
}

/// Starts the daemon with `n` programs and waits until it reports all of
/// them RUNNING; the time counts from just before the daemon is spawned.
///
/// A full status of 1000 processes costs the daemon milliseconds to build,
/// so polling it every millisecond would slow the start it measures. The
/// poll first asks for the last program alone (programs start in name
/// order), and only once that one runs for the full status.
pub fn start_until_running(
    driver: &dyn Driver,
    n: usize,
) -> Result<(Box<dyn Daemon>, Duration, PollStats)> {
    let start = Instant::now();
    let mut daemon = driver.start(n)?;
    let mut stats = PollStats::default();
    let mut poll = |daemon: &mut dyn Daemon, full: bool| -> Result<bool> {
        if start.elapsed() > START_DEADLINE {
            bail!(
                "not all {n} programs of {} are RUNNING after {START_DEADLINE:?}",
                driver.name()
            );
        }
        let began = Instant::now();
        let done = match n.checked_sub(1) {
            Some(last) if !full => daemon.running_pid(&program_name(last))?.is_some(),
            _ => daemon.count_running()? == Some(n),
        };
        stats.polls += 1;
        stats.busy += began.elapsed();
        if !done {
            sleep(POLL_PAUSE);
        }
        Ok(done)
    };
    while !poll(&mut *daemon, false)? {}
    while !poll(&mut *daemon, true)? {}
    Ok((daemon, start.elapsed(), stats))
}

/// The median and the worst of several runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spread {
    pub median: Duration,
    pub worst: Duration,
}

impl Spread {
    pub fn of(samples: Vec<Duration>) -> Spread {
        let worst = samples.iter().copied().max().unwrap_or_default();
        Spread {
            median: median(samples),
            worst,
        }
    }
}

/// Wall time of `runs` runs of the daemon's status command, for process
/// `name` or every process.
pub fn cli_status(daemon: &mut dyn Daemon, name: Option<&str>, runs: usize) -> Result<Spread> {
    command_runs(
        || daemon.status_command(name),
        runs,
        |status| status.success(),
    )
}

/// Wall time of `runs` runs of a command, from spawning it to its exit
/// with its output read through pipes. `ok` judges the exit status
/// (`status` exits 3 when a process is not RUNNING).
pub fn command_runs(
    make: impl Fn() -> Command,
    runs: usize,
    ok: impl Fn(std::process::ExitStatus) -> bool,
) -> Result<Spread> {
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let mut command = make();
        let start = Instant::now();
        let out = command
            .output()
            .with_context(|| format!("running {command:?}"))?;
        samples.push(start.elapsed());
        if !ok(out.status) {
            bail!(
                "{command:?} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
    Ok(Spread::of(samples))
}

/// Resident memory of each of the daemon's processes, with its name.
pub fn rss(daemon: &mut dyn Daemon) -> Result<Vec<(String, u64)>> {
    daemon
        .daemon_pids()?
        .into_iter()
        .map(|pid| Ok((procfs::program_name(pid)?, procfs::rss_bytes(pid)?)))
        .collect()
}

/// What the daemon did while nothing happened for `window`.
#[derive(Debug, Clone, Copy)]
pub struct Idle {
    pub wakeups: u64,
    pub cpu: Duration,
}

pub fn idle(daemon: &mut dyn Daemon, window: Duration) -> Result<Idle> {
    let pids = daemon.daemon_pids()?;
    let sample = |pids: &[i32]| -> Result<Vec<(HashMap<i32, u64>, u64)>> {
        pids.iter()
            .map(|&pid| Ok((procfs::thread_switches(pid)?, procfs::stat(pid)?.cpu_ticks)))
            .collect()
    };
    let before = sample(&pids)?;
    sleep(window);
    let after = sample(&pids).context("a daemon process ended during the idle window")?;
    let mut result = Idle {
        wakeups: 0,
        cpu: Duration::ZERO,
    };
    let tick = Duration::from_secs(1) / procfs::clock_ticks_per_sec() as u32;
    for ((switches0, cpu0), (switches1, cpu1)) in before.iter().zip(&after) {
        result.wakeups += procfs::wakeups_between(switches0, switches1);
        result.cpu += tick * cpu1.saturating_sub(*cpu0) as u32;
    }
    Ok(result)
}

/// Median time from `kill -9` of a RUNNING program to the daemon reporting
/// it RUNNING with a new pid, over `tries` programs.
///
/// Until the new process exists we watch /proc rather than ask the daemon:
/// a request wakes supervisord's 1 s loop and would hide its real latency.
/// From then on the daemon's status is polled without pause.
pub fn restart(daemon: &mut dyn Daemon, tries: usize, programs: usize) -> Result<Duration> {
    let mut samples = Vec::with_capacity(tries);
    for i in 0..tries {
        let name = program_name(i % programs.max(1));
        samples.push(restart_once(daemon, &name)?);
    }
    Ok(median(samples))
}

fn restart_once(daemon: &mut dyn Daemon, name: &str) -> Result<Duration> {
    let old = wait_running_pid(daemon, name, None)?;
    let spawner = daemon.process().pid();
    let before: HashSet<i32> = procfs::children(spawner).into_iter().map(|c| c.0).collect();
    let start = Instant::now();
    kill(Pid::from_raw(old), Signal::SIGKILL).with_context(|| format!("killing {name}"))?;
    while procfs::children(spawner)
        .iter()
        .all(|(pid, _)| before.contains(pid))
    {
        if start.elapsed() > STEP_DEADLINE {
            bail!("{name} was not restarted within {STEP_DEADLINE:?} of kill -9");
        }
        daemon.process().check_alive()?;
        sleep(Duration::from_micros(100));
    }
    wait_running_pid(daemon, name, Some(old))?;
    Ok(start.elapsed())
}

/// Polls without pause until `name` is RUNNING with a pid other than `old`.
fn wait_running_pid(daemon: &mut dyn Daemon, name: &str, old: Option<i32>) -> Result<i32> {
    let start = Instant::now();
    loop {
        match daemon.running_pid(name)? {
            Some(pid) if Some(pid) != old => return Ok(pid),
            _ if start.elapsed() > STEP_DEADLINE => {
                bail!("{name} is not RUNNING with a new pid after {STEP_DEADLINE:?}")
            }
            _ => {}
        }
    }
}

/// Median time from saving a config that changes one program's argument
/// to the daemon reporting that program RUNNING with a new pid, over
/// `tries` programs from the middle of the `programs`. Fails if any other
/// program's pid changed.
///
/// As for [`restart`], /proc is watched until the new process exists, so
/// that polling does not compete with the reload it measures.
pub fn reload_change(daemon: &mut dyn Daemon, tries: usize, programs: usize) -> Result<Duration> {
    let mut samples = Vec::with_capacity(tries);
    for i in 0..tries {
        let name = program_name((programs / 2 + i) % programs.max(1));
        let arg = (2_000_000 + i).to_string();
        samples.push(reload_change_once(daemon, &name, &arg)?);
    }
    Ok(median(samples))
}

fn reload_change_once(daemon: &mut dyn Daemon, name: &str, arg: &str) -> Result<Duration> {
    let old = wait_running_pid(daemon, name, None)?;
    let before = daemon.pids()?;
    let spawner = daemon.process().pid();
    let children: HashSet<i32> = procfs::children(spawner).into_iter().map(|c| c.0).collect();
    let start = Instant::now();
    daemon.change_args(name, arg)?;
    while procfs::children(spawner)
        .iter()
        .all(|(pid, _)| children.contains(pid))
    {
        if start.elapsed() > STEP_DEADLINE {
            bail!("{name} was not restarted within {STEP_DEADLINE:?} of saving its new args");
        }
        daemon.process().check_alive()?;
        sleep(Duration::from_micros(100));
    }
    wait_running_pid(daemon, name, Some(old))?;
    let took = start.elapsed();
    check_untouched(&before, &daemon.pids()?, Some(name))?;
    Ok(took)
}

/// Median round trip of `tries` reloads of the unchanged config; `None`
/// when the daemon has no such request. Fails if any pid changed.
pub fn reload_unchanged(daemon: &mut dyn Daemon, tries: usize) -> Result<Option<Duration>> {
    let before = daemon.pids()?;
    let mut samples = Vec::with_capacity(tries);
    for _ in 0..tries {
        match daemon.reload_unchanged()? {
            Some(took) => samples.push(took),
            None => return Ok(None),
        }
    }
    check_untouched(&before, &daemon.pids()?, None)?;
    Ok(Some(median(samples)))
}

/// An error naming the programs, other than `changed`, whose pid is not
/// the one it had `before`.
fn check_untouched(
    before: &HashMap<String, i32>,
    after: &HashMap<String, i32>,
    changed: Option<&str>,
) -> Result<()> {
    let mut moved: Vec<&str> = before
        .iter()
        .filter(|(name, pid)| Some(name.as_str()) != changed && after.get(*name) != Some(pid))
        .map(|(name, _)| name.as_str())
        .collect();
    if moved.is_empty() {
        return Ok(());
    }
    moved.sort_unstable();
    bail!(
        "the reload touched {} other programs (pid changed or gone): {}",
        moved.len(),
        moved
            .iter()
            .take(10)
            .copied()
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// SIGTERM to the daemon → it has exited. Programs it left running are
/// killed and counted.
pub fn shutdown(daemon: &mut dyn Daemon) -> Result<(Duration, usize)> {
    let took = daemon.process().terminate(STEP_DEADLINE)?;
    Ok((took, daemon.process().kill_leftovers()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untouched_ignores_the_changed_program_only() {
        let map = |pairs: &[(&str, i32)]| -> HashMap<String, i32> {
            pairs.iter().map(|(n, p)| (n.to_string(), *p)).collect()
        };
        let before = map(&[("a", 1), ("b", 2), ("c", 3)]);
        assert!(check_untouched(&before, &map(&[("a", 9), ("b", 2), ("c", 3)]), Some("a")).is_ok());
        let error = check_untouched(&before, &map(&[("a", 9), ("c", 4)]), Some("a"))
            .expect_err("b and c moved");
        assert!(error.to_string().contains("2 other programs"), "{error}");
        assert!(error.to_string().ends_with("b, c"), "{error}");
        assert!(check_untouched(&before, &map(&[("a", 9), ("b", 2), ("c", 3)]), None).is_err());
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        let ms = Duration::from_millis;
        assert_eq!(median(vec![ms(5), ms(1), ms(3)]), ms(3));
        assert_eq!(median(vec![ms(4), ms(1), ms(2), ms(100)]), ms(3));
        assert_eq!(median(Vec::new()), Duration::ZERO);
        let spread = Spread::of(vec![ms(4), ms(1), ms(9)]);
        assert_eq!((spread.median, spread.worst), (ms(4), ms(9)));
    }
}
