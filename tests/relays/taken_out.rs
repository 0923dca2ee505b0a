//! A relay that fails is taken out and the others take its work: one down, one dying mid-run, one
//! rejecting everything, one deferring or asking to slow down, one back on probation; every relay
//! failing.

use super::*;

/// A relay on a port nobody listens on: everyone goes to the other, exit 0, and the run takes
/// about as long as with the live relay alone.
#[test]
fn relay_down_sends_all_through_the_other_without_a_stall() {
    let (alone, up) = (plain(), plain());
    let spec = base(40);
    let one = Fixture::from_spec(&Spec {
        recipients: 40,
        ..Spec::new(alone.port)
    });
    let baseline = one.send(&[], None);
    baseline.expect(0);

    let fx = campaign(
        &spec,
        &[
            relay("up", Spec::new(up.port)),
            relay("down", Spec::new(free_port())),
        ],
    );
    let run = send(&fx, &[], &[]);
    run.expect(0);
    exactly(&up, 40, "the live relay took everyone");
    assert_each_once(&capture_rcpts(&up), &spec.emails());
    let rows = one_row_each(&fx, &spec);
    assert!(rows.values().all(|r| r.status == "sent"), "{rows:#?}");
    eprintln!(
        "one relay: {:?}; with a relay down beside it: {:?}",
        baseline.elapsed, run.elapsed
    );
    assert!(
        run.elapsed < baseline.elapsed + Duration::from_secs(3),
        "no stall: {:?} against {:?} alone\n{}",
        run.elapsed,
        baseline.elapsed,
        run.stderr
    );
}

/// How a dying relay refuses, once it has accepted its messages.
#[derive(Clone, Copy, PartialEq)]
enum Dies {
    /// `421` to everything, the greeting included.
    Refusing,
    /// Every connection closed at once, every command unanswered.
    Closing,
}

/// A scripted relay that accepts `n` messages, then dies as `how`.
fn dying_relay(n: usize, how: Dies) -> ScriptedServer {
    let accepted = Arc::new(AtomicUsize::new(0));
    ScriptedServer::start(move |ev| {
        let dead = accepted.load(Ordering::SeqCst) >= n;
        let refuse = || match how {
            Dies::Refusing => Reply::text("421 4.3.2 Service shutting down"),
            Dies::Closing => Reply::Drop,
        };
        match ev.stage {
            // A message whose dot was read is answered: dying there would make it `unknown`
            // (legitimately), which this test is not about.
            Stage::DataEnd if dead && how == Dies::Refusing => refuse(),
            Stage::DataEnd => {
                accepted.fetch_add(1, Ordering::SeqCst);
                Reply::Default
            }
            Stage::Quit => Reply::Default,
            _ if dead => refuse(),
            _ => Reply::Default,
        }
    })
}

/// A relay that dies after 5 messages: the rest go to the other, nobody twice, every recipient
/// exactly one row, `sent`.
fn relay_dying_mid_run(how: Dies) {
    let up = plain();
    let dying = dying_relay(5, how);
    let spec = base(40);
    let fx = campaign(
        &spec,
        &[
            relay("up", Spec::new(up.port)),
            relay("dying", Spec::new(dying.port)),
        ],
    );
    let run = send(&fx, &[], &[]);
    let n = fx.rows().len();
    assert_eq!(n, 40, "a row each (exit {}):\n{}", run.code, run.stderr);
    let rows = one_row_each(&fx, &spec);
    let not_sent: Vec<&Row> = rows.values().filter(|r| r.status != "sent").collect();
    assert!(not_sent.is_empty(), "{not_sent:#?}\n{}", run.stderr);
    run.expect(0);
    assert!(dying.messages().len() >= 5, "it took its first messages");
    let delivered = union(&[capture_rcpts(&up), accepted(&dying)]);
    assert_each_once(&delivered, &spec.emails());
}

/// Fails about every other run: the retried message is lost, as
/// `a_retry_held_by_a_failing_relay_is_not_lost_when_the_others_have_finished` shows for certain.
#[test]
fn relay_answering_421_after_5_messages_hands_the_rest_to_the_other() {
    relay_dying_mid_run(Dies::Refusing);
}

/// Fails now and then (about 1 run in 3 beside the other tests): the retried message is lost, as
/// `a_retry_held_by_a_failing_relay_is_not_lost_when_the_others_have_finished` shows for certain.
#[test]
fn relay_closing_every_connection_after_5_messages_hands_the_rest_to_the_other() {
    relay_dying_mid_run(Dies::Closing);
}

