//! Several relays, `[[smtp]]` (issue 13 item 5), attacked end to end: the README's promise
//! ("### Several relays") against real servers on 127.0.0.1, each server one relay. The shares
//! by weight, each relay's own password, a relay refusing AUTH, down, dying mid-run or rejecting
//! everything taken out with its work going to the others, every relay failing, kill -9 and
//! SIGTERM with two relays, per-relay daily limits and rates, `--json`'s `relays`, and the
//! `[[smtp]]` mistakes campaign.toml can hold. Assertions are on what the servers received and on
//! the result log's email and status (not on its relay column, which lands separately).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::campaign::{
    Fixture, PASSWORD, Row, Run, Spec, USER, WAIT, assert_each_once, capture_rcpts, copies,
    scripted_rcpts,
};
use support::{CaptureOptions, CaptureServer, Reply, ScriptedServer, Stage, free_port};

// ------------------------------------------------------------------ helpers ---

/// One `[[smtp]]` table: the relay's name, the `[smtp]` keys [`Spec::toml`] writes for `spec`
/// (host, port, security, username, ca_file, timeouts), and `extra` lines (weight, rate, …).
struct Relay {
    name: &'static str,
    spec: Spec,
    extra: String,
}

fn relay(name: &'static str, spec: Spec) -> Relay {
    Relay {
        name,
        spec,
        extra: String::new(),
    }
}

impl Relay {
    /// Adds a line to the table (`"weight = 3"`).
    fn with(mut self, line: &str) -> Relay {
        self.extra += line;
        self.extra += "\n";
        self
    }

    /// The table: `spec`'s `[smtp]` section as a `[[smtp]]` table named `name`, its CA (if any)
    /// as `ca-<name>.pem`.
    fn table(&self) -> String {
        let toml = self.spec.toml();
        let start = toml.find("\n[smtp]\n").expect("Spec writes [smtp]") + "\n[smtp]\n".len();
        let end = start + toml[start..].find("\n[send]").expect("then [send]");
        let body = toml[start..end].replace(
            "ca_file = \"ca.pem\"",
            &format!("ca_file = \"ca-{}.pem\"", self.name),
        );
        format!("\n[[smtp]]\nname = \"{}\"\n{body}{}", self.name, self.extra)
    }
}

/// The campaign of `base` (its `[send]` and recipients; its own `[smtp]` left out) sending
/// through `relays`.
fn campaign(base: &Spec, relays: &[Relay]) -> Fixture {
    let fx = Fixture::from_spec(base);
    let mut toml = Spec {
        smtp: false,
        ca_pem: None,
        ..base.clone()
    }
    .toml();
    for r in relays {
        toml += &r.table();
        if let Some(ca) = &r.spec.ca_pem {
            std::fs::copy(ca, fx.dir().join(format!("ca-{}.pem", r.name))).unwrap();
        }
    }
    fx.write("campaign.toml", &toml);
    fx
}

/// The `[send]` and recipients of a test: `recipients` rows, 2 sessions a relay, 2 retries.
fn base(recipients: usize) -> Spec {
    Spec {
        recipients,
        ..Spec::new(0)
    }
}

/// Starts `campaign run <dir> --no-progress <args…>` with `env` (the relays' passwords).
fn spawn(fx: &Fixture, args: &[&str], env: &[(&str, &str)]) -> support::campaign::Running {
    let mut all = vec!["--no-progress"];
    all.extend_from_slice(args);
    fx.spawn_command("run", &all, env)
}

/// Runs `campaign run <dir> --no-progress <args…>` with `env` to its end.
fn send(fx: &Fixture, args: &[&str], env: &[(&str, &str)]) -> Run {
    spawn(fx, args, env).wait()
}

/// Adds up what several servers received, address → times.
fn union(each: &[BTreeMap<String, usize>]) -> BTreeMap<String, usize> {
    let mut all = BTreeMap::new();
    for server in each {
        for (address, n) in server {
            *all.entry(address.clone()).or_insert(0) += n;
        }
    }
    all
}

