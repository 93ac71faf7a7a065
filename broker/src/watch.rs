//! Watches the config's files with `notify` (inotify on Linux, no polling)
//! and sends one `()` per burst of changes, so that the core reloads once
//! after an editor's save, however many events the save made.
//!
//! Directories are watched, not files: editors and tools replace a file by
//! renaming another over it (vim, `sed -i`, `mv tmp file`), and a Kubernetes
//! ConfigMap swaps a `..data` symlink; a watch on the old file would see
//! none of that.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

/// How long the files must stay quiet before the reload: an editor's save
/// is a burst of events within a few milliseconds.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// A running watcher; dropping it stops the watching.
pub struct ConfigWatcher {
    task: JoinHandle<()>,
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches `dirs` (not recursively) and sends `()` on `notify` 100 ms after
/// the last of a burst of changes to one of `files`, or to a file matching
/// one of `patterns` (the include globs). Give it a config's `watch_dirs`,
/// `sources` and `include_patterns`. A directory that does not exist yet is
/// watched from its closest existing parent, and watched itself once it
/// appears. Must be called within a tokio runtime; the watching stops when
/// the handle is dropped or when `notify`'s receiver is.
pub fn spawn_watcher(
    dirs: Vec<PathBuf>,
    files: Vec<PathBuf>,
    patterns: Vec<String>,
    notify: mpsc::Sender<()>,
) -> notify::Result<ConfigWatcher> {
    let (raw, events) = mpsc::unbounded_channel();
    let filter = Arc::new(Filter::new(&dirs, &files, &patterns)?);
    let relevant = Arc::clone(&filter);
    // notify calls this on its own thread; the channel brings the events
    // about the config to the runtime, where the debouncing timer lives.
    // The others are dropped here: a log file in the config's directory
    // (the activity log, say) is written at every state change, and a
    // thousand programs starting would otherwise queue thousands of
    // events for the runtime to allocate, wake up for and throw away.
    let watcher = notify::recommended_watcher(move |event| {
        if relevant.relevant(&event) {
            let _ = raw.send(event);
        }
    })?;
    let mut watch = Watch {
        watcher,
        filter,
        armed: BTreeMap::new(),
    };
    watch.arm()?;
    let task = tokio::spawn(watch.run(events, notify));
    Ok(ConfigWatcher { task })
}

/// Which events are about the config.
struct Filter {
    /// The config's files, and the symlinks their paths go through.
    paths: BTreeSet<PathBuf>,
    patterns: Vec<glob::Pattern>,
    dirs: Vec<PathBuf>,
}

impl Filter {
    fn new(dirs: &[PathBuf], files: &[PathBuf], patterns: &[String]) -> notify::Result<Filter> {
        let mut paths: BTreeSet<PathBuf> = files.iter().cloned().collect();
        paths.extend(files.iter().filter_map(|file| symlink_head(file)));
        let patterns = patterns
            .iter()
            .map(|pattern| {
                glob::Pattern::new(pattern).map_err(|error| {
                    notify::Error::generic(&format!("bad include glob '{pattern}': {error}"))
                })
            })
            .collect::<notify::Result<_>>()?;
        Ok(Filter {
            paths,
            patterns,
            dirs: dirs.to_vec(),
        })
    }

    fn relevant(&self, event: &notify::Result<Event>) -> bool {
        let Ok(event) = event else {
            // An error of the watch (such as a full event queue) may hide a
            // change: reading the config again is the safe answer.
            return true;
        };
        if event.need_rescan() {
            return true;
        }
        match event.kind {
            // Opening and reading are what the reload itself does.
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            EventKind::Access(_) => return false,
            _ => {}
        }
        event.paths.iter().any(|path| self.relevant_path(path))
    }

