//! The header row: which column holds the address (`email`, required) and which the display name
//! (`name`), and what a row needs to be sent (the header's number of fields, a valid address). The
//! reader and its pre-pass both judge rows here, so they agree on every row.

use std::path::Path;

use crate::error::Result;
use crate::invalid;

use super::skip::{SkipReason, check_address};

/// The header row: column names (trimmed, as written) and where `email` and `name` are.
#[derive(Debug)]
pub struct Columns {
    pub names: Vec<String>,
    pub email: usize,
    pub name: Option<usize>,
}

impl Columns {
    /// Reads the header row's names and finds the `email` (required) and `name` columns.
    pub(super) fn from_headers(path: &Path, headers: &csv::StringRecord) -> Result<Columns> {
        let names: Vec<String> = headers.iter().map(|h| h.trim().to_string()).collect();
        let find = |wanted: &str| names.iter().position(|n| n.eq_ignore_ascii_case(wanted));
        let email = find("email").ok_or_else(|| {
            invalid!(
                "{}: line 1: no `email` column in the header row (found: {}); name the address column `email`",
                path.display(),
                names.join(", ")
            )
        })?;
        let name = find("name");
        Ok(Columns { names, email, name })
    }

    /// The address of `record`, trimmed, and why the row cannot be sent, if it cannot (a
    /// duplicate aside): a field count that differs from the header's, or an empty or invalid
    /// address. The reader and its pre-pass both decide with this, so only a row the reader
    /// would send can be the first occurrence of an address.
    pub(super) fn check<'r>(&self, record: &'r csv::StringRecord) -> (&'r str, Option<SkipReason>) {
        let email = record.get(self.email).unwrap_or("").trim();
        let expected = self.names.len();
        if record.len() != expected {
            let fields = record.len();
            return (email, Some(SkipReason::MalformedRow { fields, expected }));
        }
        (email, check_address(email))
    }
}
