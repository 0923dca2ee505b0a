//! The one wording for a recipients or suppression file that cannot be read at some line: a record
//! the csv crate refuses, or bytes that are not UTF-8. Both readers name the file and the line and
//! say what to do; only their advice for saving the file as UTF-8 differs.

use std::path::Path;

use crate::error::Error;
use crate::invalid;

/// `<path>: line <line>: is not valid UTF-8; <advice>`.
pub(super) fn not_utf8(path: &Path, line: u64, advice: &str) -> Error {
    invalid!(
        "{}: line {line}: is not valid UTF-8; {advice}",
        path.display()
    )
}

/// The error for a CSV record that cannot be read at all, naming the file and line; `utf8_advice`
/// says how to save a file that is not UTF-8.
pub(super) fn unreadable(path: &Path, e: &csv::Error, utf8_advice: &str) -> Error {
    let line = e.position().map_or(0, |p| p.line());
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => not_utf8(path, line, utf8_advice),
        _ => invalid!("{}: line {line}: {e}", path.display()),
    }
}
