//! The policy taskmasterd enforces: its own reading of the config files,
//! through the same parser as the broker. Every exec plan comes from here;
//! the broker only names a process and the config generation it read.
//! Files that someone other than root (or taskmasterd's own user) could
//! change are refused, as sshd's StrictModes does: they would let that
//! someone choose what root runs.

use nix::unistd::{geteuid, Uid, User};
use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use taskmaster_config::{Check, Config, ConfigErrors, ExecSpec};

/// Why taskmasterd will not take a config.
#[derive(Debug)]
pub enum PolicyError {
    /// The config does not parse or validate.
    Invalid(ConfigErrors),
    /// A file of the config can be changed by someone else than us.
    UnsafeFile { path: PathBuf, reason: String },
    /// A program would run as the broker's user, which could then take the
    /// broker over (and with it the control socket).
    RunsAsBroker { program: String, user: String },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::Invalid(errors) => write!(f, "the config has errors:\n{errors}"),
            PolicyError::UnsafeFile { path, reason } => write!(
                f,
                "refusing the config file {}: {reason}; taskmasterd reads only files owned by root (or its own user) that group and others cannot write (fix: chown root: '{0}' && chmod go-w '{0}')",
                path.display()
            ),
            PolicyError::RunsAsBroker { program, user } => write!(
                f,
                "programs.{program}.user: '{user}' is the user taskmaster-broker runs as; a program running as it could take the broker over: pick another user for the program, or another [taskmasterd] user"
            ),
        }
    }
}

impl std::error::Error for PolicyError {}

/// Why one request of the broker was not carried out.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The config defines no such process: a sound broker never asks, so
    /// this is reported as an attack or a bug.
    Undefined { name: String },
    /// The files changed again (or broke) between the broker's reading and
    /// ours: the spawn fails and the broker retries as for any failure.
    Stale { reason: String },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Undefined { name } => write!(f, "the config defines no process '{name}'"),
            Refusal::Stale { reason } => f.write_str(reason),
        }
    }
}

/// The config as taskmasterd read it.
pub struct Policy {
    path: PathBuf,
    /// The uid the broker runs as, which no program may use.
    broker_uid: Option<u32>,
    config: Config,
    /// What the config's files and directories looked like when `config`
    /// was read from them, when known for sure: while they still look so,
    /// another generation cannot be in them, and they are not parsed again
    /// (a broker cannot make us parse the config at every request).
    stamps: Option<Vec<Stamp>>,
    /// How often the files were read again.
    #[cfg(test)]
    reads: u32,
}

/// A file or directory's identity, size and last change (the inode's, which
/// no one can set back), `None` when absent.
type Stamp = Option<(u64, u64, u64, i64, i64)>;

fn stamps(paths: &[PathBuf]) -> Vec<Stamp> {
    paths
        .iter()
        .map(|path| {
            std::fs::metadata(path)
                .ok()
                .map(|m| (m.dev(), m.ino(), m.size(), m.ctime(), m.ctime_nsec()))
        })
        .collect()
}

/// Every path whose change may change the config: its files and the
/// directories its includes are searched in.
fn watched(config: &Config) -> Vec<PathBuf> {
    config
        .sources
        .iter()
        .chain(&config.watch_dirs)
        .cloned()
        .collect()
}

