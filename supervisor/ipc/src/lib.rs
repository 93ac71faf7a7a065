//! The messages taskmasterd and taskmaster-broker exchange over their
//! `SOCK_SEQPACKET` socketpair: one JSON document per packet, file
//! descriptors alongside with `SCM_RIGHTS`.
//!
//! The set is closed on purpose: the privileged side only ever receives a
//! [`ToSupervisor`] built by the broker, never anything a client wrote.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[allow(unsafe_code)]
mod fd;
pub use fd::{inherited_channel, received, BROKER_CHANNEL_FD};

/// The most descriptors one packet carries (a program's three pipes).
pub const MAX_FDS: usize = 3;

/// Largest packet either side sends or accepts.
pub const MAX_PACKET: usize = 256 * 1024;

/// Environment variable through which taskmasterd tells the broker which
/// config file to load (the broker also accepts `-c`).
pub const CONFIG_ENV: &str = "TASKMASTER_CONFIG";

/// From the broker to the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToSupervisor {
    /// The broker has loaded its config and bound its socket: taskmasterd may
    /// detach from the terminal and report success.
    Ready,
    /// Start one program. taskmasterd creates its stdin, stdout and stderr
    /// pipes and answers with [`ToBroker::Spawned`], which carries the
    /// broker's ends.
    Spawn(SpawnRequest),
    /// Deliver `signal` to `pid`, or to its process group when `group`.
    Signal { pid: i32, signal: i32, group: bool },
    /// Every program is stopped: taskmasterd exits with status 0.
    Exit,
    /// The broker closed `pid`'s stdin: taskmasterd drops its own copy of
    /// the write end, so that the program reads end of file.
    CloseStdin { pid: i32 },
}

/// Everything taskmasterd needs to start one program, already resolved by
/// the broker (environment merged, paths absolute).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnRequest {
    /// Chosen by the broker, echoed in [`ToBroker::Spawned`] or
    /// [`ToBroker::SpawnFailed`].
    pub id: u64,
    /// The process name (`web` or `web:3`), kept for the inventory.
    pub name: String,
    /// The executable: absolute, or searched in the `PATH` of `env`.
    pub command: String,
    /// `argv[1..]`; `argv[0]` is `command`.
    pub args: Vec<String>,
    /// Variables set on top of taskmasterd's own environment (which the
    /// broker shares), in order: later entries win. Sending only these keeps
    /// a spawn packet small.
    pub env: Vec<(String, String)>,
    /// Run as this user (name or numeric uid); root only.
    pub user: Option<String>,
    pub directory: Option<PathBuf>,
    pub umask: Option<u32>,
    /// The program's stderr goes into its stdout pipe: no stderr pipe.
    pub redirect_stderr: bool,
}

/// One of a program's standard streams, as the broker holds it: the write
/// end of `Stdin`, the read ends of `Stdout` and `Stderr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdin,
    Stdout,
    Stderr,
}

/// A program taskmasterd started and that is still alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Child {
    pub pid: i32,
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: u64,
}

/// How a child ended, as `waitpid` reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ExitStatus {
    Code { code: i32 },
    Signal { signal: i32, core_dumped: bool },
}

/// From the supervisor to the broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToBroker {
    /// The first packet a broker receives: the programs still alive (empty
    /// on a fresh start, the survivors after a broker restart) and what
    /// happened while no broker was listening. A [`ToBroker::Streams`]
    /// packet follows for each child.
    Hello {
        children: Vec<Child>,
        notices: Vec<String>,
    },
    /// The program runs. Its pipes travel with this packet, one descriptor
    /// per entry of `streams`, in that order. taskmasterd keeps its own
    /// copies until the program is reaped, so that a broker restart loses
    /// neither the pipes nor what is buffered in them.
    Spawned {
        id: u64,
        pid: i32,
        started_at_ms: u64,
        streams: Vec<Stream>,
    },
    /// After a [`ToBroker::Hello`]: the pipes of a surviving child, one
    /// descriptor per entry of `streams`.
    Streams {
        pid: i32,
        streams: Vec<Stream>,
    },
    /// The program could not be started; `error` names the step and the
    /// errno text, e.g. "cannot execute 'nosuch': No such file or directory".
    SpawnFailed {
        id: u64,
        error: String,
    },
    Exited {
        pid: i32,
        status: ExitStatus,
    },
    /// taskmasterd received SIGTERM or SIGINT: stop every program, then send
    /// [`ToSupervisor::Exit`].
    Shutdown,
    /// taskmasterd received SIGHUP: reload the config now.
    Reload,
    /// taskmasterd received SIGUSR2: reopen every log file (after an
    /// external logrotate moved them).
    ReopenLogs,
}

/// Encodes one packet.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).expect("ipc messages always serialize")
}

/// Decodes one packet.
pub fn decode<'a, T: Deserialize<'a>>(packet: &'a [u8]) -> Result<T, serde_json::Error> {
    serde_json::from_slice(packet)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawn_round_trips() {
        let request = ToSupervisor::Spawn(SpawnRequest {
            id: 7,
            name: "web:1".into(),
            command: "sleep".into(),
            args: vec!["10".into()],
            env: vec![("PATH".into(), "/bin".into())],
            user: Some("nobody".into()),
            directory: Some("/tmp".into()),
            umask: Some(0o022),
            redirect_stderr: false,
        });
        let back: ToSupervisor = decode(&encode(&request)).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn exit_status_is_tagged() {
        let message = ToBroker::Exited {
            pid: 3,
            status: ExitStatus::Signal {
                signal: 9,
                core_dumped: false,
            },
        };
        let text = String::from_utf8(encode(&message)).unwrap();
        assert_eq!(
            text,
            r#"{"type":"exited","pid":3,"status":{"kind":"signal","signal":9,"core_dumped":false}}"#
        );
    }
}
