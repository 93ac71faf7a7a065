//! Starting one program from its [`ExecSpec`] (taskmasterd's own reading of
//! the config): everything is prepared before fork,
//! the child reports a failed step through a close-on-exec pipe, so "no
//! such file" is an error and not a quick exit.

use crate::credentials::{self, Switch};
use crate::error::Error;
use crate::pipes::{ChildEnds, Pipes};
use crate::sys::{self, CStringArray, ExecPlan, Step};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::ffi::CString;
use std::os::fd::OwnedFd;
use taskmaster_config::ExecSpec;

/// The search path when the program's environment has no `PATH`.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Starts `spec` with new pipes as its standard streams. Returns its
/// pid and the broker's ends of the pipes, or the message to show.
pub fn spawn(spec: &ExecSpec, open_files: libc::rlimit) -> Result<(Pid, Pipes), Error> {
    let (ends, pipes) = Pipes::create(spec.redirect_stderr)?;
    Ok((start(spec, ends, open_files)?, pipes))
}

/// Starts a `command` probe from `spec`, its standard streams on
/// `/dev/null`: only its exit status counts.
pub fn spawn_probe(spec: &ExecSpec, open_files: libc::rlimit) -> Result<Pid, Error> {
    let null = || {
        nix::fcntl::open(
            "/dev/null",
            OFlag::O_RDWR | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|errno| Error::errno("cannot open /dev/null", errno))
    };
    let ends = ChildEnds {
        stdin: null()?,
        stdout: null()?,
        stderr: Some(null()?),
    };
    start(spec, ends, open_files)
}

fn start(spec: &ExecSpec, ends: ChildEnds, open_files: libc::rlimit) -> Result<Pid, Error> {
    let plan = prepare(spec, ends, open_files)?;
    let (report_read, report_write) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|errno| Error::errno("cannot create a pipe", errno))?;
    match sys::spawn_program(&plan, &report_write) {
        Err(errno) => Err(Error::errno("cannot start a process", errno)),
        Ok(child) => {
            drop(report_write);
            // Closes the child's ends of the pipes here: the broker sees end
            // of file once the program (and whatever it forked) has exited.
            drop(plan);
            match read_report(&report_read) {
                None => Ok(child),
                Some((step, errno)) => {
                    // The child already exited with 127; reap it here so it
                    // is never reported as a program exit.
                    let _ = waitpid(child, None);
                    Err(Error::new(describe_failure(spec, step, errno)))
                }
            }
        }
    }
}

fn prepare(spec: &ExecSpec, stdio: ChildEnds, open_files: libc::rlimit) -> Result<ExecPlan, Error> {
    if spec.command.is_empty() {
        return Err(Error::new("the command is empty"));
    }
    let credentials = match &spec.user {
        Some(user) => switch_to(user)?,
        None => None,
    };
    let text = |what: &str, s: &str| {
        CString::new(s).map_err(|_| format!("{what} '{}' contains a NUL byte", s.escape_debug()))
    };
    let mut argv = vec![text("the command", &spec.command)?];
    for arg in &spec.args {
        argv.push(text("the argument", arg)?);
    }
    let mut set = Vec::with_capacity(spec.env.len());
    for (key, value) in &spec.env {
        let entry = text("the environment variable", &format!("{key}={value}"))?;
        set.push((key.as_bytes(), entry));
    }
    let envp = environment(own_environment(), set);
    let candidates = candidates(&spec.command, path_of(&envp))
        .iter()
        .map(|path| text("the command path", path))
        .collect::<Result<_, _>>()?;
    let directory = match &spec.directory {
        Some(dir) => Some(text("the directory", &dir.to_string_lossy())?),
        None => None,
    };
    Ok(ExecPlan {
        stdio,
        open_files,
        credentials,
        umask: spec.umask,
        directory,
        candidates,
        argv: CStringArray::new(argv),
        envp: CStringArray::new(envp),
    })
}

/// The identity to switch to for `user`: none when it is us and we are not
/// root (there is nothing to switch).
fn switch_to(user: &str) -> Result<Option<sys::Credentials>, Error> {
    match credentials::switch_to(user)? {
        Switch::To(credentials) => Ok(Some(credentials)),
        Switch::AlreadyUs => Ok(None),
        Switch::NeedsRoot => Err(Error::new(format!(
            "cannot run as user '{user}': taskmasterd is not running as root"
        ))),
    }
}

