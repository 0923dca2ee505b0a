//! Tests of the result log: writing, strict reading, in-flight records; [`torn`]: torn last rows;
//! [`relay`]: the `relay` column and the upgrade of logs written before it.

mod relay;
mod torn;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, Utc};

use super::read::{self, Layout, Tail};
use super::*;
use crate::error::Result;

const H: &str = "email,status,attempts,code,message_id,detail,time,relay\n";
/// The header of a log written before the `relay` column.
const OLD_H: &str = "email,status,attempts,code,message_id,detail,time\n";
const T: &str = "2026-11-21T10:00:00Z";

fn row<'a>(email: &'a str, status: Status) -> Record<'a> {
    Record {
        email,
        status,
        attempts: 1,
        code: Some(250),
        message_id: "id@x",
        detail: "ok,\nqueued",
        relay: "mx1",
    }
}

fn log_with(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn open(path: &Path) -> Result<(Journal, History)> {
    Journal::open(path, Utc::now(), 2)
}

#[test]
fn appends_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    let now = Utc::now();
    let (journal, history) = Journal::open(&path, now, 1).unwrap();
    assert!(history.is_empty());
    journal
        .append(&row("A@x.example", Status::Sent), None)
        .unwrap();
    journal
        .append(&row("b@x.example", Status::Failed), None)
        .unwrap();
    journal
        .append(&row("c@x.example", Status::Skipped), None)
        .unwrap();
    journal
        .append(&row("c@x.example", Status::Failed), None)
        .unwrap();
    journal
        .append(&row("d@x.example", Status::Failed), None)
        .unwrap();
    journal
        .append(&row("d@x.example", Status::Unknown), None)
        .unwrap();
    journal.close().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(H));
    assert!(text.contains("\"ok, queued\""), "{text}");
    let (_, history) = Journal::open(&path, now, 1).unwrap();
    assert_eq!(history.status("a@X.example"), Some(Status::Sent));
    assert_eq!(history.status("b@x.example"), Some(Status::Failed));
    assert_eq!(history.status("c@x.example"), Some(Status::Failed));
    assert_eq!(history.status("d@x.example"), Some(Status::Unknown));
    assert_eq!(history.status("e@x.example"), None);
    assert_eq!(history.sent_today, 1);
    let tomorrow = now + chrono::Duration::days(1);
    assert_eq!(Journal::open(&path, tomorrow, 1).unwrap().1.sent_today, 0);
}

#[test]
fn every_field_stays_on_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    let (journal, _) = open(&path).unwrap();
    let skipped = Record {
        email: "a\nb,c@x",
        status: Status::Skipped,
        attempts: 0,
        code: None,
        message_id: "",
        detail: "invalid address",
        relay: "",
    };
    journal.append(&skipped, None).unwrap();
    drop(journal);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(open(&path).is_ok());
}

/// A log written before rows were kept to one line: a skipped row whose address held a line break.
#[test]
fn old_logs_with_a_multi_line_skipped_address_are_still_read() {
    let text =
        format!("{OLD_H}\"a\nb@x\",skipped,0,,,invalid address,{T}\nc@x,sent,1,250,i@x,ok,{T}\n");
    let (_dir, path) = log_with(&text);
    let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    let scan = read::scan(&path, today, &HashSet::new(), 4).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scan.history.status("c@x"), Some(Status::Sent));
    assert_eq!(scan.history.status("a\nb@x"), Some(Status::Skipped));
    // A send upgrades the log, writing that row on one line (see `relay.rs`).
    let (_, history) = open(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.status("c@x"), Some(Status::Sent));
    assert_eq!(history.status("a b@x"), Some(Status::Skipped));
}

#[test]
fn refuses_a_file_that_is_not_a_result_log() {
    let (_dir, path) = log_with("email,name\na@x.example,A\n");
    let err = open(&path).err().unwrap().to_string();
    assert!(err.contains("not a campaign result log"), "{err}");
}

