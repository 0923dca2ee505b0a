//! Each relay's credentials and TLS: its own password variable and CA, a refused password or a
//! failed TLS taking that relay out, secrets never shown; `check --smtp` and `test` with several
//! relays.

use super::*;

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
    assert_eq!(
        run.stderr.matches("relay bad taken out").count(),
        1,
        "says so once (two sessions failed): {}",
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

/// `campaign check --smtp` opens a session to every relay in turn (README): each server sees one.
#[test]
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
    // --json: `relay` is the first relay's session, `relays` each one's, `error` the failure.
    let run = fx
        .spawn_command("check", &["--smtp", "--json"], &env)
        .wait();
    run.expect(3);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(json["relay"]["name"], "a", "{json}");
    let relays = json["relays"].as_array().expect("relays");
    assert_eq!(relays.len(), 2, "{json}");
    assert_eq!(relays[0]["port"], a.port, "{json}");
    let error = relays[1]["error"].as_str().expect("b's error");
    assert!(error.starts_with("relay b: "), "{error}");
    assert_eq!(json["error"]["kind"], "fatal", "{json}");
    assert!(!run.stdout.contains("wrong-one") && !run.stderr.contains("wrong-one"));
}

/// `campaign test --relay NAME` sends the test message through that relay only.
#[test]
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
