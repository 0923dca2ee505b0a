//! Self-test of the SMTP test harness in `tests/support/`: starts each server and
//! talks to it with a raw TcpStream (or Python's smtplib for TLS, or Postfix's
//! smtp-source), so that a broken harness shows up here rather than as a
//! mysterious failure in the real tests.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{
    CaptureOptions, CaptureServer, RawClient, Reply, SMTP_SOURCE, ScriptedServer, SmtpSink, Stage,
    assert_same_bytes,
};

const WAIT: Duration = Duration::from_secs(10);

fn base64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const MESSAGE: &str = "From: Sender <sender@example.com>\r\n\
To: rcpt@example.com\r\n\
Subject: Harness self-test\r\n\
\r\n\
first line\r\n\
.line starting with a dot\r\n\
last line\r\n";

#[test]
fn capture_server_plain_records_envelope_and_bytes() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let (mut c, greeting) = RawClient::connect(server.port);
    assert!(greeting.starts_with("220"), "{greeting}");
    let ehlo = c.cmd("EHLO client.test");
    assert!(ehlo.starts_with("250"), "{ehlo}");
    assert!(
        !ehlo.contains("AUTH"),
        "AUTH advertised without --auth-user: {ehlo}"
    );
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(c.cmd("MAIL FROM:<sender@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<rcpt@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<other@example.com>").starts_with("250"));
    let r = c.data(MESSAGE);
    assert!(r.starts_with("250"), "{r}");
    assert!(c.cmd("QUIT").starts_with("221"));

    let msgs = server.wait_for(1, WAIT);
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    assert_eq!(m.seq, 1);
    assert_same_bytes(&m.raw, MESSAGE, "raw bytes, dot-unstuffed");
    assert_eq!(m.mail_from, "sender@example.com");
    assert_eq!(m.rcpt_tos, ["rcpt@example.com", "other@example.com"]);
    assert_eq!(m.auth_user, None);
    assert!(!m.tls);
    assert_eq!(m.parsed().subject(), Some("Harness self-test"));
    assert!(server.ca_pem().is_file());
}

#[test]
fn capture_server_auth_plain_and_login() {
    let server = CaptureServer::start(
        CaptureOptions::plain()
            .with_auth("alice", "s3cret")
            .require_auth(),
    );
    let (mut c, _) = RawClient::connect(server.port);
    let ehlo = c.cmd("EHLO client.test");
    assert!(
        ehlo.contains("AUTH") && ehlo.contains("PLAIN") && ehlo.contains("LOGIN"),
        "{ehlo}"
    );
    let r = c.cmd("MAIL FROM:<a@example.com>");
    assert!(r.starts_with("530"), "auth required: {r}");
    let r = c.cmd(&format!("AUTH PLAIN {}", base64(b"\0alice\0wrong")));
    assert!(r.starts_with("535"), "wrong password: {r}");
    let r = c.cmd(&format!("AUTH PLAIN {}", base64(b"\0alice\0s3cret")));
    assert!(r.starts_with("235"), "{r}");
    assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<b@example.com>").starts_with("250"));
    assert!(c.data(MESSAGE).starts_with("250"));
    c.cmd("QUIT");

    // AUTH LOGIN on a second connection.
    let (mut c, _) = RawClient::connect(server.port);
    c.cmd("EHLO client.test");
    assert!(c.cmd("AUTH LOGIN").starts_with("334"));
    assert!(c.cmd(&base64(b"alice")).starts_with("334"));
    let r = c.cmd(&base64(b"s3cret"));
    assert!(r.starts_with("235"), "{r}");
    assert!(c.cmd("MAIL FROM:<c@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<d@example.com>").starts_with("250"));
    assert!(c.data(MESSAGE).starts_with("250"));
    c.cmd("QUIT");

    let msgs = server.wait_for(2, WAIT);
    assert_eq!(msgs[0].auth_user.as_deref(), Some("alice"));
    assert_eq!(msgs[1].auth_user.as_deref(), Some("alice"));
    assert_eq!(msgs[1].mail_from, "c@example.com");
}

/// Sends one message with Python's smtplib, verifying the server certificate
/// against the server's CA for the host name `host`.
fn smtplib_send(server: &CaptureServer, host: &str, implicit: bool) {
    let script = r#"
import smtplib, ssl, sys
host, port, ca, implicit = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] == "1"
ctx = ssl.create_default_context(cafile=ca)
if implicit:
    s = smtplib.SMTP_SSL(host, port, context=ctx, timeout=10)
else:
    s = smtplib.SMTP(host, port, timeout=10)
    s.starttls(context=ctx)
s.login("bob", "pw")
s.sendmail("tls@example.com", ["r@example.com"], b"Subject: tls\r\n\r\nhello\r\n")
s.quit()
"#;
    let out = Command::new(support::python())
        .arg("-c")
        .arg(script)
        .arg(host)
        .arg(server.port.to_string())
        .arg(server.ca_pem())
        .arg(if implicit { "1" } else { "0" })
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "smtplib to {host} failed: {}\n--- server stderr ---\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.stderr()
    );
}

