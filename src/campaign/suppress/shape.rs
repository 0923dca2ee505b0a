//! Recognising how a suppression file is laid out, from its first line with content (not blank,
//! not a `#` comment): an address makes it a list of one address per line; a line with an address
//! in some field a CSV without a header row (Amazon SES's bulk import, `addr,reason`); a line
//! naming an address column (see [`headers`](super::headers)) a CSV with a header row. Anything
//! else is an error naming the line and listing the accepted shapes, never a file silently read as
//! nothing.

use std::path::Path;

use crate::error::Result;
use crate::invalid;

use super::entry::{parse_entry, strip_comment};
use super::headers::address_column;
use super::lines::lines;
use super::{ACCEPTED, shorten};

/// How a file is laid out, from its first line.
pub(super) enum Shape {
    /// No line with content.
    Empty,
    /// One address per line.
    List,
    /// A CSV: its separator, whether the first line is a header, and the address column (0-based)
    /// with its header name.
    Csv {
        separator: u8,
        header: bool,
        column: usize,
        name: Option<String>,
    },
}

impl Shape {
    /// How the file was read, for its summary line: `CSV with a header row, column `email``.
    pub(super) fn describe(&self) -> String {
        match self {
            Shape::Empty => "no addresses in the file".into(),
            Shape::List => "one address per line".into(),
            Shape::Csv {
                separator,
                header,
                column,
                name,
            } => {
                let separated = match separator {
                    b'\t' => " (tab-separated)",
                    b';' => " (`;`-separated)",
                    _ => "",
                };
                match (header, name) {
                    (true, Some(name)) => {
                        format!("CSV with a header row, column `{name}`{separated}")
                    }
                    _ => format!(
                        "CSV without a header row, addresses in column {}{separated}",
                        column + 1
                    ),
                }
            }
        }
    }
}

/// The shape of `path` from its first line with content (not blank, not a `#` comment), and that
/// line's number.
pub(super) fn detect(path: &Path) -> Result<(Shape, u64)> {
    let mut first = None;
    for line in lines(path)? {
        let (number, text) = line?;
        if !strip_comment(&text).trim().is_empty() {
            first = Some((number, text));
            break;
        }
    }
    let Some((number, text)) = first else {
        return Ok((Shape::Empty, 0));
    };
    if parse_entry(strip_comment(&text)).is_some() {
        return Ok((Shape::List, number));
    }
    let at = |what: String| invalid!("{}: line {number}: {what}; {ACCEPTED}", path.display());
    // A line without a separator is a CSV of one column: only a header can make it that.
    let found = separator_of(&text);
    let separator = found.unwrap_or(b',');
    let fields: Vec<String> = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(separator)
        .from_reader(text.as_bytes())
        .records()
        .next()
        .and_then(|r| r.ok())
        .map(|r| r.iter().map(str::to_string).collect())
        .unwrap_or_default();
    if let Some(column) = fields.iter().position(|f| parse_entry(f).is_some()) {
        let shape = Shape::Csv {
            separator,
            header: false,
            column,
            name: None,
        };
        return Ok((shape, number));
    }
    let column = address_column(&fields).ok_or_else(|| match found {
        Some(_) => at(format!(
            "no address column in the header row (found: {}) and no address in the line",
            fields.join(", ")
        )),
        None => at(format!(
            "`{}` is not an address, nor the header of an address column",
            shorten(&text)
        )),
    })?;
    let shape = Shape::Csv {
        separator,
        header: true,
        column,
        name: Some(fields[column].trim().to_string()),
    };
    Ok((shape, number))
}

/// The separator of a CSV line: the most frequent of tab, `;` and `,` outside double quotes (ties
/// in that order), or `None` when there is none.
fn separator_of(line: &str) -> Option<u8> {
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for b in line.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b'\t' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b',' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let (best, count) =
        counts.iter().enumerate().fold(
            (0, 0),
            |(bi, bc), (i, &c)| if c > bc { (i, c) } else { (bi, bc) },
        );
    (count > 0).then_some([b'\t', b';', b','][best])
}
