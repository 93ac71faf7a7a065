//! taskmasterd's own messages: on stderr until the broker is up, then
//! queued for the next broker's `Hello` (and still on stderr in the
//! foreground).

use std::collections::VecDeque;

/// Notices kept for the next broker; older ones are dropped past this.
const MAX_QUEUED: usize = 100;

pub struct Notices {
    queued: VecDeque<String>,
    dropped: usize,
    broker_up: bool,
    foreground: bool,
}

impl Notices {
    pub fn new(foreground: bool) -> Self {
        Self {
            queued: VecDeque::new(),
            dropped: 0,
            broker_up: false,
            foreground,
        }
    }

    /// From now on messages are kept for the broker.
    pub fn broker_is_up(&mut self) {
        self.broker_up = true;
    }

    pub fn note(&mut self, message: String) {
        if !self.broker_up || self.foreground {
            eprintln!("taskmasterd: {message}");
        }
        if self.broker_up {
            if self.queued.len() == MAX_QUEUED {
                self.queued.pop_front();
                self.dropped += 1;
            }
            self.queued.push_back(message);
        }
    }

    /// A message for the terminal now and for the first broker's activity
    /// log (what happened before any broker ran).
    pub fn keep(&mut self, message: String) {
        eprintln!("taskmasterd: {message}");
        if self.queued.len() < MAX_QUEUED {
            self.queued.push_back(message);
        }
    }

    /// Everything queued, oldest first, for a `Hello`.
    pub fn take(&mut self) -> Vec<String> {
        let mut notices = Vec::with_capacity(self.queued.len() + 1);
        if self.dropped > 0 {
            notices.push(format!("{} older notices were dropped", self.dropped));
            self.dropped = 0;
        }
        notices.extend(self.queued.drain(..));
        notices
    }
}

/// The text of an I/O error without Rust's "(os error N)" suffix, as the
/// rest of taskmasterd's messages read.
pub fn reason(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(errno) => nix::errno::Errno::from_raw(errno).desc().to_string(),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_queued_before_the_broker_is_up() {
        let mut notices = Notices::new(false);
        notices.note("early".into());
        assert!(notices.take().is_empty());
        notices.broker_is_up();
        notices.note("late".into());
        assert_eq!(notices.take(), ["late"]);
        assert!(notices.take().is_empty());
    }

    #[test]
    fn os_errors_read_plainly() {
        let error = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(reason(&error), "No such file or directory");
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut notices = Notices::new(false);
        notices.broker_is_up();
        for n in 0..MAX_QUEUED + 5 {
            notices.note(format!("n{n}"));
        }
        let taken = notices.take();
        assert_eq!(taken.len(), MAX_QUEUED + 1);
        assert_eq!(taken[0], "5 older notices were dropped");
        assert_eq!(taken[1], "n5");
    }
}
