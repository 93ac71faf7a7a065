//! Which processes a request names: `web` (a process, or every instance of
//! a program, or a group), `web:3`, `group:*` (or `program:*` when no group
//! has that name), `all`, or an explicit `target` with a `name`.

use taskmaster_protocol::Target;

/// What the resolver needs to know of one process.
pub trait Named {
    fn process_name(&self) -> &str;
    fn program_name(&self) -> &str;
    fn group_name(&self) -> &str;
}

/// One selected process: its index, and whether the request named it alone
/// (then "already started" and "not running" are reported as errors; a
/// process picked by a wildcard that has nothing to do is skipped quietly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    pub index: usize,
    pub explicit: bool,
}

/// A spec that names no process (the spec as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSuchProcess(pub String);

/// Resolves every spec; the first one that matches nothing is the error.
/// The result keeps the processes' order and has no duplicates.
pub fn resolve<P: Named>(
    processes: &[P],
    target: Option<Target>,
    specs: &[String],
) -> Result<Vec<Selected>, NoSuchProcess> {
    let mut chosen: Vec<Option<bool>> = vec![None; processes.len()];
    for spec in specs {
        let matches = matching(processes, target, spec);
        if matches.is_empty() {
            return Err(NoSuchProcess(spec.clone()));
        }
        let explicit = matches.len() == 1;
        for index in matches {
            let slot = &mut chosen[index];
            *slot = Some(slot.unwrap_or(false) || explicit);
        }
    }
    Ok(chosen
        .into_iter()
        .enumerate()
        .filter_map(|(index, explicit)| explicit.map(|explicit| Selected { index, explicit }))
        .collect())
}

fn matching<P: Named>(processes: &[P], target: Option<Target>, spec: &str) -> Vec<usize> {
    let select = |keep: &dyn Fn(&P) -> bool| -> Vec<usize> {
        processes
            .iter()
            .enumerate()
            .filter(|(_, p)| keep(p))
            .map(|(i, _)| i)
            .collect()
    };
    match target {
        Some(Target::All) => select(&|_| true),
        Some(Target::Program) => select(&|p| p.program_name() == spec),
        Some(Target::Process) => select(&|p| p.process_name() == spec),
        Some(Target::Group) => select(&|p| p.group_name() == spec),
        None if spec == "all" => select(&|_| true),
        None => {
            if let Some(prefix) = spec.strip_suffix(":*").or_else(|| spec.strip_suffix(':')) {
                let group = select(&|p| p.group_name() == prefix);
                if !group.is_empty() {
                    return group;
                }
                // A numprocs program's instances are `worker:0`, `worker:1`:
                // `worker:*` reads as all of them even when `worker` sits in
                // a group of another name, as `worker` alone does.
                return select(&|p| p.program_name() == prefix);
            }
            let exact = select(&|p| p.process_name() == spec);
            if !exact.is_empty() {
                return exact;
            }
            let program = select(&|p| p.program_name() == spec);
            if !program.is_empty() {
                return program;
            }
            select(&|p| p.group_name() == spec)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct P(&'static str, &'static str, &'static str);

    impl Named for P {
        fn process_name(&self) -> &str {
            self.0
        }
        fn program_name(&self) -> &str {
            self.1
        }
        fn group_name(&self) -> &str {
            self.2
        }
    }

    const PROCS: [P; 4] = [
        P("db", "db", "db"),
        P("web:0", "web", "front"),
        P("web:1", "web", "front"),
        P("cache", "cache", "front"),
    ];

    fn names(specs: &[&str]) -> Result<Vec<(usize, bool)>, String> {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        resolve(&PROCS, None, &specs)
            .map(|v| v.into_iter().map(|s| (s.index, s.explicit)).collect())
            .map_err(|NoSuchProcess(spec)| spec)
    }

    #[test]
    fn process_program_group_and_all() {
        assert_eq!(names(&["db"]), Ok(vec![(0, true)]));
        assert_eq!(names(&["web:1"]), Ok(vec![(2, true)]));
        assert_eq!(names(&["web"]), Ok(vec![(1, false), (2, false)]));
        assert_eq!(
            names(&["front:*"]),
            Ok(vec![(1, false), (2, false), (3, false)])
        );
        assert_eq!(
            names(&["front"]),
            Ok(vec![(1, false), (2, false), (3, false)])
        );
        assert_eq!(names(&["all"]).unwrap().len(), 4);
    }

    #[test]
    fn program_star_names_a_grouped_programs_instances() {
        assert_eq!(names(&["web:*"]), Ok(vec![(1, false), (2, false)]));
        assert_eq!(names(&["web:"]), names(&["web"]));
        assert_eq!(names(&["db:*"]), Ok(vec![(0, true)]), "db is its own group");
    }

    #[test]
    fn duplicates_merge_and_explicit_wins() {
        assert_eq!(names(&["web", "web:0"]), Ok(vec![(1, true), (2, false)]));
    }

    #[test]
    fn unknown_name_is_reported() {
        assert_eq!(names(&["db", "nope"]), Err("nope".to_string()));
        assert_eq!(names(&["nope:*"]), Err("nope:*".to_string()));
    }

    #[test]
    fn explicit_targets() {
        let one = |t, s: &str| resolve(&PROCS, Some(t), &[s.to_string()]).map(|v| v.len());
        assert_eq!(one(Target::Program, "web"), Ok(2));
        assert_eq!(
            one(Target::Process, "web"),
            Err(NoSuchProcess("web".to_string()))
        );
        assert_eq!(one(Target::Group, "front"), Ok(3));
        assert_eq!(one(Target::All, ""), Ok(4));
    }
}
