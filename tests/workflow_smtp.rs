//! Issue 12, items 2 and 3: `campaign test DIR --to ADDR` (one recipient's message, `[TEST] ` before
//! its subject, to the given addresses only, DKIM signed over the changed subject, no result-log
//! row) and `campaign check DIR --smtp` (open a session as a send would, say what the relay offers,
//! send nothing; fail fast on a port that is not SMTP). The real binary against the aiosmtpd capture
//! server, the scripted server and a raw TCP listener, all on 127.0.0.1.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::campaign::{
    Fixture, PASSWORD, Run, Spec, USER, WAIT, first_name, starttls_auth_server,
};
use support::fixture::openssl;
use support::keys;
use support::{CaptureOptions, CaptureServer, Reply, ScriptedServer, Stage};

const DOMAIN: &str = "acme.example";
const SELECTOR: &str = "news";

fn run(fx: &Fixture, command: &str, args: &[&str], password: Option<&str>) -> Run {
    let env: Vec<(&str, &str)> = password
        .map(|p| vec![("CAMPAIGN_SMTP_PASSWORD", p)])
        .unwrap_or_default();
    fx.spawn_command(command, args, &env).wait()
}

/// An RSA key pair for `[dkim]`, written into the campaign directory as keys/news.pem; returns the
/// public key's file (outside the campaign).
fn add_dkim(fx: &Fixture, spec: &Spec, tmp: &Path) -> PathBuf {
    let private = fx.dir().join("news.pem");
    let public = tmp.join("news.pub");
    openssl(&[
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        private.to_str().unwrap(),
    ]);
    openssl(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    let toml = format!(
        "{}\n[dkim]\ndomain = \"{DOMAIN}\"\nselector = \"{SELECTOR}\"\nprivate_key = \"news.pem\"\n",
        spec.toml()
    );
    fx.write("campaign.toml", &toml);
    public
}

/// dkimpy's verdict on each file; every one must verify.
fn dkim_verifies(public: &Path, files: &[PathBuf]) -> Vec<bool> {
    keys::dkim_verdicts(public, DOMAIN, SELECTOR, files)
        .into_iter()
        .map(|v| {
            assert!(v.ok, "DKIM: {v:#?}");
            v.ok
        })
        .collect()
}

// ------------------------------------------------------------------- test ---

#[test]
fn test_sends_the_first_recipients_message_to_each_to_address_with_test_subject_signed() {
    let tmp = tempfile::tempdir().unwrap();
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec::new(server.port);
    let fx = Fixture::from_spec(&spec);
    let public = add_dkim(&fx, &spec, tmp.path());

    let out = run(
        &fx,
        "test",
        &["--to", "me@test.example, boss@test.example"],
        None,
    );
    out.expect(0);
    assert!(out.stdout.contains("result log"), "says so: {}", out.stdout);
    let received = server.wait_for(2, WAIT);
    std::thread::sleep(Duration::from_millis(300));
    let received = if server.messages().len() > received.len() {
        server.messages()
    } else {
        received
    };
    assert_eq!(received.len(), 2, "one message per --to address");
    let mut rcpts: Vec<_> = received.iter().map(|m| m.rcpt_tos.clone()).collect();
    rcpts.sort();
    assert_eq!(
        rcpts,
        vec![
            vec!["boss@test.example".to_string()],
            vec!["me@test.example".to_string()]
        ]
    );
    let mut files = Vec::new();
    for (i, m) in received.iter().enumerate() {
        let parsed = m.parsed();
        assert_eq!(
            parsed.subject().unwrap(),
            format!("[TEST] Hello {}, the April news", first_name(0))
        );
        let to = parsed.to().unwrap().first().unwrap().address().unwrap();
        assert_eq!(to, "r000@example.com", "the To the recipient sees");
        let file = tmp.path().join(format!("{i}.eml"));
        std::fs::write(&file, &m.raw).unwrap();
        files.push(file);
    }
    assert_eq!(dkim_verifies(&public, &files).len(), 2);
    assert!(!fx.results_path().exists(), "no result log written");
}

#[test]
fn test_as_an_address_or_a_line_picks_that_recipient() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = Fixture::from_spec(&Spec::new(server.port));
    run(
        &fx,
        "test",
        &["--to", "me@test.example", "--as", "R002@example.com"],
        None,
    )
    .expect(0);
    run(
        &fx,
        "test",
        &["--to", "me@test.example", "--line", "5"],
        None,
    )
    .expect(0);
    let received = server.wait_for(2, WAIT);
    let subjects: Vec<String> = received
        .iter()
        .map(|m| m.parsed().subject().unwrap().to_string())
        .collect();
    assert_eq!(
        subjects,
        vec![
            format!("[TEST] Hello {}, the April news", first_name(2)),
            format!("[TEST] Hello {}, the April news", first_name(3)),
        ]
    );
}

