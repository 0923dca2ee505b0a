//! The result log as a run opens it (`Journal::open`: read strictly, repair the tail): any bytes are
//! a history or an error naming lines, never a panic; the rows the writer wrote read back exactly;
//! a log cut at any byte (a crash, a full disk) opens as a prefix of its rows, the torn one
//! completed or cut, never an error and never a row that was not written. Each property runs on
//! logs of both layouts: the current one (eight columns, the writer's) and the old one (seven, no
//! `relay`, as earlier versions wrote it), which a run upgrades in place.

use std::path::{Path, PathBuf};

use campaign::campaign::recipients::address_key;
use campaign::journal::{History, Journal, Record, Status};
use chrono::Utc;
use proptest::prelude::*;

const CASES: u32 = 256;
const HEADER: &str = "email,status,attempts,code,message_id,detail,time,relay\n";
const OLD_HEADER: &str = "email,status,attempts,code,message_id,detail,time\n";
/// The time of the rows of an old log made here.
const OLD_TIME: &str = "2026-12-03T12:00:00+01:00";

/// A row to write.
#[derive(Debug, Clone)]
struct Written {
    email: String,
    status: Status,
    attempts: u32,
    code: Option<u16>,
    message_id: String,
    detail: String,
    relay: String,
}

fn status() -> impl Strategy<Value = Status> {
    prop::sample::select(vec![
        Status::Sent,
        Status::Failed,
        Status::Skipped,
        Status::Unknown,
    ])
}

/// Addresses as lettre accepts them, some with a quoted local part holding commas and quotes, some
/// spelled twice in different case.
fn email() -> impl Strategy<Value = String> {
    let local = prop_oneof![
        "[a-zA-Z0-9._+-]{1,6}",
        "[a-z,]{1,4}".prop_map(|l| format!("\"{l}\"")),
        Just("\"a\\\"b\"".to_string()),
        Just("zoë".to_string()),
    ];
    let domain = prop::sample::select(vec!["x.example", "X.Example", "exämple.com", "EXÄMPLE.com"]);
    (local, domain).prop_map(|(l, d)| format!("{l}@{d}"))
}

fn written() -> impl Strategy<Value = Written> {
    (
        email(),
        status(),
        any::<u32>(),
        prop::option::of(200u16..600),
        prop_oneof!["[a-z0-9.]{1,8}@x\\.example", Just(String::new())],
        "[a-zA-Z ,\"\r\n\t'é张😀=;]{0,24}",
        prop_oneof![Just(String::new()), "[a-z0-9.,\"-]{1,12}"],
    )
        .prop_map(
            |(email, status, attempts, code, message_id, detail, relay)| Written {
                email,
                status,
                attempts,
                code,
                message_id,
                detail,
                relay,
            },
        )
}

/// The log the writer makes of `rows`, in a new folder; with `old`, the log of the same rows (less
/// their relays) as a version before the `relay` column wrote it.
fn write_log(rows: &[Written], old: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    if old {
        std::fs::write(&path, old_log(rows)).unwrap();
    } else {
        write_more(&path, rows);
    }
    (dir, path)
}

/// An old seven-column log of `rows`, each field on one line, as the old writer wrote them.
fn old_log(rows: &[Written]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(OLD_HEADER.as_bytes().to_vec());
    for row in rows {
        let mut fields = fields(row);
        fields.push(OLD_TIME.to_string());
        writer.write_record(&fields).unwrap();
    }
    writer.into_inner().unwrap()
}

/// What a run makes of an old log: the new header, then each old row's line with `,` added.
fn upgraded(old: &[u8]) -> Vec<u8> {
    let rows = &old[OLD_HEADER.len()..];
    let mut text = HEADER.as_bytes().to_vec();
    for line in rows.split_inclusive(|&b| b == b'\n') {
        text.extend_from_slice(&line[..line.len() - 1]);
        text.extend_from_slice(b",\n");
    }
    text
}

/// Opens the log at `path` as a run does and appends `rows`.
fn write_more(path: &Path, rows: &[Written]) {
    let (journal, _) = Journal::open(path, Utc::now(), 1).unwrap();
    for row in rows {
        let record = Record {
            email: &row.email,
            status: row.status,
            attempts: row.attempts,
            code: row.code,
            message_id: &row.message_id,
            detail: &row.detail,
            relay: &row.relay,
        };
        journal.append(&record, None).unwrap();
    }
    journal.close().unwrap();
}

/// The log's rows as the csv crate reads them, under the current header.
fn parsed(path: &Path) -> Vec<Vec<String>> {
    let (header, rows) = parsed_any(path);
    assert_eq!(header, HEADER);
    rows
}

