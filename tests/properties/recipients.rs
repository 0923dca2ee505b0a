//! The recipients CSV as a run reads it (`RecipientList::scan`, then its reader): never a panic;
//! every line of a generated list accounted for, each data row a recipient or a skipped row with
//! its reason, in order, on the line the generator counted; a `"` that swallows rows is an error
//! naming the line it opens on.

use std::path::Path;

use campaign::campaign::{RecipientList, Row, SkipReason};
use proptest::prelude::*;

const CASES: u32 = 512;

/// Everything a run reads from the file at `path`: the pre-pass, then every row, or the first error.
fn read(path: &Path) -> Result<Vec<Row>, String> {
    let list = RecipientList::scan(path).map_err(|e| e.to_string())?;
    let rows = list
        .reader()
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<Row>, _>>()
        .map_err(|e| e.to_string())?;
    assert_eq!(
        list.rows(),
        rows.len() as u64,
        "the pre-pass counts every row"
    );
    let lines: Vec<u64> = rows.iter().map(line).collect();
    let in_order = lines.windows(2).all(|w| w[0] < w[1]);
    let in_file = lines.iter().all(|&l| (2..=list.lines()).contains(&l));
    assert!(in_order && in_file, "lines {lines:?} of {}", list.lines());
    Ok(rows)
}

fn line(row: &Row) -> u64 {
    match row {
        Row::Recipient(r) => r.line,
        Row::Skipped(s) => s.line,
    }
}

