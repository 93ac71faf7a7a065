//! `tail` and `maintail`: the last lines of a log file the core resolved,
//! then (with `follow`) what is appended to it, woken by the [`Hub`] (one
//! inotify instance for every follower, watching the files' directories)
//! and read from the last offset. Runs in the client's own task; file
//! reads run on the blocking pool, so neither the core nor other clients
//! ever wait for a reader or a disk.
//!
//! The file itself is the buffer: a reader that falls more than
//! [`MAX_BACKLOG`] behind skips ahead and is told `{"missed_bytes": N}`, so
//! memory stays bounded and the program writing the file is never slowed.

use crate::framing::{encode, send_line, Lines};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use taskmaster_protocol::{Command, Reading, Response, TailChunk, TailContent};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{FramedWrite, LinesCodec};

/// The most of a file's end the first reply looks at: a 100 MB line
/// without a newline costs one MiB, not 100.
const MAX_TAIL_BYTES: u64 = 1024 * 1024;
/// The most one stream line carries.
const CHUNK: usize = 64 * 1024;
/// How far a follower may fall behind the file before it skips ahead.
const MAX_BACKLOG: u64 = 1024 * 1024;
/// Lines sent when the request does not say.
const DEFAULT_LINES: u64 = 10;

/// How a `tail` or `maintail` request reads its file; `None` for the other
/// commands, which the server does not stream.
pub fn reading(command: &Command) -> Option<Reading> {
    match command {
        Command::Tail { reading, .. } | Command::Maintail(reading) => Some(*reading),
        _ => None,
    }
}

/// Answers a `tail` or `maintail` request with the core's `resolved` reply
/// (the file's path, or why there is none) completed with the file's last
/// lines; with `follow`, then streams until the client goes away. Returns
/// whether the connection may take more requests.
pub async fn serve(
    reading: Reading,
    resolved: Response,
    hub: &Hub,
    lines: &mut Lines<OwnedReadHalf>,
    writer: &mut FramedWrite<OwnedWriteHalf, LinesCodec>,
) -> bool {
    let id = resolved.id.clone();
    let follow = reading.follow.unwrap_or(false);
    let mut content = match resolved.clone().into_content::<TailContent>() {
        Ok(content) => content,
        Err(_) => return send_line(writer, encode(&resolved)).await,
    };
    let path = PathBuf::from(&content.path);
    // Watching before reading: whatever is written after the read wakes us.
    let watch = if follow {
        match hub.follow(&path).await {
            Ok(watch) => Some(watch),
            Err(e) => {
                let hint = match e.kind {
                    notify::ErrorKind::MaxFilesWatch => {
                        "; raise fs.inotify.max_user_instances and max_user_watches, \
                         or tail without follow"
                    }
                    _ => "",
                };
                let mut reply = Response::error(
                    503,
                    "unavailable",
                    format!("cannot follow {}: {e}{hint}", path.display()),
                );
                reply.id = id;
                return send_line(writer, encode(&reply)).await;
            }
        }
    } else {
        None
    };
    let wanted = reading.lines.unwrap_or(DEFAULT_LINES);
    let opened = blocking(move || read_tail(&path, wanted)).await;
    let (text, follower) = match opened {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            let mut reply = Response::error(
                500,
                "internal",
                format!("cannot read {}: {e}", content.path),
            );
            reply.id = id;
            return send_line(writer, encode(&reply)).await;
        }
        Err(()) => return false,
    };
    content.text = text;
    let mut reply = Response::ok(content);
    reply.id = id;
    if !send_line(writer, encode(&reply)).await {
        return false;
    }
    match watch {
        None => true,
        Some(watch) => {
            stream(follower, watch, lines, writer).await;
            false
        }
    }
}

/// Runs `work` on the blocking pool; `Err` only when the runtime is going away.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ()> {
    tokio::task::spawn_blocking(work).await.map_err(|_| ())
}

/// Sends what is appended to the file until the client disconnects.
async fn stream(
    mut follower: Follower,
    mut watch: Following,
    lines: &mut Lines<OwnedReadHalf>,
    writer: &mut FramedWrite<OwnedWriteHalf, LinesCodec>,
) {
    loop {
        // Everything there is now, one chunk at a time...
        loop {
            let Ok((back, step)) = blocking(move || {
                let step = follower.step();
                (follower, step)
            })
            .await
            else {
                return;
            };
            follower = back;
            let chunk = match step {
                Step::Idle => break,
                Step::Text(text) if text.is_empty() => continue,
                Step::Text(text) => TailChunk {
                    text: Some(text),
                    missed_bytes: None,
                },
                Step::Missed(bytes) => TailChunk {
                    text: None,
                    missed_bytes: Some(bytes),
                },
            };
            let line = serde_json::to_string(&chunk).expect("tail chunks serialize");
            if !send_line(writer, line).await {
                return;
            }
        }
        // ... then wait for the file to change, or the client to leave.
        tokio::select! {
            woken = watch.wakes.recv() => if woken.is_none() { return },
            () = lines.hang_up() => return,
        }
    }
}