/// Issue 9, observed 7: a zero-byte log (full disk at the first write, or `touch`) is an empty log.
#[test]
fn zero_byte_log_and_torn_header_are_empty_logs() {
    for text in ["", "email,sta", H, OLD_H, OLD_H.trim_end()] {
        let (_dir, path) = log_with(text);
        let (journal, history) = open(&path).unwrap();
        assert!(history.is_empty());
        drop(journal);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), H, "{text:?}");
    }
}

/// Issue 9, observed 2: a damaged row in the middle stops the run with its line; the file is left
/// as it was.
#[test]
fn damaged_rows_are_errors_naming_their_lines() {
    let good = format!("a@x,sent,1,250,id@x,ok,{T},mx1\n");
    let cases = [
        (
            format!("b@x,sent,1,250,id@x,ok,{T},mx1,extra\n"),
            "9 column(s)",
        ),
        (
            format!("b@x,sent,1,250,id@x,ok,{T}\n"),
            "7 column(s), expected 8",
        ),
        (format!("b@x,Sent,1,250,id@x,ok,{T},\n"), "status \"Sent\""),
        ("b@x,sent,1\n".to_string(), "3 column(s)"),
        (format!("b@x,sent,1,250,\"id@x,ok,{T},\n"), "runs over"),
        (format!("b@x,sent,one,250,id@x,ok,{T},\n"), "attempts"),
        (format!("b@x,sent,1,25,id@x,ok,{T},\n"), "code"),
        ("b@x,sent,1,250,id@x,ok,yesterday,\n".to_string(), "time"),
    ];
    for (bad, why) in cases {
        let text = format!("{H}{good}{bad}{good}{good}");
        let (_dir, path) = log_with(&text);
        let err = open(&path).err().expect(&bad).to_string();
        assert!(err.contains("line 3: "), "{bad}: {err}");
        assert!(err.contains(why), "{bad}: {err}");
        assert!(err.contains("nothing was sent"), "{err}");
        assert!(
            err.contains(&format!("8 columns {}", H.trim_end())),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "untouched");
    }
}

/// Issue 9, observed 4 and 5: a message whose final dot was out when the process died becomes an
/// `unknown` row in the next run, unless its row made it to the log.
#[test]
fn messages_left_in_flight_by_a_dead_run_become_unknown_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    let (journal, _) = open(&path).unwrap();
    journal.begin(0, "a@x", "a.1@acme", "mx1").unwrap();
    journal.begin(1, "b@x", "b.1@acme", "mx1").unwrap();
    journal.append(&row("b@x", Status::Sent), Some(1)).unwrap();
    journal.begin(1, "c@x", "c.1@acme", "mx1").unwrap();
    journal.release(1).unwrap();
    journal.begin(1, "d@x", "d.1@acme", "").unwrap();
    drop(journal); // as a kill would: the slots stay set, the lock goes with the fd

    let (journal, history) = open(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.status("a@x"), Some(Status::Unknown));
    assert_eq!(history.status("d@x"), Some(Status::Unknown));
    assert_eq!(history.status("b@x"), Some(Status::Sent));
    assert_eq!(
        history.status("c@x"),
        None,
        "released: a retry, not in flight"
    );
    drop(journal);
    let (_, history) = open(&path).unwrap();
    assert_eq!(
        history.status("a@x"),
        Some(Status::Unknown),
        "logged once for good"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(",unknown,").count(), 2, "{text}");
    assert!(text.contains("a@x,unknown,1,,a.1@acme,"), "{text}");
    assert_eq!(relay_of(&path, "a@x", "unknown"), "mx1", "{text}");
    assert_eq!(relay_of(&path, "d@x", "unknown"), "", "{text}");
}

/// The relay column of `email`'s last row with `status`.
fn relay_of(path: &Path, email: &str, status: &str) -> String {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let row = rows
        .iter()
        .rev()
        .find(|r| &r[0] == email && &r[1] == status);
    let row = row.unwrap_or_else(|| panic!("no {status} row for {email}"));
    assert_eq!(row.len(), HEADER.len(), "{row:?}");
    row[7].to_string()
}