    fn relevant_path(&self, path: &Path) -> bool {
        self.paths.contains(path)
            || self.patterns.iter().any(|pattern| {
                pattern.matches_path(path)
                    && !path
                        .file_name()
                        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
            })
            // A watched directory itself, or one of its parents, created,
            // removed or renamed.
            || self.dirs.iter().any(|dir| dir.starts_with(path))
    }
}

/// For a file that is a symlink to `..data/f` (a Kubernetes ConfigMap), the
/// path of `..data`, which is what a swap renames.
fn symlink_head(file: &Path) -> Option<PathBuf> {
    let target = std::fs::read_link(file).ok()?;
    match target.components().next()? {
        Component::Normal(head) if target.is_relative() => Some(file.parent()?.join(head)),
        _ => None,
    }
}

/// The watcher and what it watches.
struct Watch {
    watcher: RecommendedWatcher,
    /// Shared with notify's thread, which sends only the relevant events.
    filter: Arc<Filter>,
    /// Each directory watched, by the identity (device, inode) of the
    /// directory the watch is on: a directory removed and made again needs
    /// a new watch.
    armed: BTreeMap<PathBuf, (u64, u64)>,
}

impl Watch {
    /// Watches every directory, or the closest existing parent of one that
    /// does not exist (yet).
    fn arm(&mut self) -> notify::Result<()> {
        for dir in self.filter.dirs.clone() {
            let Some(existing) = dir.ancestors().find(|path| path.is_dir()) else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(existing) else {
                continue;
            };
            let identity = (meta.dev(), meta.ino());
            if self.armed.get(existing) != Some(&identity) {
                self.watcher.watch(existing, RecursiveMode::NonRecursive)?;
                self.armed.insert(existing.to_owned(), identity);
            }
        }
        Ok(())
    }

