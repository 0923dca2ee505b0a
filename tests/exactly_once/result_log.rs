//! The result log read and written safely: a torn last row honoured or dropped without swallowing
//! later rows, damaged middle rows refused before sending, an empty or header-only log taken as a
//! new one, and every row synced to disk after its write.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use crate::support::campaign::{
    Fixture, HEADER, Spec, WAIT, assert_each_once, capture_rcpts, copies, email,
};
use crate::support::{CaptureOptions, CaptureServer, ScriptedServer};

use super::*;

// ---------------------------------------------------- 1. torn last row ---

/// 100 recipients: `--limit 10`, then `torn` is appended to results.csv with no newline (a row
/// cut short by a crash), then `--limit 40`, then a full run. Every recipient is received exactly
/// once in total, except `honoured`, whose torn row says `sent` with its email and status whole:
/// it is never sent. The log ends well-formed and a further run sends nothing.
fn torn_last_row(torn: &str, honoured: Option<usize>) {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 100,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&["--limit", "10"], None).expect(0);
    server.wait_for(10, WAIT);
    let mut log = OpenOptions::new()
        .append(true)
        .open(fx.results_path())
        .unwrap();
    log.write_all(torn.as_bytes()).unwrap();
    drop(log);

    fx.send(&["--limit", "40"], None).expect(0);
    server.wait_for(50, WAIT);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.messages().len(), 50, "10 + 40 with --limit");

    fx.send(&[], None).expect(0);
    let expected: Vec<String> = (0..100)
        .filter(|&i| Some(i) != honoured)
        .map(email)
        .collect();
    server.wait_for(expected.len(), WAIT);
    std::thread::sleep(Duration::from_millis(200));
    assert_each_once(&capture_rcpts(&server), &expected);

    let rows = fx.strict_rows();
    for e in spec.emails() {
        let sent = rows
            .iter()
            .filter(|r| r.email == e && r.status == "sent")
            .count();
        assert_eq!(sent, 1, "{e}: one sent row in\n{}", fx.results_text());
    }
    let run = fx.send(&[], None);
    run.expect(0);
    assert!(run.stdout.contains("sent 0,"), "{run:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.messages().len(), expected.len(), "nothing more sent");
}

/// 1a. A torn last row cut inside a quoted field, email and status whole: the recipient counts as
///     sent; the open quote must not swallow the rows later runs append (which would make the run
///     after them send those recipients again).
#[test]
fn torn_last_row_inside_a_quoted_field_is_honoured_and_swallows_no_later_rows() {
    torn_last_row(
        "r050@example.com,sent,1,250,abc@acme.example,\"2.0.0 Ok",
        Some(50),
    );
}

/// 1b. A torn last row cut inside the email: that recipient is not handled yet and is sent once;
///     the fragment does not stay in the log as a row of one field.
#[test]
fn torn_last_row_inside_the_email_is_not_handled_and_leaves_no_fragment() {
    torn_last_row("r051@exam", None);
}

// ---------------------------------------------- 2. damaged middle rows ---

