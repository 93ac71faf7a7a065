//! Tests of the config loader: what people write, and what they read back
//! (values, or the exact error lines).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const FILE: &str = "/etc/taskmaster/t.toml";

fn parse(text: &str) -> Config {
    parse_str(text, Path::new(FILE)).unwrap_or_else(|errors| panic!("unexpected errors:\n{errors}"))
}

/// The error lines a user would see, the file named `t.toml`.
fn errors(text: &str) -> Vec<String> {
    match parse_str(text, Path::new("t.toml")) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors.0.iter().map(ToString::to_string).collect(),
    }
}

/// The one error of `text`.
fn error(text: &str) -> String {
    let mut all = errors(text);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    all.remove(0)
}

fn web(config: &Config) -> &Program {
    &config.programs["web"]
}

#[test]
fn the_seed_shapes_and_aliases_are_read() {
    let config = parse(
        r#"
[programs.web]
cmd = "/usr/bin/python3"
args = ["-m", "http.server"]
workingdir = "/srv/www"
starttime = 5
stoptime = 2.5
umask = 0o022
exitcodes = [0, 2]
stopsignal = "TERM"

[programs.web.env]
TEST = true
ANSWER = 42
RATIO = 1.5
NAME = "x y"
"#,
    );
    let web = web(&config);
    assert_eq!(web.command, "/usr/bin/python3");
    assert_eq!(web.args, ["-m", "http.server"]);
    assert_eq!(web.directory, Some(PathBuf::from("/srv/www")));
    assert_eq!(web.startsecs, Duration::from_secs(5));
    assert_eq!(web.stopwaitsecs, Duration::from_millis(2500));
    assert_eq!(web.umask, Some(0o022));
    assert_eq!(web.exitcodes, [0, 2]);
    assert_eq!(web.stopsignal, 15);
    let env: Vec<(&str, &str)> = web
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("TEST", "true"),
            ("ANSWER", "42"),
            ("RATIO", "1.5"),
            ("NAME", "x y")
        ]
    );
}