/// What a scripted server accepted (2xx to the final dot), address → times.
fn accepted(server: &ScriptedServer) -> BTreeMap<String, usize> {
    scripted_rcpts(&server.messages())
}

/// Asserts every recipient of `spec` has exactly one row, and returns them by address.
#[track_caller]
fn one_row_each(fx: &Fixture, spec: &Spec) -> BTreeMap<String, Row> {
    let rows = fx.strict_rows();
    let mut by_address = BTreeMap::new();
    for row in rows {
        let email = row.email.clone();
        assert!(
            by_address.insert(email.clone(), row).is_none(),
            "two rows for {email}:\n{}",
            fx.results_text()
        );
    }
    let addresses: Vec<&String> = by_address.keys().collect();
    let wanted: Vec<String> = spec.emails();
    assert_eq!(
        addresses,
        wanted.iter().collect::<Vec<_>>(),
        "one row a recipient"
    );
    by_address
}

/// Asserts `secret` appears nowhere the user or the log could show it.
#[track_caller]
fn never_shown(fx: &Fixture, run: &Run, secret: &str) {
    assert!(!run.stdout.contains(secret), "{secret:?} on stdout");
    assert!(!run.stderr.contains(secret), "{secret:?} on stderr");
    assert!(!fx.results_text().contains(secret), "{secret:?} in the log");
}

/// A plain capture server that asks for AUTH as `user`/`password`.
fn auth_server(user: &str, password: &str) -> CaptureServer {
    CaptureServer::start(
        CaptureOptions::plain()
            .with_auth(user, password)
            .require_auth(),
    )
}

fn plain() -> CaptureServer {
    CaptureServer::start(CaptureOptions::plain())
}

/// Waits until `server` holds `n` messages, then asserts it holds exactly `n`.
#[track_caller]
fn exactly(server: &CaptureServer, n: usize, what: &str) {
    if n > 0 {
        server.wait_for(n, WAIT);
    }
    assert_eq!(server.messages().len(), n, "{what}");
}

// ------------------------------------------------------------------ 1. weights ---

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

// ------------------------------------------------------------------ 2. passwords ---

/// A relay whose password is refused is taken out; the other delivers everyone once, exit 0,
/// and neither password (nor the wrong one) is printed or logged.
#[test]
fn relay_refusing_auth_is_taken_out_and_the_other_delivers_all() {
    const BOB_PASSWORD: &str = "Bob-pw-88!qL";
    const WRONG: &str = "Wrong-pw-31!zz";
    let good = auth_server(USER, PASSWORD);
    let bad = auth_server("bob", BOB_PASSWORD);
    let spec = base(20);
    let fx = campaign(
        &spec,
        &[
            relay(
                "good",
                Spec {
                    username: Some(USER),
                    ..Spec::new(good.port)
                },
            ),
            relay(
                "bad",
                Spec {
                    username: Some("bob"),
                    ..Spec::new(bad.port)
                },
            ),
        ],
    );
    let env = [
        ("CAMPAIGN_SMTP_PASSWORD_GOOD", PASSWORD),
        ("CAMPAIGN_SMTP_PASSWORD_BAD", WRONG),
    ];
    let run = send(&fx, &[], &env);
    run.expect(0);
    assert!(
        run.stderr.contains("relay bad taken out"),
        "says so: {}",
        run.stderr
    );
    exactly(&good, 20, "the good relay took everyone");
    exactly(&bad, 0, "the relay refusing AUTH took nobody");
    assert_each_once(&capture_rcpts(&good), &spec.emails());
    let rows = one_row_each(&fx, &spec);
    assert!(rows.values().all(|r| r.status == "sent"), "{rows:#?}");
    for secret in [PASSWORD, BOB_PASSWORD, WRONG] {
        never_shown(&fx, &run, secret);
    }
}

