//! Reading a file of one address per line (bounce and complaint lists, `Name <addr>` and `mailto:`
//! lines, `#` comments): every line with content must be an address, or the file is refused at
//! that line.

use std::path::Path;

use crate::address_index::Builder;
use crate::error::Result;
use crate::invalid;

use super::super::recipients::address_key;
use super::entry::{parse_entry, strip_comment};
use super::lines::lines;
use super::{ACCEPTED, FileSummary, shorten};

/// Reads the addresses of the list at `path` into `keys`, counting them in `summary`.
pub(super) fn read_list(path: &Path, keys: &mut Builder, summary: &mut FileSummary) -> Result<()> {
    for line in lines(path)? {
        let (number, text) = line?;
        let entry = strip_comment(&text).trim();
        if entry.is_empty() {
            continue;
        }
        let address = parse_entry(entry).ok_or_else(|| {
            invalid!(
                "{}: line {number}: `{}` is not an address (the file's first line made it a list \
                 of one address per line); fix or remove the line. {ACCEPTED}",
                path.display(),
                shorten(entry)
            )
        })?;
        keys.push(address_key(&address), 0)?;
        summary.addresses += 1;
    }
    Ok(())
}
