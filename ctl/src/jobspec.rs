//! Job specs, as a shell has them for jobs: `%N`, `%+`/`%%`/`%`, `%-`,
//! `%PREFIX` and `%?TEXT` name one process by what `status` shows. Pure:
//! resolved here against a `status` reply, before the daemon sees the names.

use std::fmt;
use taskmaster_protocol::ProcessInfo;

/// How many candidates an error lists before it says "and N more".
const LISTED: usize = 10;

/// True for a name that is a job spec rather than a process spec.
pub fn is_job_spec(name: &str) -> bool {
    name.starts_with('%')
}

/// A job spec that names no process, or more than one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpecError {
    pub spec: String,
    pub problem: Problem,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// `%N` beyond the last line of `status` (or `%0`).
    NoLine { lines: usize },
    /// `%-` or `%+` when too few processes have changed state.
    NoChange,
    /// Nothing matches; `candidates` are the names that exist.
    NoMatch { candidates: Vec<String> },
    /// Several match; a job spec names exactly one process.
    Ambiguous { matches: Vec<String> },
    /// `%?` with no text after it.
    EmptySearch,
}

impl fmt::Display for JobSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = &self.spec;
        match &self.problem {
            Problem::NoLine { lines } => write!(
                f,
                "job spec '{spec}': status shows {lines} process{}; use %1 to %{lines}",
                if *lines == 1 { "" } else { "es" }
            ),
            Problem::NoChange => write!(
                f,
                "job spec '{spec}': not enough processes have changed state yet"
            ),
            Problem::NoMatch { candidates } if candidates.is_empty() => {
                write!(f, "job spec '{spec}' matches no process: there are none")
            }
            Problem::NoMatch { candidates } => write!(
                f,
                "job spec '{spec}' matches no process; the processes are: {}",
                listing(candidates)
            ),
            Problem::Ambiguous { matches } => write!(
                f,
                "job spec '{spec}' is ambiguous: it matches {}",
                listing(matches)
            ),
            Problem::EmptySearch => write!(f, "job spec '{spec}': say what to search for: %?TEXT"),
        }
    }
}

impl std::error::Error for JobSpecError {}

fn listing(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(LISTED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        text.push_str(&format!(" and {} more", names.len() - LISTED));
    }
    text
}

/// The process `spec` names among `processes`, in the order `status` lists them.
pub fn resolve<'a>(spec: &str, processes: &'a [ProcessInfo]) -> Result<&'a str, JobSpecError> {
    let error = |problem| JobSpecError {
        spec: spec.to_string(),
        problem,
    };
    let body = spec.strip_prefix('%').unwrap_or(spec);
    let found = match body {
        "" | "+" | "%" => by_change(processes, 0),
        "-" => by_change(processes, 1),
        _ if body.bytes().all(|b| b.is_ascii_digit()) => by_line(body, processes),
        _ => match body.strip_prefix('?') {
            Some("") => Err(Problem::EmptySearch),
            Some(text) => one_of(processes, |p| p.command.contains(text)),
            None => by_prefix(body, processes),
        },
    };
    found.map_err(error)
}

/// `%N`: the Nth line, counting from 1.
fn by_line<'a>(digits: &str, processes: &'a [ProcessInfo]) -> Result<&'a str, Problem> {
    let no_line = Problem::NoLine {
        lines: processes.len(),
    };
    // A number too large for usize is past the last line all the same.
    let n: usize = digits.parse().map_err(|_| no_line.clone())?;
    n.checked_sub(1)
        .and_then(|i| processes.get(i))
        .map(|p| p.name.as_str())
        .ok_or(no_line)
}

/// `%+` (rank 0) and `%-` (rank 1): the process whose last change is the most
/// recent, or the one before. Processes that never changed do not count.
fn by_change(processes: &[ProcessInfo], rank: usize) -> Result<&str, Problem> {
    let mut times: Vec<u64> = processes
        .iter()
        .map(|p| p.changed_ms)
        .filter(|&t| t > 0)
        .collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    times.dedup();
    let time = *times.get(rank).ok_or(Problem::NoChange)?;
    one_of(processes, |p| p.changed_ms == time)
}

/// `%PREFIX`: an exact name wins over longer names that start with it.
fn by_prefix<'a>(prefix: &str, processes: &'a [ProcessInfo]) -> Result<&'a str, Problem> {
    if let Some(exact) = processes.iter().find(|p| p.name == prefix) {
        return Ok(&exact.name);
    }
    one_of(processes, |p| p.name.starts_with(prefix))
}

