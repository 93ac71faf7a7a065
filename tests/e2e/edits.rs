//! Saving a new version of a config file the ways people and tools do: an
//! editor writing in place, a tool writing a temporary file and renaming it
//! over the old one, and a Kubernetes ConfigMap swapping its `..data`
//! symlink. The reload tests run their edits through these.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// How a new version of the config reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Truncate and write the same file (`echo > file`, most editors).
    InPlace,
    /// Write `.name.tmp` beside it, then rename it over (vim, `sed -i`, `mv`).
    Rename,
    /// The file is `..data/name`, `..data` a symlink to `..vN`; a save
    /// writes `..vN+1`, points a new symlink at it and renames that over
    /// `..data` (how the kubelet updates a ConfigMap volume). The daemon
    /// must be started on a config laid out with [`configmap_layout`].
    Symlink,
}

/// Turns the config at `path` into a ConfigMap layout: `path` becomes a
/// symlink to `..data/<name>`, and `..data` a symlink to `..v0`.
pub fn configmap_layout(path: &Path) {
    let dir = parent(path);
    let name = file_name(path);
    let first = dir.join("..v0");
    check(fs::create_dir(&first), "mkdir ..v0");
    check(
        fs::rename(path, first.join(&name)),
        "move the config into ..v0",
    );
    check(symlink("..v0", dir.join("..data")), "symlink ..data");
    check(
        symlink(Path::new("..data").join(&name), path),
        "symlink the config",
    );
}

/// Saves `text` as the new content of the config at `path`.
pub fn save(path: &Path, style: Style, text: &str) {
    match style {
        Style::InPlace => check(fs::write(path, text), "write in place"),
        Style::Rename => {
            let temp = parent(path).join(format!(".{}.tmp", file_name(path)));
            check(fs::write(&temp, text), "write the temporary file");
            check(fs::rename(&temp, path), "rename over the config");
        }
        Style::Symlink => swap_data(path, text),
    }
}

/// Replaces `old` (which must be there) with `new` in the config, saved in `style`.
pub fn replace(path: &Path, style: Style, old: &str, new: &str) {
    let text = read(path);
    assert!(
        text.contains(old),
        "the config holds {old:?}; it is:\n{text}"
    );
    save(path, style, &text.replacen(old, new, 1));
}

/// The config's current text (through any symlinks).
pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn swap_data(path: &Path, text: &str) {
    let dir = parent(path);
    let data = dir.join("..data");
    let current = fs::read_link(&data).unwrap_or_else(|e| {
        panic!(
            "{} is not a symlink ({e}): start the daemon with configmap_layout",
            data.display()
        )
    });
    let version: u32 = current
        .to_string_lossy()
        .strip_prefix("..v")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("..data points at {current:?}, not ..vN"));
    let next = format!("..v{}", version + 1);
    check(fs::create_dir(dir.join(&next)), "mkdir the new version");
    check(
        fs::write(dir.join(&next).join(file_name(path)), text),
        "write the new version",
    );
    let temp = dir.join("..data_tmp");
    check(symlink(&next, &temp), "symlink ..data_tmp");
    check(fs::rename(&temp, &data), "rename ..data_tmp over ..data");
    check(
        fs::remove_dir_all(dir.join(&current)),
        "remove the old version",
    );
}

fn parent(path: &Path) -> PathBuf {
    path.parent()
        .expect("the config is in a directory")
        .to_path_buf()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .expect("the config has a file name")
        .to_string_lossy()
        .into_owned()
}

fn check<T>(result: std::io::Result<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("cannot {what}: {e}"))
}
