//! The recipients CSV, read as a stream: one record at a time, never the whole list in memory.
//! UTF-8 with or without a BOM, CRLF or LF, quoted fields with commas and newlines (the `csv` crate).
//! Each row becomes a [`Recipient`] or a [`Skipped`] with the reason the user will see: an empty or
//! invalid address, a duplicate (case-insensitive) of an earlier row, or a row whose field count
//! differs from the header. A file that cannot be read at all is an error, and so is a quoted field
//! that runs over line breaks and holds lines shaped like rows of the file: an unclosed or stray `"`
//! that would otherwise swallow those rows into one field, silently (see [`Columns::swallowed`]).
//!
//! Duplicates need the whole file: [`RecipientList::scan`] reads it once first and indexes the
//! first line of each address in an [`AddressIndex`](crate::address_index::AddressIndex) (on disk
//! for a long list), and its readers look each row up there, so no table grows with the list.
//!
//! One job a module: `columns.rs` the header row and what a row needs to be sent, `skip.rs` the
//! reasons a row is skipped, `swallowed.rs` the unclosed-quote check, `reader.rs` the rows
//! streamed, `list.rs` the pre-pass, `key.rs` one key per mailbox and the ASCII form of IDN
//! domains, `counts.rs` counts in words.

mod columns;
mod counts;
mod key;
mod list;
mod reader;
mod skip;
mod swallowed;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use columns::Columns;
pub(crate) use counts::{plural, thousands};
pub use key::{address_key, ascii_address, ascii_domain, normalised_address};
pub use list::RecipientList;
pub use reader::RecipientReader;
pub use skip::SkipReason;

/// One recipient to render and send.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// Line in the CSV where this record starts (1 is the header).
    pub line: u64,
    /// The address, trimmed, as written in the file.
    pub email: String,
    /// The `name` column, when present and not empty: the To display name.
    pub name: Option<String>,
    /// Every field of the row, in column order.
    pub values: Vec<String>,
    pub columns: Arc<Columns>,
}

/// A row that is not sent, with its line and reason.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub line: u64,
    pub email: String,
    pub reason: SkipReason,
}

/// One row of the list.
#[derive(Debug)]
pub enum Row {
    Recipient(Recipient),
    Skipped(Skipped),
}