#[test]
fn stopsignal_accepts_names_short_names_and_numbers() {
    for (written, number) in [
        (r#""TERM""#, 15),
        (r#""SIGINT""#, 2),
        (r#""int""#, 2),
        (r#""2""#, 2),
        ("2", 2),
        (r#""usr1""#, 10),
    ] {
        let config = parse(&format!(
            "[programs.web]\ncommand = \"x\"\nstopsignal = {written}\n"
        ));
        assert_eq!(web(&config).stopsignal, number, "{written}");
    }
}

#[test]
fn every_default_applies_to_a_minimal_config() {
    let config = parse("[programs.web]\ncommand = \"/bin/true\"\n");
    assert_eq!(config.path, PathBuf::from(FILE));
    assert_eq!(
        config.server,
        ServerConfig {
            file: PathBuf::from("/tmp/taskmaster.sock"),
            chmod: 0o700,
            chown: None,
            idle_timeout: Some(Duration::from_secs(60)),
            roles: Roles::default(),
        }
    );
    let temp = std::env::temp_dir();
    assert_eq!(
        config.daemon,
        DaemonConfig {
            logfile: temp.join("taskmasterd.log"),
            logfile_maxbytes: 50 << 20,
            logfile_backups: 10,
            pidfile: None,
            umask: 0o022,
            nodaemon: false,
            shutdown_on_fatal: false,
            minfds: 1024,
            minprocs: 200,
            user: None,
            directory: None,
            childlogdir: temp,
            loglevel: LogLevel::Info,
            env: Vec::new(),
            statedir: None,
        }
    );
    let default_log = LogSpec {
        path: None,
        maxbytes: 50 * 1024 * 1024,
        backups: 10,
        timestamps: false,
        prefix: false,
    };
    assert_eq!(
        *web(&config),
        Program {
            name: "web".to_owned(),
            command: "/bin/true".to_owned(),
            args: Vec::new(),
            numprocs: 1,
            numprocs_start: 0,
            priority: 999,
            autostart: true,
            startsecs: Duration::from_secs(1),
            startretries: 3,
            autorestart: AutoRestart::Unexpected,
            exitcodes: vec![0],
            stopsignal: 15,
            stopwaitsecs: Duration::from_secs(10),
            stopasgroup: false,
            killasgroup: false,
            user: None,
            directory: None,
            umask: None,
            stdout: default_log.clone(),
            stderr: default_log,
            redirect_stderr: false,
            serverurl: None,
            operators: Vec::new(),
            env: Vec::new(),
            process_name: None,
            retry: Retry::default(),
            command_at: web(&config).command_at.clone(),
            readiness: Default::default(),
        }
    );
}

#[test]
fn an_empty_file_is_a_valid_config_without_programs() {
    let config = parse("");
    assert!(config.programs.is_empty());
    assert!(config.groups.is_empty());
}

#[test]
fn every_key_is_read() {
    let config = parse(
        r#"
[unix_http_server]
file = "run/tm.sock"
chmod = "0770"
chown = "root:daemon"
idle_timeout = 2.5

[taskmasterd]
logfile = "/var/log/tm.log"
logfile_maxbytes = "1MB"
logfile_backups = 0
pidfile = "tm.pid"
umask = "0o027"
nodaemon = true
minfds = 4096
minprocs = 10
user = "root"
directory = "/"
childlogdir = "logs"
loglevel = "WARNING"

[taskmasterd.env]
GLOBAL = "1"

[taskmasterctl]
serverurl = "unix:///run/tm.sock"
prompt = "tm"
history = "~/.tm_history"

[programs.web]
command = "nginx"
numprocs = 3
numprocs_start = 1
priority = -5
autostart = false
startsecs = 0.25
startretries = 0
autorestart = "TRUE"
exitcodes = 3
stopsignal = 9
stopwaitsecs = 0
stopasgroup = true
user = "0"
directory = "."
umask = 0o002
stdout = "web-${process_num}.out"
stderr = "/var/log/web.err"
redirect_stderr = true
stdout_maxbytes = "1KB"
stdout_backups = 0
stderr_maxbytes = 0
stderr_backups = 2
stdout_timestamps = true
serverurl = "AUTO"
"#,
    );
    assert_eq!(
        config.server,
        ServerConfig {
            file: PathBuf::from("/etc/taskmaster/run/tm.sock"),
            chmod: 0o770,
            chown: Some(Owner {
                uid: 0,
                gid: Some(1)
            }),
            idle_timeout: Some(Duration::from_millis(2500)),
            roles: Roles::default(),
        }
    );
    let daemon = &config.daemon;
    assert_eq!(daemon.logfile, PathBuf::from("/var/log/tm.log"));
    assert_eq!(
        (daemon.logfile_maxbytes, daemon.logfile_backups),
        (1 << 20, 0)
    );
    assert_eq!(
        daemon.pidfile,
        Some(PathBuf::from("/etc/taskmaster/tm.pid"))
    );
    assert_eq!(daemon.umask, 0o027);
    assert!(daemon.nodaemon);
    assert_eq!((daemon.minfds, daemon.minprocs), (4096, 10));
    assert_eq!(daemon.user.as_deref(), Some("root"));
    assert_eq!(daemon.directory, Some(PathBuf::from("/")));
    assert_eq!(daemon.childlogdir, PathBuf::from("/etc/taskmaster/logs"));
    assert_eq!(daemon.loglevel, LogLevel::Warn);
    assert_eq!(daemon.env, [("GLOBAL".to_owned(), "1".to_owned())]);

    let web = web(&config);
    assert_eq!((web.numprocs, web.numprocs_start), (3, 1));
    assert_eq!(web.priority, -5);
    assert!(!web.autostart);
    assert_eq!(web.startsecs, Duration::from_millis(250));
    assert_eq!(web.startretries, 0);
    assert_eq!(web.autorestart, AutoRestart::Always);
    assert_eq!(web.exitcodes, [3]);
    assert_eq!(web.stopsignal, 9);
    assert_eq!(web.stopwaitsecs, Duration::ZERO);
    assert!(
        web.stopasgroup && web.killasgroup,
        "stopasgroup implies killasgroup"
    );
    assert_eq!(web.user.as_deref(), Some("0"));
    assert_eq!(web.directory, Some(PathBuf::from("/etc/taskmaster")));
    assert_eq!(web.umask, Some(0o002));
    assert_eq!(
        web.stdout,
        LogSpec {
            path: Some(PathBuf::from("/etc/taskmaster/web-${process_num}.out")),
            maxbytes: 1024,
            backups: 0,
            timestamps: true,
            prefix: false,
        }
    );
    assert_eq!(
        web.stderr,
        LogSpec {
            path: Some(PathBuf::from("/var/log/web.err")),
            maxbytes: 0,
            backups: 2,
            timestamps: false,
            prefix: false,
        }
    );
    assert!(web.redirect_stderr);
    assert_eq!(web.serverurl.as_deref(), Some("AUTO"));
}

#[test]
fn small_value_variants() {
    let config = parse(
        r#"
[taskmasterd]
loglevel = "crit"
umask = 0

[programs.a]
command = "a"
autorestart = false
killasgroup = true
stdout_maxbytes = "2GB"
stderr_maxbytes = 12345

[programs.b]
command = "b"
autorestart = "unexpected"
exitcodes = []
"#,
    );
    assert_eq!(config.daemon.loglevel, LogLevel::Critical);
    assert_eq!(config.daemon.umask, 0);
    let a = &config.programs["a"];
    assert_eq!(a.autorestart, AutoRestart::Never);
    assert!(a.killasgroup && !a.stopasgroup);
    assert_eq!(a.stdout.maxbytes, 2 << 30);
    assert_eq!(a.stderr.maxbytes, 12345);
    let b = &config.programs["b"];
    assert_eq!(b.autorestart, AutoRestart::Unexpected);
    assert!(b.exitcodes.is_empty());
}

#[test]
fn relative_paths_resolve_against_the_config_directory() {
    let config = parse(
        r#"
[taskmasterd]
childlogdir = "./logs"

[programs.web]
command = "bin/web"
directory = "../srv"
stdout = "out/web.log"
"#,
    );
    assert_eq!(
        config.daemon.childlogdir,
        PathBuf::from("/etc/taskmaster/logs")
    );
    assert_eq!(
        config.daemon.logfile,
        PathBuf::from("/etc/taskmaster/logs/taskmasterd.log")
    );
    let web = web(&config);
    // The command is searched in $PATH (or the directory) by the spawner.
    assert_eq!(web.command, "bin/web");
    assert_eq!(web.directory, Some(PathBuf::from("/etc/taskmaster/../srv")));
    assert_eq!(
        web.stdout.path,
        Some(PathBuf::from("/etc/taskmaster/out/web.log"))
    );
}

#[test]
fn a_relative_config_path_gives_absolute_paths() {
    let config = parse_str(
        "[taskmasterd]\nchildlogdir = \"logs\"\n",
        Path::new("conf/t.toml"),
    )
    .unwrap_or_else(|errors| panic!("{errors}"));
    let cwd = std::env::current_dir().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.daemon.childlogdir, cwd.join("conf/logs"));
    assert_eq!(config.path, cwd.join("conf/t.toml"));
}

#[test]
fn every_program_is_in_exactly_one_group() {
    let config = parse(
        r#"
[programs.web]
command = "web"
[programs.db]
command = "db"
priority = 10
[programs.cache]
command = "cache"

[groups.front]
programs = ["web", "cache"]
priority = 50
"#,
    );
    let groups: Vec<(&str, Vec<&str>, i32)> = config
        .groups
        .values()
        .map(|g| {
            let programs = g.programs.iter().map(String::as_str).collect();
            (g.name.as_str(), programs, g.priority)
        })
        .collect();
    assert_eq!(
        groups,
        [("db", vec!["db"], 10), ("front", vec!["web", "cache"], 50)]
    );
}

#[test]
fn process_names_and_log_paths() {
    let config = parse(
        r#"
[taskmasterd]
childlogdir = "/var/log/tm"
[programs.web]
command = "web"
numprocs = 3
numprocs_start = 4
[programs.db]
command = "db"
stderr = "/var/log/db.err"
"#,
    );
    let web = web(&config);
    assert_eq!(web.process_names(), ["web:4", "web:5", "web:6"]);
    assert_eq!(
        config.log_path(web, "web:5", Stream::Stdout),
        PathBuf::from("/var/log/tm/web_5.stdout")
    );
    let db = &config.programs["db"];
    assert_eq!(db.process_names(), ["db"]);
    assert_eq!(
        config.log_path(db, "db", Stream::Stdout),
        PathBuf::from("/var/log/tm/db.stdout")
    );
    assert_eq!(
        config.log_path(db, "db", Stream::Stderr),
        PathBuf::from("/var/log/db.err")
    );
}

#[test]
fn the_shipped_example_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/taskmaster.conf.toml");
    let config = load(&path).unwrap_or_else(|errors| panic!("{errors}"));
    let names: Vec<&String> = config.programs.keys().collect();
    assert_eq!(names, ["clock", "flaky", "oneshot", "worker"]);
    assert_eq!(config.server.file, PathBuf::from("/tmp/taskmaster.sock"));
    assert!(!config.daemon.nodaemon);
    assert_eq!(config.daemon.childlogdir, PathBuf::from("/tmp/taskmaster"));
    assert_eq!(
        config.programs["worker"].process_names(),
        ["worker:0", "worker:1"]
    );
    assert_eq!(config.programs["flaky"].startretries, 2);
    assert_eq!(config.programs["oneshot"].autorestart, AutoRestart::Never);
    assert_eq!(config.groups["demo"].programs, ["clock", "worker"]);
    assert_eq!(config.groups["flaky"].programs, ["flaky"]);
    let worker = config.programs["worker"].for_instance(Some(1), "worker:1", "demo");
    assert_eq!(
        worker.stdout.path,
        Some(PathBuf::from("/tmp/taskmaster/worker-1.log"))
    );
    let examples = path.parent().map(|dir| dir.join("conf.d"));
    assert!(
        config
            .watch_dirs
            .iter()
            .any(|dir| Some(dir) == examples.as_ref()),
        "{:?}",
        config.watch_dirs
    );
}

#[test]
fn the_shipped_include_example_loads() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let text = std::fs::read_to_string(examples.join("conf.d/hello.toml.example"))
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = test_dir::TestDir::new("example-include");
    let main = dir.write("main.toml", "[include]\nfiles = [\"conf.d/*.toml\"]\n");
    dir.write("conf.d/hello.toml", &text);
    let config = load(&main).unwrap_or_else(|errors| panic!("{errors}"));
    let hello = config.programs["hello"].for_instance(None, "hello", "hello");
    assert_eq!(hello.args[1], "echo \"hello from hello\"; exec sleep 3600");
}

#[test]
fn an_unreadable_file_is_one_error_without_a_line() {
    let errors = load(Path::new("/nonexistent/t.toml")).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!(errors.0[0].line, 0);
    assert_eq!(
        errors.to_string(),
        "/nonexistent/t.toml: cannot read the config file: No such file or directory (os error 2)"
    );
}

#[test]
fn a_syntax_error_names_its_line() {
    let text = "[programs.web]\ncommand = \"x\"\nargs = [\"a\",\n  \"b\"\nnumprocs = 2\n";
    let message = error(text);
    assert!(message.starts_with("t.toml:5: invalid TOML: "), "{message}");
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\ncommand = \"y\"\n"),
        "t.toml:3: invalid TOML: duplicate key"
    );
}

