//! Line numbers for the records of a CSV. The csv crate's own line count lags by one in CRLF files,
//! so the newlines are counted here as the bytes stream past the parser. The recipients reader and
//! its pre-pass both open the file through [`reader`], so both number rows the same way.

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
        let newlines = lines.counted + lines.pending.len() as u64;
        newlines + u64::from(lines.last_byte.is_some_and(|b| b != b'\n'))
    }
}

/// Newlines seen so far, keeping only those not yet behind the current record (a few kilobytes of
/// read-ahead), never the whole file.
#[derive(Debug, Default)]
struct Lines {
    /// Bytes read so far.
    offset: u64,
    /// Offsets of newlines not yet counted.
    pending: VecDeque<u64>,
    /// Newlines before the last asked-for offset.
    counted: u64,
    /// The last byte read, if any.
    last_byte: Option<u8>,
}

impl Lines {
    /// The 1-based line of the record starting at `byte`. Offsets must not go backwards. A newline
    /// exactly at `byte` is the tail of a CRLF terminator, so it is counted too.
    fn line_at(&mut self, byte: u64) -> u64 {
        while self.pending.front().is_some_and(|&nl| nl <= byte) {
            self.pending.pop_front();
            self.counted += 1;
        }
        self.counted + 1
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
        let mut lines = self.lines.lock().unwrap();
        let start = lines.offset;
        for (i, _) in buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n') {
            lines.pending.push_back(start + i as u64);
        }
        lines.offset += n as u64;
        if n > 0 {
            lines.last_byte = Some(buf[n - 1]);
        }
        Ok(n)
    }
}