/// The log's header line and its rows, each in the current layout (an old row with an empty
/// relay added).
fn parsed_any(path: &Path) -> (String, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .collect::<Vec<_>>()
        .join(",")
        + "\n";
    assert!(header == HEADER || header == OLD_HEADER, "{header}");
    let rows = reader
        .records()
        .map(|r| {
            let mut row: Vec<String> = r.unwrap().iter().map(str::to_string).collect();
            row.resize(8, String::new());
            row
        })
        .collect();
    (header, rows)
}

/// A detail as the log keeps it: every run of white space one space (a row is one line).
fn one_line(text: &str) -> String {
    if text.contains(['\n', '\r', '\t']) || text.contains("  ") {
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        text.to_string()
    }
}

/// The fields of `row` as written, but the time.
fn fields(row: &Written) -> Vec<String> {
    vec![
        row.email.clone(),
        row.status.as_str().to_string(),
        row.attempts.to_string(),
        row.code.map(|c| c.to_string()).unwrap_or_default(),
        row.message_id.clone(),
        one_line(&row.detail),
    ]
}

fn rank(status: Status) -> u8 {
    match status {
        Status::Skipped => 0,
        Status::Failed => 1,
        Status::Unknown => 2,
        Status::Sent => 3,
    }
}

/// Checks that `history` is what the log's `rows` (as the csv crate reads them) say: each
/// address's most telling status, and the Message-ID of its last `unknown` row.
fn assert_history(history: &History, rows: &[Vec<String>]) -> Result<(), TestCaseError> {
    let status = |row: &Vec<String>| match row[1].as_str() {
        "sent" => Status::Sent,
        "failed" => Status::Failed,
        "skipped" => Status::Skipped,
        _ => Status::Unknown,
    };
    for row in rows {
        let key = address_key(&row[0]);
        let same = || rows.iter().filter(|r| address_key(&r[0]) == key);
        let best = same().map(status).max_by_key(|s| rank(*s));
        prop_assert_eq!(history.status(&row[0]), best, "{}", row[0]);
        let id = same()
            .rfind(|r| status(r) == Status::Unknown)
            .map(|r| r[4].clone())
            .filter(|id| !id.is_empty());
        prop_assert_eq!(history.unknown_message_id(&row[0]), id, "{}", row[0]);
    }
    Ok(())
}

/// Opens the log at `path` twice: the first open may repair its end, the second must find it clean
/// and leave it byte for byte as it was.
fn open_twice(path: &Path) -> Result<History, String> {
    let (journal, history) = Journal::open(path, Utc::now(), 1).map_err(|e| e.to_string())?;
    drop(journal);
    let repaired = std::fs::read(path).unwrap();
    let (journal, _) = Journal::open(path, Utc::now(), 1)
        .map_err(|e| format!("a repaired log does not open again: {e}"))?;
    drop(journal);
    assert_eq!(
        std::fs::read(path).unwrap(),
        repaired,
        "a second open changed the log"
    );
    Ok(history)
}

/// Bytes that are mostly log-like: the header, then fields, quotes, commas, line ends.
fn logish_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"a@x.example,".to_vec()),
        Just(b"sent,".to_vec()),
        Just(b"unknown,".to_vec()),
        Just(b"1,250,id@x,ok,2026-12-03T12:00:00Z".to_vec()),
        Just(b",mx1".to_vec()),
        Just(b"\"".to_vec()),
        Just(b",".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\xFF".to_vec()),
        any::<u8>().prop_map(|b| vec![b]),
    ];
    let header = prop::sample::select(vec!["", HEADER, OLD_HEADER]);
    (header, prop::collection::vec(piece, 0..30)).prop_map(|(header, pieces)| {
        let mut bytes = header.as_bytes().to_vec();
        bytes.extend(pieces.concat());
        bytes
    })
}

