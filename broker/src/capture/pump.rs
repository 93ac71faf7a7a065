//! The task behind a [`Capture`](super::Capture): waits for the pipe to be
//! readable, then moves what it holds to the log file, by `splice(2)` when
//! no byte needs looking at (no timestamps, rotation boundary far away),
//! else through a 64 KiB buffer.

use super::rotate::{LogFile, SPLICE_CHUNK};
use super::safe_open;
use super::stamp::Stamper;
use super::{LogTarget, Notice, Origin, Requests, Shared};
use crate::describe::timestamp;
use nix::errno::Errno;
use nix::fcntl::{fcntl, splice, tee, FcntlArg, OFlag, SpliceFFlags};
use std::cell::RefCell;
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use taskmaster_ipc::Stream;
use tokio::io::unix::AsyncFd;
use tokio::sync::mpsc::UnboundedSender;

/// The buffer of the read/write path.
const READ_BUF: usize = 64 << 10;
/// Transfers per wake-up before letting other tasks run.
const BURST: usize = 16;
/// A transfer this big means the pipe (64 KiB by default) was at least
/// half full: the program writes faster than one wake-up per write, and its
/// pipe grows to [`SPLICE_CHUNK`].
const FAST_WRITER: usize = 32 << 10;
/// The most one splice to the file moves: see [`Pump::splice_through`].
const STAGED_CHUNK: usize = SPLICE_CHUNK / 4;

thread_local! {
    /// One read buffer per runtime thread, shared by every pump (a pump
    /// never holds it across an await), so that a thousand programs do not
    /// cost a thousand buffers.
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUF]);
    /// The staging pipe of the copy path and of peeks (read end, write
    /// end), one per runtime thread for the same reason: every use empties
    /// it before returning. Made on first use.
    static STAGING: RefCell<Option<(OwnedFd, OwnedFd)>> = const { RefCell::new(None) };
    /// Where spliced bytes are dropped from a program's pipe once written.
    static DEV_NULL: Option<File> = File::options().write(true).open("/dev/null").ok();
}

/// What one wake-up did.
enum Drained {
    /// The pipe is empty: wait for readiness again.
    Empty,
    /// There may be more: yield, then go on.
    More,
    /// Every writer is gone (or the pipe broke): the pump ends.
    End,
}

pub(super) struct Pump {
    process: String,
    stream: Stream,
    target: LogTarget,
    shared: Arc<Shared>,
    notices: UnboundedSender<Notice>,
    /// Boxed: a pump lives as long as its program, most programs write
    /// little or nothing, and a pump task without the file inline fits in
    /// 640 bytes instead of 768.
    file: Option<Box<LogFile>>,
    /// The error now dropping output, as last reported.
    error: Option<String>,
    /// Cleared when the file system refuses `splice(2)` (`EINVAL`).
    splice_works: bool,
    stamper: Stamper,
    /// Output shared with other programs (the daemon's own stdout or
    /// stderr) is written a whole line at a time, so that lines from two
    /// programs never mix: the end of a line not yet complete waits here.
    partial_line: Vec<u8>,
    /// Whether the pipe was grown for a fast writer (or could not be).
    grown: bool,
}

impl Pump {
    pub fn new(
        process: String,
        stream: Stream,
        target: LogTarget,
        shared: Arc<Shared>,
        notices: UnboundedSender<Notice>,
        origin: Origin,
    ) -> Pump {
        let mut pump = Pump {
            process,
            stream,
            target,
            shared,
            notices,
            file: None,
            error: None,
            splice_works: true,
            stamper: Stamper::default(),
            partial_line: Vec::new(),
            grown: false,
        };
        // A new process's file is created with its first output: starting
        // a thousand programs then costs no file creation, and a silent
        // program leaves no empty file. An adopted one may be mid-line,
        // which its file tells.
        if origin == Origin::Adopted {
            pump.open();
            let mid_line = pump.file.as_ref().is_some_and(|f| !f.ends_a_line());
            pump.stamper = Stamper::new(!mid_line);
        }
        pump
    }

