//! The dependency rules, pure: which programs a program waits for, which
//! programs a stop takes down with it, and whether a waiting process may
//! start now. The order of stops (dependents first) is the config crate's
//! `StopLevel`, shared with taskmasterd.

use std::collections::{BTreeMap, BTreeSet};
use taskmaster_config::Config;
use taskmaster_protocol::ProcessState;

/// `depends_on` of every program, its groups expanded.
#[derive(Debug, Default, Clone)]
pub struct Graph {
    needs: BTreeMap<String, Vec<String>>,
}

/// Whether a waiting process may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Not yet: `on` says which dependency and its state ("db is STARTING").
    /// `stuck` when nothing under way will change that (a FATAL or stopped
    /// dependency): the request that asked for the start is answered.
    Wait {
        on: String,
        stuck: bool,
    },
}

/// One process of a dependency, as [`Graph::gate`] reads it.
pub struct DepState<'a> {
    pub name: &'a str,
    pub state: ProcessState,
    /// It is itself waiting for its own dependencies.
    pub waiting: bool,
}

impl Graph {
    pub fn new(config: &Config) -> Graph {
        let needs = config
            .programs
            .values()
            .map(|program| (program.name.clone(), config.dependencies(program)))
            .filter(|(_, needs)| !needs.is_empty())
            .collect();
        Graph { needs }
    }

    /// The programs `program` depends on directly.
    pub fn needs(&self, program: &str) -> &[String] {
        self.needs.get(program).map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.needs.is_empty()
    }

    /// `programs` and every program that depends on one of them, directly
    /// or not.
    pub fn with_dependents(&self, programs: &BTreeSet<String>) -> BTreeSet<String> {
        let mut all = programs.clone();
        loop {
            let more: Vec<String> = self
                .needs
                .iter()
                .filter(|(program, needs)| {
                    !all.contains(*program) && needs.iter().any(|n| all.contains(n))
                })
                .map(|(program, _)| program.clone())
                .collect();
            if more.is_empty() {
                return all;
            }
            all.extend(more);
        }
    }

    /// Whether a process of a program whose dependencies' processes are
    /// `deps` may start: only when every one is RUNNING.
    pub fn gate<'a>(deps: impl IntoIterator<Item = DepState<'a>>) -> Gate {
        let mut first_wait = None;
        for dep in deps {
            if dep.state == ProcessState::Running {
                continue;
            }
            let stuck = dep.state == ProcessState::Fatal
                || (!dep.state.is_alive() && dep.state != ProcessState::Backoff && !dep.waiting);
            let on = format!("{} is {}", dep.name, dep.state);
            if stuck {
                return Gate::Wait { on, stuck };
            }
            first_wait.get_or_insert(Gate::Wait { on, stuck });
        }
        first_wait.unwrap_or(Gate::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProcessState::*;

    fn graph(edges: &[(&str, &[&str])]) -> Graph {
        Graph {
            needs: edges
                .iter()
                .map(|(p, needs)| (p.to_string(), needs.iter().map(|n| n.to_string()).collect()))
                .collect(),
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_stop_takes_down_every_dependent() {
        let g = graph(&[
            ("worker", &["api"]),
            ("api", &["db"]),
            ("other", &["cache"]),
        ]);
        assert_eq!(
            g.with_dependents(&set(&["db"])),
            set(&["api", "db", "worker"])
        );
        assert_eq!(g.with_dependents(&set(&["worker"])), set(&["worker"]));
    }

    fn dep(name: &str, state: ProcessState) -> DepState<'_> {
        DepState {
            name,
            state,
            waiting: false,
        }
    }

    #[test]
    fn the_gate_opens_when_every_dependency_runs() {
        assert_eq!(
            Graph::gate([dep("db", Running), dep("cache", Running)]),
            Gate::Open
        );
        assert_eq!(
            Graph::gate([dep("db", Running), dep("cache", Starting)]),
            Gate::Wait {
                on: "cache is STARTING".into(),
                stuck: false
            }
        );
        assert_eq!(
            Graph::gate([dep("db", Backoff)]),
            Gate::Wait {
                on: "db is BACKOFF".into(),
                stuck: false
            }
        );
    }

    #[test]
    fn a_fatal_or_stopped_dependency_is_stuck_unless_it_waits_itself() {
        assert_eq!(
            Graph::gate([dep("cache", Starting), dep("db", Fatal)]),
            Gate::Wait {
                on: "db is FATAL".into(),
                stuck: true
            }
        );
        assert_eq!(
            Graph::gate([dep("db", Stopped)]),
            Gate::Wait {
                on: "db is STOPPED".into(),
                stuck: true
            }
        );
        let waiting = DepState {
            name: "api",
            state: Stopped,
            waiting: true,
        };
        assert_eq!(
            Graph::gate([waiting]),
            Gate::Wait {
                on: "api is STOPPED".into(),
                stuck: false
            }
        );
    }
}
