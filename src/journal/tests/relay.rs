//! Tests of the `relay` column: logs written before it (seven columns) are upgraded in place by a
//! send, byte for byte but the added empty field; today's `sent` rows are counted per relay.

use std::os::unix::fs::PermissionsExt;

use chrono::{NaiveDate, TimeZone, Utc};

use super::{H, OLD_H, T, log_with, open, relay_of};
use crate::journal::read::{self, Layout};
use crate::journal::{Status, upgrade};

/// An old log's rows: every status, a quoted detail with commas and quotes, a `+01:00` time, and
/// an old skipped row whose address spans two lines.
const OLD_ROWS: [&str; 5] = [
    "a@x,sent,1,250,a.1@acme,\"2.0.0 Ok: queued as \"\"A1\"\", thanks, bye\",2026-11-21T10:00:00Z",
    "b@x,failed,1,550,b.1@acme,5.1.1 no such user,2026-11-21T11:00:00+01:00",
    "c@x,unknown,1,,c.1@acme,timeout after the final dot,2026-11-21T10:00:02Z",
    ",skipped,0,,,empty address,2026-11-21T10:00:03Z",
    "d@x,sent,2,250,d.1@acme,ok,2026-11-21T10:00:04Z",
];

fn old_log() -> String {
    let mut text = OLD_H.to_string();
    for row in OLD_ROWS {
        text += row;
        text.push('\n');
    }
    text
}

#[test]
fn a_send_upgrades_an_old_log_in_place_keeping_each_row_byte_for_byte() {
    let (dir, path) = log_with(&old_log());
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let leftover = dir.path().join(".results.csv.upgrade-Ab12Cd.tmp");
    std::fs::write(&leftover, "a crashed upgrade's").unwrap();
    let (journal, history) = open(&path).unwrap_or_else(|e| panic!("{e}"));

    let mut want = H.to_string();
    for row in OLD_ROWS {
        want += &format!("{row},\n");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
    assert_eq!(history.status("a@x"), Some(Status::Sent));
    assert_eq!(history.status("b@x"), Some(Status::Failed));
    assert_eq!(
        history.unknown_message_id("c@x").as_deref(),
        Some("c.1@acme"),
        "offsets point into the upgraded file"
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640, "the log keeps its permissions");
    assert!(
        !leftover.exists(),
        "a crashed upgrade's temporary file is removed"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
    assert_eq!(names.len(), 2, "the log and its lock: {names:?}");

    journal
        .append(&super::row("e@x", Status::Sent), None)
        .unwrap();
    drop(journal);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&want), "{text}");
    assert_eq!(relay_of(&path, "e@x", "sent"), "mx1");
    let (_, again) = open(&path).unwrap();
    assert_eq!(again.status("e@x"), Some(Status::Sent));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "upgraded once"
    );
}

/// An old skipped row whose address held a line break is written on one line, as the writer
/// writes rows today; an old log with no rows gets the new header.
#[test]
fn old_rows_spanning_lines_are_collapsed_and_an_empty_old_log_gets_the_new_header() {
    let text =
        format!("{OLD_H}\"a\nb@x\",skipped,0,,,invalid address,{T}\nc@x,sent,1,250,i@x,ok,{T}\n");
    let (_dir, path) = log_with(&text);
    drop(open(&path).unwrap());
    let want = format!("{H}a b@x,skipped,0,,,invalid address,{T},\nc@x,sent,1,250,i@x,ok,{T},\n");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), want);

    let (_dir, path) = log_with(OLD_H);
    drop(open(&path).unwrap());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), H);
}

/// A torn last row of an old log is completed (or cut) in the old layout, then upgraded.
#[test]
fn an_old_log_with_a_torn_last_row_is_repaired_then_upgraded() {
    let first = format!("a@x,sent,1,250,id@x,ok,{T}");
    let completed = format!("{OLD_H}{first}\nb@x,sent,1,250,id2@x,\"2.0.0 Ok: qu");
    let (_dir, path) = log_with(&completed);
    let (_, history) = open(&path).unwrap();
    assert_eq!(history.status("b@x"), Some(Status::Sent));
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..2], [H.trim_end(), &format!("{first},")], "{text}");
    assert!(
        lines[2].starts_with("b@x,sent,1,250,id2@x,(row completed after a torn write),"),
        "{text}"
    );
    assert!(lines[2].ends_with("Z,") && lines.len() == 3, "{text}");

    let cut = format!("{OLD_H}{first}\nb@x,se");
    let (_dir, path) = log_with(&cut);
    let (_, history) = open(&path).unwrap();
    assert_eq!(history.status("b@x"), None);
    let want = format!("{H}{first},\n");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), want);
}