/// The refused password's advice names the relay's own variable, `CAMPAIGN_SMTP_PASSWORD_BAD`,
/// not the one-relay `CAMPAIGN_SMTP_PASSWORD` (which this relay never reads).
#[test]
#[ignore = "defect: a refused AUTH tells to check CAMPAIGN_SMTP_PASSWORD, not the relay's CAMPAIGN_SMTP_PASSWORD_<NAME>"]
fn refused_auth_names_the_relays_own_password_variable() {
    let good = plain();
    let bad = auth_server(USER, PASSWORD);
    let fx = campaign(
        &base(4),
        &[
            relay("good", Spec::new(good.port)),
            relay(
                "bad",
                Spec {
                    username: Some(USER),
                    ..Spec::new(bad.port)
                },
            ),
        ],
    );
    let run = send(&fx, &[], &[("CAMPAIGN_SMTP_PASSWORD_BAD", "wrong")]);
    run.expect(0);
    let said = (run.stderr.lines())
        .find(|l| l.contains("relay bad taken out"))
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(said.contains("CAMPAIGN_SMTP_PASSWORD_BAD"), "{said}");
}

/// Two relays asking for different users and passwords, over STARTTLS with their own CAs: each
/// gets its own password (a mix-up would fail AUTH at one of them) and half the list.
#[test]
fn each_relay_gets_its_own_password_and_ca() {
    const BOB_PASSWORD: &str = "Bob-pw-88!qL";
    let tls_auth = |user: &str, password: &str| {
        CaptureServer::start(
            CaptureOptions::starttls()
                .with_auth(user, password)
                .require_auth(),
        )
    };
    let (a, b) = (tls_auth(USER, PASSWORD), tls_auth("bob", BOB_PASSWORD));
    let spec = base(20);
    let fx = campaign(
        &spec,
        &[
            relay("alpha", Spec::starttls_auth(&a)),
            relay(
                "beta.2",
                Spec {
                    username: Some("bob"),
                    ..Spec::starttls_auth(&b)
                },
            ),
        ],
    );
    let env = [
        ("CAMPAIGN_SMTP_PASSWORD_ALPHA", PASSWORD),
        ("CAMPAIGN_SMTP_PASSWORD_BETA_2", BOB_PASSWORD),
    ];
    let run = send(&fx, &[], &env);
    run.expect(0);
    exactly(&a, 10, "alpha");
    exactly(&b, 10, "beta.2");
    for (server, user) in [(&a, USER), (&b, "bob")] {
        for m in server.messages() {
            assert!(m.tls, "over TLS");
            assert_eq!(m.auth_user.as_deref(), Some(user));
            assert!(!m.text().contains(PASSWORD) && !m.text().contains(BOB_PASSWORD));
        }
    }
    assert_each_once(
        &union(&[capture_rcpts(&a), capture_rcpts(&b)]),
        &spec.emails(),
    );
    never_shown(&fx, &run, PASSWORD);
    never_shown(&fx, &run, BOB_PASSWORD);
}

// ------------------------------------------------------------------ 3. a relay down ---

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

// ------------------------------------------------------------------ 4. dies mid-run ---

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
#[ignore = "defect (intermittent): a retry held by a failing relay's worker is lost once the other relays' workers have ended"]
fn relay_answering_421_after_5_messages_hands_the_rest_to_the_other() {
    relay_dying_mid_run(Dies::Refusing);
}

/// Fails now and then (about 1 run in 3 beside the other tests): the retried message is lost, as
/// `a_retry_held_by_a_failing_relay_is_not_lost_when_the_others_have_finished` shows for certain.
#[test]
#[ignore = "defect (intermittent): a retry held by a failing relay's worker is lost once the other relays' workers have ended"]
fn relay_closing_every_connection_after_5_messages_hands_the_rest_to_the_other() {
    relay_dying_mid_run(Dies::Closing);
}

/// The race behind the test above, made certain: relay b's session drops a message (a retry is
/// due in 0.5–1 s) and b's next sessions never greet (timeout 2 s). b's worker takes the retry
/// and holds it while it tries to connect; a's worker finishes its own slow message, finds the
/// retry queue empty and ends. b is then taken out with the message in hand: it must still be
/// sent by a (or at least get a row); it was lost, with exit 0.
#[test]
#[ignore = "defect: a retry held by a failing relay's worker is lost once the other relays' workers have ended (no row, not sent, exit 0)"]
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

// ------------------------------------------------------------------ 5. rejects everything ---

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

// ------------------------------------------------------------------ 6. every relay fails ---

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