#[test]
fn test_with_bad_input_exits_2_and_sends_nothing() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = Fixture::from_spec(&Spec::new(server.port));
    for (args, named) in [
        (
            &["--to", "me@test.example,not an address"][..],
            "not an address",
        ),
        (
            &["--to", "me@test.example", "--as", "nobody@x.example"],
            "nobody@x.example",
        ),
        (&["--to", "me@test.example", "--line", "99"], "99"),
    ] {
        let out = run(&fx, "test", args, None);
        out.expect(2);
        assert!(out.stderr.contains(named), "{args:?}: {}", out.stderr);
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.messages().is_empty());
    assert!(!fx.results_path().exists());
}

#[test]
fn test_with_a_refused_address_exits_1_listing_the_reply() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::Rcpt if ev.rcpt.is_some_and(|r| r.starts_with("bad@")) => {
            Reply::text("550 5.1.1 no such user here")
        }
        _ => Reply::Default,
    });
    let fx = Fixture::from_spec(&Spec::new(server.addr().port()));
    let out = run(
        &fx,
        "test",
        &["--to", "bad@test.example,good@test.example"],
        None,
    );
    out.expect(1);
    assert!(
        out.stdout.contains("550 5.1.1 no such user here"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("bad@test.example"), "{}", out.stdout);
    let accepted: Vec<_> = server
        .wait_for(1, WAIT)
        .into_iter()
        .filter(|t| t.accepted())
        .collect();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].rcpt_tos, vec!["good@test.example".to_string()]);
    assert!(!fx.results_path().exists());
}

// ------------------------------------------------------------ check --smtp ---

fn auth_spec(port: u16) -> Spec {
    Spec {
        host: "localhost".into(),
        security: "starttls",
        username: Some(USER),
        ..Spec::new(port)
    }
}

#[test]
fn check_smtp_reports_tls_certificate_extensions_and_auth_and_sends_nothing() {
    let server = starttls_auth_server();
    let spec = Spec {
        ca_pem: Some(server.ca_pem()),
        ..auth_spec(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let out = run(&fx, "check", &["--smtp"], Some(PASSWORD));
    out.expect(0);
    let text = &out.stdout;
    for word in [
        &format!("localhost:{}", server.port),
        "starttls",
        "TLS",
        "subject",
        "issuer",
        "expires",
        "SIZE",
        "SMTPUTF8",
        "PLAIN",
        "AUTH: accepted for alice",
    ] {
        assert!(text.contains(word), "names {word:?}:\n{text}");
    }
    assert!(!text.contains(PASSWORD) && !out.stderr.contains(PASSWORD));
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.messages().is_empty(), "nothing sent");
}

#[test]
fn check_smtp_with_a_wrong_password_exits_3_saying_so() {
    let server = starttls_auth_server();
    let spec = Spec {
        ca_pem: Some(server.ca_pem()),
        ..auth_spec(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let out = run(&fx, "check", &["--smtp"], Some("wrong-password"));
    out.expect(3);
    assert!(
        out.stderr.contains("authentication as alice failed"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-password"));
}

#[test]
fn check_smtp_on_an_http_port_exits_3_within_5_seconds() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // An HTTP server: reads the request, answers only once one came.
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0; 1024];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let _ = std::io::Write::write_all(
                        &mut stream,
                        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
                    );
                }
            });
        }
    });
    let fx = Fixture::from_spec(&Spec::new(port));
    let out = run(&fx, "check", &["--smtp"], None);
    out.expect(3);
    assert!(
        out.elapsed < Duration::from_secs(5),
        "took {:?}",
        out.elapsed
    );
    assert!(out.stderr.contains("no greeting"), "{}", out.stderr);
    assert!(out.stderr.contains("host and port"), "{}", out.stderr);
}