/// results.csv holds the header, two good rows, `bad` on line 4, then two more good rows. The run
/// refuses it before any connection (exit 2), names results.csv and line 4, and leaves the file
/// byte for byte as it was.
fn damaged_middle_row(bad: &str) {
    let server = ScriptedServer::accept_all();
    let spec = Spec {
        recipients: 8,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let log = format!(
        "{HEADER}\n{}{}{bad}\n{}{}",
        sent_line(0),
        sent_line(1),
        sent_line(3),
        sent_line(4)
    );
    fx.write("results.csv", &log);
    let run = fx.send(&[], None);
    run.expect(2);
    assert!(run.stderr.contains("results.csv"), "names the log: {run:?}");
    assert!(names_line(&run.stderr, 4), "names line 4: {run:?}");
    assert_eq!(server.connections(), 0, "no connection at all");
    assert_eq!(fx.results_text(), log, "results.csv unchanged");
}

/// 2a. A row with a ninth field in the middle of the log.
#[test]
fn damaged_row_with_an_extra_column_is_refused_before_sending() {
    damaged_middle_row(
        "r002@example.com,sent,1,250,id2@acme.example,2.0.0 Ok,2026-11-21T10:00:00Z,,extra",
    );
}

/// 2b. A status that is not one of the four (`Sent`, capitalised).
#[test]
fn damaged_row_with_status_sent_capitalised_is_refused_before_sending() {
    damaged_middle_row(
        "r002@example.com,Sent,1,250,id2@acme.example,2.0.0 Ok,2026-11-21T10:00:00Z,",
    );
}

/// 2c. A row cut short (four fields) followed by more rows: not a torn last row.
#[test]
fn damaged_row_cut_short_before_more_rows_is_refused_before_sending() {
    damaged_middle_row("r002@example.com,sent,1,250");
}

/// 2d. One stray `"` at the start of a field: read as CSV it opens a quoted field that swallows
///     every later row up to the end of the file.
#[test]
fn damaged_row_with_a_stray_quote_is_refused_before_sending() {
    damaged_middle_row(
        "r002@example.com,sent,1,250,\"id2@acme.example,2.0.0 Ok,2026-11-21T10:00:00Z,",
    );
}

// ------------------------------------------------ 7. empty result log ---

/// An existing results.csv holding `contents` is treated as a new log: the run sends everyone
/// once, exits 0, and the log gets its header.
fn empty_log_is_a_new_log(contents: &str) {
    let server = ScriptedServer::accept_all();
    let spec = Spec::new(server.port);
    let fx = Fixture::from_spec(&spec);
    fx.write("results.csv", contents);
    fx.send(&[], None).expect(0);
    assert_each_once(&copies(&server), &spec.emails());
    let rows = fx.strict_rows();
    assert_eq!(rows.len(), 5, "{rows:#?}");
    assert_eq!(emails_with(&rows, "sent").len(), 5);
    assert_eq!(fx.results_text().lines().next(), Some(HEADER));
}

/// 7a. A zero-byte results.csv (`touch`ed, or a crash before the header reached the disk).
#[test]
fn zero_byte_result_log_is_a_new_log() {
    empty_log_is_a_new_log("");
}

/// 7b. A results.csv holding only a header cut short (`email,sta`, no newline).
#[test]
fn result_log_with_only_a_torn_header_is_a_new_log() {
    empty_log_is_a_new_log("email,sta");
}

// ------------------------------------------------------ 8. durability ---

/// Whether `strace` is installed and may trace here (ptrace can be forbidden in containers).
fn strace_works() -> bool {
    Command::new("strace")
        .args(["-f", "-o", "/dev/null", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// 8. A row is durable once written: after the last write to results.csv comes an fdatasync or
///    fsync of it (or the log is opened O_SYNC / O_DSYNC), so a power cut cannot take back a
///    `sent` row whose message the server has. Traced with `strace -f -y`; skipped without strace.
#[test]
fn result_rows_are_synced_to_disk_after_the_last_write() {
    if !strace_works() {
        eprintln!(
            "SKIPPED result_rows_are_synced_to_disk_after_the_last_write: strace missing or not permitted"
        );
        return;
    }
    let server = ScriptedServer::accept_all();
    let spec = Spec {
        recipients: 3,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let trace = fx.root().join("strace.txt");
    let trace_arg = trace.to_str().unwrap();
    let wrapper = [
        "strace",
        "-f",
        "-y",
        "-qq",
        "-s",
        "0",
        "-e",
        "trace=openat,write,writev,pwrite64,fsync,fdatasync",
        "-o",
        trace_arg,
    ];
    fx.spawn_via(&wrapper, &[], None).wait().expect(0);
    assert_each_once(&copies(&server), &spec.emails());
    assert_eq!(fx.strict_rows().len(), 3);

    let text = fs::read_to_string(&trace).unwrap();
    let log = fx.results_path().canonicalize().unwrap();
    let on_log = format!("{}>", log.display());
    let calls: Vec<(&str, &str)> = text
        .lines()
        .filter(|l| l.contains(&on_log))
        .filter_map(|l| {
            // `<pid> <syscall>(<args>…`; a call another thread interrupted ends `<unfinished ...>`.
            let call = l.split_once(' ')?.1.trim_start();
            Some((call.split('(').next()?, l))
        })
        .collect();
    let synced_open = calls
        .iter()
        .any(|(name, l)| *name == "openat" && (l.contains("O_SYNC") || l.contains("O_DSYNC")));
    let last_write = calls
        .iter()
        .rposition(|(name, _)| ["write", "writev", "pwrite64"].contains(name));
    let last_sync = calls
        .iter()
        .rposition(|(name, _)| ["fsync", "fdatasync"].contains(name));
    let shown: Vec<&str> = calls.iter().map(|(_, l)| *l).collect();
    let last_write = last_write.unwrap_or_else(|| panic!("no write to {on_log}: {shown:#?}"));
    assert!(
        synced_open || last_sync.is_some_and(|s| s > last_write),
        "an fsync/fdatasync of results.csv after its last write; calls on it:\n{}",
        shown.join("\n")
    );
}
