//! Runs that continue one another: `--limit` then the rest, `--retry-failed`, a SIGKILLed run
//! resumed without a second copy, and `daily_limit` stopping until tomorrow.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::campaign::{
    Fixture, Row, Spec, WAIT, assert_each_once, capture_rcpts, email, only_rcpt, row_for,
    scripted_rcpts,
};
use crate::support::{self, CaptureOptions, CaptureServer, Reply, ScriptedServer, Stage};

/// 10a. `--limit` sends the next N; the next run continues; nobody gets two.
#[test]
fn limit_then_resume_sends_everyone_once() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 8,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&["--limit", "3"], None);
    run.expect(0);
    assert!(run.stdout.contains("--limit reached"), "{run:?}");
    server.wait_for(3, WAIT);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.messages().len(), 3, "exactly 3 with --limit 3");
    assert_eq!(fx.rows_with("sent").len(), 3);

    let run = fx.send(&[], None);
    run.expect(0);
    assert!(run.stdout.contains("sent 5,"), "{run:?}");
    assert!(run.stdout.contains("3 already handled"), "{run:?}");
    server.wait_for(8, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    assert_eq!(fx.rows_with("sent").len(), 8);
}

/// 10b. A failed recipient is not retried by a plain re-run, only with `--retry-failed`.
#[test]
fn retry_failed_sends_only_the_failed_recipient() {
    let rejected = email(1);
    let reject = Arc::new(AtomicBool::new(true));
    let server = {
        let (rejected, reject) = (rejected.clone(), Arc::clone(&reject));
        ScriptedServer::start(move |ev| match ev.stage {
            Stage::Rcpt if ev.rcpt == Some(rejected.as_str()) && reject.load(Ordering::SeqCst) => {
                Reply::text("550 5.1.1 mailbox unavailable")
            }
            _ => Reply::Default,
        })
    };
    let spec = Spec {
        recipients: 4,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(1);
    server.wait_for(3, WAIT);
    assert_eq!(row_for(&fx.rows(), &rejected).status, "failed");
    reject.store(false, Ordering::SeqCst);

    let connections = server.connections();
    let run = fx.send(&[], None);
    run.expect(0);
    assert!(run.stdout.contains("sent 0, failed 0"), "{run:?}");
    assert_eq!(
        server.transactions().len(),
        3,
        "nothing new without the flag"
    );
    assert_eq!(server.connections(), connections, "not even a connection");

    let run = fx.send(&["--retry-failed"], None);
    run.expect(0);
    assert!(run.stdout.contains("sent 1, failed 0"), "{run:?}");
    let messages = server.wait_for(4, WAIT);
    assert_eq!(only_rcpt(&messages[3].rcpt_tos), rejected);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    let rows = fx.rows();
    let retried: Vec<&Row> = rows.iter().filter(|r| r.email == rejected).collect();
    assert_eq!(retried.len(), 2, "a failed row, then a sent row: {rows:#?}");
    assert_eq!(retried[1].status, "sent");
}

/// 12. SIGKILL in the middle of a run, then a re-run: nobody receives the message twice. A message
///     the killed process had in flight (it may have reached the server) is logged `unknown` by the
///     re-run and not sent again; everyone else ends with a `sent` row and one copy.
#[test]
fn sigkill_mid_run_then_resume_delivers_nobody_twice() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let concurrency = 4;
    let spec = Spec {
        recipients: 60,
        concurrency,
        rate: Some("20/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let running = fx.spawn(&[], None);
    let enough = support::wait_until(Duration::from_secs(30), || fx.sent_rows_now() >= 10);
    running.kill();
    assert!(enough, "10 sent rows within 30 s: {}", fx.results_text());
    let before: HashSet<String> = fx.rows_with("sent").into_iter().map(|r| r.email).collect();
    assert!(before.len() >= 10 && before.len() < 60, "{}", before.len());
    // Anything the killed process had in flight lands (or not) by now.
    std::thread::sleep(Duration::from_millis(300));

    let run = fx.send(&[], None);
    let rows = fx.rows();
    let unknown: HashSet<String> = fx
        .rows_with("unknown")
        .into_iter()
        .map(|r| r.email)
        .collect();
    run.expect(if unknown.is_empty() { 0 } else { 1 });
    let sent: HashSet<String> = fx.rows_with("sent").into_iter().map(|r| r.email).collect();
    server.wait_for(sent.len(), WAIT);
    std::thread::sleep(Duration::from_millis(200));
    let counts = capture_rcpts(&server);
    let twice: Vec<(&String, &usize)> = counts.iter().filter(|&(_, &n)| n > 1).collect();
    assert!(twice.is_empty(), "received more than once: {twice:?}");
    for e in spec.emails() {
        let copies = counts.get(&e).copied().unwrap_or(0);
        let final_rows = rows
            .iter()
            .filter(|r| r.email == e && (r.status == "sent" || r.status == "unknown"))
            .count();
        assert_eq!(final_rows, 1, "{e}: one sent or unknown row: {rows:#?}");
        if sent.contains(&e) {
            assert_eq!(copies, 1, "{e} has a sent row");
        } else {
            assert!(unknown.contains(&e) && copies <= 1, "{e}: {copies} copies");
            assert!(!before.contains(&e), "{e} had a sent row before the kill");
        }
    }
    assert!(
        unknown.len() <= concurrency,
        "{} unknown > concurrency {concurrency}: {unknown:?}",
        unknown.len()
    );
    eprintln!(
        "sigkill: {} sent rows before the kill, {} in flight logged unknown: {unknown:?}",
        before.len(),
        unknown.len()
    );
}

/// 13. `daily_limit`: the first run stops at 5 with exit 4 and says when to continue; a second run
///     the same day sends nothing and exits 4 again.
#[test]
fn daily_limit_stops_the_run_until_tomorrow() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 8,
        daily_limit: Some(5),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(4);
    assert!(run.stdout.contains("daily_limit reached"), "{run:?}");
    assert!(run.stdout.contains("00:00 UTC"), "says when: {run:?}");
    server.wait_for(5, WAIT);
    assert_eq!(fx.rows_with("sent").len(), 5);

    let run = fx.send(&[], None);
    run.expect(4);
    assert!(run.stdout.contains("sent 0,"), "{run:?}");
    assert!(run.stdout.contains("daily_limit reached"), "{run:?}");
    std::thread::sleep(Duration::from_millis(200));
    let counts = capture_rcpts(&server);
    assert_eq!(counts.len(), 5, "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    assert_eq!(fx.rows_with("sent").len(), 5);
}
