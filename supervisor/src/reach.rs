//! What the broker's user must be able to write: the directories of the
//! activity log and of every program's log files (or, when one does not
//! exist yet, the nearest directory above it, where the broker creates it).
//! Checked by taskmasterd at start and by `--check`, so that a path out of
//! the broker's reach is said with the user, the path and the fix before
//! anything runs, never found by a program whose output is lost.
//!
//! Judged from owner, group and mode bits (ACLs are not read).

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use taskmaster_config::{Config, Stream};

/// Who the broker runs as.
pub struct Writer<'a> {
    pub name: &'a str,
    pub uid: u32,
    pub gids: &'a [u32],
}

/// Every log file the config names: the activity log, then each stream
/// of each process.
fn log_files(config: &Config) -> Vec<PathBuf> {
    let mut files = vec![config.daemon.logfile.clone()];
    for program in config.programs.values() {
        let group = config.group_name_of(program);
        for name in program.process_names() {
            let instance = program.instance(&name, group);
            files.push(config.log_path(&instance, &name, Stream::Stdout));
            if !instance.redirect_stderr {
                files.push(config.log_path(&instance, &name, Stream::Stderr));
            }
        }
    }
    files
}

/// Devices and the daemon's own stdout/stderr: never created, only opened.
fn is_special(file: &Path) -> bool {
    file.starts_with("/dev") || file.starts_with("/proc")
}

/// One line per log path under /dev or /proc whose directory does not
/// exist (`/proc/nope/x.log`): nothing is created there, so opening it
/// would fail at start. `/dev/stdout`, `/proc/self/fd/1` and `/dev/null`
/// are in directories that exist.
pub fn missing_special_dirs(config: &Config) -> Vec<String> {
    let mut missing: Vec<String> = log_files(config)
        .iter()
        .filter(|file| is_special(file) && !file.parent().is_some_and(Path::is_dir))
        .map(|file| {
            let dir = file.parent().unwrap_or(Path::new("/"));
            format!(
                "cannot open the log {}: {} is no directory, and taskmasterd creates none \
                 under /dev or /proc; use /dev/stdout, /dev/stderr, /dev/null or a file elsewhere",
                file.display(),
                dir.display()
            )
        })
        .collect();
    missing.dedup();
    missing
}

/// One line per directory the broker could not write, with the fix.
pub fn unreachable(config: &Config, writer: &Writer) -> Vec<String> {
    let dirs: BTreeSet<PathBuf> = log_files(config)
        .iter()
        .filter(|file| !is_special(file))
        .filter_map(|file| file.parent().map(Path::to_path_buf))
        .collect();
    let existing: BTreeSet<PathBuf> = dirs
        .iter()
        .filter_map(|dir| nearest_existing(dir))
        .collect();
    existing
        .into_iter()
        .filter_map(|existing| {
            let metadata = std::fs::metadata(&existing).ok()?;
            (!writable(metadata.uid(), metadata.gid(), metadata.mode(), writer)).then(|| {
                format!(
                    "taskmaster-broker runs as '{}' and cannot write in {} (owner uid {}, mode {:04o}), where its logs go: run `chown {} '{}'`, or choose another directory",
                    writer.name,
                    existing.display(),
                    metadata.uid(),
                    metadata.mode() & 0o7777,
                    writer.name,
                    existing.display()
                )
            })
        })
        .collect()
}

fn nearest_existing(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|candidate| candidate.is_dir())
        .map(Path::to_path_buf)
}

/// Whether `writer` may create files in a directory with this owner and
/// mode (write and search permission).
fn writable(uid: u32, gid: u32, mode: u32, writer: &Writer) -> bool {
    let bits = if uid == writer.uid {
        mode >> 6
    } else if writer.gids.contains(&gid) {
        mode >> 3
    } else {
        mode
    };
    bits & 0o3 == 0o3
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOBODY: Writer = Writer {
        name: "nobody",
        uid: 65534,
        gids: &[65534],
    };

    #[test]
    fn permission_comes_from_the_class_the_writer_falls_in() {
        assert!(writable(65534, 0, 0o700, &NOBODY));
        assert!(!writable(0, 0, 0o755, &NOBODY));
        assert!(writable(0, 65534, 0o770, &NOBODY));
        assert!(
            !writable(0, 65534, 0o707, &NOBODY),
            "the group class decides"
        );
        assert!(writable(0, 0, 0o1777, &NOBODY));
        assert!(
            !writable(65534, 0, 0o077, &NOBODY),
            "the owner class decides"
        );
    }

    #[test]
    fn a_root_owned_log_directory_is_named_with_its_fix() {
        let dir = std::env::temp_dir().join(format!("tm-reach-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("logs")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.join("logs"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let owner = std::fs::metadata(dir.join("logs")).unwrap().uid();
        let writer = Writer {
            name: "someone",
            uid: owner + 1,
            gids: &[],
        };
        let text = format!(
            "[taskmasterd]\nlogfile = '{0}/logs/d.log'\nchildlogdir = '{0}/logs/new/sub'\n\
             [programs.web]\ncommand = '/bin/true'\nstdout = '/dev/stdout'\n",
            dir.display()
        );
        let config = taskmaster_config::parse_str(&text, &dir.join("t.toml")).unwrap();
        let problems = unreachable(&config, &writer);
        // The activity log's directory and, for the missing childlogdir,
        // its nearest existing parent: the same directory, said once.
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("cannot write in") && problems[0].contains("chown someone"));
        std::fs::set_permissions(dir.join("logs"), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(unreachable(&config, &writer).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