#[test]
fn unknown_tables_and_keys_suggest_the_closest_name() {
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\n\nstopsignl = \"TERM\"\n"),
        "t.toml:4: programs.web.stopsignl: unknown key 'stopsignl' in [programs.web]; \
         did you mean 'stopsignal'?"
    );
    assert_eq!(
        errors("[programs.web]\ncomand = \"x\"\n"),
        [
            "t.toml:1: programs.web: missing required key 'command' (the executable to run)",
            "t.toml:2: programs.web.comand: unknown key 'comand' in [programs.web]; \
             did you mean 'command'?",
        ]
    );
    assert_eq!(
        error("[program.web]\ncommand = \"x\"\n"),
        "t.toml:1: program: unknown table [program]; did you mean [programs]?"
    );
    assert_eq!(
        error("[taskmasterd]\nlogfle = \"x\"\n"),
        "t.toml:2: taskmasterd.logfle: unknown key 'logfle' in [taskmasterd]; \
         did you mean 'logfile'?"
    );
    assert_eq!(
        error("[unix_http_server]\nport = 9001\n"),
        "t.toml:2: unix_http_server.port: unknown key 'port' in [unix_http_server]"
    );
    assert_eq!(
        error("[taskmasterctl]\nhistroy = \"h\"\n"),
        "t.toml:2: taskmasterctl.histroy: unknown key 'histroy' in [taskmasterctl]; \
         did you mean 'history'?"
    );
    assert_eq!(
        error("[groups.g]\nprograms = [\"a\"]\nprio = 1\n[programs.a]\ncommand = \"a\"\n"),
        "t.toml:3: groups.g.prio: unknown key 'prio' in [groups.g]"
    );
}