/// One `KEY=value` variable, with the length of its key.
struct Variable {
    entry: CString,
    key_len: usize,
}

impl Variable {
    fn new(key: &[u8], entry: CString) -> Self {
        Variable {
            entry,
            key_len: key.len(),
        }
    }

    fn key(&self) -> &[u8] {
        &self.entry.as_bytes()[..self.key_len]
    }
}

/// taskmasterd's own environment, sorted by name, read once: it never
/// changes after start-up (`NOTIFY_SOCKET` is taken out before anything
/// starts), and reading and converting it for every spawn cost more than
/// the rest of the spawn's preparation.
fn own_environment() -> &'static [Variable] {
    static OWN: std::sync::OnceLock<Vec<Variable>> = std::sync::OnceLock::new();
    OWN.get_or_init(|| {
        use std::os::unix::ffi::OsStrExt;
        let own: std::collections::BTreeMap<_, _> = std::env::vars_os().collect();
        own.iter()
            .filter_map(|(key, value)| {
                let entry = [key.as_bytes(), b"=", value.as_bytes()].concat();
                Some(Variable::new(key.as_bytes(), CString::new(entry).ok()?))
            })
            .collect()
    })
}

/// `own` (sorted by name) with the request's variables `set` on top, sorted
/// by name. Variables that are not valid UTF-8 are passed through unchanged.
fn environment(own: &[Variable], set: Vec<(&[u8], CString)>) -> Vec<CString> {
    let mut set: Vec<Variable> = set
        .into_iter()
        .map(|(key, entry)| Variable::new(key, entry))
        .collect();
    // The last of a name given twice wins, as it did with a map.
    set.reverse();
    set.sort_by(|a, b| a.key().cmp(b.key()));
    set.dedup_by(|a, b| a.key() == b.key());
    let mut env = Vec::with_capacity(own.len() + set.len());
    let mut set = set.into_iter().peekable();
    for variable in own {
        while let Some(added) = set.next_if(|added| added.key() < variable.key()) {
            env.push(added.entry);
        }
        match set.next_if(|added| added.key() == variable.key()) {
            Some(added) => env.push(added.entry),
            None => env.push(variable.entry.clone()),
        }
    }
    env.extend(set.map(|added| added.entry));
    env
}

/// The `PATH` of a program's environment, or the default search path.
fn path_of(env: &[CString]) -> &str {
    env.iter()
        .find_map(|entry| entry.as_bytes().strip_prefix(b"PATH="))
        .and_then(|path| std::str::from_utf8(path).ok())
        .unwrap_or(DEFAULT_PATH)
}

/// The paths to try for `command`, as `execvp` would: the command itself
/// when it contains a slash, else each directory of `path` (an empty entry
/// is the current directory).
pub fn candidates(command: &str, path: &str) -> Vec<String> {
    if command.contains('/') {
        return vec![command.to_string()];
    }
    path.split(':')
        .map(|dir| match dir {
            "" => format!("./{command}"),
            dir => format!("{}/{command}", dir.trim_end_matches('/')),
        })
        .collect()
}

/// Reads the child's `(step, errno)` report: `None` at end of file, which
/// means exec succeeded and closed the pipe.
fn read_report(pipe: &OwnedFd) -> Option<(i32, i32)> {
    let mut buffer = [0u8; 8];
    let mut filled = 0;
    while filled < buffer.len() {
        match nix::unistd::read(pipe, &mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(Errno::EINTR) => continue,
            Err(errno) => return Some((0, errno as i32)),
        }
    }
    match filled {
        0 => None,
        8 => {
            let step = i32::from_ne_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]);
            let errno = i32::from_ne_bytes([buffer[4], buffer[5], buffer[6], buffer[7]]);
            Some((step, errno))
        }
        _ => Some((0, libc::EIO)),
    }
}