fn write(bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("recipients.csv");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

/// Bytes that are mostly CSV-ish: quotes, commas, line ends, a BOM, addresses, invalid UTF-8.
fn csvish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"email".to_vec()),
        Just(b"name".to_vec()),
        Just(b"a@x.example".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just(b"\"".to_vec()),
        Just(b",".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\r".to_vec()),
        Just("Zoë".as_bytes().to_vec()),
        Just(b"\xC3".to_vec()),
        Just(b"\xFF".to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

/// One field of a generated row.
#[derive(Debug, Clone)]
enum Field {
    /// Address number `n` of a small pool, in some case, maybe padded with spaces.
    Valid {
        n: u8,
        upper: bool,
        padded: bool,
    },
    Invalid(&'static str),
    Empty,
    /// Any text but `@` (so no line of it can look like a row): commas, quotes, line breaks.
    Text(String),
}

impl Field {
    fn value(&self) -> String {
        match self {
            Field::Valid { n, upper, padded } => {
                let address = format!("user{n}@x.example");
                let address = if *upper {
                    address.to_uppercase()
                } else {
                    address
                };
                if *padded {
                    format!(" {address} ")
                } else {
                    address
                }
            }
            Field::Invalid(text) => text.to_string(),
            Field::Empty => String::new(),
            Field::Text(text) => text.clone(),
        }
    }
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        4 => (0u8..6, any::<bool>(), any::<bool>())
            .prop_map(|(n, upper, padded)| Field::Valid { n, upper, padded }),
        1 => prop::sample::select(vec!["nope", "a@", "@x.example", "a b@x.example", "a@@x.example"])
            .prop_map(Field::Invalid),
        1 => Just(Field::Empty),
        3 => "[a-zA-Z0-9 ,\"\r\n\t'éü张😀;.-]{0,12}".prop_map(Field::Text),
    ]
}

/// A generated list: the header's columns, the email column's place, the rows' fields, and how
/// the file is written.
#[derive(Debug, Clone)]
struct List {
    columns: Vec<String>,
    email: usize,
    rows: Vec<Vec<Field>>,
    /// The line end: LF, CRLF or CR.
    end: &'static str,
    bom: bool,
    /// Empty lines before each row (one per row, plus the end).
    blank: Vec<u8>,
    /// Every field quoted, not only those that need it.
    quote_all: bool,
    final_newline: bool,
}

fn list() -> impl Strategy<Value = List> {
    (1usize..4, any::<bool>(), 0usize..4).prop_flat_map(|(others, with_name, email_at)| {
        let mut columns: Vec<String> = ["note", "city", "Name"]
            .iter()
            .take(others)
            .map(|c| c.to_string())
            .collect();
        if !with_name {
            columns.retain(|c| c != "Name");
        }
        let email = email_at.min(columns.len());
        columns.insert(
            email,
            [" Email ", "email", "EMAIL"][email_at % 3].to_string(),
        );
        let n = columns.len();
        let row = prop_oneof![
            8 => prop::collection::vec(field(), n..=n),
            1 => prop::collection::vec(field(), 1..n + 2),
        ];
        (
            Just(columns),
            Just(email),
            prop::collection::vec(row, 0..12),
            prop::sample::select(vec!["\n", "\r\n", "\r"]),
            any::<bool>(),
            prop::collection::vec(prop_oneof![6 => Just(0u8), 1 => 1u8..3], 13),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(columns, email, rows, end, bom, blank, quote_all, final_newline)| List {
                    columns,
                    email,
                    rows,
                    end,
                    bom,
                    blank,
                    quote_all,
                    final_newline,
                },
            )
    })
}

/// The line ends in `text`: CR, LF and CRLF are one each.
fn line_ends(text: &str) -> u64 {
    (text.replace("\r\n", "\n").matches(['\r', '\n']).count()) as u64
}

/// A field as CSV, quoted when it must be (or always).
fn csv_field(value: &str, quote: bool) -> String {
    if quote || value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

impl List {
    /// The file, and the line each row starts on.
    fn file(&self) -> (String, Vec<u64>) {
        let end = self.end;
        let mut text = String::from(if self.bom { "\u{feff}" } else { "" });
        let header: Vec<String> = self
            .columns
            .iter()
            .map(|c| csv_field(c, self.quote_all))
            .collect();
        text += &header.join(",");
        let mut line = 1;
        let mut lines = Vec::new();
        for (i, row) in self.rows.iter().enumerate() {
            text += end;
            line += 1;
            for _ in 0..self.blank[i] {
                text += end;
                line += 1;
            }
            lines.push(line);
            // A row of one empty field would be an empty line, which is no row: quote it.
            let quote = self.quote_all || row.len() == 1;
            let fields: Vec<String> = row.iter().map(|f| csv_field(&f.value(), quote)).collect();
            let record = fields.join(",");
            line += line_ends(&record);
            text += &record;
        }
        if self.final_newline {
            text += end;
        }
        (text, lines)
    }

    /// What the reader must make of each row, as text to compare: `line recipient email` or
    /// `line skipped reason`.
    fn expected(&self, lines: &[u64]) -> Vec<String> {
        let mut first_lines: Vec<(String, u64)> = Vec::new();
        let n = self.columns.len();
        self.rows
            .iter()
            .zip(lines)
            .map(|(row, &line)| {
                if row.len() != n {
                    let reason = SkipReason::MalformedRow {
                        fields: row.len(),
                        expected: n,
                    };
                    return format!("{line} skipped {reason}");
                }
                match &row[self.email] {
                    Field::Empty => format!("{line} skipped empty address"),
                    Field::Text(t) if t.trim().is_empty() => {
                        format!("{line} skipped empty address")
                    }
                    Field::Text(_) | Field::Invalid(_) => format!("{line} skipped invalid address"),
                    valid => {
                        let email = valid.value().trim().to_string();
                        let key = email.to_lowercase();
                        match first_lines.iter().find(|(k, _)| *k == key) {
                            Some((_, first)) => format!("{line} skipped duplicate of line {first}"),
                            None => {
                                first_lines.push((key, line));
                                format!("{line} recipient {email}")
                            }
                        }
                    }
                }
            })
            .collect()
    }
}

/// A row as the same text as [`List::expected`]: the invalid address's own reason left out.
fn outcome(row: &Row) -> String {
    match row {
        Row::Recipient(r) => format!("{} recipient {}", r.line, r.email),
        Row::Skipped(s) => match &s.reason {
            SkipReason::InvalidAddress(_) => format!("{} skipped invalid address", s.line),
            reason => format!("{} skipped {reason}", s.line),
        },
    }
}

proptest! {
    #![proptest_config(config!(CASES, "recipients.txt"))]

    /// Any bytes: no panic, and an error names the file and a line.
    #[test]
    fn any_bytes_are_read_or_refused_without_a_panic(bytes in csvish_bytes()) {
        let (_dir, path) = write(&bytes);
        if let Err(e) = read(&path) {
            prop_assert!(e.starts_with(&path.display().to_string()), "{e}");
            prop_assert!(e.contains("line "), "{e}");
        }
    }

    /// Generated lists: every row read, in order, on its own line, as a recipient or skipped with
    /// its reason; a recipient's fields as written.
    #[test]
    fn every_row_of_a_generated_list_is_accounted_for_on_its_line(list in list()) {
        let (text, lines) = list.file();
        let (_dir, path) = write(text.as_bytes());
        let rows = read(&path).map_err(|e| TestCaseError::fail(format!("{e}\n{text:?}")))?;
        let got: Vec<String> = rows.iter().map(outcome).collect();
        prop_assert_eq!(got, list.expected(&lines), "{:?}", text);
        for (row, fields) in rows.iter().zip(&list.rows) {
            if let Row::Recipient(r) = row {
                let values: Vec<String> = fields.iter().map(Field::value).collect();
                prop_assert_eq!(&r.values, &values);
            }
        }
    }

    /// A `"` opening a field and never closed (or closed rows later) swallows the rows after it:
    /// an error naming the line where it opens, never a silent loss of those rows.
    #[test]
    fn a_quote_that_swallows_rows_is_an_error_naming_its_line(
        columns in 1usize..4,
        before in 0usize..5,
        swallowed in 1usize..5,
        after in 0usize..3,
        at in 0usize..4,
        closed in any::<bool>(),
        crlf in any::<bool>(),
    ) {
        let end = if crlf { "\r\n" } else { "\n" };
        let header: Vec<String> = (0..columns)
            .map(|c| if c == 0 { "email".into() } else { format!("c{c}") })
            .collect();
        let row = |n: usize| {
            let mut fields = vec![format!("user{n}@x.example")];
            fields.extend((1..columns).map(|c| format!("v{c}")));
            fields
        };
        let mut lines: Vec<String> = vec![header.join(",")];
        lines.extend((0..before).map(|n| row(n).join(",")));
        let mut open = row(before);
        let at = at % columns;
        open[at] = format!("\"{}", open[at]);
        lines.push(open.join(","));
        let start = lines.len(); // 1-based line of the open quote's row
        let total = before + 1 + swallowed + after;
        lines.extend((before + 1..total).map(|n| row(n).join(",")));
        if closed && after > 0 {
            let closing = start + swallowed; // index of the first row after the swallowed ones
            lines[closing].push('"');
        }
        let text = lines.join(end) + end;
        let (_dir, path) = write(text.as_bytes());
        let e = read(&path).expect_err(&text);
        let want = format!("line {start}: a quoted field starts here");
        prop_assert!(e.contains(&want), "{e}\n{text:?}");
    }
}

/// Found by the property above: the csv crate gives a record after blank lines the position just
/// past the previous row's line end, so rows after a blank CRLF line, or after two blank LF lines,
/// were reported a line or more too early.
#[test]
fn rows_after_blank_lines_keep_their_line_numbers() {
    for (text, want) in [
        ("email\r\na@x.example\r\n\r\nb@x.example\r\n", [2, 4]),
        ("email\na@x.example\n\n\nb@x.example\n", [2, 5]),
        (
            "email\r\n\r\n\r\na@x.example\r\n\r\n\r\n\r\nb@x.example",
            [4, 8],
        ),
    ] {
        let (_dir, path) = write(text.as_bytes());
        let lines: Vec<u64> = read(&path).unwrap().iter().map(line).collect();
        assert_eq!(lines, want, "{text:?}");
    }
}

/// Found by the any-bytes property: the csv crate ends a row at a lone CR (old Mac line ends, as
/// Excel's "CSV (Macintosh)" still writes), but only LFs were counted, so every row of such a file
/// was on "line 1" with its header. CR, LF and CRLF are each one line end.
#[test]
fn rows_of_a_file_with_cr_line_ends_are_on_lines_of_their_own() {
    for (text, want, lines) in [
        ("email\ra@x.example\rb@x.example\r", vec![2, 3], 3),
        ("email\ra@x.example\r\rb@x.example", vec![2, 4], 4),
        (
            "email,note\ra@x.example,\"1\r2\"\rb@x.example,3\r",
            vec![2, 4],
            4,
        ),
        (
            "email\r\na@x.example\rb@x.example\nc@x.example\r\n",
            vec![2, 3, 4],
            4,
        ),
    ] {
        let (_dir, path) = write(text.as_bytes());
        let got: Vec<u64> = read(&path).unwrap().iter().map(line).collect();
        assert_eq!(got, want, "{text:?}");
        assert_eq!(
            RecipientList::scan(&path).unwrap().lines(),
            lines,
            "{text:?}"
        );
    }
}

/// Found with the CR line ends above: a `"` left open in a file with CR line ends swallowed the
/// rows after it into one field, and the check for that split the field at LFs only, so the rows
/// were lost without the error.
#[test]
fn a_quote_that_swallows_rows_of_a_file_with_cr_line_ends_is_an_error() {
    let text = "email,name\ra@x.example,A\rb@x.example,\"B\rc@x.example,C\rd@x.example,D\r";
    let (_dir, path) = write(text.as_bytes());
    let e = read(&path).expect_err("rows swallowed without an error");
    assert!(e.contains("line 3: a quoted field starts here"), "{e}");
}
