//! The reader and its pre-pass together, as a run uses them: rows, skip reasons and their lines,
//! duplicates across an index spilled to disk, the swallowed-rows error and the rows-on-lines
//! summary.

use super::*;
use crate::address_index;

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
    let got = rows("\u{feff} Email ,Name,note\r\na@x.example,\"Doe, Jane\",\"two\r\nlines\"\r\n");
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
        err.contains("taking in 1 line that looks like a row of its own (line 4: c@x.example);"),
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
}
