//! Relay faults seen with real relays (issue 14): certificates the client must refuse or may pin,
//! a relay that limits sessions per client, one that asks to slow down, and a resend of an unknown
//! outcome that must carry the first attempt's Message-ID. The real `campaign` binary sends a
//! campaign written into a tempdir (`tests/support/campaign.rs`) to the aiosmtpd capture server
//! (with certificates made here by openssl or trustme) or the scripted server, on 127.0.0.1.

mod support;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use support::campaign::{Fixture, Spec, WAIT, assert_each_once, capture_rcpts, copies};
use support::keys;
use support::{CaptureOptions, CaptureServer, Reply, ScriptedServer, Stage};

/// A TLS failure must be reported at the first attempt: well under one retry's backoff.
const AT_ONCE: Duration = Duration::from_secs(3);

fn starttls_with(identity: Option<(PathBuf, PathBuf)>, names: &[&str]) -> CaptureServer {
    CaptureServer::start(CaptureOptions {
        identity,
        cert_names: names.iter().map(|n| n.to_string()).collect(),
        ..CaptureOptions::starttls()
    })
}

/// A STARTTLS spec for `server` on host `localhost`, trusting `ca` as ca_file.
fn tls_spec(port: u16, ca: Option<PathBuf>) -> Spec {
    Spec {
        host: "localhost".into(),
        security: "starttls",
        ca_pem: ca,
        recipients: 3,
        retries: 3,
        ..Spec::new(port)
    }
}

/// Asserts a run failed at once with exit 3, naming TLS and `words`, and sent nothing.
#[track_caller]
fn assert_fatal_tls(fx: &Fixture, server: &CaptureServer, words: &[&str]) {
    let run = fx.send(&[], None);
    run.expect(3);
    assert!(
        run.elapsed < AT_ONCE,
        "at the first attempt: {:?}",
        run.elapsed
    );
    for w in words {
        assert!(run.stderr.contains(w), "says {w:?}: {}", run.stderr);
    }
    assert!(run.stderr.contains("TLS"), "{}", run.stderr);
    assert!(fx.rows().is_empty(), "nobody marked: {}", fx.results_text());
    assert!(server.messages().is_empty());
}

/// 1a. `openssl req -x509` (CA:TRUE) given as ca_file was refused as `CaUsedAsEndEntity` and
///     retried as if the server were down; that exact certificate in ca_file is now trusted.
#[test]
fn self_signed_certificate_in_ca_file_is_pinned_and_used() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = keys::self_signed(tmp.path(), "relay");
    let server = starttls_with(Some((cert.clone(), key)), &[]);
    let spec = tls_spec(server.port, Some(cert));
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(0);
    let received = server.wait_for(3, WAIT);
    assert!(received.iter().all(|m| m.tls), "every message over TLS");
    assert_each_once(&capture_rcpts(&server), &spec.emails());
}

/// 1b. The same certificate without ca_file: fatal at once, saying it is a self-signed CA and
///     what to set.
#[test]
fn self_signed_certificate_not_trusted_is_fatal_at_once_saying_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = keys::self_signed(tmp.path(), "relay");
    let server = starttls_with(Some((cert, key)), &[]);
    let fx = Fixture::from_spec(&tls_spec(server.port, None));
    assert_fatal_tls(&fx, &server, &["self-signed", "ca_file"]);
}

/// 1c. A pin is the exact certificate: another self-signed certificate in ca_file is refused
///     before AUTH, so the password never goes to that server.
#[test]
fn a_different_self_signed_certificate_in_ca_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = keys::self_signed(tmp.path(), "relay");
    let (other, _) = keys::self_signed(tmp.path(), "other");
    let server = starttls_with(Some((cert, key)), &[]);
    let fx = Fixture::from_spec(&tls_spec(server.port, Some(other)));
    assert_fatal_tls(&fx, &server, &["ca_file"]);
}

/// 1d. A certificate from a CA this machine does not trust: fatal at once, advice on ca_file.
#[test]
fn certificate_from_an_unknown_ca_is_fatal_at_once() {
    let server = starttls_with(None, &[]);
    let fx = Fixture::from_spec(&tls_spec(server.port, None));
    assert_fatal_tls(
        &fx,
        &server,
        &["not signed by a CA this machine trusts", "ca_file"],
    );
}

/// 1e. A certificate for another name: fatal at once, naming the host to fix.
#[test]
fn certificate_for_another_name_is_fatal_naming_the_host() {
    let server = starttls_with(None, &["mail.example.test"]);
    let fx = Fixture::from_spec(&tls_spec(server.port, Some(server.ca_pem())));
    assert_fatal_tls(
        &fx,
        &server,
        &["not valid for the name \"localhost\"", "[smtp] host"],
    );
}