impl Policy {
    /// Checks `config`, read from `path` (absolute).
    pub fn new(
        path: &Path,
        config: Config,
        broker_uid: Option<u32>,
    ) -> Result<Policy, PolicyError> {
        vet(&config, broker_uid)?;
        Ok(Policy {
            path: path.to_path_buf(),
            broker_uid,
            config,
            // Read before we could look: the first other generation asked
            // for reads the files again.
            stamps: None,
            #[cfg(test)]
            reads: 0,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// How to start process `name` of config `generation`. When the broker
    /// read another generation than ours, the files are read again, and
    /// taken only if they are now what the broker read.
    pub fn exec_spec(&mut self, name: &str, generation: u64) -> Result<ExecSpec, Refusal> {
        self.at_generation(generation)?
            .exec_spec(name)
            .ok_or_else(|| Refusal::Undefined {
                name: name.to_string(),
            })
    }

    /// How to run the `command` probe `check` of process `name` of config
    /// `generation`, and its time limit: refused unless that probe is a
    /// command in our reading of the config.
    pub fn probe_spec(
        &mut self,
        name: &str,
        generation: u64,
        check: Check,
    ) -> Result<(ExecSpec, std::time::Duration), Refusal> {
        self.at_generation(generation)?
            .probe_spec(name, check)
            .ok_or_else(|| Refusal::Undefined {
                name: format!("{name} (a {check:?} command probe)"),
            })
    }

    /// The config of `generation`: ours, or the files read again when they
    /// now are what the broker read.
    pub fn at_generation(&mut self, generation: u64) -> Result<&Config, Refusal> {
        if generation != self.config.generation {
            let paths = watched(&self.config);
            let before = stamps(&paths);
            if self.stamps.as_ref() == Some(&before) {
                return Err(Refusal::Stale {
                    reason: "the config files have not changed since taskmasterd read them".into(),
                });
            }
            #[cfg(test)]
            {
                self.reads += 1;
            }
            let reread = match read(&self.path, self.broker_uid) {
                Ok(reread) => reread,
                Err(error) => {
                    // Broken as they are: not worth reading until they change.
                    self.stamps = Some(before);
                    return Err(Refusal::Stale {
                        reason: error.to_string(),
                    });
                }
            };
            // Sure only when nothing moved while it was read.
            let after_paths = watched(&reread);
            let after = stamps(&after_paths);
            self.stamps = (after_paths == paths && after == before).then_some(after);
            // The files root wrote are the policy now, whichever generation
            // asked for them.
            self.config = reread;
            taskmaster_ipc::release_free_memory();
            if self.config.generation != generation {
                return Err(Refusal::Stale {
                    reason: "the config files changed again since taskmaster-broker read them"
                        .into(),
                });
            }
        }
        Ok(&self.config)
    }
}

fn read(path: &Path, broker_uid: Option<u32>) -> Result<Config, PolicyError> {
    let config = taskmaster_config::load(path).map_err(PolicyError::Invalid)?;
    vet(&config, broker_uid)?;
    Ok(config)
}

/// What taskmasterd asks of a config beyond being valid.
fn vet(config: &Config, broker_uid: Option<u32>) -> Result<(), PolicyError> {
    for file in &config.sources {
        check_file(file)?;
    }
    if let Some(uid) = broker_uid.filter(|uid| *uid != geteuid().as_raw()) {
        for program in config.programs.values() {
            if let Some(user) = &program.user {
                if resolve_uid(user) == Some(uid) {
                    return Err(PolicyError::RunsAsBroker {
                        program: program.name.clone(),
                        user: user.clone(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The file must be owned by root or by us, and not writable by group or
/// others.
fn check_file(path: &Path) -> Result<(), PolicyError> {
    let unsafe_file = |reason: String| PolicyError::UnsafeFile {
        path: path.to_path_buf(),
        reason,
    };
    let metadata = std::fs::metadata(path)
        .map_err(|e| unsafe_file(format!("cannot read its owner and mode: {e}")))?;
    let me = geteuid().as_raw();
    if metadata.uid() != 0 && metadata.uid() != me {
        return Err(unsafe_file(format!(
            "it is owned by {}",
            describe_uid(metadata.uid())
        )));
    }
    // As root the config is a privilege policy: nobody else may change it.
    // An unprivileged taskmasterd runs everything as its own user, so only
    // others matter: a checkout made with the common umask 002 (group
    // writable) still runs from a developer's terminal.
    let mode = metadata.mode() & 0o7777;
    let forbidden = if me == 0 { 0o022 } else { 0o002 };
    if mode & forbidden != 0 {
        return Err(unsafe_file(format!(
            "its mode {mode:04o} lets {} write it",
            if mode & forbidden & 0o020 != 0 {
                "group or others"
            } else {
                "others"
            }
        )));
    }
    Ok(())
}

fn resolve_uid(user: &str) -> Option<u32> {
    match User::from_name(user) {
        Ok(Some(found)) => Some(found.uid.as_raw()),
        _ => user.parse().ok(),
    }
}

fn describe_uid(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("uid {uid} ({})", user.name),
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use taskmaster_config::test_dir::TestDir;

    fn write(dir: &TestDir, text: &str, mode: u32) -> PathBuf {
        let path = dir.write("taskmaster.conf.toml", text);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn load(path: &Path, broker_uid: Option<u32>) -> Result<Policy, PolicyError> {
        let config = taskmaster_config::load(path).map_err(PolicyError::Invalid)?;
        Policy::new(path, config, broker_uid)
    }

    const WEB: &str = "[programs.web]\ncommand = '/bin/sleep'\nargs = ['9']\n";

    #[test]
    fn a_defined_process_gets_its_spec_and_nothing_else_is_started() {
        let dir = TestDir::new("policy-defined");
        let path = write(&dir, WEB, 0o644);
        let mut policy = load(&path, None).unwrap();
        let generation = policy.config().generation;
        let spec = policy.exec_spec("web", generation).unwrap();
        assert_eq!(
            (spec.command.as_str(), spec.args.as_slice()),
            ("/bin/sleep", &["9".to_string()][..])
        );
        assert_eq!(
            policy.exec_spec("evil", generation),
            Err(Refusal::Undefined {
                name: "evil".into()
            })
        );
    }

    #[test]
    fn another_generation_is_taken_only_when_the_files_say_so() {
        let dir = TestDir::new("policy-generation");
        let path = write(&dir, WEB, 0o644);
        let mut policy = load(&path, None).unwrap();
        let old = policy.config().generation;
        // The broker claims a generation the files never had.
        assert!(matches!(
            policy.exec_spec("web", old + 1),
            Err(Refusal::Stale { .. })
        ));
        assert_eq!(policy.config().generation, old);
        // The files changed and the broker read them first.
        let edited = format!("{WEB}[programs.api]\ncommand = '/bin/true'\n");
        write(&dir, &edited, 0o644);
        let new = taskmaster_config::load(&path).unwrap().generation;
        assert_eq!(policy.exec_spec("api", new).unwrap().command, "/bin/true");
        assert_eq!(policy.config().generation, new);
    }

    #[test]
    fn a_generation_the_unchanged_files_cannot_hold_is_refused_without_reading_them() {
        let dir = TestDir::new("policy-stamps");
        let path = write(&dir, WEB, 0o644);
        let mut policy = load(&path, None).unwrap();
        let ours = policy.config().generation;
        for bogus in 1..=5 {
            assert!(matches!(
                policy.exec_spec("web", ours ^ bogus),
                Err(Refusal::Stale { .. })
            ));
        }
        assert_eq!(
            policy.reads, 1,
            "read once to know the files, then never again"
        );
        // A change is seen at once.
        let edited = format!("{WEB}[programs.api]\ncommand = '/bin/true'\n");
        write(&dir, &edited, 0o644);
        let new = taskmaster_config::load(&path).unwrap().generation;
        assert_eq!(policy.exec_spec("api", new).unwrap().command, "/bin/true");
        assert_eq!(policy.reads, 2);
    }

    #[test]
    fn files_others_can_write_are_refused() {
        let dir = TestDir::new("policy-modes");
        for mode in [0o646, 0o666] {
            let path = write(&dir, WEB, mode);
            let error = load(&path, None).err().expect("refused");
            let text = error.to_string();
            assert!(text.contains("write it"), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
        }
        // Group-writable: refused by a root taskmasterd only.
        let group = load(&write(&dir, WEB, 0o664), None);
        assert_eq!(group.is_err(), geteuid().is_root(), "{:?}", group.err());
        assert!(load(&write(&dir, WEB, 0o600), None).is_ok());
    }

    #[test]
    fn files_owned_by_someone_else_are_refused() {
        if !geteuid().is_root() {
            return;
        }
        let dir = TestDir::new("policy-owner");
        let path = write(&dir, WEB, 0o644);
        nix::unistd::chown(&path, Some(Uid::from_raw(65534)), None).unwrap();
        let text = load(&path, None).err().expect("refused").to_string();
        assert!(text.contains("it is owned by uid 65534"), "{text}");
    }

    #[test]
    fn a_program_may_not_run_as_the_broker() {
        let dir = TestDir::new("policy-broker-user");
        let path = write(&dir, &format!("{WEB}user = 'nobody'\n"), 0o644);
        let nobody = resolve_uid("nobody").expect("the nobody user exists");
        let text = load(&path, Some(nobody))
            .err()
            .expect("refused")
            .to_string();
        assert!(
            text.contains("programs.web.user: 'nobody' is the user taskmaster-broker runs as"),
            "{text}"
        );
        // Another broker user: fine.
        assert!(load(&path, Some(0)).is_ok());
    }
}
