//! Plugins: an unknown command `foo` runs `taskmasterctl-foo` from `$PATH`,
//! as git and cargo do. docs/plugins.md is the contract this implements.

use crate::error::{exit, plain, Error};
use rustix::fs::{Mode, OFlags, RawDir};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

/// Every plugin's file name starts so.
pub const PREFIX: &str = "taskmasterctl-";

/// Exit status when a plugin is found but cannot be executed, as in a shell.
pub const CANNOT_EXECUTE: u8 = 126;

/// What a plugin finds in its environment.
pub mod env {
    /// The daemon's socket URL, as taskmasterctl resolved it.
    pub const SERVER_URL: &str = "TASKMASTER_SERVER_URL";
    /// The config file's absolute path, when there is one.
    pub const CONFIG: &str = "TASKMASTER_CONFIG";
    /// The taskmasterctl binary that ran the plugin.
    pub const TASKMASTERCTL: &str = "TASKMASTERCTL";
}

/// An installed plugin: `name` is what follows `taskmasterctl-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    pub name: String,
    pub path: PathBuf,
}

/// Where a plugin's name led on `$PATH`.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Found(PathBuf),
    /// A regular file of that name exists, but nobody may execute it.
    NotExecutable(PathBuf),
    Missing,
}

/// The plugins on `path` (a `$PATH` value), by name; the first of a name wins,
/// as for any command.
///
/// Every directory is read whole (a plugin is any file with our prefix), so
/// this is the costly part of `--help`: a directory met again (`/bin` and
/// `/usr/bin` are one directory on merged-/usr systems, and PATH often
/// names one twice) is read once, since its plugins are already found, and
/// the entries are read with `getdents64` into one buffer, copying no name
/// but a plugin's (std's `read_dir` allocates twice per entry).
pub fn installed(path: Option<&OsStr>) -> Vec<Plugin> {
    let mut found = BTreeMap::new();
    let mut seen = Vec::new();
    let mut buffer = Vec::with_capacity(32 * 1024);
    for dir in path.map(std::env::split_paths).into_iter().flatten() {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let Ok(fd) = rustix::fs::open(&dir, flags, Mode::empty()) else {
            continue;
        };
        let Ok(stat) = rustix::fs::fstat(&fd) else {
            continue;
        };
        let id = (stat.st_dev, stat.st_ino);
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        let mut entries = RawDir::new(fd, buffer.spare_capacity_mut());
        while let Some(Ok(entry)) = entries.next() {
            let file_name = entry.file_name().to_bytes();
            let Some(Ok(name)) = file_name
                .strip_prefix(PREFIX.as_bytes())
                .map(std::str::from_utf8)
            else {
                continue;
            };
            let file = dir.join(OsStr::from_bytes(file_name));
            if !name.is_empty() && !found.contains_key(name) && is_executable(&file) {
                found.insert(name.to_string(), file);
            }
        }
    }
    found
        .into_iter()
        .map(|(name, path)| Plugin { name, path })
        .collect()
}

/// `taskmasterctl-NAME` on `path`.
pub fn lookup(name: &str, path: Option<&OsStr>) -> Lookup {
    let file_name = format!("{PREFIX}{name}");
    let mut not_executable = None;
    for dir in path.map(std::env::split_paths).into_iter().flatten() {
        let file = dir.join(&file_name);
        if is_executable(&file) {
            return Lookup::Found(file);
        }
        if not_executable.is_none() && file.is_file() {
            not_executable = Some(file);
        }
    }
    not_executable.map_or(Lookup::Missing, Lookup::NotExecutable)
}

/// A regular file (after symlinks) with an execute bit.
fn is_executable(file: &Path) -> bool {
    std::fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The environment a plugin gets; a `None` value leaves the variable as it is.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub server_url: Option<String>,
    pub config: Option<PathBuf>,
}

/// The command that runs `plugin` with `args` and the contract's environment.
fn command(plugin: &Path, args: &[String], environment: &Environment) -> Command {
    let mut command = Command::new(plugin);
    command.args(args);
    if let Some(url) = &environment.server_url {
        command.env(env::SERVER_URL, url);
    }
    if let Some(config) = &environment.config {
        command.env(env::CONFIG, config);
    }
    if let Ok(me) = std::env::current_exe() {
        command.env(env::TASKMASTERCTL, me);
    }
    command
}

/// Replaces this process with the plugin: its exit status and the signals
/// that end it reach our caller unchanged. Returns only if exec failed.
pub fn exec(plugin: &Path, args: &[String], environment: &Environment) -> Error {
    let error = command(plugin, args, environment).exec();
    cannot_run(plugin, &error)
}

/// The exit status a shell would report.
pub fn shell_status(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        // Statuses past 255 do not exist on Unix; the fallback is unreachable.
        (Some(code), _) => u8::try_from(code).unwrap_or(exit::FAILED),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(exit::FAILED),
        (None, None) => exit::FAILED,
    }
}

