//! Provider presets (issue 13 item 3): `[smtp] provider = "…"` fills host, port, security, rate and
//! daily limit; keys written in campaign.toml win; `check` warns when a configured rate or daily
//! limit is over the provider's documented one; an unknown provider is a config error with a
//! suggestion; a refused AUTH names the provider's password rule. No provider is ever contacted:
//! every send goes to the aiosmtpd capture server on 127.0.0.1, the preset's host overridden.

mod support;

use std::time::Duration;

use support::campaign::{Fixture, PASSWORD, Run, Spec, USER, WAIT, capture_rcpts};
use support::{CaptureOptions, CaptureServer};

/// campaign.toml of `spec` with `smtp` lines first in `[smtp]` and `send` lines first in `[send]`.
fn toml_with(spec: &Spec, smtp: &str, send: &str) -> String {
    spec.toml()
        .replace("[smtp]\n", &format!("[smtp]\n{smtp}\n"))
        .replace("[send]\n", &format!("[send]\n{send}\n"))
}

fn check(fx: &Fixture) -> Run {
    fx.spawn_command("check", &[], &[]).wait()
}

#[test]
fn a_preset_fills_host_port_security_rate_and_daily_limit() {
    let spec = Spec::new(2525);
    let fx = Fixture::from_spec(&spec);
    // Only the provider: no host, port or security.
    let toml = "subject = \"Hi\"\nfrom = \"Acme News <news@acme.example>\"\n\n\
                [smtp]\nprovider = \"gmail\"\n";
    fx.write("campaign.toml", toml);
    let out = check(&fx);
    out.expect(0);
    assert!(
        out.stdout.contains(
            "note: provider gmail: smtp.gmail.com:587 starttls, rate 20/min, daily_limit 500"
        ),
        "{}",
        out.stdout
    );
    fx.write("campaign.toml", &toml.replace("gmail", "ses:eu-west-1"));
    let out = check(&fx);
    out.expect(0);
    assert!(
        out.stdout.contains(
            "provider ses:eu-west-1: email-smtp.eu-west-1.amazonaws.com:587 starttls, rate 1/s, \
             daily_limit 200"
        ),
        "{}",
        out.stdout
    );
    fx.write("campaign.toml", &toml.replace("gmail", "qq"));
    let out = check(&fx);
    assert!(
        out.stdout.contains("smtp.qq.com:465 tls, rate 10/min"),
        "{}",
        out.stdout
    );
}

#[test]
fn explicit_keys_override_the_preset_and_check_warns_over_its_limits() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 3,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    // host, port and security written (the capture server); rate and daily limit over qq's.
    let toml = toml_with(
        &spec,
        "provider = \"qq\"",
        "rate = \"30/s\"\ndaily_limit = 1000",
    );
    fx.write("campaign.toml", &toml);
    let out = check(&fx);
    out.expect(0);
    let text = &out.stdout;
    assert!(
        text.contains(&format!(
            "provider qq: 127.0.0.1:{} none, rate 30/s, daily_limit 1000",
            server.port
        )),
        "{text}"
    );
    assert!(
        text.contains("warning: [send] rate 30/s is over qq's documented 10/min"),
        "{text}"
    );
    assert!(
        text.contains("warning: [send] daily_limit 1000 is over qq's documented 500 a day"),
        "{text}"
    );
    // The two over the preset, and the missing [dkim].
    assert!(text.contains("0 error(s), 3 warning(s)"), "{text}");
    // A warning, not an error; --strict makes it one.
    fx.spawn_command("check", &["--strict"], &[])
        .wait()
        .expect(2);

    // The send goes where the written keys say, at the written rate (3 messages at once).
    let run = fx.send(&["--yes"], None);
    run.expect(0);
    let got = server.wait_for(3, WAIT);
    assert_eq!(got.len(), 3);
    assert_eq!(capture_rcpts(&server).len(), 3);
    assert!(run.elapsed < Duration::from_secs(5), "{:?}", run.elapsed);
}

#[test]
fn the_presets_rate_applies_when_send_has_none() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 3,
        concurrency: 3,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    // SES sandbox: 1 message a second; no [send] rate.
    fx.write(
        "campaign.toml",
        &toml_with(&spec, "provider = \"ses:us-east-1\"", ""),
    );
    let run = fx.send(&["--yes"], None);
    run.expect(0);
    assert_eq!(server.wait_for(3, WAIT).len(), 3);
    // Slots at 0 s, 1 s and 2 s: without the preset's rate, 3 sessions send at once.
    assert!(
        run.elapsed >= Duration::from_millis(1900),
        "{:?}",
        run.elapsed
    );
    let parsed: Vec<String> = server
        .messages()
        .iter()
        .map(|m| m.parsed().subject().unwrap_or_default().to_string())
        .collect();
    assert!(
        parsed.iter().all(|s| s.contains("the April news")),
        "{parsed:?}"
    );
}

#[test]
fn an_unknown_provider_is_a_config_error_with_did_you_mean() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec::new(server.port);
    let fx = Fixture::from_spec(&spec);
    // Found in the same pass as another problem of the file.
    let toml = toml_with(&spec, "provider = \"gmial\"", "window = \"9-18\"");
    fx.write("campaign.toml", &toml);
    let line = toml
        .lines()
        .position(|l| l.starts_with("provider"))
        .unwrap()
        + 1;
    let out = fx.send(&["--yes"], None);
    out.expect(2);
    assert!(
        out.stderr.contains(&format!(
            "campaign.toml:{line}: [smtp] provider = \"gmial\" is not a known provider: did you \
             mean \"gmail\"?"
        )),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("2 problems"), "{}", out.stderr);
    assert!(
        out.stderr.contains("[send] window \"9-18\""),
        "{}",
        out.stderr
    );
    fx.write(
        "campaign.toml",
        &toml_with(&spec, "provider = \"ses:virginia\"", ""),
    );
    let out = check(&fx);
    out.expect(2);
    assert!(out.stderr.contains("\"ses:us-east-1\""), "{}", out.stderr);
    assert!(!fx.results_path().exists(), "nothing written");
    assert!(server.messages().is_empty());
}

#[test]
fn a_refused_login_names_the_providers_password_rule() {
    let server = CaptureServer::start(CaptureOptions::plain().with_auth(USER, PASSWORD));
    let spec = Spec {
        username: Some(USER),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.write("campaign.toml", &toml_with(&spec, "provider = \"163\"", ""));
    let run = fx.send(&["--yes"], Some("the-login-password"));
    run.expect(3);
    assert!(
        run.stderr.contains("authentication as alice failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("authorization code (授权码"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("the-login-password"));
    assert!(server.messages().is_empty());
}
