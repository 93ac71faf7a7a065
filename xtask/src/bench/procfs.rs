//! What the bench reads from /proc: memory, context switches, CPU time,
//! children of a process, and the processes a run left behind.

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{sysconf, Pid, SysconfVar};
use std::collections::HashMap;
use std::fs;

/// The fields of /proc/PID/stat that the bench uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    /// R, S, Z...
    pub state: char,
    pub ppid: i32,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
}

/// Parses /proc/PID/stat. `comm` may hold spaces and parentheses, so the
/// fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    // After the comm: state is field 3 of the man page, so field k is fields[k - 3].
    let field = |k: usize| fields.get(k - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        comm,
        state: fields.first()?.chars().next()?,
        ppid: i32::try_from(field(4)?).ok()?,
        cpu_ticks: field(14)? + field(15)?,
    })
}

pub fn stat(pid: i32) -> Result<Stat> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_stat(&text).with_context(|| format!("unexpected format of {path}"))
}

/// The program name of a process: the file name of its argv[0], which
/// unlike comm is not cut to 15 bytes.
pub fn program_name(pid: i32) -> Result<String> {
    let path = format!("/proc/{pid}/cmdline");
    let cmdline = fs::read(&path).with_context(|| format!("reading {path}"))?;
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    let argv0 = String::from_utf8_lossy(argv0);
    Ok(argv0.rsplit('/').next().unwrap_or_default().to_string())
}

/// The value of one `Key:   value kB` line of a /proc status file.
fn status_field(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}

/// Resident memory of one process, in bytes.
pub fn rss_bytes(pid: i32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib = status_field(&text, "VmRSS").with_context(|| format!("no VmRSS in {path}"))?;
    Ok(kib * 1024)
}

/// Voluntary + involuntary context switches of each thread of `pid`, by tid.
pub fn thread_switches(pid: i32) -> Result<HashMap<i32, u64>> {
    let dir = format!("/proc/{pid}/task");
    let mut switches = HashMap::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("listing {dir}"))? {
        let entry = entry.with_context(|| format!("listing {dir}"))?;
        let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // A thread may end between the listing and the read: it simply is not counted here.
        let Ok(text) = fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let count = status_field(&text, "voluntary_ctxt_switches").unwrap_or(0)
            + status_field(&text, "nonvoluntary_ctxt_switches").unwrap_or(0);
        switches.insert(tid, count);
    }
    Ok(switches)
}

/// Wake-ups between two samples of [`thread_switches`]: the growth of each
/// thread's count, a new thread's whole count, and one for each thread that
/// ended (its exit needed at least one wake-up).
pub fn wakeups_between(before: &HashMap<i32, u64>, after: &HashMap<i32, u64>) -> u64 {
    let grown: u64 = after
        .iter()
        .map(|(tid, &n)| n.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    let ended = before.keys().filter(|tid| !after.contains_key(tid)).count();
    grown + ended as u64
}

pub fn clock_ticks_per_sec() -> u64 {
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(ticks)) if ticks > 0 => ticks as u64,
        _ => 100,
    }
}

/// Every pid in /proc, in no particular order.
fn all_pids() -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// The children of `parent` (processes whose ppid it is), with their comm.
pub fn children(parent: i32) -> Vec<(i32, String)> {
    children_stats(parent)
        .into_iter()
        .map(|(pid, stat)| (pid, stat.comm))
        .collect()
}

pub fn children_stats(parent: i32) -> Vec<(i32, Stat)> {
    all_pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = stat(pid).ok()?;
            (stat.ppid == parent).then_some((pid, stat))
        })
        .collect()
}

/// Processes whose environment holds exactly `entry` (`KEY=value`).
pub fn processes_with_env(entry: &str) -> Vec<i32> {
    let needle = entry.as_bytes();
    all_pids()
        .into_iter()
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|var| var == needle))
                .unwrap_or(false)
        })
        .collect()
}

/// SIGKILLs every process whose environment holds `entry`; returns how many.
pub fn kill_marked(entry: &str) -> usize {
    let me = std::process::id() as i32;
    let pids: Vec<i32> = processes_with_env(entry)
        .into_iter()
        .filter(|&pid| pid != me)
        .collect();
    for &pid in &pids {
        // Already gone is fine: that is what we want.
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    pids.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_odd_comm() {
        let line = "4121 (my (odd) prog) S 77 4121 4121 0 -1 4194560 \
                    100 0 0 0 12 5 0 0 20 0 1 0 123 4096 300";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.comm, "my (odd) prog");
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.ppid, 77);
        assert_eq!(stat.cpu_ticks, 17);
    }

    #[test]
    fn own_process_is_readable() {
        let me = std::process::id() as i32;
        assert!(rss_bytes(me).unwrap() > 0);
        let exe = std::env::current_exe().unwrap();
        let exe_name = exe.file_name().unwrap().to_string_lossy();
        assert_eq!(program_name(me).unwrap(), exe_name);
        assert!(thread_switches(me).unwrap().contains_key(&me));
        assert_eq!(stat(me).unwrap().ppid, nix::unistd::getppid().as_raw());
    }

    #[test]
    fn wakeups_count_growth_new_and_ended_threads() {
        let before = HashMap::from([(1, 10), (2, 5), (3, 7)]);
        let after = HashMap::from([(1, 12), (2, 5), (4, 3)]);
        assert_eq!(wakeups_between(&before, &after), 2 + 3 + 1);
    }

    #[test]
    fn marked_processes_are_found_and_killed() {
        let marker = format!("TM_BENCH_TEST={}", std::process::id());
        let (key, value) = marker.split_once('=').unwrap();
        // Not `sleep`: the bare loop's test counts sleeps.
        let mut child = std::process::Command::new("tail")
            .args(["-f", "/dev/null"])
            .env(key, value)
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        // exec replaces the environment only once the child runs sleep.
        while !processes_with_env(&marker).contains(&pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "marked child not found"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(kill_marked(&marker), 1);
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9)
        );
    }
}
