//! Property tests of what the broker does with a client's line: framing
//! never holds more than its limit, and parsing a request never panics and
//! refuses what is not a request.

use std::io::BufReader;

use proptest::prelude::*;
use serde_json::{json, Value};
use taskmaster_protocol::{read_line, LineError, Request};

/// The request's own field names and values, so that generated JSON gets
/// close to real requests.
const WORDS: &[&str] = &[
    "id", "command", "target", "name", "names", "signal", "wait", "stream", "lines", "follow",
    "data", "close", "program", "process", "group", "all", "stop", "start", "status", "tail",
    "stdout", "stderr", "HUP", "web:1",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        word().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(word(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// What the server does with a line: `serde_json::from_str::<Request>`.
/// A request it accepts is one it would also send back identically.
fn check(line: &str) -> Result<(), TestCaseError> {
    if let Ok(request) = serde_json::from_str::<Request>(line) {
        let text = serde_json::to_string(&request)
            .map_err(|e| TestCaseError::fail(format!("{request:?} does not encode: {e}")))?;
        let again: Request = serde_json::from_str(&text)
            .map_err(|e| TestCaseError::fail(format!("{text} does not parse back: {e}")))?;
        prop_assert_eq!(again.command.name(), request.command.name());
        // `id` and `signal` are any JSON: serde_json (without its
        // `float_roundtrip` feature) may read a float back one unit off in
        // the last place, so only their shape is compared.
        prop_assert_eq!(blurred(&again)?, blurred(&request)?);
    }
    Ok(())
}

/// The request as JSON, its `id` and `signal` reduced to their shape.
fn blurred(request: &Request) -> Result<Value, TestCaseError> {
    let mut value = serde_json::to_value(request)
        .map_err(|e| TestCaseError::fail(format!("{request:?} does not encode: {e}")))?;
    if let Value::Object(map) = &mut value {
        for key in ["id", "signal"] {
            if let Some(field) = map.get_mut(key) {
                *field = shape(field);
            }
        }
    }
    Ok(value)
}

/// A JSON value with its numbers blanked.
fn shape(value: &Value) -> Value {
    match value {
        Value::Number(_) => Value::from(0),
        Value::Array(items) => items.iter().map(shape).collect(),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        other => other.clone(),
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(line in ".{0,256}") {
        check(&line)?;
    }

    #[test]
    fn arbitrary_json_never_panics(value in json_value()) {
        check(&value.to_string())?;
    }

    /// A scalar, or an object without a string `command`, is never a request.
    #[test]
    fn what_has_no_command_is_refused(value in json_value()) {
        let refused = match &value {
            Value::Object(map) => !map.get("command").is_some_and(Value::is_string),
            Value::Array(_) => false,
            _ => true,
        };
        if refused {
            prop_assert!(serde_json::from_str::<Request>(&value.to_string()).is_err());
        }
    }

    /// A request cut short (a client that died mid-line) is an error.
    #[test]
    fn a_truncated_request_is_an_error(cut in any::<prop::sample::Index>()) {
        let line = r#"{"id":7,"command":"stop","target":"program","name":"nginx","wait":true}"#;
        let cut = cut.index(line.len());
        prop_assert!(serde_json::from_str::<Request>(&line[..cut]).is_err());
    }

    /// Framing never buffers a line of `limit` bytes or more, whatever comes.
    #[test]
    fn framing_stays_within_its_limit(
        bytes in prop::collection::vec(any::<u8>(), 0..2048),
        limit in 1usize..300,
        capacity in 1usize..64,
    ) {
        let mut reader = BufReader::with_capacity(capacity, bytes.as_slice());
        let mut buf = Vec::new();
        // Each call consumes at least one byte or ends: a bound on calls.
        for _ in 0..=bytes.len() + 1 {
            match read_line(&mut reader, &mut buf, limit) {
                Ok(true) => {
                    prop_assert!(buf.len() < limit);
                    prop_assert!(!buf.contains(&b'\n'));
                }
                Ok(false) => return Ok(()),
                // The long line is dropped; the next one is read.
                Err(LineError::TooLong) => prop_assert!(buf.is_empty()),
                Err(LineError::Io(e)) => return Err(TestCaseError::fail(e.to_string())),
            }
        }
        prop_assert!(false, "read_line did not reach the end of {} bytes", bytes.len());
    }
}
