//! The Taskmaster driver: builds the release binaries, writes a TOML config,
//! starts `taskmasterd -n`, and reads states with the protocol's `status`.

use super::daemon::{
    edit_config, program_name, Daemon, DaemonProcess, Driver, Workdir, SLEEP_SECS,
};
use super::procfs;
use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use taskmaster_protocol::{
    self as protocol, ActionContent, Client, ProcessState, Request, Selection, StatusContent,
};

/// The broker's comm as the kernel shows it: names are cut to 15 bytes.
const BROKER_COMM: &str = "taskmaster-brok";

pub struct Taskmaster {
    workspace: PathBuf,
    /// target/release.
    bin_dir: PathBuf,
    build: bool,
}

impl Taskmaster {
    pub fn new(workspace: PathBuf, bin_dir: PathBuf, build: bool) -> Self {
        Taskmaster {
            workspace,
            bin_dir,
            build,
        }
    }

    fn build(&self) -> Result<()> {
        eprintln!("building Taskmaster (release)...");
        let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(&self.workspace)
            .args(["build", "--release", "--quiet"])
            .args(["-p", "taskmaster-supervisor", "-p", "taskmaster-broker"])
            .args(["-p", "taskmaster-ctl"])
            .status()
            .context("running cargo build --release")?;
        if !status.success() {
            bail!(
                "cargo build --release of taskmasterd, taskmaster-broker and taskmasterctl \
                 failed ({status}); its errors are above"
            );
        }
        // As the package ships it.
        crate::dist::link_ctl_statically(&self.workspace, "release")
    }
}

impl Driver for Taskmaster {
    fn name(&self) -> &'static str {
        "Taskmaster"
    }

    fn prepare(&mut self) -> Result<()> {
        if self.build {
            self.build()?;
        }
        for bin in ["taskmasterd", "taskmaster-broker", "taskmasterctl"] {
            let path = self.bin_dir.join(bin);
            if !path.is_file() {
                bail!(
                    "{} is missing: build it with `cargo build --release`",
                    path.display()
                );
            }
        }
        Ok(())
    }

    fn start(&self, n: usize) -> Result<Box<dyn Daemon>> {
        let dir = Workdir::new("tm")?;
        let config = dir.path().join("taskmaster.conf.toml");
        let socket = dir.path().join("taskmaster.sock");
        std::fs::write(&config, config_text(dir.path(), &socket, n))
            .with_context(|| format!("writing {}", config.display()))?;
        let mut command = Command::new(self.bin_dir.join("taskmasterd"));
        command.arg("-n").arg("-c").arg(&config);
        // So that taskmasterd finds the broker we just built whichever way it looks.
        let path = std::env::var_os("PATH").unwrap_or_default();
        let dirs = std::iter::once(self.bin_dir.clone()).chain(std::env::split_paths(&path));
        command.env("PATH", std::env::join_paths(dirs).context("building PATH")?);
        let process = DaemonProcess::spawn("taskmasterd", command, dir)?;
        Ok(Box::new(Running {
            process,
            socket,
            config,
            ctl: self.bin_dir.join("taskmasterctl"),
            client: None,
        }))
    }

    fn poll_note(&self) -> String {
        "Taskmaster: the protocol's `status` request on one persistent connection".into()
    }

    fn help_command(&self) -> Option<Command> {
        let mut command = Command::new(self.bin_dir.join("taskmasterctl"));
        command.arg("--help");
        Some(command)
    }
}

/// A TOML basic string: JSON's escapes are valid TOML.
fn toml_str(path: &Path) -> String {
    serde_json::to_string(&path.to_string_lossy()).unwrap_or_default()
}

fn config_text(dir: &Path, socket: &Path, n: usize) -> String {
    let mut text = format!(
        "[unix_http_server]\nfile = {socket}\n\n\
         [taskmasterd]\nnodaemon = true\nlogfile = {log}\nchildlogdir = {logs}\n\
         # Each program holds pipes in taskmasterd and the broker, and log files.\n\
         minfds = 10000\n\n\
         [taskmasterctl]\nserverurl = {url}\n",
        socket = toml_str(socket),
        log = toml_str(&dir.join("taskmasterd.log")),
        logs = toml_str(&dir.join("logs")),
        url = toml_str(Path::new(&format!("unix://{}", socket.display()))),
    );
    for i in 0..n {
        let _ = write!(
            text,
            "\n[programs.{}]\ncommand = \"sleep\"\nargs = [\"{SLEEP_SECS}\"]\nstartsecs = 0\nautorestart = true\n",
            program_name(i)
        );
    }
    text
}

