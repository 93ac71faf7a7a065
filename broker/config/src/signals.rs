//! Signal names and numbers as people write them: in `stopsignal` and in
//! `taskmasterctl signal`.

use std::str::FromStr;

use nix::sys::signal::Signal;

/// Named in error messages so that a typo comes with something to copy.
const EXAMPLES: &str = "TERM, HUP, INT, QUIT, KILL, USR1, USR2";

/// A signal as written that is none: the text, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalError {
    /// Not a signal name.
    UnknownName(String),
    /// A number that is no signal on this system.
    UnknownNumber(String),
}

impl std::fmt::Display for SignalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignalError::UnknownName(text) => write!(
                f,
                "unknown signal '{text}'; use a name such as {EXAMPLES} \
                 (with or without SIG, any case) or a number"
            ),
            SignalError::UnknownNumber(text) => write!(
                f,
                "{text} is not a signal number on this system; use a name such as {EXAMPLES}"
            ),
        }
    }
}

impl std::error::Error for SignalError {}

/// Reads `"HUP"`, `"SIGHUP"`, `"hup"` or `"1"` as the signal's number.
pub fn parse_signal(text: &str) -> Result<i32, SignalError> {
    let trimmed = text.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for an i64 is still just "not a signal".
        return trimmed
            .parse::<i64>()
            .map_err(|_| SignalError::UnknownNumber(trimmed.to_string()))
            .and_then(signal_from_number);
    }
    let upper = trimmed.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&full)
        .map(|signal| signal as i32)
        .map_err(|_| SignalError::UnknownName(text.to_string()))
}

/// Checks that `number` is a signal this system knows.
pub fn signal_from_number(number: i64) -> Result<i32, SignalError> {
    i32::try_from(number)
        .ok()
        .and_then(|n| Signal::try_from(n).ok())
        .map(|signal| signal as i32)
        .ok_or_else(|| SignalError::UnknownNumber(number.to_string()))
}

/// `"SIGTERM"` for 15; `"signal 64"` for a number without a name.
pub fn signal_name(signal: i32) -> String {
    Signal::try_from(signal)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

/// Every signal name this system knows, without `SIG` (`HUP`, `INT`...), in
/// number order: the full list a usage error can offer.
pub fn signal_names() -> Vec<&'static str> {
    Signal::iterator()
        .map(|signal| signal.as_str().trim_start_matches("SIG"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_short_names_any_case_and_numbers_are_read() {
        for text in ["HUP", "SIGHUP", "hup", "sigHup", "1", " HUP "] {
            assert_eq!(parse_signal(text), Ok(1), "{text}");
        }
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("usr2"), Ok(Signal::SIGUSR2 as i32));
    }

    #[test]
    fn unknown_names_list_valid_ones() {
        let error = parse_signal("TERMINATE").unwrap_err().to_string();
        assert_eq!(
            error,
            "unknown signal 'TERMINATE'; use a name such as TERM, HUP, INT, QUIT, KILL, \
             USR1, USR2 (with or without SIG, any case) or a number"
        );
        assert!(parse_signal("").is_err());
        assert!(parse_signal("SIG").is_err());
        assert!(parse_signal("-15").is_err());
    }

    #[test]
    fn numbers_must_be_real_signals() {
        assert_eq!(signal_from_number(9), Ok(9));
        assert_eq!(
            signal_from_number(0).unwrap_err().to_string(),
            "0 is not a signal number on this system; use a name such as TERM, HUP, \
             INT, QUIT, KILL, USR1, USR2"
        );
        assert!(signal_from_number(-1).is_err());
        assert!(signal_from_number(1 << 40).is_err());
        assert!(parse_signal("99999999999999999999999").is_err());
        assert!(parse_signal("200").is_err());
    }

    #[test]
    fn the_name_list_is_what_parse_signal_reads() {
        let names = signal_names();
        assert_eq!(names[..3], ["HUP", "INT", "QUIT"]);
        assert!(names.contains(&"USR2"));
        for name in names {
            assert!(parse_signal(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn names_come_back_with_sig() {
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(signal_name(2), "SIGINT");
        assert_eq!(signal_name(64), "signal 64");
        assert_eq!(signal_name(-3), "signal -3");
    }
}