/// The report (and any other reader) reads an old log as it is: rows with no relay, nothing
/// rewritten.
#[test]
fn reading_an_old_log_leaves_it_as_it_was() {
    let (_dir, path) = log_with(&old_log());
    let mut relays = Vec::new();
    let (tail, layout) = read::each_row_of(&path, |row, _| {
        relays.push(row.relay.to_string());
        Ok(())
    })
    .unwrap();
    assert_eq!((tail, layout), (read::Tail::Clean, Layout::Old));
    assert_eq!(relays, ["", "", "", "", ""]);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), old_log());
}

/// A damaged row of an old log is named with the old columns in the fix.
#[test]
fn a_damaged_old_log_is_refused_naming_its_seven_columns_and_left_as_it_was() {
    let text = format!("{}b@x,sent,1,250,id@x,ok,{T},mx1\n", old_log());
    let (_dir, path) = log_with(&text);
    let err = open(&path).err().expect("refused").to_string();
    assert!(err.contains("line 7: 8 column(s), expected 7"), "{err}");
    assert!(
        err.contains(&format!("7 columns {}", OLD_H.trim_end())),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    let names = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(names, 2, "no temporary file left");
}

#[test]
fn sent_today_via_counts_only_todays_sent_rows_of_that_relay() {
    let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
    let rows = [
        "a@x,sent,1,250,a@i,ok,2026-11-21T10:00:00Z,mx1",
        "b@x,sent,1,250,b@i,ok,2026-11-21T23:59:59Z,mx1",
        "c@x,sent,1,250,c@i,ok,2026-11-22T00:30:00+01:00,mx1", // 23:30 UTC the 21st
        "d@x,sent,1,250,d@i,ok,2026-11-20T23:59:59Z,mx1",      // yesterday
        "e@x,failed,1,550,e@i,no,2026-11-21T10:00:00Z,mx1",
        "f@x,unknown,1,,f@i,no reply,2026-11-21T10:00:00Z,mx1",
        "g@x,sent,1,250,g@i,ok,2026-11-21T10:00:00Z,relay.two.example",
        "h@x,sent,1,250,h@i,ok,2026-11-21T10:00:00Z,",
        ",skipped,0,,,empty address,2026-11-21T10:00:00Z,",
    ];
    let (_dir, path) = log_with(&format!("{H}{}\n", rows.join("\n")));
    let history = read::scan(&path, today, &Default::default(), 4)
        .unwrap()
        .history;
    assert_eq!(history.sent_today_via("mx1"), 3);
    assert_eq!(history.sent_today_via("relay.two.example"), 1);
    assert_eq!(
        history.sent_today_via("MX1"),
        0,
        "names are matched exactly"
    );
    assert_eq!(history.sent_today_via("mx3"), 0);
    assert_eq!(history.sent_today, 5, "all of today's sent rows, as before");
    let at = Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap();
    let tomorrow = read::scan(&path, at.date_naive(), &Default::default(), 4).unwrap();
    assert_eq!(tomorrow.history.sent_today_via("mx1"), 0);
}

#[test]
fn leftovers_of_another_log_are_not_touched() {
    let (dir, path) = log_with(H);
    let other = dir.path().join(".april.csv.upgrade-x.tmp");
    let mine = dir.path().join(".results.csv.upgrade-x.tmp");
    std::fs::write(&other, "").unwrap();
    std::fs::write(&mine, "").unwrap();
    upgrade::remove_leftovers(&path);
    assert!(other.exists() && !mine.exists());
}

/// The upgrade's temporary file cannot be made (here: its name, longer than the log's, is too
/// long for the file system): the send fails with an output error naming the folder, and the old
/// log is left as it was.
#[test]
fn an_upgrade_that_cannot_make_its_temporary_file_fails_naming_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("{}.csv", "a".repeat(240)));
    std::fs::write(&path, old_log()).unwrap();
    let err = open(&path).err().expect("refused");
    assert_eq!(
        err.exit_code(),
        crate::exit::ExitCode::OutputFailed,
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("create a temporary file"), "{text}");
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), old_log());
}

/// Found measuring the upgrade of a million-row log: the two readers of the old log shared one
/// file offset (`try_clone`), so a log longer than their buffers lost its place ("failed to fill
/// whole buffer", exit 6). Each now opens the file for itself.
#[test]
fn a_log_longer_than_the_read_buffers_upgrades_byte_for_byte() {
    let mut text = OLD_H.to_string();
    let mut want = H.to_string();
    for i in 0..3000 {
        let row = format!("r{i}@x,sent,1,250,{i}.abcdef@acme,2.0.0 OK: queued as {i:06},{T}");
        text += &format!("{row}\n");
        want += &format!("{row},\n");
    }
    let (_dir, path) = log_with(&text);
    let (_, history) = open(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.status("r2999@x"), Some(Status::Sent));
    assert!(
        std::fs::read_to_string(&path).unwrap() == want,
        "upgraded byte for byte"
    );
}
