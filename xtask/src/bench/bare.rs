//! The machine's limit: what the same work costs with no supervisor at all,
//! a plain loop of `std::process::Command` spawns, kills and waits; for the
//! client's rows, a process that does nothing and a bare socket round trip.

use super::daemon::Workdir;
use super::metrics::{self, Spread};
use anyhow::{Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
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

/// `runs` runs of `/bin/true`, timed as the clients are: a process start
/// that does nothing, the least any command-line client costs.
pub fn process_start(runs: usize) -> Result<Spread> {
    metrics::command_runs(|| Command::new("/bin/true"), runs, |s| s.success())
}

/// The least a status client can cost: each sample is a run of `/bin/true`
/// plus, from this process, a connection to a Unix socket, `request` sent
/// and `reply` read back to its newline, from a server that has the reply
/// ready (no daemon work, no parsing, no formatting).
pub fn client_round_trip(request: &[u8], reply: &[u8], runs: usize) -> Result<Spread> {
    let dir = Workdir::new("rt")?;
    let socket = dir.path().join("rt.sock");
    let listener =
        UnixListener::bind(&socket).with_context(|| format!("binding {}", socket.display()))?;
    let served = reply.to_vec();
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        for _ in 0..runs {
            let (stream, _) = listener.accept()?;
            let mut line = Vec::new();
            BufReader::new(&stream).read_until(b'\n', &mut line)?;
            (&stream).write_all(&served)?;
        }
        Ok(())
    });
    let mut samples = Vec::with_capacity(runs);
    let mut got = Vec::with_capacity(reply.len());
    for _ in 0..runs {
        let start = std::time::Instant::now();
        Command::new("/bin/true")
            .output()
            .context("running /bin/true")?;
        let mut stream = UnixStream::connect(&socket).context("connecting to the reply server")?;
        stream.write_all(request).context("sending the request")?;
        got.clear();
        stream.read_to_end(&mut got).context("reading the reply")?;
        samples.push(start.elapsed());
        anyhow::ensure!(
            got == reply,
            "the reply server sent {} bytes, not {}",
            got.len(),
            reply.len()
        );
    }
    server
        .join()
        .map_err(|_| anyhow::anyhow!("the reply server panicked"))?
        .context("serving the replies")?;
    Ok(Spread::of(samples))
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

    #[test]
    fn round_trip_reads_the_whole_reply() {
        let reply = vec![b'x'; 300_000]
            .into_iter()
            .chain([b'\n'])
            .collect::<Vec<_>>();
        let spread = client_round_trip(b"{}\n", &reply, 3).unwrap();
        assert!(spread.worst >= spread.median && spread.median > Duration::ZERO);
        assert!(process_start(2).unwrap().median > Duration::ZERO);
    }
}
