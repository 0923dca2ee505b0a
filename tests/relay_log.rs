//! The result log's `relay` column (issue 13, item 5): a log written before it (seven columns) is
//! still reported as it is, and a send resumes from it, upgrading it in place (the new header,
//! every old row byte for byte with an empty relay added) before appending; a torn last row is
//! repaired first; a crash in the middle of the upgrade leaves the old log as it was. The real
//! `campaign` binary sends to the aiosmtpd capture server on 127.0.0.1 (`tests/support`).

mod support;

use std::path::Path;

use support::campaign::{
    Fixture, HEADER, OLD_HEADER, Spec, WAIT, assert_each_once, capture_rcpts, email,
};
use support::{CaptureOptions, CaptureServer};

/// The old rows: every status, a detail quoted for its commas and quotes, a `+01:00` time.
const OLD_ROWS: [&str; 4] = [
    "r000@example.com,sent,1,250,id0@acme.example,\"2.0.0 Ok: queued as \"\"A1\"\", thanks, bye\",2026-11-21T10:00:00Z",
    "r001@example.com,failed,1,550,id1@acme.example,5.1.1 no such user,2026-11-21T11:00:01+01:00",
    "r002@example.com,unknown,1,,id2@acme.example,timeout after the final dot,2026-11-21T10:00:02Z",
    "r003@example.com,skipped,0,,,duplicate of line 2,2026-11-21T10:00:03Z",
];

fn old_log(rows: &[&str]) -> String {
    let mut text = format!("{OLD_HEADER}\n");
    for row in rows {
        text += row;
        text.push('\n');
    }
    text
}

/// What the upgrade makes of `old_log(rows)`: each line with an empty relay field added.
fn upgraded(rows: &[&str]) -> String {
    let mut text = format!("{HEADER}\n");
    for row in rows {
        text += &format!("{row},\n");
    }
    text
}

/// `recipients` recipients sending to a fresh capture server, the log `log` in place.
fn campaign_with_log(recipients: usize, log: &str) -> (Fixture, CaptureServer, Spec) {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.write("results.csv", log);
    (fx, server, spec)
}

/// Asserts the server received exactly `expected`, once each, each message addressed to its
/// envelope recipient (parsed back with mail-parser).
#[track_caller]
fn assert_received_once(server: &CaptureServer, expected: &[String]) {
    server.wait_for(expected.len(), WAIT);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_each_once(&capture_rcpts(server), expected);
    for message in server.messages() {
        let parsed = message.parsed();
        let to = parsed
            .to()
            .and_then(|to| to.first())
            .and_then(|a| a.address());
        assert_eq!(to, Some(message.rcpt_tos[0].as_str()), "{}", message.text());
    }
}

/// The temporary files an upgrade of results.csv leaves in `dir` when it crashes.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".results.csv.upgrade-"))
        .collect()
}

/// An old log is reported as it is (and left untouched), then a send resumes from it: nobody with
/// a `sent`, `failed` or `unknown` row is mailed again, the skipped one and the new ones are, and
/// the log is the new header, the old rows byte for byte plus `,`, then the new rows.
#[test]
fn a_send_resumes_from_an_old_log_and_upgrades_it_keeping_every_row() {
    let old = old_log(&OLD_ROWS);
    let (fx, server, _) = campaign_with_log(6, &old);

    let report = fx.spawn_command("report", &[], &[]).wait();
    report.expect(0);
    assert_eq!(
        fx.results_text(),
        old,
        "campaign report never rewrites a log"
    );
    let html = std::fs::read_to_string(fx.dir().join("report.html")).unwrap();
    assert!(
        html.contains("class=\"card sent\" data-count=\"1\""),
        "{html}"
    );
    assert!(
        html.contains("class=\"card unknown\" data-count=\"1\""),
        "{html}"
    );
    assert!(!html.contains("id=\"relays\""), "no relay named, no table");

    fx.send(&[], None).expect(0);
    let expected: Vec<String> = (3..6).map(email).collect();
    assert_received_once(&server, &expected);
    let text = fx.results_text();
    assert!(text.starts_with(&upgraded(&OLD_ROWS)), "{text}");
    let rows = fx.strict_rows();
    assert_eq!(rows.len(), OLD_ROWS.len() + 3, "{text}");
    for row in &rows[OLD_ROWS.len()..] {
        assert_eq!(row.status, "sent", "{row:?}");
        assert!(expected.contains(&row.email), "{row:?}");
    }
    let (old, new) = rows.split_at(OLD_ROWS.len());
    assert!(old.iter().all(|r| r.relay.is_empty()), "{rows:?}");
    assert!(
        new.iter().all(|r| r.relay == "127.0.0.1"),
        "the relay's host: {rows:?}"
    );
    assert!(leftovers(fx.dir()).is_empty());

    fx.send(&[], None).expect(0);
    assert_eq!(server.messages().len(), 3, "nothing more sent");
    assert_eq!(fx.results_text(), text, "upgraded once, nothing appended");
    fx.spawn_command("report", &[], &[]).wait().expect(0);
}

