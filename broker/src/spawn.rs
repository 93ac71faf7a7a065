//! What the broker prepares for a spawn: the program's log files, opened
//! here so that taskmasterd never touches a path a config named, and the
//! resolved [`SpawnRequest`].

use crate::activity::append_nofollow;
use crate::config::{Config, Program};
use crate::core::Proc;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use taskmaster_ipc::SpawnRequest;

/// Opens (appends to) the stdout and stderr files; with `redirect_stderr`
/// both descriptors are the stdout file. The error names the file.
pub fn open_outputs(
    stdout: &Path,
    stderr: &Path,
    redirect_stderr: bool,
) -> Result<Vec<OwnedFd>, String> {
    let out = open_log(stdout)?;
    let err = if redirect_stderr {
        out.try_clone()
            .map_err(|e| format!("cannot duplicate log file {}: {e}", stdout.display()))?
    } else {
        open_log(stderr)?
    };
    Ok(vec![out.into(), err.into()])
}

fn open_log(path: &Path) -> Result<std::fs::File, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create log directory {}: {e}", dir.display()))?;
    }
    append_nofollow(path).map_err(|e| format!("cannot open log file {}: {e}", path.display()))
}

/// The spawn request for one process. Its environment is the one
/// taskmasterd was started with (taskmasterd adds it), then
/// `[taskmasterd.env]`, then the program's own, then the `TASKMASTER_*`
/// variables.
pub fn request(id: u64, config: &Config, program: &Program, proc: &Proc) -> SpawnRequest {
    let server_url = program
        .serverurl
        .clone()
        .unwrap_or_else(|| format!("unix://{}", config.server.file.display()));
    let mut env: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, value) in config.daemon.env.iter().chain(&program.env) {
        env.insert(key, value);
    }
    env.insert("TASKMASTER_ENABLED", "1");
    env.insert("TASKMASTER_PROCESS_NAME", &proc.name);
    env.insert("TASKMASTER_GROUP_NAME", &proc.group);
    env.insert("TASKMASTER_SERVER_URL", &server_url);
    SpawnRequest {
        id,
        name: proc.name.clone(),
        command: program.command.clone(),
        args: program.args.clone(),
        env: env
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        user: program.user.clone(),
        directory: program.directory.clone(),
        umask: program.umask,
    }
}
