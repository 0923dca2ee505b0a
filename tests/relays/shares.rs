//! How recipients are spread over the relays and paced: the shares by weight (also with a slower
//! relay and skipped rows), each relay's sessions, its own rate and `[send]`'s over all, `--limit`,
//! and one relay (`[smtp]` or a single `[[smtp]]`) as before.

use super::*;

/// Weights 3 and 1 over 400 recipients: 300 and 100 exactly, each recipient once in all.
#[test]
fn weights_3_and_1_give_300_and_100_of_400() {
    let (a, b) = (plain(), plain());
    let spec = base(400);
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)).with("weight = 3"),
            relay("b", Spec::new(b.port)).with("weight = 1"),
        ],
    );
    let run = send(&fx, &[], &[]);
    run.expect(0);
    for line in [
        "relay a: sent 300, failed 0, unknown 0",
        "relay b: sent 100, failed 0, unknown 0",
    ] {
        assert!(
            run.stdout.lines().any(|l| l == line),
            "{line:?} in:\n{}",
            run.stdout
        );
    }
    exactly(&a, 300, "relay a (weight 3)");
    exactly(&b, 100, "relay b (weight 1)");
    assert_each_once(
        &union(&[capture_rcpts(&a), capture_rcpts(&b)]),
        &spec.emails(),
    );
    let rows = one_row_each(&fx, &spec);
    assert!(rows.values().all(|r| r.status == "sent"));
}

/// Three relays of weight 1 over 300 recipients: 100 each.
#[test]
fn three_equal_weights_give_a_third_each() {
    let servers = [plain(), plain(), plain()];
    let spec = base(300);
    let names = ["a", "b", "c"];
    let relays: Vec<Relay> = (names.iter().zip(&servers))
        .map(|(name, s)| relay(name, Spec::new(s.port)))
        .collect();
    let fx = campaign(&spec, &relays);
    send(&fx, &[], &[]).expect(0);
    for (name, server) in names.iter().zip(&servers) {
        exactly(server, 100, &format!("relay {name}"));
    }
    let each: Vec<_> = servers.iter().map(capture_rcpts).collect();
    assert_each_once(&union(&each), &spec.emails());
}

/// The shares hold when one relay is slower (README: "a relay that cannot keep up with its share
/// slows the send"): b answers each dot after 300 ms, and still takes exactly its half.
#[test]
fn shares_hold_when_one_relay_is_slower() {
    let a = plain();
    let b = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::after(Duration::from_millis(300), Reply::Default),
        _ => Reply::Default,
    });
    let spec = base(20);
    let fx = campaign(
        &spec,
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    send(&fx, &[], &[]).expect(0);
    exactly(&a, 10, "a");
    assert_eq!(b.messages().len(), 10, "b, slower, still takes its share");
    assert_each_once(&union(&[capture_rcpts(&a), accepted(&b)]), &spec.emails());
}

/// Skipped rows (duplicates, an invalid address) between the recipients use no relay's turn:
/// weights 1:1 still give 10 and 10 of 20, and each skipped row is logged once.
#[test]
fn skipped_rows_use_no_turn() {
    let (a, b) = (plain(), plain());
    let spec = base(20);
    let fx = campaign(
        &spec,
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    let mut csv = String::from("email,first_name\n");
    for i in 0..20 {
        csv += &format!("{},{}\n", support::campaign::email(i), i);
        if i % 3 == 0 {
            csv += &format!("{},again\n", support::campaign::email(i));
        }
        if i == 10 {
            csv += "not-an-address,x\n";
        }
    }
    fx.write("recipients.csv", &csv);
    send(&fx, &[], &[]).expect(0);
    exactly(&a, 10, "a");
    exactly(&b, 10, "b");
    assert_each_once(
        &union(&[capture_rcpts(&a), capture_rcpts(&b)]),
        &spec.emails(),
    );
    assert_eq!(fx.rows_with("skipped").len(), 8, "{}", fx.results_text());
}

/// A relay's own `concurrency` is its number of sessions: 3 to a, 1 to b (`[send]` says 2).
#[test]
fn relay_concurrency_sets_its_sessions() {
    let slow = || {
        ScriptedServer::start(|ev| match ev.stage {
            Stage::DataEnd => Reply::after(Duration::from_millis(100), Reply::Default),
            _ => Reply::Default,
        })
    };
    let (a, b) = (slow(), slow());
    let spec = base(40);
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port))
                .with("concurrency = 3")
                .with("weight = 3"),
            relay("b", Spec::new(b.port)).with("concurrency = 1"),
        ],
    );
    send(&fx, &[], &[]).expect(0);
    assert_each_once(&union(&[accepted(&a), accepted(&b)]), &spec.emails());
    assert_eq!(a.connections(), 3, "a's sessions");
    assert_eq!(b.connections(), 1, "b's sessions");
}

/// `--concurrency 1`: one session to each relay, whatever the tables' own concurrency.
#[test]
fn concurrency_1_opens_one_session_per_relay() {
    let (a, b) = (ScriptedServer::accept_all(), ScriptedServer::accept_all());
    let spec = Spec {
        concurrency: 4,
        ..base(20)
    };
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)).with("concurrency = 3"),
            relay("b", Spec::new(b.port)),
        ],
    );
    send(&fx, &["--concurrency", "1"], &[]).expect(0);
    assert_each_once(&union(&[accepted(&a), accepted(&b)]), &spec.emails());
    assert_eq!(a.connections(), 1, "one session to a");
    assert_eq!(b.connections(), 1, "one session to b");
}

