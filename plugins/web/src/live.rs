//! What every open page shares: one subscription to the daemon's `events`
//! stream, turned into rendered rows broadcast to the browsers' SSE
//! connections. Nothing here asks the daemon anything on a timer: a row is
//! fetched again because an event named it.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use taskmaster_protocol::{Command, Event, EventBody, Selection, StatusContent};
use tokio::sync::broadcast;

use crate::auth::Secrets;
use crate::daemon::Daemon;
use crate::page::{self, View};

/// A change for the open pages.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Update {
    /// Everything again: on connecting, after a reload, after lagging.
    Snapshot {
        rows: String,
        problems: String,
        now_ms: u64,
    },
    /// One process's new row.
    Row {
        name: String,
        html: String,
        now_ms: u64,
    },
    /// The daemon cannot be reached, or refuses us its events.
    Down { message: String },
}

/// The state of the server, shared by its handlers.
pub struct Shared {
    pub daemon: Daemon,
    pub secrets: Secrets,
    pub updates: broadcast::Sender<Update>,
    /// Whether the daemon lets us act on each process, by name: what a
    /// page offers buttons for.
    may_act: Mutex<HashMap<String, bool>>,
    /// Automatic restarts seen since this server started, by process.
    restarts: Mutex<HashMap<String, u64>>,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub fn new(daemon: Daemon, secrets: Secrets) -> Shared {
        Shared {
            daemon,
            secrets,
            updates: broadcast::channel(1024).0,
            may_act: Mutex::default(),
            restarts: Mutex::default(),
        }
    }

    pub async fn status(&self, selection: Selection) -> Result<StatusContent, String> {
        self.daemon.content(Command::status(selection)).await
    }

    /// Asks the daemon, once per process not asked yet (or every one with
    /// `again`), whether we may act on it. The probe is a `stdin` request
    /// with nothing to write: the daemon checks roles first, so it answers
    /// 403 when we may not, and a harmless 400 when we may.
    async fn learn_roles(&self, names: &[&str], again: bool) -> Result<(), String> {
        let unknown: Vec<&str> = {
            let known = lock(&self.may_act);
            names
                .iter()
                .copied()
                .filter(|n| again || !known.contains_key(*n))
                .collect()
        };
        if unknown.is_empty() {
            return Ok(());
        }
        let mut connection = self.daemon.connect().await?;
        let mut learned = Vec::with_capacity(unknown.len());
        for name in unknown {
            let probe = Command::Stdin {
                selection: Selection::one(name),
                data: None,
                close: None,
            };
            let reply = connection
                .request::<serde_json::Value>(probe)
                .await
                .map_err(|e| crate::daemon::unreachable(&self.daemon.socket, &e))?;
            learned.push((name.to_owned(), reply.status != 403));
        }
        lock(&self.may_act).extend(learned);
        Ok(())
    }

    fn may_act(&self, name: &str) -> bool {
        lock(&self.may_act).get(name).copied().unwrap_or(false)
    }

    /// Renders with what we know of our roles, learning the missing ones.
    pub async fn render<T>(
        &self,
        status: &StatusContent,
        again: bool,
        render: impl FnOnce(&View) -> T,
    ) -> Result<T, String> {
        let names: Vec<&str> = status.processes.iter().map(|p| p.name.as_str()).collect();
        self.learn_roles(&names, again).await?;
        let may_act = |name: &str| self.may_act(name);
        let view = View {
            csrf: &self.secrets.csrf,
            may_act: &may_act,
            now_ms: now_ms(),
        };
        Ok(render(&view))
    }

    /// Every row afresh, or why the daemon cannot give them.
    pub async fn snapshot(&self, again: bool) -> Update {
        let result = async {
            let status = self.status(Selection::default()).await?;
            self.render(&status, again, |view| Update::Snapshot {
                rows: page::rows(&status, view),
                problems: page::problems(&status),
                now_ms: view.now_ms,
            })
            .await
        };
        result
            .await
            .unwrap_or_else(|message| Update::Down { message })
    }

