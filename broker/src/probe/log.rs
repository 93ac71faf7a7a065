//! `log` probes: a regex over the lines a process writes, read from its
//! log files from where they ended when the probe began (the capture
//! pumps write them; reading the files keeps the pumps free of probes).

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Follows some files from their current ends.
pub struct Reader {
    files: Vec<(PathBuf, u64, Vec<u8>)>,
}

/// The most of a partial line kept while waiting for its end.
const MAX_LINE: usize = 64 * 1024;

impl Reader {
    pub fn new(paths: &[PathBuf]) -> Reader {
        let files = paths
            .iter()
            .map(|path| {
                let end = std::fs::metadata(path).map_or(0, |m| m.len());
                (path.clone(), end, Vec::new())
            })
            .collect();
        Reader { files }
    }

    /// Whether a line written since the last call matches `regex`.
    pub fn find(&mut self, regex: &regex::Regex) -> Result<(), String> {
        for (path, offset, partial) in &mut self.files {
            let Ok(mut file) = std::fs::File::open(&*path) else {
                continue;
            };
            let len = file.metadata().map_or(0, |m| m.len());
            if len < *offset {
                // Rotated or cleared: start over at its beginning.
                *offset = 0;
            }
            if file.seek(SeekFrom::Start(*offset)).is_err() {
                continue;
            }
            let mut fresh = Vec::new();
            let read = file.take(len - *offset).read_to_end(&mut fresh);
            *offset += read.unwrap_or(0) as u64;
            partial.extend_from_slice(&fresh);
            let complete = partial
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1);
            let lines: Vec<u8> = partial.drain(..complete).collect();
            if partial.len() > MAX_LINE {
                partial.clear();
            }
            let text = String::from_utf8_lossy(&lines);
            if text.lines().any(|line| regex.is_match(line)) {
                return Ok(());
            }
        }
        Err("no matching line yet".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn only_new_complete_lines_match() {
        let dir = std::env::temp_dir().join(format!("tm-logprobe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out");
        std::fs::write(&path, "listening on port 1\n").unwrap();
        let mut reader = Reader::new(std::slice::from_ref(&path));
        let pattern = &regex::Regex::new("listening on port [0-9]+").unwrap();
        assert!(reader.find(pattern).is_err(), "an old line matched");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(b"listening on port 8").unwrap();
        assert!(reader.find(pattern).is_err(), "a partial line matched");
        file.write_all(b"0\n").unwrap();
        assert!(reader.find(pattern).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
