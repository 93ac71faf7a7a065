//! taskmasterctl-wait: block until processes reach a state (RUNNING by
//! default), told by taskmasterd's event stream rather than by polling.
//! Exit 0 when they all have; 1 naming those that have not, at the timeout
//! or as soon as one is FATAL; 2 usage; 4 taskmasterd cannot be reached.

use clap::Parser;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};
use taskmaster_protocol::{
    socket_path_from_url, Client, Command, Event, EventBody, ProcessState, Request, Selection,
    StatusContent, DEFAULT_SERVER_URL,
};

/// Wait until processes reach a state, for scripts and CI.
///
/// Exits 0 once every named process has reached the state; 1 at the timeout
/// (or as soon as a process is FATAL, which nothing but a command ends),
/// naming those that have not; 4 when taskmasterd cannot be reached.
#[derive(Debug, Parser)]
#[command(
    name = "taskmasterctl wait",
    bin_name = "taskmasterctl wait",
    version,
    after_help = "Example: taskmasterctl start web && taskmasterctl wait web 'workers:*' --timeout 1m"
)]
struct Cli {
    /// Processes to wait for: NAME, NAME:N, GROUP:* or all.
    #[arg(value_name = "NAME", required = true)]
    names: Vec<String>,

    /// The state to wait for: RUNNING, STOPPED, EXITED, FATAL... (any case).
    #[arg(long, value_name = "STATE", default_value = "RUNNING", value_parser = parse_state)]
    state: ProcessState,

    /// How long to wait at most: 30s, 500ms, 2m, 1h, or plain seconds.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,

    /// taskmasterd's socket [default: $TASKMASTER_SERVER_URL, which taskmasterctl
    /// sets, else unix:///tmp/taskmaster.sock].
    #[arg(short = 's', long = "server-url", value_name = "URL")]
    server_url: Option<String>,
}

/// Why we stop without success: what to print and the exit status.
struct Failure {
    code: u8,
    message: String,
}

fn fail(code: u8, message: impl Into<String>) -> Failure {
    Failure {
        code,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("taskmasterctl-wait: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let url = cli
        .server_url
        .clone()
        .or_else(|| std::env::var("TASKMASTER_SERVER_URL").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER_URL.to_string());
    let socket = socket_path_from_url(&url).map_err(|e| fail(2, e.to_string()))?;
    // Subscribe first, then look: a change between the two is in the stream.
    let mut stream = connect(&socket)?;
    let reply = stream
        .request(&Request::new(Command::Events))
        .map_err(|e| lost(&socket, &e))?;
    if let Some(error) = reply.error {
        return Err(fail(1, error.message));
    }
    let mut waiting = not_there_yet(&socket, &cli.names, cli.state)?;
    let (sender, events) = mpsc::channel();
    std::thread::spawn(move || {
        // Ends when the stream does, or when the receiver is gone.
        while let Ok(Some(event)) = stream.next_line::<Event>() {
            if sender.send(event).is_err() {
                return;
            }
        }
    });
    let deadline = Instant::now() + cli.timeout;
    loop {
        if waiting.is_empty() {
            return Ok(());
        }
        if cli.state != ProcessState::Fatal && waiting.values().all(|s| *s == ProcessState::Fatal) {
            return Err(fail(1, laggards(&waiting, cli.state, "gave up")));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(Event {
                body: EventBody::State { name, to, .. },
                ..
            }) => {
                if to == cli.state {
                    waiting.remove(&name);
                } else if let Some(state) = waiting.get_mut(&name) {
                    *state = to;
                }
            }
            Ok(Event {
                body: EventBody::Health { .. },
                ..
            }) => {}
            // Events were dropped for us, or the programs changed: look again.
            Ok(Event {
                body: EventBody::Lagged { .. } | EventBody::Reload { .. },
                ..
            }) => waiting = not_there_yet(&socket, &cli.names, cli.state)?,
            Err(RecvTimeoutError::Timeout) => {
                let why = format!("timed out after {}", show(cli.timeout));
                return Err(fail(1, laggards(&waiting, cli.state, &why)));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(fail(
                    4,
                    format!("taskmasterd at {} ended the event stream", socket.display()),
                ))
            }
        }
    }
}

fn connect(socket: &std::path::Path) -> Result<Client, Failure> {
    Client::connect(socket).map_err(|e| {
        fail(
            4,
            format!(
                "{e}; is it running? (taskmasterctl sets TASKMASTER_SERVER_URL; else pass -s URL)"
            ),
        )
    })
}

fn lost(socket: &std::path::Path, error: &std::io::Error) -> Failure {
    fail(
        4,
        format!(
            "lost the connection to taskmasterd at {}: {error}",
            socket.display()
        ),
    )
}

/// The named processes that are not in `state`, with the state they are in.
fn not_there_yet(
    socket: &std::path::Path,
    names: &[String],
    state: ProcessState,
) -> Result<BTreeMap<String, ProcessState>, Failure> {
    let mut client = connect(socket)?;
    let reply = client
        .request(&Request::new(Command::status(Selection::names(names))))
        .map_err(|e| lost(socket, &e))?;
    let status: StatusContent = reply.into_content().map_err(|e| fail(1, e.message))?;
    Ok(status
        .processes
        .into_iter()
        .filter(|p| p.state != state)
        .map(|p| (p.name, p.state))
        .collect())
}

/// `timed out after 30s waiting for RUNNING: db is FATAL, web:1 is STARTING`
fn laggards(waiting: &BTreeMap<String, ProcessState>, state: ProcessState, why: &str) -> String {
    let list: Vec<String> = waiting
        .iter()
        .map(|(name, now)| format!("{name} is {now}"))
        .collect();
    format!("{why} waiting for {state}: {}", list.join(", "))
}

fn parse_state(text: &str) -> Result<ProcessState, String> {
    ProcessState::ALL
        .into_iter()
        .find(|s| s.as_str().eq_ignore_ascii_case(text))
        .ok_or_else(|| {
            let names: Vec<&str> = ProcessState::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown state '{text}'; one of {}", names.join(", "))
        })
}

/// `30s`, `500ms`, `2m`, `1h`, `1.5s` or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 0.001,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{text}': use ms, s, m or h"
            ))
        }
    };
    number
        .parse::<f64>()
        .ok()
        .and_then(|n| Duration::try_from_secs_f64(n * scale).ok())
        .ok_or_else(|| format!("'{text}' is not a duration such as 30s, 500ms or 2m"))
}

fn show(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
        assert!(Cli::try_parse_from(["wait"]).is_err(), "a name is required");
        let cli =
            Cli::try_parse_from(["wait", "web", "--state", "stopped", "--timeout", "2m"]).unwrap();
        assert_eq!(cli.state, ProcessState::Stopped);
        assert_eq!(cli.timeout, Duration::from_secs(120));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("5 days").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("-1s").is_err());
        assert_eq!(show(Duration::from_secs(30)), "30s");
        assert_eq!(show(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn states_in_any_case() {
        assert_eq!(parse_state("running"), Ok(ProcessState::Running));
        assert_eq!(parse_state("FATAL"), Ok(ProcessState::Fatal));
        assert!(parse_state("up").unwrap_err().contains("RUNNING"));
    }

    #[test]
    fn laggards_are_named_with_their_state() {
        let waiting = BTreeMap::from([
            ("web:1".to_string(), ProcessState::Starting),
            ("db".to_string(), ProcessState::Fatal),
        ]);
        assert_eq!(
            laggards(&waiting, ProcessState::Running, "timed out after 30s"),
            "timed out after 30s waiting for RUNNING: db is FATAL, web:1 is STARTING"
        );
    }
}