fn cannot_run(plugin: &Path, error: &std::io::Error) -> Error {
    Error::new(
        CANNOT_EXECUTE,
        format!(
            "taskmasterctl: cannot run plugin {}: {}",
            plugin.display(),
            plain(error)
        ),
    )
}

/// The error for a plugin file that is there but not executable.
pub fn not_executable(plugin: &Path) -> Error {
    Error::new(
        CANNOT_EXECUTE,
        format!(
            "taskmasterctl: plugin {} is not executable; make it so with `chmod +x {}`",
            plugin.display(),
            plugin.display()
        ),
    )
}

/// The closest of `candidates` to a mistyped `word`, if one is close enough.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro(word, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The usage error for a command that is neither built in nor a plugin.
pub fn unknown_command(word: &str, candidates: &[String]) -> Error {
    let mut text = format!("error: no such command: `{word}`");
    if let Some(close) = did_you_mean(word, candidates.iter().map(String::as_str)) {
        text.push_str(&format!("\n\n  Did you mean `{close}`?"));
    }
    text.push_str(
        "\n\nSee the commands and installed plugins with `taskmasterctl --list`; \
         a plugin FOO is an executable taskmasterctl-FOO on $PATH.",
    );
    Error::new(exit::USAGE, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::fs;

    struct Dirs(PathBuf);

    impl Dirs {
        fn new(tag: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("tmctl-plugins-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("a")).unwrap();
            fs::create_dir_all(dir.join("b")).unwrap();
            Dirs(dir)
        }

        fn file(&self, sub: &str, name: &str, mode: u32) -> PathBuf {
            let path = self.0.join(sub).join(name);
            fs::write(&path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
            path
        }

        fn path(&self) -> OsString {
            std::env::join_paths([self.0.join("a"), self.0.join("missing"), self.0.join("b")])
                .unwrap()
        }
    }

    impl Drop for Dirs {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn installed_lists_executables_first_on_path_wins() {
        let dirs = Dirs::new("list");
        let first = dirs.file("a", "taskmasterctl-wait", 0o755);
        dirs.file("b", "taskmasterctl-wait", 0o755);
        let import = dirs.file("b", "taskmasterctl-import", 0o700);
        dirs.file("a", "taskmasterctl-notes", 0o644);
        dirs.file("a", "taskmasterctl-", 0o755);
        dirs.file("a", "other-tool", 0o755);
        fs::create_dir(dirs.0.join("a/taskmasterctl-dir")).unwrap();
        let path = dirs.path();
        assert_eq!(
            installed(Some(&path)),
            [
                Plugin {
                    name: "import".into(),
                    path: import
                },
                Plugin {
                    name: "wait".into(),
                    path: first
                },
            ]
        );
        assert_eq!(installed(None), []);
    }

    #[test]
    fn a_directory_named_twice_lists_its_plugins_once_under_its_first_name() {
        let dirs = Dirs::new("twice");
        dirs.file("a", "taskmasterctl-wait", 0o755);
        let link = dirs.0.join("link");
        std::os::unix::fs::symlink(dirs.0.join("a"), &link).unwrap();
        let path = std::env::join_paths([link.clone(), dirs.0.join("a"), link.clone()]).unwrap();
        assert_eq!(
            installed(Some(&path)),
            [Plugin {
                name: "wait".into(),
                path: link.join("taskmasterctl-wait")
            }]
        );
    }

    #[test]
    fn lookup_tells_missing_from_not_executable() {
        let dirs = Dirs::new("lookup");
        let notes = dirs.file("a", "taskmasterctl-notes", 0o644);
        let later = dirs.file("b", "taskmasterctl-later", 0o755);
        dirs.file("a", "taskmasterctl-later", 0o600);
        let path = dirs.path();
        assert_eq!(lookup("notes", Some(&path)), Lookup::NotExecutable(notes));
        assert_eq!(lookup("later", Some(&path)), Lookup::Found(later));
        assert_eq!(lookup("nope", Some(&path)), Lookup::Missing);
    }

    #[test]
    fn did_you_mean_catches_typos_only() {
        let commands = ["status", "start", "stop", "restart", "signal"];
        assert_eq!(did_you_mean("stauts", commands), Some("status"));
        assert_eq!(did_you_mean("restrat", commands), Some("restart"));
        assert_eq!(did_you_mean("frobnicate", commands), None);
    }

    #[test]
    fn unknown_command_is_a_usage_error_with_a_hint() {
        let error = unknown_command("stauts", &["status".into(), "stop".into()]);
        assert_eq!(error.code(), exit::USAGE);
        let text = error.report().unwrap();
        assert!(
            text.starts_with("error: no such command: `stauts`\n\n  Did you mean `status`?"),
            "{text}"
        );
    }

    #[test]
    fn signal_deaths_become_128_plus_n() {
        assert_eq!(shell_status(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(shell_status(ExitStatus::from_raw(9)), 137);
        assert_eq!(shell_status(ExitStatus::from_raw(15)), 143);
    }
}
