//! Typed readers for single TOML values: each turns one item into one config
//! value, or into a [`Problem`] that says what was expected instead.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use toml_edit::{Item, Value};

use super::{AutoRestart, Backoff};
use crate::signals::{parse_signal, signal_from_number};

/// Byte range of an item in the config text.
pub(super) type Span = Option<Range<usize>>;

/// Why a value was refused; `span` narrows the place down (an array
/// element) when the item's own place is not precise enough.
#[derive(Debug)]
pub(super) struct Problem {
    pub message: String,
    pub span: Span,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Self {
        Problem {
            message: message.into(),
            span: None,
        }
    }

    pub fn at(mut self, span: Span) -> Self {
        self.span = span;
        self
    }
}

pub(super) type Read<T> = Result<T, Problem>;

/// Longest `startsecs`/`stopwaitsecs`: more is surely a typo, and timers
/// far in the future overflow.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// The highest mode: permission bits plus setuid, setgid and sticky.
const MAX_MODE: u32 = 0o7777;

/// "a string", "an integer": the type of an item as a message names it.
pub(super) fn describe(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(value) => describe_value(value),
    }
}

fn describe_value(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "a table",
    }
}

pub(super) fn expected(what: &str, item: &Item) -> Problem {
    Problem::new(format!("expected {what}, found {}", describe(item)))
}

pub(super) fn string(item: &Item) -> Read<String> {
    item.as_str()
        .map(str::to_owned)
        .ok_or_else(|| expected("a string", item))
}

pub(super) fn non_empty_string(item: &Item) -> Read<String> {
    let text = string(item)?;
    if text.is_empty() {
        return Err(Problem::new("must not be empty"));
    }
    if text.contains('\0') {
        return Err(Problem::new("must not contain a NUL character"));
    }
    Ok(text)
}

pub(super) fn boolean(item: &Item) -> Read<bool> {
    item.as_bool()
        .ok_or_else(|| expected("true or false", item))
}

/// A whole number within `min..=max`, converted to the field's type.
pub(super) fn whole<T: TryFrom<i64>>(item: &Item, min: i64, max: i64) -> Read<T> {
    let number = item
        .as_integer()
        .ok_or_else(|| expected("an integer", item))?;
    let out_of_range = || {
        let message = if max == i64::MAX {
            format!("must be at least {min}, found {number}")
        } else {
            format!("must be between {min} and {max}, found {number}")
        };
        Problem::new(message)
    };
    if !(min..=max).contains(&number) {
        return Err(out_of_range());
    }
    T::try_from(number).map_err(|_| out_of_range())
}