#[test]
fn check_smtp_accepts_a_self_signed_certificate_given_in_ca_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (cert, key) = keys::self_signed(tmp.path(), "relay");
    let server = CaptureServer::start(CaptureOptions {
        identity: Some((cert.clone(), key)),
        ..CaptureOptions::starttls()
    });
    let spec = Spec {
        host: "localhost".into(),
        security: "starttls",
        ca_pem: Some(cert),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let out = run(&fx, "check", &["--smtp"], None);
    out.expect(0);
    assert!(out.stdout.contains("CN=localhost"), "{}", out.stdout);
    assert!(out.stdout.contains("Acme Relay"), "{}", out.stdout);
    assert!(
        out.stdout.contains("ca_file"),
        "says it is pinned: {}",
        out.stdout
    );
}

#[test]
fn check_smtp_without_smtp_section_exits_2() {
    let fx = Fixture::from_spec(&Spec {
        smtp: false,
        ..Spec::new(1)
    });
    let out = run(&fx, "check", &["--smtp"], None);
    out.expect(2);
    assert!(out.stderr.contains("[smtp]"), "{}", out.stderr);
}

#[test]
fn check_smtp_with_implicit_tls_on_a_plain_port_exits_3_saying_so() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = Fixture::from_spec(&Spec {
        security: "tls",
        ..Spec::new(server.port)
    });
    let out = run(&fx, "check", &["--smtp"], None);
    out.expect(3);
    assert!(
        out.elapsed < Duration::from_secs(5),
        "took {:?}",
        out.elapsed
    );
    assert!(
        out.stderr.contains("did not answer in TLS"),
        "{}",
        out.stderr
    );
}

#[test]
fn check_smtp_with_a_certificate_for_another_name_exits_3_naming_the_host() {
    let server = CaptureServer::start(CaptureOptions {
        cert_names: vec!["mail.example.test".into()],
        ..CaptureOptions::starttls()
    });
    let spec = Spec {
        host: "localhost".into(),
        security: "starttls",
        ca_pem: Some(server.ca_pem()),
        ..Spec::new(server.port)
    };
    let out = run(&Fixture::from_spec(&spec), "check", &["--smtp"], None);
    out.expect(3);
    assert!(
        out.stderr.contains("not valid for the name \"localhost\""),
        "{}",
        out.stderr
    );
}

#[test]
fn check_smtp_with_an_expired_certificate_exits_3_saying_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, cert, key) = keys::expired_leaf(tmp.path());
    let server = CaptureServer::start(CaptureOptions {
        identity: Some((cert, key)),
        ..CaptureOptions::starttls()
    });
    let spec = Spec {
        host: "localhost".into(),
        security: "starttls",
        ca_pem: Some(tmp.path().join("ca.pem")),
        ..Spec::new(server.port)
    };
    let out = run(&Fixture::from_spec(&spec), "check", &["--smtp"], None);
    out.expect(3);
    assert!(out.stderr.contains("has expired"), "{}", out.stderr);
}
