//! The activity log: what the broker did and why, one line per event, in
//! supervisord's format (`2026-11-25 15:10:03,123 INFO spawned: 'web' with
//! pid 4121`), written to `[taskmasterd] logfile` and, in the foreground,
//! to stderr too.

use crate::config::LogLevel;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub struct ActivityLog {
    file: File,
    level: LogLevel,
    echo: bool,
}

impl ActivityLog {
    /// Opens (appends to) the log file, creating its directory if needed.
    pub fn open(path: &Path, level: LogLevel, echo: bool) -> io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = append_nofollow(path)?;
        Ok(ActivityLog { file, level, echo })
    }

    /// Switches to another file or level (a reload changed them); on error
    /// the current file stays in use.
    pub fn reopen(&mut self, path: &Path, level: LogLevel) -> io::Result<()> {
        *self = ActivityLog::open(path, level, self.echo)?;
        Ok(())
    }

    pub fn log(&mut self, level: LogLevel, message: &str) {
        if level > self.level {
            return;
        }
        let line = format_line(&timestamp(), level, message);
        // The log must never take the daemon down: a full disk or a deleted
        // directory loses log lines, not programs.
        let _ = self.file.write_all(line.as_bytes());
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

/// Opens a file for appending, refusing to follow a symlink planted at its
/// path.
pub fn append_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

/// The local time as the log writes it: `YYYY-MM-DD HH:MM:SS,SSS`.
pub fn timestamp() -> String {
    jiff::ZonedDateTime::now()
        .strftime("%Y-%m-%d %H:%M:%S,%3f")
        .to_string()
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
}