#[test]
fn capture_server_starttls_cert_valid_for_localhost_and_ip() {
    let server = CaptureServer::start(CaptureOptions::starttls().with_auth("bob", "pw"));
    // Plain MAIL is refused until STARTTLS.
    let (mut c, _) = RawClient::connect(server.port);
    let ehlo = c.cmd("EHLO client.test");
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    let r = c.cmd("MAIL FROM:<a@example.com>");
    assert!(r.starts_with("530"), "{r}");
    c.cmd("QUIT");

    smtplib_send(&server, "localhost", false);
    smtplib_send(&server, "127.0.0.1", false);
    let msgs = server.wait_for(2, WAIT);
    assert!(msgs.iter().all(|m| m.tls), "{msgs:?}");
    assert_eq!(msgs[0].auth_user.as_deref(), Some("bob"));
}

#[test]
fn capture_server_implicit_tls() {
    let server = CaptureServer::start(CaptureOptions::implicit_tls().with_auth("bob", "pw"));
    smtplib_send(&server, "localhost", true);
    smtplib_send(&server, "127.0.0.1", true);
    let msgs = server.wait_for(2, WAIT);
    assert!(msgs.iter().all(|m| m.tls), "{msgs:?}");
    assert_eq!(msgs[1].parsed().subject(), Some("tls"));
}

#[test]
fn smtp_sink_counts_messages() {
    let sink = SmtpSink::start();
    let (mut c, greeting) = RawClient::connect(sink.port);
    assert!(greeting.starts_with("220"), "{greeting}");
    assert!(c.cmd("EHLO client.test").starts_with("250"));
    for i in 0..3 {
        assert!(
            c.cmd(&format!("MAIL FROM:<s{i}@example.com>"))
                .starts_with("250")
        );
        assert!(c.cmd("RCPT TO:<r@example.com>").starts_with("250"));
        assert!(c.data(MESSAGE).starts_with("250"));
    }
    c.cmd("QUIT");
    let counters = sink.wait_for(3, WAIT);
    assert_eq!(counters.messages, 3);

    // Fault flags: -r RCPT answers every RCPT with a 4xx.
    let soft = SmtpSink::start_with(&["-r", "RCPT"]);
    let (mut c, _) = RawClient::connect(soft.port);
    c.cmd("EHLO client.test");
    c.cmd("MAIL FROM:<a@example.com>");
    let r = c.cmd("RCPT TO:<b@example.com>");
    assert!(r.starts_with("4"), "{r}");
}

#[test]
fn scripted_server_fault_injection() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd if ev.nth == 1 => Reply::text("451 4.7.1 try later"),
        Stage::Rcpt if ev.rcpt == Some("nobody@example.com") => {
            Reply::text("550 5.1.1 no such user")
        }
        Stage::Mail if ev.mail_from == Some("drop@example.com") => Reply::Drop,
        Stage::Mail if ev.mail_from == Some("stall@example.com") => {
            Reply::stall(Duration::from_millis(1500))
        }
        Stage::Data if ev.mail_from == Some("middata@example.com") => Reply::DropMidData(10),
        _ => Reply::Default,
    });

    let (mut c, greeting) = RawClient::connect(server.port);
    assert!(greeting.starts_with("220"), "{greeting}");
    let ehlo = c.cmd("EHLO client.test");
    assert_eq!(
        ehlo,
        "250-localhost\n250-SIZE 35882577\n250-8BITMIME\n250 SMTPUTF8"
    );
    // First message: 451 at end of DATA.
    assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<r@example.com>").starts_with("250"));
    assert_eq!(c.data(MESSAGE), "451 4.7.1 try later");
    // Retry: accepted; one recipient rejected.
    assert!(c.cmd("RSET").starts_with("250"));
    assert!(c.cmd("NOOP").starts_with("250"));
    assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
    assert_eq!(
        c.cmd("RCPT TO:<nobody@example.com>"),
        "550 5.1.1 no such user"
    );
    assert!(c.cmd("RCPT TO:<r@example.com>").starts_with("250"));
    assert!(c.data(MESSAGE).starts_with("250 2.0.0"));
    assert!(c.cmd("AUTH PLAIN AAAA").starts_with("502"));
    assert!(c.cmd("QUIT").starts_with("221"));

    // A dropped connection.
    let (mut c, _) = RawClient::connect(server.port);
    c.cmd("EHLO client.test");
    assert_eq!(c.cmd("MAIL FROM:<drop@example.com>"), "");

    // A stall: no reply for 1.5 s, then hang-up.
    let (mut c, _) = RawClient::connect(server.port);
    c.cmd("EHLO client.test");
    let t = Instant::now();
    assert_eq!(c.cmd("MAIL FROM:<stall@example.com>"), "");
    assert!(
        t.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        t.elapsed()
    );

    // Hang-up in the middle of DATA.
    let (mut c, _) = RawClient::connect(server.port);
    c.cmd("EHLO client.test");
    c.cmd("MAIL FROM:<middata@example.com>");
    c.cmd("RCPT TO:<r@example.com>");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send_raw(b"Subject: x\r\n");
    assert_eq!(c.read_reply(), "");

    assert_eq!(server.connections(), 4);
    let all = server.transactions();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].code, Some(451));
    assert!(!all[0].accepted());
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1);
    assert_same_bytes(
        &msgs[0].raw,
        MESSAGE,
        "the message the scripted server stored",
    );
    assert_eq!(msgs[0].mail_from, "a@example.com");
    assert_eq!(msgs[0].rcpt_tos, ["r@example.com"]);
    assert_eq!(msgs[0].conn, 1);
    assert_eq!(msgs[0].msg, 2);
    assert_eq!(msgs[0].parsed().subject(), Some("Harness self-test"));
    assert_eq!(server.count_commands("rset"), 1);
}

