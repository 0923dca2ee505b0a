use std::path::Path;

use super::figures::{self, RUN_GAP};
use super::*;

const HEADER: &str = "email,status,attempts,code,message_id,detail,time,relay";

/// A log in a temp dir from `rows` (each `email,status,attempts,code,detail,time` and optionally
/// `,relay`).
fn log(rows: &[&str]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("results.csv");
    let mut text = format!("{HEADER}\n");
    for (i, row) in rows.iter().enumerate() {
        let f: Vec<&str> = row.splitn(7, ',').collect();
        let id = if f[1] == "skipped" {
            String::new()
        } else {
            format!("m{i}@x")
        };
        let relay = f.get(6).unwrap_or(&"");
        text += &format!(
            "{},{},{},{},{id},{},{},{relay}\n",
            f[0], f[1], f[2], f[3], f[4], f[5]
        );
    }
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn two_logs_in_one_folder_keep_two_reports() {
    assert_eq!(
        path_for(Path::new("/x/results.csv")),
        Path::new("/x/report.html")
    );
    assert_eq!(
        path_for(Path::new("/x/april.csv")),
        Path::new("/x/april.report.html")
    );
    assert_eq!(
        path_for(Path::new("may.log")),
        Path::new("may.log.report.html")
    );
    assert_eq!(path_for(Path::new("results.csv")), Path::new("report.html"));
}

#[test]
fn a_resumed_send_counts_each_address_once_at_its_best_status() {
    let (_dir, path) = log(&[
        "a@one.example,failed,3,451,4.7.1 try later,2026-04-01T10:00:00Z",
        "b@one.example,sent,1,250,ok,2026-04-01T10:00:01Z",
        ",skipped,0,,empty address,2026-04-01T10:00:01Z",
        "c@two.example,failed,1,550,5.1.1 <c@two.example>: no such user,2026-04-01T10:00:02Z",
        // A second run two hours later, --retry-failed: a now goes through, c fails again.
        "a@one.example,sent,2,250,ok,2026-04-01T12:00:00Z",
        "c@two.example,failed,1,550,5.1.1 <c@two.example>: no such user,2026-04-01T12:00:01Z",
        // A third straight after: the same address again starts a run.
        "c@two.example,unknown,1,,timeout after the final dot,2026-04-01T12:00:05Z",
    ]);
    let f = figures::read(&path).unwrap();
    assert_eq!(f.rows, 7);
    let c = f.counts;
    assert_eq!(
        (c.sent, c.failed, c.unknown, c.skipped),
        (2, 0, 1, 1),
        "{c:?}"
    );
    assert_eq!(f.runs.len(), 3, "{:?}", f.runs);
    assert_eq!(f.runs[0].counts.failed, 2);
    assert_eq!(f.runs[0].times.len(), 3, "skipped rows are no messages");
    assert_eq!(f.runs[1].counts.sent, 1);
    assert!(
        f.failures.is_empty(),
        "nobody is failed now: {:?}",
        f.failures
    );
    let one = f.domains.iter().find(|d| d.name == "one.example").unwrap();
    assert_eq!(
        (one.recipients, one.messages, one.attempts, one.retried),
        (2, 3, 6, 2)
    );
}

#[test]
fn failures_are_grouped_by_reply_and_domain() {
    let mut rows = Vec::new();
    for i in 0..6 {
        rows.push(format!(
            "u{i}@Bad.example,failed,1,550,5.1.1 <u{i}@bad.example>: no such user,2026-04-01T10:00:0{i}Z"
        ));
    }
    rows.push("v@good.example,failed,3,451,4.7.1 later,2026-04-01T10:00:07Z".into());
    rows.push("w@good.example,sent,1,250,ok,2026-04-01T10:00:08Z".into());
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    let (_dir, path) = log(&rows);
    let f = figures::read(&path).unwrap();
    assert_eq!(f.failures.len(), 2);
    assert_eq!(f.failures[0].count, 6);
    assert_eq!(f.failures[0].code, Some(550));
    assert_eq!(f.failures[0].reason, "5.1.1 <<address>>: no such user");
    let bad = f.domains.iter().find(|d| d.name == "bad.example").unwrap();
    assert_eq!((bad.failed, bad.recipients), (6, 6));
    assert_eq!(f.runs.len(), 1);
}

#[test]
fn a_pause_longer_than_the_gap_starts_a_run() {
    let (_dir, path) = log(&[
        "a@x.example,sent,1,250,ok,2026-04-01T10:00:00Z",
        "b@x.example,sent,1,250,ok,2026-04-01T10:14:59Z",
        "c@x.example,sent,1,250,ok,2026-04-01T10:30:00Z",
    ]);
    assert_eq!(RUN_GAP, 15 * 60);
    let runs = figures::read(&path).unwrap().runs;
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].times.len(), 2);
}