#[test]
fn an_alias_and_its_name_together_are_an_error() {
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\ncmd = \"y\"\n"),
        "t.toml:3: programs.web.cmd: 'command' is given twice (once under another name); keep one"
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    let cases = [
        (
            "startsecs = \"5\"",
            "programs.web.startsecs: expected a number of seconds (such as 10 or 0.5), found a string",
        ),
        (
            "autostart = \"yes\"",
            "programs.web.autostart: expected true or false, found a string",
        ),
        (
            "numprocs = 1.5",
            "programs.web.numprocs: expected an integer, found a float",
        ),
        (
            "args = \"-v\"",
            "programs.web.args: expected an array of strings, such as [\"-c\", \"x\"], found a string",
        ),
        (
            "autorestart = \"sometimes\"",
            "programs.web.autorestart: expected true, false or \"unexpected\", found \"sometimes\"",
        ),
        (
            "autorestart = 1",
            "programs.web.autorestart: expected true, false or \"unexpected\", found an integer",
        ),
        (
            "exitcodes = \"0\"",
            "programs.web.exitcodes: expected an exit code or an array of them, such as [0, 2], found a string",
        ),
        (
            "exitcodes = [0, 256]",
            "programs.web.exitcodes: element [1]: must be between 0 and 255, found 256",
        ),
        (
            "stopwaitsecs = -1",
            "programs.web.stopwaitsecs: must be between 0 and 31536000 seconds (one year), found -1",
        ),
        (
            "stopsignal = true",
            "programs.web.stopsignal: expected a signal name such as \"TERM\", or a number, found a boolean",
        ),
        (
            "stdout_maxbytes = \"lots\"",
            "programs.web.stdout_maxbytes: cannot read 'lots' as a size; write bytes as an integer, or a string such as \"500KB\", \"50MB\" or \"2GB\"",
        ),
        (
            "stderr_backups = -1",
            "programs.web.stderr_backups: must be between 0 and 4294967295, found -1",
        ),
        (
            "priority = \"high\"",
            "programs.web.priority: expected an integer, found a string",
        ),
        (
            "directory = \"\"",
            "programs.web.directory: must not be empty",
        ),
        (
            "env = 3",
            "programs.web.env: expected a table, found an integer",
        ),
        (
            "env = { LIST = [1, 2] }",
            "programs.web.env.LIST: expected a string, number or boolean, found an array",
        ),
        (
            "env = { \"A=B\" = 1 }",
            "programs.web.env.A=B: 'A=B' is not a variable name: it must be non-empty, without '='",
        ),
    ];
    for (line, expected) in cases {
        let text = format!("[programs.web]\ncommand = \"x\"\n{line}\n");
        assert_eq!(error(&text), format!("t.toml:3: {expected}"), "{line}");
    }
}

#[test]
fn numprocs_must_be_at_least_one() {
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\nnumprocs = 0\n"),
        "t.toml:3: programs.web.numprocs: must be between 1 and 10000, found 0"
    );
}

#[test]
fn a_missing_or_spaced_command_is_explained() {
    assert_eq!(
        error("\n[programs.web]\nautostart = true\n"),
        "t.toml:2: programs.web: missing required key 'command' (the executable to run)"
    );
    assert_eq!(
        error("[programs.web]\ncmd = \"/usr/bin/python3 -m http.server\"\n"),
        "t.toml:2: programs.web.cmd: '/usr/bin/python3 -m http.server' has spaces, but command \
         is the executable alone; write command = \"/usr/bin/python3\" and args = [\"-m\", \
         \"http.server\"]"
    );
    assert_eq!(
        error("[programs.web]\ncommand = \"\"\n"),
        "t.toml:2: programs.web.command: must not be empty"
    );
    // With args given, spaces are part of the file name.
    let config = parse("[programs.web]\ncommand = \"/opt/My App/run\"\nargs = []\n");
    assert_eq!(web(&config).command, "/opt/My App/run");
}

#[test]
fn bad_signals_are_named() {
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\n\n\n\n\nstopsignal = \"TERMINATE\"\n"),
        "t.toml:7: programs.web.stopsignal: unknown signal 'TERMINATE'; use a name such as \
         TERM, HUP, INT, QUIT, KILL, USR1, USR2 (with or without SIG, any case) or a number"
    );
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\nstopsignal = 0\n"),
        "t.toml:3: programs.web.stopsignal: 0 is not a signal number on this system; use a \
         name such as TERM, HUP, INT, QUIT, KILL, USR1, USR2"
    );
}

#[test]
fn users_and_owners_must_exist() {
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\nuser = \"no-such-user-tm\"\n"),
        "t.toml:3: programs.web.user: no user 'no-such-user-tm' on this system; create it or \
         fix the name"
    );
    assert_eq!(
        error("[taskmasterd]\nuser = 3999999\n"),
        "t.toml:2: taskmasterd.user: no user with uid 3999999 on this system; create it or \
         name another user"
    );
    assert_eq!(
        error("[unix_http_server]\nchown = \"no-such-user-tm:daemon\"\n"),
        "t.toml:2: unix_http_server.chown: no user 'no-such-user-tm' on this system; create it \
         or fix the name"
    );
    assert_eq!(
        error("[unix_http_server]\nchown = \"root:no-such-group-tm\"\n"),
        "t.toml:2: unix_http_server.chown: no group 'no-such-group-tm' on this system; create \
         it or fix the name"
    );
    assert_eq!(
        error("[unix_http_server]\nchown = \"root:\"\n"),
        "t.toml:2: unix_http_server.chown: cannot read 'root:' as an owner; write \"user\" or \
         \"user:group\""
    );
    let config = parse("[unix_http_server]\nchown = \"4242:4343\"\n");
    assert_eq!(
        config.server.chown,
        Some(Owner {
            uid: 4242,
            gid: Some(4343)
        })
    );
    let config = parse("[unix_http_server]\nchown = \"root\"\n");
    assert_eq!(config.server.chown, Some(Owner { uid: 0, gid: None }));
}

