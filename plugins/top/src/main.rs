//! taskmasterctl-top: a live terminal dashboard of taskmasterd's processes
//! (state, pid, uptime, CPU %, memory, restarts), sorted by any column,
//! with keys to start, stop and restart the selected one and follow its
//! log. Live from the daemon's `events`; /proc is sampled once a second
//! while it is open.

mod app;
mod feed;
mod view;

use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Instant;

use clap::Parser;
use taskmaster_protocol::{socket_path_from_url, EventBody, DEFAULT_SERVER_URL};

use app::{App, Intent, LogPane};
use feed::Input;

/// A live terminal dashboard of taskmasterd's processes.
///
/// Keys: ↑/↓ (or k/j) select; s start, t stop, r restart the selected
/// process; l follow its log (again to close); / filter by name (Enter
/// keeps, Esc clears); 1-7 or ◀/▶ sort by a column (again to reverse);
/// q quit. NO_COLOR turns colours off.
#[derive(Debug, Parser)]
#[command(name = "taskmasterctl top", bin_name = "taskmasterctl top", version)]
struct Cli {
    /// taskmasterd's socket [default: $TASKMASTER_SERVER_URL, which taskmasterctl
    /// sets, else unix:///tmp/taskmaster.sock].
    #[arg(short = 's', long = "server-url", value_name = "URL")]
    server_url: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let url = cli
        .server_url
        .or_else(|| std::env::var("TASKMASTER_SERVER_URL").ok())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_SERVER_URL.to_owned());
    let socket = match socket_path_from_url(&url) {
        Ok(socket) => socket,
        Err(e) => {
            eprintln!("taskmasterctl-top: {e}");
            return ExitCode::from(2);
        }
    };
    // Reached before the screen is taken, so the error reads as usual.
    let first = match feed::status(&socket) {
        Ok(status) => status,
        Err(e) => {
            eprintln!("taskmasterctl-top: {e}");
            return ExitCode::from(4);
        }
    };
    let color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut app = App::new(color, Instant::now());
    app.set_status(first);
    let mut terminal = ratatui::init();
    let result = run(&mut terminal, &mut app, &socket);
    ratatui::restore();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("taskmasterctl-top: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    socket: &std::path::Path,
) -> std::io::Result<()> {
    let (sender, inputs) = mpsc::channel();
    feed::keys(sender.clone());
    feed::ticks(sender.clone());
    feed::events(socket.to_path_buf(), sender.clone());
    let mut following = None;
    let mut sampled = Instant::now();
    loop {
        app.now = Instant::now();
        terminal.draw(|frame| view::draw(frame, app))?;
        let Ok(first) = inputs.recv() else {
            return Ok(());
        };
        // Handle what is already there as one, then draw once.
        let mut stale = false;
        for input in std::iter::once(first).chain(inputs.try_iter()) {
            match input {
                Input::Key(key) => match app.on_key(key) {
                    Some(Intent::Quit) => return Ok(()),
                    Some(Intent::Act(action, name)) => {
                        app.message = format!("{action} {name}...");
                        feed::act(socket.to_path_buf(), action, name, sender.clone());
                    }
                    Some(Intent::FollowLog(name)) => {
                        if let Some(handle) = following.take() {
                            feed::stop_following(&handle);
                        }
                        match feed::follow_log(socket, name.clone(), sender.clone()) {
                            Ok(handle) => {
                                following = Some(handle);
                                app.log = Some(LogPane {
                                    name,
                                    text: String::new(),
                                });
                            }
                            Err(e) => app.message = e,
                        }
                    }
                    Some(Intent::CloseLog) => {
                        if let Some(handle) = following.take() {
                            feed::stop_following(&handle);
                        }
                        app.log = None;
                    }
                    None => {}
                },
                Input::Interrupt => return Ok(()),
                Input::Redraw => {}
                Input::Daemon(event) => {
                    if let EventBody::State { name, .. } = &event.body {
                        if event.body.is_restart() {
                            app.count_restart(name);
                        }
                    }
                    stale = true;
                }
                Input::Down(why) => {
                    app.message = why;
                    stale = true;
                }
                Input::Tick => {
                    let usage = taskmaster_procstat::sample(&app.pids());
                    app.apply_usage(&usage, sampled.elapsed());
                    sampled = Instant::now();
                }
                Input::Done(answer) => app.message = answer,
                Input::Log(name, text, reset) => app.log_append(&name, &text, reset),
            }
        }
        if stale {
            app.now = Instant::now();
            match feed::status(socket) {
                Ok(status) => app.set_status(status),
                Err(e) => app.message = e,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
