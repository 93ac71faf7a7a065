//! What the core keeps across restarts: each process's operator intent
//! (written at once) and history (written by a thread, a second after a
//! change) in the state directory (`statefile.rs`), and how far event seqs
//! went, also told to taskmasterd so that a broker restart without a state
//! directory never numbers events again from below.

use super::Core;
use crate::history::History;
use crate::statefile::{Histories, HistoryWriter, Intent, Saved, StateDir};
use crate::targets::Selected;
use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};
use taskmaster_ipc::ToSupervisor;

/// Seqs reserved at a time: the file and taskmasterd hear of every
/// thousandth event, not of each.
const SEQ_BLOCK: u64 = 1000;
/// A changed history is written this long after the change, with every
/// other change made meanwhile: a crash loses at most this much of it.
const SAVE_DELAY: Duration = Duration::from_secs(1);

/// The state directory and what goes in it.
pub struct Persist {
    dir: Option<StateDir>,
    writer: Option<HistoryWriter>,
    pub intents: BTreeMap<String, Intent>,
    /// Seqs below this may have been given.
    seq_reserved: u64,
    /// A history changed: save then.
    pub save_due: Option<Instant>,
    /// The last failure to save, logged once until it changes.
    last_error: Option<String>,
    /// The same, for the histories.
    last_history_error: Option<String>,
}

impl Persist {
    pub fn new(dir: Option<StateDir>, first_seq: u64) -> Persist {
        Persist {
            writer: dir.as_ref().map(HistoryWriter::start),
            dir,
            intents: BTreeMap::new(),
            seq_reserved: first_seq,
            save_due: None,
            last_error: None,
            last_history_error: None,
        }
    }

    /// Whether intents are kept (a state directory is configured).
    pub fn keeps_intents(&self) -> bool {
        self.dir.is_some()
    }
}

impl Core {
    /// Before anything starts: takes back the histories and intents of
    /// the processes the config still has; the others are forgotten.
    pub fn restore(mut self, saved: Saved, histories: Histories) -> Core {
        for (name, transitions) in histories {
            if let Some(i) = self.table.named(&name) {
                self.table[i].history = History::from_saved(transitions);
            }
        }
        self.persist.intents = saved.intents;
        self.forget_unconfigured_intents();
        self
    }

    /// Drops the intents of processes no longer configured (a reload
    /// removed their program).
    pub(super) fn forget_unconfigured_intents(&mut self) {
        let table = &self.table;
        let before = self.persist.intents.len();
        self.persist
            .intents
            .retain(|name, _| table.named(name).is_some_and(|i| !table[i].retired));
        if self.persist.intents.len() != before {
            self.save_state();
        }
    }

    /// An operator started (`run`) or stopped the `selected` processes:
    /// remembered until the next such request.
    pub(super) fn note_intent(&mut self, selected: &[Selected], run: bool, uid: Option<u32>) {
        if !self.persist.keeps_intents() {
            return;
        }
        let time_ms = super::unix_ms(SystemTime::now());
        for s in selected {
            let name = self.table[s.index].name.clone();
            self.persist
                .intents
                .insert(name, Intent { run, uid, time_ms });
        }
        self.save_state();
    }

    /// A history changed: written within [`SAVE_DELAY`].
    pub(super) fn history_changed(&mut self) {
        if self.persist.keeps_intents() && self.persist.save_due.is_none() {
            self.persist.save_due = Some(Instant::now() + SAVE_DELAY);
        }
    }

    /// Before an event is numbered: when the reserved seqs run out,
    /// reserves the next block, with taskmasterd and in the file, first.
    pub(super) fn reserve_seqs(&mut self) {
        let next = self.events.next_seq();
        if next < self.persist.seq_reserved {
            return;
        }
        self.persist.seq_reserved = next.saturating_add(SEQ_BLOCK);
        let seq = self.persist.seq_reserved;
        self.link.send(&ToSupervisor::KeepSeq { seq }, Vec::new());
        self.save_state();
    }

    /// Writes `state.json` now (when there is a state directory).
    pub(super) fn save_state(&mut self) {
        let Some(dir) = &self.persist.dir else {
            return;
        };
        let saved = Saved {
            seq_reserved: self.persist.seq_reserved,
            intents: self.persist.intents.clone(),
        };
        let result = dir.save(&saved).err().map(|e| {
            format!(
                "cannot write {}: {e}; operator intents are not kept (the directory must be \
                 writable by the broker's user)",
                dir.file().display()
            )
        });
        self.report(result, false);
    }

    /// Hands the histories to their writer; `wait`: until written (at exit).
    pub(super) fn save_history(&mut self, wait: bool) {
        self.persist.save_due = None;
        let Some(writer) = &self.persist.writer else {
            return;
        };
        let snapshot = self
            .table
            .iter()
            .filter(|proc| !proc.retired)
            .map(|proc| (proc.name.clone(), proc.history.shared()))
            .collect();
        writer.submit(snapshot);
        if wait {
            writer.flush();
        }
        // The outcome of an earlier write, logged once.
        let error = writer.error();
        self.report(error, true);
    }

    /// Logs a failure to write a state file once, until it changes.
    fn report(&mut self, error: Option<String>, history: bool) {
        let last = if history {
            &mut self.persist.last_history_error
        } else {
            &mut self.persist.last_error
        };
        if let Some(message) = &error {
            if last.as_ref() != Some(message) {
                self.log.error(message);
            }
        }
        *last = error;
    }

    /// The operator's stop of process `i` that `status` shows, when one
    /// is kept.
    pub(super) fn operator_stop(&self, i: usize) -> Option<Intent> {
        if !self.persist.keeps_intents() {
            return None;
        }
        self.persist
            .intents
            .get(&self.table[i].name)
            .filter(|intent| !intent.run)
            .copied()
    }
}
