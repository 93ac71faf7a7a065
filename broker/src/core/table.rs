//! The processes the core owns and the indexes over them: by name (of the
//! processes in the config, not the retired ones), by pid (those running),
//! and by spawn request (those taskmasterd has not answered yet). One type
//! keeps them in step: every change that moves an index goes through it.

use crate::proc::Proc;
use std::collections::HashMap;
use std::ops::{Index, IndexMut};

pub struct ProcessTable {
    procs: Vec<Proc>,
    by_name: HashMap<String, usize>,
    by_pid: HashMap<i32, usize>,
    spawns: HashMap<u64, usize>,
}

impl ProcessTable {
    pub fn new(procs: Vec<Proc>) -> ProcessTable {
        let by_name = procs
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        ProcessTable {
            procs,
            by_name,
            by_pid: HashMap::new(),
            spawns: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.procs.len()
    }

    pub fn as_slice(&self) -> &[Proc] {
        &self.procs
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Proc> {
        self.procs.iter()
    }

    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, Proc> {
        self.procs.iter_mut()
    }

    /// Adds a process the config now defines; it takes over its name from
    /// a retired one.
    pub fn push(&mut self, proc: Proc) -> usize {
        let index = self.procs.len();
        self.by_name.insert(proc.name.clone(), index);
        self.procs.push(proc);
        index
    }

    /// The process of the config called `name`.
    pub fn named(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The process running as `pid`.
    pub fn with_pid(&self, pid: i32) -> Option<usize> {
        self.by_pid.get(&pid).copied()
    }

    /// Process `index` runs as `pid`.
    pub fn running(&mut self, index: usize, pid: i32) {
        self.by_pid.insert(pid, index);
    }

    /// `pid` exited: the process it was, if any.
    pub fn exited(&mut self, pid: i32) -> Option<usize> {
        self.by_pid.remove(&pid)
    }

    /// Spawn request `id` was sent for process `index`.
    pub fn spawn_sent(&mut self, id: u64, index: usize) {
        self.spawns.insert(id, index);
    }

    /// taskmasterd answered spawn request `id`: the process it was for.
    pub fn spawn_answered(&mut self, id: u64) -> Option<usize> {
        self.spawns.remove(&id)
    }

    /// Whether taskmasterd has spawns left to answer.
    pub fn spawns_awaited(&self) -> bool {
        !self.spawns.is_empty()
    }

    /// Drops the processes `gone` says are finished with and renumbers the
    /// rest in every index. Only between jobs, since jobs hold indices.
    pub fn remove_where(&mut self, gone: impl Fn(&Proc) -> bool) {
        if !self.procs.iter().any(&gone) {
            return;
        }
        let mut moved: HashMap<usize, usize> = HashMap::new();
        let mut kept = Vec::with_capacity(self.procs.len());
        for (old, proc) in std::mem::take(&mut self.procs).into_iter().enumerate() {
            if !gone(&proc) {
                moved.insert(old, kept.len());
                kept.push(proc);
            }
        }
        self.procs = kept;
        self.by_name = self
            .procs
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.retired)
            .map(|(i, p)| (p.name.clone(), i))
            .collect();
        renumber(&mut self.by_pid, &moved);
        renumber(&mut self.spawns, &moved);
    }
}

/// Points every entry of `index` at its process's new place; entries of
/// dropped processes go.
fn renumber<K: std::hash::Hash + Eq>(index: &mut HashMap<K, usize>, moved: &HashMap<usize, usize>) {
    *index = index
        .drain()
        .filter_map(|(key, i)| moved.get(&i).map(|&n| (key, n)))
        .collect();
}

impl Index<usize> for ProcessTable {
    type Output = Proc;
    fn index(&self, index: usize) -> &Proc {
        &self.procs[index]
    }
}

impl IndexMut<usize> for ProcessTable {
    fn index_mut(&mut self, index: usize) -> &mut Proc {
        &mut self.procs[index]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn table(names: &[&str]) -> (ProcessTable, taskmaster_config::Config) {
        let text: String = names
            .iter()
            .map(|n| format!("[programs.{n}]\ncommand = '/bin/true'\n"))
            .collect();
        let config = taskmaster_config::parse_str(&text, Path::new("/t.toml")).unwrap();
        let procs = names
            .iter()
            .map(|n| Proc::new(&config, &config.programs[*n], (*n).to_string()))
            .collect();
        (ProcessTable::new(procs), config)
    }

    #[test]
    fn every_index_follows_a_removal() {
        let (mut table, _) = table(&["a", "b", "c"]);
        table.running(2, 300);
        table.spawn_sent(7, 2);
        table.running(0, 100);
        table[1].retired = true;
        table.remove_where(|p| p.retired);
        assert_eq!(table.len(), 2);
        assert_eq!(table.named("c"), Some(1));
        assert_eq!(table.named("b"), None);
        assert_eq!(table.with_pid(300), Some(1));
        assert_eq!(table.with_pid(100), Some(0));
        assert_eq!(table.spawn_answered(7), Some(1));
        assert_eq!(table.spawn_answered(7), None, "answered once");
    }

    #[test]
    fn a_removed_process_leaves_no_pid_or_spawn_behind() {
        let (mut table, _) = table(&["a", "b"]);
        table.running(0, 100);
        table.spawn_sent(3, 0);
        table[0].retired = true;
        table.remove_where(|p| p.retired);
        assert_eq!(table.with_pid(100), None);
        assert_eq!(table.spawn_answered(3), None);
        assert_eq!(table.named("b"), Some(0));
    }

    #[test]
    fn a_new_process_takes_the_name_from_a_retired_one() {
        let (mut table, config) = table(&["a"]);
        table[0].retired = true;
        let index = table.push(Proc::new(&config, &config.programs["a"], "a".into()));
        assert_eq!(table.named("a"), Some(index));
        table.remove_where(|p| p.retired);
        assert_eq!(table.named("a"), Some(0));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn an_exit_is_reported_once() {
        let (mut table, _) = table(&["a"]);
        table.running(0, 42);
        assert_eq!(table.exited(42), Some(0));
        assert_eq!(table.exited(42), None);
    }
}
