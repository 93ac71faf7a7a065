//! `cargo xtask systemd-test`: the package on a real systemd. A Debian
//! bookworm root file system (made once by mmdebstrap, kept under
//! `target/systemd-test/`) is copied, booted with `systemd-nspawn -b`, and
//! driven from outside with `nsenter`: install the .deb, then check what
//! an operator would (readiness, the broker's user, conf.d, reload, the
//! socket's group, the journal, stop, kill, reboot, purge).
//!
//! Waits poll a condition with a deadline, never a fixed sleep.

use crate::dist;
use anyhow::{bail, Context};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The longest any one wait may take (a boot, a program reaching RUNNING).
const WAIT: Duration = Duration::from_secs(60);

/// The packages of the base image: systemd as PID 1, D-Bus for systemctl,
/// man-db so that `systemd-analyze verify` finds the unit's man pages.
const INCLUDE: &str = "systemd,systemd-sysv,dbus,man-db";

/// The program a check drops in conf.d: it records the signal it is
/// stopped with and exits 0, so that a stop through taskmasterd is seen.
const HELLO: &str = r#"[programs.hello]
command = "/bin/sh"
args = ["-c", "trap 'echo got USR1 > /var/lib/hello-stopped; exit 0' USR1; echo hello $GREETING; while :; do sleep 1; done"]
stopsignal = "USR1"
startsecs = 2
env = { GREETING = "one" }
"#;

pub fn run(options: &dist::Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let deb = dist::run(options)?;
    let work = crate::gen::workspace_root().join("target/systemd-test");
    let base = base_rootfs(&work)?;
    let machine_dir = work.join("machine");
    copy_tree(&base, &machine_dir)?;
    fs::copy(&deb, machine_dir.join("root/taskmaster.deb"))
        .with_context(|| format!("copying {} into the machine", deb.display()))?;
    let prepared = started.elapsed();
    let mut checks = Checks::default();
    let mut machine = Machine::boot(&machine_dir, &work.join("console.log"))?;
    let booted = started.elapsed();
    let result = checks_on(&mut machine, &mut checks);
    machine.power_off();
    let total = started.elapsed();
    eprintln!(
        "systemd-test: prepared in {:.1} s, first boot at {:.1} s, done in {:.1} s",
        prepared.as_secs_f64(),
        booted.as_secs_f64(),
        total.as_secs_f64()
    );
    let summary = format!("{} passed, {} failed", checks.passed, checks.failed.len());
    println!("systemd-test: {summary}");
    result?;
    if !checks.failed.is_empty() {
        bail!(
            "systemd-test failed: {}; the container's console is in {}",
            checks.failed.join(", "),
            work.join("console.log").display()
        );
    }
    Ok(())
}

