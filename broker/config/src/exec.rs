//! What starting one process means, from the config alone: the command,
//! arguments, user, directory, umask and environment of a process name.
//! taskmasterd builds every exec from this (the broker only names the
//! process), so the rule for merging environments exists once.

use crate::{Config, Program};
use std::collections::BTreeMap;
use std::path::PathBuf;
use uzers::os::unix::UserExt;

/// One process ready to exec, before taskmasterd adds its own environment
/// underneath [`ExecSpec::env`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecSpec {
    /// The process name (`web` or `web:3`).
    pub name: String,
    /// The executable: absolute, or searched in the `PATH` of the
    /// environment.
    pub command: String,
    /// `argv[1..]`; `argv[0]` is `command`.
    pub args: Vec<String>,
    /// Set on top of taskmasterd's own environment, later entries winning:
    /// `[taskmasterd.env]`, `USER`, `LOGNAME` and `HOME` of the program's
    /// `user` (when it has one), the program's env, then `TASKMASTER_*`.
    pub env: Vec<(String, String)>,
    /// A user name or numeric uid, checked to exist when the config loaded.
    pub user: Option<String>,
    pub directory: Option<PathBuf>,
    pub umask: Option<u32>,
    /// The program's stderr goes into its stdout pipe.
    pub redirect_stderr: bool,
    /// How taskmasterd stops it when it must do so itself (no broker to
    /// ask, or a survivor of a killed taskmasterd).
    pub stopsignal: i32,
    pub stopwaitsecs: std::time::Duration,
    pub stopasgroup: bool,
    pub killasgroup: bool,
}

impl Config {
    /// The program a process name belongs to and its instance number:
    /// `web` for a program of one process, `web:N` for an instance of a
    /// program with `numprocs > 1` and N in its range (or the names its
    /// `process_name` template gives).
    pub fn program_of_process(&self, name: &str) -> Option<(&Program, Option<u32>)> {
        // A program's name has no ':', and its processes' names start with it.
        let program = name.split_once(':').map_or(name, |(program, _)| program);
        let program = self.programs.get(program)?;
        let number = program.number_of(name)?;
        Some((program, (program.numprocs > 1).then_some(number)))
    }

    /// How process `name` is started, or `None` when the config defines no
    /// such process.
    pub fn exec_spec(&self, name: &str) -> Option<ExecSpec> {
        let (program, number) = self.program_of_process(name)?;
        let group = self.group_name_of(program);
        let instance = program.for_instance(number, name, group);
        Some(self.spec_of_instance(&instance, name, group))
    }

    fn spec_of_instance(&self, program: &Program, name: &str, group: &str) -> ExecSpec {
        let server_url = program
            .serverurl
            .clone()
            .unwrap_or_else(|| format!("unix://{}", self.server.file.display()));
        let account = program.user.as_deref().map(account_env).unwrap_or_default();
        let mut env: BTreeMap<&str, &str> = BTreeMap::new();
        // The program's own env wins over its user's, which wins over what
        // every program gets: the most specific setting is the one meant.
        for (key, value) in &self.daemon.env {
            env.insert(key, value);
        }
        for (key, value) in &account {
            env.insert(key, value);
        }
        for (key, value) in &program.env {
            env.insert(key, value);
        }
        env.insert("TASKMASTER_ENABLED", "1");
        env.insert("TASKMASTER_PROCESS_NAME", name);
        env.insert("TASKMASTER_GROUP_NAME", group);
        env.insert("TASKMASTER_SERVER_URL", &server_url);
        let notify_socket = self.notify_socket(name);
        if program.readiness.ready == Some(crate::Probe::Notify) {
            env.insert("NOTIFY_SOCKET", notify_socket.to_str().unwrap_or_default());
        }
        ExecSpec {
            name: name.to_string(),
            command: program.command.clone(),
            args: program.args.clone(),
            env: env
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            user: program.user.clone(),
            directory: program.directory.clone(),
            umask: program.umask,
            redirect_stderr: program.redirect_stderr,
            stopsignal: program.stopsignal,
            stopwaitsecs: program.stopwaitsecs,
            stopasgroup: program.stopasgroup,
            killasgroup: program.killasgroup,
        }
    }
}

