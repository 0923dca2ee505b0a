//! Line numbers for the records of a CSV. The csv crate's own line count lags by one in CRLF files,
//! and its byte position of a record after blank lines is just past the line end before them (the
//! parser skips blank lines as part of reading the record), so the line breaks are noted here as the
//! bytes stream past the parser. The recipients reader and its pre-pass both open the file through
//! [`reader`], so both number rows the same way.

use std::collections::VecDeque;
use std::fs::File;
use std::sync::{Arc, Mutex};

/// A csv reader over `file` (records may have any number of fields) and the line counter it feeds.
pub(super) fn reader(file: File) -> (csv::Reader<LineCounting<File>>, LineCounter) {
    reader_with(file, csv::ReaderBuilder::new().flexible(true))
}

/// A csv reader over `file` built by `builder`, and the line counter it feeds.
pub(super) fn reader_with(
    file: File,
    builder: &csv::ReaderBuilder,
) -> (csv::Reader<LineCounting<File>>, LineCounter) {
    let lines = Arc::new(Mutex::new(Lines::default()));
    let counting = LineCounting {
        inner: file,
        lines: Arc::clone(&lines),
    };
    (builder.from_reader(counting), LineCounter(lines))
}

/// Gives the line each record starts on; ask in the order the records are read.
pub(super) struct LineCounter(Arc<Mutex<Lines>>);

impl LineCounter {
    /// The 1-based line where `record` (the one just read) starts.
    pub(super) fn line_of(&self, record: &csv::StringRecord) -> u64 {
        let byte = record.position().map_or(0, |p| p.byte());
        self.0.lock().unwrap().line_at(byte)
    }

    /// The lines in the bytes read so far: every newline, plus a last line without one. Once the
    /// reader reached the end, the file's line count.
    pub(super) fn lines_read(&self) -> u64 {
        let lines = self.0.lock().unwrap();
        let pending: u64 = lines.pending.iter().map(|run| run.newlines).sum();
        let newlines = lines.counted + pending;
        newlines + u64::from(lines.last_byte.is_some_and(|b| b != b'\n'))
    }
}

/// The line breaks seen so far, keeping only those not yet behind the current record (a few
/// kilobytes of read-ahead), never the whole file.
#[derive(Debug, Default)]
struct Lines {
    /// Bytes read so far.
    offset: u64,
    /// Runs of CR and LF bytes not yet counted: a line end, or one followed by blank lines.
    pending: VecDeque<Break>,
    /// Newlines before the last asked-for offset.
    counted: u64,
    /// The last byte read, if any.
    last_byte: Option<u8>,
}

/// A run of CR and LF bytes starting at `start`, with `newlines` LFs in it.
#[derive(Debug)]
struct Break {
    start: u64,
    newlines: u64,
}

impl Lines {
    /// The 1-based line of the record whose position is `byte`. Offsets must not go backwards. The
    /// position of a record is within the line end before it (just past its CR in a CRLF file,
    /// before any blank lines the parser skipped), so the record's first character is the first
    /// one after the run of line breaks that `byte` is in, and every newline of that run counts.
    fn line_at(&mut self, byte: u64) -> u64 {
        while let Some(run) = self.pending.front().filter(|run| run.start <= byte) {
            self.counted += run.newlines;
            self.pending.pop_front();
        }
        self.counted + 1
    }

    /// Notes the line breaks in `bytes`, which follow those read so far.
    fn note(&mut self, bytes: &[u8]) {
        let start = self.offset;
        // The offset of the last CR or LF, when it ends what was read so far.
        let mut previous = self
            .last_byte
            .filter(|b| matches!(b, b'\r' | b'\n'))
            .map(|_| start - 1);
        for i in memchr::memchr2_iter(b'\r', b'\n', bytes) {
            let at = start + i as u64;
            if previous.is_none_or(|p| p + 1 != at) || self.pending.is_empty() {
                self.pending.push_back(Break { start: at, newlines: 0 });
            }
            if bytes[i] == b'\n' {
                self.pending.back_mut().expect("pushed above").newlines += 1;
            }
            previous = Some(at);
        }
        self.offset += bytes.len() as u64;
        if let Some(&last) = bytes.last() {
            self.last_byte = Some(last);
        }
    }
}

/// A reader that notes where the newlines are as the csv parser pulls bytes through it.
pub(super) struct LineCounting<R> {
    inner: R,
    lines: Arc<Mutex<Lines>>,
}

impl<R: std::io::Read> std::io::Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.lines.lock().unwrap().note(&buf[..n]);
        Ok(n)
    }
}
