//! Issue 13 item 2: per-recipient attachments. An `attachments` entry holding `{{` or `{%` is a Tera
//! template naming each recipient's file (`"invoices/{{ customer_id }}.pdf"`). The real `campaign`
//! binary sends to the aiosmtpd capture server on 127.0.0.1 and each message is parsed back with
//! mail-parser: every recipient gets their own file (and the static ones), a missing file fails
//! that recipient alone, or with `attachments_missing = "skip"` is left out and named in the
//! result log; `check` counts who lacks their file; data cannot attach the campaign's secrets.

mod support;

use mail_parser::MimeHeaders;

use support::campaign::{Fixture, Spec, WAIT, row_for};
use support::{CaptureOptions, CaptureServer};

/// A campaign sending to `port` with `toml_top` before the generated settings, and one row per
/// `(email, customer_id)`.
fn campaign(port: u16, toml_top: &str, rows: &[(&str, &str)]) -> Fixture {
    let spec = Spec::new(port);
    let fx = Fixture::from_spec(&spec);
    fx.write("campaign.toml", &format!("{toml_top}\n{}", spec.toml()));
    let mut csv = String::from("email,first_name,customer_id\n");
    for (email, id) in rows {
        csv += &format!("{email},Ann,\"{id}\"\n");
    }
    fx.write("recipients.csv", &csv);
    fx
}

fn file(fx: &Fixture, rel: &str, bytes: &[u8]) {
    let path = fx.dir().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A few bytes that look like a PDF and differ per customer.
fn pdf(id: &str) -> Vec<u8> {
    format!("%PDF-1.4\n% invoice {id}\n\u{1}\u{2}\u{3}\n%%EOF\n").into_bytes()
}

/// The attachments of a received message: (file name, Content-Type, bytes).
fn attachments(message: &support::Received) -> Vec<(String, String, Vec<u8>)> {
    let parsed = message.parsed();
    let parts = parsed.attachments().map(|a| {
        let ct = a
            .content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
            .unwrap_or_default();
        (
            a.attachment_name().unwrap_or_default().to_string(),
            ct,
            a.contents().to_vec(),
        )
    });
    parts.collect()
}

fn received_by<'a>(received: &'a [support::Received], email: &str) -> &'a support::Received {
    received
        .iter()
        .find(|m| m.rcpt_tos[0] == email)
        .expect("received")
}

const INVOICE: &str = "attachments = [\"terms.txt\", \"invoices/{{ customer_id }}.pdf\"]";
const ROWS: [(&str, &str); 3] = [
    ("a@example.com", "41"),
    ("b@example.com", "42"),
    ("c@example.com", "43"),
];

#[test]
fn each_recipient_gets_their_own_file_and_a_missing_one_fails_that_recipient_alone() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = campaign(server.port, INVOICE, &ROWS);
    file(&fx, "terms.txt", b"Terms and conditions\n");
    file(&fx, "invoices/41.pdf", &pdf("41"));
    file(&fx, "invoices/43.pdf", &pdf("43"));
    fx.send(&[], None).expect(1);
    let received = server.wait_for(2, WAIT);
    assert_eq!(received.len(), 2);
    for (email, id) in [ROWS[0], ROWS[2]] {
        let got = attachments(received_by(&received, email));
        let terms = (
            "terms.txt".to_string(),
            "text/plain".to_string(),
            b"Terms and conditions\n".to_vec(),
        );
        let invoice = (format!("{id}.pdf"), "application/pdf".to_string(), pdf(id));
        assert_eq!(got, vec![terms, invoice], "{email}");
    }
    let rows = fx.rows();
    let failed = row_for(&rows, "b@example.com");
    assert_eq!(failed.status, "failed");
    assert_eq!(
        failed.detail,
        "not rendered: attachment \"invoices/42.pdf\": no such file"
    );
    assert_eq!(row_for(&rows, "a@example.com").status, "sent");
}

#[test]
fn with_skip_the_message_goes_without_the_missing_file_and_the_log_says_so() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let top = format!("{INVOICE}\nattachments_missing = \"skip\"");
    let fx = campaign(server.port, &top, &ROWS);
    file(&fx, "terms.txt", b"Terms\n");
    file(&fx, "invoices/41.pdf", &pdf("41"));
    file(&fx, "invoices/43.pdf", &pdf("43"));
    fx.send(&[], None).expect(0);
    let received = server.wait_for(3, WAIT);
    let without = attachments(received_by(&received, "b@example.com"));
    let names: Vec<&str> = without.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["terms.txt"]);
    let rows = fx.rows();
    let row = row_for(&rows, "b@example.com");
    assert_eq!(row.status, "sent");
    assert!(
        row.detail
            .starts_with("sent without invoices/42.pdf (missing); "),
        "{row:?}"
    );
    assert!(
        !row_for(&rows, "a@example.com")
            .detail
            .contains("sent without")
    );
}