/// The message for a failed spawn: the step and the errno text.
pub fn describe_failure(spec: &ExecSpec, step: i32, errno: i32) -> String {
    let reason = Errno::from_raw(errno).desc();
    match Step::from_code(step) {
        Some(Step::Exec) => format!("cannot execute '{}': {reason}", spec.command),
        Some(Step::Directory) => format!(
            "cannot change directory to '{}': {reason}",
            spec.directory.as_deref().unwrap_or("".as_ref()).display()
        ),
        Some(Step::Credentials) => format!(
            "cannot switch to user '{}': {reason}",
            spec.user.as_deref().unwrap_or_default()
        ),
        Some(Step::Stdio) => format!("cannot set up standard input and output: {reason}"),
        Some(Step::Session) => format!("cannot start a new session: {reason}"),
        None => format!("the program's set-up failed: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ExecSpec {
        ExecSpec {
            name: "web".into(),
            command: "nosuch".into(),
            args: vec![],
            env: vec![],
            user: Some("bob".into()),
            directory: Some("/nope".into()),
            umask: None,
            redirect_stderr: false,
            stopsignal: 15,
            stopwaitsecs: std::time::Duration::from_secs(10),
            stopasgroup: false,
            killasgroup: false,
        }
    }

    #[test]
    fn candidates_follow_path() {
        assert_eq!(candidates("/bin/sleep", "/x"), ["/bin/sleep"]);
        assert_eq!(candidates("bin/run", "/x"), ["bin/run"]);
        assert_eq!(
            candidates("sleep", "/usr/bin:/bin/::/opt"),
            ["/usr/bin/sleep", "/bin/sleep", "./sleep", "/opt/sleep"]
        );
    }

    fn variable(key: &str, value: &str) -> (&'static [u8], CString) {
        let key: &'static str = Box::leak(key.into());
        (
            key.as_bytes(),
            CString::new(format!("{key}={value}")).unwrap(),
        )
    }

    fn own(pairs: &[(&str, &str)]) -> Vec<Variable> {
        let mut own: Vec<Variable> = pairs
            .iter()
            .map(|(k, v)| {
                let (key, entry) = variable(k, v);
                Variable::new(key, entry)
            })
            .collect();
        own.sort_by(|a, b| a.key().cmp(b.key()));
        own
    }

    fn texts(env: &[CString]) -> Vec<&str> {
        env.iter().map(|entry| entry.to_str().unwrap()).collect()
    }

    #[test]
    fn request_variables_override_our_own() {
        let own = own(&[("PATH", "/bin"), ("HOME", "/root"), ("TERM", "xterm")]);
        let set = vec![
            variable("PATH", "/opt/bin"),
            variable("X", "1"),
            variable("A", "first"),
            variable("A", "last"),
        ];
        let env = environment(&own, set);
        assert_eq!(
            texts(&env),
            ["A=last", "HOME=/root", "PATH=/opt/bin", "TERM=xterm", "X=1"]
        );
        assert_eq!(
            texts(&environment(&own, vec![])),
            ["HOME=/root", "PATH=/bin", "TERM=xterm"]
        );
    }

    #[test]
    fn our_variables_that_are_not_utf8_pass_unchanged() {
        let entry = CString::new(b"NAME=caf\xe9".to_vec()).unwrap();
        let own = vec![Variable::new(b"NAME", entry.clone())];
        assert_eq!(environment(&own, vec![]), [entry]);
    }

    #[test]
    fn path_comes_from_the_program_environment() {
        assert_eq!(path_of(&[]), DEFAULT_PATH);
        let env = environment(&own(&[("HOME", "/"), ("PATH", "/opt/bin")]), vec![]);
        assert_eq!(path_of(&env), "/opt/bin");
    }

    #[test]
    fn failure_messages() {
        let spec = spec();
        let exec = describe_failure(&spec, Step::Exec as i32, libc::ENOENT);
        assert_eq!(exec, "cannot execute 'nosuch': No such file or directory");
        let chdir = describe_failure(&spec, Step::Directory as i32, libc::ENOENT);
        assert_eq!(
            chdir,
            "cannot change directory to '/nope': No such file or directory"
        );
        let user = describe_failure(&spec, Step::Credentials as i32, libc::EPERM);
        assert_eq!(user, "cannot switch to user 'bob': Operation not permitted");
    }
}