    async fn run(
        mut self,
        mut events: mpsc::UnboundedReceiver<notify::Result<Event>>,
        notify: mpsc::Sender<()>,
    ) {
        loop {
            // Wait for a change (only relevant events come through, so
            // other files written in the same directory neither start a
            // reload nor hold one back)...
            if events.recv().await.is_none() {
                return;
            }
            // ... then for the end of its burst.
            let mut deadline = Instant::now() + DEBOUNCE;
            loop {
                tokio::select! {
                    () = sleep_until(deadline) => break,
                    event = events.recv() => match event {
                        None => return,
                        Some(_) => deadline = Instant::now() + DEBOUNCE,
                    },
                }
            }
            // A directory may have appeared or been made again. Arming
            // before the reload reads the files loses no change: what
            // happens after is seen by the new watch. A directory that
            // cannot be watched cannot be listed either: the reload that
            // follows reports it as a config error.
            let _ = self.arm();
            if notify.send(()).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use taskmaster_config::test_dir::TestDir;

    /// Long enough for a real change to be seen on a loaded machine.
    const DEADLINE: Duration = Duration::from_secs(10);
    /// How long "no notification" is waited for: a notification comes at
    /// most DEBOUNCE after the last event it answers, and every event of
    /// the test happened before the wait starts; four times that leaves
    /// room for a slow scheduler without making the test slow.
    const QUIET: Duration = Duration::from_millis(6 * 100);

    struct Setup {
        dir: TestDir,
        main: PathBuf,
        notified: mpsc::Receiver<()>,
        _watcher: ConfigWatcher,
    }

    /// A watcher over `dir/main.toml` (made by `prepare`) and the include
    /// glob `dir/conf.d/*.toml`.
    fn setup(name: &str, prepare: impl FnOnce(&TestDir)) -> Setup {
        let dir = TestDir::new(name);
        prepare(&dir);
        let main = dir.path().join("main.toml");
        let (notify, notified) = mpsc::channel(8);
        let watcher = spawn_watcher(
            vec![dir.path().to_owned(), dir.path().join("conf.d")],
            vec![main.clone()],
            vec![format!("{}/conf.d/*.toml", dir.path().display())],
            notify,
        )
        .unwrap_or_else(|e| panic!("cannot watch: {e}"));
        Setup {
            dir,
            main,
            notified,
            _watcher: watcher,
        }
    }

    fn write_main(dir: &TestDir) {
        dir.write("main.toml", "[programs.a]\ncommand = \"a\"\n");
    }

    impl Setup {
        /// Asserts one notification, then no other.
        async fn expect_one(&mut self, what: &str) {
            let first = tokio::time::timeout(DEADLINE, self.notified.recv()).await;
            assert!(matches!(first, Ok(Some(()))), "{what}: no notification");
            self.expect_none(&format!("{what} (a second notification)"))
                .await;
        }

        async fn expect_none(&mut self, what: &str) {
            let next = tokio::time::timeout(QUIET, self.notified.recv()).await;
            assert!(next.is_err(), "{what}: unexpected notification");
        }

        fn path(&self, relative: &str) -> PathBuf {
            self.dir.path().join(relative)
        }
    }

    fn check<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
        result.unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn an_in_place_write_is_one_change() {
        let mut setup = setup("watch-in-place", write_main);
        for n in 0..5 {
            check(fs::write(&setup.main, format!("# save {n}\n")));
        }
        setup.expect_one("in-place writes").await;
        // Reading the file (as the reload does) is no change.
        check(fs::read_to_string(&setup.main));
        setup.expect_none("a read").await;
    }

    #[tokio::test]
    async fn a_write_then_rename_is_one_change() {
        let mut setup = setup("watch-rename", write_main);
        let temp = setup.path(".main.toml.tmp");
        check(fs::write(&temp, "# new\n"));
        check(fs::rename(&temp, &setup.main));
        setup.expect_one("write + rename").await;
    }

    #[tokio::test]
    async fn a_symlink_swap_is_one_change() {
        let mut setup = setup("watch-symlink", |dir| {
            dir.write("v1.toml", "# v1\n");
            check(std::os::unix::fs::symlink(
                "v1.toml",
                dir.path().join("main.toml"),
            ));
        });
        check(fs::write(setup.path("v2.toml"), "# v2\n"));
        let temp = setup.path("main.toml.new");
        check(std::os::unix::fs::symlink("v2.toml", &temp));
        check(fs::rename(&temp, &setup.main));
        setup.expect_one("symlink swap").await;
    }

    #[tokio::test]
    async fn a_configmap_data_swap_is_one_change() {
        // Kubernetes: main.toml -> ..data/main.toml, ..data -> ..v1; an
        // update writes ..v2 and renames a new ..data over the old one.
        let mut setup = setup("watch-configmap", |dir| {
            dir.write("..v1/main.toml", "# v1\n");
            check(std::os::unix::fs::symlink(
                "..v1",
                dir.path().join("..data"),
            ));
            check(std::os::unix::fs::symlink(
                "..data/main.toml",
                dir.path().join("main.toml"),
            ));
        });
        setup.dir.write("..v2/main.toml", "# v2\n");
        let temp = setup.path("..data_tmp");
        check(std::os::unix::fs::symlink("..v2", &temp));
        check(fs::rename(&temp, setup.path("..data")));
        check(fs::remove_dir_all(setup.path("..v1")));
        setup.expect_one("..data swap").await;
    }

    #[tokio::test]
    async fn other_files_in_the_directories_are_no_change() {
        let mut setup = setup("watch-unrelated", |dir| {
            write_main(dir);
            dir.write("conf.d/keep.toml", "");
        });
        setup.dir.write("notes.txt", "x");
        setup.dir.write(".main.toml.swp", "x");
        setup.dir.write("conf.d/readme.txt", "x");
        setup.dir.write("conf.d/.hidden.toml", "x");
        check(fs::create_dir(setup.path("logs")));
        setup.expect_none("unrelated files").await;
    }

    #[tokio::test]
    async fn files_appearing_and_disappearing_under_a_glob_are_changes() {
        let mut setup = setup("watch-include", |dir| {
            write_main(dir);
            dir.write("conf.d/keep.toml", "");
        });
        setup
            .dir
            .write("conf.d/new.toml", "[programs.b]\ncommand = \"b\"\n");
        setup.expect_one("a new included file").await;
        check(fs::remove_file(setup.path("conf.d/new.toml")));
        setup.expect_one("a removed included file").await;
    }

    #[tokio::test]
    async fn an_include_directory_made_later_is_watched_once_it_exists() {
        let mut setup = setup("watch-late-dir", write_main);
        check(fs::create_dir(setup.path("conf.d")));
        setup.expect_one("the include directory appearing").await;
        setup.dir.write("conf.d/a.toml", "");
        setup.expect_one("a file in the new directory").await;
    }
}