/// The one inotify instance of every follower (a host allows 128 per user
/// by default; one per `tail -f` let a client use them all up). A task owns
/// the watcher, watches each followed file's directory once (so that a file
/// created, replaced by a rename or removed is seen too) and wakes the
/// followers of each file that changed. The watcher exists only while
/// someone follows.
#[derive(Clone)]
pub struct Hub {
    control: mpsc::UnboundedSender<Control>,
    next_id: Arc<AtomicU64>,
}

enum Control {
    Follow {
        id: u64,
        file: PathBuf,
        wake: mpsc::Sender<()>,
        done: oneshot::Sender<notify::Result<()>>,
    },
    Unfollow {
        id: u64,
        file: PathBuf,
    },
}

/// What the watcher's thread tells the hub's task.
enum Note {
    /// These paths changed.
    Changed(Vec<PathBuf>),
    /// An event was lost (a queue overflowed): anything may have changed.
    Rescan,
}

/// Notes waiting for the hub's task; when it falls this far behind, the
/// watcher stops queueing and asks for one wake of everyone instead.
const NOTE_QUEUE: usize = 256;

impl Hub {
    /// Starts the hub's task; must be called inside the runtime. The task
    /// ends when the last `Hub` and follower are gone.
    pub fn new() -> Hub {
        let (control, commands) = mpsc::unbounded_channel();
        tokio::spawn(run_hub(commands));
        Hub {
            control,
            next_id: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Wakes for `file` from now on, until the `Following` is dropped.
    async fn follow(&self, file: &Path) -> notify::Result<Following> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        // One pending wake is enough: the follower reads all there is.
        let (wake, wakes) = mpsc::channel(1);
        let (done, answer) = oneshot::channel();
        let gone = || notify::Error::generic("the tail watcher has stopped");
        self.control
            .send(Control::Follow {
                id,
                file: file.to_path_buf(),
                wake,
                done,
            })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())??;
        Ok(Following {
            id,
            file: file.to_path_buf(),
            control: self.control.clone(),
            wakes,
        })
    }
}

/// One follower's registration with the [`Hub`].
struct Following {
    id: u64,
    file: PathBuf,
    control: mpsc::UnboundedSender<Control>,
    wakes: mpsc::Receiver<()>,
}

impl Drop for Following {
    fn drop(&mut self) {
        let _ = self.control.send(Control::Unfollow {
            id: self.id,
            file: std::mem::take(&mut self.file),
        });
    }
}

fn directory_of(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The hub's task: registrations in, wakes out.
async fn run_hub(mut commands: mpsc::UnboundedReceiver<Control>) {
    let (note, mut notes) = mpsc::channel(NOTE_QUEUE);
    let overflowed = Arc::new(AtomicBool::new(false));
    let mut watcher: Option<RecommendedWatcher> = None;
    // Followers by file, and how many followed files each directory holds.
    let mut followers: HashMap<PathBuf, HashMap<u64, mpsc::Sender<()>>> = HashMap::new();
    let mut dirs: HashMap<PathBuf, usize> = HashMap::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                None => return,
                Some(Control::Follow { id, file, wake, done }) => {
                    let dir = directory_of(&file);
                    let watched = if dirs.contains_key(&dir) {
                        Ok(())
                    } else {
                        start_watching(&mut watcher, &dir, &note, &overflowed)
                    };
                    if watched.is_ok() {
                        *dirs.entry(dir).or_insert(0) += 1;
                        followers.entry(file).or_default().insert(id, wake);
                    } else if dirs.is_empty() {
                        watcher = None;
                    }
                    let _ = done.send(watched);
                }
                Some(Control::Unfollow { id, file }) => {
                    let Some(of_file) = followers.get_mut(&file) else { continue };
                    if of_file.remove(&id).is_none() {
                        continue;
                    }
                    if of_file.is_empty() {
                        followers.remove(&file);
                    }
                    let dir = directory_of(&file);
                    if let Some(count) = dirs.get_mut(&dir) {
                        *count -= 1;
                        if *count == 0 {
                            dirs.remove(&dir);
                            if let Some(watcher) = watcher.as_mut() {
                                let _ = watcher.unwatch(&dir);
                            }
                        }
                    }
                    if dirs.is_empty() {
                        // Nobody follows: give the inotify instance back.
                        watcher = None;
                    }
                }
            },
            Some(changed) = notes.recv() => {
                let everyone = overflowed.swap(false, Ordering::Relaxed);
                match changed {
                    Note::Rescan => wake_all(&followers),
                    _ if everyone => wake_all(&followers),
                    Note::Changed(paths) => {
                        for path in paths {
                            for wake in followers.get(&path).into_iter().flat_map(HashMap::values) {
                                let _ = wake.try_send(());
                            }
                        }
                    }
                }
            }
        }
    }
}

