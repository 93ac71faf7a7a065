//! CPU time and resident memory of process groups, from /proc, shared by
//! `taskmasterctl web` (/metrics) and `taskmasterctl top`. Each
//! program runs in a process group of its own (its pid is the group's
//! id), so its children's use counts as its own.

use std::collections::HashMap;
use std::fs;

/// What a process group uses, summed over its live members.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User plus system time, in seconds.
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
}

/// The fields of `/proc/PID/stat` we read: (process group, CPU ticks of
/// the process and of its reaped children, resident pages). The command name may hold spaces and
/// parentheses, so fields are counted from its last `)`.
pub fn parse_stat(stat: &str) -> Option<(i32, u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let pgrp = fields.get(2)?.parse().ok()?;
    // utime, stime, and the same of the children it has reaped: a shell
    // loop's short-lived commands count too, once they have ended.
    let mut ticks = 0u64;
    for field in 11..=14 {
        let value: i64 = fields.get(field)?.parse().ok()?;
        ticks += value.max(0) as u64;
    }
    let rss: i64 = fields.get(21)?.parse().ok()?;
    Some((pgrp, ticks, rss.max(0) as u64))
}

/// The usage of every process group in `groups`, in one pass over /proc.
pub fn sample(groups: &[i32]) -> HashMap<i32, Usage> {
    let mut usage: HashMap<i32, Usage> = groups.iter().map(|&g| (g, Usage::default())).collect();
    if usage.is_empty() {
        return usage;
    }
    let ticks = sysconf(nix::unistd::SysconfVar::CLK_TCK, 100) as f64;
    let page = sysconf(nix::unistd::SysconfVar::PAGE_SIZE, 4096);
    let Ok(entries) = fs::read_dir("/proc") else {
        return usage;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name
            .to_str()
            .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        {
            continue;
        }
        // A process may end between the listing and the read: skip it.
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((pgrp, cpu, rss)) = parse_stat(&stat) {
            if let Some(group) = usage.get_mut(&pgrp) {
                group.cpu_seconds += cpu as f64 / ticks;
                group.resident_bytes += rss * page;
            }
        }
    }
    usage
}

fn sysconf(var: nix::unistd::SysconfVar, fallback: u64) -> u64 {
    match nix::unistd::sysconf(var) {
        Ok(Some(value)) if value > 0 => value as u64,
        _ => fallback,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let stat = "4121 (my (odd) prog) S 1 4121 4121 0 -1 4194304 100 0 0 0 \
                    250 50 7 3 20 0 1 0 12345 10000000 300 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((4121, 310, 300)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn our_own_group_uses_memory() {
        let own = nix::unistd::getpgrp().as_raw();
        let usage = sample(&[own]);
        assert!(usage[&own].resident_bytes > 0, "{usage:?}");
    }
}
