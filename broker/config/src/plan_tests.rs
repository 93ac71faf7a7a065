//! Tests of the reload plan: every kind of change to a program, a group,
//! the socket and the daemon, and the text `reread` prints.

use std::path::Path;

// Through the re-exports, as the core reaches them.
use crate::{parse_str, plan, ChangeKind, Config, Plan, ProgramChange};

fn config(text: &str) -> Config {
    parse_str(text, Path::new("/etc/tm/t.toml"))
        .unwrap_or_else(|errors| panic!("unexpected errors:\n{errors}\nin:\n{text}"))
}

fn plan_of(old: &str, new: &str) -> Plan {
    plan(&config(old), &config(new))
}

/// The change of the program `web` when `line` is added to its table.
fn change_of(line: &str) -> ChangeKind {
    let base = "[programs.web]\ncommand = \"web\"\n";
    let plan = plan_of(base, &format!("{base}{line}\n"));
    assert_eq!(plan.programs.len(), 1);
    plan.programs[0].kind.clone()
}

fn changed(keys: &[&str], restart: bool, numprocs: Option<(u32, u32)>) -> ChangeKind {
    ChangeKind::Changed {
        keys: keys.iter().map(|key| (*key).to_owned()).collect(),
        restart,
        numprocs,
    }
}

#[test]
fn keys_that_change_the_process_restart_it() {
    for (line, key) in [
        ("args = [\"-v\"]", "args"),
        ("numprocs_start = 1", "numprocs_start"),
        ("user = \"root\"", "user"),
        ("directory = \"/srv\"", "directory"),
        ("umask = 0o077", "umask"),
        ("stdout = \"/var/log/web.out\"", "stdout"),
        ("stderr = \"/var/log/web.err\"", "stderr"),
        ("redirect_stderr = true", "redirect_stderr"),
        ("serverurl = \"unix:///x.sock\"", "serverurl"),
        ("env = { A = \"1\" }", "env"),
    ] {
        assert_eq!(change_of(line), changed(&[key], true, None), "{line}");
    }
    assert_eq!(
        plan_of(
            "[programs.web]\ncommand = \"web\"\n",
            "[programs.web]\ncommand = \"web2\"\n"
        )
        .programs[0]
            .kind,
        changed(&["command"], true, None)
    );
}

#[test]
fn keys_the_state_machine_reads_apply_in_place() {
    for (line, keys) in [
        ("priority = 1", &["priority"][..]),
        ("autostart = false", &["autostart"]),
        ("startsecs = 3", &["startsecs"]),
        ("startretries = 9", &["startretries"]),
        ("autorestart = true", &["autorestart"]),
        ("exitcodes = [0, 2]", &["exitcodes"]),
        ("stopsignal = \"INT\"", &["stopsignal"]),
        ("stopwaitsecs = 1", &["stopwaitsecs"]),
        ("stopasgroup = true", &["stopasgroup", "killasgroup"]),
        ("killasgroup = true", &["killasgroup"]),
        ("stdout_maxbytes = 1", &["stdout_maxbytes"]),
        ("stdout_backups = 1", &["stdout_backups"]),
        ("stderr_maxbytes = 1", &["stderr_maxbytes"]),
        ("stderr_backups = 1", &["stderr_backups"]),
        ("stdout_timestamps = true", &["stdout_timestamps"]),
        ("stderr_timestamps = true", &["stderr_timestamps"]),
    ] {
        assert_eq!(change_of(line), changed(keys, false, None), "{line}");
    }
}

#[test]
fn writing_a_default_or_an_alias_is_no_change() {
    for line in [
        "autostart = true",
        "numprocs = 1",
        "stopsignal = 15",
        "stoptime = 10",
    ] {
        assert_eq!(change_of(line), ChangeKind::Unchanged, "{line}");
    }
    let plan = plan_of(
        "[programs.web]\ncommand = \"web\"\n",
        "[programs.web]\ncmd = \"web\"\n",
    );
    assert_eq!(plan.programs[0].kind, ChangeKind::Unchanged);
}

#[test]
fn numprocs_alone_starts_or_stops_the_difference() {
    let two = "[programs.w]\ncommand = \"w\"\nnumprocs = 2\n";
    let four = "[programs.w]\ncommand = \"w\"\nnumprocs = 4\n";
    let one = "[programs.w]\ncommand = \"w\"\n";
    assert_eq!(
        plan_of(two, four).programs[0].kind,
        changed(&["numprocs"], false, Some((2, 4)))
    );
    assert_eq!(
        plan_of(four, two).programs[0].kind,
        changed(&["numprocs"], false, Some((4, 2)))
    );
    // `w` becomes `w:0` and `w:1`: no process keeps its name.
    assert_eq!(
        plan_of(one, two).programs[0].kind,
        changed(&["numprocs"], true, Some((1, 2)))
    );
    assert_eq!(
        plan_of(two, one).programs[0].kind,
        changed(&["numprocs"], true, Some((2, 1)))
    );
    let four_other =
        "[programs.w]\ncommand = \"w\"\nnumprocs = 4\nargs = [\"x\"]\nautostart = false\n";
    assert_eq!(
        plan_of(two, four_other).programs[0].kind,
        changed(&["numprocs", "args", "autostart"], true, Some((2, 4)))
    );
}