#[test]
fn check_counts_the_recipients_who_lack_their_file() {
    let rows = [
        ("a@example.com", "1"),
        ("b@example.com", "2"),
        ("c@example.com", "3"),
        ("d@example.com", "4"),
        ("e@example.com", "5"),
    ];
    let fx = campaign(
        2525,
        "attachments = [\"invoices/{{ customer_id }}.pdf\"]",
        &rows,
    );
    for id in ["1", "3", "5"] {
        file(&fx, &format!("invoices/{id}.pdf"), &pdf(id));
    }
    let before = fx.snapshot();
    let run = fx.run("check", &[]);
    assert_eq!(run.code, 2, "{run:#?}");
    let said =
        "attachment `invoices/{{ customer_id }}.pdf`: 2 recipients lack their file (lines 3, 5)";
    let line = run.stdout.lines().find(|l| l.contains(said));
    assert!(
        line.is_some_and(|l| l.starts_with("error")),
        "{}",
        run.stdout
    );
    assert_eq!(fx.snapshot(), before, "check wrote nothing");

    let skip = "attachments = [\"invoices/{{ customer_id }}.pdf\"]\nattachments_missing = \"skip\"";
    fx.write(
        "campaign.toml",
        &format!("{skip}\n{}", Spec::new(2525).toml()),
    );
    let run = fx.run("check", &[]);
    assert_eq!(run.code, 0, "{run:#?}");
    let line = run.stdout.lines().find(|l| l.contains(said));
    assert!(
        line.is_some_and(|l| l.starts_with("warning")),
        "{}",
        run.stdout
    );
}

#[test]
fn the_dry_run_lists_the_recipient_whose_file_is_missing() {
    let fx = campaign(
        2525,
        "attachments = [\"invoices/{{ customer_id }}.pdf\"]",
        &ROWS,
    );
    file(&fx, "invoices/41.pdf", &pdf("41"));
    file(&fx, "invoices/43.pdf", &pdf("43"));
    let run = fx.dry_run(&[]);
    assert_eq!(run.code, 1, "{run:#?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("attachment \"invoices/42.pdf\": no such file"),
        "{all}"
    );
}

#[test]
fn data_chosen_attachment_paths_cannot_attach_the_campaigns_secrets() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let canary = "CANARY-7f3a-secret";
    let names = [
        ".env",
        "campaign.toml",
        "recipients.csv",
        "../outside.txt",
        "/etc/hostname",
        "out/link.txt",
        "folder",
        "private/.key",
        "ok.txt",
    ];
    let rows: Vec<(String, &str)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (support::campaign::email(i), *n))
        .collect();
    let rows: Vec<(&str, &str)> = rows.iter().map(|(e, n)| (e.as_str(), *n)).collect();
    let fx = campaign(server.port, "attachments = [\"{{ customer_id }}\"]", &rows);
    fx.write(".env", &format!("CAMPAIGN_SMTP_PASSWORD={canary}\n"));
    std::fs::write(fx.root().join("outside.txt"), canary).unwrap();
    std::fs::create_dir_all(fx.dir().join("out")).unwrap();
    std::os::unix::fs::symlink(fx.root().join("outside.txt"), fx.dir().join("out/link.txt"))
        .unwrap();
    std::fs::create_dir_all(fx.dir().join("folder")).unwrap();
    file(&fx, "private/.key", canary.as_bytes());
    file(&fx, "ok.txt", b"fine\n");
    fx.send(&[], None).expect(1);
    let received = server.wait_for(1, WAIT);
    assert_eq!(received.len(), 1, "only ok.txt is attached");
    assert_eq!(attachments(&received[0])[0].2, b"fine\n");
    let rows = fx.rows();
    for (i, name) in names.iter().enumerate().take(names.len() - 1) {
        let row = row_for(&rows, &support::campaign::email(i));
        assert_eq!(row.status, "failed", "{row:?}");
        assert!(
            row.detail
                .starts_with(&format!("not rendered: attachment {name:?}: ")),
            "{row:?}"
        );
        assert!(!row.detail.contains(canary));
    }
    for message in server.messages() {
        assert!(!message.text().contains(canary));
    }
}