#[test]
fn modes_must_be_written_in_octal() {
    assert_eq!(
        error("[taskmasterd]\numask = 22\n"),
        "t.toml:2: taskmasterd.umask: write modes in octal: 0o022 (TOML reads 22 as a decimal \
         number)"
    );
    assert_eq!(
        error("[unix_http_server]\nchmod = 700\n"),
        "t.toml:2: unix_http_server.chmod: write modes in octal: 0o700 (TOML reads 700 as a \
         decimal number)"
    );
    assert_eq!(
        error("[unix_http_server]\nchmod = 0x1ff\n"),
        "t.toml:2: unix_http_server.chmod: write modes in octal, such as 0o022, not 0x1ff"
    );
    assert_eq!(
        error("[unix_http_server]\nchmod = 789\n"),
        "t.toml:2: unix_http_server.chmod: write modes in octal, such as 0o022 (TOML reads 789 \
         as a decimal number)"
    );
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\numask = \"089\"\n"),
        "t.toml:3: programs.web.umask: '089' is not an octal mode; write octal digits such as \
         \"022\" or 0o022"
    );
    assert_eq!(
        error("[taskmasterd]\numask = 0o17777\n"),
        "t.toml:2: taskmasterd.umask: out of range: modes go from 0o0 to 0o7777"
    );
    assert_eq!(
        error("[taskmasterd]\numask = true\n"),
        "t.toml:2: taskmasterd.umask: expected an octal mode such as 0o022 or \"022\", found a \
         boolean"
    );
}

#[test]
fn log_levels_are_checked() {
    assert_eq!(
        error("[taskmasterd]\nloglevel = \"loud\"\n"),
        "t.toml:2: taskmasterd.loglevel: unknown log level 'loud'; use critical, error, warn, \
         info or debug"
    );
    for (written, level) in [("debg", LogLevel::Debug), ("Error", LogLevel::Error)] {
        let config = parse(&format!("[taskmasterd]\nloglevel = \"{written}\"\n"));
        assert_eq!(config.daemon.loglevel, level);
    }
}

#[test]
fn names_of_programs_and_groups_are_checked() {
    assert_eq!(
        error("[programs.\"web:1\"]\ncommand = \"x\"\n"),
        "t.toml:1: programs.web:1: 'web:1' is not a valid program name: it must not contain \
         ':', '/' or spaces"
    );
    assert_eq!(
        error("[programs.\"\"]\ncommand = \"x\"\n"),
        "t.toml:1: programs.: a program name must not be empty"
    );
    assert_eq!(
        error("[programs.all]\ncommand = \"x\"\n"),
        "t.toml:1: programs.all: 'all' cannot be a program name: commands read it as every \
         program"
    );
    assert_eq!(
        error("[programs]\nweb = \"x\"\n"),
        "t.toml:2: programs.web: expected a table, found a string"
    );
}

#[test]
fn groups_are_checked_against_programs() {
    let text = r#"[programs.web]
command = "web"
[programs.db]
command = "db"

[groups.web]
programs = ["db"]
[groups.a]
programs = ["wbe",
  "db"]
[groups.b]
programs = []
[groups.c]
priority = 1
"#;
    assert_eq!(
        errors(text),
        [
            "t.toml:6: groups.web: group 'web' has the name of a program, so commands could not \
             tell them apart; rename the group",
            "t.toml:9: groups.a.programs: no program 'wbe' in [programs]; did you mean 'web'?",
            "t.toml:10: groups.a.programs: program 'db' is already in group 'web'; a program \
             belongs to one group only",
            "t.toml:12: groups.b.programs: a group must list at least one program",
            "t.toml:13: groups.c: missing required key 'programs' (the names of the group's \
             programs)",
        ]
    );
    assert_eq!(
        error("[programs.a]\ncommand = \"a\"\n[groups.g]\nprograms = [\"a\", \"a\"]\n"),
        "t.toml:4: groups.g.programs: program 'a' is listed twice"
    );
}

#[test]
fn all_errors_are_reported_at_once_in_file_order() {
    let text = r#"[taskmasterd]
umask = 22
loglevel = "verbose"

[programs.web]
comand = "x"
stopsignal = "TERMINATE"
args = ["a", 3]
exitcodes = [0,
  300]

[programs.ok]
cmd = "/bin/sleep"
starttime = "x"
user = "no-such-user-tm"
env = { A = 1, B = [1] }
stdout_maxbytes = "5TB"

[foo]
"#;
    assert_eq!(
        errors(text),
        [
            "t.toml:2: taskmasterd.umask: write modes in octal: 0o022 (TOML reads 22 as a \
             decimal number)",
            "t.toml:3: taskmasterd.loglevel: unknown log level 'verbose'; use critical, error, \
             warn, info or debug",
            "t.toml:5: programs.web: missing required key 'command' (the executable to run)",
            "t.toml:6: programs.web.comand: unknown key 'comand' in [programs.web]; did you mean \
             'command'?",
            "t.toml:7: programs.web.stopsignal: unknown signal 'TERMINATE'; use a name such as \
             TERM, HUP, INT, QUIT, KILL, USR1, USR2 (with or without SIG, any case) or a number",
            "t.toml:8: programs.web.args: element [1]: expected a string, found an integer",
            "t.toml:10: programs.web.exitcodes: element [1]: must be between 0 and 255, found 300",
            "t.toml:14: programs.ok.starttime: expected a number of seconds (such as 10 or 0.5), \
             found a string",
            "t.toml:15: programs.ok.user: no user 'no-such-user-tm' on this system; create it or \
             fix the name",
            "t.toml:16: programs.ok.env.B: expected a string, number or boolean, found an array",
            "t.toml:17: programs.ok.stdout_maxbytes: cannot read '5TB' as a size; write bytes as \
             an integer, or a string such as \"500KB\", \"50MB\" or \"2GB\"",
            "t.toml:19: foo: unknown table [foo]",
        ]
    );
}

#[test]
fn errors_carry_file_line_and_key_separately() {
    let errors = parse_str(
        "[programs.web]\ncommand = \"x\"\nnumprocs = 0\n",
        Path::new("t.toml"),
    )
    .unwrap_err();
    assert_eq!(
        errors.0,
        [ConfigError {
            file: PathBuf::from("t.toml"),
            line: 3,
            key: "programs.web.numprocs".to_owned(),
            message: "must be between 1 and 10000, found 0".to_owned(),
        }]
    );
}