/// Relay b's own rate 5/s, 20 recipients at 1:1: b's 10 messages arrive ~1.8 s apart end to
/// end, the median gap near 200 ms. (a's are not fast: the shares are rigid, so a waits for b's
/// turns; measured: a's 10 over 1.2 s, b's over 1.8 s.)
#[test]
fn relay_rate_paces_that_relay() {
    let arrivals = |times: &Arc<Mutex<Vec<Instant>>>| {
        let times = Arc::clone(times);
        ScriptedServer::start(move |ev| {
            if ev.stage == Stage::DataEnd {
                times.lock().unwrap().push(Instant::now());
            }
            Reply::Default
        })
    };
    let (at_a, at_b) = (Arc::default(), Arc::default());
    let (a, b) = (arrivals(&at_a), arrivals(&at_b));
    let spec = base(20);
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)),
            relay("b", Spec::new(b.port)).with("rate = \"5/s\""),
        ],
    );
    send(&fx, &[], &[]).expect(0);
    assert_each_once(&union(&[accepted(&a), accepted(&b)]), &spec.emails());
    let span = |t: &Arc<Mutex<Vec<Instant>>>| {
        let t = t.lock().unwrap();
        (t.len(), *t.last().unwrap() - t[0])
    };
    let ((na, span_a), (nb, span_b)) = (span(&at_a), span(&at_b));
    eprintln!("a: {na} messages over {span_a:?}; b (5/s): {nb} over {span_b:?}");
    assert_eq!((na, nb), (10, 10));
    // Generous: the schedule puts b's 10 messages 1.8 s apart end to end; a late first one (a
    // loaded machine) shortens what the server sees.
    assert!(span_b >= Duration::from_millis(1600), "b paced: {span_b:?}");
    let mut gaps: Vec<Duration> = (at_b.lock().unwrap().windows(2))
        .map(|w| w[1] - w[0])
        .collect();
    gaps.sort();
    assert!(
        gaps[gaps.len() / 2] >= Duration::from_millis(150),
        "b's gaps {gaps:?}"
    );
}

/// `[send] rate` paces all relays together: 10/s over two relays, 20 messages take ≥ ~1.9 s.
#[test]
fn send_rate_paces_all_relays_together() {
    let (a, b) = (plain(), plain());
    let spec = Spec {
        rate: Some("10/s"),
        ..base(20)
    };
    let fx = campaign(
        &spec,
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    let run = send(&fx, &[], &[]);
    run.expect(0);
    assert_each_once(
        &union(&[capture_rcpts(&a), capture_rcpts(&b)]),
        &spec.emails(),
    );
    assert!(
        run.elapsed >= Duration::from_millis(1800),
        "{:?}",
        run.elapsed
    );
}

/// `--limit` counts over all relays: 6 of 20, then the next 6, nobody twice.
#[test]
fn limit_counts_over_all_relays() {
    let (a, b) = (plain(), plain());
    let spec = base(20);
    let fx = campaign(
        &spec,
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    send(&fx, &["--limit", "6"], &[]).expect(0);
    assert_eq!(a.messages().len() + b.messages().len(), 6);
    send(&fx, &["--limit", "6"], &[]).expect(0);
    let both = union(&[capture_rcpts(&a), capture_rcpts(&b)]);
    assert_each_once(&both, &spec.emails()[..12]);
    assert_eq!(fx.rows_with("sent").len(), 12);
}

/// One `[smtp]`: the summary has no per-relay lines.
#[test]
fn one_smtp_table_has_no_relay_lines_in_the_summary() {
    let server = plain();
    let spec = Spec {
        recipients: 3,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(0);
    exactly(&server, 3, "sent");
    let output = format!("{}{}", run.stdout, run.stderr);
    let relay_lines: Vec<&str> = output.lines().filter(|l| l.starts_with("relay")).collect();
    assert!(relay_lines.is_empty(), "{relay_lines:?}\n{output}");
    assert!(output.contains("sent 3"), "{output}");
}

/// One `[[smtp]]` table behaves as `[smtp]`: its password is `CAMPAIGN_SMTP_PASSWORD`, no relay
/// lines in the summary.
#[test]
fn one_smtp_array_table_is_one_relay() {
    let server = auth_server(USER, PASSWORD);
    let spec = base(3);
    let fx = campaign(
        &spec,
        &[relay(
            "only",
            Spec {
                username: Some(USER),
                ..Spec::new(server.port)
            },
        )
        .with("weight = 2")],
    );
    let run = send(&fx, &[], &[("CAMPAIGN_SMTP_PASSWORD", PASSWORD)]);
    run.expect(0);
    exactly(&server, 3, "sent");
    let output = format!("{}{}", run.stdout, run.stderr);
    assert!(!output.lines().any(|l| l.starts_with("relay")), "{output}");
    never_shown(&fx, &run, PASSWORD);
}
