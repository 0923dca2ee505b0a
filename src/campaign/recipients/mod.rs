//! The recipients CSV, read as a stream: one record at a time, never the whole list in memory.
//! UTF-8 with or without a BOM, CRLF or LF, quoted fields with commas and newlines (the `csv` crate).
//! Each row becomes a [`Recipient`] or a [`Skipped`] with the reason the user will see: an empty or
//! invalid address, a duplicate (case-insensitive) of an earlier row, or a row whose field count
//! differs from the header. A file that cannot be read at all is an error, and so is a quoted field
//! that runs over line breaks and holds lines shaped like rows of the file: an unclosed or stray `"`
//! that would otherwise swallow those rows into one field, silently (see [`Columns::swallowed`]).
//!
//! Duplicates need the whole file: [`RecipientList::scan`] reads it once first and indexes the
//! first line of each address in an [`AddressIndex`] (on disk for a long list), and its readers
//! look each row up there, so no table grows with the list.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use lettre::Address;

use crate::address_index::{self, AddressIndex, Combine};
use crate::error::{Error, Result};
use crate::invalid;

use super::csv_lines::{self, LineCounter, LineCounting};

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

/// A key for an address, for duplicate, result-log and suppression lookups in an [`AddressIndex`]:
/// 8 bytes per address instead of the address. One mailbox spelled several ways has one key:
///
/// * the domain is normalised as DNS sees it: IDNA to ASCII (UTS #46: Unicode case folded,
///   NFC, punycode), so `a@exämple.com`, `a@EXÄMPLE.com` and `a@xn--exmple-cua.com` are one
///   mailbox. A domain IDNA refuses (it is then an invalid address anyway) is only lower-cased;
/// * the local part is compared ignoring ASCII case. RFC 5321 lets the receiving host treat it as
///   case-sensitive, but no provider does, and two rows differing only in its case are almost
///   always one person typed twice; anything else in it (dots, `+tags`, non-ASCII) is left as is.
///
/// The idna crate is the one lettre already uses to validate such domains.
pub fn address_key(email: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let email = email.trim();
    let mut hasher = std::hash::DefaultHasher::new();
    let (local, domain) = match email.rsplit_once('@') {
        Some((local, domain)) => (local, Some(domain)),
        None => (email, None),
    };
    for b in local.bytes() {
        b.to_ascii_lowercase().hash(&mut hasher);
    }
    if let Some(domain) = domain {
        b'@'.hash(&mut hasher);
        let ascii = ascii_domain(domain).unwrap_or(std::borrow::Cow::Borrowed(domain));
        for b in ascii.bytes() {
            b.to_ascii_lowercase().hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// A domain as DNS sees it: IDNA to ASCII (UTS #46: case folded, NFC, punycode), e.g. `exämple.com`
/// → `xn--exmple-cua.com`; `None` when IDNA refuses it. For [`address_key`], and for sending to an
/// IDN domain through a relay without SMTPUTF8 (`render` writes such an address in this form).
pub fn ascii_domain(domain: &str) -> Option<std::borrow::Cow<'_, str>> {
    idna::domain_to_ascii_cow(domain.as_bytes(), idna::AsciiDenyList::EMPTY).ok()
}

/// `address` with an IDN domain in its ASCII form (RFC 5890 A-labels) when the local part is
/// ASCII, so that a message to or from it needs no SMTPUTF8; otherwise as it is.
pub fn ascii_address(address: lettre::Address) -> lettre::Address {
    if address.domain().is_ascii() || !address.user().is_ascii() {
        return address;
    }
    match ascii_domain(address.domain()).map(|d| lettre::Address::new(address.user(), d)) {
        Some(Ok(ascii)) => ascii,
        _ => address,
    }
}

impl Columns {
    /// Reads the header row's names and finds the `email` (required) and `name` columns.
    fn from_headers(path: &Path, headers: &csv::StringRecord) -> Result<Columns> {
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

    /// The error for a quoted field of `record` (which starts on `line`) that runs over line breaks
    /// and holds lines shaped like rows of this file: each with the header's number of
    /// comma-separated fields and a valid address in the `email` position. That is an unclosed (or
    /// stray) `"` swallowing the rows after it, which would lose those recipients without a trace
    /// and put their lines into one recipient's message. Ordinary multi-line values (a postal
    /// address, a note) have no such lines and pass.
    fn swallowed(&self, path: &Path, record: &csv::StringRecord, line: u64) -> Option<Error> {
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

    /// The address of `record`, trimmed, and why the row cannot be sent, if it cannot (a
    /// duplicate aside): a field count that differs from the header's, or an empty or invalid
    /// address. The reader and its pre-pass both decide with this, so only a row the reader
    /// would send can be the first occurrence of an address.
    fn check<'r>(&self, record: &'r csv::StringRecord) -> (&'r str, Option<SkipReason>) {
        let email = record.get(self.email).unwrap_or("").trim();
        let expected = self.names.len();
        if record.len() != expected {
            let fields = record.len();
            return (email, Some(SkipReason::MalformedRow { fields, expected }));
        }
        (email, check_address(email))
    }
}

/// Streams the rows of a recipients CSV. Duplicates are found only by a reader from
/// [`RecipientList::reader`], which knows each address's first line from the pre-pass.
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
    /// needs the whole file read first: [`RecipientList::scan`]); it suits a look at the first rows.
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
            Ok(true) => Some(self.row()),
            Ok(false) => None,
            Err(e) => Some(Err(unreadable(&self.path, &e))),
        }
    }
}