fn read(fx: &Fixture, rel: &str) -> String {
    std::fs::read_to_string(fx.dir().join(rel)).unwrap()
}

// ------------------------------------------------------------------ 7, 8. stopping ---

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

// ------------------------------------------------------------------ 9. daily limits ---

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
#[ignore = "needs the relay column"]
fn relay_daily_limits_hold_across_runs_of_the_same_day() {
    let (a, b, _, fx) = both_relays_at_their_daily_limit();
    send(&fx, &[], &[]).expect(4);
    exactly(&a, 10, "a: nothing more today");
    exactly(&b, 10, "b: nothing more today");
    assert_eq!(fx.rows().len(), 20);
}

// ------------------------------------------------------------------ 10. config errors ---

/// A `[[smtp]]` table for 127.0.0.1:`port` with `lines` after its header.
fn table(port: u16, lines: &str) -> String {
    format!("\n[[smtp]]\n{lines}host = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n")
}

/// Each mistake in `[[smtp]]` tables: exit 2 from `run`, the message at campaign.toml:LINE
/// (the line found in the file as written), nothing sent, nothing written.
#[test]
fn relay_table_mistakes_are_reported_at_their_line_and_nothing_is_sent() {
    let server = plain();
    let p = server.port;
    let head = Spec {
        smtp: false,
        ..Spec::new(p)
    }
    .toml();
    // (the tables after [send], the line the message is at (its last occurrence), what it says)
    let cases: Vec<(String, &str, &str)> = vec![
        (
            table(p, "") + &table(p, ""),
            "[[smtp]]",
            "[[smtp]] name is missing",
        ),
        (
            table(p, "name = \"x\"\n") + &table(p, "name = \"x\"\n"),
            "name = \"x\"",
            "already the name of another relay",
        ),
        (
            table(p, "name = \"a.b\"\n") + &table(p, "name = \"a-b\"\n"),
            "name = \"a-b\"",
            "already the name of another relay",
        ),
        (
            table(p, "name = \"a b\"\n") + &table(p, "name = \"c\"\n"),
            "name = \"a b\"",
            "is not usable",
        ),
        (
            table(p, "name = \"a\"\nweight = 0\n") + &table(p, "name = \"b\"\n"),
            "weight = 0",
            "weight",
        ),
        (
            table(p, "name = \"a\"\nwieght = 2\n") + &table(p, "name = \"b\"\n"),
            "wieght = 2",
            "did you mean `weight`?",
        ),
        (
            format!("\n[smtp]\nhost = \"127.0.0.1\"\nport = {p}\nweight = 2\n"),
            "weight = 2",
            "belongs in [[smtp]] tables",
        ),
    ];
    for (tables, at_line, says) in &cases {
        let fx = Fixture::from_spec(&Spec::new(p));
        let toml = head.clone() + tables;
        fx.write("campaign.toml", &toml);
        let before = fx.snapshot();
        let run = send(&fx, &[], &[]);
        let file = fx.dir().join("campaign.toml").display().to_string();
        let lines: Vec<&str> = toml.lines().collect();
        let line = 1 + lines.iter().rposition(|l| l == at_line).unwrap();
        let at = format!("{file}:{line}:");
        assert_eq!(run.code, 2, "{toml}\n{}", run.stderr);
        let said: Vec<&str> = (run.stderr.lines()).filter(|l| l.contains(says)).collect();
        assert!(
            said.iter().any(|l| l.contains(&at)),
            "{says:?} at {at}:\n{toml}\n{}",
            run.stderr
        );
        assert_eq!(fx.snapshot(), before, "nothing written");
    }
    exactly(&server, 0, "nothing sent");
}

