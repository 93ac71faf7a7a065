//! Bytes each stream of a process has logged and dropped over the broker's
//! life, across the process's restarts: every spawn gets new pumps, whose
//! counts start at zero, so the ones it replaces are added up here.

use super::Capture;
use taskmaster_ipc::Stream;

#[derive(Default)]
pub struct Totals {
    /// Counts of pumps long finished, per stream: (written, dropped).
    folded: Vec<(Stream, u64, u64)>,
    /// The previous process's pumps, which may still be draining the end
    /// of its output: added up at the next spawn, when they are done.
    earlier: Vec<(Stream, Capture)>,
}

impl Totals {
    /// Takes the pumps of a process being replaced by a new spawn.
    pub fn retire(&mut self, old: Vec<(Stream, Capture)>) {
        for (stream, capture) in std::mem::replace(&mut self.earlier, old) {
            let stats = capture.stats();
            self.add(stream, stats.written, stats.dropped);
        }
    }

    fn add(&mut self, stream: Stream, written: u64, dropped: u64) {
        match self.folded.iter_mut().find(|(s, ..)| *s == stream) {
            Some((_, w, d)) => {
                *w += written;
                *d += dropped;
            }
            None => self.folded.push((stream, written, dropped)),
        }
    }

    /// (stream, written, dropped) for every stream ever logged, the
    /// current pumps included; stdout first.
    pub fn counts(&self, current: &[(Stream, Capture)]) -> Vec<(Stream, u64, u64)> {
        let mut sum = Totals {
            folded: self.folded.clone(),
            earlier: Vec::new(),
        };
        for (stream, capture) in self.earlier.iter().chain(current) {
            let stats = capture.stats();
            sum.add(*stream, stats.written, stats.dropped);
        }
        sum.folded.sort_by_key(|(s, ..)| *s as u8);
        sum.folded
    }
}
