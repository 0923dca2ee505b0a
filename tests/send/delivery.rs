//! What reaches the server: every recipient once with the right envelope, content and result
//! row, over reused sessions, at the configured rate; a row whose data css-inline refuses fails
//! that recipient only; a campaign without `[smtp]` or with a bad `--rate` sends nothing.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::campaign::{
    FROM, Fixture, HEADER, Spec, WAIT, assert_each_once, capture_rcpts, email, first_name,
    only_rcpt, row_for, scripted_rcpts,
};
use crate::support::{CaptureOptions, CaptureServer, Reply, ScriptedServer, Stage};

/// 1. A plain send reaches every recipient exactly once with the right envelope and content, and
///    the result log says so row by row, with the Message-ID the server saw.
#[test]
fn plain_send_delivers_each_recipient_once_and_logs_it() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 6,
        extra_rows: vec!["not-an-address,Bad", "R002@example.com,Again"],
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(0);
    assert!(
        run.stdout.contains("sent 6, failed 0, skipped 2"),
        "{run:?}"
    );

    let received = server.wait_for(6, WAIT);
    assert_eq!(received.len(), 6, "one message per recipient");
    assert_each_once(&capture_rcpts(&server), &spec.emails());

    let rows = fx.rows();
    let header = fx.results_text().lines().next().unwrap().to_string();
    assert_eq!(header, HEADER);
    for m in &received {
        assert_eq!(m.mail_from, FROM, "envelope sender");
        assert!(!m.tls);
        assert_eq!(m.auth_user, None);
        let to = only_rcpt(&m.rcpt_tos);
        let i: usize = to[1..4].parse().unwrap();
        let parsed = m.parsed();
        let subject = format!("Hello {}, the April news", first_name(i));
        assert_eq!(parsed.subject(), Some(subject.as_str()), "decoded subject");
        let html = parsed.body_html(0).expect("an HTML part");
        assert!(
            html.contains(&format!("Dear {},", first_name(i))),
            "HTML with the recipient's variable: {html}"
        );
        assert!(
            html.contains("#123456"),
            "the <style> rule is inlined: {html}"
        );
        assert!(parsed.body_text(0).is_some(), "a text part");
        let from = parsed.from().and_then(|f| f.first()).unwrap();
        assert_eq!(from.address(), Some(FROM));
        let to_header = parsed.to().and_then(|t| t.first()).unwrap();
        assert_eq!(to_header.address(), Some(to));

        let row = row_for(&rows, to);
        assert_eq!(row.status, "sent");
        assert_eq!(row.attempts, 1);
        assert_eq!(row.code, "250");
        let message_id = parsed.message_id().expect("a Message-ID header");
        assert_eq!(
            row.message_id, message_id,
            "log's message_id = received header"
        );
        assert!(!row.message_id.starts_with('<') && !row.message_id.ends_with('>'));
        assert!(
            m.text().contains(&format!("Message-ID: <{message_id}>"))
                || m.text().contains(&format!("Message-Id: <{message_id}>")),
            "the header on the wire is in angle brackets"
        );
    }
    let sent = fx.rows_with("sent");
    let ids: HashSet<&str> = sent.iter().map(|r| r.message_id.as_str()).collect();
    assert_eq!(ids.len(), 6, "a distinct Message-ID per message: {sent:#?}");

    let skipped = fx.rows_with("skipped");
    assert_eq!(skipped.len(), 2, "{rows:#?}");
    let invalid = row_for(&skipped, "not-an-address");
    assert!(invalid.detail.contains("invalid address"), "{invalid:?}");
    let duplicate = row_for(&skipped, "R002@example.com");
    assert!(duplicate.detail.contains("duplicate"), "{duplicate:?}");
    assert!(
        skipped
            .iter()
            .all(|r| r.attempts == 0 && r.code.is_empty() && r.message_id.is_empty())
    );
    assert_eq!(sent.len(), 6);
    assert_eq!(rows.len(), 8, "one row per CSV row: {rows:#?}");
}

/// 8. Sessions are reused: 50 messages over at most `concurrency` connections.
#[test]
fn sessions_are_reused_across_messages() {
    let server = ScriptedServer::accept_all();
    let spec = Spec {
        recipients: 50,
        concurrency: 2,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&[], None).expect(0);
    let messages = server.wait_for(50, WAIT);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    assert!(
        server.connections() <= 2,
        "{} connections for 50 messages with concurrency 2",
        server.connections()
    );
    assert_eq!(fx.rows_with("sent").len(), 50);
}

