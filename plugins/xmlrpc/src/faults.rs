//! supervisord's fault codes, and how our protocol's errors map to them.

use taskmaster_protocol::ErrorBody;

/// An XML-RPC fault: supervisord's code and a `CODE_NAME: detail` string,
/// as supervisord words them.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub code: i64,
    pub message: String,
}

pub const UNKNOWN_METHOD: i64 = 1;
pub const INCORRECT_PARAMETERS: i64 = 2;
pub const BAD_ARGUMENTS: i64 = 3;
pub const SHUTDOWN_STATE: i64 = 6;
pub const BAD_NAME: i64 = 10;
pub const BAD_SIGNAL: i64 = 11;
pub const NO_FILE: i64 = 20;
pub const FAILED: i64 = 30;
pub const ABNORMAL_TERMINATION: i64 = 40;
pub const SPAWN_ERROR: i64 = 50;
pub const ALREADY_STARTED: i64 = 60;
pub const NOT_RUNNING: i64 = 70;
pub const SUCCESS: i64 = 80;
pub const ALREADY_ADDED: i64 = 90;
pub const STILL_RUNNING: i64 = 91;
pub const CANT_REREAD: i64 = 92;

fn code_name(code: i64) -> &'static str {
    match code {
        UNKNOWN_METHOD => "UNKNOWN_METHOD",
        INCORRECT_PARAMETERS => "INCORRECT_PARAMETERS",
        BAD_ARGUMENTS => "BAD_ARGUMENTS",
        SHUTDOWN_STATE => "SHUTDOWN_STATE",
        BAD_NAME => "BAD_NAME",
        BAD_SIGNAL => "BAD_SIGNAL",
        NO_FILE => "NO_FILE",
        ABNORMAL_TERMINATION => "ABNORMAL_TERMINATION",
        SPAWN_ERROR => "SPAWN_ERROR",
        ALREADY_STARTED => "ALREADY_STARTED",
        NOT_RUNNING => "NOT_RUNNING",
        SUCCESS => "SUCCESS",
        ALREADY_ADDED => "ALREADY_ADDED",
        STILL_RUNNING => "STILL_RUNNING",
        CANT_REREAD => "CANT_REREAD",
        _ => "FAILED",
    }
}

impl Fault {
    pub fn new(code: i64, detail: impl std::fmt::Display) -> Fault {
        Fault {
            code,
            message: format!("{}: {detail}", code_name(code)),
        }
    }

    /// The fault for an error reply of taskmasterd.
    pub fn from_error(error: &ErrorBody) -> Fault {
        let code = match error.code.as_str() {
            "no_such_process" | "ambiguous_name" => BAD_NAME,
            "bad_signal" => BAD_SIGNAL,
            "not_running" | "stdin_closed" => NOT_RUNNING,
            "no_log" => NO_FILE,
            "shutting_down" | "unavailable" => SHUTDOWN_STATE,
            "bad_request" | "missing_name" => BAD_ARGUMENTS,
            "config_invalid" => CANT_REREAD,
            _ => FAILED,
        };
        Fault::new(code, &error.message)
    }
}

/// The fault code of one result of `start`, `stop`, `signal` or `clear`,
/// from taskmasterd's word for it.
pub fn code_of_result(ok: bool, message: &str) -> i64 {
    match message {
        _ if ok => SUCCESS,
        "already started" => ALREADY_STARTED,
        "not running" | "stopped before it was running" => NOT_RUNNING,
        "spawn error" => SPAWN_ERROR,
        "abnormal termination" => ABNORMAL_TERMINATION,
        _ => FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_errors_become_supervisord_faults() {
        let fault = Fault::from_error(&ErrorBody::new("no_such_process", "no such process: 'x'"));
        assert_eq!(fault.code, BAD_NAME);
        assert_eq!(fault.message, "BAD_NAME: no such process: 'x'");
        assert_eq!(
            Fault::from_error(&ErrorBody::new("internal", "bug")).code,
            FAILED
        );
        assert_eq!(code_of_result(false, "already started"), ALREADY_STARTED);
        assert_eq!(code_of_result(true, "started"), SUCCESS);
    }
}
