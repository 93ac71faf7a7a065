//! The messages taskmasterd and taskmaster-broker exchange over their
//! `SOCK_SEQPACKET` socketpair: one JSON document per packet, file
//! descriptors alongside with `SCM_RIGHTS`.
//!
//! The set is closed on purpose: the privileged side only ever receives a
//! [`ToSupervisor`] built by the broker, never anything a client wrote.

use serde::{Deserialize, Serialize};

#[allow(unsafe_code)]
mod fd;
pub use fd::{inherited_channel, received, BROKER_CHANNEL_FD};
#[allow(unsafe_code)]
mod heap;
pub use heap::release_free_memory;

/// The most descriptors one packet carries (a program's three pipes).
pub const MAX_FDS: usize = 3;

/// Largest packet either side sends or accepts.
pub const MAX_PACKET: usize = 256 * 1024;

/// The highest event seq either side accepts (2^53): far beyond what any
/// broker numbers, and the largest integer JSON readers that hold numbers
/// as doubles keep exact. taskmasterd refuses a [`ToSupervisor::KeepSeq`]
/// above it, so that a forged `u64::MAX` cannot make every later broker's
/// counter overflow.
pub const MAX_SEQ: u64 = 1 << 53;

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
    /// Every program is stopped: taskmasterd exits with status `code` (0,
    /// or 1 after `shutdown_on_fatal`).
    Exit {
        #[serde(default)]
        code: u8,
    },
    /// The broker read a changed `[unix_http_server]` in config
    /// `generation`: taskmasterd binds the socket it describes and answers
    /// with [`ToBroker::Listener`] or [`ToBroker::ListenerFailed`].
    Rebind { generation: u64 },
    /// The broker closed `pid`'s stdin: taskmasterd drops its own copy of
    /// the write end, so that the program reads end of file.
    CloseStdin { pid: i32 },
    /// Event seqs below `seq` may have been given: taskmasterd keeps the
    /// highest such number and hands it to the next broker in its
    /// [`ToBroker::Hello`], so that seqs never go back after a broker
    /// restart. Only a number: taskmasterd acts on nothing in it, and
    /// refuses one above [`MAX_SEQ`].
    KeepSeq { seq: u64 },
    /// Run the `command` probe `check` of process `name` once, as the
    /// config says (taskmasterd reads the argv, user, directory, environment
    /// and time limit itself); answered by [`ToBroker::ProbeExited`] or
    /// [`ToBroker::ProbeFailed`]. One at a time per process and check.
    Probe(ProbeRequest),
    /// For the service manager (systemd's `NOTIFY_SOCKET`), when taskmasterd
    /// was started with one: where the service stands and a one-line
    /// summary of the processes ("12 running, 1 fatal"). taskmasterd writes
    /// the notification itself from these two fields, the status bounded and
    /// stripped of control characters, so a broker can tell systemd nothing
    /// else (no `MAINPID`, no extra line).
    Service { phase: ServicePhase, status: String },
}

/// A request to run a `command` probe the config defines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeRequest {
    /// Chosen by the broker, echoed in the answer.
    pub id: u64,
    /// The process name (`web` or `web:3`).
    pub name: String,
    pub generation: u64,
    pub check: ProbeCheck,
}

/// `ready` or `healthcheck`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeCheck {
    Ready,
    Health,
}

/// What a [`ToSupervisor::Service`] packet announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServicePhase {
    /// The config is loaded, the socket bound and the autostart programs
    /// have left STARTING (or a reload is applied): `READY=1`.
    Ready,
    /// A reload begins: `RELOADING=1`, until the next `Ready`.
    Reloading,
    /// Only the summary changed: `STATUS=`.
    Status,
}

