//! The event feed: numbers each event, keeps the last [`RING`] of them for
//! readers that resume (`events` with `since`), and broadcasts them live.
//! Publishing and subscribing take one lock, so a reader that resumes gets
//! every event after its `since` exactly once: from the ring, then live.

use std::collections::VecDeque;
use std::sync::Mutex;
use taskmaster_ipc::MAX_SEQ;
use taskmaster_protocol::{Event, EventBody};
use tokio::sync::broadcast;

/// Events kept for replay. A reader further behind than this is told 410
/// with the oldest seq it can still have.
pub const RING: usize = 1024;

pub struct Feed {
    sender: broadcast::Sender<Event>,
    inner: Mutex<Inner>,
}

struct Inner {
    ring: VecDeque<Event>,
    /// The seq the next event gets.
    next: u64,
}

/// Why a `since` cannot be honoured.
#[derive(Debug, PartialEq, Eq)]
pub struct Gone {
    /// The oldest seq still in the ring (the next one when it is empty).
    pub oldest: u64,
    /// The seq the next event gets.
    pub next: u64,
}

impl Feed {
    /// A feed whose first event gets `first_seq`; live readers more than
    /// `capacity` events behind are told how many they missed. A
    /// `first_seq` above [`MAX_SEQ`] (a forged `state.json` or `KeepSeq`)
    /// is brought down to it, where the counter cannot overflow.
    pub fn new(first_seq: u64, capacity: usize) -> Feed {
        let (sender, _) = broadcast::channel(capacity);
        Feed {
            sender,
            inner: Mutex::new(Inner {
                // Grown as events come: a daemon with few programs and
                // few changes never holds the [`RING`] slots.
                ring: VecDeque::new(),
                next: first_seq.clamp(1, MAX_SEQ),
            }),
        }
    }

    /// Numbers `body`, keeps it and sends it to every live reader; returns
    /// its seq.
    pub fn publish(&self, time_ms: u64, body: EventBody) -> u64 {
        let mut inner = self.lock();
        let event = Event {
            seq: inner.next,
            time_ms,
            body,
        };
        inner.next += 1;
        if inner.ring.len() == RING {
            inner.ring.pop_front();
        }
        inner.ring.push_back(event.clone());
        // Nobody listening is the common case and not an error.
        let _ = self.sender.send(event);
        inner.next - 1
    }

    /// A live subscription from the next event on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        let _inner = self.lock();
        self.sender.subscribe()
    }

    /// Every kept event after `since`, and a live subscription for the
    /// ones after those; `Gone` when some after `since` are no longer kept
    /// (or `since` is not a seq this feed gave yet: a daemon that restarted
    /// without a state directory).
    pub fn resume(&self, since: u64) -> Result<(Vec<Event>, broadcast::Receiver<Event>), Gone> {
        let inner = self.lock();
        let oldest = inner.ring.front().map_or(inner.next, |event| event.seq);
        if since >= inner.next || since.saturating_add(1) < oldest {
            return Err(Gone {
                oldest,
                next: inner.next,
            });
        }
        let replay = inner
            .ring
            .iter()
            .filter(|event| event.seq > since)
            .cloned()
            .collect();
        Ok((replay, self.sender.subscribe()))
    }

    /// The seq the next event gets.
    pub fn next_seq(&self) -> u64 {
        self.lock().next
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent ring.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> EventBody {
        EventBody::Lagged { missed: 0 }
    }

    fn seqs(events: &[Event]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_forged_first_seq_cannot_overflow_the_counter() {
        let feed = Feed::new(u64::MAX, 16);
        assert_eq!(feed.publish(0, body()), MAX_SEQ);
        assert_eq!(feed.publish(0, body()), MAX_SEQ + 1);
    }

    #[test]
    fn resuming_replays_what_follows_since_then_goes_live() {
        let feed = Feed::new(1, 16);
        for _ in 0..5 {
            feed.publish(0, body());
        }
        let (replay, mut live) = feed.resume(2).unwrap();
        assert_eq!(seqs(&replay), [3, 4, 5]);
        feed.publish(0, body());
        assert_eq!(live.try_recv().unwrap().seq, 6);
        // Up to date: nothing to replay.
        let (replay, _) = feed.resume(6).unwrap();
        assert!(replay.is_empty());
        // From the start.
        assert_eq!(feed.resume(0).unwrap().0.len(), 6);
    }

    #[test]
    fn past_the_ring_is_gone_with_the_oldest_seq() {
        let feed = Feed::new(1, 16);
        for _ in 0..RING + 10 {
            feed.publish(0, body());
        }
        assert_eq!(
            feed.resume(5).unwrap_err(),
            Gone {
                oldest: 11,
                next: RING as u64 + 11
            }
        );
        // The event just before the oldest kept is fine: nothing was missed.
        assert_eq!(feed.resume(10).unwrap().0.len(), RING);
    }

    #[test]
    fn a_seq_from_before_a_restart_without_state_is_gone() {
        let feed = Feed::new(1, 16);
        feed.publish(0, body());
        assert_eq!(feed.resume(500).unwrap_err(), Gone { oldest: 1, next: 2 });
    }

    #[test]
    fn a_feed_resumed_from_a_saved_seq_goes_on_from_it() {
        let feed = Feed::new(2001, 16);
        assert_eq!(feed.publish(0, body()), 2001);
        assert_eq!(feed.next_seq(), 2002);
        // A reader that had seen 1990 missed what the last broker sent after it.
        assert_eq!(
            feed.resume(1990).unwrap_err(),
            Gone {
                oldest: 2001,
                next: 2002
            }
        );
    }
}
