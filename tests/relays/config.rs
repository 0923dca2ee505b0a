//! `[[smtp]]` mistakes in campaign.toml: exit 2 at the line, nothing sent; a relay's missing
//! password variable; `check`'s per-relay provider warning.

use super::*;

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

/// A relay with a username and no `CAMPAIGN_SMTP_PASSWORD_<NAME>`: exit 2 naming that variable at
/// the line of the relay's username, even when the one-relay `CAMPAIGN_SMTP_PASSWORD` is set (a
/// relay never gets another's).
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
    let toml = read(&fx, "campaign.toml");
    let line = 1 + toml
        .lines()
        .position(|l| l.starts_with("username"))
        .unwrap();
    let at = format!("{}:{line}:", fx.dir().join("campaign.toml").display());
    for env in [vec![], vec![("CAMPAIGN_SMTP_PASSWORD", PASSWORD)]] {
        let run = send(&fx, &[], &env);
        run.expect(2);
        assert!(
            run.stderr.contains("CAMPAIGN_SMTP_PASSWORD_WARM_IP") && run.stderr.contains(&at),
            "names the variable at {at}: {}",
            run.stderr
        );
        never_shown(&fx, &run, PASSWORD);
        assert_eq!(fx.snapshot(), before, "nothing written");
    }
    exactly(&server, 0, "nothing sent");
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
