//! The recipients CSV, read as a stream: one record at a time, never the whole list in memory.
//! UTF-8 with or without a BOM, CRLF or LF, quoted fields with commas and newlines (the `csv` crate).
//! Each row becomes a [`Recipient`] or a [`Skipped`] with the reason the user will see: an empty or
//! invalid address, a duplicate (case-insensitive) of an earlier row, or a row whose field count
//! differs from the header. Only a file that cannot be read at all is an error.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use lettre::Address;

use crate::error::Result;
use crate::invalid;

/// The header row: column names (trimmed, as written) and where `email` and `name` are.
#[derive(Debug)]
pub struct Columns {
    pub names: Vec<String>,
    pub email: usize,
    pub name: Option<usize>,
}

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

/// Why a row is not sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    EmptyAddress,
    InvalidAddress(String),
    Duplicate { first_line: u64 },
    MalformedRow { fields: usize, expected: usize },
    Suppressed,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::EmptyAddress => write!(f, "empty address"),
            SkipReason::InvalidAddress(why) => write!(f, "invalid address: {why}"),
            SkipReason::Duplicate { first_line } => write!(f, "duplicate of line {first_line}"),
            SkipReason::MalformedRow { fields, expected } => {
                write!(
                    f,
                    "malformed row: {fields} fields, the header has {expected}"
                )
            }
            SkipReason::Suppressed => write!(f, "suppressed"),
        }
    }
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

/// A key for an address that ignores case, for duplicate and result-log lookups. Storing 8 bytes per
/// address instead of the address keeps memory small for lists of millions.
pub fn address_key(email: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    for b in email.trim().bytes() {
        b.to_ascii_lowercase().hash(&mut hasher);
    }
    hasher.finish()
}

/// Streams the rows of a recipients CSV.
pub struct RecipientReader {
    path: PathBuf,
    reader: csv::Reader<LineCounting<File>>,
    lines: Arc<Mutex<Lines>>,
    columns: Arc<Columns>,
    seen: HashMap<u64, u64>,
    record: csv::StringRecord,
}

impl RecipientReader {
    /// Opens the CSV and reads its header row.
    pub fn open(path: &Path) -> Result<RecipientReader> {
        let file = File::open(path).map_err(|e| {
            invalid!(
                "{}: cannot open the recipients file: {e}; set `recipients` in campaign.toml to your CSV",
                path.display()
            )
        })?;
        let lines = Arc::new(Mutex::new(Lines::default()));
        let counting = LineCounting {
            inner: file,
            lines: Arc::clone(&lines),
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(counting);
        let headers = reader
            .headers()
            .map_err(|e| invalid!("{}: cannot read the header row: {e}", path.display()))?;
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
        let columns = Arc::new(Columns { names, email, name });
        Ok(RecipientReader {
            path: path.to_path_buf(),
            reader,
            lines,
            columns,
            seen: HashMap::new(),
            record: csv::StringRecord::new(),
        })
    }

    pub fn columns(&self) -> &Arc<Columns> {
        &self.columns
    }

    fn row(&mut self) -> Row {
        let byte = self.record.position().map_or(0, |p| p.byte());
        let line = self.lines.lock().unwrap().line_at(byte);
        let expected = self.columns.names.len();
        let email = self
            .record
            .get(self.columns.email)
            .unwrap_or("")
            .trim()
            .to_string();
        if self.record.len() != expected {
            let reason = SkipReason::MalformedRow {
                fields: self.record.len(),
                expected,
            };
            return Row::Skipped(Skipped {
                line,
                email,
                reason,
            });
        }
        if let Some(reason) = check_address(&email) {
            return Row::Skipped(Skipped {
                line,
                email,
                reason,
            });
        }
        if let Some(&first_line) = self.seen.get(&address_key(&email)) {
            let reason = SkipReason::Duplicate { first_line };
            return Row::Skipped(Skipped {
                line,
                email,
                reason,
            });
        }
        self.seen.insert(address_key(&email), line);
        let name = self
            .columns
            .name
            .and_then(|i| self.record.get(i))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        Row::Recipient(Recipient {
            line,
            email,
            name,
            values: self.record.iter().map(str::to_string).collect(),
            columns: Arc::clone(&self.columns),
        })
    }
}

/// Line numbers for record byte offsets. The csv crate's own line count lags by one in CRLF files,
/// so the newlines are counted here as the bytes stream past, keeping only those not yet behind
/// the current record (a few kilobytes of read-ahead), never the whole file.
#[derive(Debug, Default)]
struct Lines {
    /// Bytes read so far.
    offset: u64,
    /// Offsets of newlines not yet counted.
    pending: std::collections::VecDeque<u64>,
    /// Newlines before the last asked-for offset.
    counted: u64,
}

impl Lines {
    /// The 1-based line of the record starting at `byte`. Offsets must not go backwards. A newline
    /// exactly at `byte` is the tail of a CRLF terminator, so it is counted too.
    fn line_at(&mut self, byte: u64) -> u64 {
        while self.pending.front().is_some_and(|&nl| nl <= byte) {
            self.pending.pop_front();
            self.counted += 1;
        }
        self.counted + 1
    }
}

/// A reader that notes where the newlines are as the csv parser pulls bytes through it.
struct LineCounting<R> {
    inner: R,
    lines: Arc<Mutex<Lines>>,
}

impl<R: std::io::Read> std::io::Read for LineCounting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut lines = self.lines.lock().unwrap();
        let start = lines.offset;
        for (i, _) in buf[..n].iter().enumerate().filter(|(_, b)| **b == b'\n') {
            lines.pending.push_back(start + i as u64);
        }
        lines.offset += n as u64;
        Ok(n)
    }
}