/// Integer or fractional seconds, `0` or more.
pub(super) fn seconds(item: &Item) -> Read<Duration> {
    let seconds = match item.as_value() {
        Some(Value::Integer(n)) => *n.value() as f64,
        Some(Value::Float(f)) => *f.value(),
        _ => return Err(expected("a number of seconds (such as 10 or 0.5)", item)),
    };
    if !(0.0..=MAX_SECONDS).contains(&seconds) {
        return Err(Problem::new(format!(
            "must be between 0 and {MAX_SECONDS} seconds (one year), found {seconds}"
        )));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `startretries`: a count, or `"infinite"` (read as `None`).
pub(super) fn retries(item: &Item) -> Read<Option<u32>> {
    match item.as_str() {
        Some(text) if text.trim().eq_ignore_ascii_case("infinite") => Ok(None),
        Some(text) => Err(Problem::new(format!(
            "expected a number of retries or \"infinite\", found \"{text}\""
        ))),
        None => whole(item, 0, u32::MAX.into()).map(Some),
    }
}

/// A duration: seconds as a number (`10`, `0.5`), or a string with a unit
/// (`"500ms"`, `"1s"`, `"5min"`, `"2h"`).
pub(super) fn duration(item: &Item) -> Read<Duration> {
    let Some(text) = item.as_str() else {
        return seconds(item);
    };
    let text = text.trim();
    let unit_start = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_start);
    let scale = match unit.trim() {
        "ms" => Some(0.001),
        "" | "s" => Some(1.0),
        "min" | "m" => Some(60.0),
        "h" => Some(3600.0),
        _ => None,
    };
    let seconds = scale.zip(number.parse::<f64>().ok()).map(|(s, n)| s * n);
    match seconds {
        Some(seconds) if (0.0..=MAX_SECONDS).contains(&seconds) => {
            Ok(Duration::from_secs_f64(seconds))
        }
        Some(seconds) => Err(Problem::new(format!(
            "must be between 0 and {MAX_SECONDS} seconds (one year), found {seconds}"
        ))),
        None => Err(Problem::new(format!(
            "cannot read \"{text}\" as a duration; write seconds (10, 0.5) or a string \
             such as \"500ms\", \"1s\", \"5min\" or \"2h\""
        ))),
    }
}

/// `backoff = { initial = "1s", factor = 2.0, max = "5min", jitter = 0.2 }`;
/// every key may be left out (1 s, 2.0, 5 min, 0).
pub(super) fn backoff(item: &Item) -> Read<Backoff> {
    let table = item
        .as_table_like()
        .ok_or_else(|| expected("a table such as { initial = \"1s\", factor = 2.0 }", item))?;
    let mut backoff = Backoff {
        initial: Duration::from_secs(1),
        factor: 2.0,
        max: Duration::from_secs(300),
        jitter: 0.0,
    };
    for (key, value) in table.iter() {
        let at =
            |problem: Problem| Problem::new(format!("{key}: {}", problem.message)).at(value.span());
        match key {
            "initial" => backoff.initial = duration(value).map_err(at)?,
            "max" => backoff.max = duration(value).map_err(at)?,
            "factor" => backoff.factor = fraction(value, 1.0, 100.0).map_err(at)?,
            "jitter" => backoff.jitter = fraction(value, 0.0, 1.0).map_err(at)?,
            other => {
                let hint = did_you_mean(other, ["initial", "factor", "max", "jitter"], ("'", "'"));
                return Err(Problem::new(format!(
                    "unknown key '{other}' in backoff (it takes initial, factor, max and jitter){hint}"
                ))
                .at(value.span()));
            }
        }
    }
    if backoff.max < backoff.initial {
        return Err(Problem::new(format!(
            "max ({:?}) is shorter than initial ({:?}); raise max",
            backoff.max, backoff.initial
        )));
    }
    Ok(backoff)
}

/// A number (integer or float) within `min..=max`.
fn fraction(item: &Item, min: f64, max: f64) -> Read<f64> {
    let number = match item.as_value() {
        Some(Value::Integer(n)) => *n.value() as f64,
        Some(Value::Float(f)) => *f.value(),
        _ => return Err(expected("a number", item)),
    };
    if !(min..=max).contains(&number) {
        return Err(Problem::new(format!(
            "must be between {min} and {max}, found {number}"
        )));
    }
    Ok(number)
}

/// A file mode or umask: TOML `0o022` or a string of octal digits
/// (`"022"`, `"0o022"`). `text` is the config, to see how an integer was
/// spelled: TOML reads `22` as twenty-two, which is never what was meant.
pub(super) fn mode(item: &Item, text: &str) -> Read<u32> {
    let mode = match item.as_value() {
        Some(Value::Integer(n)) => {
            let spelled = item
                .span()
                .and_then(|span| text.get(span))
                .map(str::trim)
                .unwrap_or("0o");
            let value = *n.value();
            // 0 reads the same in every base.
            if value != 0 && !spelled.starts_with("0o") {
                return Err(Problem::new(decimal_mode_message(spelled)));
            }
            u32::try_from(value).ok()
        }
        Some(Value::String(s)) => {
            let digits = s.value().trim();
            let digits = digits
                .strip_prefix("0o")
                .or_else(|| digits.strip_prefix("0O"))
                .unwrap_or(digits);
            if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return Err(Problem::new(format!(
                    "'{}' is not an octal mode; write octal digits such as \"022\" or 0o022",
                    s.value()
                )));
            }
            u32::from_str_radix(digits, 8).ok()
        }
        _ => return Err(expected("an octal mode such as 0o022 or \"022\"", item)),
    };
    match mode {
        Some(mode) if mode <= MAX_MODE => Ok(mode),
        _ => Err(Problem::new("out of range: modes go from 0o0 to 0o7777")),
    }
}

