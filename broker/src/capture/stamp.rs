//! Per-line timestamps (`stdout_timestamps`): the activity log's date
//! format at the start of each line, remembering across reads whether the
//! last one ended mid-line.

/// Output is handed on in pieces of about this size, so that a chunk of
/// short lines does not balloon in memory.
const PIECE: usize = 64 << 10;

#[derive(Debug)]
pub struct Stamper {
    at_line_start: bool,
    out: Vec<u8>,
}

impl Default for Stamper {
    fn default() -> Self {
        Stamper::new(true)
    }
}

impl Stamper {
    /// A stamper for output that starts a line (`at_line_start`) or goes
    /// on with one.
    pub fn new(at_line_start: bool) -> Self {
        Stamper {
            at_line_start,
            out: Vec::new(),
        }
    }

    /// Passes `data` to `sink` with `stamp` (already ending in a space)
    /// before every line that starts in it.
    pub fn stamp(&mut self, data: &[u8], stamp: &[u8], mut sink: impl FnMut(&[u8])) {
        for line in data.split_inclusive(|&b| b == b'\n') {
            if self.at_line_start {
                self.out.extend_from_slice(stamp);
            }
            self.out.extend_from_slice(line);
            self.at_line_start = line.ends_with(b"\n");
            if self.out.len() >= PIECE {
                sink(&self.out);
                self.out.clear();
            }
        }
        if !self.out.is_empty() {
            sink(&self.out);
            self.out.clear();
        }
        // A thousand quiet programs keep no buffers.
        if self.out.capacity() > 4096 {
            self.out = Vec::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stamper: &mut Stamper, data: &[u8]) -> Vec<u8> {
        let mut all = Vec::new();
        stamper.stamp(data, b"T ", |piece| all.extend_from_slice(piece));
        all
    }

    #[test]
    fn each_line_start_gets_a_stamp_across_reads() {
        let mut stamper = Stamper::default();
        assert_eq!(run(&mut stamper, b"a\nb"), b"T a\nT b");
        assert_eq!(run(&mut stamper, b"c\n\nd\n"), b"c\nT \nT d\n");
        assert_eq!(run(&mut stamper, b"e"), b"T e");
    }

    #[test]
    fn pieces_stay_bounded() {
        let mut stamper = Stamper::default();
        let data = b"y\n".repeat(200_000);
        let mut biggest = 0;
        let mut total = 0;
        stamper.stamp(&data, b"0123456789 ", |piece| {
            biggest = biggest.max(piece.len());
            total += piece.len();
        });
        assert_eq!(total, 200_000 * 13);
        assert!(biggest < PIECE + 64, "{biggest}");
    }
}