    /// The pump's task. Not an `async fn`: that would keep a second copy
    /// of the pump (its argument, moved into a local) for the task's whole
    /// life, while an async block uses what it captured in place: a
    /// thousand programs' two pumps each take 256 bytes less.
    #[allow(clippy::manual_async_fn)] // on purpose, as said above
    pub fn run(mut self, pipe: OwnedFd) -> impl Future<Output = ()> {
        async move {
            // `AsyncFd::new` is deprecated because an arbitrary `AsRawFd` may
            // close or swap its descriptor behind the reactor's back; an
            // `OwnedFd` owned by the AsyncFd cannot, so it is sound here.
            #[allow(deprecated)]
            let pipe = match AsyncFd::new(pipe) {
                Ok(pipe) => pipe,
                Err(e) => {
                    self.fail(format!("cannot watch the output pipe: {e}; output is lost"));
                    return;
                }
            };
            let shared = Arc::clone(&self.shared);
            loop {
                tokio::select! {
                    ready = pipe.readable() => {
                        let Ok(mut guard) = ready else { return };
                        match self.drain(pipe.get_ref().as_fd()) {
                            Drained::Empty => guard.clear_ready(),
                            Drained::More => tokio::task::yield_now().await,
                            Drained::End => return self.finish_line(),
                        }
                    }
                    () = shared.wake.notified() => self.apply_requests(),
                }
            }
        }
    }

    fn drain(&mut self, pipe: BorrowedFd<'_>) -> Drained {
        for _ in 0..BURST {
            match self.transfer(pipe) {
                Ok(0) => return Drained::End,
                Ok(moved) => self.grow_for(pipe, moved),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Drained::Empty,
                Err(e) => {
                    self.fail(format!("cannot read the output pipe: {e}; output is lost"));
                    return Drained::End;
                }
            }
        }
        Drained::More
    }

    /// A bigger pipe means fewer wake-ups and splices for a fast writer.
    /// Only a program that filled half its pipe gets one: a 1 MiB pipe
    /// costs the kernel 10 KiB of bookkeeping whether it is used or not.
    /// The default 64 KiB is kept if the system refuses, as it does once
    /// root's pipes (taskmasterd makes them) pass `fs.pipe-user-pages-soft`,
    /// about 1000 programs with the default limit.
    fn grow_for(&mut self, pipe: BorrowedFd<'_>, moved: usize) {
        if moved >= FAST_WRITER && !self.grown {
            self.grown = true;
            let _ = fcntl(pipe, FcntlArg::F_SETPIPE_SZ(SPLICE_CHUNK as i32));
        }
    }

    /// Moves one chunk; `Ok(0)` at the end of the pipe, `EAGAIN` when it
    /// is empty.
    fn transfer(&mut self, pipe: BorrowedFd<'_>) -> nix::Result<usize> {
        self.apply_requests();
        if self.file.is_none() {
            // The end of a pipe that carried nothing creates no file: a
            // silent program leaves none, and a thousand programs stopping
            // cost no file creation (it stalled shutdowns for 100s of ms).
            if self.peek(pipe)? == 0 {
                return Ok(0);
            }
            // After an error, each new chunk tries again: no timer needed.
            self.open();
        }
        if let Some(len) = self.splice_len() {
            match with_staging(|staged, staging| self.splice_through(pipe, staged, staging, len)) {
                Ok(moved) => return Ok(moved),
                Err(Errno::EAGAIN) => return Err(Errno::EAGAIN),
                Err(Errno::EINVAL) => self.splice_works = false,
                // What was not written is still in the pipe: the copy
                // below reads it.
                Err(e) => self.write_failed(io::Error::from(e)),
            }
        }
        self.copy(pipe)
    }

