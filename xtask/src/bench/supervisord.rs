//! The supervisord driver: finds (or pip-installs) supervisord, writes its
//! INI config, and reads process states over XML-RPC on its Unix socket.

use super::daemon::{
    edit_config, program_name, Daemon, DaemonProcess, Driver, Workdir, SLEEP_SECS,
};
use super::xmlrpc;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Default)]
pub struct Supervisord {
    /// supervisord and supervisorctl, once found.
    bins: Option<(PathBuf, PathBuf)>,
}

impl Supervisord {
    /// The version, for the notes under the table.
    pub fn version(&self) -> Option<String> {
        let (supervisord, _) = self.bins.as_ref()?;
        let out = Command::new(supervisord).arg("--version").output().ok()?;
        Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    pub(super) fn bins(&self) -> Result<&(PathBuf, PathBuf)> {
        self.bins
            .as_ref()
            .context("supervisord was not found or installed (see above)")
    }
}

impl Driver for Supervisord {
    fn name(&self) -> &'static str {
        "supervisord"
    }

    fn prepare(&mut self) -> Result<()> {
        if find_scripts().is_none() {
            eprintln!(
                "supervisord is not installed: installing it with `python3 -m pip install supervisor` \
                 (it is only needed for the comparison)"
            );
            let status = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", "supervisor"])
                .status()
                .context("running python3 -m pip (is Python 3 installed?)")?;
            if !status.success() {
                bail!("`python3 -m pip install supervisor` failed ({status}); install supervisor by hand");
            }
        }
        let bins = find_scripts()
            .context("supervisord is still not found after installing supervisor with pip")?;
        self.bins = Some(bins);
        Ok(())
    }

    fn start(&self, n: usize) -> Result<Box<dyn Daemon>> {
        let (supervisord, supervisorctl) = self.bins()?.clone();
        let dir = Workdir::new("sv")?;
        let config = dir.path().join("supervisord.conf");
        let socket = dir.path().join("supervisor.sock");
        std::fs::write(&config, config_text(dir.path(), &socket, n))
            .with_context(|| format!("writing {}", config.display()))?;
        let mut command = Command::new(supervisord);
        command.arg("-n").arg("-c").arg(&config);
        let process = DaemonProcess::spawn("supervisord", command, dir)?;
        Ok(Box::new(Running {
            process,
            socket,
            config,
            supervisorctl,
        }))
    }

    fn poll_note(&self) -> String {
        "supervisord: XML-RPC `supervisor.getAllProcessInfo` / `getProcessInfo` over its Unix socket \
         (hand-written HTTP/1.0, one connection per request)"
            .into()
    }

    /// Not measured: supervisorctl is a Python program, whose interpreter
    /// start-up is not what the row compares.
    fn help_command(&self) -> Option<Command> {
        None
    }
}

/// The interpreter's own script directory first: the pyenv/virtualenv shims
/// on PATH add a shell and a second interpreter start to every supervisorctl run.
fn find_scripts() -> Option<(PathBuf, PathBuf)> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let scripts = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let mut dirs = vec![scripts];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    dirs.iter().find_map(|dir| {
        let (d, c) = (dir.join("supervisord"), dir.join("supervisorctl"));
        (d.is_file() && c.is_file()).then_some((d, c))
    })
}

fn config_text(dir: &Path, socket: &Path, n: usize) -> String {
    let mut text = format!(
        "[unix_http_server]\nfile={socket}\n\n\
         [supervisord]\nlogfile={dir}/supervisord.log\npidfile={dir}/supervisord.pid\n\
         childlogdir={dir}/logs\nnodaemon=true\nminfds=10000\n\n\
         [rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
         [supervisorctl]\nserverurl=unix://{socket}\n",
        socket = socket.display(),
        dir = dir.display(),
    );
    for i in 0..n {
        let _ = write!(
            text,
            "\n[program:{}]\ncommand=sleep {SLEEP_SECS}\nstartsecs=0\nautorestart=true\n",
            program_name(i)
        );
    }
    text
}

struct Running {
    process: DaemonProcess,
    socket: PathBuf,
    config: PathBuf,
    supervisorctl: PathBuf,
}

impl Running {
    /// The processes a call lists; `None` while supervisord has not yet
    /// bound its socket.
    fn processes(
        &mut self,
        method: &str,
        params: &[&str],
    ) -> Result<Option<Vec<xmlrpc::ProcessInfo>>> {
        self.process.check_alive()?;
        if !self.socket.exists() {
            return Ok(None);
        }
        match xmlrpc::call(&self.socket, method, params) {
            Ok(body) => Ok(Some(xmlrpc::parse_processes(&body))),
            Err(e) if is_not_listening(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn is_not_listening(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            )
        })
    })
}

impl Daemon for Running {
    fn process(&mut self) -> &mut DaemonProcess {
        &mut self.process
    }

    fn daemon_pids(&mut self) -> Result<Vec<i32>> {
        Ok(vec![self.process.pid()])
    }

    fn count_running(&mut self) -> Result<Option<usize>> {
        let all = self.processes("supervisor.getAllProcessInfo", &[])?;
        Ok(all.map(|all| all.iter().filter(|p| p.statename == "RUNNING").count()))
    }

    fn running_pid(&mut self, name: &str) -> Result<Option<i32>> {
        let info = self.processes("supervisor.getProcessInfo", &[name])?;
        Ok(info
            .unwrap_or_default()
            .first()
            .filter(|p| p.statename == "RUNNING")
            .map(|p| p.pid))
    }

    fn status_command(&self, name: Option<&str>) -> Command {
        let mut command = Command::new(&self.supervisorctl);
        command.arg("-c").arg(&self.config).arg("status");
        command.args(name);
        command
    }

    /// XML-RPC over HTTP: the limit column is Taskmaster's line protocol.
    fn status_exchange(&mut self, _name: Option<&str>) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        Ok(None)
    }

    fn pids(&mut self) -> Result<HashMap<String, i32>> {
        let all = self
            .processes("supervisor.getAllProcessInfo", &[])?
            .context("supervisord stopped answering on its socket")?;
        Ok(all
            .into_iter()
            .filter(|p| p.pid != 0)
            .map(|p| (p.name, p.pid))
            .collect())
    }

    /// supervisord reads its config again only when told: `supervisorctl
    /// update` (which restarts the changed program's group, here its own).
    fn change_args(&mut self, name: &str, arg: &str) -> Result<()> {
        let program = format!("[program:{name}]\ncommand=sleep ");
        edit_config(
            &self.config,
            &format!("{program}{SLEEP_SECS}\n"),
            &format!("{program}{arg}\n"),
        )?;
        let out = Command::new(&self.supervisorctl)
            .arg("-c")
            .arg(&self.config)
            .arg("update")
            .output()
            .context("running supervisorctl update")?;
        if !out.status.success() {
            bail!(
                "supervisorctl update failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        Ok(())
    }

    /// Not measured: supervisorctl's `update` is several XML-RPC calls
    /// from a Python process, not one request to time.
    fn reload_unchanged(&mut self) -> Result<Option<Duration>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_every_program() {
        let text = config_text(Path::new("/t"), Path::new("/t/s.sock"), 3);
        assert_eq!(text.matches("command=sleep 1000000").count(), 3);
        assert!(text.contains("[program:p0002]"));
        assert!(text.contains("serverurl=unix:///t/s.sock"));
    }
}