fn test_env(name: &str) -> Option<String> {
    match name {
        "LOGS" => Some("/var/log/tm".to_owned()),
        "PORT" => Some("8080".to_owned()),
        _ => None,
    }
}

fn parse_env(text: &str) -> Result<Config, Vec<String>> {
    parse::parse_with(text, Path::new("t.toml"), &test_env)
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect())
}

#[test]
fn variables_expand_in_string_values_and_placeholders_wait_for_instances() {
    let config = parse_env(
        r#"
[unix_http_server]
file = "${RUN:-/run}/tm.sock"
[taskmasterd]
childlogdir = "${LOGS}"
[taskmasterd.env]
PORT = "${PORT}"
[programs.web]
command = "/srv/${program_name}/bin"
args = ["--port", "${PORT}", "--id", "${process_num}", "$$HOME", "$PWD"]
numprocs = 2
numprocs_start = 1
directory = "/srv/${process_name}"
stdout = "${LOGS}/${group_name}-${process_num}.log"
[programs.web.env]
INSTANCE = "${process_name}"
PRICE = "$$5"
COUNT = 3
"#,
    )
    .unwrap_or_else(|errors| panic!("{errors:#?}"));
    assert_eq!(config.server.file, PathBuf::from("/run/tm.sock"));
    assert_eq!(config.daemon.childlogdir, PathBuf::from("/var/log/tm"));
    assert_eq!(config.daemon.env, [("PORT".to_owned(), "8080".to_owned())]);
    let web = web(&config);
    assert_eq!(
        web.command, "/srv/${program_name}/bin",
        "kept for each process"
    );
    assert_eq!(web.args[1], "8080");
    assert_eq!(web.args[4], "$$HOME", "unescaped per process");

    let one = web.for_instance(Some(2), "web:2", "front");
    assert_eq!(one.command, "/srv/web/bin");
    assert_eq!(one.args, ["--port", "8080", "--id", "2", "$HOME", "$PWD"]);
    assert_eq!(one.directory, Some(PathBuf::from("/srv/web:2")));
    assert_eq!(
        config.log_path(&one, "web:2", Stream::Stdout),
        PathBuf::from("/var/log/tm/front-2.log")
    );
    let env: Vec<(&str, &str)> = one
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [("INSTANCE", "web:2"), ("PRICE", "$5"), ("COUNT", "3")]
    );
    // The rest of the program is the same.
    assert_eq!(
        (one.numprocs, one.stdout.maxbytes),
        (2, web.stdout.maxbytes)
    );
}

#[test]
fn a_single_process_program_numbers_itself_from_numprocs_start() {
    let config = parse_env(
        "[programs.web]\ncommand = \"w\"\nnumprocs_start = 7\nargs = [\"${process_num}\"]\n",
    )
    .unwrap_or_else(|errors| panic!("{errors:#?}"));
    let one = web(&config).for_instance(None, "web", "web");
    assert_eq!(one.args, ["7"]);
    assert_eq!(
        config.log_path(&one, "web", Stream::Stderr),
        std::env::temp_dir().join("web.stderr"),
        "default log paths follow the process name"
    );
}

#[test]
fn variable_errors_name_the_variable_file_line_and_key() {
    let text = r#"[taskmasterd]
logfile = "${NOPE}/tm.log"
childlogdir = "/logs/${process_num}"

[programs.web]
command = "w"
args = ["ok",
  "${ALSO_NOPE}"]
stdout = "${process_num:-0}"
[programs.web.env]
X = "${bad name}"
"#;
    assert_eq!(
        parse_env(text).unwrap_err(),
        [
            "t.toml:2: taskmasterd.logfile: undefined variable 'NOPE': set it in taskmasterd's \
             environment, or give a default with ${NOPE:-default}",
            "t.toml:3: taskmasterd.childlogdir: ${process_num} is a per-process placeholder, \
             usable only in a program's command, args, env, directory, stdout and stderr",
            "t.toml:8: programs.web.args: element [1]: undefined variable 'ALSO_NOPE': set it in \
             taskmasterd's environment, or give a default with ${ALSO_NOPE:-default}",
            "t.toml:9: programs.web.stdout: '${process_num:-0}' takes no default: \
             ${process_num} is always set",
            "t.toml:11: programs.web.env.X: '${bad name}' is not a variable: write ${NAME} or \
             ${NAME:-default}, NAME made of letters, digits and '_'; write '$$' for a literal '$'",
        ]
    );
}

#[test]
fn taskmasterctl_values_are_not_expanded() {
    // taskmasterctl reads its own table and expands nothing: neither does
    // the broker's check, so an unset variable there is no error.
    assert!(parse_env("[taskmasterctl]\nprompt = \"${NOPE}\"\n").is_ok());
}

#[test]
fn numprocs_is_bounded_per_program() {
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\nnumprocs = 4294967295\n"),
        "t.toml:3: programs.web.numprocs: must be between 1 and 10000, found 4294967295"
    );
    let config = parse("[programs.web]\ncommand = \"x\"\nnumprocs = 10000\n");
    assert_eq!(web(&config).process_names().len(), 10_000);
}

#[test]
fn the_processes_of_all_programs_are_bounded() {
    let program = |n: usize| format!("[programs.p{n:02}]\ncommand = \"x\"\nnumprocs = 10000\n");
    let ten: String = (0..10).map(program).collect();
    parse(&ten);
    let eleven = format!("{ten}{}", program(10));
    assert_eq!(
        error(&eleven),
        "t.toml:31: programs.p10: with this program the config has 110000 processes, more than \
         the 100000 Taskmaster runs; lower numprocs"
    );
    // Only the program that passes the limit is named.
    let twelve = format!("{eleven}{}", program(11));
    assert_eq!(errors(&twelve).len(), 1);
}

