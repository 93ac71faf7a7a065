//! The activity log: what the broker did and why, one line per event, in
//! supervisord's format (`2026-11-25 15:10:03,123 INFO spawned: 'web' with
//! pid 4121`), written to `[taskmasterd] logfile` and, in the foreground,
//! to stderr too. It rotates by size as programs' logs do
//! (`logfile_maxbytes`, `logfile_backups`). Under systemd
//! (`JOURNAL_STREAM` set) every line also goes to the journal, with
//! `TASKMASTER_PROCESS` and `TASKMASTER_STATE` fields when it is about a
//! process.

use crate::capture::rotate::LogFile;
use crate::describe::timestamp;
use std::io::{self, Write};
use std::path::Path;
use taskmaster_config::LogLevel;
use tracing_subscriber::layer::SubscriberExt;

/// `[taskmasterd] logfile_maxbytes` and `logfile_backups` by default, until
/// [`ActivityLog::set_rotation`] applies the config's.
const DEFAULT_MAXBYTES: u64 = 50 << 20;
const DEFAULT_BACKUPS: u32 = 10;

pub struct ActivityLog {
    file: LogFile,
    level: LogLevel,
    echo: bool,
    journal: Option<tracing::Dispatch>,
}

impl ActivityLog {
    /// Opens (appends to) the log file, creating its directory if needed.
    pub fn open(path: &Path, level: LogLevel, echo: bool) -> io::Result<Self> {
        let file = LogFile::open(path, DEFAULT_MAXBYTES, DEFAULT_BACKUPS)?;
        let journal = journal();
        Ok(ActivityLog {
            file,
            level,
            // A log written to the daemon's own output is not echoed there
            // a second time, nor is it when that output is the journal,
            // which gets every line with its fields already.
            echo: echo && !crate::capture::is_passthrough(path) && journal.is_none(),
            journal,
        })
    }

    /// Switches to another file or level (a reload changed them); on error
    /// the current file stays in use. The rotation settings carry over.
    pub fn reopen(&mut self, path: &Path, level: LogLevel) -> io::Result<()> {
        let (maxbytes, backups) = self.file.limits();
        self.file = LogFile::open(path, maxbytes, backups)?;
        self.level = level;
        Ok(())
    }

    /// Applies `logfile_maxbytes` (0: never rotate) and `logfile_backups`
    /// from the next line on.
    pub fn set_rotation(&mut self, maxbytes: u64, backups: u32) {
        self.file.set_limits(maxbytes, backups);
    }

    pub fn log(&mut self, level: LogLevel, message: &str) {
        self.log_about(level, None, message);
    }

    /// A line about one process: `about` is its name and the state it
    /// entered, which the journal gets as fields.
    pub fn log_about(&mut self, level: LogLevel, about: Option<(&str, &str)>, message: &str) {
        if level > self.level {
            return;
        }
        if let Some(journal) = &self.journal {
            tracing::dispatcher::with_default(journal, || to_journal(level, about, message));
        }
        let line = format_line(&timestamp(), level, message);
        // The log must never take the daemon down: a full disk or a deleted
        // directory loses log lines, not programs.
        let _ = self.file.write(line.as_bytes());
        if self.echo {
            let _ = io::stderr().write_all(line.as_bytes());
        }
    }

    pub fn info(&mut self, message: &str) {
        self.log(LogLevel::Info, message);
    }

    pub fn warn(&mut self, message: &str) {
        self.log(LogLevel::Warn, message);
    }

    pub fn error(&mut self, message: &str) {
        self.log(LogLevel::Error, message);
    }

    pub fn debug(&mut self, message: &str) {
        self.log(LogLevel::Debug, message);
    }
}

/// The journal, when systemd connected our output to it. A missing journal
/// socket just means no journal.
fn journal() -> Option<tracing::Dispatch> {
    std::env::var_os("JOURNAL_STREAM")?;
    let layer = tracing_journald::layer()
        .ok()?
        .with_field_prefix(Some("TASKMASTER".to_owned()));
    Some(tracing::Dispatch::new(
        tracing_subscriber::registry().with(layer),
    ))
}

fn to_journal(level: LogLevel, about: Option<(&str, &str)>, message: &str) {
    // tracing wants the level as a constant: one arm per level.
    macro_rules! send {
        ($level:expr) => {
            match about {
                Some((process, state)) => {
                    tracing::event!($level, process, state, "{message}")
                }
                None => tracing::event!($level, "{message}"),
            }
        };
    }
    match level {
        LogLevel::Critical | LogLevel::Error => send!(tracing::Level::ERROR),
        LogLevel::Warn => send!(tracing::Level::WARN),
        LogLevel::Info => send!(tracing::Level::INFO),
        LogLevel::Debug => send!(tracing::Level::DEBUG),
    }
}

fn level_word(level: LogLevel) -> &'static str {
    match level {
        LogLevel::Critical => "CRIT",
        LogLevel::Error => "ERRO",
        LogLevel::Warn => "WARN",
        LogLevel::Info => "INFO",
        LogLevel::Debug => "DEBG",
    }
}

fn format_line(stamp: &str, level: LogLevel, message: &str) -> String {
    format!("{stamp} {} {message}\n", level_word(level))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format_is_supervisords() {
        assert_eq!(
            format_line("2026-11-25 15:10:03,123", LogLevel::Warn, "x"),
            "2026-11-25 15:10:03,123 WARN x\n"
        );
    }

    #[test]
    fn timestamp_has_milliseconds() {
        let stamp = timestamp();
        assert_eq!(stamp.len(), 23, "{stamp}");
        assert_eq!(&stamp[19..20], ",", "{stamp}");
        assert_eq!(&stamp[4..5], "-", "{stamp}");
    }

    #[test]
    fn level_filter_and_append() {
        let dir = std::env::temp_dir().join(format!("tm-activity-{}", std::process::id()));
        let path = dir.join("sub/a.log");
        let mut log = ActivityLog::open(&path, LogLevel::Info, false).unwrap();
        log.info("kept");
        log.debug("dropped");
        drop(log);
        let mut log = ActivityLog::open(&path, LogLevel::Info, false).unwrap();
        log.error("appended");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let lines: Vec<_> = text.lines().map(|l| &l[24..]).collect();
        assert_eq!(lines, ["INFO kept", "ERRO appended"]);
    }

    #[test]
    fn rotates_by_size_keeping_whole_lines() {
        let dir = taskmaster_config::test_dir::TestDir::new("activity-rotate");
        let path = dir.path().join("tm.log");
        let mut log = ActivityLog::open(&path, LogLevel::Info, false).unwrap();
        log.set_rotation(200, 2);
        for n in 0..20 {
            log.info(&format!("line {n:02}"));
        }
        let read =
            |suffix: &str| std::fs::read_to_string(format!("{}{suffix}", path.display())).unwrap();
        // 37 bytes a line: 5 lines a file, so 20 lines fill 4 files.
        assert_eq!(read("").lines().count(), 5);
        assert!(read("").ends_with("INFO line 19\n"), "{}", read(""));
        assert!(read(".2").ends_with("INFO line 09\n"), "{}", read(".2"));
        assert!(!dir.path().join("tm.log.3").exists());
    }
}
