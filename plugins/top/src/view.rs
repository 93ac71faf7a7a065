//! Draws an [`App`] on a terminal frame of any size (80x24 and up reads
//! well; smaller still draws): a header, the table, the log pane when one
//! is open, and a line of keys. Without colour (`NO_COLOR`) the selection
//! and the sorted column still show, by reverse video and underline.

use std::time::Duration;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row as TableRow, Table, TableState};
use ratatui::Frame;
use taskmaster_protocol::ProcessState;

use crate::app::{App, Row, COLUMNS};

fn clock(uptime: Duration) -> String {
    let secs = uptime.as_secs();
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `512K`, `12.3M`, `1.2G`.
pub fn bytes(n: u64) -> String {
    const K: f64 = 1024.0;
    let n = n as f64;
    if n < K * K {
        format!("{:.0}K", n / K)
    } else if n < K * K * K {
        format!("{:.1}M", n / K / K)
    } else {
        format!("{:.1}G", n / K / K / K)
    }
}

fn state_color(state: ProcessState) -> Color {
    match state {
        ProcessState::Running => Color::Green,
        ProcessState::Starting | ProcessState::Stopping | ProcessState::Backoff => Color::Yellow,
        ProcessState::Exited | ProcessState::Fatal | ProcessState::Unknown => Color::Red,
        ProcessState::Stopped => Color::DarkGray,
    }
}

fn cells(app: &App, row: &Row) -> Vec<Cell<'static>> {
    let state = Span::styled(
        row.state.as_str(),
        if app.color {
            Style::new().fg(state_color(row.state))
        } else {
            Style::new()
        },
    );
    vec![
        Cell::from(row.name.clone()),
        Cell::from(state),
        Cell::from(row.pid.map(|p| p.to_string()).unwrap_or_default()),
        Cell::from(app.uptime(row).map(clock).unwrap_or_default()),
        Cell::from(row.cpu.map(|c| format!("{c:.1}")).unwrap_or_default()),
        Cell::from(row.rss.map(bytes).unwrap_or_default()),
        Cell::from(row.restarts.to_string()),
        Cell::from(Span::styled(
            row.health.clone(),
            health_style(app, &row.health),
        )),
    ]
}

/// Unhealthy in red, healthy in green, waiting in yellow.
fn health_style(app: &App, health: &str) -> Style {
    let color = match health {
        _ if !app.color => return Style::new(),
        "healthy" => Color::Green,
        h if h.starts_with("waiting") => Color::Yellow,
        _ => Color::Red,
    };
    Style::new().fg(color)
}

fn header(app: &App) -> TableRow<'static> {
    let titles = COLUMNS.iter().map(|&column| {
        if column == app.sort {
            let arrow = if app.descending { "▼" } else { "▲" };
            let style = Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
            Cell::from(Span::styled(format!("{}{arrow}", column.title()), style))
        } else {
            Cell::from(column.title())
        }
    });
    // HEALTH is not a sort key: it comes after the numbered columns.
    let titles = titles.chain([Cell::from("HEALTH")]);
    TableRow::new(titles).style(Style::new().add_modifier(Modifier::BOLD))
}

pub fn draw(frame: &mut Frame, app: &App) {
    let problems = u16::from(!app.problems.is_empty());
    let log = if app.log.is_some() {
        Constraint::Percentage(45)
    } else {
        Constraint::Length(0)
    };
    let [top, problem_area, table_area, log_area, keys_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(problems),
        Constraint::Min(3),
        log,
        Constraint::Length(1),
    ])
    .areas(frame.area());

    let rows = app.visible();
    let running = rows
        .iter()
        .filter(|r| r.state == ProcessState::Running)
        .count();
    let mut title = vec![
        Span::styled("taskmaster top", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!("  {} processes, {running} running", rows.len())),
    ];
    if !app.filter.is_empty() || app.editing_filter {
        title.push(Span::raw(format!("  filter: {}", app.filter)));
    }
    frame.render_widget(Paragraph::new(Line::from(title)), top);
    if let Some(problem) = app.problems.first() {
        let style = if app.color {
            Style::new().fg(Color::Red)
        } else {
            Style::new()
        };
        frame.render_widget(
            Paragraph::new(Span::styled(problem.clone(), style)),
            problem_area,
        );
    }

    // Names first: on a narrow terminal the numbers give way.
    let widths = [
        Constraint::Min(12),
        Constraint::Length(9),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(9),
        // "unhealthy (2/3: HTTP 500)"; the first to give way.
        Constraint::Length(26),
    ];
    let table = Table::new(rows.iter().map(|r| TableRow::new(cells(app, r))), widths)
        .header(header(app))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(app.selected_index());
    frame.render_stateful_widget(table, table_area, &mut state);

    if let Some(pane) = &app.log {
        draw_log(frame, log_area, &pane.name, &pane.text);
    }

    let keys = if app.editing_filter {
        format!("/{}  (Enter: keep, Esc: clear)", app.filter)
    } else if !app.message.is_empty() {
        app.message.clone()
    } else {
        "↑↓ select  s start  t stop  r restart  l log  / filter  1-7 ◀▶ sort  q quit".to_owned()
    };
    frame.render_widget(Paragraph::new(keys), keys_area);
}

