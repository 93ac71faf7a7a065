//! The probes of `ready` and `healthcheck`, run as tasks beside the core:
//! a TCP connect, an HTTP/1.1 GET, or a regex over the lines a process
//! writes to its log files. Each task reports to the core through one
//! channel; the core aborts it when the process moves on, so a probe runs
//! only while it is needed (a ready probe while STARTING, a health check
//! while RUNNING) and an idle daemon without health checks has no timer.

mod http;
mod log;
mod notify;

pub use notify::{listen as listen_notify, Notified};

use std::path::PathBuf;
use std::time::Duration;
use taskmaster_config::{HealthCheck, Probe};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Which question a probe answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Ready,
    Health,
    /// `watchdog`: the time since the last `WATCHDOG=1` ran out.
    Watchdog,
}

/// What the probe tasks tell the core.
#[derive(Debug)]
pub enum Message {
    Answer(Report),
    Notify(Notified),
    /// Run a `command` probe (only taskmasterd may start a process) and
    /// answer on `reply`.
    RunCommand {
        name: String,
        pid: i32,
        purpose: Purpose,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// One answer of a probe about process `name` with pid `pid`.
#[derive(Debug)]
pub struct Report {
    pub name: String,
    pub pid: i32,
    pub purpose: Purpose,
    pub outcome: Result<(), String>,
}

/// A running probe task, stopped when dropped.
pub struct Running(JoinHandle<()>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a process writes, for a `log` probe: its log files and their
/// sizes when it started, so that only its own new lines are read.
pub type LogFiles = Vec<PathBuf>;

/// Probes until the process is ready: reports each failure (for `status`)
/// and the first success, then ends.
pub fn ready(probe: Probe, interval: Duration, logs: LogFiles, reporter: Reporter) -> Running {
    let schedule = Schedule {
        first: Duration::ZERO,
        interval,
        timeout: interval,
    };
    Running(tokio::spawn(repeat(probe, schedule, logs, reporter)))
}

/// Checks every `interval` while the process runs, reporting every answer.
pub fn health(check: HealthCheck, logs: LogFiles, reporter: Reporter) -> Running {
    let schedule = Schedule {
        first: check.interval,
        interval: check.interval,
        timeout: check.timeout,
    };
    Running(tokio::spawn(repeat(check.probe, schedule, logs, reporter)))
}

/// Reports a failure each time `limit` passes; the core replaces it at
/// each `WATCHDOG=1`.
pub fn watchdog(limit: Duration, reporter: Reporter) -> Running {
    Running(tokio::spawn(async move {
        loop {
            tokio::time::sleep(limit).await;
            let report = Report {
                name: reporter.name.clone(),
                pid: reporter.pid,
                purpose: Purpose::Watchdog,
                outcome: Err(format!("no WATCHDOG=1 for {} s", limit.as_secs_f64())),
            };
            if reporter.reports.send(Message::Answer(report)).is_err() {
                return;
            }
        }
    }))
}

/// When a probe runs: after `first`, then every `interval`, each attempt
/// limited to `timeout`.
struct Schedule {
    first: Duration,
    interval: Duration,
    timeout: Duration,
}

/// Where a probe's answers go, and what they are about.
pub struct Reporter {
    pub name: String,
    pub pid: i32,
    pub purpose: Purpose,
    pub reports: mpsc::UnboundedSender<Message>,
}

/// Runs `probe` on `schedule` until the core goes away or, for a ready
/// probe, it succeeds.
async fn repeat(probe: Probe, schedule: Schedule, logs: LogFiles, reporter: Reporter) {
    let mut reader = log::Reader::new(&logs);
    // Checked when the config was loaded; an error here is reported.
    let regex = match &probe {
        Probe::Log(pattern) => Some(regex::Regex::new(pattern).map_err(|e| e.to_string())),
        _ => None,
    };
    tokio::time::sleep(schedule.first).await;
    loop {
        let outcome = match (&probe, &regex) {
            (_, Some(Ok(regex))) => reader.find(regex),
            (_, Some(Err(error))) => Err(error.clone()),
            // The program tells; nothing to ask (see notify.rs).
            (Probe::Notify, _) => return,
            (Probe::Command(_), _) => {
                // taskmasterd kills it at `timeout`; the margin is for the
                // round trip.
                let limit = schedule.timeout + Duration::from_secs(5);
                within(limit, run_command(&reporter)).await
            }
            (other, None) => within(schedule.timeout, once(other)).await,
        };
        let done = reporter.purpose == Purpose::Ready && outcome.is_ok();
        let report = Report {
            name: reporter.name.clone(),
            pid: reporter.pid,
            purpose: reporter.purpose,
            outcome,
        };
        if reporter.reports.send(Message::Answer(report)).is_err() || done {
            return;
        }
        tokio::time::sleep(schedule.interval).await;
    }
}

async fn run_command(reporter: &Reporter) -> Result<(), String> {
    let (reply, answer) = oneshot::channel();
    let message = Message::RunCommand {
        name: reporter.name.clone(),
        pid: reporter.pid,
        purpose: reporter.purpose,
        reply,
    };
    reporter
        .reports
        .send(message)
        .map_err(|_| "the broker is stopping".to_string())?;
    answer
        .await
        .unwrap_or_else(|_| Err("taskmasterd did not answer".to_string()))
}

async fn within(
    limit: Duration,
    probe: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    tokio::time::timeout(limit, probe)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", limit.as_secs_f64())))
}

/// One attempt of a network probe.
async fn once(probe: &Probe) -> Result<(), String> {
    match probe {
        Probe::Tcp(address) => connect(address).await.map(drop),
        Probe::Http(url) => http::get(url).await,
        Probe::Log(_) | Probe::Notify | Probe::Command(_) => Ok(()),
    }
}

async fn connect(address: &str) -> Result<TcpStream, String> {
    TcpStream::connect(address)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            _ => format!("cannot connect to {address}: {e}"),
        })
}
