//! The suppression list: addresses never to mail (unsubscribes, hard bounces, complaints), read from
//! the files named by `suppress` in campaign.toml. Matching uses [`address_key`] (the domain
//! normalised, case ignored). The addresses' 8-byte keys are kept in an [`AddressIndex`] used as a
//! set, whose memory does not grow with the list; the files are streamed, never loaded whole.
//!
//! A file is read in whichever of these shapes its first line (after blank and `#` lines) has:
//!
//! * **One address per line**: a bare address, `Name <addr>`, `<addr>` or `mailto:addr` (a query
//!   such as `?subject=…` is dropped, `%XX` decoded); blank lines are skipped and `#` starts a
//!   comment at the start of a line or after white space (`a#b@example.com` is an address).
//! * **A CSV without a header row**, separated by `,`, `;` or a tab, whose first line has an
//!   address in some column: that column holds the address on every line. Amazon SES's bulk import
//!   format is this shape, `recipient@example.com,BOUNCE`
//!   (<https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html>).
//! * **A CSV with a header row**, separated by `,`, `;` or a tab, with an address column named (case,
//!   spaces, `_`, `-` and `.` ignored) one of [`ADDRESS_HEADERS`], the first found in that order:
//!   - `email`: SendGrid's suppression lists (`email`, `created`, …;
//!     <https://docs.sendgrid.com/api-reference/suppressions-global-suppressions/retrieve-all-global-suppressions>),
//!     listmonk's subscriber export (`uuid`, `email`, `name`, `attributes`, `status`, …), Postmark's
//!     `Email`, most CRMs;
//!   - `Email Address`: Mailchimp's audience exports (subscribed, unsubscribed and cleaned contacts;
//!     <https://mailchimp.com/help/about-cleaned-contacts/>), Amazon SES's `EMAIL_ADDRESS` and
//!     `emailAddress`, Postmark's suppression dump `EmailAddress`
//!     (<https://postmarkapp.com/developer/api/suppressions-api>);
//!   - `Recipient`: Postmark's bounce and activity views;
//!   - `address`: Mailgun's bounces, unsubscribes and complaints (`address`, `code`, `error`,
//!     `created_at`; <https://documentation.mailgun.com/docs/mailgun/api-reference/openapi-final/tag/Bounces/>).
//!
//! Every value in the address column (or every line of a list) must be an address in one of the
//! accepted spellings; anything else — a header with no address column, a line that is not an
//! address, JSON, a file that is not UTF-8 — is an error naming the file and the line and listing
//! the accepted shapes, never a file silently read as nothing. Empty cells in the address column
//! are skipped and counted.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use lettre::Address;

use crate::address_index::{self, AddressIndex, Builder, Combine};
use crate::error::{Error, Result};
use crate::invalid;

use super::csv_lines;
use super::recipients::{address_key, plural};

/// Header names of the address column, normalised (lower case; spaces, `_`, `-`, `.` removed), in
/// order of preference when a file has several.
pub const ADDRESS_HEADERS: &[&str] = &["email", "emailaddress", "recipient", "address"];

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

/// The address in `text` when it is one in an accepted spelling: `addr`, `Name <addr>`, `<addr>`,
/// `mailto:addr[?query]`, optionally in double quotes.
pub fn parse_entry(text: &str) -> Option<String> {
    let mut text = text.trim();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        text = inner.trim();
    }
    let address = if text.len() > 7 && text[..7].eq_ignore_ascii_case("mailto:") {
        let rest = &text[7..];
        percent_decode(rest.split('?').next().unwrap_or_default())?
    } else if let Some(open) = text.strip_suffix('>').and_then(|t| t.rfind('<')) {
        text[open + 1..text.len() - 1].trim().to_string()
    } else {
        text.to_string()
    };
    Address::from_str(&address).is_ok().then_some(address)
}

/// `%XX` escapes decoded (a mailto URI escapes `%`, `?`, `&` and non-ASCII), or `None` when they
/// do not make UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h)? * 16 + hex(l)?) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `line` without a `#` comment: one starting the line or following white space.
fn strip_comment(line: &str) -> &str {
    let mut previous = None;
    for (i, c) in line.char_indices() {
        if c == '#' && previous.is_none_or(char::is_whitespace) {
            return &line[..i];
        }
        previous = Some(c);
    }
    line
}

