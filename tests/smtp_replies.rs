//! What the relay says, bounded and in plain words (issue 10): replies are capped per line and per
//! reply wherever they are read (item 11), a greeting that is no SMTP greeting is one sentence
//! naming the server and quoting it (item 15), and an IDN domain goes out in punycode to a relay
//! without SMTPUTF8 (item 7). The real `campaign` binary runs on a campaign written into a tempdir
//! (`tests/support/campaign.rs`) against servers on 127.0.0.1: the scripted server, the aiosmtpd
//! capture server, or a raw `TcpListener` here where a server must send bytes no SMTP server would.

mod support;

use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::campaign::{Fixture, Run, Running, Spec, WAIT, row_for};
use support::{CaptureOptions, CaptureServer, Reply, ScriptedServer, Stage};

/// A fatal error at connect must end the run at once, not after retries.
const AT_ONCE: Duration = Duration::from_secs(5);

/// Runs `running` to its end: the run and its peak resident memory in KiB.
fn run_with_peak_memory(running: Running) -> (Run, u64) {
    running.wait_measuring(support::campaign::RUN_TIMEOUT, u64::MAX)
}

/// A server on 127.0.0.1 that answers every connection with `bytes` and then closes it (or stops
/// when the client hangs up). Returns the port.
fn raw_server(bytes: impl Fn() -> Vec<Vec<u8>> + Send + 'static) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let chunks = bytes();
            std::thread::spawn(move || {
                for chunk in chunks {
                    if stream.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// Asserts a run ended at once with exit 3, its message naming the server and saying `words`,
/// with no parser jargon, and nothing marked.
#[track_caller]
fn assert_fatal_at_connect(fx: &Fixture, run: &Run, port: u16, words: &[&str]) {
    eprintln!("{}", run.stderr);
    run.expect(3);
    assert!(run.elapsed < AT_ONCE, "at once: {:?}", run.elapsed);
    let server = format!("127.0.0.1:{port}:");
    assert!(
        run.stderr.contains(&server),
        "names {server}: {}",
        run.stderr
    );
    for w in words {
        assert!(run.stderr.contains(w), "says {w:?}: {}", run.stderr);
    }
    for jargon in ["Tag", "nom", "incomplete response"] {
        assert!(
            !run.stderr.contains(jargon),
            "no {jargon:?}: {}",
            run.stderr
        );
    }
    assert!(fx.rows().is_empty(), "nobody marked: {}", fx.results_text());
}

// ------------------------------------------------------- 11: bounded replies ---

/// 11. A greeting without a line end was read without limit (lettre's `read_line`): 100 MB of it
///     must end the run at once with exit 3, reading no more than a line's cap.
#[test]
fn a_greeting_of_100_mb_without_a_line_end_is_fatal_and_not_buffered() {
    let port = raw_server(|| vec![vec![b'x'; 1 << 20]; 100]);
    let fx = Fixture::from_spec(&Spec::new(port));
    let (run, peak_kib) = run_with_peak_memory(fx.spawn(&[], None));
    eprintln!("peak RSS {peak_kib} KiB");
    assert_fatal_at_connect(
        &fx,
        &run,
        port,
        &[
            "the server's greeting is not an SMTP reply",
            "longer than 4096 octets",
        ],
    );
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}

/// 11. An EHLO reply of 10,000 continuation lines is more than any server sends: fatal, whether
///     lettre reads it (`none`) or the client's own STARTTLS exchange does (`starttls`).
#[test]
fn an_ehlo_reply_of_10000_lines_is_fatal() {
    let mut ehlo = String::from("250-localhost\n");
    for i in 0..10_000 {
        ehlo += &format!("250-X-FILLER-{i}\n");
    }
    ehlo += "250 STARTTLS";
    let server = ScriptedServer::start(move |ev| match ev.stage {
        Stage::Ehlo => Reply::text(ehlo.clone()),
        _ => Reply::Default,
    });
    for security in ["none", "starttls"] {
        let fx = Fixture::from_spec(&Spec {
            security,
            ..Spec::new(server.port)
        });
        let run = fx.send(&[], None);
        let words = [
            "the server's EHLO reply is not an SMTP reply",
            "more than 100 lines",
        ];
        assert_fatal_at_connect(&fx, &run, server.port, &words);
    }
    assert!(server.messages().is_empty());
}

/// 11. A reply to the final dot of 120 MB on one line: the outcome is unknown (the message may
///     have been delivered), and the reply is not buffered.
#[test]
fn a_huge_reply_to_the_final_dot_is_unknown_and_not_buffered() {
    let huge = format!("250 {}", "x".repeat(120 << 20));
    let server = ScriptedServer::start(move |ev| match ev.stage {
        Stage::DataEnd => Reply::text(huge.clone()),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 1,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let (run, peak_kib) = run_with_peak_memory(fx.spawn(&[], None));
    eprintln!("peak RSS {peak_kib} KiB");
    let rows = fx.rows();
    let row = row_for(&rows, &spec.emails()[0]);
    assert_eq!(row.status, "unknown", "{run:?}");
    assert!(row.detail.contains("longer than 4096 octets"), "{row:?}");
    assert_eq!(server.data_ends().len(), 1, "sent once, not resent blindly");
    assert!(peak_kib < 64 * 1024, "peak RSS {peak_kib} KiB");
}

/// 11. An over-long reply before the final dot breaks the session: the message is retried on a
///     new one and delivered.
#[test]
fn an_over_long_reply_mid_transaction_is_retried_on_a_new_session() {
    let long = format!("250 {}", "x".repeat(5000));
    let server = ScriptedServer::start(move |ev| match ev.stage {
        Stage::Rcpt if ev.nth == 1 => Reply::text(long.clone()),
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 1,
        concurrency: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(0);
    let rows = fx.rows();
    let row = row_for(&rows, &spec.emails()[0]);
    assert_eq!((row.status.as_str(), row.attempts), ("sent", 2), "{row:?}");
    assert_eq!(server.messages().len(), 1);
    assert!(server.connections() >= 2, "a new session");
}

// ------------------------------------------------------ 15: odd greetings ---

/// 15. Greetings that are no SMTP greeting gave "error Tag at: 99…" (lettre's parser); each is now
///     one sentence naming the server and quoting what it sent, fatal at once.
#[test]
fn greetings_that_are_not_smtp_replies_are_fatal_in_plain_words() {
    for greeting in ["299 hello", "600 hello", "hello, no code at all"] {
        let server = ScriptedServer::start(move |ev| match ev.stage {
            Stage::Connect => Reply::text(greeting),
            _ => Reply::Default,
        });
        let fx = Fixture::from_spec(&Spec::new(server.port));
        let run = fx.send(&[], None);
        let quoted = format!("(\"{greeting}\")");
        assert_fatal_at_connect(
            &fx,
            &run,
            server.port,
            &[
                "the server's greeting is not an SMTP reply",
                &quoted,
                "check [smtp] host and port",
            ],
        );
        assert!(server.messages().is_empty());
    }
}

/// 15. An HTTP server on the port: fatal, quoting its status line.
#[test]
fn an_http_server_on_the_port_is_fatal_quoting_it() {
    let port = raw_server(|| {
        vec![b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()]
    });
    let fx = Fixture::from_spec(&Spec::new(port));
    let run = fx.send(&[], None);
    assert_fatal_at_connect(
        &fx,
        &run,
        port,
        &[
            "the server's greeting is not an SMTP reply",
            "HTTP/1.1 400 Bad Request",
        ],
    );
}

/// 15. A greeting with control characters and far more than a line's worth of text is quoted
///     escaped and cut short.
#[test]
fn a_quoted_greeting_is_escaped_and_truncated() {
    let greeting = format!("\u{1b}[31m{}", "y".repeat(3000));
    let server = ScriptedServer::start(move |ev| match ev.stage {
        Stage::Connect => Reply::text(greeting.clone()),
        _ => Reply::Default,
    });
    let fx = Fixture::from_spec(&Spec::new(server.port));
    let run = fx.send(&[], None);
    assert_fatal_at_connect(&fx, &run, server.port, &["\\u{1b}[31myyy", "…"]);
    assert!(!run.stderr.contains('\u{1b}'), "{}", run.stderr);
    assert!(run.stderr.len() < 1000, "{}", run.stderr);
}

/// 15. A server that expects TLS from the start says nothing to a plain or STARTTLS client: after
///     the greeting's timeout the message says what to set.
#[test]
fn a_tls_server_with_security_none_or_starttls_says_to_use_tls() {
    let server = CaptureServer::start(CaptureOptions::implicit_tls());
    for security in ["none", "starttls"] {
        let spec = Spec {
            host: "localhost".into(),
            security,
            timeout: Some(1),
            retries: 0,
            ca_pem: Some(server.ca_pem()),
            ..Spec::new(server.port)
        };
        let fx = Fixture::from_spec(&spec);
        let started = Instant::now();
        let run = fx.send(&[], None);
        eprintln!("{}", run.stderr);
        run.expect(3);
        assert!(started.elapsed() < Duration::from_secs(20), "{run:?}");
        for w in ["no greeting", "security = \"tls\""] {
            assert!(
                run.stderr.contains(w),
                "{security}: says {w:?}: {}",
                run.stderr
            );
        }
        assert!(fx.rows().is_empty(), "nobody marked: {}", fx.results_text());
    }
    assert!(server.messages().is_empty());
}

// ------------------------------------------------- 7: IDN domains, punycode ---

/// EHLO of a relay without SMTPUTF8.
const EHLO_NO_SMTPUTF8: &str = "250-localhost\n250-SIZE 35882577\n250 8BITMIME";

fn relay_without_smtputf8() -> ScriptedServer {
    ScriptedServer::start(|ev| match ev.stage {
        Stage::Ehlo => Reply::text(EHLO_NO_SMTPUTF8),
        _ => Reply::Default,
    })
}

/// 7. `a@exämple.com` was refused by a relay without SMTPUTF8; it goes out in the domain's
///    punycode form, in the envelope and in the To header.
#[test]
fn an_idn_domain_goes_out_in_punycode_to_a_relay_without_smtputf8() {
    let server = relay_without_smtputf8();
    let spec = Spec {
        recipients: 1,
        extra_rows: vec!["a@exämple.com,Anna"],
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(0);
    let messages = server.wait_for(2, WAIT);
    let idn = messages
        .iter()
        .find(|m| m.rcpt_tos != [spec.emails()[0].clone()])
        .expect("the IDN recipient's message");
    assert_eq!(idn.rcpt_tos, ["a@xn--exmple-cua.com"]);
    let parsed = idn.parsed();
    let to = parsed.to().and_then(|a| a.first()).expect("a To address");
    assert_eq!(to.address(), Some("a@xn--exmple-cua.com"));
    let head_end = idn.raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(idn.raw[..head_end].is_ascii(), "an ASCII header");
    let mails = server.commands();
    assert!(
        mails
            .iter()
            .filter(|(_, l)| l.starts_with("MAIL"))
            .all(|(_, l)| !l.contains("SMTPUTF8")),
        "{mails:?}"
    );
    let rows = fx.rows();
    assert_eq!(row_for(&rows, "a@exämple.com").status, "sent", "{rows:?}");
}

/// 7. A non-ASCII local part cannot be written in ASCII: without SMTPUTF8 that recipient fails
///    alone, saying why; the others are sent.
#[test]
fn a_non_ascii_local_part_fails_alone_without_smtputf8() {
    let server = relay_without_smtputf8();
    let spec = Spec {
        recipients: 2,
        extra_rows: vec!["zoë@example.com,Zoë"],
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(1);
    let rows = fx.rows();
    let row = row_for(&rows, "zoë@example.com");
    assert_eq!(row.status, "failed", "{rows:?}");
    for w in ["before the @", "SMTPUTF8"] {
        assert!(row.detail.contains(w), "says {w:?}: {row:?}");
    }
    let sent = server.wait_for(2, WAIT);
    assert_eq!(sent.len(), 2);
}

/// 7. With SMTPUTF8 a non-ASCII local part goes out as it is (RFC 6531), its IDN domain too.
#[test]
fn a_non_ascii_address_goes_out_with_smtputf8_where_offered() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 0,
        extra_rows: vec!["zoë@exämple.com,Zoë"],
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(0);
    let received = server.wait_for(1, WAIT);
    assert_eq!(received[0].rcpt_tos, ["zoë@exämple.com"]);
}

/// 7. The campaign's own From address at an IDN domain goes out in punycode too (MAIL FROM,
///    From header, Message-ID), so a relay without SMTPUTF8 takes it.
#[test]
fn an_idn_from_domain_goes_out_in_punycode_to_a_relay_without_smtputf8() {
    let server = relay_without_smtputf8();
    let spec = Spec {
        recipients: 1,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let toml = std::fs::read_to_string(fx.dir().join("campaign.toml")).unwrap();
    let from_line = toml.lines().find(|l| l.starts_with("from = ")).unwrap();
    fx.write(
        "campaign.toml",
        &toml.replace(from_line, "from = \"Acme News <news@exämple.com>\""),
    );
    fx.send(&[], None).expect(0);
    let message = &server.wait_for(1, WAIT)[0];
    let mail = server
        .commands()
        .into_iter()
        .find(|(_, l)| l.starts_with("MAIL"))
        .expect("a MAIL command");
    assert!(mail.1.contains("<news@xn--exmple-cua.com>"), "{mail:?}");
    let parsed = message.parsed();
    let from = parsed
        .from()
        .and_then(|a| a.first())
        .expect("a From address");
    assert_eq!(from.address(), Some("news@xn--exmple-cua.com"));
    assert!(
        parsed
            .message_id()
            .unwrap()
            .ends_with("@xn--exmple-cua.com"),
        "{:?}",
        parsed.message_id()
    );
}

/// 15. Odd replies after the greeting (to EHLO, to AUTH) are fatal in plain words too, not a
///     parser's "error Tag at: …" retried as if the relay were busy.
#[test]
fn odd_replies_to_ehlo_or_auth_are_fatal_in_plain_words() {
    for step in ["EHLO", "AUTH"] {
        let server = ScriptedServer::start(move |ev| match (ev.stage, step) {
            (Stage::Ehlo, "EHLO") => Reply::text("600 what"),
            (Stage::Ehlo, _) => Reply::text("250-localhost\r\n250 AUTH PLAIN LOGIN"),
            (Stage::Other, _) => Reply::text("600 what"),
            _ => Reply::Default,
        });
        let spec = Spec {
            username: Some("news"),
            ..Spec::new(server.port)
        };
        let fx = Fixture::from_spec(&spec);
        let run = fx.send(&[], Some("pw"));
        let wanted = format!("the server's reply to {step} is not an SMTP reply");
        assert_fatal_at_connect(
            &fx,
            &run,
            server.port,
            &[&wanted, "check [smtp] host and port"],
        );
        assert!(!run.stderr.contains("Tag"), "{}", run.stderr);
    }
}