/// `USER`, `LOGNAME` and `HOME` of `user` (a name or a uid in digits) from
/// the passwd database, as su, sudo -u and systemd's `User=` set them: a
/// program run as `www` expects `~` to be www's home, not root's. None when
/// the account is gone since the config was checked (the exec then fails on
/// the user, and says so) or its name or home is not UTF-8.
fn account_env(user: &str) -> Vec<(&'static str, String)> {
    let found = match crate::accounts::parse_id(user) {
        Some(uid) => uzers::get_user_by_uid(uid),
        None => uzers::get_user_by_name(user),
    };
    let Some(found) = found else {
        return Vec::new();
    };
    let (Some(name), Some(home)) = (found.name().to_str(), found.home_dir().to_str()) else {
        return Vec::new();
    };
    vec![
        ("USER", name.to_owned()),
        ("LOGNAME", name.to_owned()),
        ("HOME", home.to_owned()),
    ]
}

/// A digest of the text of every file a config was read from, so that two
/// processes reading the same files can tell they agree (FNV-1a: not a
/// security boundary, each side parses the files itself).
pub(crate) fn generation<'a>(files: impl Iterator<Item = (&'a std::path::Path, &'a str)>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for (path, text) in files {
        feed(path.as_os_str().as_encoded_bytes());
        feed(&[0]);
        feed(text.as_bytes());
        feed(&[0]);
    }
    hash
}

#[cfg(test)]
mod tests {
    use crate::parse_str;
    use std::path::Path;

    fn config(text: &str) -> crate::Config {
        parse_str(text, Path::new("/etc/tm/taskmaster.conf.toml")).expect("valid config")
    }

    #[test]
    fn process_names_map_to_their_program_and_instance() {
        let config = config(
            "[programs.web]\ncommand = '/bin/web'\n\
             [programs.worker]\ncommand = '/bin/w'\nnumprocs = 2\nnumprocs_start = 3\n",
        );
        let named = |n: &str| {
            config
                .program_of_process(n)
                .map(|(p, i)| (p.name.clone(), i))
        };
        assert_eq!(named("web"), Some(("web".into(), None)));
        assert_eq!(named("worker:3"), Some(("worker".into(), Some(3))));
        assert_eq!(named("worker:4"), Some(("worker".into(), Some(4))));
        for undefined in [
            "worker",
            "worker:5",
            "worker:2",
            "web:0",
            "worker:03",
            "nope",
            "",
        ] {
            assert_eq!(named(undefined), None, "{undefined}");
        }
    }

    #[test]
    fn a_command_probe_runs_as_its_process_does() {
        let config = config(
            "[programs.w]\ncommand = '/bin/w'\nuser = 'root'\ndirectory = '/srv'\n\
             ready = { command = ['/bin/check', '--quick'] }\nready_interval = 3\n\
             healthcheck = { tcp = '127.0.0.1:1' }\n\
             [programs.w.env]\nA = 'b'\n",
        );
        let (spec, limit) = config
            .probe_spec("w", crate::Check::Ready)
            .expect("a command");
        let own = config.exec_spec("w").expect("defined");
        assert_eq!(
            (spec.command.as_str(), spec.args.as_slice()),
            ("/bin/check", &["--quick".to_string()][..])
        );
        assert_eq!(
            (&spec.user, &spec.directory, &spec.env),
            (&own.user, &own.directory, &own.env)
        );
        assert_eq!(limit, std::time::Duration::from_secs(3));
        // The health check is no command; nor is anything of an undefined process.
        assert!(config.probe_spec("w", crate::Check::Health).is_none());
        assert!(config.probe_spec("x", crate::Check::Ready).is_none());
    }

