//! What `top` shows and how keys change it, without a terminal or a
//! daemon: the processes with their sampled CPU and memory, the sort, the
//! filter, the selection, the log pane. The main loop feeds it; `view.rs`
//! draws it; the tests drive it directly.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use taskmaster_procstat::Usage;
use taskmaster_protocol::{ProcessInfo, ProcessState, StatusContent};

/// The columns, in order; each can sort the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Name,
    State,
    Pid,
    Uptime,
    Cpu,
    Rss,
    Restarts,
}

pub const COLUMNS: [Column; 7] = [
    Column::Name,
    Column::State,
    Column::Pid,
    Column::Uptime,
    Column::Cpu,
    Column::Rss,
    Column::Restarts,
];

impl Column {
    pub fn title(self) -> &'static str {
        match self {
            Column::Name => "NAME",
            Column::State => "STATE",
            Column::Pid => "PID",
            Column::Uptime => "UPTIME",
            Column::Cpu => "CPU%",
            Column::Rss => "RSS",
            Column::Restarts => "RESTARTS",
        }
    }
}

/// One process as the table shows it.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub state: ProcessState,
    pub pid: Option<i32>,
    /// When it started, on our clock, while it runs.
    pub since: Option<Instant>,
    /// Percent of one CPU over the last sample; `None` before two samples.
    pub cpu: Option<f64>,
    pub rss: Option<u64>,
    pub restarts: u64,
    /// `healthy`, `unhealthy (2/3: HTTP 500)`, or what a start held by
    /// `depends_on` waits for; empty when there is nothing to say.
    pub health: String,
}

/// What a key asks the main loop to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    Quit,
    /// `start`, `stop` or `restart` a process.
    Act(&'static str, String),
    /// Follow this process's stdout in the log pane.
    FollowLog(String),
    CloseLog,
}

/// A key, as far as `top` cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Up,
    Down,
    Left,
    Right,
    Enter,
    Esc,
    Backspace,
}

/// The log pane: whose, and its last lines.
#[derive(Debug, Clone, Default)]
pub struct LogPane {
    pub name: String,
    pub text: String,
}

/// How many bytes of log the pane keeps.
const LOG_KEEP: usize = 64 * 1024;

pub struct App {
    rows: Vec<Row>,
    pub sort: Column,
    pub descending: bool,
    pub filter: String,
    pub editing_filter: bool,
    /// The selected process, by name, so that it stays selected as rows move.
    pub selected: Option<String>,
    pub message: String,
    pub problems: Vec<String>,
    pub log: Option<LogPane>,
    pub color: bool,
    /// The clock the uptimes are read against (set by the main loop).
    pub now: Instant,
    restarts: HashMap<String, u64>,
    /// The CPU seconds each process group had at the last sample.
    last_cpu: HashMap<i32, f64>,
}

impl App {
    pub fn new(color: bool, now: Instant) -> App {
        App {
            rows: Vec::new(),
            sort: Column::Name,
            descending: false,
            filter: String::new(),
            editing_filter: false,
            selected: None,
            message: String::new(),
            problems: Vec::new(),
            log: None,
            color,
            now,
            restarts: HashMap::new(),
            last_cpu: HashMap::new(),
        }
    }

    /// Takes a fresh `status`, keeping what was sampled for the same pids.
    pub fn set_status(&mut self, status: StatusContent) {
        let old: HashMap<(String, Option<i32>), Row> = self
            .rows
            .drain(..)
            .map(|r| ((r.name.clone(), r.pid), r))
            .collect();
        self.rows = status
            .processes
            .into_iter()
            .map(|p: ProcessInfo| {
                let (cpu, rss) = old
                    .get(&(p.name.clone(), p.pid))
                    .map_or((None, None), |r| (r.cpu, r.rss));
                let since = p
                    .uptime_secs
                    .filter(|_| p.state.is_alive())
                    .and_then(|secs| self.now.checked_sub(Duration::from_secs(secs)));
                let readiness = &p.readiness;
                let health = match (&readiness.waiting_for, &readiness.health) {
                    (Some(on), _) => format!("waiting: {on}"),
                    (None, Some(health)) => health.clone(),
                    (None, None) => String::new(),
                };
                Row {
                    health,
                    restarts: self.restarts.get(&p.name).copied().unwrap_or(0),
                    name: p.name,
                    state: p.state,
                    pid: p.pid,
                    since,
                    cpu,
                    rss,
                }
            })
            .collect();
        self.problems = status.config_errors;
        self.problems.extend(status.warnings);
        if self.selected.is_none() {
            self.selected = self.visible().first().map(|r| r.name.clone());
        }
    }

    pub fn count_restart(&mut self, name: &str) {
        let count = self.restarts.entry(name.to_owned()).or_default();
        *count += 1;
        let count = *count;
        if let Some(row) = self.rows.iter_mut().find(|r| r.name == name) {
            row.restarts = count;
        }
    }

    /// The pids to sample.
    pub fn pids(&self) -> Vec<i32> {
        self.rows.iter().filter_map(|r| r.pid).collect()
    }

