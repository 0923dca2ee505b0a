//! Daily limits with several relays: a relay's own `daily_limit`, all relays at theirs (exit 4),
//! one taken out and the other at its limit, `[send] daily_limit` over all relays.

use super::*;

/// Relay b's daily_limit 10 of 100 recipients at weights 1:1: b takes 10, a the other 90, all
/// delivered, exit 0.
#[test]
fn relay_daily_limit_caps_that_relay_and_the_other_takes_the_rest() {
    let (a, b) = (plain(), plain());
    let spec = base(100);
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)),
            relay("b", Spec::new(b.port)).with("daily_limit = 10"),
        ],
    );
    send(&fx, &[], &[]).expect(0);
    exactly(&a, 90, "a took the rest");
    exactly(&b, 10, "b stopped at its daily_limit");
    assert_each_once(
        &union(&[capture_rcpts(&a), capture_rcpts(&b)]),
        &spec.emails(),
    );
    let rows = one_row_each(&fx, &spec);
    assert!(rows.values().all(|r| r.status == "sent"));
}

/// Both relays at daily_limit 10, 50 recipients: 20 sent, exit 4, the 30 others without a row.
fn both_relays_at_their_daily_limit() -> (CaptureServer, CaptureServer, Spec, Fixture) {
    let (a, b) = (plain(), plain());
    let spec = base(50);
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)).with("daily_limit = 10"),
            relay("b", Spec::new(b.port)).with("daily_limit = 10"),
        ],
    );
    let run = send(&fx, &[], &[]);
    run.expect(4);
    exactly(&a, 10, "a");
    exactly(&b, 10, "b");
    assert_eq!(fx.rows_with("sent").len(), 20);
    assert_eq!(fx.rows().len(), 20, "no row for the others");
    (a, b, spec, fx)
}

#[test]
fn both_relays_at_their_daily_limit_stop_the_run_with_exit_4() {
    let _ = both_relays_at_their_daily_limit();
}

/// The next run the same day sends nothing more: each relay's daily_limit counts the log's sent
/// rows of today through it.
#[test]
fn relay_daily_limits_hold_across_runs_of_the_same_day() {
    let (a, b, _, fx) = both_relays_at_their_daily_limit();
    send(&fx, &[], &[]).expect(4);
    exactly(&a, 10, "a: nothing more today");
    exactly(&b, 10, "b: nothing more today");
    assert_eq!(fx.rows().len(), 20);
}

/// Both relays at daily_limit 0 and 500 recipients: nothing sent, no row, exit 4, at once.
#[test]
fn every_relay_at_daily_limit_0_sends_nothing_and_exits_4() {
    let (a, b) = (plain(), plain());
    let fx = campaign(
        &base(500),
        &[
            relay("a", Spec::new(a.port)).with("daily_limit = 0"),
            relay("b", Spec::new(b.port)).with("daily_limit = 0"),
        ],
    );
    let run = spawn(&fx, &[], &[]).wait_within(Duration::from_secs(20));
    run.expect(4);
    exactly(&a, 0, "a");
    exactly(&b, 0, "b");
    assert!(fx.rows().is_empty(), "{}", fx.results_text());
}

/// Both relays at daily_limit 10 with 500 recipients (more than the renderer's channel holds):
/// 20 sent, exit 4, the run ends.
#[test]
fn every_relay_at_its_daily_limit_with_a_long_list_ends_with_exit_4() {
    let (a, b) = (plain(), plain());
    let fx = campaign(
        &base(500),
        &[
            relay("a", Spec::new(a.port)).with("daily_limit = 10"),
            relay("b", Spec::new(b.port)).with("daily_limit = 10"),
        ],
    );
    let run = spawn(&fx, &[], &[]).wait_within(Duration::from_secs(20));
    run.expect(4);
    exactly(&a, 10, "a");
    exactly(&b, 10, "b");
    assert_eq!(fx.rows().len(), 20);
}

/// One relay taken out (its password refused) and the other at its daily_limit: no relay is
/// left with recipients unsent and without a row, so the exit code must not say "all sent" (0):
/// 3 (a relay failed) or 4 (daily limit).
#[test]
fn one_relay_taken_out_and_the_other_at_its_daily_limit_is_not_exit_0() {
    let refusing = auth_server(USER, PASSWORD);
    let limited = plain();
    let spec = base(20);
    let fx = campaign(
        &spec,
        &[
            relay(
                "refusing",
                Spec {
                    username: Some(USER),
                    ..Spec::new(refusing.port)
                },
            ),
            relay("limited", Spec::new(limited.port)).with("daily_limit = 5"),
        ],
    );
    let run = send(
        &fx,
        &["--json"],
        &[("CAMPAIGN_SMTP_PASSWORD_REFUSING", "wrong")],
    );
    exactly(&limited, 5, "the limited relay sent its 5");
    assert_eq!(fx.rows().len(), 5, "rows for the 5 only");
    assert!(
        [3, 4].contains(&run.code),
        "15 recipients left unsent, yet exit {}\n{}\n{}",
        run.code,
        run.stdout,
        run.stderr
    );
}

/// `[send] daily_limit` counts all relays together: 15 of 40 over two relays, exit 4.
#[test]
fn send_daily_limit_counts_all_relays_together() {
    let (a, b) = (plain(), plain());
    let spec = Spec {
        daily_limit: Some(15),
        ..base(40)
    };
    let fx = campaign(
        &spec,
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    send(&fx, &[], &[]).expect(4);
    let (na, nb) = (a.messages().len(), b.messages().len());
    assert_eq!(na + nb, 15, "a {na}, b {nb}");
    assert_eq!(fx.rows_with("sent").len(), 15);
    assert_eq!(fx.rows().len(), 15);
    send(&fx, &[], &[]).expect(4);
    assert_eq!(
        a.messages().len() + b.messages().len(),
        15,
        "nothing more today"
    );
}