    #[test]
    fn a_notify_program_gets_its_own_notify_socket() {
        let config = config(
            "[taskmasterd]\nchildlogdir = '/var/log/tm'\n\
             [programs.w]\ncommand = '/bin/w'\nnumprocs = 2\nready = { notify = true }\n\
             [programs.plain]\ncommand = '/bin/p'\n",
        );
        let notify = |name: &str| {
            let spec = config.exec_spec(name).expect("defined");
            spec.env
                .into_iter()
                .find(|(key, _)| key == "NOTIFY_SOCKET")
                .map(|(_, value)| value)
        };
        assert_eq!(
            notify("w:1").as_deref(),
            Some("/var/log/tm/notify/w_1.sock")
        );
        assert_eq!(notify("plain"), None);
    }

    #[test]
    fn the_spec_has_the_instance_filled_in_and_the_environment_merged() {
        let config = config(
            "[taskmasterd.env]\nA = 'daemon'\nB = 'daemon'\n\
             [programs.w]\ncommand = '/bin/w'\nargs = ['${process_num}']\nnumprocs = 2\n\
             user = 'root'\ndirectory = '/srv/${process_name}'\numask = '027'\n\
             [programs.w.env]\nB = 'program'\n\
             [groups.g]\nprograms = ['w']\n",
        );
        let spec = config.exec_spec("w:1").expect("defined");
        assert_eq!(spec.command, "/bin/w");
        assert_eq!(spec.args, ["1"]);
        assert_eq!(spec.user.as_deref(), Some("root"));
        assert_eq!(spec.directory, Some("/srv/w:1".into()));
        assert_eq!(spec.umask, Some(0o027));
        let env: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            env,
            [
                "A=daemon",
                "B=program",
                "HOME=/root",
                "LOGNAME=root",
                "TASKMASTER_ENABLED=1",
                "TASKMASTER_GROUP_NAME=g",
                "TASKMASTER_PROCESS_NAME=w:1",
                "TASKMASTER_SERVER_URL=unix:///tmp/taskmaster.sock",
                "USER=root",
            ]
        );
        assert_eq!(config.exec_spec("w:2"), None);
    }

    fn env_of(config: &crate::Config, name: &str) -> Vec<String> {
        let spec = config.exec_spec(name).expect("defined");
        spec.env
            .iter()
            .filter(|(k, _)| ["HOME", "USER", "LOGNAME"].contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    #[test]
    fn a_user_brings_its_home_user_and_logname_unless_the_program_sets_them() {
        let config = config(
            "[taskmasterd.env]
HOME = '/daemon'
             [programs.byname]
command = '/bin/w'
user = 'root'
             [programs.byuid]
command = '/bin/w'
user = '0'
             [programs.own]
command = '/bin/w'
user = 'root'
             [programs.own.env]
HOME = '/srv/own'
USER = 'svc'
             [programs.nouser]
command = '/bin/w'
",
        );
        let root = ["HOME=/root", "LOGNAME=root", "USER=root"];
        assert_eq!(env_of(&config, "byname"), root, "over [taskmasterd.env]");
        assert_eq!(env_of(&config, "byuid"), root);
        assert_eq!(
            env_of(&config, "own"),
            ["HOME=/srv/own", "LOGNAME=root", "USER=svc"]
        );
        assert_eq!(
            env_of(&config, "nouser"),
            ["HOME=/daemon"],
            "without a user, taskmasterd's own are left as they are"
        );
    }

    #[test]
    fn the_generation_follows_the_text_of_every_file() {
        let text = "[programs.web]\ncommand = '/bin/web'\n";
        let same = config(text).generation;
        assert_eq!(config(text).generation, same);
        assert_ne!(config(&format!("{text}# edited\n")).generation, same);
    }
}
