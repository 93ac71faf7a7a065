//! Everything that reaches the main loop, as one channel of [`Input`]:
//! keys and resizes from the terminal, the daemon's events, a tick once a
//! second (for the /proc sample), the answers to actions, and the log
//! being followed. Each source is a thread blocked on its own read.

use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::time::Duration;

use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};
use taskmaster_protocol::{
    Action, ActionContent, Client, Command, Event, Reading, Selection, StatusContent, TailChunk,
    TailContent,
};

use crate::app::Key;

pub enum Input {
    Key(Key),
    /// Ctrl-C.
    Interrupt,
    Redraw,
    Daemon(Event),
    /// The event stream ended, or could not start: why.
    Down(String),
    Tick,
    /// What the daemon answered to an action.
    Done(String),
    /// Output of the followed process: (name, text, whether it replaces).
    Log(String, String, bool),
}

pub fn keys(sender: Sender<Input>) {
    std::thread::spawn(move || loop {
        let input = match event::read() {
            Ok(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => {
                if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
                    Input::Interrupt
                } else {
                    match k.code {
                        KeyCode::Char(c) => Input::Key(Key::Char(c)),
                        KeyCode::Up => Input::Key(Key::Up),
                        KeyCode::Down => Input::Key(Key::Down),
                        KeyCode::Left => Input::Key(Key::Left),
                        KeyCode::Right => Input::Key(Key::Right),
                        KeyCode::Enter => Input::Key(Key::Enter),
                        KeyCode::Esc => Input::Key(Key::Esc),
                        KeyCode::Backspace => Input::Key(Key::Backspace),
                        _ => continue,
                    }
                }
            }
            Ok(TermEvent::Resize(..)) => Input::Redraw,
            Ok(_) => continue,
            Err(_) => Input::Interrupt,
        };
        if sender.send(input).is_err() {
            return;
        }
    });
}

pub fn ticks(sender: Sender<Input>) {
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_secs(1));
        if sender.send(Input::Tick).is_err() {
            return;
        }
    });
}

/// Follows the daemon's events, connecting again (every 2 s) while it is
/// unreachable.
pub fn events(socket: PathBuf, sender: Sender<Input>) {
    std::thread::spawn(move || loop {
        let why = follow_events(&socket, &sender);
        if sender.send(Input::Down(why)).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(2));
    });
}

fn follow_events(socket: &Path, sender: &Sender<Input>) -> String {
    let mut client = match Client::connect(socket) {
        Ok(client) => client,
        Err(e) => return e.to_string(),
    };
    match client.request(&Command::Events.into()) {
        Ok(reply) if reply.status == 200 => {}
        Ok(reply) => {
            return reply
                .error
                .map_or_else(|| "events refused".to_owned(), |e| e.message)
        }
        Err(e) => return e.to_string(),
    }
    loop {
        match client.next_line::<Event>() {
            Ok(Some(event)) => {
                if sender.send(Input::Daemon(event)).is_err() {
                    return String::new();
                }
            }
            Ok(None) => {
                return format!("taskmasterd at {} ended the event stream", socket.display())
            }
            Err(e) => return e.to_string(),
        }
    }
}

pub fn status(socket: &Path) -> Result<StatusContent, String> {
    let mut client = Client::connect(socket).map_err(|e| e.to_string())?;
    let reply = client
        .request_as::<StatusContent>(&Command::status(Selection::default()).into())
        .map_err(|e| e.to_string())?;
    match (reply.content, reply.error) {
        (Some(content), None) => Ok(content),
        (_, error) => Err(error.map_or_else(|| "status failed".to_owned(), |e| e.message)),
    }
}

/// Runs `start`, `stop` or `restart` without holding up the screen.
pub fn act(socket: PathBuf, action: &'static str, name: String, sender: Sender<Input>) {
    std::thread::spawn(move || {
        let selection = Action::from(Selection::one(name.clone()));
        let command = match action {
            "start" => Command::Start(selection),
            "stop" => Command::Stop(selection),
            _ => Command::Restart(selection),
        };
        let answer = Client::connect(&socket)
            .map_err(|e| e.to_string())
            .and_then(|mut c| {
                c.request_as::<ActionContent>(&command.into())
                    .map_err(|e| e.to_string())
            })
            .map(|reply| match (reply.content, reply.error) {
                (_, Some(error)) => error.message,
                (Some(content), None) => content
                    .results
                    .iter()
                    .map(|r| format!("{}: {}", r.name, r.message))
                    .collect::<Vec<_>>()
                    .join(", "),
                (None, None) => format!("{action} {name}: no answer"),
            });
        let _ = sender.send(Input::Done(answer.unwrap_or_else(|e| e)));
    });
}

/// Follows a process's stdout; shutting the returned socket down ends it.
pub fn follow_log(
    socket: &Path,
    name: String,
    sender: Sender<Input>,
) -> Result<UnixStream, String> {
    let mut client = Client::connect(socket).map_err(|e| e.to_string())?;
    let handle = client.shutdown_handle().map_err(|e| e.to_string())?;
    let command = Command::Tail {
        selection: Selection::one(name.clone()),
        stream: None,
        reading: Reading {
            lines: Some(100),
            follow: Some(true),
        },
    };
    let first = client
        .request_as::<TailContent>(&command.into())
        .map_err(|e| e.to_string())?;
    let text = match (first.content, first.error) {
        (Some(content), None) => content.text,
        (_, error) => return Err(error.map_or_else(|| "no log".to_owned(), |e| e.message)),
    };
    std::thread::spawn(move || {
        let mut piece = (text, true);
        loop {
            if sender
                .send(Input::Log(name.clone(), piece.0, piece.1))
                .is_err()
            {
                return;
            }
            piece = match client.next_line::<TailChunk>() {
                Ok(Some(TailChunk {
                    missed_bytes: Some(n),
                    ..
                })) => (format!("[... {n} bytes skipped ...]\n"), false),
                Ok(Some(chunk)) => (chunk.text.unwrap_or_default(), false),
                Ok(None) | Err(_) => return,
            };
        }
    });
    Ok(handle)
}

pub fn stop_following(handle: &UnixStream) {
    let _ = handle.shutdown(Shutdown::Both);
}