/// The race behind the test above, made certain: relay b's session drops a message (a retry is
/// due in 0.5–1 s) and b's next sessions never greet (timeout 2 s). b's worker takes the retry
/// and holds it while it tries to connect; a's worker finishes its own slow message, finds the
/// retry queue empty and ends. b is then taken out with the message in hand: it must still be
/// sent by a (or at least get a row); it was lost, with exit 0.
#[test]
fn a_retry_held_by_a_failing_relay_is_not_lost_when_the_others_have_finished() {
    let a = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::after(Duration::from_millis(1200), Reply::Default),
        _ => Reply::Default,
    });
    let b = ScriptedServer::start(|ev| match ev.stage {
        Stage::Connect if ev.conn > 1 => Reply::stall(Duration::from_secs(30)),
        Stage::Mail if ev.conn == 1 => Reply::Drop,
        _ => Reply::Default,
    });
    let spec = Spec {
        retries: 1,
        ..base(2)
    };
    let slow_to_greet = Spec {
        timeout: Some(2),
        ..Spec::new(b.port)
    };
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)).with("concurrency = 1"),
            relay("b", slow_to_greet).with("concurrency = 1"),
        ],
    );
    let run = send(&fx, &[], &[]);
    let rows = fx.rows();
    assert_eq!(
        rows.len(),
        2,
        "a row each (exit {}): {rows:#?}\n{}",
        run.code,
        run.stderr
    );
    run.expect(0);
    assert_each_once(&union(&[accepted(&a), accepted(&b)]), &spec.emails());
}

/// A relay rejecting every recipient with the same 5xx is taken out after stop_after_rejections
/// (5): those 5 are `failed` and not resent, the rest go to the other relay.
#[test]
fn relay_rejecting_everything_is_taken_out_after_5_and_the_rest_go_elsewhere() {
    let up = plain();
    let rejecting = ScriptedServer::start(|ev| match ev.stage {
        Stage::Rcpt => Reply::text("554 5.7.1 Relay access denied"),
        _ => Reply::Default,
    });
    let spec = Spec {
        stop_after_rejections: Some(5),
        ..base(30)
    };
    let fx = campaign(
        &spec,
        &[
            relay("up", Spec::new(up.port)),
            relay("rejecting", Spec::new(rejecting.port)).with("concurrency = 1"),
        ],
    );
    let run = send(&fx, &[], &[]);
    run.expect(1);
    assert!(
        run.stderr.contains("relay rejecting taken out"),
        "{}",
        run.stderr
    );
    let rows = one_row_each(&fx, &spec);
    let failed: Vec<&String> = (rows.iter())
        .filter(|(_, r)| r.status == "failed")
        .map(|(e, _)| e)
        .collect();
    assert_eq!(failed.len(), 5, "the 5 rejected: {rows:#?}");
    for r in rows.values().filter(|r| r.status == "failed") {
        assert_eq!(r.code, "554", "{r:?}");
    }
    let sent = rows.values().filter(|r| r.status == "sent").count();
    assert_eq!(sent, 25, "the others sent: {rows:#?}");
    exactly(&up, 25, "the rest at the working relay");
    let at_up = capture_rcpts(&up);
    for address in &failed {
        assert!(!at_up.contains_key(*address), "{address} was resent");
    }
    assert!(rejecting.data_ends().is_empty());
    let rcpts = rejecting.count_commands("RCPT");
    assert_eq!(rcpts, 5, "5 tries at the rejecting relay, then no more");
}

/// A relay deferring every message (`451 4.3.0`, not a "slow down") beside a healthy one: the
/// retries go to the healthy relay and nobody fails. They went to whichever session was free
/// first, often the deferring relay's own (its 451 is quick), so some recipients used up all
/// their attempts there and were logged `failed` while the other relay idled (2 to 6 of 40 measured).
#[test]
fn retries_of_a_deferring_relay_go_to_the_healthy_one() {
    let a = plain();
    let b = ScriptedServer::start(|ev| match ev.stage {
        Stage::Mail => Reply::text("451 4.3.0 Temporary local problem"),
        _ => Reply::Default,
    });
    let spec = base(40);
    let fx = campaign(
        &spec,
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    let run = spawn(&fx, &[], &[]).wait_within(Duration::from_secs(20));
    let failed = fx.rows_with("failed");
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        run.stdout
    );
    run.expect(0);
    assert_each_once(&capture_rcpts(&a), &spec.emails());
}

