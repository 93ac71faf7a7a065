//! Capture end to end within the broker: real pipes, real files, the real
//! runtime; a writer thread plays the program.

use super::*;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};
use taskmaster_config::test_dir::TestDir;
use tokio::sync::mpsc::UnboundedReceiver;

/// A capture of a fake program's stdout.
struct Fixture {
    dir: TestDir,
    path: PathBuf,
    /// The program's end of the pipe; dropping it is the program exiting.
    writer: Option<File>,
    capture: Capture,
    notices: UnboundedReceiver<Notice>,
}

fn target(path: &Path) -> LogTarget {
    LogTarget {
        path: path.to_owned(),
        maxbytes: 0,
        backups: 0,
        timestamps: false,
        prefix: None,
    }
}

fn pipe() -> (OwnedFd, File) {
    let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC).expect("pipe2");
    let flags = OFlag::from_bits_truncate(fcntl(&read, FcntlArg::F_GETFL).expect("F_GETFL"));
    fcntl(&read, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).expect("F_SETFL");
    (read, File::from(write))
}

/// Starts a capture into `<dir>/<file>`, with `adjust` applied to the target.
fn fixture(name: &str, file: &str, adjust: impl FnOnce(&mut LogTarget)) -> Fixture {
    let dir = TestDir::new(name);
    let path = dir.path().join(file);
    let mut log = target(&path);
    adjust(&mut log);
    let (read, writer) = pipe();
    let (sender, notices) = mpsc::unbounded_channel();
    let capture = start(
        Origin::Spawned,
        "web".into(),
        Stream::Stdout,
        read,
        log,
        sender,
    );
    Fixture {
        dir,
        path,
        writer: Some(writer),
        capture,
        notices,
    }
}

impl Fixture {
    /// Writes from this thread: only for less than a pipe's worth.
    fn print(&mut self, bytes: &[u8]) {
        let writer = self.writer.as_mut().expect("writer still open");
        writer.write_all(bytes).expect("writing the pipe");
    }

    /// Writes `data` from another thread, in 1 MiB writes, then closes
    /// the pipe.
    fn print_and_exit(&mut self, data: Vec<u8>) -> std::thread::JoinHandle<()> {
        let mut writer = self.writer.take().expect("writer still open");
        std::thread::spawn(move || {
            for piece in data.chunks(1 << 20) {
                writer.write_all(piece).expect("writing the pipe");
            }
        })
    }

    async fn wait_written(&self, bytes: u64) {
        let capture = self.capture.clone();
        wait_for(&format!("{bytes} bytes written"), || {
            capture.stats().written == bytes
        })
        .await;
    }

    fn read(&self, suffix: &str) -> Vec<u8> {
        let path = format!("{}{suffix}", self.path.display());
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }
}

/// Polls `done` until it holds, or fails the test after 30 s.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[tokio::test]
async fn binary_output_arrives_intact() {
    let mut fx = fixture("binary", "web.stdout", |_| {});
    let data: Vec<u8> = (0..=255u8).cycle().take(3_000_000).collect();
    let writer = fx.print_and_exit(data.clone());
    fx.wait_written(data.len() as u64).await;
    writer.join().expect("writer thread");
    assert!(
        fx.read("") == data,
        "the file differs from what was printed"
    );
    assert_eq!(fx.capture.stats().dropped, 0);
}

#[tokio::test]
async fn appends_to_an_existing_file() {
    let dir = TestDir::new("append");
    let path = dir.write("web.stdout", "old\n");
    let (read, mut writer) = pipe();
    let (sender, _notices) = mpsc::unbounded_channel();
    let capture = start(
        Origin::Spawned,
        "web".into(),
        Stream::Stdout,
        read,
        target(&path),
        sender,
    );
    writer.write_all(b"new\n").unwrap();
    wait_for("new line", || capture.stats().written == 4).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\nnew\n");
}

#[tokio::test]
async fn missing_directory_is_created() {
    let mut fx = fixture("mkdir", "a/b/web.stdout", |_| {});
    assert!(!fx.path.exists(), "a silent program leaves no file");
    fx.print(b"x\n");
    fx.wait_written(2).await;
    assert_eq!(fx.read(""), b"x\n");
    assert!(fx.notices.try_recv().is_err(), "a notice without an error");
}

