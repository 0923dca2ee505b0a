//! The text lines of a suppression file, for recognising its shape and for reading a list of one
//! address per line: numbered from 1, a BOM dropped, line ends removed, and a line that is not
//! UTF-8 an error naming it, never a line read as something else. LF, CRLF and a lone CR (old Mac
//! files) each end one line, as `csv_lines` counts them for the CSV reader, so both agree on
//! every line number.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{Error, Result};
use crate::invalid;

use super::super::csv_lines;
use super::super::unreadable::not_utf8;

/// What to do with a suppression file that is not UTF-8.
pub(super) const SAVE_AS_UTF8: &str = "save the suppression list as UTF-8";

/// The error for a suppression file that cannot be opened or read.
pub(super) fn cannot_read(path: &Path, e: &std::io::Error) -> Error {
    invalid!("{}: cannot read the suppression list: {e}", path.display())
}

/// The lines of `path` as text, numbered from 1, a BOM dropped; a line that is not UTF-8 is an
/// error naming it.
pub(super) fn lines(path: &Path) -> Result<impl Iterator<Item = Result<(u64, String)>>> {
    let file = File::open(path).map_err(|e| cannot_read(path, &e))?;
    let mut reader = BufReader::new(file);
    let path = path.to_path_buf();
    let mut number = 0u64;
    let mut buf = Vec::new();
    // Lines already split off the last chunk (a chunk ends at LF and may hold lone CRs).
    let mut pending: VecDeque<Vec<u8>> = VecDeque::new();
    Ok(std::iter::from_fn(move || {
        if pending.is_empty() {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Err(e) => return Some(Err(cannot_read(&path, &e))),
                Ok(_) => pending.extend(split_chunk(&buf)),
            }
        }
        let line = pending.pop_front()?;
        number += 1;
        let bytes = match number {
            1 => line.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&line),
            _ => &line,
        };
        Some(match std::str::from_utf8(bytes) {
            Ok(text) => Ok((number, text.to_string())),
            Err(_) => Err(not_utf8(&path, number, SAVE_AS_UTF8)),
        })
    }))
}

/// The lines of a chunk that ends at LF (or at the end of the file), split as the CSV reader's
/// lines are ([`csv_lines::line_spans`]).
fn split_chunk(chunk: &[u8]) -> Vec<Vec<u8>> {
    let spans = csv_lines::line_spans(chunk);
    spans.into_iter().map(|span| chunk[span].to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lf_crlf_and_lone_cr_each_end_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.txt");
        std::fs::write(&path, "\u{feff}a\r\rb\r\nc\nd\re\r").unwrap();
        let lines: Vec<(u64, String)> = lines(&path).unwrap().map(Result::unwrap).collect();
        let expected = [(1, "a"), (2, ""), (3, "b"), (4, "c"), (5, "d"), (6, "e")];
        let expected: Vec<(u64, String)> =
            expected.iter().map(|&(n, t)| (n, t.to_string())).collect();
        assert_eq!(lines, expected);
    }
}
