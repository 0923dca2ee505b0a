//! SMTP faults from the scripted server: transient replies retried, a rejected recipient failed
//! alone with the session kept (with and without PIPELINING), dropped and stalled sessions retried,
//! failed or logged `unknown` according to whether the message may have been delivered.

use std::time::Duration;

use crate::support::campaign::{
    Fixture, Spec, WAIT, assert_each_once, email, only_rcpt, row_for, scripted_rcpts,
};
use crate::support::{Reply, ScriptedServer, Stage};

/// 9a. A 451 at the end of DATA is retried on the same session; the retry is accepted once.
#[test]
fn transient_reply_at_end_of_data_is_retried() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd if ev.nth == 1 => Reply::text("451 4.3.0 try again later"),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 3,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(0);
    let messages = server.wait_for(3, WAIT);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    let all = server.transactions();
    assert_eq!(all.len(), 4, "3 accepted + 1 refused: {all:?}");
    assert_eq!(all[0].code, Some(451));
    let retried = only_rcpt(&all[0].rcpt_tos).to_string();
    let rows = fx.rows();
    let row = row_for(&rows, &retried);
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2), "{row:?}");
    assert_eq!(row.code, "250");
    for other in spec.emails().iter().filter(|e| **e != retried) {
        assert_eq!(row_for(&rows, other).attempts, 1);
    }
    assert_eq!(server.connections(), 1, "the session survived the 451");
    assert!(server.count_commands("RSET") >= 1, "RSET after the 451");
}

/// The EHLO reply of a server that offers PIPELINING (RFC 2920).
const EHLO_PIPELINING: &str = "250-localhost\n250-PIPELINING\n250-8BITMIME\n250 SMTPUTF8";

/// Five recipients, one session; the server answers 550 to the second one's RCPT. Checks what holds
/// with and without PIPELINING: only that recipient fails, with the RCPT's 550 and no retry, the
/// four others are delivered once, all on one session. Returns the server and the rejected address.
fn one_rcpt_rejected(pipelining: bool) -> (ScriptedServer, String) {
    let rejected = email(2);
    let reject = rejected.clone();
    let server = ScriptedServer::start(move |ev| match ev.stage {
        Stage::Ehlo if pipelining => Reply::text(EHLO_PIPELINING),
        Stage::Rcpt if ev.rcpt == Some(reject.as_str()) => {
            Reply::text("550 5.1.1 no such user here")
        }
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 5,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(1);
    assert!(run.stdout.contains("sent 4, failed 1"), "{run:?}");
    let messages = server.wait_for(4, WAIT);
    let others: Vec<String> = spec
        .emails()
        .into_iter()
        .filter(|e| *e != rejected)
        .collect();
    assert_each_once(&scripted_rcpts(&messages), &others);
    let rows = fx.rows();
    let row = row_for(&rows, &rejected);
    assert_eq!(row.status, "failed");
    assert_eq!(row.code, "550", "the RCPT's reply, not DATA's: {row:?}");
    assert_eq!(row.attempts, 1, "a 5xx is not retried");
    assert!(row.detail.contains("no such user"), "{row:?}");
    let rcpts_for_rejected = server
        .commands()
        .iter()
        .filter(|(_, l)| l.starts_with("RCPT") && l.contains(&rejected))
        .count();
    assert_eq!(rcpts_for_rejected, 1, "offered once");
    assert_eq!(server.connections(), 1, "one session for all five");
    assert_eq!(fx.rows_with("sent").len(), 4);
    (server, rejected)
}

/// 9b. A 550 for one recipient fails only that one (no retry); the session goes on after RSET.
#[test]
fn permanent_rcpt_rejection_fails_one_recipient_and_keeps_the_session() {
    let (server, _) = one_rcpt_rejected(false);
    assert_eq!(
        server.count_commands("DATA"),
        4,
        "no DATA after the rejected RCPT"
    );
    assert_eq!(server.count_commands("RSET"), 1, "RSET after the 550");
}

/// 9b'. With PIPELINING, MAIL, RCPT and DATA go out together: the server sees DATA even for the
/// rejected recipient (and answers it 554), yet the row carries the RCPT's 550.
#[test]
fn pipelined_rcpt_rejection_reports_the_rcpt_reply_and_keeps_the_session() {
    let (server, _) = one_rcpt_rejected(true);
    assert_eq!(
        server.count_commands("DATA"),
        5,
        "DATA went out in the same write as the rejected RCPT"
    );
}

/// 9b''. With PIPELINING, a 451 to MAIL: RCPT and DATA were already on their way (the server
/// answers them 503), the session is kept, and the message is retried and delivered once.
#[test]
fn pipelined_transient_mail_rejection_is_retried_on_the_same_session() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::Ehlo => Reply::text(EHLO_PIPELINING),
        Stage::Mail if ev.nth == 1 => Reply::text("451 4.3.2 busy, try later"),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 3,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(0);
    let messages = server.wait_for(3, WAIT);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    let commands: Vec<String> = server.commands().into_iter().map(|(_, l)| l).collect();
    let first_mail = commands.iter().position(|l| l.starts_with("MAIL")).unwrap();
    let verbs: Vec<&str> = commands[first_mail..first_mail + 3]
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(verbs, ["MAIL", "RCPT", "DATA"], "{commands:?}");
    assert_eq!(server.connections(), 1, "the session survived the 451");
    let retried = fx.rows().into_iter().filter(|r| r.attempts == 2).count();
    assert_eq!(retried, 1, "{:?}", fx.rows());
}

/// 9c. A connection dropped at the DATA command, before any of the message went out: it cannot
///     have been delivered, so the message is sent again on a new session.
#[test]
fn connection_dropped_at_the_data_command_is_retried() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::Data if ev.nth == 1 => Reply::Drop,
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 2,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(0);
    let messages = server.wait_for(2, WAIT);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    let first = server
        .commands()
        .iter()
        .find(|(_, l)| l.starts_with("RCPT"))
        .map(|(_, l)| l.clone())
        .unwrap();
    let rows = fx.rows();
    let dropped = spec
        .emails()
        .into_iter()
        .find(|e| first.contains(e.as_str()))
        .unwrap();
    let row = row_for(&rows, &dropped);
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2), "{row:?}");
    assert_eq!(server.connections(), 2, "a new session after the drop");
}

