//! Line numbers for the records of a CSV. The csv crate's own line count lags by one in CRLF files
//! and ignores a lone CR (which ends a row all the same: old Mac line ends, as Excel's "CSV
//! (Macintosh)" writes), and its byte position of a record after blank lines is just past the line
//! end before them (the parser skips blank lines as part of reading the record), so the line ends
//! are noted here as the bytes stream past the parser: CR, LF and CRLF are one each. The
//! recipients reader and its pre-pass both open the file through [`reader`], so both number rows
//! the same way.

use std::collections::VecDeque;
use std::fs::File;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

/// Where the lines of `bytes` are: a line ends at CRLF, a lone CR or a lone LF, each one line end,
/// as [`LineCounter`] counts them while streaming; a line end at the very end starts no new line.
/// The one rule for every reader that splits a text it holds (a field's lines, a suppression
/// file's).
pub(super) fn line_spans(bytes: &[u8]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    let mut breaks = memchr::memchr2_iter(b'\r', b'\n', bytes).peekable();
    while let Some(at) = breaks.next() {
        if at < start {
            continue; // the LF of a CRLF
        }
        spans.push(start..at);
        start = at + 1;
        if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
            start += 1;
            breaks.next();
        }
    }
    if start < bytes.len() || spans.is_empty() {
        spans.push(start..bytes.len());
    }
    spans
}

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
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .line_at(byte)
    }

    /// The lines in the bytes read so far: every line end, plus a last line without one. Once the
    /// reader reached the end, the file's line count.
    pub(super) fn lines_read(&self) -> u64 {
        let lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let pending: u64 = lines.pending.iter().map(|run| run.ends).sum();
        let ends = lines.counted + pending;
        ends + u64::from(lines.last_byte.is_some_and(|b| !matches!(b, b'\r' | b'\n')))
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
    /// Line ends before the last asked-for offset.
    counted: u64,
    /// The last byte read, if any.
    last_byte: Option<u8>,
}

/// A run of CR and LF bytes starting at `start`, with `ends` line ends in it.
#[derive(Debug)]
struct Break {
    start: u64,
    ends: u64,
}

impl Lines {
    /// The 1-based line of the record whose position is `byte`. Offsets must not go backwards. The
    /// position of a record is within the line end before it (just past its CR in a CRLF file,
    /// before any blank lines the parser skipped), so the record's first character is the first
    /// one after the run of line breaks that `byte` is in, and every line end of that run counts.
    fn line_at(&mut self, byte: u64) -> u64 {
        while let Some(run) = self.pending.front().filter(|run| run.start <= byte) {
            self.counted += run.ends;
            self.pending.pop_front();
        }
        self.counted + 1
    }

    /// Notes the line ends in `bytes`, which follow those read so far: each CR, and each LF but
    /// the one of a CRLF.
    fn note(&mut self, bytes: &[u8]) {
        let start = self.offset;
        let breaks = memchr::memchr2_iter(b'\r', b'\n', bytes);
        for (i, at) in breaks.map(|i| (i, start + i as u64)) {
            let before = if i == 0 {
                self.last_byte
            } else {
                Some(bytes[i - 1])
            };
            let in_run = matches!(before, Some(b'\r' | b'\n'));
            if !in_run || self.pending.is_empty() {
                self.pending.push_back(Break { start: at, ends: 0 });
            }
            if bytes[i] == b'\r' || before != Some(b'\r') {
                self.pending.back_mut().expect("pushed above").ends += 1;
            }
        }
        self.offset += bytes.len() as u64;
        if let Some(&last) = bytes.last() {
            self.last_byte = Some(last);
        }
    }
}

/// A reader that notes where the line ends are as the csv parser pulls bytes through it.
pub(super) struct LineCounting<R> {
    inner: R,
    lines: Arc<Mutex<Lines>>,
}

impl<R: std::io::Read> std::io::Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spans of a held text and the streaming counter agree on every line end.
    #[test]
    fn held_and_streamed_lines_agree() {
        for text in [
            "",
            "a",
            "a\n",
            "a\r\rb\r\nc\nd\re\r",
            "\r\n\r\n",
            "\n\r",
            "x\r\n\ny",
        ] {
            let spans = line_spans(text.as_bytes());
            let pieces: Vec<&str> = spans.iter().map(|s| &text[s.clone()]).collect();
            let mut lines = Lines::default();
            for byte in text.as_bytes().chunks(1) {
                lines.note(byte); // one byte at a time: CRLF split across reads
            }
            let ends = lines.line_at(text.len() as u64) - 1;
            let expected = pieces.len() - usize::from(!text.ends_with(['\r', '\n']));
            assert_eq!(ends, expected as u64, "{text:?}: {pieces:?}");
        }
        let text = "a\r\rb\r\nc\nd\re\r";
        let spans = line_spans(text.as_bytes());
        let pieces: Vec<&str> = spans.iter().map(|s| &text[s.clone()]).collect();
        assert_eq!(pieces, ["a", "", "b", "c", "d", "e"]);
    }
}
