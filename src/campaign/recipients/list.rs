//! The pre-pass over the recipients CSV: read to the end once before anything is sent, so that the
//! file is known to be readable, its rows counted (the progress bar's total, and the rows-on-lines
//! summary), and the first line of each address indexed for the readers' duplicate check. The
//! index is an [`AddressIndex`], whose memory does not grow with the list.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::address_index::{self, AddressIndex, Combine};
use crate::error::Result;
use crate::invalid;

use super::super::csv_lines;
use super::reader::unreadable;
use super::{Columns, RecipientReader, address_key, plural};

/// The recipients CSV after its pre-pass: read to the end once (so it is known to be readable before
/// anything is sent), its data rows counted (the progress bar's total), and the first line of each
/// address indexed with [`AddressIndex`], whose memory does not grow with the list. Its readers
/// report a row as a duplicate of the first line of its address.
#[derive(Debug)]
pub struct RecipientList {
    path: PathBuf,
    rows: u64,
    /// Lines in the file, the header's included.
    lines: u64,
    /// Rows with a line break inside a quoted field, and the line of the first.
    multi_line_rows: (u64, Option<u64>),
    first_lines: Arc<AddressIndex>,
}

impl RecipientList {
    /// Reads the whole CSV once. An unreadable record is an error, and so is a quoted field that
    /// swallows rows (see [`Columns::swallowed`]); a header that cannot be read or has no `email`
    /// column is not (there is nothing to index): [`RecipientList::reader`] reports it, as
    /// [`RecipientReader::open`] does.
    pub fn scan(path: &Path) -> Result<RecipientList> {
        RecipientList::scan_with_capacity(path, address_index::DEFAULT_CAPACITY)
    }

    /// [`RecipientList::scan`] with the index holding `capacity` pairs in memory (tests spill it).
    pub(super) fn scan_with_capacity(path: &Path, capacity: usize) -> Result<RecipientList> {
        let file =
            File::open(path).map_err(|e| invalid!("{}: cannot open: {e}", path.display()))?;
        let (mut reader, lines) = csv_lines::reader(file);
        let columns = reader
            .headers()
            .ok()
            .and_then(|headers| Columns::from_headers(path, headers).ok());
        let mut first_lines = address_index::Builder::with_capacity(Combine::Min, capacity);
        let mut record = csv::StringRecord::new();
        let mut rows = 0;
        let mut multi_line_rows = (0, None);
        while reader
            .read_record(&mut record)
            .map_err(|e| unreadable(path, &e))?
        {
            rows += 1;
            let line = lines.line_of(&record);
            if record.iter().any(|field| field.contains('\n')) {
                multi_line_rows.0 += 1;
                multi_line_rows.1.get_or_insert(line);
            }
            let Some(columns) = &columns else { continue };
            if let Some(e) = columns.swallowed(path, &record, line) {
                return Err(e);
            }
            if let (email, None) = columns.check(&record) {
                first_lines.push(address_key(email), line)?;
            }
        }
        Ok(RecipientList {
            path: path.to_path_buf(),
            rows,
            lines: lines.lines_read(),
            multi_line_rows,
            first_lines: Arc::new(first_lines.finish()?),
        })
    }

    /// The number of data rows (every record after the header, whatever it holds).
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The lines in the file, the header's included.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Rows read against lines in the file, for `check` and the dry run: `recipients.csv: 1,000
    /// rows on 1,001 lines`, and how many rows hold line breaks in quoted fields, so that a count
    /// that does not add up can be looked into.
    pub fn summary(&self) -> String {
        let mut text = format!(
            "{}: {} on {}",
            self.path.display(),
            plural(self.rows, "row", "rows"),
            plural(self.lines, "line", "lines")
        );
        if let (n, Some(first)) = self.multi_line_rows {
            let holds = if n == 1 { "holds" } else { "hold" };
            text += &format!(
                " ({} {holds} line breaks in quoted fields, the first on line {first})",
                plural(n, "row", "rows")
            );
        }
        text
    }

    /// Opens the CSV again for streaming, reporting duplicates.
    pub fn reader(&self) -> Result<RecipientReader> {
        let reader = RecipientReader::open(&self.path)?;
        Ok(reader.with_first_lines(Arc::clone(&self.first_lines)))
    }
}