    /// Moves up to `len` bytes from the program's `pipe` to the file
    /// without copying them through this process: duplicated into the
    /// staging pipe with `tee(2)`, spliced from there into the file, then
    /// dropped from `pipe`. The program's pipe is locked only for the tee
    /// and the drop, not while the file is written, so the program goes on
    /// writing meanwhile: splicing straight from its pipe held the pipe's
    /// lock through every file write, and on two cores the program and the
    /// pump took turns (`dd` to a rotating log: 750 MiB/s, supervisord's
    /// read and write 1200). And bytes leave the program's pipe only once
    /// they are in the file, as on the copy path.
    fn splice_through(
        &mut self,
        pipe: BorrowedFd<'_>,
        staged: BorrowedFd<'_>,
        staging: BorrowedFd<'_>,
        len: usize,
    ) -> nix::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Err(Errno::EBADF);
        };
        let teed = tee(pipe, staging, len, SpliceFFlags::SPLICE_F_NONBLOCK)?;
        let mut written = 0;
        let mut failure = None;
        while written < teed {
            match file.splice_from(staged, teed - written) {
                Ok(0) => failure = Some(Errno::EIO),
                Ok(moved) => written += moved,
                Err(Errno::EINTR) => continue,
                Err(e) => failure = Some(e),
            }
            if failure.is_some() {
                break;
            }
        }
        self.shared
            .written
            .fetch_add(written as u64, Ordering::Relaxed);
        drop_from(pipe, written)?;
        // The staging pipe is dropped with what it still holds, which is
        // still in the program's pipe too.
        failure.map_or(Ok(teed), Err)
    }

    /// How much to splice, or `None` when the bytes must be looked at or
    /// the file is failing (the copy path retries and counts drops).
    fn splice_len(&self) -> Option<usize> {
        if self.error.is_some()
            || !self.splice_works
            || self.target.timestamps
            || self.shared_output()
        {
            return None;
        }
        self.file.as_ref()?.splice_room()
    }

    /// Moves one chunk through the buffer. The bytes are first duplicated
    /// into the staging pipe with `tee(2)` and taken off the program's pipe
    /// only once they are written, so that a broker killed mid-copy leaves
    /// them to the next broker: a chunk may be written twice then, but is
    /// never lost.
    fn copy(&mut self, pipe: BorrowedFd<'_>) -> nix::Result<usize> {
        with_staging(|staged, staging| self.copy_through(pipe, staged, staging))
    }

    /// How many bytes wait in the pipe (at least one, or 0 at its end),
    /// leaving them there: one byte is duplicated into the staging pipe with
    /// `tee(2)` and dropped from it. `EAGAIN` when the pipe is empty but
    /// still open.
    fn peek(&mut self, pipe: BorrowedFd<'_>) -> nix::Result<usize> {
        with_staging(|staged, staging| {
            let n = tee(pipe, staging, 1, SpliceFFlags::SPLICE_F_NONBLOCK)?;
            let mut byte = [0u8; 1];
            read_exactly(staged, &mut byte[..n])
        })
    }

    fn copy_through(
        &mut self,
        pipe: BorrowedFd<'_>,
        staged: BorrowedFd<'_>,
        staging: BorrowedFd<'_>,
    ) -> nix::Result<usize> {
        let teed = tee(pipe, staging, READ_BUF, SpliceFFlags::SPLICE_F_NONBLOCK)?;
        if teed == 0 {
            return Ok(0);
        }
        BUF.with_borrow_mut(|buf| {
            let got = read_exactly(staged, &mut buf[..teed])?;
            self.output(&buf[..got]);
            // Written (or counted as dropped): now it may leave the pipe.
            read_exactly(pipe, &mut buf[..teed])?;
            Ok(teed)
        })
    }

    fn output(&mut self, data: &[u8]) {
        if !self.target.timestamps {
            self.emit(data);
            return;
        }
        let stamp = format!("{} ", timestamp());
        let mut stamper = std::mem::take(&mut self.stamper);
        stamper.stamp(data, stamp.as_bytes(), |piece| self.emit(piece));
        self.stamper = stamper;
    }

    /// Whether the output goes where other programs' does too.
    fn shared_output(&self) -> bool {
        safe_open::is_passthrough(&self.target.path)
    }

    fn emit(&mut self, data: &[u8]) {
        if !self.shared_output() {
            return self.write_out(data);
        }
        self.partial_line.extend_from_slice(data);
        let Some(last) = self.partial_line.iter().rposition(|&b| b == b'\n') else {
            return;
        };
        let complete: Vec<u8> = self.partial_line.drain(..=last).collect();
        let lines = self.prefixed(&complete);
        self.write_out(&lines);
    }

    /// The end of the pipe: a last line without its newline goes out as it
    /// is.
    fn finish_line(&mut self) {
        if !self.partial_line.is_empty() {
            let rest = std::mem::take(&mut self.partial_line);
            let line = self.prefixed(&rest);
            self.write_out(&line);
        }
    }

    /// `lines` (whole lines, but perhaps the last) with the target's
    /// prefix before each.
    fn prefixed(&self, lines: &[u8]) -> Vec<u8> {
        let Some(prefix) = &self.target.prefix else {
            return lines.to_vec();
        };
        let mut out = Vec::with_capacity(lines.len() + prefix.len() * 4);
        for line in lines.split_inclusive(|&b| b == b'\n') {
            out.extend_from_slice(prefix.as_bytes());
            out.extend_from_slice(line);
        }
        out
    }

    fn write_out(&mut self, data: &[u8]) {
        let Some(file) = self.file.as_mut() else {
            self.count_dropped(data.len());
            return;
        };
        match file.write(data) {
            Ok(()) => {
                let rotate_error = file.take_rotate_error();
                self.shared
                    .written
                    .fetch_add(data.len() as u64, Ordering::Relaxed);
                self.recovered();
                if let Some(e) = rotate_error {
                    let path = self.target.path.display();
                    let message = format!(
                        "cannot rotate {path}: {e}; writing on to {path} without rotating \
                         until it is reopened"
                    );
                    self.send_error(message);
                }
            }
            Err(failure) => {
                self.shared
                    .written
                    .fetch_add(failure.written as u64, Ordering::Relaxed);
                self.count_dropped(data.len() - failure.written);
                self.write_failed(failure.error);
            }
        }
    }

    fn count_dropped(&self, bytes: usize) {
        self.shared
            .dropped
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn open(&mut self) {
        let target = &self.target;
        match LogFile::open(&target.path, target.maxbytes, target.backups) {
            Ok(file) => self.file = Some(Box::new(file)),
            Err(e) => {
                let message = format!(
                    "cannot open {}: {e}; output is dropped until it can be written",
                    target.path.display()
                );
                self.fail(message);
            }
        }
    }

    fn write_failed(&mut self, error: io::Error) {
        self.file = None;
        let message = format!(
            "cannot write {}: {error}; output is dropped until it can be written",
            self.target.path.display()
        );
        self.fail(message);
    }

    fn apply_requests(&mut self) {
        let Some(Requests {
            retarget,
            mut reopen,
            cleared,
        }) = self.shared.take_requests()
        else {
            return;
        };
        if let Some(target) = retarget {
            reopen |= target.path != self.target.path;
            if let Some(file) = self.file.as_mut() {
                file.set_limits(target.maxbytes, target.backups);
            }
            self.target = *target;
        }
        if reopen {
            self.file = None;
            self.open();
        } else if cleared {
            if let Some(file) = self.file.as_mut() {
                file.refresh_size();
            }
        }
    }

    /// Reports `message` unless it is the error already reported.
    fn fail(&mut self, message: String) {
        if self.error.as_ref() == Some(&message) {
            return;
        }
        self.shared.set_error(Some(message.clone()));
        self.error = Some(message.clone());
        self.send_error(message);
    }

    fn send_error(&self, message: String) {
        // A closed channel means the broker is going away: nobody to tell.
        let _ = self.notices.send(Notice::Error {
            process: self.process.clone(),
            stream: self.stream,
            message,
        });
    }

    fn recovered(&mut self) {
        if self.error.take().is_some() {
            self.shared.set_error(None);
            let _ = self.notices.send(Notice::Recovered {
                process: self.process.clone(),
                stream: self.stream,
            });
        }
    }
}

