//! Stopping a send through two relays: kill -9, SIGTERM, a second SIGTERM, SIGTERM while a relay is
//! down; then the next run: nobody twice.

use super::*;

/// Two relays answering each final dot after 300 ms, and a campaign of 40 through them.
fn two_slow_relays() -> (ScriptedServer, ScriptedServer, Spec, Fixture) {
    let slow = || {
        ScriptedServer::start(|ev| match ev.stage {
            Stage::DataEnd => Reply::after(Duration::from_millis(300), Reply::Default),
            _ => Reply::Default,
        })
    };
    let (a, b) = (slow(), slow());
    let spec = base(40);
    let fx = campaign(
        &spec,
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    (a, b, spec, fx)
}

/// Waits until the two servers together read `n` final dots.
fn wait_for_dots(a: &ScriptedServer, b: &ScriptedServer, n: usize) {
    let deadline = Instant::now() + WAIT;
    while a.data_ends().len() + b.data_ends().len() < n {
        assert!(Instant::now() < deadline, "{n} messages did not arrive");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// kill -9 in the middle of a two-relay send, then a second run: nobody received twice; the
/// messages in flight are `unknown` (not resent without --retry-unknown), everyone else `sent`.
#[test]
fn kill_9_mid_send_then_a_second_run_sends_nobody_twice() {
    let (a, b, spec, fx) = two_slow_relays();
    let running = spawn(&fx, &[], &[]);
    wait_for_dots(&a, &b, 8);
    running.kill();
    let second = send(&fx, &[], &[]);
    assert!(
        [0, 1].contains(&second.code),
        "exit {}: {}",
        second.code,
        second.stderr
    );
    let received = union(&[copies(&a), copies(&b)]);
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "received twice: {twice:?}");
    let rows = fx.strict_rows();
    for email in spec.emails() {
        let mine: Vec<&Row> = rows.iter().filter(|r| r.email == email).collect();
        let last = mine.last().unwrap_or_else(|| panic!("no row for {email}"));
        match received.get(&email) {
            Some(1) => assert!(
                ["sent", "unknown"].contains(&last.status.as_str()),
                "{email}: {mine:?}"
            ),
            _ => assert_eq!(last.status, "unknown", "{email} never received: {mine:?}"),
        }
        assert!(
            mine.iter().filter(|r| r.status == "sent").count() <= 1,
            "{email}: {mine:?}"
        );
    }
}

/// SIGTERM with two relays: exit 143, every message a relay read has a `sent` row and no row
/// is `unknown`; the resume sends the rest, each recipient once in all.
#[test]
fn sigterm_with_two_relays_stops_cleanly_and_the_resume_sends_the_rest_once() {
    let (a, b, spec, fx) = two_slow_relays();
    let running = spawn(&fx, &[], &[]);
    wait_for_dots(&a, &b, 8);
    running.signal("TERM");
    let run = running.wait();
    run.expect(143);
    let received = union(&[copies(&a), copies(&b)]);
    let rows = fx.strict_rows();
    let logged: BTreeMap<String, usize> = (rows.iter())
        .filter(|r| r.status == "sent")
        .map(|r| (r.email.clone(), 1))
        .collect();
    assert_eq!(logged, received, "a sent row for each message delivered");
    assert_eq!(rows.len(), logged.len(), "no other row: {rows:#?}");
    assert!(received.len() < 40, "stopped before the end");

    send(&fx, &[], &[]).expect(0);
    assert_each_once(&union(&[copies(&a), copies(&b)]), &spec.emails());
    let rows = one_row_each(&fx, &spec);
    assert!(rows.values().all(|r| r.status == "sent"));
}

/// SIGTERM while one relay is down and being retried with backoff: the run stops at once
/// (exit 143), without waiting the backoff out, with a row for everything delivered.
#[test]
fn sigterm_while_a_relay_is_down_stops_at_once() {
    let a = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::after(Duration::from_millis(200), Reply::Default),
        _ => Reply::Default,
    });
    let spec = Spec {
        retries: 5,
        ..base(60)
    };
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)),
            relay("down", Spec::new(free_port())),
        ],
    );
    let running = spawn(&fx, &[], &[]);
    a.wait_for_data_ends(6, WAIT);
    let signalled = Instant::now();
    running.signal("TERM");
    let run = running.wait();
    run.expect(143);
    let took = signalled.elapsed();
    assert!(took < Duration::from_secs(2), "stopped in {took:?}");
    let sent: Vec<String> = fx.rows_with("sent").into_iter().map(|r| r.email).collect();
    let received = copies(&a);
    assert_eq!(sent.len(), received.len(), "{}", fx.results_text());
    assert!(
        fx.rows().iter().all(|r| r.status == "sent"),
        "{}",
        fx.results_text()
    );
}

