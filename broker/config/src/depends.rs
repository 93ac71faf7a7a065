//! `depends_on` checked against the whole config: every name is a program
//! or a group, no program depends on itself, and the dependencies form no
//! cycle. Runs once every file is read, since a dependency may be defined
//! in another file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::values::did_you_mean;
use super::{Config, ConfigError, Group, Program};

/// Where a program's `depends_on` is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: PathBuf,
    pub line: usize,
}

impl Config {
    /// The programs `program` depends on, its groups expanded, sorted.
    pub fn dependencies(&self, program: &Program) -> Vec<String> {
        expand(&program.readiness.depends_on, &self.groups)
            .into_iter()
            .collect()
    }
}

/// The program names `names` stand for: a group stands for its programs.
fn expand(names: &[String], groups: &BTreeMap<String, Group>) -> BTreeSet<String> {
    names
        .iter()
        .flat_map(|name| match groups.get(name) {
            Some(group) if !(group.programs.len() == 1 && group.programs[0] == *name) => {
                group.programs.clone()
            }
            _ => vec![name.clone()],
        })
        .collect()
}

/// Every problem of `depends_on` in `programs`.
pub(super) fn check(
    programs: &BTreeMap<String, Arc<Program>>,
    groups: &BTreeMap<String, Group>,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let error = |program: &Program, message: String| {
        let place = program.readiness.depends_place.clone().unwrap_or(Place {
            file: PathBuf::new(),
            line: 0,
        });
        ConfigError {
            file: place.file,
            line: place.line,
            key: format!("programs.{}.depends_on", program.name),
            message,
        }
    };
    let mut graph: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for program in programs.values() {
        let mut valid = Vec::new();
        for name in &program.readiness.depends_on {
            let known = programs.contains_key(name) || groups.contains_key(name);
            if !known {
                let candidates = programs.keys().chain(groups.keys()).map(String::as_str);
                let hint = did_you_mean(name, candidates, ("'", "'"));
                let message = format!("no program or group '{name}'{hint}");
                errors.push(error(program, message));
            } else if expand(std::slice::from_ref(name), groups).contains(&program.name) {
                let message = if *name == program.name {
                    format!("'{name}' depends on itself; remove it from depends_on")
                } else {
                    format!(
                        "'{}' depends on group '{name}', which holds '{}' itself; name the \
                         other programs of the group instead",
                        program.name, program.name
                    )
                };
                errors.push(error(program, message));
            } else {
                valid.push(name.clone());
            }
        }
        graph.insert(&program.name, expand(&valid, groups));
    }
    for cycle in cycles(&graph) {
        let first = &programs[&cycle[0]];
        let places: Vec<String> = cycle
            .iter()
            .map(|name| {
                let place = programs[name].readiness.depends_place.as_ref();
                let at = place.map_or(String::new(), |p| {
                    format!(" ({}:{})", p.file.display(), p.line)
                });
                format!("{name}{at}")
            })
            .collect();
        let message = format!(
            "depends_on makes a cycle: {} -> {}; remove one of these dependencies",
            places.join(" -> "),
            cycle[0]
        );
        errors.push(error(first, message));
    }
    errors
}

/// The cycles of `graph`, each once, as the programs on it from the
/// smallest name.
fn cycles(graph: &BTreeMap<&str, BTreeSet<String>>) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<&str, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        marks.insert(node.to_owned(), Mark::Open);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next.as_str()) {
                Some(Mark::Open) => {
                    let start = path.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    let smallest = (0..cycle.len()).min_by_key(|&i| &cycle[i]).unwrap_or(0);
                    cycle.rotate_left(smallest);
                    if !found.contains(&cycle) {
                        found.push(cycle);
                    }
                }
                Some(Mark::Done) => {}
                None => visit(next, graph, marks, path, found),
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut found = Vec::new();
    for node in graph.keys() {
        if !marks.contains_key(*node) {
            visit(node, graph, &mut marks, &mut Vec::new(), &mut found);
        }
    }
    found
}