#[test]
fn every_value_from_the_log_and_the_settings_is_escaped() {
    let (_dir, path) = log(&[
        "\"<script>alert(1)</script>\"@evil.example,failed,1,550,<script>alert(2)</script> & <img src=x onerror=alert(3)>,2026-04-01T10:00:00Z",
        "x@<b>dom</b>.example,sent,1,250,ok,2026-04-01T10:00:01Z",
    ]);
    let figures = figures::read(&path).unwrap();
    assert!(
        figures
            .domains
            .iter()
            .any(|d| d.name == "<b>dom</b>.example")
    );
    let settings = Settings {
        source: "<script>s</script>".into(),
        lines: vec![("subject", "Hi <script>alert(4)</script> {{ name }}".into())],
    };
    let html = page::html(
        "<script>n</script>",
        "<script>l</script>",
        &figures,
        &settings,
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<b>dom"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(2)&lt;/script&gt; &amp; &lt;img"),
        "{html}"
    );
    assert!(html.contains("Hi &lt;script&gt;alert(4)"), "{html}");
    assert!(html.contains("Content-Security-Policy"));
}

#[test]
fn a_log_that_is_not_there_is_a_clear_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let err = for_log(dir.path(), None, None).unwrap_err();
    assert!(err.is_invalid());
    assert!(err.to_string().contains("no result log"), "{err}");
    assert!(!dir.path().join("report.html").exists());
}

#[test]
fn the_report_replaces_the_old_one_whole() {
    let (dir, path) = log(&["a@x.example,sent,1,250,ok,2026-04-01T10:00:00Z"]);
    let out = dir.path().join("report.html");
    std::fs::write(&out, "old").unwrap();
    write(&path, &out, "april", &Settings::default()).unwrap();
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 2, "no temporary file left: {left:?}");
}