/// A relay with a username and no `CAMPAIGN_SMTP_PASSWORD_<NAME>`: exit 2 naming that variable,
/// even when the one-relay `CAMPAIGN_SMTP_PASSWORD` is set (a relay never gets another's).
#[test]
fn relay_without_its_password_variable_names_it_and_sends_nothing() {
    let server = plain();
    let spec = base(4);
    let fx = campaign(
        &spec,
        &[
            relay("plain", Spec::new(server.port)),
            relay(
                "warm-ip",
                Spec {
                    username: Some(USER),
                    ..Spec::new(server.port)
                },
            ),
        ],
    );
    let before = fx.snapshot();
    for env in [vec![], vec![("CAMPAIGN_SMTP_PASSWORD", PASSWORD)]] {
        let run = send(&fx, &[], &env);
        run.expect(2);
        assert!(
            run.stderr.contains("CAMPAIGN_SMTP_PASSWORD_WARM_IP"),
            "names the variable: {}",
            run.stderr
        );
        never_shown(&fx, &run, PASSWORD);
        assert_eq!(fx.snapshot(), before, "nothing written");
    }
    exactly(&server, 0, "nothing sent");
}

/// The same, at the line of the relay's username (bad input names the file and the line).
#[test]
#[ignore = "defect: a relay's missing password variable is reported without campaign.toml's line"]
fn relay_without_its_password_variable_is_reported_at_its_line() {
    let server = plain();
    let spec = base(4);
    let fx = campaign(
        &spec,
        &[
            relay("plain", Spec::new(server.port)),
            relay(
                "warm-ip",
                Spec {
                    username: Some(USER),
                    ..Spec::new(server.port)
                },
            ),
        ],
    );
    let toml = read(&fx, "campaign.toml");
    let line = 1 + toml
        .lines()
        .position(|l| l.starts_with("username"))
        .unwrap();
    let run = send(&fx, &[], &[]);
    run.expect(2);
    let file = fx.dir().join("campaign.toml").display().to_string();
    assert!(
        run.stderr.contains(&format!("{file}:{line}:")),
        "at line {line}: {}",
        run.stderr
    );
}

// ------------------------------------------------------------------ 11. --json ---

/// `--json`'s `relays`: per relay the counts each server received, `taken_out` for the one
/// whose password was refused (and `null` for the other).
#[test]
fn json_relays_match_what_each_server_received() {
    let (a, b) = (plain(), plain());
    let refusing = auth_server(USER, PASSWORD);
    let spec = base(30);
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)).with("weight = 2"),
            relay("b", Spec::new(b.port)),
            relay(
                "refusing",
                Spec {
                    username: Some(USER),
                    ..Spec::new(refusing.port)
                },
            ),
        ],
    );
    let env = [("CAMPAIGN_SMTP_PASSWORD_REFUSING", "wrong")];
    let run = send(&fx, &["--json"], &env);
    run.expect(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    let relays = json["relays"].as_array().expect("a relays array");
    let names: Vec<&str> = relays.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "refusing"]);
    let received = [a.messages().len(), b.messages().len(), 0];
    assert_eq!(received[0] + received[1], 30, "{}", run.stdout);
    for (r, n) in relays.iter().zip(received) {
        assert_eq!(r["sent"], n as u64, "{r}");
        assert_eq!(r["failed"], 0, "{r}");
        assert_eq!(r["unknown"], 0, "{r}");
    }
    assert!(relays[0]["taken_out"].is_null() && relays[1]["taken_out"].is_null());
    let why = relays[2]["taken_out"].as_str().expect("taken_out says why");
    assert!(why.to_lowercase().contains("authentication"), "{why}");
    assert_eq!(json["counts"]["sent"], 30);
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

// ------------------------------------------------------------------ 12. rate per relay ---

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

// ------------------------------------------------------------------ 13. one relay ---

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

// ------------------------------------------------------------------ check, test ---

