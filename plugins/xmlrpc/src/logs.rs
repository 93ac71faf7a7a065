//! Byte ranges of log files, with supervisord's `readLog` and
//! `tailProcessStdoutLog` semantics. taskmasterd names the file (`tail`
//! replies with its path); the bridge reads the bytes itself, because
//! supervisord's API counts in bytes and offsets and the protocol in lines.

use crate::faults::{Fault, BAD_ARGUMENTS, FAILED};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Reads at most this much in one call, so that a `readLog(0, 0)` of a
/// huge file cannot fill the bridge's memory.
const MAX_READ: u64 = 16 * 1024 * 1024;

fn read_at(file: &mut File, offset: u64, length: u64) -> io::Result<String> {
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.take(length.min(MAX_READ)).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// supervisord's `readFile`: `length` bytes from `offset`; a negative
/// `offset` (with `length` 0) means that many bytes from the end; `length`
/// 0 means to the end.
pub fn read(path: &Path, offset: i64, length: i64) -> Result<String, Fault> {
    if length < 0 || (offset < 0 && length != 0) {
        return Err(Fault::new(BAD_ARGUMENTS, "bad offset or length"));
    }
    let mut file = match File::open(path) {
        Ok(file) => file,
        // taskmasterd creates a log file when the program first writes
        // to it: until then the log is empty, as in supervisord.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => {
            return Err(Fault::new(
                FAILED,
                format!("cannot read {}: {e}", path.display()),
            ))
        }
    };
    let failed = |e: io::Error| Fault::new(FAILED, format!("cannot read {}: {e}", path.display()));
    let size = file.metadata().map_err(failed)?.len();
    let (start, length) = if offset < 0 {
        (
            size.saturating_sub(offset.unsigned_abs()),
            offset.unsigned_abs(),
        )
    } else if length == 0 {
        (offset as u64, u64::MAX)
    } else {
        (offset as u64, length as u64)
    };
    read_at(&mut file, start, length).map_err(failed)
}

/// supervisord's `tailFile`: `[text, new offset, overflow]`. At most
/// `length` bytes ending at the end of the file and starting no earlier
/// than `offset`; overflow when more than that was appended since.
pub fn tail(path: &Path, offset: i64, length: i64) -> Result<(String, i64, bool), Fault> {
    if offset < 0 || length < 0 {
        return Err(Fault::new(BAD_ARGUMENTS, "offset and length must be >= 0"));
    }
    let Ok(mut file) = File::open(path) else {
        return Ok((String::new(), offset, false));
    };
    let size = file.metadata().map(|m| m.len() as i64).unwrap_or(0);
    let (mut offset, mut length) = (offset, length);
    let mut overflow = false;
    if size > offset + length {
        overflow = true;
        offset = size - 1;
    }
    if offset + length > size {
        if offset > size - 1 {
            length = 0;
        }
        offset = size - length;
    }
    let offset = offset.max(0);
    let text = if length <= 0 {
        String::new()
    } else {
        read_at(&mut file, offset as u64, length as u64).unwrap_or_default()
    };
    Ok((text, size, overflow))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &str) -> (std::path::PathBuf, impl Drop) {
        struct Remove(std::path::PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("xmlrpc-logs-{}-{n}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        (path.clone(), Remove(path))
    }

    #[test]
    fn read_follows_supervisord() {
        let (path, _guard) = file("0123456789");
        assert_eq!(read(&path, -4, 0).unwrap(), "6789");
        assert_eq!(read(&path, -40, 0).unwrap(), "0123456789");
        assert_eq!(read(&path, 2, 3).unwrap(), "234");
        assert_eq!(read(&path, 7, 0).unwrap(), "789");
        assert_eq!(read(&path, 20, 0).unwrap(), "");
        assert_eq!(read(&path, -4, 2).unwrap_err().code, BAD_ARGUMENTS);
        assert_eq!(read(&path, 0, -2).unwrap_err().code, BAD_ARGUMENTS);
        let missing = path.with_extension("missing");
        assert_eq!(read(&missing, -10, 0).unwrap(), "");
    }

    #[test]
    fn tail_follows_supervisord() {
        let (path, _guard) = file("0123456789");
        // The first call: the last `length` bytes, and where the file ends.
        assert_eq!(tail(&path, 0, 4).unwrap(), ("6789".into(), 10, true));
        // Nothing new since offset 10.
        assert_eq!(tail(&path, 10, 4).unwrap(), ("".into(), 10, false));
        // Less new than asked: the last `length` bytes, as supervisord.
        assert_eq!(tail(&path, 8, 4).unwrap(), ("6789".into(), 10, false));
        let missing = path.with_extension("missing");
        assert_eq!(tail(&missing, 3, 4).unwrap(), ("".into(), 3, false));
    }
}