/// Numbered lines of varying length: `0000001 xxxx\n`...
fn numbered_lines(count: usize) -> Vec<u8> {
    let mut data = Vec::new();
    for n in 0..count {
        data.extend_from_slice(format!("{n:07} {}\n", "x".repeat(n % 90)).as_bytes());
    }
    data
}

#[tokio::test]
async fn rotation_keeps_lines_whole_and_the_newest_in_the_current_file() {
    const MAX: u64 = 200 << 10;
    let mut fx = fixture("rotate", "web.stdout", |t| {
        t.maxbytes = MAX;
        t.backups = 2;
    });
    let data = numbered_lines(40_000);
    let writer = fx.print_and_exit(data.clone());
    fx.wait_written(data.len() as u64).await;
    writer.join().expect("writer thread");
    let (current, one, two) = (fx.read(""), fx.read(".1"), fx.read(".2"));
    assert!(
        !fx.dir.path().join("web.stdout.3").exists(),
        "3 backups kept"
    );
    for (name, file) in [("current", &current), (".1", &one), (".2", &two)] {
        let end = String::from_utf8_lossy(&file[file.len().saturating_sub(120)..]);
        // At most the end of the line in progress past the limit.
        assert!(
            file.len() as u64 <= MAX + 98,
            "{name} has {} bytes",
            file.len()
        );
        assert!(file.ends_with(b"\n"), "{name} ends mid-line: {end:?}");
    }
    let kept = [two, one, current.clone()].concat();
    assert!(
        data.ends_with(&kept),
        "the kept files are not the output's end"
    );
    let last = data[..data.len() - 1]
        .rsplit(|&b| b == b'\n')
        .next()
        .unwrap()
        .to_vec();
    assert!(current.ends_with(&[&last[..], b"\n"].concat()));
}

#[tokio::test]
async fn rotation_without_newline_cuts_at_the_limit() {
    let mut fx = fixture("rotate-cut", "web.stdout", |t| {
        t.maxbytes = 1000;
        t.backups = 1;
    });
    fx.print(&[b'z'; 2500]);
    fx.wait_written(2500).await;
    assert_eq!((fx.read(".1").len(), fx.read("").len()), (1000, 500));
}