    pub fn restarts(&self) -> HashMap<String, u64> {
        lock(&self.restarts).clone()
    }

    fn count_restart(&self, name: &str) {
        *lock(&self.restarts).entry(name.to_owned()).or_default() += 1;
    }
}

/// Why a subscription ended, which says when to try again.
enum Ended {
    /// It ran, then the daemon went away (a restart): at once, then slower.
    Lost(String),
    /// The daemon could not be reached: 1 s, doubling up to 5 s.
    Unreachable(String),
    /// The daemon refuses us its events (not a viewer): the roles change
    /// only with a reload, so once a minute is enough.
    Refused(String),
}

/// Follows the daemon's events for as long as the server runs, connecting
/// again after it goes away; it asks nothing on a timer while subscribed.
pub async fn follow_events(shared: &Shared) {
    let mut pause = Duration::from_secs(1);
    loop {
        let (message, wait) = match follow_once(shared).await {
            Ended::Lost(message) => {
                pause = Duration::from_secs(1);
                (message, Duration::ZERO)
            }
            Ended::Unreachable(message) => (message, pause),
            Ended::Refused(message) => (message, Duration::from_secs(60)),
        };
        let _ = shared.updates.send(Update::Down { message });
        tokio::time::sleep(wait).await;
        if wait == pause {
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }
}

/// One subscription, until it ends.
async fn follow_once(shared: &Shared) -> Ended {
    let unreachable = |e: &std::io::Error| {
        Ended::Unreachable(crate::daemon::unreachable(&shared.daemon.socket, e))
    };
    let mut connection = match shared.daemon.connect().await {
        Ok(connection) => connection,
        Err(message) => return Ended::Unreachable(message),
    };
    match connection
        .request::<serde_json::Value>(Command::Events)
        .await
    {
        Ok(reply) if reply.status == 200 => {}
        Ok(reply) => {
            let message = reply
                .error
                .map_or_else(|| format!("events: {}", reply.status), |e| e.message);
            return Ended::Refused(message);
        }
        Err(e) => return unreachable(&e),
    }
    // Subscribed first, then looked: a change in between is in the stream.
    let _ = shared.updates.send(shared.snapshot(true).await);
    loop {
        let mut names = BTreeSet::new();
        let mut everything = false;
        // A burst of events already here is handled as one.
        loop {
            let event = match connection.next_line::<Event>().await {
                Ok(Some(event)) => event,
                Ok(None) => return Ended::Lost("taskmasterd ended the event stream".to_owned()),
                Err(e) => {
                    return Ended::Lost(crate::daemon::unreachable(&shared.daemon.socket, &e))
                }
            };
            let restart = event.body.is_restart();
            match event.body {
                EventBody::State { name, .. } => {
                    if restart {
                        shared.count_restart(&name);
                    }
                    names.insert(name);
                }
                // Its row shows the new health.
                EventBody::Health { name, .. } => {
                    names.insert(name);
                }
                EventBody::Lagged { .. } | EventBody::Reload { .. } => everything = true,
            }
            if !connection.has_buffered_line() {
                break;
            }
        }
        let update = if everything {
            vec![shared.snapshot(true).await]
        } else {
            rows(shared, names).await
        };
        for update in update {
            let _ = shared.updates.send(update);
        }
    }
}

/// The new rows of the processes an event named.
async fn rows(shared: &Shared, names: BTreeSet<String>) -> Vec<Update> {
    let status = match shared.status(Selection::names(names)).await {
        Ok(status) => status,
        // A process gone with a reload: the reload event redraws all.
        Err(_) => return vec![shared.snapshot(false).await],
    };
    let rendered = shared
        .render(&status, false, |view| {
            status
                .processes
                .iter()
                .map(|p| Update::Row {
                    name: p.name.clone(),
                    html: page::row(p, view),
                    now_ms: view.now_ms,
                })
                .collect()
        })
        .await;
    rendered.unwrap_or_else(|message| vec![Update::Down { message }])
}