/// `n` with thousands separators and the word for one or many: `1 row`, `1,000 rows`.
pub(crate) fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// `n` with a comma every three digits: `1,000,000`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
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
    fn scan_with_capacity(path: &Path, capacity: usize) -> Result<RecipientList> {
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
        let mut reader = RecipientReader::open(&self.path)?;
        reader.first_lines = Some(Arc::clone(&self.first_lines));
        Ok(reader)
    }
}

/// The lines of a field, split where the file's lines end: at CRLF, a lone CR or a lone LF, each
/// one line end (as `csv_lines` counts them).
fn field_lines(field: &str) -> Vec<&str> {
    let bytes = field.as_bytes();
    let mut lines = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        let end = match bytes[i] {
            b'\r' if bytes.get(i + 1) == Some(&b'\n') => 2,
            b'\r' | b'\n' => 1,
            _ => {
                i += 1;
                continue;
            }
        };
        lines.push(&field[start..i]);
        i += end;
        start = i;
    }
    lines.push(&field[start..]);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(csv: &str) -> Vec<Row> {
        rows_with_capacity(csv, address_index::DEFAULT_CAPACITY)
    }

    /// The rows a run reads: the pre-pass's index holding `capacity` pairs in memory.
    fn rows_with_capacity(csv: &str, capacity: usize) -> Vec<Row> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, csv).unwrap();
        let list = RecipientList::scan_with_capacity(&path, capacity).unwrap();
        let rows: Vec<Row> = list.reader().unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(list.rows(), rows.len() as u64);
        rows
    }

    fn skip_reasons(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .filter_map(|r| match r {
                Row::Skipped(s) => Some(format!("{} {}", s.line, s.reason)),
                Row::Recipient(_) => None,
            })
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
        let reasons = skip_reasons(&got);
        assert_eq!(reasons[0], "3 empty address");
        assert!(reasons[1].starts_with("4 invalid address"), "{reasons:?}");
        assert_eq!(reasons[2], "5 duplicate of line 2");
        assert_eq!(reasons[3], "6 malformed row: 1 fields, the header has 2");
    }

    #[test]
    fn duplicates_found_across_spilled_runs_name_the_first_valid_line() {
        // Lines 2-3: one record over two lines; then u1..u29 on lines 4..32, CRLF throughout.
        let mut csv = String::from("email,note\r\nu0@x.example,\"two\r\nlines\"\r\n");
        (1..30).for_each(|i| csv.push_str(&format!("u{i}@x.example,\r\n")));
        csv.push_str("u30@x.example,too,many\r\n"); // 33: malformed, not a first occurrence
        csv.push_str("U30@X.example,\r\n"); // 34: the first valid u30
        csv.push_str("u0@X.EXAMPLE,\r\n"); // 35
        csv.push_str("u30@x.example,\r\n"); // 36
        csv.push_str("\"u17@x.example \",\r\n"); // 37
        csv.push_str(",\r\n"); // 38
        let want = [
            "33 malformed row: 3 fields, the header has 2",
            "35 duplicate of line 2",
            "36 duplicate of line 34",
            "37 duplicate of line 20",
            "38 empty address",
        ];
        assert_eq!(skip_reasons(&rows_with_capacity(&csv, 4)), want);
        assert_eq!(skip_reasons(&rows(&csv)), want);
    }

    /// The error scanning `csv` gives, as text.
    fn scan_error(csv: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, csv).unwrap();
        RecipientList::scan(&path).unwrap_err().to_string()
    }

    #[test]
    fn a_quote_left_open_to_the_end_of_the_file_or_in_a_one_column_list_swallows_rows() {
        let err = scan_error("email,name\na@x.example,A\nb@x.example,\"B\r\nc@x.example,C\r\n");
        assert!(
            err.contains("line 3: a quoted field starts here and runs to line 4"),
            "{err}"
        );
        assert!(
            err.contains(
                "taking in 1 line that looks like a row of its own (line 4: c@x.example);"
            ),
            "{err}"
        );
        let err = scan_error("email\na@x.example\n\"b@x.example\nc@x.example\nd@x.example\n");
        assert!(
            err.contains("line 3: a quoted field starts here and runs to line 5"),
            "{err}"
        );
        assert!(err.contains("(line 4: c@x.example, …)"), "{err}");
        // The quote opens in the second multi-line field of the row: its own line is named.
        let err = scan_error("email,a,b\nx@x.example,\"1\n2\",\"3\ny@x.example,4,5\n");
        assert!(err.contains("line 3: a quoted field starts here"), "{err}");
    }

    #[test]
    fn rows_against_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(&path, "email,note\na@x.example,\"1\n2\"\nb@x.example,3").unwrap();
        let list = RecipientList::scan(&path).unwrap();
        assert_eq!((list.rows(), list.lines()), (2, 4));
        assert!(
            list.summary().ends_with(
                "r.csv: 2 rows on 4 lines (1 row holds line breaks in quoted fields, the first on line 2)"
            ),
            "{}",
            list.summary()
        );
        std::fs::write(&path, "email\n").unwrap();
        let list = RecipientList::scan(&path).unwrap();
        assert!(
            list.summary().ends_with("r.csv: 0 rows on 1 line"),
            "{}",
            list.summary()
        );
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
    }

    #[test]
    fn one_key_per_mailbox_whatever_the_spelling_of_its_domain() {
        let key = address_key("a@exämple.com");
        for same in [
            "a@xn--exmple-cua.com",
            "a@EXÄMPLE.com",
            "A@XN--EXMPLE-CUA.COM",
            "a@exa\u{308}mple.com",
            " a@exämple.com ",
        ] {
            assert_eq!(address_key(same), key, "{same}");
        }
        for other in [
            "b@exämple.com",
            "a@example.com",
            "a.b@exämple.com",
            "a@exämple.com.",
        ] {
            assert_ne!(address_key(other), key, "{other}");
        }
        assert_eq!(
            address_key("Zoe@Example.COM"),
            address_key("zoe@example.com")
        );
        // `xn--a` is not valid punycode: IDNA refuses the domain, which is then only lower-cased.
        assert!(idna::domain_to_ascii("xn--a.example").is_err());
        assert_eq!(
            address_key("a@XN--A.example"),
            address_key("a@xn--a.example")
        );
        assert_eq!(address_key("[127.0.0.1]"), address_key("[127.0.0.1]"));
    }
}
