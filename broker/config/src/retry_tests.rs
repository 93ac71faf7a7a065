//! Tests of the restart policy keys: `startretries = "infinite"`,
//! `backoff`, `backoff_reset`, and the defaults they leave alone.

use std::path::Path;
use std::time::Duration;

use super::*;

fn parse(text: &str) -> Config {
    parse_str(text, Path::new("t.toml"))
        .unwrap_or_else(|errors| panic!("unexpected errors:\n{errors}"))
}

fn error(text: &str) -> String {
    match parse_str(text, Path::new("t.toml")) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(errors) => {
            assert_eq!(errors.0.len(), 1, "{errors}");
            errors.0[0].to_string()
        }
    }
}

#[test]
fn without_the_keys_the_policy_is_supervisords() {
    let config = parse("[programs.api]\ncommand = \"/bin/true\"\n");
    let api = &config.programs["api"];
    assert_eq!(api.startretries, 3);
    assert_eq!(api.retry, Retry::default());
    assert!(!api.retry.forever);
    assert_eq!(api.retry.backoff, None);
    assert_eq!(api.command_at.as_deref(), Some("t.toml:2"));
}

#[test]
fn the_issue_example_is_read() {
    let config = parse(
        r#"
[programs.api]
command = "/bin/true"
startretries = "infinite"
backoff = { initial = "1s", factor = 2.0, max = "5min", jitter = 0.2 }
backoff_reset = "60s"
"#,
    );
    let retry = config.programs["api"].retry;
    assert!(retry.forever);
    assert_eq!(
        retry.backoff,
        Some(Backoff {
            initial: Duration::from_secs(1),
            factor: 2.0,
            max: Duration::from_secs(300),
            jitter: 0.2,
        })
    );
    assert_eq!(retry.reset, Duration::from_secs(60));
}

#[test]
fn durations_take_numbers_and_units() {
    let config = parse(
        r#"
[programs.api]
command = "/bin/true"
backoff = { initial = 0.5, max = "2h" }
backoff_reset = "1500ms"
"#,
    );
    let retry = config.programs["api"].retry;
    let backoff = retry.backoff.unwrap();
    assert_eq!(backoff.initial, Duration::from_millis(500));
    assert_eq!(backoff.max, Duration::from_secs(7200));
    assert_eq!((backoff.factor, backoff.jitter), (2.0, 0.0));
    assert_eq!(retry.reset, Duration::from_millis(1500));
}

#[test]
fn bad_values_name_the_key_and_the_fix() {
    let head = "[programs.api]\ncommand = \"/bin/true\"\n";
    assert_eq!(
        error(&format!("{head}startretries = \"forever\"\n")),
        "t.toml:3: programs.api.startretries: expected a number of retries or \"infinite\", found \"forever\""
    );
    assert_eq!(
        error(&format!("{head}backoff = {{ initial = \"1 fortnight\" }}\n")),
        "t.toml:3: programs.api.backoff: initial: cannot read \"1 fortnight\" as a duration; write \
         seconds (10, 0.5) or a string such as \"500ms\", \"1s\", \"5min\" or \"2h\""
    );
    assert_eq!(
        error(&format!("{head}backoff = {{ jitter = 1.5 }}\n")),
        "t.toml:3: programs.api.backoff: jitter: must be between 0 and 1, found 1.5"
    );
    assert_eq!(
        error(&format!("{head}backoff = {{ factr = 2 }}\n")),
        "t.toml:3: programs.api.backoff: unknown key 'factr' in backoff (it takes initial, factor, \
         max and jitter); did you mean 'factor'?"
    );
    assert_eq!(
        error(&format!(
            "{head}backoff = {{ initial = \"10s\", max = \"1s\" }}\n"
        )),
        "t.toml:3: programs.api.backoff: max (1s) is shorter than initial (10s); raise max"
    );
}

#[test]
fn a_reload_that_changes_the_policy_applies_it_in_place() {
    let old = parse("[programs.api]\ncommand = \"/bin/true\"\n");
    let new = parse("[programs.api]\ncommand = \"/bin/true\"\nbackoff = { factor = 3 }\n");
    let plan = plan(&old, &new);
    assert_eq!(
        plan.programs[0].kind,
        ChangeKind::Changed {
            keys: vec!["backoff".to_owned()],
            restart: false,
            numprocs: None,
        }
    );
}
