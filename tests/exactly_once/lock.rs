//! One run at a time per result log: a second run exits 5 naming the holder and sends nothing, a
//! dry run needs no lock, and the lock of a SIGKILLed run is taken by the next one.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::campaign::{Fixture, Spec, assert_each_once, copies};
use crate::support::{Reply, ScriptedServer, Stage, wait_until};

use super::*;

// ------------------------------------------------------------- 3. lock ---

/// A campaign of 20 at 5/s: a run that lasts about 4 s.
fn slow_campaign(server: &ScriptedServer) -> (Spec, Fixture) {
    let spec = Spec {
        recipients: 20,
        rate: Some("5/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    (spec, fx)
}

/// 3a. Two runs of one campaign at once both send to the recipients without a row: the second one
///     must see the first one's lock, exit 5 at once naming its pid and start time, and send
///     nothing. After the first one ends, the lock is free again.
#[test]
fn second_run_while_one_sends_exits_5_naming_the_holder_and_sends_nothing() {
    let server = ScriptedServer::accept_all();
    let (spec, fx) = slow_campaign(&server);
    let mut a = fx.spawn(&[], None);
    assert!(
        wait_until(Duration::from_secs(20), || fx.sent_rows_now() >= 1),
        "A sent a first row: {}",
        fx.results_text()
    );
    let b = fx.spawn(&[], None).wait_within(Duration::from_secs(5));
    assert!(a.is_running(), "A still sends while B is refused");
    b.expect(5);
    assert!(
        has_whole(&b.stderr, &a.pid().to_string()),
        "names the holder's pid {}: {b:?}",
        a.pid()
    );
    assert!(b.stderr.contains("started"), "says when it started: {b:?}");

    a.wait().expect(0);
    assert_each_once(&copies(&server), &spec.emails());
    let rows = fx.strict_rows();
    assert_eq!(rows.len(), 20, "one row each, none from B: {rows:#?}");
    assert_eq!(emails_with(&rows, "sent").len(), 20);

    let c = fx.send(&[], None);
    c.expect(0);
    assert!(c.stdout.contains("sent 0,"), "{c:?}");
    assert_each_once(&copies(&server), &spec.emails());
}

/// 3b. A dry run opens no result log, so it needs no lock: it works while a run sends.
#[test]
fn dry_run_while_a_run_sends_does_not_need_the_lock() {
    let server = ScriptedServer::accept_all();
    let (spec, fx) = slow_campaign(&server);
    let mut a = fx.spawn(&[], None);
    assert!(wait_until(Duration::from_secs(20), || fx.sent_rows_now() >= 1));
    let dry = fx
        .spawn(&["--dry-run"], None)
        .wait_within(Duration::from_secs(15));
    dry.expect(0);
    assert!(dry.stdout.contains("nothing was sent"), "{dry:?}");
    assert!(a.is_running(), "the dry run did not wait for A");
    a.wait().expect(0);
    assert_each_once(&copies(&server), &spec.emails());
}

/// 3c. The lock dies with its holder: after the holder is SIGKILLed (no message in flight: its
///     sessions wait for the reply to MAIL), a new run takes the lock and sends everyone once.
#[test]
fn lock_of_a_sigkilled_run_is_taken_by_the_next_run() {
    let hold = Arc::new(AtomicBool::new(true));
    let server = {
        let hold = Arc::clone(&hold);
        ScriptedServer::start(move |ev| match ev.stage {
            Stage::Mail if hold.load(Ordering::SeqCst) => Reply::stall(Duration::from_secs(20)),
            _ => Reply::Default,
        })
    };
    let spec = Spec {
        recipients: 6,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let a = fx.spawn(&[], None);
    assert!(
        wait_until(Duration::from_secs(20), || server.count_commands("MAIL")
            >= 1),
        "A offered a first message"
    );
    // The lock is held: a second run is refused.
    fx.spawn(&[], None)
        .wait_within(Duration::from_secs(5))
        .expect(5);
    a.kill();
    hold.store(false, Ordering::SeqCst);

    let c = fx.spawn(&[], None).wait_within(Duration::from_secs(20));
    c.expect(0);
    assert_each_once(&copies(&server), &spec.emails());
    let rows = fx.strict_rows();
    assert_eq!(emails_with(&rows, "sent").len(), 6, "{rows:#?}");
    assert_eq!(rows.len(), 6, "{rows:#?}");
}
