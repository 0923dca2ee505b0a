//! The reply to the final dot decides `sent`: late, unfinished, mixed, odd (`299`, `354`) or never
//! seen (the run SIGKILLed while waiting) it is `unknown`, not retried; `data_timeout` applies to
//! it, the general timeout does not.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::campaign::{Fixture, Row, Spec, assert_each_once, copies, email, row_for};
use crate::support::{Reply, ScriptedServer, Stage};

use super::*;

// ------------------------------------------------ 5. the final reply ---

/// A server whose reply to the final dot is late by `delay` while `slow` is set.
fn late_final_reply(delay: Duration, slow: &Arc<AtomicBool>) -> ScriptedServer {
    let slow = Arc::clone(slow);
    ScriptedServer::start(move |ev| match ev.stage {
        Stage::DataEnd if slow.load(Ordering::SeqCst) => Reply::after(delay, Reply::Default),
        _ => Reply::Default,
    })
}

/// 5a. The 250 comes 6 s after the final dot, `data_timeout = 1`: the client cannot know whether
///     the message was delivered, so it logs `unknown` (no code) instead of retrying (3 retries
///     would send 4 copies). Neither a plain run nor `--retry-failed` sends them again; only
///     `--retry-unknown` does.
#[test]
fn late_reply_to_the_final_dot_is_unknown_and_not_retried() {
    let slow = Arc::new(AtomicBool::new(true));
    let server = late_final_reply(Duration::from_secs(6), &slow);
    let spec = Spec {
        recipients: 2,
        concurrency: 2,
        retries: 3,
        data_timeout: Some(1),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(1);
    // data_timeout, then at most the 2 s a polite QUIT may take: not the 6 s of the late reply.
    assert!(
        run.elapsed < Duration::from_secs(4),
        "the run ended {:?} after it started: it waited for the late reply",
        run.elapsed
    );
    assert_each_once(&copies(&server), &spec.emails());
    let rows = fx.strict_rows();
    assert_eq!(rows.len(), 2, "{rows:#?}");
    for e in spec.emails() {
        let row = row_for(&rows, &e);
        assert_unknown(row);
        assert!(row.code.is_empty(), "no reply, no code: {row:?}");
        assert_eq!(row.attempts, 1, "not retried: {row:?}");
    }
    slow.store(false, Ordering::SeqCst);

    for args in [&[][..], &["--retry-failed"][..]] {
        let mails = server.count_commands("MAIL");
        let run = fx.send(args, None);
        run.expect(0);
        assert!(run.stdout.contains("sent 0,"), "{args:?}: {run:?}");
        assert_eq!(
            server.count_commands("MAIL"),
            mails,
            "{args:?} sends nothing"
        );
        assert_each_once(&copies(&server), &spec.emails());
    }

    let run = fx.send(&["--retry-unknown"], None);
    run.expect(0);
    assert!(run.stdout.contains("sent 2,"), "{run:?}");
    let twice: BTreeMap<String, usize> = spec.emails().into_iter().map(|e| (e, 2)).collect();
    assert_eq!(copies(&server), twice, "sent again on --retry-unknown");
    let rows = fx.strict_rows();
    for e in spec.emails() {
        let own: Vec<&str> = rows
            .iter()
            .filter(|r| r.email == e)
            .map(|r| r.status.as_str())
            .collect();
        assert_eq!(own, ["unknown", "sent"], "{e}");
    }
}

/// One recipient, the server answers the final dot with `reply` (CRLFs added): one copy, logged
/// `unknown`, exit 1.
fn final_reply_is_unknown(reply: &str, data_timeout: Option<u64>) -> Row {
    let reply = reply.to_string();
    let server = ScriptedServer::start(move |ev| match ev.stage {
        Stage::DataEnd => Reply::text(reply.clone()),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 1,
        concurrency: 1,
        retries: 2,
        data_timeout,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(1);
    assert_each_once(&copies(&server), &spec.emails());
    let rows = fx.strict_rows();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_unknown(&rows[0]);
    assert_eq!(rows[0].attempts, 1, "not retried: {:?}", rows[0]);
    rows[0].clone()
}

/// 5b. `250-` (a multi-line reply begun) and then nothing: after data_timeout, unknown.
#[test]
fn final_reply_250_continuation_never_finished_is_unknown() {
    final_reply_is_unknown("250-2.0.0 Ok", Some(1));
}

/// 5c. A multi-line reply whose lines disagree (`250-ok`, `451 no`): unknown.
#[test]
fn final_reply_with_mixed_codes_is_unknown() {
    final_reply_is_unknown("250-ok\n451 no", None);
}

/// 5d. A code that is no reply to the final dot (`299`): unknown.
#[test]
fn final_reply_299_is_unknown() {
    final_reply_is_unknown("299 ok", None);
}

/// 5e. Without `data_timeout`, the general `[smtp] timeout` (here 1 s) no longer applies to the
///     final dot: a 250 that comes after 3 s is waited for, logged `sent`, and sent once.
#[test]
fn reply_to_the_final_dot_after_the_general_timeout_is_waited_for() {
    let slow = Arc::new(AtomicBool::new(true));
    let server = late_final_reply(Duration::from_secs(3), &slow);
    let spec = Spec {
        recipients: 1,
        concurrency: 1,
        timeout: Some(1),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(0);
    assert_each_once(&copies(&server), &spec.emails());
    let rows = fx.strict_rows();
    let row = row_for(&rows, &email(0));
    assert_eq!(
        (row.status.as_str(), row.code.as_str(), row.attempts),
        ("sent", "250", 1),
        "{row:?}"
    );
}

// --------------------------------------------------------- 6. 3xx reply ---

/// 6. `354` to the final dot is not an acceptance: unknown, with the code, one copy.
#[test]
fn reply_354_to_the_final_dot_is_unknown_not_sent() {
    let row = final_reply_is_unknown("354 go ahead", None);
    assert_eq!(row.code, "354", "{row:?}");
}

// ---------------------------------- 10. SIGKILL waiting for the final reply ---

/// 10. SIGKILL while the final replies are 10 s away (data_timeout at its default): those messages
///     reached the server. The next run starts by logging them `unknown` and does not send them
///     again; everyone else is sent once. A run after that sends nothing.
#[test]
fn sigkill_while_waiting_for_the_final_reply_leaves_unknown_not_resent() {
    let slow = Arc::new(AtomicBool::new(true));
    let server = late_final_reply(Duration::from_secs(10), &slow);
    let spec = Spec {
        recipients: 6,
        concurrency: 2,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let running = fx.spawn(&[], None);
    let in_flight: HashSet<String> = server
        .wait_for_data_ends(2, Duration::from_secs(20))
        .into_iter()
        .flat_map(|t| t.rcpt_tos)
        .collect();
    running.kill();
    slow.store(false, Ordering::SeqCst);
    assert_eq!(in_flight.len(), 2, "{in_flight:?}");

    let resumed = fx.send(&[], None);
    assert_each_once(&copies(&server), &spec.emails());
    let rows = fx.strict_rows();
    assert_eq!(emails_with(&rows, "unknown"), in_flight, "{rows:#?}");
    for e in &in_flight {
        assert_unknown(row_for(&rows, e));
    }
    let first_sent = rows.iter().position(|r| r.status == "sent").unwrap();
    assert!(
        rows[..first_sent].iter().all(|r| r.status == "unknown") && first_sent == 2,
        "the unknown rows come first: {rows:#?}"
    );
    assert_eq!(emails_with(&rows, "sent").len(), 4, "{rows:#?}");

    let run = fx.send(&[], None);
    run.expect(0);
    assert!(run.stdout.contains("sent 0,"), "{run:?}");
    assert_each_once(&copies(&server), &spec.emails());
    // The resumed run wrote those two `unknown` rows: its exit code says so (1: some recipient
    // failed or has an unknown outcome), so that a script or cron job learns that two recipients
    // need a look at the relay's log.
    resumed.expect(1);
}