/// Why `email` cannot be sent to, or `None` when it can.
fn check_address(email: &str) -> Option<SkipReason> {
    if email.is_empty() {
        return Some(SkipReason::EmptyAddress);
    }
    match Address::from_str(email) {
        Ok(_) => None,
        Err(e) => Some(SkipReason::InvalidAddress(e.to_string())),
    }
}

impl Iterator for RecipientReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.read_record(&mut self.record) {
            Ok(true) => Some(Ok(self.row())),
            Ok(false) => None,
            Err(e) => Some(Err(unreadable(&self.path, &e))),
        }
    }
}

/// The error for a CSV record that cannot be read at all, naming the file and line.
fn unreadable(path: &Path, e: &csv::Error) -> crate::error::Error {
    let line = e.position().map_or(0, |p| p.line());
    let what = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => {
            "is not valid UTF-8; save the file as UTF-8 (\"CSV UTF-8\" in Excel)".to_string()
        }
        _ => e.to_string(),
    };
    invalid!("{}: line {line}: {what}", path.display())
}

/// Counts the data rows of a CSV without keeping them (for the progress bar's total), and checks the
/// whole file is readable before anything is sent.
pub fn count_rows(path: &Path) -> Result<u64> {
    let file = File::open(path).map_err(|e| invalid!("{}: cannot open: {e}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let mut record = csv::StringRecord::new();
    let mut rows = 0;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => rows += 1,
            Ok(false) => return Ok(rows),
            Err(e) => return Err(unreadable(path, &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(csv: &str) -> Vec<Row> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, csv).unwrap();
        RecipientReader::open(&path)
            .unwrap()
            .map(|r| r.unwrap())
            .collect()
    }

    #[test]
    fn bom_crlf_quotes_and_case_insensitive_header() {
        let got =
            rows("\u{feff} Email ,Name,note\r\na@x.example,\"Doe, Jane\",\"two\r\nlines\"\r\n");
        let Row::Recipient(r) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(r.email, "a@x.example");
        assert_eq!(r.name.as_deref(), Some("Doe, Jane"));
        assert_eq!(r.values[2], "two\r\nlines");
        assert_eq!(r.line, 2);
    }

    #[test]
    fn skips_with_reasons() {
        let crlf = rows("email\r\na@x.example\r\nbad\r\n");
        let Row::Skipped(s) = &crlf[1] else {
            panic!("{crlf:?}")
        };
        assert_eq!(s.line, 3);
        let got = rows("email,name\nA@x.example,a\n,b\nnope,c\na@X.example,d\nb@x.example\n");
        let reasons: Vec<String> = got
            .iter()
            .filter_map(|r| match r {
                Row::Skipped(s) => Some(format!("{} {}", s.line, s.reason)),
                Row::Recipient(_) => None,
            })
            .collect();
        assert_eq!(reasons[0], "3 empty address");
        assert!(reasons[1].starts_with("4 invalid address"), "{reasons:?}");
        assert_eq!(reasons[2], "5 duplicate of line 2");
        assert_eq!(reasons[3], "6 malformed row: 1 fields, the header has 2");
    }
}