/// An old log whose last row was torn: completed (email and status whole) or cut, as before, then
/// upgraded; the completed recipient is not mailed, the cut one is, once.
#[test]
fn an_old_log_with_a_torn_last_row_is_repaired_then_upgraded() {
    let first = OLD_ROWS[0];
    let cases = [
        (
            "r001@example.com,sent,1,250,id1@acme.example,\"2.0.0 Ok: qu",
            true,
        ),
        ("r001@exam", false),
    ];
    for (torn, honoured) in cases {
        let (fx, server, spec) = campaign_with_log(4, &format!("{}{torn}", old_log(&[first])));
        fx.send(&[], None).expect(0);
        let expected: Vec<String> = spec
            .emails()
            .into_iter()
            .filter(|e| e != "r000@example.com" && !(honoured && e == "r001@example.com"))
            .collect();
        assert_received_once(&server, &expected);
        let text = fx.results_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[..2], [HEADER, &format!("{first},")], "{torn}: {text}");
        let rows = fx.strict_rows();
        let r001: Vec<_> = rows.iter().filter(|r| r.email == email(1)).collect();
        assert_eq!(r001.len(), 1, "{torn}: {text}");
        if honoured {
            assert!(lines[2].ends_with("Z,"), "completed, then upgraded: {text}");
            assert!(
                r001[0]
                    .detail
                    .ends_with("(row completed after a torn write)")
            );
        }
        assert!(!text.contains("r001@exam\n"), "{torn}: no fragment: {text}");
    }
}

/// A crash after the upgrade's temporary file is written and before the rename leaves the old log
/// as it was and sends nothing; the next run removes the temporary file, upgrades the log and
/// sends everyone else exactly once.
#[test]
fn a_crash_in_the_middle_of_the_upgrade_leaves_the_old_log_and_the_next_run_sends_once() {
    let old = old_log(&OLD_ROWS[..1]);
    let (fx, server, spec) = campaign_with_log(4, &old);
    let crash = [("CAMPAIGN_TEST_CRASH_IN_UPGRADE", "1")];
    let run = fx.spawn_command("run", &["--no-progress"], &crash).wait();
    assert_eq!(run.signal, Some(6), "aborted in the upgrade: {run:?}");
    assert_eq!(fx.results_text(), old, "the old log as it was");
    assert_eq!(
        leftovers(fx.dir()).len(),
        1,
        "the crash left its temporary file"
    );
    assert!(server.messages().is_empty(), "nothing sent");

    fx.send(&[], None).expect(0);
    let expected: Vec<String> = spec.emails().into_iter().skip(1).collect();
    assert_received_once(&server, &expected);
    assert!(fx.results_text().starts_with(&upgraded(&OLD_ROWS[..1])));
    assert_eq!(fx.strict_rows().len(), 4);
    assert!(leftovers(fx.dir()).is_empty(), "removed by the next run");
}