#[test]
fn abandon_logs_the_messages_in_flight_as_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    let (journal, _) = open(&path).unwrap();
    journal.begin(1, "a@x", "a.1@acme", "mx2").unwrap();
    assert_eq!(journal.abandon("abandoned by a second signal").unwrap(), 1);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("a@x,unknown,1,,a.1@acme,abandoned"), "{text}");
    assert_eq!(relay_of(&path, "a@x", "unknown"), "mx2", "{text}");
}

#[test]
fn a_second_journal_on_the_same_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    let (_journal, _) = open(&path).unwrap();
    let err = open(&path).err().unwrap();
    assert_eq!(err.exit_code(), crate::exit::ExitCode::Busy);
}

#[test]
fn sent_beats_unknown_beats_failed_beats_skipped_across_spilled_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    let patterns: [&[&str]; 5] = [
        &["skipped"],
        &["failed", "skipped", "failed"],
        &["skipped", "sent", "failed"],
        &["failed", "skipped", "skipped", "skipped", "sent"],
        &["failed", "unknown", "failed"],
    ];
    let mut log = H.to_string();
    // Each address's rows are far apart, so they land in different runs of 4.
    for round in 0..5 {
        for i in 0..40 {
            if let Some(status) = patterns[i % 5].get(round) {
                let email = if round % 2 == 0 { "A" } else { "a" };
                log.push_str(&format!("{email}{i}@x.example,{status},1,,,,{T},\n"));
            }
        }
    }
    std::fs::write(&path, log).unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    let scan = read::scan(&path, today, &HashSet::new(), 4).unwrap();
    assert_eq!(scan.tail, Tail::Clean);
    let history = scan.history;
    let want = [
        Status::Skipped,
        Status::Failed,
        Status::Sent,
        Status::Sent,
        Status::Unknown,
    ];
    for i in 0..40 {
        assert_eq!(
            history.status(&format!("a{i}@X.example")),
            Some(want[i % 5])
        );
    }
    assert_eq!(history.status("a40@x.example"), None);
    assert_eq!(history.len(), 40);
    assert_eq!(history.sent_today, 16);
}

/// Issue 14, item 3: a resend of an unknown outcome reuses the first attempt's Message-ID, found
/// from the row's place in the log (not kept in memory), also once the index spills to disk.
#[test]
fn unknown_rows_give_back_their_message_ids() {
    let mut log = H.to_string();
    for i in 0..40 {
        log.push_str(&format!("u{i}@x,unknown,1,,first.{i}@acme,no reply,{T},\n"));
        log.push_str(&format!("v{i}@x,failed,1,550,v.{i}@acme,no,{T},mx1\n"));
    }
    log.push_str(&format!("u3@x,unknown,1,,second.3@acme,no reply,{T},\n"));
    log.push_str("u4@x,unknown,1,,torn.4@acme,no rep");
    let (_dir, path) = log_with(&log);
    let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    let history = read::scan(&path, today, &HashSet::new(), 4)
        .unwrap()
        .history;
    assert_eq!(
        history.unknown_message_id("U7@x").as_deref(),
        Some("first.7@acme")
    );
    assert_eq!(
        history.unknown_message_id("u3@x").as_deref(),
        Some("second.3@acme"),
        "the last"
    );
    assert_eq!(
        history.unknown_message_id("u4@x").as_deref(),
        Some("torn.4@acme")
    );
    assert_eq!(
        history.unknown_message_id("v7@x"),
        None,
        "failed rows keep theirs"
    );
    assert_eq!(history.unknown_message_id("w@x"), None);
}

/// Issue 10, item 12: a log that is not a regular file (a FIFO, `/dev/stdout` on a pipe, a
/// directory) would block or fail half-way: refused up front.
#[test]
fn a_log_that_is_not_a_regular_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.csv");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    for path in [fifo.as_path(), dir.path()] {
        let err = open(path).err().expect("refused").to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
