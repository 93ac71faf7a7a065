//! taskmasterctl-eventlistener: runs a supervisord event listener
//! (superlance's crashmail, httpok, memmon...) unchanged, feeding its stdin
//! from taskmasterd's `events` stream in supervisord's header/payload
//! format and reading its READY/RESULT answers from its stdout.
//!
//! It runs as an ordinary program under taskmasterd, the listener as its
//! child: the broker stays free of listener logic, and a slow listener can
//! only fill its own bounded buffer.

mod events;

use clap::Parser;
use events::{Buffer, Message, Reader, Token};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command as Process, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use taskmaster_protocol::{
    socket_path_from_url, Client, Command, Event, EventBody, Request, DEFAULT_SERVER_URL,
};
use taskmasterctl_xmlrpc::names::supervisor_name;

/// Run a supervisord event listener on taskmasterd's events.
///
/// The listener is started as a child with supervisord's environment
/// (SUPERVISOR_ENABLED, SUPERVISOR_PROCESS_NAME, SUPERVISOR_GROUP_NAME,
/// SUPERVISOR_SERVER_URL for listeners that call back through
/// taskmasterctl-xmlrpc). Run it as a program with
/// `stopasgroup = true` so that a stop reaches the listener too.
#[derive(Debug, Parser)]
#[command(
    name = "taskmasterctl eventlistener",
    bin_name = "taskmasterctl eventlistener",
    version,
    after_help = "Example: taskmasterctl eventlistener --events PROCESS_STATE_EXITED -- crashmail -a -m ops@example.com"
)]
struct Cli {
    /// Event types to send, comma-separated: PROCESS_STATE (every
    /// PROCESS_STATE_*), PROCESS_STATE_EXITED..., TICK_5, TICK_60,
    /// TICK_3600, TICK (all three), EVENT (everything).
    #[arg(long, value_name = "TYPES", value_delimiter = ',', required = true)]
    events: Vec<String>,

    /// Events kept while the listener is busy; beyond, the oldest is
    /// dropped and the drop logged (supervisord's buffer_size).
    #[arg(long, value_name = "N", default_value_t = 10)]
    buffer_size: usize,

    /// The pool name in each header [default: $TASKMASTER_PROCESS_NAME].
    #[arg(long, value_name = "NAME")]
    pool: Option<String>,

    /// SUPERVISOR_SERVER_URL for the listener: where taskmasterctl-xmlrpc
    /// serves (listeners refuse to run without it, even those that never
    /// call it).
    #[arg(
        long,
        value_name = "URL",
        default_value = "unix:///run/taskmaster/xmlrpc.sock"
    )]
    supervisor_url: String,

    /// The config, to tell expected exits (exitcodes) in EXITED events
    /// [default: $TASKMASTER_CONFIG, then the usual places; exit code 0
    /// when none can be read].
    #[arg(short = 'c', long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// taskmasterd's socket [default: $TASKMASTER_SERVER_URL, which
    /// taskmasterd gives its programs, else unix:///tmp/taskmaster.sock].
    #[arg(short = 's', long = "server-url", value_name = "URL")]
    server_url: Option<String>,

    /// The listener's command and arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// What the main loop waits on.