fn decimal_mode_message(spelled: &str) -> String {
    if !spelled.bytes().all(|b| b.is_ascii_digit()) {
        return format!("write modes in octal, such as 0o022, not {spelled}");
    }
    if spelled.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        format!("write modes in octal: 0o{spelled:0>3} (TOML reads {spelled} as a decimal number)")
    } else {
        format!("write modes in octal, such as 0o022 (TOML reads {spelled} as a decimal number)")
    }
}

/// A size in bytes: an integer, or a string such as `"50MB"` (units are
/// powers of 1024, as in supervisord).
pub(super) fn byte_size(item: &Item) -> Read<u64> {
    match item.as_value() {
        Some(Value::Integer(n)) => u64::try_from(*n.value())
            .map_err(|_| Problem::new(format!("must be at least 0, found {}", n.value()))),
        Some(Value::String(s)) => parse_size(s.value()).ok_or_else(|| {
            Problem::new(format!(
                "cannot read '{}' as a size; write bytes as an integer, or a string such as \
                 \"500KB\", \"50MB\" or \"2GB\"",
                s.value()
            ))
        }),
        _ => Err(expected(
            "a size in bytes (such as 52428800 or \"50MB\")",
            item,
        )),
    }
}

fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let unit_start = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(unit_start);
    let number: u64 = digits.parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// `"TERM"`, `"SIGTERM"`, `"15"` or `15`.
pub(super) fn signal(item: &Item) -> Read<i32> {
    match item.as_value() {
        Some(Value::String(s)) => parse_signal(s.value()).map_err(|e| Problem::new(e.to_string())),
        Some(Value::Integer(n)) => {
            signal_from_number(*n.value()).map_err(|e| Problem::new(e.to_string()))
        }
        _ => Err(expected(
            "a signal name such as \"TERM\", or a number",
            item,
        )),
    }
}

/// `true`, `false` or `"unexpected"`; the strings `"true"`/`"false"` too.
pub(super) fn autorestart(item: &Item) -> Read<AutoRestart> {
    match item.as_value() {
        Some(Value::Boolean(b)) if *b.value() => Ok(AutoRestart::Always),
        Some(Value::Boolean(_)) => Ok(AutoRestart::Never),
        Some(Value::String(s)) => match s.value().trim().to_ascii_lowercase().as_str() {
            "true" => Ok(AutoRestart::Always),
            "false" => Ok(AutoRestart::Never),
            "unexpected" => Ok(AutoRestart::Unexpected),
            _ => Err(Problem::new(format!(
                "expected true, false or \"unexpected\", found \"{}\"",
                s.value()
            ))),
        },
        _ => Err(expected("true, false or \"unexpected\"", item)),
    }
}

/// An exit code, or an array of them, each in `0..=255`.
pub(super) fn exitcodes(item: &Item) -> Read<Vec<i32>> {
    let Some(Value::Array(array)) = item.as_value() else {
        return whole::<i32>(item, 0, 255)
            .map(|code| vec![code])
            .map_err(|_| expected("an exit code or an array of them, such as [0, 2]", item));
    };
    array
        .iter()
        .enumerate()
        .map(|(index, value)| {
            let element = Item::Value(value.clone());
            whole::<i32>(&element, 0, 255).map_err(|problem| {
                Problem::new(format!("element [{index}]: {}", problem.message)).at(value.span())
            })
        })
        .collect()
}