/// Runs `work` with this thread's staging pipe `(read end, write end)`.
/// The pipe is kept when `work` succeeded or found the program's pipe
/// empty (`EAGAIN`, from its first `tee`), both of which leave it empty;
/// after any other failure it is closed with whatever it may still hold,
/// so that no byte of one program can reach another's log.
fn with_staging<T>(
    work: impl FnOnce(BorrowedFd<'_>, BorrowedFd<'_>) -> nix::Result<T>,
) -> nix::Result<T> {
    let (staged, staging) = match STAGING.take() {
        Some(pair) => pair,
        None => {
            let (staged, staging) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
            // A quarter of a fast writer's pipe: the writer fills the rest
            // while a chunk is written. The default 64 KiB if refused.
            let _ = fcntl(&staging, FcntlArg::F_SETPIPE_SZ(STAGED_CHUNK as i32));
            (staged, staging)
        }
    };
    let result = work(staged.as_fd(), staging.as_fd());
    if matches!(result, Ok(_) | Err(Errno::EAGAIN)) {
        STAGING.set(Some((staged, staging)));
    }
    result
}

/// Takes `len` bytes that are known to be in `pipe` out of it, into
/// /dev/null (no copy), or through the read buffer if that cannot be
/// opened.
fn drop_from(pipe: BorrowedFd<'_>, len: usize) -> nix::Result<()> {
    let mut left = len;
    while left > 0 {
        let dropped = DEV_NULL.with(|null| match null {
            Some(null) => splice(
                pipe,
                None,
                null,
                None,
                left,
                SpliceFFlags::SPLICE_F_NONBLOCK,
            ),
            None => {
                BUF.with_borrow_mut(|buf| nix::unistd::read(pipe, &mut buf[..left.min(READ_BUF)]))
            }
        });
        match dropped {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => left -= n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads until `buf` is full: the bytes are known to be in the pipe.
fn read_exactly(fd: BorrowedFd<'_>, buf: &mut [u8]) -> nix::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match nix::unistd::read(fd, &mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
