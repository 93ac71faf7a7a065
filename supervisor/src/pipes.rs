//! A program's standard streams: the pipes taskmasterd creates when it
//! spawns a program, split into the ends the child gets and the ends the
//! broker reads and writes (which taskmasterd also keeps until the program
//! is reaped, so that a broker restart loses neither the pipes nor what is
//! buffered in them).

use crate::error::Error;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::os::fd::OwnedFd;
use taskmaster_ipc::Stream;

/// The child's ends, placed on descriptors 0, 1 and 2 between fork and exec.
pub struct ChildEnds {
    /// The read end of the stdin pipe.
    pub stdin: OwnedFd,
    /// The write end of the stdout pipe.
    pub stdout: OwnedFd,
    /// The write end of the stderr pipe; `None` when stderr goes to the
    /// stdout pipe (`redirect_stderr`).
    pub stderr: Option<OwnedFd>,
}

/// The broker's ends of one program's pipes, in the order of `streams`:
/// the write end of stdin, the read ends of stdout and stderr. All are
/// close-on-exec and non-blocking (the broker uses async I/O on them).
pub struct Pipes {
    streams: Vec<Stream>,
    fds: Vec<OwnedFd>,
}

impl Pipes {
    /// Forgets (closes) the stdin write end.
    pub fn close_stdin(&mut self) {
        if let Some(at) = self.streams.iter().position(|&s| s == Stream::Stdin) {
            self.streams.remove(at);
            self.fds.remove(at);
        }
    }

    /// Creates the pipes of one program: three, or two when
    /// `redirect_stderr`. The error is the message for `SpawnFailed`.
    pub fn create(redirect_stderr: bool) -> Result<(ChildEnds, Pipes), Error> {
        let (stdin, stdin_writer) = pipe("stdin")?;
        let (stdout_reader, stdout) = pipe("stdout")?;
        let mut streams = vec![Stream::Stdin, Stream::Stdout];
        let mut fds = vec![stdin_writer, stdout_reader];
        let stderr = if redirect_stderr {
            None
        } else {
            let (stderr_reader, stderr) = pipe("stderr")?;
            streams.push(Stream::Stderr);
            fds.push(stderr_reader);
            Some(stderr)
        };
        for fd in &fds {
            // O_NONBLOCK is per open file description: the child's ends,
            // the other side of each pipe, stay blocking.
            fcntl(fd, FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
                .map_err(|errno| Error::errno("cannot make a pipe non-blocking", errno))?;
        }
        let ends = ChildEnds {
            stdin,
            stdout,
            stderr,
        };
        Ok((ends, Pipes { streams, fds }))
    }

    pub fn streams(&self) -> &[Stream] {
        &self.streams
    }

    /// Copies of the broker's ends for one packet (the kernel duplicates
    /// them again into the broker); ours stay here until the program is
    /// reaped.
    pub fn duplicate(&self) -> Result<Vec<OwnedFd>, Error> {
        self.fds
            .iter()
            .map(|fd| fd.try_clone())
            .collect::<Result<_, _>>()
            .map_err(|e| Error::io("cannot duplicate a pipe", e))
    }
}

/// A close-on-exec pipe: `(read end, write end)`.
fn pipe(stream: &str) -> Result<(OwnedFd, OwnedFd), Error> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|errno| {
        Error::new(format!(
            "cannot create the {stream} pipe: {}{}",
            errno.desc(),
            if errno == nix::errno::Errno::EMFILE {
                " (raise the open files limit: ulimit -Hn)"
            } else {
                ""
            }
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::FdFlag;
    use std::os::fd::AsFd;

    fn is_nonblocking(fd: &OwnedFd) -> bool {
        let flags = fcntl(fd, FcntlArg::F_GETFL).expect("F_GETFL");
        OFlag::from_bits_truncate(flags).contains(OFlag::O_NONBLOCK)
    }

    fn is_cloexec(fd: &OwnedFd) -> bool {
        let flags = fcntl(fd, FcntlArg::F_GETFD).expect("F_GETFD");
        FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC)
    }

    #[test]
    fn three_pipes_in_stream_order() {
        let (ends, pipes) = Pipes::create(false).expect("pipes");
        assert_eq!(
            pipes.streams(),
            [Stream::Stdin, Stream::Stdout, Stream::Stderr]
        );
        let stderr = ends.stderr.as_ref().expect("a stderr pipe");
        let [stdin, stdout, stderr_reader] = &pipes.fds[..] else {
            panic!("three broker ends");
        };
        nix::unistd::write(stdin, b"in").expect("write stdin");
        nix::unistd::write(&ends.stdout, b"out").expect("write stdout");
        nix::unistd::write(stderr, b"err").expect("write stderr");
        let read = |fd: &OwnedFd| {
            let mut buffer = [0u8; 8];
            let n = nix::unistd::read(fd.as_fd(), &mut buffer).expect("read");
            buffer[..n].to_vec()
        };
        assert_eq!(read(&ends.stdin), b"in");
        assert_eq!(read(stdout), b"out");
        assert_eq!(read(stderr_reader), b"err");
    }

    #[test]
    fn redirected_stderr_has_no_pipe() {
        let (ends, pipes) = Pipes::create(true).expect("pipes");
        assert!(ends.stderr.is_none());
        assert_eq!(pipes.streams(), [Stream::Stdin, Stream::Stdout]);
        assert_eq!(pipes.fds.len(), 2);
    }

    #[test]
    fn broker_ends_are_nonblocking_and_child_ends_are_not() {
        let (ends, pipes) = Pipes::create(false).expect("pipes");
        let child = [&ends.stdin, &ends.stdout, ends.stderr.as_ref().unwrap()];
        assert!(pipes.fds.iter().all(is_nonblocking));
        assert!(!child.iter().any(|fd| is_nonblocking(fd)));
        assert!(pipes.fds.iter().all(is_cloexec));
        assert!(child.iter().all(|fd| is_cloexec(fd)));
        let copies = pipes.duplicate().expect("dup");
        assert_eq!(copies.len(), 3);
        assert!(copies.iter().all(is_cloexec));
        // A reader that finds nothing does not block.
        let mut buffer = [0u8; 1];
        assert_eq!(
            nix::unistd::read(pipes.fds[1].as_fd(), &mut buffer),
            Err(nix::errno::Errno::EAGAIN)
        );
    }
}
