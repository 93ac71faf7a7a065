//! supervisord's event-listener protocol, without I/O: which events a
//! listener subscribed to, the header and payload of each, the bounded
//! buffer, and the listener's `READY` / `RESULT n` tokens.

use std::collections::VecDeque;

/// The event types a listener may name in `--events`: a type, or a family
/// that covers every type it starts with (`PROCESS_STATE`, and `EVENT`
/// for all).
pub const KNOWN: [&str; 14] = [
    "EVENT",
    "PROCESS_STATE",
    "PROCESS_STATE_STOPPED",
    "PROCESS_STATE_STARTING",
    "PROCESS_STATE_RUNNING",
    "PROCESS_STATE_BACKOFF",
    "PROCESS_STATE_STOPPING",
    "PROCESS_STATE_EXITED",
    "PROCESS_STATE_FATAL",
    "PROCESS_STATE_UNKNOWN",
    "TICK",
    "TICK_5",
    "TICK_60",
    "TICK_3600",
];

/// Checks a subscription list, naming the unknown type and the known ones.
pub fn check(names: &[String]) -> Result<(), String> {
    match names.iter().find(|n| !KNOWN.contains(&n.as_str())) {
        Some(bad) => Err(format!(
            "unknown event type '{bad}': use {}",
            KNOWN.join(", ")
        )),
        None => Ok(()),
    }
}

/// Whether a listener subscribed to `names` gets events of type `event`.
pub fn wanted(names: &[String], event: &str) -> bool {
    names.iter().any(|n| {
        n == "EVENT"
            || n == event
            || event
                .strip_prefix(n.as_str())
                .is_some_and(|rest| rest.starts_with('_'))
    })
}

/// The tick periods (seconds) a subscription asks for.
pub fn ticks(names: &[String]) -> Vec<u64> {
    [5, 60, 3600]
        .into_iter()
        .filter(|n| wanted(names, &format!("TICK_{n}")))
        .collect()
}

/// One event as a listener receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub serial: u64,
    pub name: String,
    pub payload: String,
}

impl Message {
    /// Header line and payload, as supervisord writes them to the
    /// listener's stdin.
    pub fn render(&self, pool: &str, poolserial: u64) -> String {
        format!(
            "ver:3.0 server:supervisor serial:{} pool:{pool} poolserial:{poolserial} \
             eventname:{} len:{}\n{}",
            self.serial,
            self.name,
            self.payload.len(),
            self.payload
        )
    }
}

/// The payload of a PROCESS_STATE event, with the keys supervisord gives
/// each state (`expected` only for EXITED).
pub fn process_state_payload(
    process: &str,
    group: &str,
    from: &str,
    to: &str,
    pid: Option<i32>,
    expected: bool,
) -> String {
    let head = format!("processname:{process} groupname:{group} from_state:{from}");
    let pid = pid.unwrap_or(0);
    match to {
        "STARTING" | "BACKOFF" => format!("{head} tries:0"),
        "RUNNING" | "STOPPING" | "STOPPED" => format!("{head} pid:{pid}"),
        "EXITED" => format!("{head} expected:{} pid:{pid}", u8::from(expected)),
        _ => head,
    }
}

/// Events waiting for the listener, at most `capacity`.
#[derive(Debug)]
pub struct Buffer {
    queue: VecDeque<Message>,
    capacity: usize,
}