/// An array of strings, such as `args`.
pub(super) fn string_array(item: &Item) -> Read<Vec<String>> {
    let Some(Value::Array(array)) = item.as_value() else {
        return Err(expected(
            "an array of strings, such as [\"-c\", \"x\"]",
            item,
        ));
    };
    array
        .iter()
        .enumerate()
        .map(|(index, value)| match value.as_str() {
            Some(text) if !text.contains('\0') => Ok(text.to_owned()),
            Some(_) => Err(Problem::new(format!(
                "element [{index}] must not contain a NUL character"
            ))
            .at(value.span())),
            None => Err(Problem::new(format!(
                "element [{index}]: expected a string, found {}",
                describe_value(value)
            ))
            .at(value.span())),
        })
        .collect()
}

/// A path as written; the caller resolves it against the config's directory.
pub(super) fn path(item: &Item) -> Read<PathBuf> {
    non_empty_string(item).map(PathBuf::from)
}

/// An environment value: any TOML scalar, as the string it stands for.
pub(super) fn env_value(item: &Item) -> Read<String> {
    let text = match item.as_value() {
        Some(Value::String(s)) => s.value().clone(),
        Some(Value::Integer(n)) => n.value().to_string(),
        // Debug keeps the ".0" of 1.0, which Display drops.
        Some(Value::Float(f)) => format!("{:?}", f.value()),
        Some(Value::Boolean(b)) => b.value().to_string(),
        Some(Value::Datetime(d)) => d.value().to_string(),
        _ => return Err(expected("a string, number or boolean", item)),
    };
    if text.contains('\0') {
        return Err(Problem::new("must not contain a NUL character"));
    }
    Ok(text)
}

/// `"; did you mean 'command'?"` when a candidate is close to `word`, else `""`.
pub(super) fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    quote: (&str, &str),
) -> String {
    let word_lower = word.to_lowercase();
    let budget = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&word_lower, &candidate.to_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= budget)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| format!("; did you mean {}{candidate}{}?", quote.0, quote.1))
        .unwrap_or_default()
}

/// Edit distance over characters where swapping two neighbours is one edit
/// (optimal string alignment), since `wbe` for `web` is a typical typo.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // rows[i][j]: distance between the first i chars of a and first j of b.
    let mut rows = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// A server URL that taskmasterctl (and the protocol crate's client) can
/// use: `unix:///path/to/taskmaster.sock` or the bare path. supervisord's
/// `http://` URLs name a TCP server Taskmaster does not have.
pub(super) fn server_url(item: &Item) -> Read<String> {
    let url = non_empty_string(item)?;
    taskmaster_protocol::socket_path_from_url(&url)
        .map_err(|unsupported| Problem::new(unsupported.to_string()))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_units_in_any_case() {
        assert_eq!(parse_size("50MB"), Some(50 << 20));
        assert_eq!(parse_size("1kb"), Some(1024));
        assert_eq!(parse_size("2 GB"), Some(2 << 30));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("5MiB"), Some(5 << 20));
        assert_eq!(parse_size("MB"), None);
        assert_eq!(parse_size("5TB"), None);
        assert_eq!(parse_size("-5MB"), None);
        assert_eq!(parse_size("99999999999999GB"), None);
    }

    #[test]
    fn suggestions_pick_the_closest_candidate() {
        let keys = ["command", "cmd", "args", "autostart"];
        assert_eq!(
            did_you_mean("comand", keys, ("'", "'")),
            "; did you mean 'command'?"
        );
        assert_eq!(
            did_you_mean("Autostart", keys, ("'", "'")),
            "; did you mean 'autostart'?"
        );
        assert_eq!(did_you_mean("zzz", keys, ("'", "'")), "");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("wbe", "web"), 1);
    }
}