/// A relay answering "450 4.7.1 too much mail" to everything, beside a healthy one: its
/// deferred messages go to the other relay ("whichever relay has a session free first") and its
/// pauses do not hold the other up. It stalled the send instead: the throttled relay's workers
/// take their own deferred messages back and hold them (and the relay's turns) through pauses
/// that double (1, 2, 4 … s, up to 15 min, until an hour without acceptance takes it out), while
/// the healthy relay idles: 3 of 20 sent after 120 s.
#[test]
fn relay_asking_to_slow_down_does_not_stall_the_other() {
    let a = plain();
    let b = ScriptedServer::start(|ev| match ev.stage {
        Stage::Mail => Reply::text("450 4.7.1 Error: too much mail from 127.0.0.1"),
        _ => Reply::Default,
    });
    let spec = Spec {
        throttle_pause: Some(1),
        ..base(20)
    };
    let fx = campaign(
        &spec,
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    let run = spawn(&fx, &[], &[]).wait_within(Duration::from_secs(20));
    run.expect(0);
    assert_each_once(&capture_rcpts(&a), &spec.emails());
    assert!(
        fx.rows().iter().all(|r| r.status == "sent"),
        "{}",
        fx.results_text()
    );
}

/// Every relay failing (a refused password, a port nobody listens on): exit 3 naming each
/// relay's reason, nobody sent and no row; fixed, the next run sends everyone once.
#[test]
fn every_relay_failing_stops_with_each_reason_and_the_next_run_sends_all() {
    let alpha = auth_server(USER, PASSWORD);
    let spec = Spec {
        retries: 1,
        ..base(10)
    };
    let alpha_spec = Spec {
        username: Some(USER),
        ..Spec::new(alpha.port)
    };
    let fx = campaign(
        &spec,
        &[
            relay("alpha", alpha_spec.clone()),
            relay("beta", Spec::new(free_port())),
        ],
    );
    let wrong = [("CAMPAIGN_SMTP_PASSWORD_ALPHA", "not-the-password")];
    let run = send(&fx, &[], &wrong);
    run.expect(3);
    let error = (run.stderr.lines())
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("an error line: {}", run.stderr));
    assert!(error.contains("alpha: "), "names alpha: {error}");
    assert!(
        error.to_lowercase().contains("authentication"),
        "alpha's reason: {error}"
    );
    assert!(error.contains("beta: "), "names beta: {error}");
    assert!(error.contains("gave up"), "beta's reason: {error}");
    assert!(fx.rows().is_empty(), "no row: {}", fx.results_text());
    exactly(&alpha, 0, "nothing sent");
    never_shown(&fx, &run, "not-the-password");

    let beta = plain();
    let fixed = campaign(
        &spec,
        &[
            relay("alpha", alpha_spec),
            relay("beta", Spec::new(beta.port)),
        ],
    );
    fx.write("campaign.toml", &read(&fixed, "campaign.toml"));
    send(&fx, &[], &[("CAMPAIGN_SMTP_PASSWORD_ALPHA", PASSWORD)]).expect(0);
    exactly(&alpha, 5, "alpha");
    exactly(&beta, 5, "beta");
    assert_each_once(
        &union(&[capture_rcpts(&alpha), capture_rcpts(&beta)]),
        &spec.emails(),
    );
    let rows = one_row_each(&fx, &spec);
    assert!(rows.values().all(|r| r.status == "sent"));
}

/// A relay refusing its first two sessions (`421` at the greeting), then fine: it is tried again
/// on probation, takes recipients again, and is not taken out; everyone once, exit 0.
#[test]
fn relay_refusing_its_first_sessions_comes_back_on_probation() {
    let a = plain();
    let b = ScriptedServer::start(|ev| match ev.stage {
        Stage::Connect if ev.conn <= 2 => Reply::text("421 4.3.2 not now"),
        _ => Reply::Default,
    });
    let spec = Spec {
        rate: Some("10/s"),
        ..base(40)
    };
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)),
            relay("b", Spec::new(b.port)).with("concurrency = 1"),
        ],
    );
    let run = send(&fx, &[], &[]);
    run.expect(0);
    assert!(!run.stderr.contains("taken out"), "{}", run.stderr);
    assert!(!b.messages().is_empty(), "b took recipients again");
    assert_each_once(&union(&[capture_rcpts(&a), accepted(&b)]), &spec.emails());
}