proptest! {
    #![proptest_config(config!(CASES, "result_log.txt"))]

    /// Any bytes: a history (and a log that then opens clean) or an error naming lines.
    #[test]
    fn any_bytes_open_as_a_history_or_an_error_naming_lines(bytes in logish_bytes()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        std::fs::write(&path, &bytes).unwrap();
        if let Err(e) = open_twice(&path) {
            prop_assert!(e.starts_with(&path.display().to_string()), "{e}");
            prop_assert!(e.contains("line "), "{e}");
            prop_assert!(!e.contains("does not open again"), "{e}");
            prop_assert_eq!(std::fs::read(&path).unwrap(), bytes, "a refused log was changed");
        }
    }

    /// The writer's rows read back exactly, and give the history they say; an old log's rows are
    /// kept byte for byte by the upgrade, with an empty relay.
    #[test]
    fn rows_the_writer_wrote_read_back_exactly(
        rows in prop::collection::vec(written(), 0..12),
        old in any::<bool>(),
    ) {
        let (_dir, path) = write_log(&rows, old);
        let before = std::fs::read(&path).unwrap();
        let history = open_twice(&path).map_err(TestCaseError::fail)?;
        if old {
            prop_assert_eq!(std::fs::read(&path).unwrap(), upgraded(&before));
        }
        let read = parsed(&path);
        prop_assert_eq!(read.len(), rows.len());
        for (got, row) in read.iter().zip(&rows) {
            prop_assert_eq!(&got[..6], &fields(row)[..]);
            prop_assert!(chrono::DateTime::parse_from_rfc3339(&got[6]).is_ok(), "{}", got[6]);
            let relay = if old { String::new() } else { one_line(&row.relay) };
            prop_assert_eq!(&got[7], &relay);
        }
        assert_history(&history, &read)?;
    }

    /// A log cut at any byte opens: its whole rows as they were, the torn one completed from its
    /// whole fields (email and status as written) or cut, and the history those rows say.
    #[test]
    fn a_log_cut_at_any_byte_opens_as_a_prefix_of_its_rows(
        rows in prop::collection::vec(written(), 1..8),
        cut in any::<prop::sample::Index>(),
        old in any::<bool>(),
    ) {
        let (_dir, path) = write_log(&rows, old);
        let full = parsed_any(&path).1;
        let bytes = std::fs::read(&path).unwrap();
        let keep = cut.index(bytes.len() + 1);
        std::fs::write(&path, &bytes[..keep]).unwrap();
        let history = open_twice(&path)
            .map_err(|e| TestCaseError::fail(format!("cut at {keep}: {e}")))?;
        let whole = bytes[..keep].iter().filter(|&&b| b == b'\n').count().saturating_sub(1);
        let read = parsed(&path);
        prop_assert!(read.len() == whole || read.len() == whole + 1, "cut at {}: {} rows", keep, read.len());
        prop_assert_eq!(&read[..whole], &full[..whole]);
        if read.len() > whole {
            let (got, was) = (&read[whole], &full[whole]);
            prop_assert_eq!(&got[..2], &was[..2], "email and status as written");
            prop_assert!(got[2] == was[2] || got[2] == "0", "attempts {:?}", got[2]);
            prop_assert!(got[3] == was[3] || got[3].is_empty(), "code {:?}", got[3]);
            prop_assert!(got[4] == was[4] || got[4].is_empty(), "message_id {:?}", got[4]);
            let note = "(row completed after a torn write)";
            // The completed row is written as every row is: white space runs made one space.
            let details = [was[5].clone(), note.to_string(), one_line(&format!("{} {note}", was[5]))];
            prop_assert!(details.contains(&got[5]), "detail {:?}", got[5]);
            // A relay cut short cannot be told from a shorter name: kept (or blanked).
            prop_assert!(was[7].starts_with(got[7].as_str()), "relay {:?}", got[7]);
        }
        assert_history(&history, &read)?;
        // The next run's rows go on lines of their own after the repaired end.
        let next = Written { email: "next@x.example".into(), ..rows[0].clone() };
        write_more(&path, std::slice::from_ref(&next));
        let after = parsed(&path);
        prop_assert_eq!(&after[..read.len()], &read[..]);
        prop_assert_eq!(after.len(), read.len() + 1);
        prop_assert_eq!(&after[read.len()][..6], &fields(&next)[..]);
    }
}

/// Found by the any-bytes property: a torn last row with a whole status but no email (`,sent,`)
/// was completed into a row the reader itself refuses, and opening the log panicked on it. Such
/// a row says too little to honour: it is cut.
#[test]
fn a_torn_row_without_an_email_is_cut_not_a_panic() {
    for torn in [",sent,", ",unknown,1,250", " ,failed,2,"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("results.csv");
        std::fs::write(&path, format!("{HEADER}{torn}")).unwrap();
        let history = open_twice(&path).unwrap();
        assert!(history.is_empty(), "{torn:?}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), HEADER, "{torn:?}");
    }
    // A skipped row may have no email (an empty address in the CSV): it is still completed.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    std::fs::write(&path, format!("{HEADER},skipped,0,,,empty address,")).unwrap();
    open_twice(&path).unwrap();
    assert_eq!(
        parsed(&path)[0][..6],
        [
            "",
            "skipped",
            "0",
            "",
            "",
            "empty address (row completed after a torn write)"
        ]
    );
}
