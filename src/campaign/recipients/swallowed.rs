//! The swallowed-rows check: a quoted field that runs over line breaks and holds lines shaped like
//! rows of the file. That is an unclosed (or stray) `"` taking in the rows after it, which the csv
//! crate reads without complaint as one long field: those recipients would be lost without a trace
//! and their lines put into one recipient's message. So the reader and its pre-pass refuse the file
//! instead, naming the line where the quote opens.

use super::super::csv_lines;
use std::path::Path;

use crate::error::Error;
use crate::invalid;

use super::columns::Columns;
use super::counts::plural;
use super::skip::check_address;

impl Columns {
    /// The error for a quoted field of `record` (which starts on `line`) that runs over line breaks
    /// and holds lines shaped like rows of this file: each with the header's number of
    /// comma-separated fields and a valid address in the `email` position. That is an unclosed (or
    /// stray) `"` swallowing the rows after it, which would lose those recipients without a trace
    /// and put their lines into one recipient's message. Ordinary multi-line values (a postal
    /// address, a note) have no such lines and pass.
    pub(super) fn swallowed(
        &self,
        path: &Path,
        record: &csv::StringRecord,
        line: u64,
    ) -> Option<Error> {
        // The line where the field being looked at starts.
        let mut at = line;
        for field in record.iter() {
            let lines = field_lines(field);
            let breaks = lines.len() as u64 - 1;
            if breaks == 0 {
                continue;
            }
            let mut rows = 0u64;
            let mut first = None;
            for (k, text) in lines.iter().enumerate().skip(1) {
                if let Some(address) = self.row_shaped(text) {
                    rows += 1;
                    first.get_or_insert((at + k as u64, address));
                }
            }
            if let Some((first_line, address)) = first {
                let (look, more) = if rows > 1 {
                    ("look like rows of their own", ", …")
                } else {
                    ("looks like a row of its own", "")
                };
                // Its last line (a break just before the closing quote or the end of the file
                // ends no line of the field's own).
                let last = at + breaks - u64::from(lines.last() == Some(&""));
                return Some(invalid!(
                    "{}: line {at}: a quoted field starts here and runs to line {last}, taking in \
                     {} that {look} (line {first_line}: {address}{more}); a \
                     `\"` is missing or stray on line {at}: end the field with `\"` (and write a \
                     `\"` inside a quoted field as `\"\"`)",
                    path.display(),
                    plural(rows, "line", "lines"),
                ));
            }
            at += breaks;
        }
        None
    }

    /// The address in the `email` position of `text` when that line, split at commas, has the
    /// header's number of fields and a valid address there.
    fn row_shaped<'t>(&self, text: &'t str) -> Option<&'t str> {
        if text.split(',').count() != self.names.len() {
            return None;
        }
        let email = text.split(',').nth(self.email)?.trim();
        check_address(email).is_none().then_some(email)
    }
}

/// The lines of a field, split where the file's lines end ([`csv_lines::line_spans`]).
fn field_lines(field: &str) -> Vec<&str> {
    let spans = csv_lines::line_spans(field.as_bytes());
    spans.into_iter().map(|span| &field[span]).collect()
}