/// Every check, in the order an operator meets them. A failed check is
/// counted and the next one still runs; an error (the machine cannot be
/// driven) stops the test.
fn checks_on(machine: &mut Machine, checks: &mut Checks) -> anyhow::Result<()> {
    let install = machine.sh("dpkg -i /root/taskmaster.deb")?;
    checks.expect(
        "dpkg -i installs the package",
        install.status.success(),
        &install,
    );
    let enabled =
        machine.sh("systemctl is-enabled taskmasterd; systemctl is-active taskmasterd")?;
    checks.expect(
        "the package enables and starts taskmasterd.service",
        stdout(&enabled) == "enabled\nactive",
        &enabled,
    );
    let verify = machine.sh("systemd-analyze verify taskmasterd.service 2>&1")?;
    checks.expect(
        "systemd-analyze verify taskmasterd.service is clean",
        verify.status.success() && stdout(&verify).is_empty(),
        &verify,
    );
    exposure(machine, checks)?;

    // Start returns only after READY=1, which waits for the autostart
    // programs to leave STARTING (startsecs = 2 here).
    machine.write("/etc/taskmaster/conf.d/hello.toml", HELLO)?;
    let restart = machine.sh(
        "systemctl restart taskmasterd && taskmasterctl status hello; \
         systemctl show -p StatusText --value taskmasterd",
    )?;
    checks.expect(
        "systemctl restart returns once the programs are RUNNING (READY=1), with a STATUS line",
        stdout(&restart).contains("RUNNING") && stdout(&restart).ends_with("1 running"),
        &restart,
    );
    let broker = machine.sh(
        "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = taskmaster-brok ] && stat -c %U $p; done",
    )?;
    checks.expect(
        "the broker runs as user taskmaster",
        stdout(&broker) == "taskmaster",
        &broker,
    );

    // A new program in conf.d is seen by the watcher; an edit is applied
    // by `systemctl reload`.
    machine.write(
        "/etc/taskmaster/conf.d/second.toml",
        "[programs.second]\ncommand = \"/bin/sleep\"\nargs = [\"infinity\"]\nstartsecs = 0\n",
    )?;
    let watched = machine.wait_for("taskmasterctl status second", |o| {
        stdout(o).contains("RUNNING")
    });
    checks.expect_ok("a program dropped in conf.d starts by itself", &watched);
    let before = machine.sh("taskmasterctl pid hello")?;
    machine.write(
        "/etc/taskmaster/conf.d/hello.toml",
        &HELLO.replace("\"one\"", "\"two\""),
    )?;
    let reload = machine.sh(
        // The watcher may have seen the edit first: then the restart it
        // began is under way when the reload returns, and `wait` sees it
        // through.
        "systemctl reload taskmasterd && taskmasterctl wait hello --timeout 30s >/dev/null && \
         taskmasterctl pid hello && taskmasterctl tail hello",
    )?;
    checks.expect(
        "systemctl reload applies an edit (hello restarted with the new env)",
        reload.status.success()
            && stdout(&reload).contains("hello two")
            && !stdout(&reload).starts_with(&stdout(&before)),
        &reload,
    );

    // A mistake fails the reload and changes nothing that runs.
    let pid = machine.sh("taskmasterctl pid hello")?;
    machine.write(
        "/etc/taskmaster/conf.d/broken.toml",
        "[programs.broken]\ncommand = \"/bin/true\"\nstopsignl = \"TERM\"\n",
    )?;
    let bad = machine.sh(
        "systemctl reload taskmasterd; echo \"reload: $?\"; systemctl is-active taskmasterd; \
         taskmasterctl pid hello; journalctl -u taskmasterd --no-pager | grep -c 'broken.toml:3.*stopsignl'; \
         rm /etc/taskmaster/conf.d/broken.toml",
    )?;
    checks.expect(
        "a config error fails systemctl reload, is in the journal with its file and line, and changes nothing",
        stdout(&bad).starts_with(&format!("reload: 1\nactive\n{}\n", stdout(&pid)))
            && !stdout(&bad).ends_with("\n0"),
        &bad,
    );

    // Members of the group may use the socket; others get exit 4.
    let users = machine.sh(
        "useradd -m -G taskmaster alice && useradd -m bob && \
         setpriv --reuid alice --regid alice --init-groups taskmasterctl status; echo \"alice: $?\"; \
         setpriv --reuid bob --regid bob --init-groups taskmasterctl status 2>&1; echo \"bob: $?\"",
    )?;
    let text = stdout(&users);
    checks.expect(
        "a member of group taskmaster runs taskmasterctl status without sudo",
        text.contains("alice: 0"),
        &users,
    );
    checks.expect(
        "a user outside the group gets the permission message and exit 4",
        text.contains("bob: 4") && text.contains("Permission denied"),
        &users,
    );

    let journal = machine.sh(
        "journalctl -u taskmasterd -o export TASKMASTER_PROCESS=second | grep -a '^TASKMASTER_STATE='",
    )?;
    checks.expect(
        "journalctl -u taskmasterd has the activity log with TASKMASTER_PROCESS/TASKMASTER_STATE",
        stdout(&journal).contains("TASKMASTER_STATE=RUNNING"),
        &journal,
    );

    // Stop: the program gets its own stop signal, exits 0, nothing is left.
    let stop = machine.sh(
        "cg=$(systemctl show -p ControlGroup --value taskmasterd); systemctl stop taskmasterd; \
         cat /var/lib/hello-stopped; systemctl show -p Result --value taskmasterd; \
         cat /sys/fs/cgroup$cg/cgroup.procs 2>/dev/null | wc -l; \
         journalctl -u taskmasterd -n 30 --no-pager | grep -c 'stopped: hello (exit status 0)'",
    )?;
    let lines: Vec<String> = stdout(&stop).lines().map(str::to_owned).collect();
    checks.expect(
        "systemctl stop: hello gets USR1 and exits 0, the unit ends cleanly, no process left",
        lines.len() == 4
            && lines[0] == "got USR1"
            && lines[1] == "success"
            && lines[2] == "0"
            && lines[3] != "0",
        &stop,
    );

    // SIGKILL to every process of the unit, then start: one of each.
    let killed = machine.sh(
        "systemctl start taskmasterd && systemctl kill -s KILL taskmasterd; \
         systemctl start taskmasterd && taskmasterctl status",
    )?;
    let count = machine.sh("grep -l -a 'while :; do slee[p] 1' /proc/[0-9]*/cmdline | wc -l")?;
    checks.expect(
        "systemctl kill -s KILL then start: every program runs once, no orphan duplicate",
        killed.status.success() && stdout(&count) == "1",
        &count,
    );

    // A stopwaitsecs longer than the unit's stop timeout is not cut short:
    // STOPPING=1 extends it (EXTEND_TIMEOUT_USEC).
    machine.sh(
        "mkdir -p /run/systemd/system/taskmasterd.service.d && \
         printf '[Service]\\nTimeoutStopSec=2\\n' > /run/systemd/system/taskmasterd.service.d/short.conf && \
         systemctl daemon-reload",
    )?;
    machine.write(
        "/etc/taskmaster/conf.d/stubborn.toml",
        "[programs.stubborn]\ncommand = \"/bin/sh\"\nargs = [\"-c\", \"trap '' TERM; exec sleep infinity\"]\n\
         startsecs = 0\nstopwaitsecs = 5\n",
    )?;
    let long_stop = machine.sh(
        "systemctl reload taskmasterd && taskmasterctl status stubborn >/dev/null && \
         systemctl stop taskmasterd; systemctl show -p Result --value taskmasterd; \
         journalctl -u taskmasterd --no-pager | grep -c 'stopped: stubborn (terminated by SIGKILL)'; \
         rm -r /run/systemd/system/taskmasterd.service.d /etc/taskmaster/conf.d/stubborn.toml; \
         systemctl daemon-reload",
    )?;
    checks.expect(
        "a stopwaitsecs (5 s) longer than TimeoutStopSec (2 s) runs its course: taskmasterd extends the timeout",
        stdout(&long_stop) == "success\n1",
        &long_stop,
    );

    // The package's statedir keeps an operator's stop across a restart.
    let intent = machine.sh(
        "systemctl start taskmasterd && taskmasterctl stop hello >/dev/null && \
         systemctl restart taskmasterd && \
         taskmasterctl status hello; taskmasterctl start hello >/dev/null",
    )?;
    checks.expect(
        "an operator's stop outlives a restart of the service (statedir /var/lib/taskmaster)",
        stdout(&intent).contains("STOPPED") && stdout(&intent).contains("by operator"),
        &intent,
    );

    // The service comes back by itself after a reboot.
    machine.reboot()?;
    let after = machine.wait_for(
        "systemctl is-active taskmasterd && taskmasterctl status",
        |o| o.status.success(),
    );
    checks.expect_ok("after a reboot taskmasterd is up by itself", &after);

    let purge = machine.sh(
        "dpkg --purge taskmaster >/dev/null; systemctl cat taskmasterd >/dev/null 2>&1; echo \"unit: $?\"; \
         ls /run/taskmaster 2>&1 | head -1; ls -d /var/lib/taskmaster 2>&1 | head -1; find /etc/taskmaster -type f; getent passwd taskmaster | cut -d: -f1; \
         grep -l -a 'while :; do slee[p] 1' /proc/[0-9]*/cmdline | wc -l",
    )?;
    let text = stdout(&purge);
    checks.expect(
        "dpkg --purge: unit gone, programs stopped, only the operator's conf.d files left, the user kept",
        text.contains("unit: 1")
            && text.matches("No such file or directory").count() == 2
            && text.contains("/etc/taskmaster/conf.d/hello.toml")
            && !text.contains("taskmaster.conf.toml")
            && text.lines().any(|l| l == "taskmaster")
            && text.ends_with('0'),
        &purge,
    );
    Ok(())
}

