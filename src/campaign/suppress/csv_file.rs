//! Reading a CSV export (with or without a header row, separated by `,`, `;` or tabs) whose address
//! column [`detect`](super::shape::detect) found: every non-empty cell of that column must be an
//! address, or the file is refused at that line; empty cells are counted and skipped. Rows are
//! numbered as the recipients reader numbers them (`csv_lines`), quoted line breaks included.

use std::fs::File;
use std::path::Path;

use crate::address_index::Builder;
use crate::error::Result;
use crate::invalid;

use super::super::csv_lines;
use super::super::recipients::address_key;
use super::super::unreadable::unreadable;
use super::entry::parse_entry;
use super::lines::{SAVE_AS_UTF8, cannot_read};
use super::{ACCEPTED, FileSummary, shorten};

/// Reads the addresses in `column` (0-based, headed `name` when the file has a header row, which
/// is on `header_line`) of the CSV at `path` into `keys`, counting them in `summary`.
pub(super) fn read_csv(
    path: &Path,
    keys: &mut Builder,
    summary: &mut FileSummary,
    separator: u8,
    header_line: Option<u64>,
    column: usize,
    name: Option<&str>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| cannot_read(path, &e))?;
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(false)
        .flexible(true)
        .delimiter(separator)
        .comment(Some(b'#'));
    let (mut reader, lines) = csv_lines::reader_with(file, &builder);
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| unreadable(path, &e, SAVE_AS_UTF8))?
    {
        let line = lines.line_of(&record);
        let comment = record
            .get(0)
            .is_some_and(|f| f.trim_start().starts_with('#'));
        if header_line == Some(line) || comment || record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let value = record.get(column).unwrap_or_default().trim();
        if value.is_empty() {
            summary.empty += 1;
            continue;
        }
        let address = parse_entry(value).ok_or_else(|| {
            let column = match name {
                Some(name) => format!("column `{name}`"),
                None => format!("column {}", column + 1),
            };
            invalid!(
                "{}: line {line}: `{}` in {column} is not an address; fix or remove the line. \
                 {ACCEPTED}",
                path.display(),
                shorten(value)
            )
        })?;
        keys.push(address_key(&address), 0)?;
        summary.addresses += 1;
    }
    Ok(())
}
