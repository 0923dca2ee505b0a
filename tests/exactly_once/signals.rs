//! Signals (TERM, HUP, INT, KILL, and a second TERM) stop a run without a second copy of any
//! message: the messages in flight are finished, or abandoned as `unknown`, never sent again.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::campaign::{
    Fixture, Row, Spec, assert_each_once, copies, row_for, signal_number,
};
use crate::support::{Reply, ScriptedServer, Stage, wait_until};

use super::*;

// ---------------------------------------------------------- 4. signals ---

/// A server that answers the final dot after `delay`, counting the messages waiting for it.
fn slow_final_reply(delay: Duration) -> (ScriptedServer, Arc<AtomicUsize>) {
    let waiting = Arc::new(AtomicUsize::new(0));
    let w = Arc::clone(&waiting);
    let server = ScriptedServer::start(move |ev| {
        if ev.stage == Stage::DataEnd {
            w.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(delay);
            w.fetch_sub(1, Ordering::SeqCst);
        }
        Reply::Default
    });
    (server, waiting)
}

/// `sig` while a run sends (4 sessions, 10/s, the server answering the final dot after 300 ms) and
/// while a message waits for that reply: the run stops taking recipients, lets the messages in
/// flight finish, logs them, and exits 128 + the signal. The server received exactly the
/// recipients with a `sent` row; a resume run sends the rest, nobody twice.
fn signal_stops_after_the_messages_in_flight(sig: &str) {
    let (server, waiting) = slow_final_reply(Duration::from_millis(300));
    let spec = Spec {
        recipients: 40,
        concurrency: 4,
        rate: Some("10/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let mut running = fx.spawn(&[], None);
    assert!(
        wait_until(Duration::from_secs(20), || {
            fx.sent_rows_now() >= 5 && waiting.load(Ordering::SeqCst) >= 1
        }),
        "5 sent rows and a message waiting for its reply: {}",
        fx.results_text()
    );
    assert!(running.is_running());
    running.signal(sig);
    let run = running.wait();
    run.expect(128 + signal_number(sig));
    eprintln!(
        "SIG{sig}: exit {} (by signal: {:?}) after {:?}",
        run.code, run.signal, run.elapsed
    );

    let rows = fx.strict_rows();
    let received: HashSet<String> = copies(&server).into_keys().collect();
    let sent = emails_with(&rows, "sent");
    assert_eq!(
        received,
        sent,
        "what the server received = the sent rows; rows:\n{}",
        fx.results_text()
    );
    assert!(sent.len() < 40, "the signal stopped the run early");
    assert!(
        rows.iter().all(|r| r.status == "sent"),
        "no failed or unknown row: {rows:#?}"
    );

    fx.send(&[], None).expect(0);
    assert_each_once(&copies(&server), &spec.emails());
    assert_eq!(fx.strict_rows().len(), 40);
    assert_eq!(fx.rows_with("sent").len(), 40);
}

/// 4a. SIGTERM (what systemd, Docker and `kill` send) stops the run like Ctrl-C: exit 143.
#[test]
fn sigterm_kills_the_run_with_messages_in_flight_unlogged() {
    signal_stops_after_the_messages_in_flight("TERM");
}

/// 4b. SIGHUP (the terminal or SSH session closed): exit 129.
#[test]
fn sighup_kills_the_run_with_messages_in_flight_unlogged() {
    signal_stops_after_the_messages_in_flight("HUP");
}

/// 4c. SIGINT (Ctrl-C), for parity: exit 130.
#[test]
fn sigint_stops_the_run_after_the_messages_in_flight() {
    signal_stops_after_the_messages_in_flight("INT");
}

/// 4d. Round after round of a random signal (TERM, INT, HUP or KILL) at a random moment on one
///     campaign of 200 (8 sessions, 40/s, the server answering the final dot after 20–150 ms),
///     then a run to the end. Nobody receives two copies; every recipient ends with exactly one
///     row, `sent` (received once) or `unknown` (received at most once: only a message in flight
///     at a SIGKILL, logged by the next run). A TERM, INT or HUP round adds no `unknown` row of its
///     own. Set EXACTLY_ONCE_SEED to replay a sequence.
#[test]
fn repeated_signals_at_random_moments_never_deliver_twice() {
    let seed = std::env::var("EXACTLY_ONCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("repeated signals: seed {seed} (EXACTLY_ONCE_SEED={seed} repeats it)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => {
            let ms = 20 + (ev.msg as u64 * 37) % 131;
            Reply::after(Duration::from_millis(ms), Reply::Default)
        }
        _ => Reply::Default,
    });
    let concurrency = 8;
    let spec = Spec {
        recipients: 200,
        concurrency,
        rate: Some("40/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);

    let unknown_now = || {
        if fx.results_path().exists() {
            emails_with(&fx.rows(), "unknown")
        } else {
            HashSet::new()
        }
    };
    // `unknown` rows a run may add: the messages left in flight by SIGKILLed runs since the last
    // run that got to log them (at most `concurrency` each).
    let mut allowance = 0;
    let mut kills = 0;
    let mut figures = Vec::new();
    let check_added = |round: &str,
                       unknown_before: &HashSet<String>,
                       ends_before: usize,
                       allowance: usize|
     -> usize {
        let added: Vec<String> = unknown_now().difference(unknown_before).cloned().collect();
        let received_now: HashSet<String> = server.data_ends()[ends_before..]
            .iter()
            .flat_map(|t| t.rcpt_tos.clone())
            .collect();
        for e in &added {
            assert!(
                !received_now.contains(e),
                "{round}: {e} was received during this run yet logged unknown (seed {seed})"
            );
        }
        assert!(
            added.len() <= allowance,
            "{round}: {} unknown rows added, at most {allowance} left in flight by SIGKILLs \
             (seed {seed}): {added:?}",
            added.len()
        );
        added.len()
    };
    for round in 1..=7 {
        let sig = ["TERM", "INT", "HUP", "KILL"][rng.usize(..4)];
        let rows_to_wait = rng.usize(3..=10);
        let jitter = Duration::from_millis(rng.u64(..100));
        let unknown_before = unknown_now();
        let ends_before = server.data_ends().len();
        let sent_before = fx.sent_rows_now();
        let mut running = fx.spawn(&[], None);
        assert!(
            wait_until(Duration::from_secs(30), || {
                fx.sent_rows_now() >= sent_before + rows_to_wait
            }),
            "round {round}: {rows_to_wait} more sent rows (seed {seed})"
        );
        std::thread::sleep(jitter);
        assert!(
            running.is_running(),
            "round {round}: still sending when signalled (seed {seed})"
        );
        running.signal(sig);
        let run = running.wait();
        run.expect(128 + signal_number(sig));
        // What a killed process had already written reaches the server by now, so that it counts
        // as received during this round, not the next.
        std::thread::sleep(Duration::from_millis(100));
        let label = format!("round {round} (SIG{sig})");
        let added = check_added(&label, &unknown_before, ends_before, allowance);
        if sig == "KILL" {
            kills += 1;
            allowance = allowance - added + concurrency;
        } else {
            allowance = 0;
        }
        figures.push(format!(
            "{label}: after {rows_to_wait} rows + {jitter:?}, exit {}, {} sent rows, {added} unknown added",
            run.code,
            fx.sent_rows_now()
        ));
    }

    let unknown_before = unknown_now();
    let ends_before = server.data_ends().len();
    let last = fx.send(&[], None);
    let added = check_added("final run", &unknown_before, ends_before, allowance);
    figures.push(format!(
        "final run: exit {}, {added} unknown added",
        last.code
    ));

    let copies = copies(&server);
    let rows = fx.strict_rows();
    let duplicates: BTreeMap<&String, &usize> = copies.iter().filter(|&(_, &n)| n > 1).collect();
    let unknown = emails_with(&rows, "unknown");
    let unknown_received = unknown.iter().filter(|e| copies.contains_key(*e)).count();
    for line in &figures {
        eprintln!("  {line}");
    }
    eprintln!(
        "repeated signals: seed {seed}, 7 rounds ({kills} SIGKILL), {} duplicates, {} unknown \
         ({unknown_received} of them received), {} sent",
        duplicates.len(),
        unknown.len(),
        emails_with(&rows, "sent").len()
    );
    assert!(
        duplicates.is_empty(),
        "received twice (seed {seed}): {duplicates:?}"
    );
    assert!(
        rows.iter()
            .all(|r| r.status == "sent" || r.status == "unknown"),
        "only sent and unknown rows: {rows:#?}"
    );
    assert!(kills > 0 || unknown.is_empty(), "unknown without a SIGKILL");
    for e in spec.emails() {
        let own: Vec<&Row> = rows.iter().filter(|r| r.email == e).collect();
        assert_eq!(own.len(), 1, "{e}: one final row (seed {seed}): {own:?}");
        let n = copies.get(&e).copied().unwrap_or(0);
        if own[0].status == "sent" {
            assert_eq!(n, 1, "{e} is sent: received once (seed {seed})");
        } else {
            assert_unknown(own[0]);
            assert!(n <= 1, "{e} is unknown: received at most once");
        }
    }
    // The final run ends the campaign: 0 unless it logged `unknown` rows (those a SIGKILLed run
    // left in flight), then 1.
    last.expect(if added == 0 { 0 } else { 1 });
}

/// 4e. A second SIGTERM while the first one waits for the messages in flight (their final reply
///     is 5 s away) abandons them: the process exits at once with 143, says so, and logs them
///     `unknown` (not missing, not failed).
#[test]
fn second_sigterm_abandons_the_messages_in_flight_as_unknown() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd => Reply::after(Duration::from_secs(5), Reply::Default),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 3,
        concurrency: 3,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let mut running = fx.spawn(&[], None);
    server.wait_for_data_ends(3, Duration::from_secs(20));
    running.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        running.is_running(),
        "the first SIGTERM waits for the messages in flight"
    );
    let second = Instant::now();
    running.signal("TERM");
    let run = running.wait_within(Duration::from_secs(30));
    assert!(
        second.elapsed() < Duration::from_secs(2),
        "exited {:?} after the second SIGTERM",
        second.elapsed()
    );
    run.expect(143);
    assert!(
        run.stderr.to_lowercase().contains("abandon"),
        "says the messages were abandoned: {run:?}"
    );
    let rows = fx.strict_rows();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    for e in spec.emails() {
        assert_unknown(row_for(&rows, &e));
    }
    assert_each_once(&copies(&server), &spec.emails());
}
