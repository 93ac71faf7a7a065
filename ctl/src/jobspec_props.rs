//! Property tests of job specs: any spec against any `status` table
//! answers (never panics), names a process of the table when it resolves,
//! and resolves nothing against an empty table.

use proptest::prelude::*;
use taskmaster_protocol::{ProcessInfo, ProcessState};

use super::*;

fn process(name: String, command: String, changed_ms: u64) -> ProcessInfo {
    let program = name.split(':').next().unwrap_or(&name).to_string();
    ProcessInfo {
        command,
        changed_ms,
        ..ProcessInfo::new(name.clone(), program, name, ProcessState::Running)
    }
}

/// Short names over few letters, so that prefixes and duplicates happen.
fn table() -> impl Strategy<Value = Vec<ProcessInfo>> {
    let one = (
        "[ab:0-9]{0,4}",
        "[ab ]{0,6}",
        prop_oneof![Just(0u64), 0u64..4],
    );
    prop::collection::vec(one, 0..8).prop_map(|rows| {
        rows.into_iter()
            .map(|(name, command, changed)| process(name, command, changed))
            .collect()
    })
}

/// Mostly specs of the shapes people type, sometimes anything.
fn spec() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("%".to_owned()),
        Just("%%".to_owned()),
        Just("%+".to_owned()),
        Just("%-".to_owned()),
        "%[0-9]{1,25}",
        "%\\?[ab ]{0,3}",
        "%[ab:0-9]{0,4}",
        ".{0,12}",
    ]
}

proptest! {
    #[test]
    fn any_spec_answers_with_a_process_of_the_table_or_an_error(
        spec in spec(),
        table in table(),
    ) {
        match resolve(&spec, &table) {
            Ok(name) => prop_assert!(table.iter().any(|p| p.name == name)),
            Err(error) => {
                prop_assert_eq!(&error.spec, &spec);
                // The message is built without panicking, and names the spec.
                prop_assert!(error.to_string().contains(&spec));
            }
        }
    }

    #[test]
    fn nothing_resolves_against_an_empty_table(spec in spec()) {
        prop_assert!(resolve(&spec, &[]).is_err());
    }

    /// `%N` is the Nth line of `status`, for every N it shows.
    #[test]
    fn a_line_number_names_that_line(table in table(), line in any::<prop::sample::Index>()) {
        prop_assume!(!table.is_empty());
        let n = line.index(table.len());
        let resolved = resolve(&format!("%{}", n + 1), &table);
        prop_assert_eq!(resolved.ok(), Some(table[n].name.as_str()));
    }
}