enum Input {
    Event(Message),
    Stdout(Vec<u8>),
    /// The listener closed its stdout (it exited).
    Eof,
    /// The events stream ended: taskmasterd went away.
    Gone(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("taskmasterctl-eventlistener: {message}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    events::check(&cli.events)?;
    let url = cli
        .server_url
        .clone()
        .or_else(|| std::env::var("TASKMASTER_SERVER_URL").ok())
        .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned());
    let socket = socket_path_from_url(&url).map_err(|e| e.to_string())?;
    let own_name = std::env::var("TASKMASTER_PROCESS_NAME").unwrap_or_default();
    let pool = cli
        .pool
        .clone()
        .or_else(|| (!own_name.is_empty()).then(|| own_name.clone()))
        .unwrap_or_else(|| "listener".to_owned());
    let exitcodes = ExitCodes::load(cli.config.as_deref());

    // Subscribe before the listener starts, so that no event of its first
    // moments is lost: they wait in the buffer.
    let mut client = Client::connect(&socket).map_err(|e| e.to_string())?;
    let reply = client
        .request(&Request::new(Command::Events))
        .map_err(|e| format!("taskmasterd: {e}"))?;
    if let Some(error) = reply.error {
        return Err(format!("taskmasterd refused the events stream: {error}"));
    }
    eprintln!(
        "taskmasterctl-eventlistener: pool {pool}: subscribed to {}",
        cli.events.join(",")
    );

    let mut child = Process::new(&cli.command[0])
        .args(&cli.command[1..])
        .env("SUPERVISOR_ENABLED", "1")
        .env("SUPERVISOR_PROCESS_NAME", &pool)
        .env(
            "SUPERVISOR_GROUP_NAME",
            std::env::var("TASKMASTER_GROUP_NAME").unwrap_or_else(|_| pool.clone()),
        )
        .env("SUPERVISOR_SERVER_URL", &cli.supervisor_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", cli.command[0]))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");

    let (tx, rx) = mpsc::channel();
    let serial = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1));
    {
        let (tx, names, serial) = (tx.clone(), cli.events.clone(), serial.clone());
        let socket = socket.clone();
        std::thread::spawn(move || {
            forward_events(client, &socket, &names, &exitcodes, &serial, &tx);
        });
    }
    for period in events::ticks(&cli.events) {
        let (tx, serial) = (tx.clone(), serial.clone());
        std::thread::spawn(move || tick(period, &serial, &tx));
    }
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = [0; 4096];
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(Input::Eof);
                        return;
                    }
                    Ok(n) => {
                        if tx.send(Input::Stdout(buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
    drop(tx);

    let mut buffer = Buffer::new(cli.buffer_size);
    let mut reader = Reader::default();
    let mut ready = false;
    let mut in_flight: Option<Message> = None;
    let mut poolserial = 0;
    for input in rx {
        match input {
            Input::Event(message) => {
                if let Some(dropped) = buffer.push(message) {
                    eprintln!(
                        "taskmasterctl-eventlistener: pool {pool} event buffer overflowed, \
                         discarding event {} ({})",
                        dropped.serial, dropped.name
                    );
                }
            }
            Input::Stdout(bytes) => {
                for token in reader.feed(&bytes) {
                    match token {
                        Token::Ready => ready = true,
                        Token::Result(body) => {
                            if let Some(message) = in_flight.take() {
                                if body != "OK" {
                                    // FAIL: supervisord sends it again.
                                    buffer.retry(message);
                                }
                            }
                        }
                        Token::Garbage(line) => eprintln!(
                            "taskmasterctl-eventlistener: pool {pool}: unexpected output \
                             from the listener (it must write READY or RESULT on stdout; \
                             log on stderr): {line:?}"
                        ),
                    }
                }
            }
            Input::Eof => break,
            Input::Gone(why) => {
                eprintln!("taskmasterctl-eventlistener: {why}; stopping the listener");
                break;
            }
        }
        if ready && in_flight.is_none() {
            if let Some(message) = buffer.pop() {
                poolserial += 1;
                let text = message.render(&pool, poolserial);
                if stdin
                    .write_all(text.as_bytes())
                    .and_then(|()| stdin.flush())
                    .is_err()
                {
                    break;
                }
                ready = false;
                in_flight = Some(message);
            }
        }
    }
    drop(stdin);
    let status = child
        .wait()
        .map_err(|e| format!("waiting for the listener: {e}"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    })
}

/// Every program's expected exit codes, from the config when it can be
/// read; otherwise 0 alone, supervisord's default.
struct ExitCodes(Option<taskmaster_config::Config>);

impl ExitCodes {
    fn load(explicit: Option<&std::path::Path>) -> ExitCodes {
        let config = taskmaster_protocol::discover_config(explicit)
            .ok()
            .and_then(|path| taskmaster_config::load(&path).ok());
        ExitCodes(config)
    }

    fn expects(&self, process: &str, code: i32) -> bool {
        match self.0.as_ref().and_then(|c| c.program_of_process(process)) {
            Some((program, _)) => program.exitcodes.contains(&code),
            None => code == 0,
        }
    }
}

/// Reads taskmasterd's events stream and turns process state changes into
/// PROCESS_STATE_* messages for the main loop.
fn forward_events(
    mut client: Client,
    socket: &std::path::Path,
    names: &[String],
    exitcodes: &ExitCodes,
    serial: &std::sync::atomic::AtomicU64,
    tx: &mpsc::Sender<Input>,
) {
    loop {
        // Read as JSON first: an event type newer than this program is
        // skipped, not fatal.
        let line = match client.next_line::<serde_json::Value>() {
            Ok(Some(line)) => line,
            Ok(None) => {
                let _ = tx.send(Input::Gone("taskmasterd ended the events stream".into()));
                return;
            }
            Err(e) => {
                let _ = tx.send(Input::Gone(format!("taskmasterd: {e}")));
                return;
            }
        };
        let Ok(Event {
            body:
                EventBody::State {
                    name,
                    group,
                    from,
                    to,
                    pid,
                },
            ..
        }) = serde_json::from_value::<Event>(line)
        else {
            continue;
        };
        let event = format!("PROCESS_STATE_{}", to.as_str());
        if !events::wanted(names, &event) {
            continue;
        }
        let expected = to == taskmaster_protocol::ProcessState::Exited
            && last_exit_code(socket, &name).is_some_and(|code| exitcodes.expects(&name, code));
        let payload = events::process_state_payload(
            &supervisor_name(&name, &group),
            &group,
            from.as_str(),
            to.as_str(),
            pid,
            expected,
        );
        let message = Message {
            serial: serial.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            name: event,
            payload,
        };
        if tx.send(Input::Event(message)).is_err() {
            return;
        }
    }
}

/// The exit code of the last run of `process` (`None` after a signal).
fn last_exit_code(socket: &std::path::Path, process: &str) -> Option<i32> {
    let mut client = Client::connect(socket).ok()?;
    let status: taskmaster_protocol::StatusContent = client
        .request(&Request::new(Command::status(
            taskmaster_protocol::Selection::one(process),
        )))
        .ok()?
        .into_content()
        .ok()?;
    status
        .processes
        .first()?
        .exit
        .as_deref()?
        .strip_prefix("exit status ")?
        .parse()
        .ok()
}

/// Sends TICK_`period` each time the wall clock crosses a multiple of it,
/// as supervisord does.
fn tick(period: u64, serial: &std::sync::atomic::AtomicU64, tx: &mpsc::Sender<Input>) {
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    };
    let mut last = now() / period;
    loop {
        let at = now();
        let next = (at / period + 1) * period;
        std::thread::sleep(Duration::from_secs(next - at));
        let at = now();
        if at / period == last {
            continue;
        }
        last = at / period;
        let message = Message {
            serial: serial.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
            name: format!("TICK_{period}"),
            payload: format!("when:{at}"),
        };
        if tx.send(Input::Event(message)).is_err() {
            return;
        }
    }
}