/// `campaign check --smtp` opens a session to every relay in turn (README): each server sees one.
#[test]
#[ignore = "defect: check --smtp opens a session to the first relay only"]
fn check_smtp_opens_a_session_to_every_relay() {
    let (a, b) = (ScriptedServer::accept_all(), ScriptedServer::accept_all());
    let fx = campaign(
        &base(2),
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    let run = fx.spawn_command("check", &["--smtp"], &[]).wait();
    run.expect(0);
    assert_eq!(a.connections(), 1, "a session to a\n{}", run.stdout);
    assert_eq!(b.connections(), 1, "a session to b\n{}", run.stdout);
    assert!(
        a.data_ends().is_empty() && b.data_ends().is_empty(),
        "nothing sent"
    );
}

/// `campaign check --smtp` fails (exit 3) when the second relay refuses its password, naming it.
#[test]
#[ignore = "defect: check --smtp opens a session to the first relay only"]
fn check_smtp_fails_when_the_second_relay_refuses_its_password() {
    let a = plain();
    let b = auth_server(USER, PASSWORD);
    let fx = campaign(
        &base(2),
        &[
            relay("a", Spec::new(a.port)),
            relay(
                "b",
                Spec {
                    username: Some(USER),
                    ..Spec::new(b.port)
                },
            ),
        ],
    );
    let env = [("CAMPAIGN_SMTP_PASSWORD_B", "wrong-one")];
    let run = fx.spawn_command("check", &["--smtp"], &env).wait();
    run.expect(3);
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{}", b.port)),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("wrong-one") && !run.stdout.contains("wrong-one"));
}

/// `campaign test --relay NAME` sends the test message through that relay only.
#[test]
#[ignore = "defect: `campaign test` has no --relay option (clap refuses it, exit 2)"]
fn test_with_relay_sends_through_the_named_relay() {
    let (a, b) = (plain(), plain());
    let fx = campaign(
        &base(2),
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    let args = ["--to", "me@example.com", "--relay", "b"];
    let run = fx.spawn_command("test", &args, &[]).wait();
    run.expect(0);
    exactly(&b, 1, "the named relay");
    exactly(&a, 0, "not the first relay");
    assert_eq!(b.messages()[0].rcpt_tos, ["me@example.com"]);
}

/// `campaign test` without `--relay` uses the first relay.
#[test]
fn test_without_relay_uses_the_first_relay() {
    let (a, b) = (plain(), plain());
    let fx = campaign(
        &base(2),
        &[relay("a", Spec::new(a.port)), relay("b", Spec::new(b.port))],
    );
    let run = fx
        .spawn_command("test", &["--to", "me@example.com"], &[])
        .wait();
    run.expect(0);
    exactly(&a, 1, "the first relay");
    exactly(&b, 0, "not the second");
}

// ------------------------------------------------------------------ [send] over all relays ---

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

// ------------------------------------------------------------------ no relay left, mixed ---

/// One relay taken out (its password refused) and the other at its daily_limit: no relay is
/// left with recipients unsent and without a row, so the exit code must not say "all sent" (0):
/// 3 (a relay failed) or 4 (daily limit).
#[test]
#[ignore = "defect: one relay taken out and the other at its daily_limit ends with exit 0 though recipients are left unsent"]
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

// ------------------------------------------------------------------ more ---

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

/// Each relay's password from the campaign's `.env` (one there, the other in the environment).
#[test]
fn relay_passwords_from_dotenv_and_environment() {
    const BOB_PASSWORD: &str = "Bob-pw-88!qL";
    let (a, b) = (
        auth_server(USER, PASSWORD),
        auth_server("bob", BOB_PASSWORD),
    );
    let spec = base(6);
    let fx = campaign(
        &spec,
        &[
            relay(
                "a",
                Spec {
                    username: Some(USER),
                    ..Spec::new(a.port)
                },
            ),
            relay(
                "b",
                Spec {
                    username: Some("bob"),
                    ..Spec::new(b.port)
                },
            ),
        ],
    );
    fx.write(".env", &format!("CAMPAIGN_SMTP_PASSWORD_A='{PASSWORD}'\n"));
    let run = send(&fx, &[], &[("CAMPAIGN_SMTP_PASSWORD_B", BOB_PASSWORD)]);
    run.expect(0);
    exactly(&a, 3, "a");
    exactly(&b, 3, "b");
    never_shown(&fx, &run, PASSWORD);
    never_shown(&fx, &run, BOB_PASSWORD);
}

/// Every relay failing under `--json`: exit_code 3, error kind `fatal`, each relay `taken_out`.
#[test]
fn json_when_every_relay_fails() {
    let (a, b) = (auth_server(USER, PASSWORD), auth_server(USER, PASSWORD));
    let with_user = |port| Spec {
        username: Some(USER),
        ..Spec::new(port)
    };
    let fx = campaign(
        &base(4),
        &[relay("a", with_user(a.port)), relay("b", with_user(b.port))],
    );
    let env = [
        ("CAMPAIGN_SMTP_PASSWORD_A", "wrong"),
        ("CAMPAIGN_SMTP_PASSWORD_B", "wrong"),
    ];
    let run = send(&fx, &["--json"], &env);
    run.expect(3);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(json["exit_code"], 3);
    assert_eq!(json["error"]["kind"], "fatal", "{json}");
    let relays = json["relays"].as_array().unwrap();
    assert_eq!(relays.len(), 2, "{json}");
    for r in relays {
        assert!(r["taken_out"].is_string(), "{r}");
        assert_eq!(r["sent"], 0);
    }
    assert!(fx.rows().is_empty());
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

/// A relay answering "450 4.7.1 too much mail" to everything, beside a healthy one: its
/// deferred messages go to the other relay ("whichever relay has a session free first") and its
/// pauses do not hold the other up. It stalled the send instead: the throttled relay's workers
/// take their own deferred messages back and hold them (and the relay's turns) through pauses
/// that double (1, 2, 4 … s, up to 15 min, until an hour without acceptance takes it out), while
/// the healthy relay idles: 3 of 20 sent after 120 s.
#[test]
#[ignore = "defect: a relay asking to slow down stalls the whole send (the other relay idles through its doubling pauses)"]
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

/// A relay whose TLS fails (its certificate not trusted: no ca_file) and one that does not offer
/// STARTTLS are taken out; the third relay delivers everyone once, exit 0.
#[test]
fn relays_failing_tls_are_taken_out_and_the_other_delivers_all() {
    let up = plain();
    let untrusted = CaptureServer::start(CaptureOptions::starttls());
    let no_starttls = plain();
    let spec = base(12);
    let starttls = |port| Spec {
        host: "localhost".into(),
        security: "starttls",
        ..Spec::new(port)
    };
    let fx = campaign(
        &spec,
        &[
            relay("up", Spec::new(up.port)),
            relay("untrusted", starttls(untrusted.port)),
            relay("no-starttls", starttls(no_starttls.port)),
        ],
    );
    let run = send(&fx, &[], &[]);
    run.expect(0);
    for name in ["untrusted", "no-starttls"] {
        let said = format!("relay {name} taken out");
        assert!(run.stderr.contains(&said), "{said}: {}", run.stderr);
    }
    exactly(&up, 12, "the working relay took everyone");
    exactly(&untrusted, 0, "untrusted");
    exactly(&no_starttls, 0, "no STARTTLS");
    assert_each_once(&capture_rcpts(&up), &spec.emails());
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

/// A relay deferring every message (`451 4.3.0`, not a "slow down") beside a healthy one: the
/// retries go to the healthy relay and nobody fails. They went to whichever session was free
/// first, often the deferring relay's own (its 451 is quick), so some recipients used up all
/// their attempts there and were logged `failed` while the other relay idled (2 to 6 of 40 measured).
#[test]
#[ignore = "defect: retries go back to the relay that deferred them; recipients fail while another relay is healthy"]
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

/// `check` warns per relay when its own rate is over its provider's, naming the relay; the preset
/// fills only that relay.
#[test]
fn check_warns_per_relay_over_its_providers_rate() {
    let (a, b) = (plain(), plain());
    let fx = campaign(
        &base(2),
        &[
            relay("a", Spec::new(a.port)),
            relay("qq-acct", Spec::new(b.port))
                .with("provider = \"qq\"")
                .with("rate = \"1/s\""),
        ],
    );
    let run = fx.spawn_command("check", &[], &[]).wait();
    let output = format!("{}{}", run.stdout, run.stderr);
    let warned: Vec<&str> = (output.lines())
        .filter(|l| l.contains("relay qq-acct") && l.contains("rate"))
        .collect();
    assert!(!warned.is_empty(), "{output}");
    assert!(
        !output.lines().any(|l| l.contains("relay a:")),
        "nothing about relay a: {output}"
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