#[test]
fn shard_logs_are_merged_each_recipient_once_and_their_overlapping_runs_are_one() {
    let (dir, base) = log(&[]);
    std::fs::remove_file(&base).unwrap();
    let (_d0, shard0) = log(&[
        "a@x.example,failed,1,550,no,2026-04-01T10:00:00Z",
        "b@x.example,sent,1,250,ok,2026-04-01T10:00:03Z",
        "a@x.example,sent,1,250,ok,2026-04-01T12:00:00Z",
    ]);
    let (_d1, shard1) = log(&[
        "c@x.example,sent,1,250,ok,2026-04-01T10:00:01Z",
        "d@x.example,skipped,0,,duplicate of line 2,2026-04-01T10:00:02Z",
    ]);
    std::fs::copy(&shard0, dir.path().join("results.0-of-2.csv")).unwrap();
    std::fs::copy(&shard1, dir.path().join("results.1-of-2.csv")).unwrap();
    let out = for_log(dir.path(), None, None).unwrap();
    assert_eq!(out, dir.path().join("report.html"));
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("results.0-of-2.csv, results.1-of-2.csv merged"),
        "{html}"
    );

    let (logs, _) = logs_to_merge(&base).unwrap();
    let f = figures::read_all(&logs).unwrap();
    let c = f.counts;
    assert_eq!((c.sent, c.failed, c.skipped), (3, 0, 1));
    assert_eq!(f.runs.len(), 2, "{:?}", f.runs);
    assert_eq!(f.runs[0].counts.total(), 4);
    assert_eq!(f.runs[0].start.to_rfc3339(), "2026-04-01T10:00:00+00:00");

    // A third shard log of another split is refused; so is a folder with no log at all.
    std::fs::copy(&shard1, dir.path().join("results.2-of-3.csv")).unwrap();
    let err = for_log(dir.path(), None, None).unwrap_err();
    assert!(
        err.is_invalid() && err.to_string().contains("I-of-2, I-of-3"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(for_log(empty.path(), None, None).unwrap_err().is_invalid());
}

/// The cells of the table with `id` on the page, row by row (text, references decoded), read
/// with the one HTML lexer; `None` when the page has no such table.
fn table(html: &str, id: &str) -> Option<Vec<Vec<String>>> {
    use crate::html::entities::decode;
    use crate::html::lexer::{Lexer, Token};
    let (mut inside, mut rows) = (false, Vec::<Vec<String>>::new());
    for token in Lexer::new(html) {
        match token {
            Token::Start(t) if t.is("table") => inside = t.attr("id") == Some(id),
            Token::End(t) if t.is("table") && inside => return Some(rows),
            Token::Start(t) if inside && t.is("tr") => rows.push(Vec::new()),
            Token::Start(t) if inside && (t.is("td") || t.is("th")) => {
                rows.last_mut()
                    .expect("a cell in a row")
                    .push(String::new());
            }
            Token::Text(text) if inside => {
                if let Some(cell) = rows.last_mut().and_then(|r| r.last_mut()) {
                    cell.push_str(&decode(text));
                }
            }
            _ => {}
        }
    }
    None
}

/// Issue 13, item 5: the page has a "Relays" table of each relay's sent, failed and unknown rows
/// with their shares, the rows an old log left without a relay as "—", every name escaped.
#[test]
fn the_relays_table_counts_each_relays_rows() {
    let (_dir, path) = log(&[
        // Rows an old log had (upgraded: no relay), then a send over two relays.
        "a@x.example,sent,1,250,ok,2026-04-01T10:00:00Z",
        "b@x.example,failed,1,550,no,2026-04-01T10:00:01Z",
        "c@x.example,sent,1,250,ok,2026-04-01T12:00:00Z,mx1",
        "d@x.example,sent,1,250,ok,2026-04-01T12:00:01Z,mx1",
        "e@x.example,failed,3,451,later,2026-04-01T12:00:02Z,mx1",
        "f@x.example,unknown,1,,no reply,2026-04-01T12:00:03Z,<b>mx2</b>",
        "g@x.example,sent,1,250,ok,2026-04-01T12:00:04Z,<b>mx2</b>",
        ",skipped,0,,empty address,2026-04-01T12:00:05Z",
    ]);
    let html = page::html(
        "april",
        "results.csv",
        &figures::read(&path).unwrap(),
        &Settings::default(),
    );
    assert!(!html.contains("<b>mx2"), "escaped");
    let rows = table(&html, "relays").expect("a Relays table");
    let want = [
        ["relay", "sent", "failed", "unknown"],
        ["—", "1 (50.0 %)", "1 (50.0 %)", "0 (0.0 %)"],
        ["<b>mx2</b>", "1 (50.0 %)", "0 (0.0 %)", "1 (50.0 %)"],
        ["mx1", "2 (66.7 %)", "1 (33.3 %)", "0 (0.0 %)"],
    ];
    assert_eq!(rows, want.map(|r| r.map(String::from)), "{html}");
    assert!(html.contains("<h2>Relays</h2>"));
}

#[test]
fn rows_without_a_relay_show_only_when_sent_or_failed_and_old_logs_have_no_relays_table() {
    let (_dir, path) = log(&[
        "a@x.example,sent,1,250,ok,2026-04-01T10:00:00Z,mx1",
        "b@x.example,unknown,1,,the run stopped,2026-04-01T10:00:01Z",
        ",skipped,0,,empty address,2026-04-01T12:00:05Z",
    ]);
    let html = page::html(
        "a",
        "l",
        &figures::read(&path).unwrap(),
        &Settings::default(),
    );
    let rows = table(&html, "relays").expect("a Relays table");
    assert_eq!(rows.len(), 2, "the header and mx1 alone: {rows:?}");
    assert_eq!(rows[1][0], "mx1");

    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("results.csv");
    let text = "email,status,attempts,code,message_id,detail,time\n\
                a@x.example,sent,1,250,m@x,ok,2026-04-01T10:00:00Z\n";
    std::fs::write(&old, text).unwrap();
    let figures = figures::read(&old).unwrap();
    assert_eq!(figures.counts.sent, 1);
    let html = page::html("a", "l", &figures, &Settings::default());
    assert_eq!(table(&html, "relays"), None, "no relay named: no table");
    assert!(!html.contains("<h2>Relays</h2>"));
    assert_eq!(
        std::fs::read_to_string(&old).unwrap(),
        text,
        "a report never rewrites"
    );
}