/// `systemd-analyze security`'s exposure of the unit as shipped, and of the
/// same unit without its hardening lines, for the record; the check is that
/// hardening lowers it.
fn exposure(machine: &mut Machine, checks: &mut Checks) -> anyhow::Result<()> {
    let score = |unit: &str| -> anyhow::Result<(Option<f64>, Output)> {
        let output = machine.sh(&format!(
            "systemd-analyze security --no-pager {unit} | tail -1"
        ))?;
        // "→ Overall exposure level for taskmasterd.service: 5.4 MEDIUM 😐"
        let value = stdout(&output)
            .split(": ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok());
        Ok((value, output))
    };
    machine.sh(
        "sed -n '1,/^# Hardening/p;/^\\[Install\\]/,$p' /usr/lib/systemd/system/taskmasterd.service \
         > /run/systemd/system/taskmaster-unhardened.service && systemctl daemon-reload",
    )?;
    let (plain, _) = score("taskmaster-unhardened.service")?;
    machine
        .sh("rm /run/systemd/system/taskmaster-unhardened.service && systemctl daemon-reload")?;
    let (hardened, output) = score("taskmasterd.service")?;
    eprintln!(
        "systemd-test: systemd-analyze security exposure: {} without hardening, {} as shipped",
        plain.map_or("?".into(), |s| s.to_string()),
        hardened.map_or("?".into(), |s| s.to_string())
    );
    checks.expect(
        "the unit's hardening lowers systemd-analyze security's exposure",
        matches!((plain, hardened), (Some(p), Some(h)) if h < p),
        &output,
    );
    Ok(())
}

#[derive(Default)]
struct Checks {
    passed: usize,
    failed: Vec<String>,
}

impl Checks {
    fn expect(&mut self, what: &str, ok: bool, output: &Output) {
        if ok {
            self.passed += 1;
            println!("ok      {what}");
        } else {
            self.failed.push(what.to_owned());
            println!(
                "FAILED  {what}\n  status: {}\n  stdout: {}\n  stderr: {}",
                output.status,
                String::from_utf8_lossy(&output.stdout).trim_end(),
                String::from_utf8_lossy(&output.stderr).trim_end()
            );
        }
    }

    fn expect_ok(&mut self, what: &str, result: &Result<Output, Output>) {
        match result {
            Ok(output) => self.expect(what, true, output),
            Err(output) => self.expect(what, false, output),
        }
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The bookworm root file system, made once: mmdebstrap writes beside it
/// and it is renamed in when complete, so that an interrupted run leaves no
/// half-made cache.
fn base_rootfs(work: &Path) -> anyhow::Result<PathBuf> {
    let base = work.join("bookworm");
    // The package list it was made with: a changed list makes it again.
    let stamp = base.join("etc/taskmaster-test-include");
    if fs::read_to_string(&stamp).is_ok_and(|made| made == INCLUDE) {
        return Ok(base);
    }
    fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let partial = work.join("bookworm.partial");
    if partial.exists() {
        fs::remove_dir_all(&partial)?;
    }
    let status = Command::new("mmdebstrap")
        .args([
            "--variant=minbase",
            &format!("--include={INCLUDE}"),
            "bookworm",
        ])
        .arg(&partial)
        .arg(mirror())
        .stdin(Stdio::null())
        .status()
        .context("running mmdebstrap (install Debian's mmdebstrap package)")?;
    if !status.success() {
        bail!("mmdebstrap bookworm {} failed: {status}", partial.display());
    }
    if base.exists() {
        fs::remove_dir_all(&base)?;
    }
    fs::write(partial.join("etc/taskmaster-test-include"), INCLUDE)?;
    fs::rename(&partial, &base)?;
    Ok(base)
}

/// The Debian mirror this machine's apt uses, so that the image comes from
/// the same place as the host's packages.
fn mirror() -> String {
    let sources = fs::read_to_string("/etc/apt/sources.list.d/debian.sources").unwrap_or_default();
    sources
        .lines()
        .filter_map(|line| line.strip_prefix("URIs:"))
        .map(str::trim)
        .find(|uri| !uri.contains("security"))
        .unwrap_or("http://deb.debian.org/debian")
        .to_owned()
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    if to.exists() {
        fs::remove_dir_all(to).with_context(|| format!("removing {}", to.display()))?;
    }
    let status = Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(from)
        .arg(to)
        .status()
        .context("running cp")?;
    if !status.success() {
        bail!("cp -a {} {} failed: {status}", from.display(), to.display());
    }
    Ok(())
}

/// A booted container and the pid of its init, through which commands
/// enter it.
struct Machine {
    dir: PathBuf,
    console: PathBuf,
    nspawn: Child,
    init: u32,
}

impl Machine {
    fn boot(dir: &Path, console: &Path) -> anyhow::Result<Machine> {
        let log = fs::File::create(console)?;
        let nspawn = Command::new("systemd-nspawn")
            .args([
                "--register=no",
                "--keep-unit",
                "--console=read-only",
                "-q",
                "-D",
            ])
            .arg(dir)
            .arg("-b")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("running systemd-nspawn (install Debian's systemd-container package)")?;
        let mut machine = Machine {
            dir: dir.to_path_buf(),
            console: console.to_path_buf(),
            nspawn,
            init: 0,
        };
        machine.init = machine.find_init()?;
        let running = machine.wait_for("systemctl is-system-running --wait", |o| {
            matches!(stdout(o).as_str(), "running" | "degraded")
        });
        match running {
            Ok(_) => Ok(machine),
            Err(output) => {
                machine.power_off();
                bail!(
                    "the container did not finish booting: {}; console in {}",
                    stdout(&output),
                    machine.console.display()
                )
            }
        }
    }

    /// The container's PID 1: the child of systemd-nspawn in another PID
    /// namespace than ours (before it, nspawn's short-lived helper child
    /// is in ours).
    fn find_init(&mut self) -> anyhow::Result<u32> {
        let pid = self.nspawn.id();
        let ours = fs::read_link("/proc/self/ns/pid")?;
        let deadline = Instant::now() + WAIT;
        loop {
            let children =
                fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
            let init = children.split_whitespace().find(|child| {
                fs::read_link(format!("/proc/{child}/ns/pid")).is_ok_and(|ns| ns != ours)
            });
            if let Some(init) = init {
                return Ok(init.parse()?);
            }
            if let Some(status) = self.nspawn.try_wait()? {
                bail!(
                    "systemd-nspawn exited ({status}) before booting; console in {}",
                    self.console.display()
                );
            }
            if Instant::now() > deadline {
                bail!("systemd-nspawn started no container within {WAIT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `script` with /bin/sh inside the container.
    fn sh(&self, script: &str) -> anyhow::Result<Output> {
        Command::new("nsenter")
            // -r -w: the container's root and working directory, not ours.
            .args([
                "-t",
                &self.init.to_string(),
                "-a",
                "-r",
                "-w",
                "/bin/sh",
                "-c",
                script,
            ])
            .env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .context("running nsenter")
    }

    /// Writes a root-owned file inside the container.
    fn write(&self, path: &str, content: &str) -> anyhow::Result<()> {
        let relative = path.trim_start_matches('/');
        let host = self.dir.join(relative);
        let partial = host.with_extension("partial");
        fs::write(&partial, content)?;
        fs::rename(&partial, &host).with_context(|| format!("writing {}", host.display()))
    }

    /// Runs `script` until `done` accepts its output, at most [`WAIT`].
    fn wait_for(&self, script: &str, done: impl Fn(&Output) -> bool) -> Result<Output, Output> {
        let deadline = Instant::now() + WAIT;
        loop {
            let output = self.sh(script).map_err(|e| Output {
                status: std::os::unix::process::ExitStatusExt::from_raw(1 << 8),
                stdout: Vec::new(),
                stderr: e.to_string().into_bytes(),
            })?;
            if done(&output) {
                return Ok(output);
            }
            if Instant::now() > deadline {
                return Err(output);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Powers the container off and boots it again.
    fn reboot(&mut self) -> anyhow::Result<()> {
        self.power_off();
        *self = Machine::boot(&self.dir.clone(), &self.console.clone())?;
        Ok(())
    }

    /// `systemctl poweroff`, waiting for systemd-nspawn to exit (killed
    /// if it has not within [`WAIT`]).
    fn power_off(&mut self) {
        let _ = self.sh("systemctl poweroff");
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.nspawn.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.nspawn.kill();
        let _ = self.nspawn.wait();
    }
}
