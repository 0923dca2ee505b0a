//! A relay that rejects every recipient alike stops the run after `stop_after_rejections` (0 =
//! never); real bounces, each its own text, between successes do not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::support::campaign::{Fixture, Spec, assert_each_once, copies, email};
use crate::support::{Reply, ScriptedServer, Stage};

use super::*;

// ----------------------------------------- 9. relay rejecting everything ---

/// A server answering every RCPT `554 5.7.1 <ADDR>: Relay access denied` while `reject` is set.
fn relay_denied(reject: &Arc<AtomicBool>) -> ScriptedServer {
    let reject = Arc::clone(reject);
    ScriptedServer::start(move |ev| match (ev.stage, ev.rcpt) {
        (Stage::Rcpt, Some(rcpt)) if reject.load(Ordering::SeqCst) => {
            Reply::text(format!("554 5.7.1 <{rcpt}>: Relay access denied"))
        }
        _ => Reply::Default,
    })
}

/// 9a. A relay that refuses every recipient alike (a misconfigured relay, not 60 bad addresses):
///     after `stop_after_rejections = 20` the run stops with exit 3 quoting the reply, instead of
///     marking all 60 failed; the recipients not tried have no row, and a later run against a
///     relay that accepts sends exactly them.
#[test]
fn relay_rejecting_every_recipient_stops_the_run_after_20_rejections() {
    let reject = Arc::new(AtomicBool::new(true));
    let server = relay_denied(&reject);
    let concurrency = 2;
    let spec = Spec {
        recipients: 60,
        concurrency,
        stop_after_rejections: Some(20),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(3);
    assert!(
        run.stderr.contains("Relay access denied"),
        "quotes the reply: {run:?}"
    );
    let rows = fx.strict_rows();
    let failed = emails_with(&rows, "failed");
    assert!(
        (20..=20 + concurrency).contains(&failed.len()),
        "about 20 failed rows: {}",
        failed.len()
    );
    assert_eq!(rows.len(), failed.len(), "only failed rows: {rows:#?}");
    assert!(rows.iter().all(|r| r.code == "554"), "{rows:#?}");
    assert!(server.data_ends().is_empty());

    reject.store(false, Ordering::SeqCst);
    fx.send(&[], None).expect(0);
    let untried: Vec<String> = spec
        .emails()
        .into_iter()
        .filter(|e| !failed.contains(e))
        .collect();
    assert_each_once(&copies(&server), &untried);
    assert_eq!(emails_with(&fx.strict_rows(), "sent").len(), untried.len());
}

/// 9b. `stop_after_rejections = 0` never stops: all 30 are tried and failed, exit 1.
#[test]
fn stop_after_rejections_zero_never_stops_the_run() {
    let reject = Arc::new(AtomicBool::new(true));
    let server = relay_denied(&reject);
    let spec = Spec {
        recipients: 30,
        stop_after_rejections: Some(0),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(1);
    let rows = fx.strict_rows();
    assert_eq!(emails_with(&rows, "failed").len(), 30, "{rows:#?}");
}

/// 9c. Twenty different 550s (real bounces: each its own text) between successes are ordinary
///     per-recipient failures and do not stop the run at the default threshold.
#[test]
fn different_rejections_between_successes_do_not_stop_the_run() {
    const REASONS: [&str; 20] = [
        "mailbox unavailable",
        "user unknown",
        "account disabled",
        "no such user here",
        "recipient rejected",
        "mailbox not found",
        "address does not exist",
        "inactive account",
        "unrouteable address",
        "mailbox closed",
        "user has moved",
        "invalid recipient",
        "recipient blocked",
        "mailbox suspended",
        "not a valid mailbox",
        "account expired",
        "bad destination mailbox",
        "user locked out",
        "unknown local part",
        "mailbox deleted",
    ];
    let server = ScriptedServer::start(|ev| match (ev.stage, ev.rcpt) {
        (Stage::Rcpt, Some(rcpt)) => {
            let i: usize = rcpt[1..4].parse().unwrap();
            if i % 2 == 1 {
                Reply::text(format!("550 5.1.1 {}", REASONS[i / 2]))
            } else {
                Reply::Default
            }
        }
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 40,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(1);
    let rows = fx.strict_rows();
    assert_eq!(emails_with(&rows, "failed").len(), 20, "{rows:#?}");
    assert_eq!(emails_with(&rows, "sent").len(), 20, "{rows:#?}");
    let even: Vec<String> = (0..40).step_by(2).map(email).collect();
    assert_each_once(&copies(&server), &even);
}
