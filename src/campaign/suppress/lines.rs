//! The text lines of a suppression file, for recognising its shape and for reading a list of one
//! address per line: numbered from 1, a BOM dropped, line ends (LF or CRLF) removed, and a line
//! that is not UTF-8 an error naming it, never a line read as something else.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::error::{Error, Result};
use crate::invalid;

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
    Ok(std::iter::from_fn(move || {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Err(e) => Some(Err(cannot_read(&path, &e))),
            Ok(_) => {
                number += 1;
                let bytes = if number == 1 {
                    buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&buf)
                } else {
                    &buf
                };
                Some(match std::str::from_utf8(bytes) {
                    Ok(text) => Ok((number, text.trim_end_matches(['\n', '\r']).to_string())),
                    Err(_) => Err(not_utf8(&path, number, SAVE_AS_UTF8)),
                })
            }
        }
    }))
}