/// A `style` value from the first row that css-inline cannot parse fails that recipient only: the
/// first row is not a verdict on the campaign when a later one renders.
#[test]
fn css_inline_error_from_one_rows_data_fails_that_recipient_only() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = Fixture::from_spec(&Spec::new(server.port));
    fx.write(
        "email.html",
        "<html><head><style>p { color: red }</style></head>\
         <body><p style=\"{{ sty }}\">Dear {{ first_name }},</p></body></html>\n",
    );
    fx.write(
        "recipients.csv",
        "email,first_name,sty\n\
         r000@example.com,Ann,color\n\
         r001@example.com,Bob,font-weight: bold\n\
         r002@example.com,Cy,\n",
    );
    let run = fx.send(&[], None);
    run.expect(1);
    assert!(run.stdout.contains("sent 2, failed 1"), "{run:?}");
    let received = server.wait_for(2, WAIT);
    assert_each_once(&capture_rcpts(&server), &[email(1), email(2)]);
    assert_eq!(received.len(), 2);
    let rows = fx.rows();
    let failed = row_for(&rows, &email(0));
    assert_eq!(failed.status, "failed", "{rows:#?}");
    assert!(
        failed.detail.contains("not rendered: cannot inline CSS"),
        "{failed:?}"
    );
}

/// 11. `rate = "20/s"`: 30 messages take at least 1.4 s, and no one-second window of the server's
///     arrival times (the end of DATA, when a relay counts a message; less 40 ms allowed for
///     arrival jitter) holds more than 20.
#[test]
fn rate_limit_is_respected_at_the_server() {
    let arrivals = Arc::new(Mutex::new(Vec::<Instant>::new()));
    let server = {
        let arrivals = Arc::clone(&arrivals);
        ScriptedServer::start(move |ev| {
            if ev.stage == Stage::DataEnd {
                arrivals.lock().unwrap().push(Instant::now());
            }
            Reply::Default
        })
    };
    let spec = Spec {
        recipients: 30,
        concurrency: 4,
        rate: Some("20/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(0);
    let messages = server.wait_for(30, WAIT);
    assert_each_once(&scripted_rcpts(&messages), &spec.emails());
    assert!(
        run.elapsed >= Duration::from_millis(1400),
        "{:?}",
        run.elapsed
    );

    let mut t = arrivals.lock().unwrap().clone();
    t.sort();
    assert_eq!(t.len(), 30);
    assert!(
        t[29] - t[0] >= Duration::from_millis(1400),
        "29 intervals of 50 ms: {:?}",
        t[29] - t[0]
    );
    let gaps: Vec<u128> = t.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    // The pacer lets messages go at least 50 ms apart, so 21 consecutive ones span 1 s at the
    // client; a busy machine delays single arrivals by tens of ms (seen: 20 ms with both CPUs
    // saturated), so the window allows 40 ms of that. It still catches a start-up burst, a
    // missing limiter, or an interval of 1/21 s (21 messages in 952 ms).
    let window = Duration::from_secs(1) - Duration::from_millis(40);
    let busiest = (0..t.len())
        .map(|i| t[i..].iter().take_while(|&&x| x - t[i] < window).count())
        .max()
        .unwrap();
    let tightest = (20..t.len()).map(|i| t[i] - t[i - 20]).min().unwrap();
    eprintln!("rate: 21 messages span at least {tightest:?}; gaps (ms): {gaps:?}");
    assert!(
        busiest <= 20,
        "{busiest} messages in one second (21 span {tightest:?}); gaps (ms): {gaps:?}"
    );
}

/// 14. Configuration errors are exit 2 before anything is sent: no `[smtp]`, a bad `--rate`.
#[test]
fn missing_smtp_section_and_bad_rate_are_invalid() {
    let spec = Spec {
        smtp: false,
        ..Spec::new(1)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], None);
    run.expect(2);
    assert!(run.stderr.contains("no [smtp] section"), "{run:?}");

    let server = ScriptedServer::accept_all();
    let fx = Fixture::from_spec(&Spec::new(server.port));
    let run = fx.send(&["--rate", "nonsense"], None);
    run.expect(2);
    assert!(
        run.stderr.contains("--rate") && run.stderr.contains("nonsense"),
        "{run:?}"
    );
    assert_eq!(server.connections(), 0, "nothing sent");
}
