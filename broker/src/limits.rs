//! What one client may hold of the control socket, so that no client (or
//! user) can deny service to the others: connection slots (in all, per uid,
//! with a reserve for root), the bytes of unfinished request lines across
//! all clients, and how long a connection may sit without a request.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Connections served at once for everyone together.
pub const MAX_CLIENTS: usize = 1024;
/// Connections only root may use once the others hold `MAX_CLIENTS`:
/// whoever fills the socket, an administrator can still get in.
pub const ROOT_RESERVE: usize = 32;
/// Connections one uid (other than root) may hold: `fg` takes three, a
/// `tail -f` one, so this is far more than a person uses, and 16 users are
/// needed to fill the socket.
pub const MAX_PER_UID: usize = 64;
/// Bytes of unfinished request lines held for all clients together: a
/// line may be up to `MAX_LINE` (1 MiB), but 1000 clients each sending
/// most of one must not cost a GiB.
pub const MAX_BUFFERED: usize = 16 * 1024 * 1024;

/// Why a connection gets no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Every slot open to this uid is taken.
    Full,
    /// This uid holds `MAX_PER_UID` connections already.
    PerUid(Option<u32>),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Full => write!(
                f,
                "taskmasterd is serving {MAX_CLIENTS} clients (its limit); try again"
            ),
            Refusal::PerUid(Some(uid)) => write!(
                f,
                "uid {uid} already holds {MAX_PER_UID} connections (the limit per user); \
                 close one and try again"
            ),
            Refusal::PerUid(None) => write!(
                f,
                "clients of unknown uid already hold {MAX_PER_UID} connections \
                 (the limit per user); try again"
            ),
        }
    }
}

/// Who holds how many slots: the pure bookkeeping behind [`Limits`].
#[derive(Debug, Default)]
struct Slots {
    total: usize,
    /// Connections by uid (`None`: `SO_PEERCRED` failed), root included.
    by_uid: HashMap<Option<u32>, usize>,
}

impl Slots {
    fn admit(&mut self, uid: Option<u32>) -> Result<(), Refusal> {
        let held = self.by_uid.get(&uid).copied().unwrap_or(0);
        if uid == Some(0) {
            // Root is trusted with as many as it likes within the reserve.
            if self.total >= MAX_CLIENTS + ROOT_RESERVE {
                return Err(Refusal::Full);
            }
        } else if held >= MAX_PER_UID {
            return Err(Refusal::PerUid(uid));
        } else if self.total >= MAX_CLIENTS {
            return Err(Refusal::Full);
        }
        self.total += 1;
        self.by_uid.insert(uid, held + 1);
        Ok(())
    }

    fn release(&mut self, uid: Option<u32>) {
        self.total = self.total.saturating_sub(1);
        if let Some(held) = self.by_uid.get_mut(&uid) {
            *held -= 1;
            if *held == 0 {
                self.by_uid.remove(&uid);
            }
        }
    }
}

/// The limits of one control socket (and of the next one, after a rebind
/// to another path: clients of the old socket keep counting).
#[derive(Debug)]
pub struct Limits {
    slots: Mutex<Slots>,
    buffered: AtomicUsize,
    /// The idle timeout in nanoseconds, 0 for none; a reload may change it
    /// while connections wait.
    idle_nanos: AtomicU64,
}

impl Limits {
    pub fn new(idle_timeout: Option<Duration>) -> Arc<Limits> {
        let limits = Limits {
            slots: Mutex::new(Slots::default()),
            buffered: AtomicUsize::new(0),
            idle_nanos: AtomicU64::new(0),
        };
        limits.set_idle_timeout(idle_timeout);
        Arc::new(limits)
    }

