//! taskmasterd's own errors: what it was doing when something failed, and
//! the cause kept as the error's source, so that the message a person reads
//! ("cannot fork taskmaster-broker: Resource temporarily unavailable")
//! carries the whole chain and code can still look at the cause.

use nix::errno::Errno;
use std::fmt;

#[derive(Debug)]
pub struct Error {
    what: String,
    cause: Option<Cause>,
}

#[derive(Debug)]
enum Cause {
    Errno(Errno),
    Io(std::io::Error),
    Inner(Box<Error>),
}

impl Error {
    /// A failure with no underlying cause: `what` says it all.
    pub fn new(what: impl Into<String>) -> Error {
        Error {
            what: what.into(),
            cause: None,
        }
    }

    /// `what` failed with a system error.
    pub fn errno(what: impl Into<String>, errno: Errno) -> Error {
        Error {
            what: what.into(),
            cause: Some(Cause::Errno(errno)),
        }
    }

    /// `what` failed with an I/O error.
    pub fn io(what: impl Into<String>, error: std::io::Error) -> Error {
        Error {
            what: what.into(),
            cause: Some(Cause::Io(error)),
        }
    }

    /// `inner` happened while doing `what`.
    pub fn context(what: impl Into<String>, inner: Error) -> Error {
        Error {
            what: what.into(),
            cause: Some(Cause::Inner(Box::new(inner))),
        }
    }
}

/// A message that needs no cause (a check that failed, with its fix).
impl From<String> for Error {
    fn from(what: String) -> Error {
        Error::new(what)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)?;
        match &self.cause {
            None => Ok(()),
            // The errno's text alone, as the rest of taskmasterd's messages
            // read (nix's Display adds the constant's name).
            Some(Cause::Errno(errno)) => write!(f, ": {}", errno.desc()),
            Some(Cause::Io(error)) => write!(f, ": {}", crate::notices::reason(error)),
            Some(Cause::Inner(inner)) => write!(f, ": {inner}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            None => None,
            Some(Cause::Errno(errno)) => Some(errno),
            Some(Cause::Io(error)) => Some(error),
            Some(Cause::Inner(inner)) => Some(inner.as_ref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn the_chain_reads_as_one_sentence_and_keeps_its_sources() {
        let error = Error::context(
            "[taskmasterd] user",
            Error::errno("cannot look up user 'x'", Errno::EACCES),
        );
        assert_eq!(
            error.to_string(),
            "[taskmasterd] user: cannot look up user 'x': Permission denied"
        );
        let inner = error.source().expect("a source");
        assert_eq!(
            inner.source().unwrap().to_string(),
            Errno::EACCES.to_string()
        );
        assert_eq!(Error::new("plain").to_string(), "plain");
    }
}