#[tokio::test]
async fn timestamps_start_every_line_even_across_writes() {
    let mut fx = fixture("stamps", "web.stdout", |t| t.timestamps = true);
    fx.print(b"a\nb");
    fx.wait_written(24 + 2 + 24 + 1).await;
    fx.print(b"c\nd\n");
    fx.wait_written(24 + 2 + 24 + 1 + 2 + 24 + 2).await;
    let text = String::from_utf8(fx.read("")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for line in &lines {
        let (stamp, _) = line.split_at(24);
        assert_eq!(
            (&stamp[4..5], &stamp[19..20], &stamp[23..]),
            ("-", ",", " "),
            "{line}"
        );
    }
    let rest: Vec<&str> = lines.iter().map(|l| &l[24..]).collect();
    assert_eq!(rest, ["a", "bc", "d"]);
}

#[tokio::test]
async fn hundred_megabytes_without_newline_and_with_timestamps() {
    const SIZE: usize = 100 << 20;
    let mut fx = fixture("bigline", "web.stdout", |t| {
        t.timestamps = true;
        t.maxbytes = 30 << 20;
        t.backups = 5;
    });
    let writer = fx.print_and_exit(vec![b'x'; SIZE]);
    fx.wait_written(SIZE as u64 + 24).await;
    writer.join().expect("writer thread");
    let sizes: Vec<u64> = ["", ".1", ".2", ".3"]
        .iter()
        .map(|s| file_len(Path::new(&format!("{}{s}", fx.path.display()))))
        .collect();
    assert_eq!(sizes, [10 << 20 | 24, 30 << 20, 30 << 20, 30 << 20]);
}

#[tokio::test]
async fn unwritable_directory_drops_counts_and_recovers() {
    let dir_fx = TestDir::new("blocked");
    // A regular file where a directory should be: ENOTDIR, even for root.
    let blocker = dir_fx.write("logs", "not a directory");
    let path = blocker.join("web.stdout");
    let (read, mut writer) = pipe();
    let (sender, mut notices) = mpsc::unbounded_channel();
    let capture = start(
        Origin::Spawned,
        "web".into(),
        Stream::Stdout,
        read,
        target(&path),
        sender,
    );
    writer.write_all(b"lost\n").unwrap();
    wait_for("dropped", || capture.stats().dropped == 5).await;
    writer.write_all(b"lost again\n").unwrap();
    wait_for("dropped again", || capture.stats().dropped == 16).await;
    match notices.try_recv() {
        Ok(Notice::Error {
            process,
            stream,
            message,
        }) => {
            assert_eq!((process.as_str(), stream), ("web", Stream::Stdout));
            assert!(message.contains("Not a directory"), "{message}");
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
        other => panic!("expected one error notice, got {other:?}"),
    }
    assert!(
        notices.try_recv().is_err(),
        "the same error was reported twice"
    );
    assert!(capture.stats().last_error.is_some());

    std::fs::remove_file(&blocker).unwrap();
    writer.write_all(b"back\n").unwrap();
    wait_for("written after recovery", || capture.stats().written == 5).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "back\n");
    assert_eq!(
        notices.try_recv().ok(),
        Some(Notice::Recovered {
            process: "web".into(),
            stream: Stream::Stdout
        })
    );
    assert_eq!(capture.stats().last_error, None);
    // Back on the fast path.
    writer.write_all(&[b'q'; 50_000]).unwrap();
    wait_for("more output", || capture.stats().written == 50_005).await;
}

#[tokio::test]
async fn full_disk_drops_and_reports_once() {
    let (read, mut writer) = pipe();
    let (sender, mut notices) = mpsc::unbounded_channel();
    let capture = start(
        Origin::Spawned,
        "web".into(),
        Stream::Stderr,
        read,
        target(Path::new("/dev/full")),
        sender,
    );
    for _ in 0..3 {
        writer.write_all(b"0123456789").unwrap();
    }
    wait_for("30 dropped", || capture.stats().dropped == 30).await;
    let Ok(Notice::Error { message, .. }) = notices.try_recv() else {
        panic!("no error notice");
    };
    assert!(message.contains("No space left"), "{message}");
    assert!(notices.try_recv().is_err(), "reported more than once");
}

#[tokio::test]
async fn reopen_after_the_file_was_moved_away() {
    let mut fx = fixture("reopen", "web.stdout", |_| {});
    fx.print(b"one\n");
    fx.wait_written(4).await;
    let moved = fx.dir.path().join("web.stdout.old");
    std::fs::rename(&fx.path, &moved).unwrap();
    fx.capture.reopen();
    let path = fx.path.clone();
    wait_for("a new file", || path.exists()).await;
    fx.print(b"two\n");
    fx.wait_written(8).await;
    assert_eq!(std::fs::read(&moved).unwrap(), b"one\n");
    assert_eq!(fx.read(""), b"two\n");
}

#[tokio::test]
async fn retarget_moves_output_to_the_new_path() {
    let mut fx = fixture("retarget", "a.log", |_| {});
    fx.print(b"a\n");
    fx.wait_written(2).await;
    let other = fx.dir.path().join("b.log");
    fx.capture.retarget(LogTarget {
        timestamps: true,
        ..target(&other)
    });
    fx.print(b"b\n");
    fx.wait_written(2 + 24 + 2).await;
    assert_eq!(fx.read(""), b"a\n");
    let text = std::fs::read_to_string(&other).unwrap();
    assert!(text.len() == 26 && text.ends_with(" b\n"), "{text}");
}

#[tokio::test]
async fn clear_truncates_and_writing_goes_on_from_zero() {
    let mut fx = fixture("clear", "web.stdout", |_| {});
    fx.print(b"abc\n");
    fx.wait_written(4).await;
    fx.capture.clear().expect("clear");
    assert_eq!(file_len(&fx.path), 0);
    fx.print(b"d\n");
    fx.wait_written(6).await;
    assert_eq!(fx.read(""), b"d\n", "no hole left where the old bytes were");
}

#[tokio::test]
async fn dropped_handle_still_drains_to_the_end() {
    let mut fx = fixture("orphan", "web.stdout", |_| {});
    let writer = fx.print_and_exit(vec![b'\n'; 5 << 20]);
    let path = fx.path.clone();
    drop(fx.capture);
    wait_for("5 MiB in the file", || file_len(&path) == 5 << 20).await;
    writer.join().expect("writer thread");
}
