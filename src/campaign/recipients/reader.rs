//! Streaming the rows of the recipients CSV, one record at a time: each becomes a [`Recipient`] or
//! a [`Skipped`] with its line and reason. A reader from [`RecipientList::reader`] also reports
//! duplicates, from the pre-pass's index of each address's first line.
//!
//! [`RecipientList::reader`]: super::RecipientList::reader

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::address_index::AddressIndex;
use crate::error::{Error, Result};
use crate::invalid;

use super::super::csv_lines::{self, LineCounter, LineCounting};
use super::super::unreadable;
use super::{Columns, Recipient, Row, SkipReason, Skipped, address_key};

/// What to do with a recipients file that is not UTF-8.
const SAVE_AS_UTF8: &str = "save the file as UTF-8 (\"CSV UTF-8\" in Excel)";

/// Streams the rows of a recipients CSV. Duplicates are found only by a reader from
/// [`RecipientList::reader`](super::RecipientList::reader), which knows each address's first line
/// from the pre-pass.
pub struct RecipientReader {
    path: PathBuf,
    reader: csv::Reader<LineCounting<File>>,
    lines: LineCounter,
    columns: Arc<Columns>,
    /// The first line of each address; `None` when duplicates are not looked for.
    first_lines: Option<Arc<AddressIndex>>,
    record: csv::StringRecord,
}

impl RecipientReader {
    /// Opens the CSV and reads its header row. This reader does not look for duplicates (that
    /// needs the whole file read first: [`RecipientList::scan`](super::RecipientList::scan)); it
    /// suits a look at the first rows.
    pub fn open(path: &Path) -> Result<RecipientReader> {
        let file = File::open(path).map_err(|e| {
            invalid!(
                "{}: cannot open the recipients file: {e}; set `recipients` in campaign.toml to your CSV",
                path.display()
            )
        })?;
        let (mut reader, lines) = csv_lines::reader(file);
        let headers = reader
            .headers()
            .map_err(|e| invalid!("{}: cannot read the header row: {e}", path.display()))?;
        let columns = Arc::new(Columns::from_headers(path, headers)?);
        Ok(RecipientReader {
            path: path.to_path_buf(),
            reader,
            lines,
            columns,
            first_lines: None,
            record: csv::StringRecord::new(),
        })
    }

    /// This reader reporting a row as a duplicate of the first line of its address in
    /// `first_lines`.
    pub(super) fn with_first_lines(mut self, first_lines: Arc<AddressIndex>) -> RecipientReader {
        self.first_lines = Some(first_lines);
        self
    }

    pub fn columns(&self) -> &Arc<Columns> {
        &self.columns
    }

    fn row(&mut self) -> Result<Row> {
        let line = self.lines.line_of(&self.record);
        if let Some(e) = self.columns.swallowed(&self.path, &self.record, line) {
            return Err(e);
        }
        let (email, problem) = self.columns.check(&self.record);
        let reason = problem.or_else(|| self.duplicate(email, line));
        let email = email.to_string();
        if let Some(reason) = reason {
            return Ok(Row::Skipped(Skipped {
                line,
                email,
                reason,
            }));
        }
        let name = self
            .columns
            .name
            .and_then(|i| self.record.get(i))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        Ok(Row::Recipient(Recipient {
            line,
            email,
            name,
            values: self.record.iter().map(str::to_string).collect(),
            columns: Arc::clone(&self.columns),
        }))
    }

    /// A valid address on `line` whose first valid row is an earlier line is a duplicate of it.
    fn duplicate(&self, email: &str, line: u64) -> Option<SkipReason> {
        let first_line = self.first_lines.as_ref()?.get(address_key(email))?;
        (first_line < line).then_some(SkipReason::Duplicate { first_line })
    }
}

impl Iterator for RecipientReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.read_record(&mut self.record) {
            Ok(true) => Some(self.row()),
            Ok(false) => None,
            Err(e) => Some(Err(unreadable(&self.path, &e))),
        }
    }
}

/// The error for a record of the recipients CSV that cannot be read at all, naming the file and
/// line.
pub(super) fn unreadable(path: &Path, e: &csv::Error) -> Error {
    unreadable::unreadable(path, e, SAVE_AS_UTF8)
}