/// `data_ends()` holds a message as soon as its final "." is read: before a delayed reply is
/// sent, and also when the reply never comes (the client gave up and hung up).
#[test]
fn scripted_server_records_the_end_of_data_before_replying() {
    let server = ScriptedServer::start(|ev| match ev.stage {
        Stage::DataEnd if ev.nth == 1 => Reply::after(Duration::from_secs(2), Reply::Default),
        Stage::DataEnd => Reply::Drop,
        _ => Reply::Default,
    });
    let (mut c, _) = RawClient::connect(server.port);
    c.cmd("EHLO client.test");
    assert!(c.cmd("MAIL FROM:<a@example.com>").starts_with("250"));
    assert!(c.cmd("RCPT TO:<late@example.com>").starts_with("250"));
    assert!(c.cmd("DATA").starts_with("354"));
    c.send_raw(b"Subject: x\r\n\r\nbody\r\n.\r\n");
    let seen = server.wait_for_data_ends(1, WAIT);
    assert_eq!(seen[0].rcpt_tos, ["late@example.com"]);
    assert_eq!(seen[0].code, None);
    assert!(
        server.transactions().is_empty(),
        "the reply is not sent yet"
    );
    drop(c); // the client gives up before the reply

    let (mut c, _) = RawClient::connect(server.port);
    c.cmd("EHLO client.test");
    c.cmd("MAIL FROM:<a@example.com>");
    c.cmd("RCPT TO:<dropped@example.com>");
    assert_eq!(c.data(MESSAGE), "", "hung up instead of replying");
    let seen = server.wait_for_data_ends(2, WAIT);
    assert_eq!(seen[1].rcpt_tos, ["dropped@example.com"]);
    assert_same_bytes(&seen[1].raw, MESSAGE, "the message as the server read it");
    assert!(server.messages().is_empty(), "none accepted yet");
}

#[test]
fn scripted_server_takes_mail_from_smtp_source() {
    // Postfix's smtp-source as an independent client: 2 sessions x 3 messages.
    let server = ScriptedServer::accept_all();
    let out = Command::new(SMTP_SOURCE)
        .args(["-s", "2", "-m", "6", "-d", "-M", "localhost"])
        .args(["-f", "from@example.com", "-t", "to@example.com"])
        .args(["-S", "via smtp-source"])
        .arg(format!("127.0.0.1:{}", server.port))
        .output()
        .expect("run smtp-source");
    assert!(
        out.status.success(),
        "smtp-source: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msgs = server.wait_for(6, WAIT);
    assert_eq!(msgs.len(), 6);
    assert!(msgs.iter().all(|m| m.rcpt_tos == ["to@example.com"]));
    assert_eq!(msgs[0].parsed().subject(), Some("via smtp-source"));
    assert_eq!(server.connections(), 2);
}

#[test]
fn same_bytes_names_the_first_differing_line_with_context_escaped() {
    let left = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Hi\r\n\r\nbody\r\n";
    let right = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: Hi!\r\n\r\nbody\r\n";
    assert_same_bytes(left, left.as_slice(), "the same message");
    let report = support::difference(left, right, "the message");
    assert!(
        report.starts_with("the message: not the same bytes (left 61 bytes, right 62 bytes)"),
        "{report}"
    );
    assert!(
        report.contains("first difference on line 3, byte 12 of the line"),
        "{report}"
    );
    assert!(report.contains(">    3 | Subject: Hi\\r\\n"), "{report}");
    assert!(report.contains(">    3 | Subject: Hi!\\r\\n"), "{report}");
    assert!(
        report.contains("     1 | From: a@example.com\\r\\n"),
        "context before: {report}"
    );
    assert!(
        report.contains("     5 | body\\r\\n"),
        "context after: {report}"
    );
    let cut = support::difference(b"a\nb\n", b"a\n", "a file cut short");
    assert!(cut.contains(">    2 | (no such line: ends here)"), "{cut}");
    let panicked = std::panic::catch_unwind(|| assert_same_bytes(b"x\xff", b"x", "bytes"));
    assert!(panicked.is_err(), "a mismatch panics");
}
