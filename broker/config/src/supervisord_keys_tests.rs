//! Tests of the keys that carry supervisord configs over: `${VAR}` in
//! numbers, the `process_name` template, `command_line`, and server URLs
//! taskmasterctl can use.

use std::path::Path;
use std::time::Duration;

use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "N" => Some("3".to_owned()),
        "HALF" => Some("0.5".to_owned()),
        "YES" => Some("true".to_owned()),
        "ZERO" => Some("0".to_owned()),
        "WORD" => Some("many".to_owned()),
        "FLAGS" => Some("-v --name 'a b'".to_owned()),
        _ => None,
    }
}

fn load(text: &str) -> Result<Config, Vec<String>> {
    parse::parse_with(text, Path::new("t.toml"), &env)
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

fn ok(text: &str) -> Config {
    load(text).unwrap_or_else(|errors| panic!("{errors:#?}"))
}

#[test]
fn numbers_and_booleans_may_come_from_variables() {
    let config = ok(r#"
[taskmasterd]
minfds = "${N}"
[programs.w]
command = "w"
args = ["${N}"]
numprocs = "${N}"
startsecs = "${HALF}"
stopwaitsecs = "${N:-10}"
autostart = "${YES}"
stdout = "/l/${process_num}"
"#);
    let w = &config.programs["w"];
    assert_eq!(w.numprocs, 3);
    assert_eq!(w.startsecs, Duration::from_millis(500));
    assert_eq!(w.stopwaitsecs, Duration::from_secs(3));
    assert!(w.autostart);
    assert_eq!(w.args, ["3"], "a string key keeps the string");
    assert_eq!(config.daemon.minfds, 3);
}

#[test]
fn a_variable_that_is_no_number_is_an_error_saying_what_it_expanded_to() {
    let errors = load(
        "[programs.w]\ncommand = \"w\"\nnumprocs = \"${WORD}\"\n\
         startretries = \"${ZERO}x\"\nstartsecs = \"${ZERO}\"\npriority = \"${NOPE}\"\n\
         [programs.v]\ncommand = \"v\"\nnumprocs = \"${ZERO}\"\nautostart = \"${N}\"\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "t.toml:3: programs.w.numprocs: expected an integer, found a string ('${WORD}' is 'many')",
            "t.toml:4: programs.w.startretries: expected a number of retries or \"infinite\", \
             found \"0x\" ('${ZERO}x' is '0x')",
            "t.toml:6: programs.w.priority: undefined variable 'NOPE': set it in taskmasterd's \
             environment, or give a default with ${NOPE:-default}",
            "t.toml:9: programs.v.numprocs: must be between 1 and 10000, found 0 ('${ZERO}' is '0')",
            "t.toml:10: programs.v.autostart: expected true or false, found an integer ('${N}' is '3')",
        ]
    );
}

#[test]
fn a_process_name_template_names_the_processes() {
    let config = ok(r#"
[programs.queue]
command = "w"
args = ["--id", "${process_num:02}", "${process_name}"]
numprocs = 3
numprocs_start = 8
process_name = "${program_name}_${process_num:02}"
[programs.solo]
command = "s"
process_name = "${program_name}"
[programs.one]
command = "o"
process_name = "first-${process_num}"
[groups.g]
programs = ["queue"]
"#);
    let queue = &config.programs["queue"];
    assert_eq!(
        queue.process_names(),
        ["queue:queue_08", "queue:queue_09", "queue:queue_10"]
    );
    assert_eq!(config.programs["solo"].process_names(), ["solo"]);
    assert_eq!(config.programs["one"].process_names(), ["one:first-0"]);
    let named = |name: &str| {
        config
            .program_of_process(name)
            .map(|(p, n)| (p.name.clone(), n))
    };
    assert_eq!(named("queue:queue_09"), Some(("queue".into(), Some(9))));
    assert_eq!(named("one:first-0"), Some(("one".into(), None)));
    assert_eq!(named("solo"), Some(("solo".into(), None)));
    for undefined in [
        "queue:8",
        "queue:queue_8",
        "queue:queue_11",
        "queue",
        "one",
        "solo:solo",
    ] {
        assert_eq!(named(undefined), None, "{undefined}");
    }
    let spec = config.exec_spec("queue:queue_10").expect("defined");
    assert_eq!(spec.args, ["--id", "10", "queue:queue_10"]);
    assert!(spec
        .env
        .contains(&("TASKMASTER_PROCESS_NAME".into(), "queue:queue_10".into())));
}

#[test]
fn a_process_name_template_must_name_each_process_apart() {
    let errors = load(
        "[programs.a]\ncommand = \"a\"\nnumprocs = 2\nprocess_name = \"${program_name}\"\n\
         [programs.b]\ncommand = \"b\"\nprocess_name = \"x:${process_num}\"\n\
         [programs.c]\ncommand = \"c\"\nprocess_name = \"${group_name}\"\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "t.toml:4: programs.a.process_name: numprocs = 2, but every process would get the \
             name 'a'; put ${process_num} in it, such as \"${program_name}_${process_num:02}\"",
            "t.toml:7: programs.b.process_name: 'x:0' is not a valid process name: it must not \
             be empty nor contain ':', '/' or spaces",
            "t.toml:10: programs.c.process_name: ${group_name} cannot be used in process_name, \
             which makes the process name; use ${program_name} and ${process_num}",
        ]
    );
}

#[test]
fn command_line_is_split_after_its_variables_are_expanded() {
    let config = ok(r#"
[programs.w]
command_line = "/usr/bin/php artisan queue:work ${FLAGS} --id=${process_num} 'x  y' $$HOME"
numprocs = 2
"#);
    let w = &config.programs["w"];
    assert_eq!(w.command, "/usr/bin/php");
    let one = w.instance("w:1", "w");
    assert_eq!(
        one.args,
        [
            "artisan",
            "queue:work",
            "-v",
            "--name",
            "a b",
            "--id=1",
            "x  y",
            "$HOME"
        ]
    );
}

#[test]
fn command_line_goes_alone_and_must_split() {
    let errors = load(
        "[programs.a]\ncommand_line = \"a b\"\ncommand = \"a\"\nargs = [\"b\"]\n\
         [programs.b]\ncommand_line = \"b 'open\"\n\
         [programs.c]\ncommand_line = \"  \"\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "t.toml:3: programs.a.command: command is given with command_line, which holds the \
             command and its arguments; keep one of them",
            "t.toml:4: programs.a.args: args is given with command_line, which holds the command \
             and its arguments; keep one of them",
            "t.toml:6: programs.b.command_line: 'b 'open' has a quote without its closing quote \
             (or ends with a backslash); close it, or escape it with a backslash",
            "t.toml:8: programs.c.command_line: '  ' holds no command",
        ]
    );
}

#[test]
fn server_urls_must_be_ones_taskmasterctl_can_use() {
    let errors = load(
        "[taskmasterctl]\nserverurl = \"http://127.0.0.1:9001\"\n\
         [programs.w]\ncommand = \"w\"\nserverurl = \"https://x\"\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "t.toml:2: taskmasterctl.serverurl: unsupported server URL 'http://127.0.0.1:9001': \
             use unix:///path/to/taskmaster.sock",
            "t.toml:5: programs.w.serverurl: unsupported server URL 'https://x': use \
             unix:///path/to/taskmaster.sock",
        ]
    );
    let config = ok("[taskmasterctl]\nserverurl = \"unix:///run/t.sock\"\n\
                     [programs.w]\ncommand = \"w\"\nserverurl = \"/run/t.sock\"\n");
    assert_eq!(
        config.programs["w"].serverurl.as_deref(),
        Some("/run/t.sock")
    );
}

#[test]
fn a_new_process_name_template_restarts_the_program_under_its_new_names() {
    let old = ok("[programs.w]\ncommand = \"w\"\nnumprocs = 2\n");
    let new =
        ok("[programs.w]\ncommand = \"w\"\nnumprocs = 2\nprocess_name = \"w_${process_num:02}\"\n");
    assert_eq!(
        plan(&old, &new).programs[0].kind,
        ChangeKind::Changed {
            keys: vec!["process_name".to_owned()],
            restart: true,
            numprocs: None,
        }
    );
    assert_eq!(new.programs["w"].process_names(), ["w:w_00", "w:w_01"]);
}