/// A second SIGTERM with two relays abandons the messages waiting for their reply at both:
/// logged `unknown` at once, exit 143, and the next run does not resend them.
#[test]
fn second_sigterm_with_two_relays_logs_both_relays_messages_unknown() {
    let stalled = || {
        ScriptedServer::start(|ev| match ev.stage {
            Stage::DataEnd => Reply::after(Duration::from_secs(30), Reply::Default),
            _ => Reply::Default,
        })
    };
    let (a, b) = (stalled(), stalled());
    let spec = base(10);
    let fx = campaign(
        &spec,
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    let running = spawn(&fx, &[], &[]);
    a.wait_for_data_ends(2, WAIT);
    b.wait_for_data_ends(2, WAIT);
    running.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    running.signal("TERM");
    let run = running.wait_within(Duration::from_secs(10));
    run.expect(143);
    let in_flight = union(&[copies(&a), copies(&b)]);
    assert_eq!(in_flight.len(), 4, "two sessions at each relay waited");
    let unknown: BTreeMap<String, usize> = (fx.rows_with("unknown").into_iter())
        .map(|r| (r.email, 1))
        .collect();
    assert_eq!(unknown, in_flight, "{}", fx.results_text());

    // The next run sends the six others (their dots stall too), not the four: stopped once a
    // has read a third message.
    let again = spawn(&fx, &[], &[]);
    a.wait_for_data_ends(3, WAIT);
    again.kill();
    let resent: Vec<_> = (union(&[copies(&a), copies(&b)]).into_iter())
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(resent.is_empty(), "sent again: {resent:?}");
}

/// kill -9 while relay b's messages wait for their reply, then b is removed from campaign.toml:
/// the next run (relay a alone) logs b's messages in flight `unknown` and does not resend them.
#[test]
fn kill_9_then_a_relay_removed_keeps_its_messages_in_flight_unknown() {
    let a = ScriptedServer::accept_all();
    let b = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::after(Duration::from_secs(30), Reply::Default),
        _ => Reply::Default,
    });
    let spec = Spec {
        rate: Some("20/s"),
        ..base(40)
    };
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)).with("concurrency = 1"),
            relay("b", Spec::new(b.port)).with("concurrency = 3"),
        ],
    );
    let running = spawn(&fx, &[], &[]);
    b.wait_for_data_ends(3, WAIT);
    running.kill();
    let in_flight: Vec<String> = copies(&b).into_keys().collect();
    assert_eq!(in_flight.len(), 3, "b's three sessions wait");

    let alone = campaign(&spec, &[relay("a", Spec::new(a.port))]);
    fx.write("campaign.toml", &read(&alone, "campaign.toml"));
    let run = send(&fx, &[], &[]);
    run.expect(1);
    let at_a = copies(&a);
    for email in &in_flight {
        assert!(!at_a.contains_key(email), "{email} resent through a");
    }
    let rows = one_row_each(&fx, &spec);
    for email in &in_flight {
        assert_eq!(rows[email].status, "unknown", "{:?}", rows[email]);
    }
    let others: Vec<String> = (spec.emails().into_iter())
        .filter(|e| !in_flight.contains(e))
        .collect();
    assert_each_once(&at_a, &others);
}
