//! Tests of a torn last row: completed when its email and status are whole, cut otherwise, never
//! swallowing a later row; refused when its bytes are not UTF-8 before the cut.

use super::{H, HEADER, Layout, Status, T, log_with, open, row};
use crate::journal::torn::{self, Torn};

/// Issue 9, observed 1: a last row torn inside a quoted field, email and status whole: honoured,
/// completed, and no later row can be swallowed.
#[test]
fn torn_last_row_with_email_and_status_is_completed() {
    let text = format!("{H}a@x,sent,1,250,id@x,ok,{T},mx1\nb@x,sent,1,250,id2@x,\"2.0.0 Ok: qu");
    let (_dir, path) = log_with(&text);
    let (journal, history) = open(&path).unwrap();
    assert_eq!(history.status("b@x"), Some(Status::Sent));
    journal.append(&row("c@x", Status::Sent), None).unwrap();
    drop(journal);
    let (_, history) = open(&path).unwrap();
    assert_eq!(history.status("c@x"), Some(Status::Sent), "not swallowed");
    let fixed = std::fs::read_to_string(&path).unwrap();
    let line = fixed.lines().nth(2).unwrap();
    assert!(
        line.starts_with("b@x,sent,1,250,id2@x,(row completed"),
        "{fixed}"
    );
}

#[test]
fn torn_last_row_without_a_whole_status_is_cut() {
    for torn in ["b@x,se", "b@x", "\"b@x", "b@x,sent"] {
        let text = format!("{H}a@x,sent,1,250,id@x,ok,{T},\n{torn}");
        let (_dir, path) = log_with(&text);
        let (journal, history) = open(&path).unwrap();
        assert_eq!(history.status("b@x"), None, "{torn}");
        journal.append(&row("c@x", Status::Sent), None).unwrap();
        drop(journal);
        let (_, history) = open(&path).unwrap();
        assert_eq!(history.status("c@x"), Some(Status::Sent), "{torn}");
        assert_eq!(history.status("a@x"), Some(Status::Sent), "{torn}");
    }
}

#[test]
fn a_whole_last_row_missing_its_newline_gets_one() {
    let text = format!("{H}a@x,failed,2,451,id@x,later,{T},mx1");
    let (_dir, path) = log_with(&text);
    let (journal, history) = open(&path).unwrap();
    assert_eq!(history.status("a@x"), Some(Status::Failed));
    drop(journal);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{text}\n"));
}

#[test]
fn torn_rows_are_read_field_by_field() {
    assert_eq!(torn::torn("", Layout::Current), None);
    assert_eq!(torn::torn("a@x,s", Layout::Current), Some(Torn::Unusable));
    for layout in [Layout::Old, Layout::Current] {
        let Some(Torn::Honoured(row)) = torn::torn("a@x,unknown,x,\"25", layout) else {
            panic!()
        };
        assert_eq!(&row[..4], ["a@x", "unknown", "0", ""]);
        assert_eq!(row.len(), layout.columns().len(), "{layout:?}");
    }
    assert_eq!(
        torn::fields("a,\"b,\"\"c\",d"),
        (vec!["a".into(), "b,\"c".into()], "d".into(), false)
    );
    assert!(torn::fields("a,\"b,c").2, "quote still open");
}

/// A last row without its newline whose bytes are not UTF-8 in its middle was taken as whole
/// (read lossily) and given its newline, and the log then did not open again (found by the
/// property test `any_bytes_open_as_a_history_or_an_error_naming_lines`). Now it is damage,
/// refused at its line; a row cut inside a character is still honoured.
#[test]
fn torn_last_row_with_an_invalid_byte_is_refused_at_its_line_not_made_whole() {
    let header = format!("{}\n", HEADER.join(","));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    let mut bytes = header.clone().into_bytes();
    bytes.extend_from_slice(b"\xffa@x.example,sent,1,250,id@x,ok,2026-12-03T12:00:00Z");
    std::fs::write(&path, &bytes).unwrap();
    let e = open(&path).err().expect("refused").to_string();
    assert!(e.contains("line 2") && e.contains("UTF-8"), "{e}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "a refused log is left as it was"
    );

    let mut cut = header.into_bytes();
    cut.extend_from_slice("a@x.example,sent,1,250,id@x,ok 张".as_bytes());
    cut.pop(); // the write stopped inside 张
    std::fs::write(&path, &cut).unwrap();
    let (_, history) = open(&path).unwrap();
    assert_eq!(history.status("a@x.example"), Some(Status::Sent));
    drop(history);
    open(&path).expect("the completed row opens again");
}