#[test]
fn a_file_name_that_is_not_ascii_is_rfc_2231_encoded() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = campaign(
        server.port,
        "attachments = [\"factures/{{ customer_id }}\"]",
        &[("a@example.com", "facture-été 2026.pdf")],
    );
    file(&fx, "factures/facture-été 2026.pdf", &pdf("é"));
    fx.send(&[], None).expect(0);
    let received = server.wait_for(1, WAIT);
    let got = attachments(&received[0]);
    assert_eq!(got[0].0, "facture-été 2026.pdf");
    assert_eq!(got[0].2, pdf("é"));
    assert!(
        received[0].text().contains("filename*"),
        "RFC 2231: {}",
        received[0].text()
    );
}

#[test]
fn a_file_over_the_size_cap_fails_that_recipient() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = campaign(
        server.port,
        "attachments = [\"{{ customer_id }}\"]",
        &[("a@example.com", "big.bin"), ("b@example.com", "small.bin")],
    );
    let big = std::fs::File::create(fx.dir().join("big.bin")).unwrap();
    big.set_len(16_000_000).unwrap();
    file(&fx, "small.bin", b"small");
    fx.send(&[], None).expect(1);
    assert_eq!(server.wait_for(1, WAIT).len(), 1);
    let rows = fx.rows();
    let row = row_for(&rows, "a@example.com");
    assert_eq!(row.status, "failed");
    assert!(row.detail.contains("over the 15 MB"), "{row:?}");
}

#[test]
fn bad_attachment_settings_are_reported_together_before_anything_is_sent() {
    let top = "attachments = [\"invoices/{{ customer_id .pdf\"]\nattachments_missing = \"ignore\"";
    let fx = campaign(2525, top, &ROWS);
    let run = fx.run("check", &[]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("is not a valid template"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("attachments_missing = \"ignore\" is not one of"),
        "{}",
        run.stderr
    );
    assert!(!fx.results_path().exists());
}

#[test]
fn an_undefined_variable_in_an_attachment_template_is_the_campaigns_error() {
    let fx = campaign(
        2525,
        "attachments = [\"invoices/{{ customer }}.pdf\"]",
        &ROWS,
    );
    let run = fx.dry_run(&[]);
    assert_eq!(run.code, 2, "{run:#?}");
    let said = "attachment `invoices/{{ customer }}.pdf`: undefined variable `customer`";
    assert!(run.stderr.contains(said), "{}", run.stderr);
}

#[test]
fn an_attachment_template_cannot_read_the_smtp_password() {
    let top = "attachments = [\"{{ get_env(name=\\\"CAMPAIGN_SMTP_PASSWORD\\\") }}.txt\"]";
    let fx = campaign(2525, top, &ROWS);
    let run = fx.send(&["--dry-run"], Some(support::campaign::PASSWORD));
    run.expect(2);
    assert!(run.stderr.contains("get_env"), "{}", run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(!all.contains(support::campaign::PASSWORD), "{all}");
}

#[test]
fn an_attachment_name_is_not_html_escaped() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = campaign(
        server.port,
        "attachments = [\"{{ customer_id }}.html\"]",
        &[("a@example.com", "docs/Q&A")],
    );
    file(&fx, "docs/Q&A.html", b"<p>answers</p>");
    fx.send(&[], None).expect(0);
    let got = attachments(&server.wait_for(1, WAIT)[0]);
    assert_eq!(
        (got[0].0.as_str(), got[0].1.as_str()),
        ("Q&A.html", "text/html")
    );
}

/// Missing files are the recipients' own problem even when the first rows all lack theirs: the
/// up-front render must not take it for a template error and refuse the campaign.
#[test]
fn missing_files_in_the_first_rows_do_not_refuse_the_campaign() {
    let fx = campaign(
        2525,
        "attachments = [\"invoices/{{ customer_id }}.pdf\"]",
        &ROWS,
    );
    let run = fx.dry_run(&[]);
    assert_eq!(
        run.code, 1,
        "each recipient fails, the campaign is not refused: {run:#?}"
    );
    let all = format!("{}{}", run.stdout, run.stderr);
    for id in ["41", "42", "43"] {
        assert!(
            all.contains(&format!("attachment \"invoices/{id}.pdf\": no such file")),
            "{all}"
        );
    }
}