/// 9c'. A connection dropped after the server read the whole message, instead of the reply to the
///      final dot: the client cannot tell whether it was delivered, so the row is `unknown` (code
///      empty) and the message is not sent again.
#[test]
fn connection_dropped_after_the_final_dot_is_unknown_and_not_retried() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd if ev.nth == 1 => Reply::Drop,
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 2,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(1);
    // The run is over: every transaction there will be has reached the server (the last one's
    // record may trail the reply by an instant).
    let all = server.wait_for_transactions(2, WAIT);
    assert_eq!(all.len(), 2, "one transaction each, no retry: {all:?}");
    assert_eq!(all[0].code, None, "the server hung up: {all:?}");
    let dropped = only_rcpt(&all[0].rcpt_tos).to_string();
    assert_each_once(&scripted_rcpts(&all), &spec.emails());
    let rows = fx.rows();
    let row = row_for(&rows, &dropped);
    assert_eq!(row.status, "unknown", "{row:?}");
    assert_eq!(row.attempts, 1, "not retried: {row:?}");
    assert!(row.code.is_empty(), "no reply, no code: {row:?}");
    assert!(row.detail.contains("may have been delivered"), "{row:?}");
    let other = spec.emails().into_iter().find(|e| *e != dropped).unwrap();
    assert_eq!(row_for(&rows, &other).status, "sent");
}

/// 9d. A server that never answers a RCPT: the general `[smtp] timeout` fails the recipient after
///     its retries (nothing of the message went out), and the run ends in bounded time.
#[test]
fn stalled_rcpt_times_out_and_fails_the_recipient() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::Rcpt => Reply::stall(Duration::from_secs(20)),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 1,
        concurrency: 1,
        retries: 1,
        timeout: Some(1),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(1);
    assert!(
        run.elapsed < Duration::from_secs(12),
        "bounded by timeout × attempts + backoff: {:?}",
        run.elapsed
    );
    let rows = fx.rows();
    let row = row_for(&rows, &email(0));
    assert_eq!(row.status, "failed");
    assert_eq!(row.attempts, 2, "1 + retries");
    assert!(row.code.is_empty(), "no reply, no code: {row:?}");
    assert!(
        row.detail.contains("no reply within 1s"),
        "a timeout detail: {row:?}"
    );
    // The stalled sessions are still asleep in the server: count what the client sent instead.
    assert_eq!(
        server.count_commands("MAIL"),
        2,
        "two attempts: {:?}",
        server.commands()
    );
    assert_eq!(server.connections(), 2, "the timed-out session was dropped");
    assert!(server.data_ends().is_empty());
}

/// 9d'. A server that never answers the final dot: after `[smtp] data_timeout` the message may
///      have been delivered, so it is logged `unknown` after one attempt and not sent again, and
///      the run ends in bounded time.
#[test]
fn stall_after_the_final_dot_is_unknown_after_data_timeout() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::stall(Duration::from_secs(20)),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 1,
        concurrency: 1,
        retries: 1,
        data_timeout: Some(1),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(1);
    assert!(
        run.elapsed < Duration::from_secs(8),
        "bounded by data_timeout: {:?}",
        run.elapsed
    );
    let rows = fx.rows();
    let row = row_for(&rows, &email(0));
    assert_eq!(row.status, "unknown", "{row:?}");
    assert_eq!(row.attempts, 1, "not retried: {row:?}");
    assert!(row.code.is_empty(), "no reply, no code: {row:?}");
    assert!(row.detail.contains("may have been delivered"), "{row:?}");
    assert_eq!(server.count_commands("MAIL"), 1, "{:?}", server.commands());
    assert_eq!(server.data_ends().len(), 1, "one copy");
    assert!(server.messages().is_empty());
}