impl Buffer {
    pub fn new(capacity: usize) -> Buffer {
        Buffer {
            queue: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Adds an event; when full, the oldest is dropped and returned (as
    /// supervisord's "event buffer overflowed, discarding event").
    pub fn push(&mut self, message: Message) -> Option<Message> {
        let dropped = if self.queue.len() == self.capacity {
            self.queue.pop_front()
        } else {
            None
        };
        self.queue.push_back(message);
        dropped
    }

    /// Puts back an event the listener answered FAIL, to be sent first.
    pub fn retry(&mut self, message: Message) {
        self.queue.push_front(message);
        self.queue.truncate(self.capacity);
    }

    pub fn pop(&mut self) -> Option<Message> {
        self.queue.pop_front()
    }
}

/// What the listener wrote on its stdout.
#[derive(Debug, PartialEq)]
pub enum Token {
    Ready,
    /// The body of `RESULT n`: `OK` or `FAIL`.
    Result(String),
    /// A line that is not the protocol (a listener printing on stdout).
    Garbage(String),
}

/// Reads the listener's stdout into tokens. `READY\n` is awaited unless
/// an event was sent, then `RESULT n\n` and n bytes.
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
    /// The length of a result body announced and not yet read.
    body: Option<usize>,
}

impl Reader {
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Token> {
        self.buf.extend_from_slice(bytes);
        let mut tokens = Vec::new();
        loop {
            if let Some(len) = self.body {
                if self.buf.len() < len {
                    break;
                }
                let body: Vec<u8> = self.buf.drain(..len).collect();
                tokens.push(Token::Result(String::from_utf8_lossy(&body).into_owned()));
                self.body = None;
                continue;
            }
            let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
                break;
            };
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            if line == "READY" {
                tokens.push(Token::Ready);
            } else if let Some(len) = line
                .strip_prefix("RESULT ")
                .and_then(|n| n.trim().parse().ok())
            {
                self.body = Some(len);
            } else {
                tokens.push(Token::Garbage(line));
            }
        }
        tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn subscriptions_cover_their_family() {
        let subscribed = names(&["PROCESS_STATE", "TICK_60"]);
        assert!(wanted(&subscribed, "PROCESS_STATE_EXITED"));
        assert!(wanted(&subscribed, "TICK_60"));
        assert!(!wanted(&subscribed, "TICK_5"));
        assert!(wanted(&names(&["EVENT"]), "TICK_5"));
        assert!(!wanted(
            &names(&["PROCESS_STATE_FATAL"]),
            "PROCESS_STATE_EXITED"
        ));
        assert_eq!(ticks(&subscribed), [60]);
        assert_eq!(ticks(&names(&["TICK"])), [5, 60, 3600]);
        let error = check(&names(&["PROCESS_STATE", "PROCES_STATE"])).unwrap_err();
        assert!(
            error.starts_with("unknown event type 'PROCES_STATE': use EVENT, PROCESS_STATE,"),
            "{error}"
        );
    }

    #[test]
    fn messages_are_written_as_supervisord_does() {
        let payload = process_state_payload("web", "web", "RUNNING", "EXITED", Some(42), false);
        assert_eq!(
            payload,
            "processname:web groupname:web from_state:RUNNING expected:0 pid:42"
        );
        let message = Message {
            serial: 7,
            name: "PROCESS_STATE_EXITED".into(),
            payload,
        };
        assert_eq!(
            message.render("crashmail", 3),
            "ver:3.0 server:supervisor serial:7 pool:crashmail poolserial:3 \
             eventname:PROCESS_STATE_EXITED len:66\n\
             processname:web groupname:web from_state:RUNNING expected:0 pid:42"
        );
        assert_eq!(
            process_state_payload("0", "worker", "BACKOFF", "FATAL", None, false),
            "processname:0 groupname:worker from_state:BACKOFF"
        );
    }

    #[test]
    fn the_buffer_drops_the_oldest_when_full() {
        let message = |serial| Message {
            serial,
            name: "TICK_5".into(),
            payload: String::new(),
        };
        let mut buffer = Buffer::new(2);
        assert_eq!(buffer.push(message(1)), None);
        assert_eq!(buffer.push(message(2)), None);
        assert_eq!(buffer.push(message(3)), Some(message(1)));
        buffer.retry(message(9));
        assert_eq!(buffer.pop(), Some(message(9)));
        assert_eq!(buffer.pop(), Some(message(2)));
        assert_eq!(buffer.pop(), None);
    }

    #[test]
    fn tokens_are_read_across_pieces() {
        let mut reader = Reader::default();
        assert_eq!(reader.feed(b"REA"), []);
        assert_eq!(reader.feed(b"DY\nRESULT 2\nO"), [Token::Ready]);
        assert_eq!(
            reader.feed(b"KREADY\nhello\n"),
            [
                Token::Result("OK".into()),
                Token::Ready,
                Token::Garbage("hello".into())
            ]
        );
        assert_eq!(
            reader.feed(b"RESULT 4\nFAIL"),
            [Token::Result("FAIL".into())]
        );
    }
}
