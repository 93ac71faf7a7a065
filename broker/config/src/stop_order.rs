//! The order of a shutdown, in one place for the broker (which stops the
//! programs in it) and taskmasterd (which tells systemd how long that may
//! take), so that the two cannot disagree: dependents first, deepest in
//! `depends_on`, then by start order, highest first; one level at a time.

use super::{Config, Program};
use std::collections::BTreeMap;
use std::time::Duration;

/// Where a program stands in a shutdown. Levels stop from the greatest
/// down; the programs of one level stop together, and the next level
/// begins once they have all stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StopLevel {
    /// The longest chain of `depends_on` below the program: 0 for one that
    /// depends on nothing.
    pub depth: usize,
    /// The start order: the group's priority, then the program's.
    pub order: (i32, i32),
}

impl Config {
    /// The start order of `program`: its group's priority (its own when no
    /// group lists it), then its own.
    pub fn start_order(&self, program: &Program) -> (i32, i32) {
        let group = self.group_of(&program.name).map(|g| g.priority);
        (group.unwrap_or(program.priority), program.priority)
    }

    /// The length of the longest chain of dependencies below the program
    /// named `program`: 0 for one that depends on nothing or that this
    /// config does not define.
    pub fn dependency_depth(&self, program: &str) -> usize {
        // The config refuses cycles; the bound keeps a bug from looping.
        fn walk(config: &Config, program: &str, budget: usize) -> usize {
            let Some(program) = config.programs.get(program).filter(|_| budget > 0) else {
                return 0;
            };
            config
                .dependencies(program)
                .iter()
                .map(|dep| 1 + walk(config, dep, budget - 1))
                .max()
                .unwrap_or(0)
        }
        walk(self, program, self.programs.len())
    }

    pub fn stop_level(&self, program: &Program) -> StopLevel {
        StopLevel {
            depth: self.dependency_depth(&program.name),
            order: self.start_order(program),
        }
    }

    /// The longest the programs' stops take in a shutdown: the levels one
    /// after another, each as long as its slowest `stopwaitsecs` before
    /// SIGKILL.
    pub fn stop_time(&self) -> Duration {
        let mut slowest: BTreeMap<StopLevel, Duration> = BTreeMap::new();
        for program in self.programs.values() {
            let wait = slowest.entry(self.stop_level(program)).or_default();
            *wait = (*wait).max(program.stopwaitsecs);
        }
        slowest.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_str;
    use std::path::Path;
    use std::time::Duration;

    fn config(text: &str) -> crate::Config {
        parse_str(text, Path::new("t.toml")).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn depth_follows_the_longest_chain_and_groups() {
        let c = config(
            r#"
[programs.worker]
command = "/bin/true"
depends_on = ["api"]
[programs.api]
command = "/bin/true"
depends_on = ["backends"]
[programs.db]
command = "/bin/true"
[programs.cache]
command = "/bin/true"
depends_on = ["db"]
[groups.backends]
programs = ["db", "cache"]
"#,
        );
        let depth = |p: &str| c.dependency_depth(p);
        assert_eq!(
            ["db", "cache", "api", "worker", "nosuch"].map(depth),
            [0, 1, 2, 3, 0]
        );
    }

    #[test]
    fn a_shutdown_takes_the_slowest_of_each_level_one_level_after_another() {
        // Same priority: without depends_on one level (30 s); with it, api
        // stops before db, so their waits add up.
        let c = config(
            r#"
[programs.api]
command = "/bin/true"
depends_on = ["db"]
stopwaitsecs = 30
[programs.db]
command = "/bin/true"
stopwaitsecs = 5
[programs.cron]
command = "/bin/true"
stopwaitsecs = 7
[programs.late]
command = "/bin/true"
priority = 1
stopwaitsecs = 2
"#,
        );
        let level = |p: &str| c.stop_level(&c.programs[p]);
        assert!(level("api") > level("db"), "api stops first");
        assert_eq!(level("db"), level("cron"), "db and cron stop together");
        assert!(level("cron") > level("late"), "priority 1 stops last");
        assert_eq!(c.stop_time(), Duration::from_secs(30 + 7 + 2));
        assert_eq!(config("").stop_time(), Duration::ZERO);
    }

    #[test]
    fn a_group_priority_orders_its_programs_before_their_own() {
        let c = config(
            r#"
[programs.a]
command = "/bin/true"
priority = 5
[programs.b]
command = "/bin/true"
priority = 900
[groups.g]
programs = ["a"]
priority = 950
"#,
        );
        assert_eq!(c.start_order(&c.programs["a"]), (950, 5));
        assert_eq!(c.start_order(&c.programs["b"]), (900, 900));
    }
}