    /// Takes a /proc sample taken `elapsed` after the previous one.
    pub fn apply_usage(&mut self, usage: &HashMap<i32, Usage>, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        for row in &mut self.rows {
            let Some(u) = row.pid.and_then(|pid| usage.get(&pid)) else {
                row.cpu = None;
                row.rss = None;
                continue;
            };
            row.rss = Some(u.resident_bytes);
            let before = row.pid.and_then(|pid| self.last_cpu.get(&pid));
            row.cpu = match before {
                Some(before) if seconds > 0.0 => {
                    Some(((u.cpu_seconds - before) / seconds * 100.0).max(0.0))
                }
                _ => None,
            };
        }
        self.last_cpu = usage.iter().map(|(pid, u)| (*pid, u.cpu_seconds)).collect();
    }

    pub fn uptime(&self, row: &Row) -> Option<Duration> {
        row.since
            .map(|since| self.now.saturating_duration_since(since))
    }

    /// The rows the filter keeps, in the chosen order.
    pub fn visible(&self) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.name.contains(self.filter.as_str()))
            .collect();
        rows.sort_by(|a, b| {
            let order = match self.sort {
                Column::Name => a.name.cmp(&b.name),
                Column::State => a.state.as_str().cmp(b.state.as_str()),
                Column::Pid => a.pid.cmp(&b.pid),
                Column::Uptime => self.uptime(a).cmp(&self.uptime(b)),
                Column::Cpu => a
                    .cpu
                    .partial_cmp(&b.cpu)
                    .unwrap_or(std::cmp::Ordering::Equal),
                Column::Rss => a.rss.cmp(&b.rss),
                Column::Restarts => a.restarts.cmp(&b.restarts),
            };
            let order = if self.descending {
                order.reverse()
            } else {
                order
            };
            order.then_with(|| a.name.cmp(&b.name))
        });
        rows
    }

    /// The index of the selected row among the visible ones.
    pub fn selected_index(&self) -> Option<usize> {
        let name = self.selected.as_deref()?;
        self.visible().iter().position(|r| r.name == name)
    }

    fn move_selection(&mut self, by: isize) {
        let rows = self.visible();
        if rows.is_empty() {
            return;
        }
        let at = self.selected_index().map_or(0, |i| {
            (i as isize + by).clamp(0, rows.len() as isize - 1) as usize
        });
        self.selected = Some(rows[at].name.clone());
    }

    /// Sorts by `column`; choosing the same column again reverses it.
    fn sort_by(&mut self, column: Column) {
        if self.sort == column {
            self.descending = !self.descending;
        } else {
            self.sort = column;
            // Bigger first is what one looks for in the numbers.
            self.descending = !matches!(column, Column::Name | Column::State);
        }
    }

    pub fn on_key(&mut self, key: Key) -> Option<Intent> {
        if self.editing_filter {
            match key {
                Key::Char(c) => self.filter.push(c),
                Key::Backspace => {
                    self.filter.pop();
                }
                Key::Enter => self.editing_filter = false,
                Key::Esc => {
                    self.filter.clear();
                    self.editing_filter = false;
                }
                _ => {}
            }
            // Keep a visible row selected as the filter narrows.
            if self.selected_index().is_none() {
                self.selected = self.visible().first().map(|r| r.name.clone());
            }
            return None;
        }
        // A message (an action's answer) stays until the next key.
        self.message.clear();
        let selected = self.selected_index().and(self.selected.clone());
        match key {
            Key::Char('q') => return Some(Intent::Quit),
            Key::Esc if self.log.is_some() => return Some(Intent::CloseLog),
            Key::Esc if !self.filter.is_empty() => self.filter.clear(),
            Key::Up | Key::Char('k') => self.move_selection(-1),
            Key::Down | Key::Char('j') => self.move_selection(1),
            Key::Left | Key::Char('<') => self.sort_by(self.shift_column(-1)),
            Key::Right | Key::Char('>') => self.sort_by(self.shift_column(1)),
            Key::Char(c @ '1'..='7') => self.sort_by(COLUMNS[c as usize - '1' as usize]),
            Key::Char('/') => self.editing_filter = true,
            Key::Char('s') => return selected.map(|n| Intent::Act("start", n)),
            Key::Char('t') => return selected.map(|n| Intent::Act("stop", n)),
            Key::Char('r') => return selected.map(|n| Intent::Act("restart", n)),
            Key::Char('l') => {
                return match (&self.log, selected) {
                    (Some(pane), Some(name)) if pane.name == name => Some(Intent::CloseLog),
                    (_, Some(name)) => Some(Intent::FollowLog(name)),
                    (_, None) => None,
                }
            }
            _ => {}
        }
        None
    }

    fn shift_column(&self, by: isize) -> Column {
        let at = COLUMNS.iter().position(|c| *c == self.sort).unwrap_or(0) as isize;
        COLUMNS[(at + by).rem_euclid(COLUMNS.len() as isize) as usize]
    }

    /// Appends output to the log pane, keeping its end.
    pub fn log_append(&mut self, name: &str, text: &str, reset: bool) {
        let Some(pane) = self.log.as_mut().filter(|p| p.name == name) else {
            return;
        };
        if reset {
            pane.text.clear();
        }
        pane.text.push_str(text);
        if pane.text.len() > LOG_KEEP {
            let mut cut = pane.text.len() - LOG_KEEP;
            while !pane.text.is_char_boundary(cut) {
                cut += 1;
            }
            pane.text.drain(..cut);
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn process(name: &str, state: ProcessState, pid: Option<i32>) -> ProcessInfo {
        ProcessInfo {
            pid,
            uptime_secs: pid.map(|_| 65),
            ..ProcessInfo::new(name, name, name, state)
        }
    }

    pub fn app() -> App {
        let mut app = App::new(true, Instant::now() + Duration::from_secs(1000));
        app.set_status(status());
        app
    }

    /// web, db running; batch stopped.
    pub fn status() -> StatusContent {
        StatusContent {
            processes: vec![
                process("web", ProcessState::Running, Some(100)),
                process("db", ProcessState::Running, Some(200)),
                process("batch", ProcessState::Stopped, None),
            ],
            config_errors: vec![],
            warnings: vec![],
        }
    }

    fn names(app: &App) -> Vec<&str> {
        app.visible().iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn sorted_by_name_then_by_any_column_and_back() {
        let mut app = app();
        assert_eq!(names(&app), ["batch", "db", "web"]);
        let usage = |web: f64, db: f64| {
            HashMap::from([
                (
                    100,
                    Usage {
                        cpu_seconds: web,
                        resident_bytes: 10,
                    },
                ),
                (
                    200,
                    Usage {
                        cpu_seconds: db,
                        resident_bytes: 20,
                    },
                ),
            ])
        };
        app.apply_usage(&usage(1.0, 1.0), Duration::from_secs(1));
        app.apply_usage(&usage(1.5, 1.1), Duration::from_secs(1));
        app.on_key(Key::Char('5'));
        assert_eq!(app.sort, Column::Cpu);
        assert_eq!(names(&app)[..2], ["web", "db"], "busiest first");
        let web = app.visible()[0].cpu.unwrap();
        assert!((web - 50.0).abs() < 1e-9, "{web}");
        app.on_key(Key::Char('5'));
        assert_eq!(names(&app)[1..], ["db", "web"], "reversed");
        app.on_key(Key::Char('6'));
        assert_eq!(names(&app)[..2], ["db", "web"], "most memory first");
        app.on_key(Key::Left);
        assert_eq!(app.sort, Column::Cpu);
    }

    #[test]
    fn keys_act_on_the_selected_process() {
        let mut app = app();
        assert_eq!(app.selected.as_deref(), Some("batch"));
        app.on_key(Key::Down);
        assert_eq!(
            app.on_key(Key::Char('t')),
            Some(Intent::Act("stop", "db".into()))
        );
        app.on_key(Key::Down);
        app.on_key(Key::Down);
        assert_eq!(
            app.on_key(Key::Char('s')),
            Some(Intent::Act("start", "web".into()))
        );
        assert_eq!(
            app.on_key(Key::Char('r')),
            Some(Intent::Act("restart", "web".into()))
        );
        assert_eq!(
            app.on_key(Key::Char('l')),
            Some(Intent::FollowLog("web".into()))
        );
        assert_eq!(app.on_key(Key::Char('q')), Some(Intent::Quit));
    }

    #[test]
    fn the_filter_narrows_and_keeps_a_visible_selection() {
        let mut app = app();
        app.on_key(Key::Char('/'));
        for c in "we".chars() {
            assert_eq!(app.on_key(Key::Char(c)), None, "typing is not a command");
        }
        app.on_key(Key::Enter);
        assert_eq!(names(&app), ["web"]);
        assert_eq!(app.selected.as_deref(), Some("web"));
        assert_eq!(
            app.on_key(Key::Char('t')),
            Some(Intent::Act("stop", "web".into()))
        );
        app.on_key(Key::Esc);
        assert_eq!(names(&app).len(), 3);
    }

    #[test]
    fn restarts_are_counted_and_survive_a_new_status() {
        let mut app = app();
        app.count_restart("web");
        app.count_restart("web");
        app.set_status(StatusContent {
            processes: vec![process("web", ProcessState::Running, Some(101))],
            config_errors: vec![],
            warnings: vec![],
        });
        assert_eq!(app.visible()[0].restarts, 2);
    }

    #[test]
    fn the_log_pane_keeps_the_end() {
        let mut app = app();
        app.log = Some(LogPane {
            name: "web".into(),
            text: String::new(),
        });
        app.log_append("web", &"x".repeat(LOG_KEEP), false);
        app.log_append("web", "tail\n", false);
        app.log_append("db", "not ours\n", false);
        let text = &app.log.as_ref().unwrap().text;
        assert_eq!(text.len(), LOG_KEEP);
        assert!(text.ends_with("tail\n"));
    }
}