fn wake_all(followers: &HashMap<PathBuf, HashMap<u64, mpsc::Sender<()>>>) {
    for wake in followers.values().flat_map(HashMap::values) {
        let _ = wake.try_send(());
    }
}

/// Watches `dir`, creating the watcher first when there is none.
fn start_watching(
    watcher: &mut Option<RecommendedWatcher>,
    dir: &Path,
    note: &mpsc::Sender<Note>,
    overflowed: &Arc<AtomicBool>,
) -> notify::Result<()> {
    let watcher = match watcher {
        Some(watcher) => watcher,
        None => watcher.insert(new_watcher(note.clone(), Arc::clone(overflowed))?),
    };
    watcher.watch(dir, RecursiveMode::NonRecursive)
}

/// The inotify watcher; its callback runs on notify's thread and only
/// queues notes (never blocking, so that `watch` from the hub's task, which
/// waits for that thread, cannot deadlock).
fn new_watcher(
    note: mpsc::Sender<Note>,
    overflowed: Arc<AtomicBool>,
) -> notify::Result<RecommendedWatcher> {
    notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let message = match event {
            // A lost event (queue overflow) may hide a change: look again.
            Err(_) => Note::Rescan,
            Ok(event) if event.need_rescan() => Note::Rescan,
            Ok(event)
                if matches!(
                    event.kind,
                    EventKind::Access(kind) if kind != AccessKind::Close(AccessMode::Write)
                ) =>
            {
                return
            }
            Ok(event) => Note::Changed(event.paths),
        };
        if note.try_send(message).is_err() {
            overflowed.store(true, Ordering::Relaxed);
            // The task reads the flag with its next note: make sure one comes.
            let _ = note.try_send(Note::Rescan);
        }
    })
}