#[test]
fn the_environment_compared_is_the_one_the_program_gets() {
    let before = "[taskmasterd.env]\nA = \"1\"\n[programs.web]\ncommand = \"web\"\n";
    // The program's own value overrides the daemon's: the same result.
    let same =
        "[taskmasterd.env]\nA = \"2\"\n[programs.web]\ncommand = \"web\"\nenv = { A = \"1\" }\n";
    let plan = plan_of(before, same);
    assert_eq!(plan.programs[0].kind, ChangeKind::Unchanged);
    assert_eq!(plan.daemon_changed, ["env"]);
    let other = "[taskmasterd.env]\nA = \"2\"\n[programs.web]\ncommand = \"web\"\n";
    assert_eq!(
        plan_of(before, other).programs[0].kind,
        changed(&["env"], true, None)
    );
    // Integers become strings: 1 and "1" are the same variable.
    let integer = "[taskmasterd.env]\nA = 1\n[programs.web]\ncommand = \"web\"\n";
    assert_eq!(
        plan_of(before, integer).programs[0].kind,
        ChangeKind::Unchanged
    );
}

#[test]
fn childlogdir_moves_only_the_programs_with_default_log_paths() {
    let programs = "[programs.plain]\ncommand = \"p\"\n\
                    [programs.half]\ncommand = \"h\"\nstdout = \"/l/h.out\"\n\
                    [programs.own]\ncommand = \"o\"\nstdout = \"/l/o.out\"\nstderr = \"/l/o.err\"\n";
    let plan = plan_of(
        &format!("[taskmasterd]\nchildlogdir = \"/a\"\n{programs}"),
        &format!("[taskmasterd]\nchildlogdir = \"/b\"\n{programs}"),
    );
    let kinds: Vec<(&str, &ChangeKind)> = plan
        .programs
        .iter()
        .map(|p| (p.name.as_str(), &p.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("half", &changed(&["stderr"], true, None)),
            ("own", &ChangeKind::Unchanged),
            ("plain", &changed(&["stdout", "stderr"], true, None)),
        ]
    );
    // The default activity log moves with childlogdir too.
    assert_eq!(plan.daemon_changed, ["logfile", "childlogdir"]);
    assert!(plan.restart_needed.is_empty());
}

#[test]
fn group_changes_touch_only_the_programs_that_move() {
    let old = "[programs.a]\ncommand = \"a\"\n[programs.b]\ncommand = \"b\"\n\
               [programs.c]\ncommand = \"c\"\n[programs.d]\ncommand = \"d\"\n\
               [groups.g]\nprograms = [\"a\"]\n[groups.h]\nprograms = [\"c\"]\n";
    let new = "[programs.a]\ncommand = \"a\"\n[programs.b]\ncommand = \"b\"\n\
               [programs.c]\ncommand = \"c\"\n[programs.d]\ncommand = \"d\"\n\
               [groups.g]\nprograms = [\"a\", \"b\"]\n[groups.h]\nprograms = [\"c\"]\npriority = 1\n";
    let plan = plan_of(old, new);
    let kinds: Vec<(&str, &ChangeKind)> = plan
        .programs
        .iter()
        .map(|p| (p.name.as_str(), &p.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            // `a` stays in `g`, which gained `b`: untouched.
            ("a", &ChangeKind::Unchanged),
            ("b", &changed(&["group"], false, None)),
            ("c", &changed(&["group priority"], false, None)),
            ("d", &ChangeKind::Unchanged),
        ]
    );
    // An ungrouped program's own group follows its priority: one key, not two.
    assert_eq!(
        change_of("priority = 5"),
        changed(&["priority"], false, None)
    );
}

#[test]
fn programs_are_added_and_removed_by_name() {
    let plan = plan_of(
        "[programs.old]\ncommand = \"o\"\n[programs.keep]\ncommand = \"k\"\n",
        "[programs.keep]\ncommand = \"k\"\n[programs.new]\ncommand = \"n\"\n",
    );
    assert_eq!(
        plan.programs,
        [
            ProgramChange {
                name: "keep".to_owned(),
                kind: ChangeKind::Unchanged
            },
            ProgramChange {
                name: "new".to_owned(),
                kind: ChangeKind::Added
            },
            ProgramChange {
                name: "old".to_owned(),
                kind: ChangeKind::Removed
            },
        ]
    );
}