    pub fn set_idle_timeout(&self, timeout: Option<Duration>) {
        let nanos = timeout.map_or(0, |t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
        self.idle_nanos.store(nanos, Ordering::Relaxed);
    }

    pub fn idle_timeout(&self) -> Option<Duration> {
        match self.idle_nanos.load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    /// A slot for a client of `uid`, given back when the slot is dropped.
    pub fn admit(self: &Arc<Self>, uid: Option<u32>) -> Result<Slot, Refusal> {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .admit(uid)?;
        Ok(Slot {
            limits: Arc::clone(self),
            uid,
        })
    }

    /// A tab of buffered request bytes for one connection.
    pub fn tab(self: &Arc<Self>) -> Tab {
        Tab {
            limits: Arc::clone(self),
            held: 0,
        }
    }
}

/// One connection's slot.
#[derive(Debug)]
pub struct Slot {
    limits: Arc<Limits>,
    uid: Option<u32>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limits
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .release(self.uid);
    }
}

/// The bytes one connection has buffered, counted against [`MAX_BUFFERED`]
/// for everyone; dropping it gives them back.
#[derive(Debug)]
pub struct Tab {
    limits: Arc<Limits>,
    held: usize,
}

/// Buffering more would pass [`MAX_BUFFERED`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverBudget;

impl Tab {
    /// Counts `bytes` more, unless that would pass the budget.
    pub fn charge(&mut self, bytes: usize) -> Result<(), OverBudget> {
        self.limits
            .buffered
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                now.checked_add(bytes)
                    .filter(|&after| after <= MAX_BUFFERED)
            })
            .map_err(|_| OverBudget)?;
        self.held += bytes;
        Ok(())
    }

    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held
    }

    /// Gives back `bytes` (no more than are held).
    pub fn refund(&mut self, bytes: usize) {
        let bytes = bytes.min(self.held);
        self.held -= bytes;
        self.limits.buffered.fetch_sub(bytes, Ordering::Relaxed);
    }
}

impl Drop for Tab {
    fn drop(&mut self) {
        self.refund(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_gets_at_most_its_share() {
        let mut slots = Slots::default();
        for _ in 0..MAX_PER_UID {
            slots.admit(Some(1000)).unwrap();
        }
        assert_eq!(slots.admit(Some(1000)), Err(Refusal::PerUid(Some(1000))));
        assert_eq!(slots.admit(None), Ok(()));
        assert_eq!(slots.admit(Some(1001)), Ok(()));
        slots.release(Some(1000));
        assert_eq!(slots.admit(Some(1000)), Ok(()));
    }

    #[test]
    fn root_has_a_reserve_when_everyone_else_is_refused() {
        let mut slots = Slots::default();
        let mut uid = 1000;
        while slots.total < MAX_CLIENTS {
            if slots.admit(Some(uid)).is_err() {
                uid += 1;
            }
        }
        assert_eq!(slots.admit(Some(uid + 1)), Err(Refusal::Full));
        for _ in 0..ROOT_RESERVE {
            assert_eq!(slots.admit(Some(0)), Ok(()));
        }
        assert_eq!(slots.admit(Some(0)), Err(Refusal::Full));
        slots.release(Some(uid));
        slots.release(Some(0));
        // A slot freed above the general cap is still root's.
        assert_eq!(slots.admit(Some(uid + 1)), Err(Refusal::Full));
        assert_eq!(slots.admit(Some(0)), Ok(()));
    }

    #[test]
    fn root_is_not_capped_per_uid() {
        let mut slots = Slots::default();
        for _ in 0..MAX_PER_UID * 2 {
            slots.admit(Some(0)).unwrap();
        }
        assert_eq!(slots.by_uid[&Some(0)], MAX_PER_UID * 2);
    }

    #[test]
    fn slots_and_tabs_are_given_back_when_dropped() {
        let limits = Limits::new(None);
        let slot = limits.admit(Some(7)).unwrap();
        let mut a = limits.tab();
        let mut b = limits.tab();
        a.charge(MAX_BUFFERED - 10).unwrap();
        assert_eq!(b.charge(11), Err(OverBudget));
        b.charge(10).unwrap();
        a.refund(100);
        b.charge(100).unwrap();
        drop(a);
        drop(b);
        drop(slot);
        assert_eq!(limits.buffered.load(Ordering::Relaxed), 0);
        let slots = limits.slots.lock().unwrap();
        assert_eq!((slots.total, slots.by_uid.len()), (0, 0));
    }

    #[test]
    fn the_idle_timeout_can_change_and_be_off() {
        let limits = Limits::new(Some(Duration::from_millis(1500)));
        assert_eq!(limits.idle_timeout(), Some(Duration::from_millis(1500)));
        limits.set_idle_timeout(None);
        assert_eq!(limits.idle_timeout(), None);
    }
}