fn one_of(
    processes: &[ProcessInfo],
    matches: impl Fn(&ProcessInfo) -> bool,
) -> Result<&str, Problem> {
    let found: Vec<&ProcessInfo> = processes.iter().filter(|p| matches(p)).collect();
    match found.as_slice() {
        [one] => Ok(&one.name),
        [] => Err(Problem::NoMatch {
            candidates: processes.iter().map(|p| p.name.clone()).collect(),
        }),
        many => Err(Problem::Ambiguous {
            matches: many.iter().map(|p| p.name.clone()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_protocol::ProcessState;

    fn process(name: &str, command: &str, changed_ms: u64) -> ProcessInfo {
        ProcessInfo {
            command: command.into(),
            changed_ms,
            ..ProcessInfo::new(
                name,
                name.split(':').next().unwrap_or(name),
                name,
                ProcessState::Running,
            )
        }
    }

    /// As `status` lists them; db changed last, web:1 before it.
    fn table() -> Vec<ProcessInfo> {
        vec![
            process("db", "/usr/bin/postgres -D /var/db", 3_000),
            process("web:0", "/usr/bin/gunicorn app:main", 1_000),
            process("web:1", "/usr/bin/gunicorn app:main", 2_000),
            process("webhook", "/usr/local/bin/hook --port 9000", 0),
        ]
    }

    fn ok(spec: &str) -> String {
        resolve(spec, &table())
            .unwrap_or_else(|e| panic!("{spec}: {e}"))
            .to_string()
    }

    fn problem(spec: &str) -> Problem {
        resolve(spec, &table())
            .map(|name| panic!("{spec} resolved to {name}"))
            .unwrap_err()
            .problem
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_percent_words_are_job_specs() {
        assert!(is_job_spec("%1"));
        assert!(is_job_spec("%"));
        assert!(!is_job_spec("web"));
        assert!(!is_job_spec("web:%1"));
    }

    #[test]
    fn line_numbers_count_from_one() {
        assert_eq!(ok("%1"), "db");
        assert_eq!(ok("%3"), "web:1");
        assert_eq!(ok("%4"), "webhook");
        assert_eq!(ok("%04"), "webhook");
    }

    #[test]
    fn line_numbers_out_of_range() {
        for spec in ["%0", "%5", "%99999999999999999999999"] {
            assert_eq!(problem(spec), Problem::NoLine { lines: 4 }, "{spec}");
        }
        let error = resolve("%5", &table()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "job spec '%5': status shows 4 processes; use %1 to %4"
        );
    }

    #[test]
    fn current_is_the_last_change_in_every_spelling() {
        for spec in ["%+", "%%", "%"] {
            assert_eq!(ok(spec), "db", "{spec}");
        }
        assert_eq!(ok("%-"), "web:1");
    }

    #[test]
    fn previous_needs_two_changes() {
        let one = [process("a", "x", 5), process("b", "y", 0)];
        assert_eq!(resolve("%+", &one).unwrap(), "a");
        assert_eq!(resolve("%-", &one).unwrap_err().problem, Problem::NoChange);
        let none = [process("a", "x", 0)];
        assert_eq!(resolve("%", &none).unwrap_err().problem, Problem::NoChange);
        assert_eq!(resolve("%+", &[]).unwrap_err().problem, Problem::NoChange);
    }

    #[test]
    fn simultaneous_changes_are_ambiguous() {
        let tied = [
            process("a", "x", 7),
            process("b", "y", 7),
            process("c", "z", 3),
        ];
        assert_eq!(
            resolve("%+", &tied).unwrap_err().problem,
            Problem::Ambiguous {
                matches: names(&["a", "b"])
            }
        );
        assert_eq!(resolve("%-", &tied).unwrap(), "c");
    }

    #[test]
    fn prefix_must_name_one_process() {
        assert_eq!(ok("%d"), "db");
        assert_eq!(ok("%webh"), "webhook");
        assert_eq!(ok("%web:1"), "web:1");
        assert_eq!(
            problem("%web:"),
            Problem::Ambiguous {
                matches: names(&["web:0", "web:1"])
            }
        );
        assert_eq!(
            problem("%we"),
            Problem::Ambiguous {
                matches: names(&["web:0", "web:1", "webhook"])
            }
        );
    }

    #[test]
    fn exact_name_wins_over_longer_prefixes() {
        let list = [process("web", "a", 0), process("webhook", "b", 0)];
        assert_eq!(resolve("%web", &list).unwrap(), "web");
        assert_eq!(resolve("%webh", &list).unwrap(), "webhook");
    }

    #[test]
    fn no_match_lists_what_exists() {
        assert_eq!(
            problem("%cron"),
            Problem::NoMatch {
                candidates: names(&["db", "web:0", "web:1", "webhook"])
            }
        );
        let error = resolve("%cron", &table()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "job spec '%cron' matches no process; the processes are: db, web:0, web:1, webhook"
        );
        assert_eq!(
            resolve("%cron", &[]).unwrap_err().to_string(),
            "job spec '%cron' matches no process: there are none"
        );
    }

    #[test]
    fn search_looks_in_the_command_line() {
        assert_eq!(ok("%?postgres"), "db");
        assert_eq!(ok("%?--port 9000"), "webhook");
        assert_eq!(
            problem("%?gunicorn"),
            Problem::Ambiguous {
                matches: names(&["web:0", "web:1"])
            }
        );
        assert!(matches!(problem("%?nginx"), Problem::NoMatch { .. }));
        assert_eq!(problem("%?"), Problem::EmptySearch);
    }

    #[test]
    fn search_is_not_a_prefix_and_a_prefix_is_not_a_search() {
        // "%?db" searches command lines, where "db" appears in /var/db only.
        assert_eq!(ok("%?db"), "db");
        // "%usr" is a name prefix: no name starts with "usr".
        assert!(matches!(problem("%usr"), Problem::NoMatch { .. }));
    }

    #[test]
    fn long_lists_are_cut() {
        let many: Vec<ProcessInfo> = (0..15)
            .map(|i| process(&format!("w:{i}"), "same", 0))
            .collect();
        let text = resolve("%?same", &many).unwrap_err().to_string();
        assert!(text.ends_with("w:9 and 5 more"), "{text}");
        assert!(text.starts_with("job spec '%?same' is ambiguous: it matches w:0, w:1,"));
    }
}

#[cfg(test)]
#[path = "jobspec_props.rs"]
mod props;