/// How a file is laid out, from its first line.
enum Shape {
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
    fn describe(&self) -> String {
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
        Shape::List => read_list(path, keys, &mut summary)?,
        Shape::Csv {
            separator,
            header,
            column,
            ref name,
        } => read_csv(
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

fn cannot_read(path: &Path, e: &std::io::Error) -> Error {
    invalid!("{}: cannot read the suppression list: {e}", path.display())
}

/// The lines of `path` as text, numbered from 1, a BOM dropped; a line that is not UTF-8 is an
/// error naming it.
fn lines(path: &Path) -> Result<impl Iterator<Item = Result<(u64, String)>>> {
    let file = File::open(path).map_err(|e| cannot_read(path, &e))?;
    let mut reader = BufReader::new(file);
    let path = path.to_path_buf();
    let mut number = 0u64;
    let mut buf = Vec::new();
    Ok(std::iter::from_fn(move || {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) => None,
            Err(e) => Some(Err(cannot_read(&path, &e))),
            Ok(_) => {
                number += 1;
                let bytes = if number == 1 {
                    buf.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&buf)
                } else {
                    &buf
                };
                Some(match std::str::from_utf8(bytes) {
                    Ok(text) => Ok((number, text.trim_end_matches(['\n', '\r']).to_string())),
                    Err(_) => Err(invalid!(
                        "{}: line {number}: is not valid UTF-8; save the suppression list as UTF-8",
                        path.display()
                    )),
                })
            }
        }
    }))
}