/// A request to start one process the config defines. The broker names
/// it; taskmasterd builds the command, user, directory and environment from
/// its own reading of the config, so a broker can never make it run
/// anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// A spawn that also carries a command, a user or an environment comes from
// a broker that is not ours: refused as malformed, never half-obeyed.
#[serde(deny_unknown_fields)]
pub struct SpawnRequest {
    /// Chosen by the broker, echoed in [`ToBroker::Spawned`] or
    /// [`ToBroker::SpawnFailed`].
    pub id: u64,
    /// The process name (`web` or `web:3`).
    pub name: String,
    /// The config generation the broker read (`Config::generation`): when
    /// it is not taskmasterd's, taskmasterd reads the files again and
    /// starts the process only if it then reads the same generation.
    pub generation: u64,
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
    /// The first packet a broker receives, with the listening control
    /// socket (bound by taskmasterd) as its one descriptor: how many programs are still
    /// alive (none on a fresh start, the survivors after a broker restart),
    /// each then described by its own [`ToBroker::Survivor`] packet (so any
    /// number of them fits), and what happened while no broker was
    /// listening.
    Hello {
        survivors: usize,
        notices: Vec<String>,
        /// Standing conditions an operator must know about (e.g. the
        /// broker runs as a fallback user), shown by `status`.
        #[serde(default)]
        warnings: Vec<String>,
        /// The highest [`ToSupervisor::KeepSeq`] an earlier broker sent
        /// (0: none): the next event seq must not be below it.
        #[serde(default)]
        kept_seq: u64,
        /// taskmasterd runs under a service manager that wants
        /// notifications (`NOTIFY_SOCKET`): the broker sends
        /// [`ToSupervisor::Service`] packets, and none otherwise.
        #[serde(default)]
        service_manager: bool,
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
    /// After a [`ToBroker::Hello`]: one surviving child and its pipes, one
    /// descriptor per entry of `streams`.
    Survivor {
        child: Child,
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
    /// The control socket bound again after a [`ToSupervisor::Rebind`]: the
    /// listening socket at `path` is this packet's one descriptor; the
    /// broker serves it instead of the old one.
    Listener {
        path: std::path::PathBuf,
    },
    /// The socket of a [`ToSupervisor::Rebind`] could not be bound; the old
    /// one is still served.
    ListenerFailed {
        error: String,
    },
    /// taskmasterd refused a packet from the broker (a process the config
    /// does not define, a signal to a pid it did not start, a malformed
    /// packet): `what` says what was asked and why it was refused. A sound
    /// broker never causes one, so each is worth an operator's look.
    Refused {
        what: String,
    },
    /// The probe of a [`ToSupervisor::Probe`] ended (killed with SIGKILL
    /// when it ran past its time limit).
    ProbeExited {
        id: u64,
        status: ExitStatus,
    },
    /// The probe could not be started, or the request was refused.
    ProbeFailed {
        id: u64,
        error: String,
    },
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
            generation: 42,
        });
        let back: ToSupervisor = decode(&encode(&request)).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn a_spawn_carrying_a_command_is_refused() {
        let forged = br#"{"type":"spawn","id":1,"name":"web","generation":1,"command":"/bin/sh","user":null}"#;
        let error = decode::<ToSupervisor>(forged).expect_err("refused");
        assert!(
            error.to_string().contains("unknown field `command`"),
            "{error}"
        );
    }

    #[test]
    fn a_probe_names_the_process_and_the_check_only() {
        let request = ToSupervisor::Probe(ProbeRequest {
            id: 9,
            name: "api".into(),
            generation: 3,
            check: ProbeCheck::Health,
        });
        let packet = encode(&request);
        assert_eq!(
            std::str::from_utf8(&packet).unwrap(),
            r#"{"type":"probe","id":9,"name":"api","generation":3,"check":"health"}"#
        );
        assert_eq!(decode::<ToSupervisor>(&packet).unwrap(), request);
        let forged = br#"{"type":"probe","id":1,"name":"api","generation":3,"check":"ready","argv":["/bin/sh"]}"#;
        let error = decode::<ToSupervisor>(forged).expect_err("refused");
        assert!(
            error.to_string().contains("unknown field `argv`"),
            "{error}"
        );
    }

    #[test]
    fn service_packet_round_trips() {
        let packet = br#"{"type":"service","phase":"reloading","status":"2 running"}"#;
        let message: ToSupervisor = decode(packet).unwrap();
        assert_eq!(
            message,
            ToSupervisor::Service {
                phase: ServicePhase::Reloading,
                status: "2 running".into()
            }
        );
        assert_eq!(encode(&message), packet);
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
