//! STARTTLS and implicit TLS with AUTH: the password from the environment or `.env`, never shown;
//! a wrong password or an untrusted certificate is fatal with nobody marked failed; AUTH without
//! TLS to a remote host is refused before connecting.

use std::time::Duration;

use crate::support::campaign::{
    Fixture, PASSWORD, Spec, USER, WAIT, assert_each_once, capture_rcpts,
};
use crate::support::{CaptureOptions, CaptureServer};

/// Sends 3 recipients over TLS with AUTH (password from the environment) and checks that the
/// password leaks nowhere.
fn tls_auth_send(options: CaptureOptions, security: &'static str) {
    let server = CaptureServer::start(options.with_auth(USER, PASSWORD).require_auth());
    let spec = Spec {
        security,
        username: Some(USER),
        ca_pem: Some(server.ca_pem()),
        recipients: 3,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], Some(PASSWORD));
    run.expect(0);
    let received = server.wait_for(3, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    for m in &received {
        assert!(m.tls, "received over TLS");
        assert_eq!(m.auth_user.as_deref(), Some(USER), "authenticated as");
        assert!(!m.text().contains(PASSWORD), "password in a message");
    }
    assert!(!run.stdout.contains(PASSWORD), "password on stdout");
    assert!(!run.stderr.contains(PASSWORD), "password on stderr");
    assert!(!fx.results_text().contains(PASSWORD), "password in the log");
    assert_eq!(fx.rows_with("sent").len(), 3);
}

/// 2. STARTTLS, certificate checked against the campaign's ca_file, AUTH with the password from
///    CAMPAIGN_SMTP_PASSWORD.
#[test]
fn starttls_with_auth_uses_the_env_password_and_never_shows_it() {
    tls_auth_send(CaptureOptions::starttls(), "starttls");
}

/// 3. The same with implicit TLS (SMTPS).
#[test]
fn implicit_tls_with_auth() {
    tls_auth_send(CaptureOptions::implicit_tls(), "tls");
}

/// 4. Without the variable in the environment, the password is read from the campaign's `.env`.
#[test]
fn password_from_dotenv_in_the_campaign_directory() {
    let server = CaptureServer::start(
        CaptureOptions::starttls()
            .with_auth(USER, PASSWORD)
            .require_auth(),
    );
    let spec = Spec {
        security: "starttls",
        username: Some(USER),
        ca_pem: Some(server.ca_pem()),
        recipients: 2,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.write(".env", &format!("CAMPAIGN_SMTP_PASSWORD='{PASSWORD}'\n"));
    let run = fx.send(&[], None);
    run.expect(0);
    let received = server.wait_for(2, WAIT);
    assert!(
        received
            .iter()
            .all(|m| m.auth_user.as_deref() == Some(USER))
    );
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
}

/// 5. A wrong password stops the run (exit 3) naming the server and the cause, without marking any
///    recipient failed; the next run with the right password sends everyone once.
#[test]
fn wrong_password_is_fatal_and_marks_nobody_failed() {
    let server = CaptureServer::start(
        CaptureOptions::plain()
            .with_auth(USER, PASSWORD)
            .require_auth(),
    );
    let spec = Spec {
        username: Some(USER),
        recipients: 4,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], Some("not-the-password"));
    run.expect(3);
    assert!(
        run.stderr.contains(&format!("127.0.0.1:{}", server.port)),
        "names the server: {}",
        run.stderr
    );
    assert!(
        run.stderr.to_lowercase().contains("authentication"),
        "says why: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-password") && !run.stdout.contains("not-the-password"));
    assert!(fx.rows().is_empty(), "no rows: {}", fx.results_text());
    assert!(server.messages().is_empty());

    fx.send(&[], Some(PASSWORD)).expect(0);
    server.wait_for(4, WAIT);
    assert_each_once(&capture_rcpts(&server), &spec.emails());
    assert_eq!(fx.rows_with("sent").len(), 4);
    assert!(fx.rows_with("failed").is_empty());
}

/// 6. A certificate the client does not trust (no ca_file) is fatal: exit 3, TLS named, nobody
///    marked failed, nothing sent.
#[test]
fn untrusted_certificate_is_fatal() {
    let server = CaptureServer::start(CaptureOptions::starttls());
    let spec = Spec {
        security: "starttls",
        recipients: 3,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(3);
    assert!(run.stderr.contains("TLS"), "mentions TLS: {}", run.stderr);
    assert!(run.stderr.contains(&format!("127.0.0.1:{}", server.port)));
    assert!(fx.rows().is_empty(), "no rows: {}", fx.results_text());
    assert!(server.messages().is_empty());
}

/// 7. AUTH without encryption to a host that is not loopback is refused before any connection.
#[test]
fn auth_without_tls_to_a_remote_host_is_refused_up_front() {
    let spec = Spec {
        host: "192.0.2.1".into(), // TEST-NET-1: never reached, the run must stop before
        username: Some(USER),
        ..Spec::new(25)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], Some(PASSWORD));
    run.expect(2);
    assert!(
        run.elapsed < Duration::from_secs(5),
        "refused at once, not after a connection attempt: {:?}",
        run.elapsed
    );
    assert!(
        run.stderr.contains("unencrypted") && run.stderr.contains("security"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(PASSWORD));
    assert!(!fx.results_path().exists(), "no result log was even opened");
}