/// The end of a log, as much as fits.
fn draw_log(frame: &mut Frame, area: Rect, name: &str, text: &str) {
    let block = Block::default()
        .borders(Borders::TOP)
        .title(format!(" {name} stdout (l: close) "));
    let height = block.inner(area).height as usize;
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(height);
    let shown: Vec<Line> = lines[start..]
        .iter()
        .map(|l| Line::raw(l.to_string()))
        .collect();
    frame.render_widget(Paragraph::new(shown).block(block), area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::tests::app;
    use crate::app::{Key, LogPane};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn render(app: &App, width: u16, height: u16) -> (Vec<String>, ratatui::buffer::Buffer) {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, app)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        let lines = (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol())
                    .collect::<String>()
            })
            .collect();
        (lines, buffer)
    }

    #[test]
    fn an_80x24_screen_shows_header_rows_and_keys() {
        let app = app();
        let (lines, _) = render(&app, 80, 24);
        assert!(
            lines[0].starts_with("taskmaster top  3 processes, 2 running"),
            "{lines:#?}"
        );
        assert!(
            lines[1].contains("NAME▲") && lines[1].contains("RESTARTS"),
            "{lines:#?}"
        );
        assert!(
            lines[2].starts_with("batch") && lines[2].contains("STOPPED"),
            "{lines:#?}"
        );
        assert!(
            lines[4].starts_with("web") && lines[4].contains("RUNNING"),
            "{lines:#?}"
        );
        assert!(
            lines[4].contains("100") && lines[4].contains("0:01:05"),
            "{lines:#?}"
        );
        assert!(lines[23].contains("q quit"), "{lines:#?}");
    }

    #[test]
    fn the_health_column_shows_health_and_held_starts() {
        let mut app = app();
        let mut status = crate::app::tests::status();
        status.processes[0].readiness.health = Some("unhealthy (2/3: HTTP 500)".into());
        status.processes[2].readiness.waiting_for = Some("db is STARTING".into());
        app.set_status(status);
        let (lines, buffer) = render(&app, 120, 24);
        assert!(lines[1].trim_end().ends_with("HEALTH"), "{lines:#?}");
        assert!(
            lines[4].starts_with("web")
                && lines[4].trim_end().ends_with("unhealthy (2/3: HTTP 500)"),
            "{lines:#?}"
        );
        assert!(
            lines[2].starts_with("batch")
                && lines[2].trim_end().ends_with("waiting: db is STARTING"),
            "{lines:#?}"
        );
        let at = lines[4].find("unhealthy").unwrap() as u16;
        assert_eq!(buffer[(at, 4)].fg, Color::Red);
        let (lines, _) = render(&app, 80, 24);
        assert!(
            lines[4].contains("unhea"),
            "80 columns still show its start: {lines:#?}"
        );
    }

    #[test]
    fn a_small_terminal_still_draws_and_a_large_one_stretches_the_names() {
        let app = app();
        let (lines, _) = render(&app, 40, 8);
        assert!(lines[2].starts_with("batch"), "{lines:#?}");
        let (lines, _) = render(&app, 160, 50);
        let at = lines[1].find("STATE").unwrap();
        assert!(at > 80, "the name column takes the room: {}", lines[1]);
    }

    #[test]
    fn the_selection_is_reverse_video_and_no_color_means_no_colour() {
        let mut app = app();
        app.on_key(Key::Down);
        let (_, buffer) = render(&app, 80, 24);
        assert!(
            buffer[(0, 3)].modifier.contains(Modifier::REVERSED),
            "db is selected"
        );
        assert!(!buffer[(0, 2)].modifier.contains(Modifier::REVERSED));
        let coloured = (0..80).any(|x| buffer[(x, 4)].fg == Color::Green);
        assert!(coloured, "RUNNING is green");
        app.color = false;
        let (_, buffer) = render(&app, 80, 24);
        let colours = (0..24).flat_map(|y| (0..80).map(move |x| (x, y)));
        let plain = colours
            .clone()
            .all(|p| buffer[p].fg == Color::Reset && buffer[p].bg == Color::Reset);
        assert!(plain, "NO_COLOR: no colour anywhere");
        assert!(
            buffer[(0, 3)].modifier.contains(Modifier::REVERSED),
            "still selected"
        );
    }

    #[test]
    fn the_log_pane_shows_the_end_of_the_log() {
        let mut app = app();
        let text: String = (1..=40).map(|n| format!("line {n}\n")).collect();
        app.log = Some(LogPane {
            name: "web".into(),
            text,
        });
        let (lines, _) = render(&app, 80, 24);
        let joined = lines.join("\n");
        assert!(joined.contains("web stdout"), "{joined}");
        assert!(
            joined.contains("line 40") && !joined.contains("line 1\n"),
            "{joined}"
        );
        assert!(
            lines[2].starts_with("batch"),
            "the table stays on top: {lines:#?}"
        );
    }

    #[test]
    fn the_filter_prompt_replaces_the_keys() {
        let mut app = app();
        app.on_key(Key::Char('/'));
        app.on_key(Key::Char('d'));
        let (lines, _) = render(&app, 80, 24);
        assert!(lines[23].starts_with("/d  (Enter"), "{lines:#?}");
        assert!(
            lines[0].contains("filter: d") && lines[0].contains("1 processes"),
            "{lines:#?}"
        );
    }

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(bytes(512 * 1024), "512K");
        assert_eq!(bytes(12 * 1024 * 1024 + 300 * 1024), "12.3M");
        assert_eq!(bytes(3 << 30), "3.0G");
    }
}