#[test]
fn server_and_daemon_keys_are_sorted_by_how_they_apply() {
    let plan = plan_of(
        "[unix_http_server]\nfile = \"/a.sock\"\n",
        "[unix_http_server]\nfile = \"/a.sock\"\nchmod = 0o770\n\
         [taskmasterd]\npidfile = \"/p\"\numask = 0o077\nnodaemon = true\nminfds = 1\n\
         minprocs = 1\nuser = \"root\"\ndirectory = \"/\"\nlogfile = \"/l\"\nlogfile_maxbytes = 1\nlogfile_backups = 1\nloglevel = \"debug\"\n\
         [taskmasterd.env]\nX = 1\n",
    );
    assert!(plan.server_changed);
    assert_eq!(
        plan.restart_needed,
        [
            "pidfile",
            "umask",
            "nodaemon",
            "minfds",
            "minprocs",
            "user",
            "directory"
        ]
    );
    assert_eq!(
        plan.daemon_changed,
        [
            "logfile",
            "logfile_maxbytes",
            "logfile_backups",
            "loglevel",
            "env"
        ]
    );
    let same = plan_of("[unix_http_server]\nchmod = 0o700\n", "");
    assert!(
        !same.server_changed && same.restart_needed.is_empty() && same.daemon_changed.is_empty()
    );
}

#[test]
fn render_prints_what_reread_shows() {
    let plan = plan_of(
        "[taskmasterd]\nloglevel = \"info\"\n\
         [programs.web]\ncommand = \"web\"\n\
         [programs.worker]\ncommand = \"w\"\nnumprocs = 2\n\
         [programs.old]\ncommand = \"o\"\n\
         [programs.cache]\ncommand = \"c\"\n\
         [programs.tune]\ncommand = \"t\"\n",
        "[unix_http_server]\nfile = \"/b.sock\"\n\
         [taskmasterd]\nloglevel = \"debug\"\npidfile = \"/p\"\n\
         [programs.web]\ncommand = \"web\"\nargs = [\"-x\"]\nenv = { A = 1 }\n\
         [programs.worker]\ncommand = \"w\"\nnumprocs = 4\n\
         [programs.db]\ncommand = \"d\"\n\
         [programs.cache]\ncommand = \"c\"\n\
         [programs.tune]\ncommand = \"t\"\nautorestart = false\nnumprocs = 3\n",
    );
    assert_eq!(
        plan.render(),
        "cache: unchanged\n\
         db: added\n\
         old: removed\n\
         tune: changed (numprocs 1 -> 3, autorestart; restart)\n\
         web: changed (args, env; restart)\n\
         worker: changed (numprocs 2 -> 4)\n\
         [unix_http_server]: changed (the socket is bound again)\n\
         [taskmasterd]: changed (loglevel)\n\
         [taskmasterd]: changed (pidfile; applied when taskmasterd restarts)"
    );
}

#[test]
fn roles_apply_without_binding_the_socket_again() {
    let plan = plan_of(
        "[programs.web]\ncommand = \"/bin/true\"\n",
        "[unix_http_server]\nadmins = [\"root\"]\n\
         [programs.web]\ncommand = \"/bin/true\"\noperators = [\"@root\"]\n",
    );
    assert!(plan.roles_changed && !plan.server_changed);
    assert_eq!(
        plan.programs[0].kind,
        ChangeKind::Changed {
            keys: vec!["operators".to_owned()],
            restart: false,
            numprocs: None,
        }
    );
    assert_eq!(
        plan.render(),
        "web: changed (operators)\n\
         [unix_http_server]: changed (admins, viewers; applied from the next request)"
    );
}

#[test]
fn readiness_keys_apply_in_place() {
    let base = "[programs.db]\ncommand = \"db\"\n[programs.web]\ncommand = \"web\"\n";
    for (line, key) in [
        ("depends_on = [\"db\"]", "depends_on"),
        ("ready = { tcp = \"127.0.0.1:5432\" }", "ready"),
        ("ready = { notify = true, watchdog = \"5s\" }", "ready"),
        ("ready_timeout = \"30s\"", "ready_timeout"),
        ("ready_interval = \"2s\"", "ready_interval"),
        ("healthcheck = { tcp = \"127.0.0.1:1\" }", "healthcheck"),
    ] {
        let plan = plan_of(base, &format!("{base}{line}\n"));
        let web = plan.programs.iter().find(|p| p.name == "web").expect("web");
        assert_eq!(web.kind, changed(&[key], false, None), "{line}");
    }
}
