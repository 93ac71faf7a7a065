//! The [`SpawnRequest`] for one process: its definition resolved into what
//! taskmasterd needs and nothing more.

use crate::core::Proc;
use std::collections::BTreeMap;
use taskmaster_config::{Config, Program};
use taskmaster_ipc::SpawnRequest;

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
        redirect_stderr: program.redirect_stderr,
    }
}
