//! The one error type of taskmasterctl: what to tell the user and the exit status.

use std::fmt::Write as _;
use std::io;

/// Exit statuses, as DESIGN.md section 6 defines them.
pub mod exit {
    /// The command did what was asked.
    pub const OK: u8 = 0;
    /// The daemon refused, or something failed.
    pub const FAILED: u8 = 1;
    /// The command line (or the config it points to) is wrong.
    pub const USAGE: u8 = 2;
    /// `status` or `pid` found a process that is not running.
    pub const NOT_RUNNING: u8 = 3;
    /// taskmasterd cannot be reached.
    pub const UNREACHABLE: u8 = 4;
}

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// An error on its way to `main`, which prints it and exits with its code.
#[derive(Debug)]
pub struct Error {
    code: u8,
    /// The complete first line, prefix included; `None` when there is nothing
    /// left to say (a broken pipe, or the output already said what failed).
    message: Option<String>,
    cause: Option<Cause>,
}

impl Error {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Error {
            code,
            message: Some(message.into()),
            cause: None,
        }
    }

    /// Exit with `code` and print nothing.
    pub fn silent(code: u8) -> Self {
        Error {
            code,
            message: None,
            cause: None,
        }
    }

    /// Adds the error that caused this one; its chain is printed after the message.
    pub fn caused_by(mut self, cause: impl Into<Cause>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    /// An error writing our own output. A closed pipe (`taskmasterctl status | head -1`)
    /// means the reader has what it wanted: stop quietly.
    pub fn stdout(error: io::Error) -> Self {
        if error.kind() == io::ErrorKind::BrokenPipe {
            Error::silent(exit::OK)
        } else {
            Error::new(exit::FAILED, "taskmasterctl: cannot write the output").caused_by(error)
        }
    }

    pub fn code(&self) -> u8 {
        self.code
    }

    /// The text for stderr: the message, then each cause not already spelled
    /// out by the one before (many errors repeat their source's text).
    pub fn report(&self) -> Option<String> {
        let mut text = self.message.clone()?;
        let mut next: Option<&(dyn std::error::Error + 'static)> = self
            .cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static));
        while let Some(cause) = next {
            let line = plain(cause);
            if !text.contains(&line) {
                let _ = write!(text, ": {line}");
            }
            next = cause.source();
        }
        Some(text)
    }
}

/// An error's text without the " (os error 2)" that `io::Error` appends:
/// people read the reason, the number adds nothing.
pub fn plain(error: &dyn std::fmt::Display) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_string(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "reading x: {}", self.0)
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn report_prints_the_cause_chain_once() {
        let inner = io::Error::new(io::ErrorKind::NotFound, "gone");
        let error = Error::new(exit::FAILED, "taskmasterctl: cannot go on").caused_by(Outer(inner));
        assert_eq!(
            error.report().as_deref(),
            Some("taskmasterctl: cannot go on: reading x: gone")
        );
        assert_eq!(error.code(), exit::FAILED);
    }

    #[test]
    fn os_error_numbers_are_dropped() {
        assert_eq!(
            plain(&io::Error::from_raw_os_error(2)),
            "No such file or directory"
        );
        assert_eq!(plain(&"left (alone)"), "left (alone)");
    }

    #[test]
    fn broken_pipe_is_quiet_success() {
        let error = Error::stdout(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(error.report(), None);
        assert_eq!(error.code(), exit::OK);
        let other = Error::stdout(io::Error::from(io::ErrorKind::StorageFull));
        assert_eq!(other.code(), exit::FAILED);
        assert!(other
            .report()
            .unwrap()
            .starts_with("taskmasterctl: cannot write the output: "));
    }
}
