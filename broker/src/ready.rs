//! What the broker tracks of one process for `depends_on`, `ready` and
//! `healthcheck`: whether its start is held back, the probe that runs for
//! it, and its health. The rules live in `state.rs` (readiness),
//! `deps.rs` (dependencies) and `health.rs`; the core drives them.

use crate::health::Health;
use crate::probe::{self, Purpose};

#[derive(Default)]
pub struct Watch {
    /// A start was asked for but a dependency is not RUNNING yet: which
    /// one, and in what state (`db is STARTING`).
    pub waiting: Option<String>,
    /// The probe running for the process and what it answers: a ready
    /// probe while STARTING, a health check while RUNNING.
    pub probe: Option<(Purpose, probe::Running)>,
    /// Why the last ready probe failed.
    pub ready_error: Option<String>,
    /// Since the process last became RUNNING.
    pub health: Health,
    /// The notify socket's listener (`ready = { notify = true }`), kept
    /// from spawn to spawn.
    pub notify: Option<probe::Running>,
    /// The last `STATUS=` the process sent.
    pub notify_status: Option<String>,
    /// The `watchdog` timer while RUNNING, started over at each
    /// `WATCHDOG=1`.
    pub watchdog: Option<probe::Running>,
    /// Datagrams that arrived before the pid was known.
    pub early: Vec<probe::Notified>,
    /// A notification from outside the process's session was logged for
    /// this process: the next ones are dropped without a word, so that a
    /// local user flooding the socket cannot flood the log.
    pub stranger_logged: bool,
}