/// 1f. An expired certificate: fatal at once, saying expired.
#[test]
fn expired_certificate_is_fatal_saying_expired() {
    let tmp = tempfile::tempdir().unwrap();
    let (ca, cert, key) = keys::expired_leaf(tmp.path());
    let server = starttls_with(Some((cert, key)), &[]);
    let fx = Fixture::from_spec(&tls_spec(server.port, Some(ca)));
    assert_fatal_tls(&fx, &server, &["expired"]);
}

/// 1g. `security = "tls"` against a port that speaks plain SMTP: fatal at once, saying to use
///     starttls.
#[test]
fn implicit_tls_on_a_plain_port_is_fatal_at_once() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        security: "tls",
        ..tls_spec(server.port, None)
    };
    let fx = Fixture::from_spec(&spec);
    assert_fatal_tls(&fx, &server, &["did not answer in TLS", "starttls"]);
}

/// 2a. A relay that allows two sessions per client answers the others `421` at connect: the run
///     goes on with two sessions, says so once, and delivers everyone once (it exited 3 with part
///     of the list sent).
#[test]
fn relay_limiting_sessions_per_client_runs_with_fewer_sessions() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::Connect if ev.conn > 2 => Reply::text("421 4.7.0 too many connections from you"),
        _ => Reply::Default,
    });
    // 2 s of sending at 20/s: a refused session tries again after 0.5–1 s (the first backoff), so
    // it does so while the list is still going (at 40/s the list could end first: a flaky test).
    let spec = Spec {
        recipients: 40,
        concurrency: 4,
        retries: 2,
        rate: Some("20/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(0);
    assert_each_once(&copies(&server), &spec.emails());
    assert_eq!(fx.rows_with("sent").len(), 40);
    assert!(
        server.connections() > 4,
        "the refused sessions were tried again"
    );
    assert_eq!(
        run.stderr
            .matches("going on with the sessions that work")
            .count(),
        1,
        "said once: {}",
        run.stderr
    );
    assert!(run.elapsed < Duration::from_secs(20), "{:?}", run.elapsed);
}

/// 2b. When no session at all can be opened, it is still fatal after the retries.
#[test]
fn relay_refusing_every_session_is_fatal() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::Connect => Reply::text("421 4.7.0 too many connections from you"),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 5,
        retries: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(3);
    assert!(run.stderr.contains("gave up"), "{}", run.stderr);
    assert!(fx.rows().is_empty(), "nobody marked: {}", fx.results_text());
}

/// 2c. `450 4.7.1 too much mail` (a per-minute quota) pauses every session for throttle_pause
///     and does not use up the retries: with retries = 1 and six deferrals, nobody fails (they
///     failed within seconds), and no message reaches MAIL during the pause.
#[test]
fn slow_down_replies_pause_every_session_without_failing_anyone() {
    let mails = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let deferred = Arc::new(AtomicUsize::new(0));
    let server = {
        let (mails, deferred) = (Arc::clone(&mails), Arc::clone(&deferred));
        ScriptedServer::start(move |ev| match ev.stage {
            Stage::Mail => {
                mails.lock().unwrap().push(Instant::now());
                if (3..=8).contains(&ev.nth) {
                    deferred.fetch_add(1, Ordering::SeqCst);
                    Reply::text("450 4.7.1 Error: too much mail from 127.0.0.1")
                } else {
                    Reply::Default
                }
            }
            _ => Reply::Default,
        })
    };
    let spec = Spec {
        recipients: 12,
        concurrency: 3,
        retries: 1,
        throttle_pause: Some(1),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(0);
    assert_eq!(deferred.load(Ordering::SeqCst), 6);
    assert_each_once(&copies(&server), &spec.emails());
    assert!(fx.rows_with("failed").is_empty(), "{:?}", fx.rows());
    assert!(run.stderr.contains("asks to slow down"), "{}", run.stderr);
    let t = mails.lock().unwrap().clone();
    let gaps: Vec<Duration> = t.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().any(|g| *g >= Duration::from_millis(900)),
        "a pause of throttle_pause: {gaps:?}"
    );
}

/// 3. A resend of an unknown outcome (`--retry-unknown`) carries the first attempt's Message-ID,
///    so relay and recipient can tell the copies are one message.
#[test]
fn resend_of_an_unknown_outcome_reuses_its_message_id() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd if ev.nth == 1 => Reply::after(
            Duration::from_secs(3),
            Reply::text("250 2.0.0 Ok: queued late"),
        ),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 1,
        data_timeout: Some(1),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(1);
    let unknown = fx.rows_with("unknown");
    assert_eq!(unknown.len(), 1, "{:?}", fx.rows());
    let first_id = unknown[0].message_id.clone();
    assert!(!first_id.is_empty());

    fx.send(&["--retry-unknown"], None).expect(0);
    let data = server.wait_for_data_ends(2, WAIT);
    let ids: Vec<String> = data
        .iter()
        .map(|t| t.parsed().message_id().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        ids,
        [first_id.clone(), first_id.clone()],
        "same Message-ID twice"
    );
    let sent = fx.rows_with("sent");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].message_id, first_id, "the new row shows it too");
}
