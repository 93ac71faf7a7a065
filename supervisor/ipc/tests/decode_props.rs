//! Property tests of the packet decoder: whatever bytes arrive on the
//! socketpair, decoding answers (never panics), and only a well-formed
//! packet decodes.

use proptest::prelude::*;
use serde_json::{json, Value};
use taskmaster_ipc::{decode, encode, ToBroker, ToSupervisor};

/// The field names and tags of the real packets, so that generated JSON
/// gets close to them and reaches the decoder's deeper paths.
const NAMES: &[&str] = &[
    "type",
    "ready",
    "spawn",
    "signal",
    "exit",
    "close_stdin",
    "id",
    "name",
    "command",
    "args",
    "env",
    "user",
    "directory",
    "umask",
    "redirect_stderr",
    "pid",
    "group",
    "generation",
    "rebind",
    "hello",
    "survivors",
    "survivor",
    "child",
    "notices",
    "warnings",
    "refused",
    "what",
    "listener",
    "spawned",
    "started_at_ms",
    "streams",
    "stdin",
    "stdout",
    "stderr",
    "spawn_failed",
    "error",
    "exited",
    "status",
    "kind",
    "code",
    "core_dumped",
    "shutdown",
    "reload",
    "reopen_logs",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(NAMES).prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

/// Any JSON value, its keys and strings mostly the packets' own words.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        name().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(name(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A decoded packet is one that encodes back to the same packet: the
/// decoder accepted a real message, not something half-read.
fn check<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(message) = decode::<T>(bytes) {
        let again: T = decode(&encode(&message))
            .map_err(|e| TestCaseError::fail(format!("{message:?} does not decode back: {e}")))?;
        prop_assert_eq!(again, message);
    }
    Ok(())
}

fn samples() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let to_supervisor = [
        json!({"type": "spawn", "id": 7, "name": "web:1", "generation": 42}),
        json!({"type": "rebind", "generation": 42}),
        json!({"type": "signal", "pid": 42, "signal": 15, "group": true}),
        json!({"type": "close_stdin", "pid": 42}),
    ];
    let to_broker = [
        json!({"type": "hello", "survivors": 1, "notices": ["x"], "warnings": []}),
        json!({"type": "survivor", "child": {"pid": 1, "name": "a", "started_at_ms": 5},
               "streams": ["stdout"]}),
        json!({"type": "refused", "what": "spawn of \"evil\""}),
        json!({"type": "spawned", "id": 1, "pid": 2, "started_at_ms": 3,
               "streams": ["stdin", "stdout"]}),
        json!({"type": "exited", "pid": 2, "status": {"kind": "signal", "signal": 9,
               "core_dumped": true}}),
    ];
    let bytes = |values: &[Value]| values.iter().map(|v| v.to_string().into_bytes()).collect();
    (bytes(&to_supervisor), bytes(&to_broker))
}

#[test]
fn the_samples_are_real_packets() {
    let (to_supervisor, to_broker) = samples();
    for packet in &to_supervisor {
        assert!(decode::<ToSupervisor>(packet).is_ok());
    }
    for packet in &to_broker {
        assert!(decode::<ToBroker>(packet).is_ok());
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        // JSON is UTF-8: anything else is refused whole.
        if std::str::from_utf8(&bytes).is_err() {
            prop_assert!(decode::<ToSupervisor>(&bytes).is_err());
            prop_assert!(decode::<ToBroker>(&bytes).is_err());
        }
        check::<ToSupervisor>(&bytes)?;
        check::<ToBroker>(&bytes)?;
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        let text = value.to_string();
        check::<ToSupervisor>(text.as_bytes())?;
        check::<ToBroker>(text.as_bytes())?;
    }

    /// A packet cut short (a read that lost its end) is always an error.
    #[test]
    fn a_truncated_packet_is_an_error(which in 0usize..6, cut in any::<prop::sample::Index>()) {
        let (to_supervisor, to_broker) = samples();
        let packet = if which < 3 { &to_supervisor[which] } else { &to_broker[which - 3] };
        let cut = cut.index(packet.len());
        prop_assert!(decode::<ToSupervisor>(&packet[..cut]).is_err());
        prop_assert!(decode::<ToBroker>(&packet[..cut]).is_err());
    }

    /// Packets with any one byte changed: never a panic; accepted only as
    /// another real packet.
    #[test]
    fn a_corrupted_packet_never_panics(
        which in 0usize..6,
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let (to_supervisor, to_broker) = samples();
        let mut packet = if which < 3 {
            to_supervisor[which].clone()
        } else {
            to_broker[which - 3].clone()
        };
        let at = at.index(packet.len());
        packet[at] = byte;
        check::<ToSupervisor>(&packet)?;
        check::<ToBroker>(&packet)?;
    }
}