#[test]
fn numprocs_start_plus_numprocs_must_fit_in_a_process_number() {
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\nnumprocs_start = 4294967295\n"),
        "t.toml:1: programs.web.numprocs_start: numprocs_start + numprocs must be at most \
         4294967295, found 4294967295 + 1; lower numprocs_start"
    );
    let config =
        parse("[programs.web]\ncommand = \"x\"\nnumprocs_start = 4294967293\nnumprocs = 2\n");
    assert_eq!(
        web(&config).process_names(),
        ["web:4294967293", "web:4294967294"]
    );
}

#[test]
fn names_with_control_characters_are_refused_and_printed_escaped() {
    assert_eq!(
        error("[programs.\"web\\u001b[2J\"]\ncommand = \"x\"\n"),
        "t.toml:1: programs.web\\u{1b}[2J: 'web\\u{1b}[2J' is not a valid program name: it must \
         not contain control characters"
    );
    assert_eq!(
        error("[programs.\"a\\u007fb\"]\ncommand = \"x\"\n"),
        "t.toml:1: programs.a\\u{7f}b: 'a\\u{7f}b' is not a valid program name: it must not \
         contain control characters"
    );
    assert_eq!(
        error("[programs.web]\ncommand = \"x\"\n[groups.\"g\\u0000\"]\nprograms = [\"web\"]\n"),
        "t.toml:3: groups.g\\0: 'g\\0' is not a valid group name: it must not contain control \
         characters"
    );
    assert_eq!(
        error("[programs.\"web\\n1\"]\ncommand = \"x\"\n"),
        "t.toml:1: programs.web\\n1: 'web\\n1' is not a valid program name: it must not contain \
         control characters"
    );
    // Names valid before stay valid: letters of any script, digits, '-', '_', '.', '@'.
    let config = parse(
        "[programs.\"café-1_x.y@z\"]\ncommand = \"x\"\n[groups.\"ウェブ\"]\nprograms = \
         [\"café-1_x.y@z\"]\n",
    );
    assert!(config.programs.contains_key("café-1_x.y@z"));
    assert!(config.groups.contains_key("ウェブ"));
}

#[test]
fn many_processes_need_a_log_path_per_process() {
    let program = |keys: &str| format!("[programs.web]\ncommand = \"x\"\nnumprocs = 2\n{keys}");
    assert_eq!(
        error(&program("stdout = \"/var/log/web.log\"\n")),
        "t.toml:4: programs.web.stdout: numprocs = 2, but every process would write this one \
         file; put ${process_num} (or ${process_name}) in the path, such as \
         \"/var/log/web-${process_num}.log\""
    );
    assert_eq!(
        errors(&program(
            "stdout = \"/var/log/web-$${process_num}\"\nstderr = \"/var/log/web.err\"\n"
        )),
        [
            "t.toml:4: programs.web.stdout: numprocs = 2, but every process would write this \
             one file; put ${process_num} (or ${process_name}) in the path, such as \
             \"/var/log/web-$${process_num}-${process_num}\"",
            "t.toml:5: programs.web.stderr: numprocs = 2, but every process would write this \
             one file; put ${process_num} (or ${process_name}) in the path, such as \
             \"/var/log/web-${process_num}.err\"",
        ]
    );
    for fine in [
        "stdout = \"/var/log/web-${process_num}.log\"\nstderr = \"/var/log/${process_name}.err\"\n",
        // Each process has its own number, so its own file.
        "stdout = \"/var/log/${program_name}/${process_num}\"\n",
        "stdout = \"/dev/null\"\nstderr = \"/dev/null\"\n",
        // stderr goes to stdout's file: its own path is never written.
        "redirect_stderr = true\nstderr = \"/var/log/web.err\"\n",
    ] {
        parse(&program(fine));
    }
    parse("[programs.web]\ncommand = \"x\"\nstdout = \"/var/log/web.log\"\n");
}

#[test]
fn idle_timeout_zero_means_never() {
    let config =
        parse("[unix_http_server]\nidle_timeout = 0\n[programs.web]\ncommand = \"/bin/true\"\n");
    assert_eq!(config.server.idle_timeout, None);
}

#[test]
fn roles_name_users_and_groups_resolved_to_ids() {
    let config = parse(
        r#"
[unix_http_server]
admins = ["root", "@root"]
viewers = ["0"]

[programs.web]
command = "/bin/true"
operators = ["@0"]
"#,
    );
    let root_user = Principal::User {
        name: "root".into(),
        uid: 0,
    };
    let root_group = Principal::Group {
        name: "root".into(),
        gid: 0,
    };
    assert_eq!(
        config.server.roles.admins,
        Some(vec![root_user, root_group])
    );
    assert_eq!(
        config.server.roles.viewers,
        Some(vec![Principal::User {
            name: "0".into(),
            uid: 0
        }])
    );
    assert_eq!(
        web(&config).operators,
        [Principal::Group {
            name: "0".into(),
            gid: 0
        }]
    );
    assert!(!config.server.roles.is_open());
}

#[test]
fn without_admins_and_viewers_the_roles_are_open() {
    let config = parse("[programs.web]\ncommand = \"/bin/true\"\n");
    assert!(config.server.roles.is_open());
    assert!(web(&config).operators.is_empty());
    // An empty list is a choice: only root and the broker's user are admins.
    let config = parse("[unix_http_server]\nadmins = []\n");
    assert!(!config.server.roles.is_open());
}

#[test]
fn unknown_role_users_and_groups_name_file_line_key_and_element() {
    assert_eq!(
        errors(
            r#"
[unix_http_server]
admins = ["root", "no-such-user-tm"]
viewers = ["@no-such-group-tm"]

[programs.web]
command = "/bin/true"
operators = "root"
"#
        ),
        [
            "t.toml:3: unix_http_server.admins: element [1]: no user 'no-such-user-tm' on this \
             system; create it, fix the name, or write '@no-such-user-tm' for a group",
            "t.toml:4: unix_http_server.viewers: element [0]: no group 'no-such-group-tm' on \
             this system; create it or fix the name",
            "t.toml:8: programs.web.operators: expected an array of users and @groups, such as \
             [\"deploy\", \"@ops\"], found a string",
        ]
    );
    assert_eq!(
        error("[unix_http_server]\nviewers = [\"root\", \"@\"]\n"),
        "t.toml:2: unix_http_server.viewers: element [1]: '@' needs a group name after it"
    );
}