/// The shape of `path` from its first line with content (not blank, not a `#` comment), and that
/// line's number.
fn detect(path: &Path) -> Result<(Shape, u64)> {
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
    let normalised: Vec<String> = fields.iter().map(|f| normalise_header(f)).collect();
    let column = ADDRESS_HEADERS
        .iter()
        .find_map(|wanted| normalised.iter().position(|n| n == wanted))
        .ok_or_else(|| match found {
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

/// A header name lower-cased, without spaces, `_`, `-` and `.`: `Email Address` → `emailaddress`.
fn normalise_header(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// At most 60 characters of `text`, for an error message.
fn shorten(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn read_list(path: &Path, keys: &mut Builder, summary: &mut FileSummary) -> Result<()> {
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

fn read_csv(
    path: &Path,
    keys: &mut Builder,
    summary: &mut FileSummary,
    separator: u8,
    header_line: Option<u64>,
    column: usize,
    name: Option<&str>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| cannot_read(path, &e))?;
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(false)
        .flexible(true)
        .delimiter(separator)
        .comment(Some(b'#'));
    let (mut reader, lines) = csv_lines::reader_with(file, &builder);
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                let what = match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => {
                        "is not valid UTF-8; save the suppression list as UTF-8".to_string()
                    }
                    _ => e.to_string(),
                };
                return Err(invalid!("{}: line {line}: {what}", path.display()));
            }
        }
        let line = lines.line_of(&record);
        let comment = record
            .get(0)
            .is_some_and(|f| f.trim_start().starts_with('#'));
        if header_line == Some(line) || comment || record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let value = record.get(column).unwrap_or_default().trim();
        if value.is_empty() {
            summary.empty += 1;
            continue;
        }
        let address = parse_entry(value).ok_or_else(|| {
            let column = match name {
                Some(name) => format!("column `{name}`"),
                None => format!("column {}", column + 1),
            };
            invalid!(
                "{}: line {line}: `{}` in {column} is not an address; fix or remove the line. \
                 {ACCEPTED}",
                path.display(),
                shorten(value)
            )
        })?;
        keys.push(address_key(&address), 0)?;
        summary.addresses += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(files: &[(&str, &str)]) -> Result<Suppression> {
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = files
            .iter()
            .map(|(name, text)| {
                let path = dir.path().join(name);
                std::fs::write(&path, text).unwrap();
                path
            })
            .collect();
        Suppression::load(&paths)
    }

    #[test]
    fn reads_csv_exports_and_plain_lists() {
        let s = load(&[
            (
                "unsubscribed.csv",
                "Email,reason\nA@x.example,unsubscribed\n",
            ),
            (
                "bounces.txt",
                "# hard bounces\nb@x.example\n\n c@x.example # complaint\n",
            ),
            ("h.txt", "email\nd@x.example\n"),
            ("mailgun.csv", "address,reason\nx@y.example,z\n"),
        ])
        .unwrap();
        for yes in [
            "a@X.example",
            "b@x.example",
            "C@x.example",
            "d@x.example",
            "x@y.example",
        ] {
            assert!(s.contains(yes), "{yes}");
        }
        assert!(!s.contains("e@x.example"));
        assert_eq!(s.len(), 5);
        assert!(Suppression::load(&[] as &[&Path]).unwrap().is_empty());
        let shapes: Vec<&str> = s.files().iter().map(|f| f.shape.as_str()).collect();
        assert_eq!(
            shapes,
            [
                "CSV with a header row, column `Email`",
                "one address per line",
                "CSV with a header row, column `email`",
                "CSV with a header row, column `address`",
            ]
        );
    }

    #[test]
    fn entries_in_every_accepted_spelling() {
        for (text, want) in [
            ("a@x.example", Some("a@x.example")),
            ("  a@x.example ", Some("a@x.example")),
            ("\"a@x.example\"", Some("a@x.example")),
            ("Ann <a@x.example>", Some("a@x.example")),
            ("\"Doe, Ann\" <a@x.example>", Some("a@x.example")),
            ("<a@x.example>", Some("a@x.example")),
            ("mailto:a@x.example", Some("a@x.example")),
            (
                "MailTo:a@x.example?subject=unsubscribe",
                Some("a@x.example"),
            ),
            ("mailto:a%2Bb@x.example", Some("a+b@x.example")),
            ("a#b@x.example", Some("a#b@x.example")),
            ("a@x.example,bounce", None),
            ("Bob at example dot com", None),
            ("mailto:", None),
            ("{\"emailAddress\": \"a@x.example\"}", None),
        ] {
            assert_eq!(parse_entry(text).as_deref(), want, "{text:?}");
        }
        assert_eq!(strip_comment("a#b@x.example # note"), "a#b@x.example ");
        assert_eq!(strip_comment("# all"), "");
    }

    #[test]
    fn separators_headers_and_the_address_column() {
        let s = load(&[
            (
                "semi.csv",
                "\u{feff}Email Address;First Name\r\nA@x.example;A\r\n",
            ),
            (
                "tab.tsv",
                "time\temail\treason\n2024\tb@x.example\tbounce\n",
            ),
            (
                "noheader.csv",
                "2024-01-01;c@x.example;bounce\n2024-01-02;d@x.example;x\n",
            ),
            (
                "both.csv",
                "Address,Email,Name\n1 Main St,e@x.example,E\n,,\n2 Main St,,F\n",
            ),
            ("empty.txt", "# nothing yet\n\n"),
        ])
        .unwrap();
        for yes in [
            "a@x.example",
            "b@x.example",
            "c@x.example",
            "d@x.example",
            "e@x.example",
        ] {
            assert!(s.contains(yes), "{yes}");
        }
        let lines = s.summaries();
        assert!(
            lines[0].ends_with(
                "semi.csv: 1 address to suppress (CSV with a header row, column `Email Address` (`;`-separated))"
            ),
            "{lines:?}"
        );
        assert!(
            lines[1].ends_with("column `email` (tab-separated))"),
            "{lines:?}"
        );
        assert!(
            lines[2].ends_with(
                "2 addresses to suppress (CSV without a header row, addresses in column 2 (`;`-separated))"
            ),
            "{lines:?}"
        );
        assert!(
            lines[3].ends_with(
                "1 address to suppress (CSV with a header row, column `Email`; 1 row with an empty address cell skipped)"
            ),
            "{lines:?}"
        );
        assert!(
            lines[4].ends_with("0 addresses to suppress (no addresses in the file)"),
            "{lines:?}"
        );
    }

    #[test]
    fn anything_unrecognised_is_an_error_naming_file_and_line() {
        for (text, want) in [
            (
                "id,name\n1,Bob\n",
                "line 1: no address column in the header row (found: id, name)",
            ),
            (
                "# list\na@x.example\nnot an address\n",
                "line 3: `not an address` is not an address",
            ),
            (
                "just words\n",
                "line 1: `just words` is not an address, nor the header",
            ),
            (
                "email,reason\na@x.example,x\nb-at-x,y\n",
                "line 3: `b-at-x` in column `email`",
            ),
            ("a@x.example;x\nx;b@x.example\n", "line 2: `x` in column 1"),
        ] {
            let err = load(&[("s.csv", text)]).unwrap_err().to_string();
            assert!(err.contains(&format!("s.csv: {want}")), "{text:?}: {err}");
            assert!(err.contains("accepted: one address per line"), "{err}");
        }
        let mut bytes = b"a@x.example\nb@x.example\n".to_vec();
        bytes.extend_from_slice(b"c\xff@x.example\n");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latin1.txt");
        std::fs::write(&path, bytes).unwrap();
        let err = Suppression::load(&[&path]).unwrap_err().to_string();
        assert!(
            err.contains("latin1.txt: line 3: is not valid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn a_long_list_spilled_to_disk_is_the_same_set() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("bounces.txt");
        let again = dir.path().join("again.csv");
        let addresses: Vec<String> = (0..100).map(|i| format!("u{i}@x.example")).collect();
        std::fs::write(&list, addresses.join("\n")).unwrap();
        std::fs::write(
            &again,
            format!("email\n{}", addresses.join("\n").to_uppercase()),
        )
        .unwrap();
        let s = Suppression::load_with_capacity(&[&list, &again], 3).unwrap();
        assert_eq!(s.len(), 100);
        for a in &addresses {
            assert!(s.contains(&a.to_uppercase()), "{a}");
        }
        assert!(!s.contains("u100@x.example"));
    }
}
