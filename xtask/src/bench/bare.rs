//! The machine's limit: what the same work costs with no supervisor at all,
//! a plain loop of `std::process::Command` spawns, kills and waits.

use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `sleep 1000000` children, killed and reaped on drop whatever happens.
#[derive(Default)]
struct Sleeps(Vec<Child>);

impl Sleeps {
    fn spawn_one(&mut self) -> Result<()> {
        let child = Command::new("sleep")
            .arg("1000000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("spawning sleep")?;
        self.0.push(child);
        Ok(())
    }

    /// SIGTERM to every child, then wait for each.
    fn terminate(&mut self) -> Result<()> {
        for child in &self.0 {
            kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM)
                .context("sending SIGTERM to sleep")?;
        }
        for mut child in self.0.drain(..) {
            child.wait().context("waiting for sleep")?;
        }
        Ok(())
    }
}

impl Drop for Sleeps {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Time to spawn `n` sleeps one after the other (spawn returns once exec
/// has succeeded).
pub fn startup(n: usize) -> Result<Duration> {
    let mut sleeps = Sleeps::default();
    let start = Instant::now();
    for _ in 0..n {
        sleeps.spawn_one()?;
    }
    let took = start.elapsed();
    sleeps.terminate()?;
    Ok(took)
}

/// Time to spawn one sleep: what a restart costs at the least.
pub fn respawn() -> Result<Duration> {
    let mut sleeps = Sleeps::default();
    let start = Instant::now();
    sleeps.spawn_one()?;
    let took = start.elapsed();
    sleeps.terminate()?;
    Ok(took)
}

/// Time to SIGTERM `n` running sleeps and reap them all.
pub fn shutdown(n: usize) -> Result<Duration> {
    let mut sleeps = Sleeps::default();
    for _ in 0..n {
        sleeps.spawn_one()?;
    }
    let start = Instant::now();
    sleeps.terminate()?;
    Ok(start.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_leave_no_child() {
        assert!(startup(5).unwrap() > Duration::ZERO);
        assert!(shutdown(5).unwrap() > Duration::ZERO);
        assert!(respawn().unwrap() > Duration::ZERO);
        let me = std::process::id() as i32;
        let sleeps = super::super::procfs::children(me)
            .into_iter()
            .filter(|(_, comm)| comm == "sleep")
            .count();
        assert_eq!(sleeps, 0, "a sleep outlived the bare loop");
    }
}