#[test]
fn readiness_keys_are_read() {
    let config = parse(
        r#"
[programs.db]
command = "/bin/db"
ready = { tcp = "127.0.0.1:5432" }
ready_timeout = "30s"
[programs.cache]
command = "/bin/cache"
ready = { log = "listening on port [0-9]+" }
ready_interval = "250ms"
[groups.backends]
programs = ["db", "cache"]
[programs.api]
command = "/bin/api"
depends_on = ["backends"]
ready = { http = "http://127.0.0.1:8080/health" }
healthcheck = { http = "http://127.0.0.1:8080/health", interval = "10s", timeout = 2, retries = 3, action = "stop" }
"#,
    );
    let db = &config.programs["db"].readiness;
    assert_eq!(db.ready, Some(Probe::Tcp("127.0.0.1:5432".into())));
    assert_eq!(db.ready_timeout, Some(Duration::from_secs(30)));
    assert_eq!(db.ready_interval, Duration::from_secs(1));
    let cache = &config.programs["cache"].readiness;
    assert_eq!(cache.ready_interval, Duration::from_millis(250));
    let api = &config.programs["api"];
    assert_eq!(config.dependencies(api), ["cache", "db"]);
    assert_eq!(
        api.readiness.healthcheck,
        Some(HealthCheck {
            probe: Probe::Http("http://127.0.0.1:8080/health".into()),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            retries: 3,
            action: HealthAction::Stop,
        })
    );
}

#[test]
fn bad_probes_say_what_to_write() {
    let message = error("[programs.a]\ncommand = \"/bin/a\"\nready = { tcp = \"localhost\" }\n");
    assert!(message.contains("is not host:port"), "{message}");
    let message = error("[programs.a]\ncommand = \"/bin/a\"\nready = { http = \"https://x/\" }\n");
    assert!(message.contains("plain HTTP only"), "{message}");
    let message = error("[programs.a]\ncommand = \"/bin/a\"\nready = { log = \"(\" }\n");
    assert!(message.contains("not a valid regex"), "{message}");
    let message = error("[programs.a]\ncommand = \"/bin/a\"\nready = { }\n");
    assert!(message.contains("needs one probe"), "{message}");
    let message =
        error("[programs.a]\ncommand = \"/bin/a\"\nready = { tcp = \"h:1\", log = \"x\" }\n");
    assert!(
        message.contains("has 2 probes (tcp, log); keep one"),
        "{message}"
    );
    let message = error(
        "[programs.a]\ncommand = \"/bin/a\"\nhealthcheck = { tcp = \"h:1\", action = \"reboot\" }\n",
    );
    assert!(message.contains("unknown action 'reboot'"), "{message}");
    let message = error("[programs.a]\ncommand = \"/bin/a\"\nready_timeout = \"ten\"\n");
    assert!(message.contains("is not a duration"), "{message}");
}

#[test]
fn dependency_errors_name_the_cycle_and_the_lines() {
    let text = "[programs.a]\ncommand = \"/bin/a\"\ndepends_on = [\"b\"]\n\
                [programs.b]\ncommand = \"/bin/b\"\ndepends_on = [\"c\"]\n\
                [programs.c]\ncommand = \"/bin/c\"\ndepends_on = [\"a\"]\n";
    assert_eq!(
        error(text),
        "t.toml:3: programs.a.depends_on: depends_on makes a cycle: a (t.toml:3) -> \
         b (t.toml:6) -> c (t.toml:9) -> a; remove one of these dependencies"
    );
    assert_eq!(
        error("[programs.a]\ncommand = \"/bin/a\"\ndepends_on = [\"a\"]\n"),
        "t.toml:3: programs.a.depends_on: 'a' depends on itself; remove it from depends_on"
    );
    assert_eq!(
        error("[programs.web]\ncommand = \"/bin/a\"\n[programs.api]\ncommand = \"/bin/a\"\ndepends_on = [\"wbe\"]\n"),
        "t.toml:5: programs.api.depends_on: no program or group 'wbe'; did you mean 'web'?"
    );
}

#[test]
fn notify_and_its_watchdog_belong_to_ready() {
    let config = parse(
        "[programs.a]\ncommand = \"/bin/a\"\nready = { notify = true, watchdog = \"10s\" }\n",
    );
    let a = &config.programs["a"].readiness;
    assert_eq!(a.ready, Some(Probe::Notify));
    assert_eq!(a.watchdog, Some(Duration::from_secs(10)));
    let message = error(
        "[programs.a]\ncommand = \"/bin/a\"\nready = { tcp = \"h:1\", watchdog = \"10s\" }\n",
    );
    assert!(
        message.contains("watchdog needs notify = true"),
        "{message}"
    );
    let all = errors("[programs.a]\ncommand = \"/bin/a\"\nhealthcheck = { notify = true }\n");
    assert!(
        all[0].contains("a health check cannot be notify"),
        "{all:?}"
    );
    let message = error("[programs.a]\ncommand = \"/bin/a\"\nready = { notify = false }\n");
    assert!(message.contains("notify = false is no probe"), "{message}");
}

#[test]
fn an_instance_shares_the_program_unless_a_variable_names_it() {
    let config = parse(
        "[programs.plain]\ncommand = \"sleep\"\nargs = [\"60\"]\n\n\
         [programs.worker]\ncommand = \"sleep\"\nargs = [\"${process_num}\"]\nnumprocs = 2\n",
    );
    let plain = &config.programs["plain"];
    assert!(Arc::ptr_eq(&plain.instance("plain", "plain"), plain));
    let worker = &config.programs["worker"];
    let second = worker.instance("worker:1", "worker");
    assert!(!Arc::ptr_eq(&second, worker));
    assert_eq!(second.args, ["1"]);
}