/// Opens a log file for reading, refusing a symlink planted at its path
/// (the broker may read files its clients cannot).
fn open_log(path: &Path) -> io::Result<Option<File>> {
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The last `wanted` lines of the file (an empty text when it does not
/// exist yet), and a follower positioned at the end of what was read.
fn read_tail(path: &Path, wanted: u64) -> io::Result<(String, Follower)> {
    let mut follower = Follower {
        path: path.to_path_buf(),
        file: None,
        offset: 0,
        carry: Vec::new(),
    };
    let Some(file) = open_log(path)? else {
        return Ok((String::new(), follower));
    };
    let size = file.metadata()?.len();
    let start = size.saturating_sub(MAX_TAIL_BYTES);
    let mut window = vec![0; (size - start) as usize];
    let read = read_at_most(&file, &mut window, start)?;
    window.truncate(read);
    follower.offset = start + read as u64;
    follower.file = Some(file);
    let text = String::from_utf8_lossy(last_lines(&window, wanted)).into_owned();
    Ok((text, follower))
}

/// Fills `buf` from `offset` as far as the file goes; the bytes read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The last `wanted` lines of `bytes`; a last line without its newline
/// (still being written) counts as a line.
fn last_lines(bytes: &[u8], wanted: u64) -> &[u8] {
    if wanted == 0 {
        return &[];
    }
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let mut seen = 0;
    for (at, _) in body.iter().enumerate().rev().filter(|(_, b)| **b == b'\n') {
        seen += 1;
        if seen == wanted {
            return &bytes[at + 1..];
        }
    }
    bytes
}

/// What one look at the file found.
#[derive(Debug, PartialEq)]
enum Step {
    Text(String),
    /// The reader was this many bytes behind; they were skipped.
    Missed(u64),
    /// Nothing new.
    Idle,
}

/// Where a follower is in its file.
struct Follower {
    path: PathBuf,
    /// `None` until the file exists.
    file: Option<File>,
    offset: u64,
    /// The start of a UTF-8 character whose end is not written yet.
    carry: Vec<u8>,
}

impl Follower {
    /// Reads the next chunk of the file. A file truncated under it (`clear`,
    /// logrotate's copytruncate) is read again from its start (what was
    /// written since); once the file is read to its end and another file
    /// has taken its path (a rotation by rename), that one is followed
    /// from its start.
    fn step(&mut self) -> Step {
        let Some(file) = &self.file else {
            return self.reopen();
        };
        let Ok(meta) = file.metadata() else {
            return Step::Idle;
        };
        let size = meta.len();
        if size < self.offset {
            self.offset = 0;
            self.carry.clear();
        }
        if size == self.offset {
            return match std::fs::symlink_metadata(&self.path) {
                Ok(now) if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) => self.reopen(),
                _ => Step::Idle,
            };
        }
        let behind = size - self.offset;
        if behind > MAX_BACKLOG {
            let skipped = behind - CHUNK as u64;
            self.offset += skipped;
            self.carry.clear();
            return Step::Missed(skipped);
        }
        let mut buf = vec![0; behind.min(CHUNK as u64) as usize];
        match read_at_most(file, &mut buf, self.offset) {
            Ok(0) | Err(_) => Step::Idle,
            Ok(n) => {
                self.offset += n as u64;
                buf.truncate(n);
                Step::Text(decode(&mut self.carry, buf))
            }
        }
    }

    fn reopen(&mut self) -> Step {
        match open_log(&self.path) {
            Ok(Some(file)) => {
                self.file = Some(file);
                self.offset = 0;
                self.carry.clear();
                self.step()
            }
            _ => Step::Idle,
        }
    }
}

/// `bytes` after `carry` as text, keeping back in `carry` a character cut
/// at the end of the chunk, so that it is not garbled; invalid bytes become
/// U+FFFD.
fn decode(carry: &mut Vec<u8>, bytes: Vec<u8>) -> String {
    let mut all = std::mem::take(carry);
    all.extend_from_slice(&bytes);
    let cut = unfinished_char(&all);
    *carry = all.split_off(all.len() - cut);
    String::from_utf8_lossy(&all).into_owned()
}

/// How many bytes at the end of `bytes` start a UTF-8 character that is
/// not complete yet (0 to 3).
fn unfinished_char(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0xC0 == 0x80 {
            continue;
        }
        let length = match byte {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if length > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn last_lines_counts_from_the_end() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(last_lines(b"a\nb\n", 10), b"a\nb\n");
        assert_eq!(last_lines(b"a\nb\n", 0), b"");
        assert_eq!(last_lines(b"", 3), b"");
        assert_eq!(last_lines(b"no newline at all", 1), b"no newline at all");
    }

    #[test]
    fn a_cut_character_waits_for_its_end() {
        let mut carry = Vec::new();
        let euro = "€".as_bytes();
        assert_eq!(
            decode(&mut carry, [b"x".as_slice(), &euro[..2]].concat()),
            "x"
        );
        assert_eq!(decode(&mut carry, euro[2..].to_vec()), "€");
        assert!(carry.is_empty());
        assert_eq!(decode(&mut carry, vec![b'a', 0xFF, b'b']), "a\u{FFFD}b");
    }

    fn temp_file(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tm-tail-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("x.log")
    }

    fn append(path: &Path, text: &str) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn follows_appends_truncation_and_rotation() {
        let path = temp_file("follow");
        let (text, mut follower) = read_tail(&path, 5).unwrap();
        assert_eq!(text, "");
        assert_eq!(follower.step(), Step::Idle);
        append(&path, "one\ntwo\n");
        assert_eq!(follower.step(), Step::Text("one\ntwo\n".into()));
        assert_eq!(follower.step(), Step::Idle);
        // copytruncate: the file shrinks, what comes next is read.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&path, "3\n");
        assert_eq!(follower.step(), Step::Text("3\n".into()));
        // Rotation by rename: the old file is read to its end, then the new one.
        append(&path, "last old\n");
        std::fs::rename(&path, path.with_extension("1")).unwrap();
        append(&path, "first new\n");
        assert_eq!(follower.step(), Step::Text("last old\n".into()));
        assert_eq!(follower.step(), Step::Text("first new\n".into()));
        assert_eq!(follower.step(), Step::Idle);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn a_reader_far_behind_skips_ahead() {
        let path = temp_file("behind");
        let (_, mut follower) = read_tail(&path, 5).unwrap();
        append(&path, &"x".repeat(3 * MAX_BACKLOG as usize));
        let expected = 3 * MAX_BACKLOG - CHUNK as u64;
        assert_eq!(follower.step(), Step::Missed(expected));
        match follower.step() {
            Step::Text(text) => assert_eq!(text.len(), CHUNK),
            other => panic!("{other:?}"),
        }
        assert_eq!(follower.step(), Step::Idle);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn the_first_reply_reads_at_most_a_mib() {
        let path = temp_file("huge");
        append(&path, &"y".repeat(2 * MAX_TAIL_BYTES as usize));
        let (text, mut follower) = read_tail(&path, 10).unwrap();
        assert_eq!(text.len(), MAX_TAIL_BYTES as usize);
        assert_eq!(follower.step(), Step::Idle);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
