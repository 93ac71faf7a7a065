//! When the broker gives the heap memory it freed back to the system: once
//! a burst of work is over (start-up, a reload, many spawns), when no
//! spawn is awaited any more; never on a timer, so an idle broker stays
//! asleep. glibc keeps freed pages resident otherwise: after a thousand
//! programs start, about 1 MiB of the broker's heap is free but resident.

/// Spawns after which the heap is trimmed again, once they are answered:
/// a thousand restarts over a week give back what they fragmented, and a
/// program failing in a loop does not trim at every retry.
const SPAWNS: usize = 64;

#[derive(Debug)]
pub struct HeapTrim {
    due: bool,
    spawns: usize,
}

impl HeapTrim {
    /// Due: the config was just read and the programs are about to start.
    pub fn new() -> HeapTrim {
        HeapTrim {
            due: true,
            spawns: 0,
        }
    }

    /// A reload replaced the config.
    pub fn reloaded(&mut self) {
        self.due = true;
    }

    /// A spawn was asked of taskmasterd.
    pub fn spawned(&mut self) {
        self.spawns += 1;
        self.due |= self.spawns >= SPAWNS;
    }

    /// Between two messages: whether to trim now, given whether spawns are
    /// still awaited (their answers start pumps and fill the tables).
    pub fn take(&mut self, spawns_awaited: bool) -> bool {
        if !self.due || spawns_awaited {
            return false;
        }
        *self = HeapTrim {
            due: false,
            spawns: 0,
        };
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_once_after_start_up_when_every_spawn_is_answered() {
        let mut trim = HeapTrim::new();
        trim.spawned();
        assert!(!trim.take(true));
        assert!(trim.take(false));
        assert!(!trim.take(false));
    }

    #[test]
    fn a_reload_makes_it_due_again() {
        let mut trim = HeapTrim::new();
        assert!(trim.take(false));
        trim.reloaded();
        assert!(trim.take(false));
    }

    #[test]
    fn a_few_restarts_do_not_trim_but_many_do() {
        let mut trim = HeapTrim::new();
        assert!(trim.take(false));
        for _ in 1..SPAWNS {
            trim.spawned();
            assert!(!trim.take(false));
        }
        trim.spawned();
        assert!(trim.take(false));
        trim.spawned();
        assert!(!trim.take(false));
    }
}
