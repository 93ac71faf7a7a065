//! Process names as supervisord shows them. A supervisord process is
//! `group:name` (or `name` when the group has its name); ours are `web`,
//! `web:3`, with a group beside them. The XML-RPC `name` of a process is
//! ours without its `group:` prefix, and any other `:` made `_`, so that
//! `web:3` (group `web`) stays `web:3` in supervisorctl and a program `api`
//! of group `backend` is `backend:api`, as supervisord would show them.

use crate::faults::{Fault, BAD_NAME};
use taskmaster_protocol::ProcessInfo;

/// One process, with its names in both worlds.
#[derive(Debug, Clone)]
pub struct Entry {
    /// supervisord's `name` (within the group).
    pub name: String,
    pub info: ProcessInfo,
}

/// supervisord's name (within its group) of our process `name`.
pub fn supervisor_name(name: &str, group: &str) -> String {
    let short = name
        .strip_prefix(group)
        .and_then(|rest| rest.strip_prefix(':'))
        .unwrap_or(name);
    short.replace(':', "_")
}

impl Entry {
    pub fn new(info: ProcessInfo) -> Entry {
        Entry {
            name: supervisor_name(&info.name, &info.group),
            info,
        }
    }

    /// `group:name`, or `name` when they are the same (supervisord's
    /// `make_namespec`).
    pub fn namespec(&self) -> String {
        if self.name == self.info.group {
            self.name.clone()
        } else {
            format!("{}:{}", self.info.group, self.name)
        }
    }
}

/// What a supervisord name designates.
#[derive(Debug)]
pub enum Found<'a> {
    /// `group:*` or `group:`.
    Group(&'a str),
    /// `group:name`, or `name` for a process of the group of its name.
    Process(&'a Entry),
}

/// Resolves `spec` as supervisord's `_getGroupAndProcess` does.
pub fn resolve<'a>(table: &'a [Entry], spec: &'a str) -> Result<Found<'a>, Fault> {
    let (group, process) = match spec.split_once(':') {
        Some((group, "" | "*")) => (group, None),
        Some((group, process)) => (group, Some(process)),
        None => (spec, Some(spec)),
    };
    let members: Vec<&Entry> = table.iter().filter(|e| e.info.group == group).collect();
    if members.is_empty() {
        return Err(Fault::new(BAD_NAME, spec));
    }
    match process {
        None => Ok(Found::Group(group)),
        Some(process) => members
            .into_iter()
            .find(|e| e.name == process)
            .map(Found::Process)
            .ok_or_else(|| Fault::new(BAD_NAME, spec)),
    }
}

/// Our name of one process: a group spec is refused.
pub fn one<'a>(table: &'a [Entry], spec: &'a str) -> Result<&'a Entry, Fault> {
    match resolve(table, spec)? {
        Found::Process(entry) => Ok(entry),
        Found::Group(_) => Err(Fault::new(BAD_NAME, spec)),
    }
}

/// The entry for one of our names.
pub fn by_ours<'a>(table: &'a [Entry], ours: &str) -> Option<&'a Entry> {
    table.iter().find(|e| e.info.name == ours)
}

#[cfg(test)]
mod tests {
    use super::*;
    use taskmaster_protocol::ProcessState;

    fn entry(name: &str, group: &str) -> Entry {
        Entry::new(ProcessInfo::new(
            name,
            name.split(':').next().unwrap(),
            group,
            ProcessState::Running,
        ))
    }

    fn table() -> Vec<Entry> {
        vec![
            entry("web", "web"),
            entry("worker:0", "worker"),
            entry("worker:1", "worker"),
            entry("api", "backend"),
            entry("cron:0", "backend"),
        ]
    }

    #[test]
    fn namespecs_read_as_supervisord_prints_them() {
        let specs: Vec<String> = table().iter().map(Entry::namespec).collect();
        assert_eq!(
            specs,
            [
                "web",
                "worker:0",
                "worker:1",
                "backend:api",
                "backend:cron_0"
            ]
        );
    }

    #[test]
    fn names_resolve_as_in_supervisord() {
        let table = table();
        let ours = |spec| match resolve(&table, spec).unwrap() {
            Found::Process(e) => vec![e.info.name.clone()],
            Found::Group(group) => table
                .iter()
                .filter(|e| e.info.group == group)
                .map(|e| e.info.name.clone())
                .collect(),
        };
        assert_eq!(ours("web"), ["web"]);
        assert_eq!(ours("web:web"), ["web"]);
        assert_eq!(ours("worker:1"), ["worker:1"]);
        assert_eq!(ours("worker:*"), ["worker:0", "worker:1"]);
        assert_eq!(ours("backend:cron_0"), ["cron:0"]);
        assert_eq!(ours("backend:"), ["api", "cron:0"]);
        for bad in ["worker", "api", "nope:*", "backend:cron:0", "web:x"] {
            let fault = resolve(&table, bad).unwrap_err();
            assert_eq!(fault.code, BAD_NAME, "{bad}");
        }
        assert_eq!(one(&table, "worker:*").unwrap_err().code, BAD_NAME);
    }
}
