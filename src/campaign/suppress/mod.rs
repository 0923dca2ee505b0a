//! The suppression list: addresses never to mail (unsubscribes, hard bounces, complaints), read from
//! the files named by `suppress` in campaign.toml. Matching uses [`address_key`] (the domain
//! normalised, case ignored). The addresses' 8-byte keys are kept in an [`AddressIndex`] used as a
//! set, whose memory does not grow with the list; the files are streamed, never loaded whole.
//!
//! A file is read in whichever of these shapes its first line (after blank and `#` lines) has
//! (`shape.rs` decides):
//!
//! * **One address per line** (`list.rs`): a bare address, `Name <addr>`, `<addr>` or `mailto:addr`
//!   (a query such as `?subject=…` is dropped, `%XX` decoded; `entry.rs`); blank lines are skipped
//!   and `#` starts a comment at the start of a line or after white space (`a#b@example.com` is an
//!   address).
//! * **A CSV without a header row** (`csv_file.rs`), separated by `,`, `;` or a tab, whose first
//!   line has an address in some column: that column holds the address on every line. Amazon SES's
//!   bulk import format is this shape, `recipient@example.com,BOUNCE`
//!   (<https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html>).
//! * **A CSV with a header row** (`csv_file.rs`), separated by `,`, `;` or a tab, with an address
//!   column named (case, spaces, `_`, `-` and `.` ignored) one of [`ADDRESS_HEADERS`], the first
//!   found in that order: `email` (SendGrid, listmonk, Postmark, most CRMs), `Email Address`
//!   (Mailchimp; Amazon SES's `EMAIL_ADDRESS` and `emailAddress`, Postmark's `EmailAddress`),
//!   `Recipient` (Postmark) and `address` (Mailgun); `headers.rs` links each provider's format.
//!
//! Every value in the address column (or every line of a list) must be an address in one of the
//! accepted spellings; anything else — a header with no address column, a line that is not an
//! address, JSON, a file that is not UTF-8 — is an error naming the file and the line and listing
//! the accepted shapes, never a file silently read as nothing. Empty cells in the address column
//! are skipped and counted. `lines.rs` gives a file's text lines to `shape.rs` and `list.rs`.

mod csv_file;
mod entry;
mod headers;
mod lines;
mod list;
mod shape;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::address_index::{self, AddressIndex, Builder, Combine};
use crate::error::Result;

use super::recipients::{address_key, plural};
pub use entry::parse_entry;
pub use headers::ADDRESS_HEADERS;
use shape::{Shape, detect};

/// What the error messages list as accepted.
const ACCEPTED: &str = "accepted: one address per line (`Name <addr>` and `mailto:addr` too, `#` \
    comments), or a CSV separated by `,`, `;` or tabs, either without a header row and with an \
    address in the same column of every line (`addr,reason`), or with a header row naming the \
    address column `email`, `Email Address` (Mailchimp), `EMAIL_ADDRESS` or `emailAddress` (Amazon \
    SES), `Recipient` (Postmark) or `address` (Mailgun)";

/// Addresses never to mail.
#[derive(Debug, Default)]
pub struct Suppression {
    keys: AddressIndex,
    files: Vec<FileSummary>,
}

/// What one suppression file contributed.
#[derive(Debug, Clone)]
pub struct FileSummary {
    pub path: PathBuf,
    /// Addresses read (an address listed twice counts twice).
    pub addresses: u64,
    /// Rows whose address cell was empty.
    pub empty: u64,
    /// How the file was read, e.g. `CSV with a header row, column \`Email Address\``.
    pub shape: String,
}

impl FileSummary {
    /// `unsubscribed.csv: 120 addresses to suppress (CSV with a header row, column `email`)`.
    pub fn line(&self) -> String {
        let mut text = format!(
            "{}: {} to suppress ({}",
            self.path.display(),
            plural(self.addresses, "address", "addresses"),
            self.shape
        );
        if self.empty > 0 {
            let rows = plural(self.empty, "row", "rows");
            text += &format!("; {rows} with an empty address cell skipped");
        }
        text + ")"
    }
}

impl Suppression {
    /// Reads every file; an unreadable file, or one in no accepted shape, is an error.
    pub fn load(files: &[impl AsRef<Path>]) -> Result<Suppression> {
        Suppression::load_with_capacity(files, address_index::DEFAULT_CAPACITY)
    }

    /// [`Suppression::load`] with the index holding `capacity` keys in memory (tests spill it).
    fn load_with_capacity(files: &[impl AsRef<Path>], capacity: usize) -> Result<Suppression> {
        let mut keys = Builder::with_capacity(Combine::Min, capacity);
        let mut summaries = Vec::with_capacity(files.len());
        for file in files {
            summaries.push(read_file(file.as_ref(), &mut keys)?);
        }
        Ok(Suppression {
            keys: keys.finish()?,
            files: summaries,
        })
    }

    pub fn contains(&self, email: &str) -> bool {
        !self.keys.is_empty() && self.keys.contains(address_key(email))
    }

    /// Distinct addresses over all files.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// What each file contributed, in the order of `suppress`.
    pub fn files(&self) -> &[FileSummary] {
        &self.files
    }

    /// One line per file, for `check` and the dry run.
    pub fn summaries(&self) -> Vec<String> {
        self.files.iter().map(FileSummary::line).collect()
    }
}

/// Reads one file into `keys`.
fn read_file(path: &Path, keys: &mut Builder) -> Result<FileSummary> {
    let (shape, line) = detect(path)?;
    let mut summary = FileSummary {
        path: path.to_path_buf(),
        addresses: 0,
        empty: 0,
        shape: shape.describe(),
    };
    match shape {
        Shape::Empty => {}
        Shape::List => list::read_list(path, keys, &mut summary)?,
        Shape::Csv {
            separator,
            header,
            column,
            ref name,
        } => csv_file::read_csv(
            path,
            keys,
            &mut summary,
            separator,
            header.then_some(line),
            column,
            name.as_deref(),
        )?,
    }
    Ok(summary)
}

/// At most 60 characters of `text`, for an error message.
fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}