struct Running {
    process: DaemonProcess,
    socket: PathBuf,
    config: PathBuf,
    ctl: PathBuf,
    client: Option<Client>,
}

impl Running {
    /// The status of `names` (all when empty); `None` while the broker has
    /// not yet bound its socket.
    fn status(&mut self, names: &[&str]) -> Result<Option<StatusContent>> {
        self.process.check_alive()?;
        let client = match self.client.as_mut() {
            Some(client) => client,
            None => match Client::connect(&self.socket) {
                Ok(client) => self.client.insert(client),
                Err(_) => return Ok(None),
            },
        };
        let reply = client
            .request(&Request::new(protocol::Command::status(Selection::names(
                names.iter().copied(),
            ))))
            .inspect_err(|_| self.client = None)
            .context("asking taskmaster for its status")?;
        reply
            .into_content()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("taskmaster refused `status`: {e}"))
    }
}

impl Daemon for Running {
    fn process(&mut self) -> &mut DaemonProcess {
        &mut self.process
    }

    fn daemon_pids(&mut self) -> Result<Vec<i32>> {
        let daemon = self.process.pid();
        let broker = procfs::children(daemon)
            .into_iter()
            .find(|(_, comm)| comm == BROKER_COMM)
            .map(|(pid, _)| pid)
            .context("taskmasterd has no taskmaster-broker child")?;
        Ok(vec![daemon, broker])
    }

    fn count_running(&mut self) -> Result<Option<usize>> {
        let status = self.status(&[])?;
        Ok(status.map(|status| {
            status
                .processes
                .iter()
                .filter(|p| p.state == ProcessState::Running)
                .count()
        }))
    }

    fn running_pid(&mut self, name: &str) -> Result<Option<i32>> {
        let Some(status) = self.status(&[name])? else {
            return Ok(None);
        };
        Ok(status
            .processes
            .iter()
            .find(|p| p.name == name && p.state == ProcessState::Running)
            .and_then(|p| p.pid))
    }

    fn status_command(&self, name: Option<&str>) -> Command {
        let mut command = Command::new(&self.ctl);
        command.arg("-c").arg(&self.config).arg("status");
        command.args(name);
        command
    }

    fn status_exchange(&mut self, name: Option<&str>) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        use std::io::{BufRead, BufReader, Write};
        let request = Request::new(protocol::Command::status(Selection::names(name)));
        let mut line = serde_json::to_vec(&request).context("encoding a status request")?;
        line.push(b'\n');
        let mut stream = std::os::unix::net::UnixStream::connect(&self.socket)
            .with_context(|| format!("connecting to {}", self.socket.display()))?;
        stream
            .write_all(&line)
            .context("sending a status request")?;
        let mut reply = Vec::new();
        BufReader::new(stream)
            .read_until(b'\n', &mut reply)
            .context("reading the status reply")?;
        Ok(Some((line, reply)))
    }

    fn pids(&mut self) -> Result<HashMap<String, i32>> {
        let status = self
            .status(&[])?
            .context("taskmaster stopped answering on its socket")?;
        Ok(status
            .processes
            .into_iter()
            .filter_map(|p| Some((p.name, p.pid?)))
            .collect())
    }

    /// The broker watches the file: saving it is all a user does.
    fn change_args(&mut self, name: &str, arg: &str) -> Result<()> {
        let program = format!("[programs.{name}]\ncommand = \"sleep\"\nargs = ");
        edit_config(
            &self.config,
            &format!("{program}[\"{SLEEP_SECS}\"]"),
            &format!("{program}[\"{arg}\"]"),
        )
    }

    fn reload_unchanged(&mut self) -> Result<Option<Duration>> {
        self.status(&[])?
            .context("taskmaster stopped answering on its socket")?;
        let client = self
            .client
            .as_mut()
            .context("no connection to taskmaster after a status")?;
        let start = Instant::now();
        let reply = client
            .request(&Request::new(protocol::Command::Reload))
            .context("sending `reload` to taskmaster")?;
        let took = start.elapsed();
        let content: ActionContent = reply
            .into_content()
            .map_err(|e| anyhow::anyhow!("taskmaster refused `reload`: {e}"))?;
        let plan = content.plan.unwrap_or_default();
        if let Some(line) = plan.lines().find(|l| !l.ends_with(": unchanged")) {
            bail!("a reload of the unchanged config changed something: {line}");
        }
        Ok(Some(took))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_every_program() {
        let text = config_text(Path::new("/t"), Path::new("/t/s.sock"), 3);
        assert_eq!(text.matches("args = [\"1000000\"]").count(), 3);
        assert!(text.contains("[programs.p0002]"));
        assert!(text.contains("serverurl = \"unix:///t/s.sock\""));
    }
}
