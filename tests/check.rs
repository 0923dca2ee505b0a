//! Integration tests for `campaign check` as a deliverability lint: every content rule is triggered
//! by a purpose-built campaign (and absent from a clean one), and `--dns` is run against a real DNS
//! server on 127.0.0.1: dnsmasq (Debian's `dnsmasq-base`, installed by `tests/support/setup.sh`)
//! serving only the records each test gives it. No test queries any other address. Keys are made
//! with the openssl CLI.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use support::fixture::{Fixture, Run, openssl, rsa_key};

// ------------------------------------------------------------------ fixtures ---

const FROM: &str = "Acme News <news@acme.example>";

/// Enough visible text (well over 500 characters) for one image.
const PARAGRAPHS: &str = "<p>Spring is here, and so is our April issue. This month we look at the \
    new Rocket Skates, five weekend projects for your workshop, and the story of how every Giant \
    Magnet spends a week next to a very nervous anvil before it ships to you.</p>\n\
    <p>We also answer the three questions readers asked most since March: how to upgrade an old \
    pair of skates, where to find the spare parts for the solar bird feeder, and why the magnet \
    never ships in the same parcel as the anvil. As always, reply to this message if you have a \
    question of your own; a real person reads every reply.</p>\n";

/// The HTML of the clean campaign: text, one image with alt, https links.
fn clean_html() -> String {
    format!(
        "<!DOCTYPE html><html><head><title>April</title></head><body>\n\
         <h1>Hello {{{{ first_name }}}}</h1>\n{PARAGRAPHS}\
         <img src=\"https://cdn.acme.example/skates.jpg\" alt=\"Rocket Skates 2.0\">\n\
         <p><a href=\"https://acme.example/blog\">Read more on the blog</a></p>\n\
         </body></html>\n"
    )
}

/// A CSV of `n` recipients with a `first_name` and a `headline` column.
fn recipients(n: usize) -> String {
    let mut csv = String::from("email,first_name,headline\n");
    for i in 1..=n {
        csv.push_str(&format!("reader{i}@example.com,Reader{i},Spring news\n"));
    }
    csv
}

/// campaign.toml of the clean campaign with `[dkim]` using `dkim.pem`.
fn clean_toml() -> String {
    format!(
        "subject = \"April news for {{{{ first_name }}}}\"\n\
         from = \"{FROM}\"\n\
         [unsubscribe]\n\
         url = \"https://acme.example/unsubscribe?e={{{{ email | urlencode }}}}\"\n\
         mailto = \"unsubscribe@acme.example\"\n\
         [dkim]\n\
         domain = \"acme.example\"\n\
         selector = \"s1\"\n\
         private_key = \"dkim.pem\"\n"
    )
}

/// A campaign with `toml`, `html` and `n` recipients, and a fresh RSA key in `dkim.pem`.
fn campaign(toml: &str, html: &str, n: usize) -> Fixture {
    let fixture = Fixture::with(toml, html, &recipients(n));
    rsa_key(&fixture.dir().join("dkim.pem"));
    fixture
}

fn check(fixture: &Fixture, extra: &[&str]) -> Run {
    fixture.run("check", extra)
}

/// The lines of stdout that start with `label: ` (error, warning, note).
fn lines<'o>(out: &'o Run, label: &str) -> Vec<&'o str> {
    let prefix = format!("{label}: ");
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

/// The one warning containing `needle`; fails when there is none or more than one.
fn warning<'o>(out: &'o Run, needle: &str) -> &'o str {
    let found: Vec<&str> = lines(out, "warning")
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "want one warning with {needle:?}: {out:#?}");
    found[0]
}

/// The `why:` and `fix:` lines printed under the problem whose line contains `needle`.
fn explanation<'o>(out: &'o Run, needle: &str) -> (&'o str, &'o str) {
    let all: Vec<&str> = out.stdout.lines().collect();
    let at = all
        .iter()
        .position(|l| !l.starts_with(' ') && l.contains(needle))
        .unwrap_or_else(|| panic!("no problem with {needle:?}: {out:#?}"));
    let why = all
        .get(at + 1)
        .and_then(|l| l.strip_prefix("  why: "))
        .unwrap_or_else(|| panic!("no why: under {needle:?}: {out:#?}"));
    let fix = all
        .get(at + 2)
        .and_then(|l| l.strip_prefix("  fix: "))
        .unwrap_or_else(|| panic!("no fix: under {needle:?}: {out:#?}"));
    (why, fix)
}

fn assert_clean(out: &Run) {
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(lines(out, "warning").is_empty(), "{out:#?}");
    assert!(lines(out, "error").is_empty(), "{out:#?}");
    assert!(out.stdout.contains("0 error(s), 0 warning(s)."), "{out:#?}");
}

// ---------------------------------------------------------------- openssl ---

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Writes a 2048-bit RSA key in PKCS#1 PEM ("BEGIN RSA PRIVATE KEY") to `path`.
fn rsa_key_pkcs1(path: &Path) {
    openssl(&["genrsa", "-traditional", "-out", path_str(path), "2048"]);
    let pem = std::fs::read_to_string(path).unwrap();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pem}");
}

/// Writes an Ed25519 key (PKCS#8 PEM) to `path`.
fn ed25519_key(path: &Path) {
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", path_str(path)]);
}

/// The SubjectPublicKeyInfo (DER) of the private key in `path`.
fn spki(path: &Path) -> Vec<u8> {
    openssl(&["pkey", "-in", path_str(path), "-pubout", "-outform", "DER"])
}

/// The DKIM record value for the RSA key in `path`: p= is the base64 SubjectPublicKeyInfo.
fn rsa_record(path: &Path) -> String {
    format!("v=DKIM1; k=rsa; p={}", BASE64.encode(spki(path)))
}

/// The DKIM record value for the Ed25519 key in `path`: p= is the raw 32-byte key (RFC 8463),
/// the last 32 bytes of its SubjectPublicKeyInfo.
fn ed25519_record(path: &Path) -> String {
    let der = spki(path);
    assert_eq!(der.len(), 44);
    format!("v=DKIM1; k=ed25519; p={}", BASE64.encode(&der[12..]))
}

// ----------------------------------------------------------- content lints ---

#[test]
fn a_clean_campaign_has_no_warnings() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let out = check(&fixture, &["--strict"]);
    assert_clean(&out);
    assert!(out.stdout.contains("rendered 6 recipient(s)"), "{out:#?}");
}

#[test]
fn no_list_unsubscribe_on_more_than_five_recipients() {
    let toml = clean_toml().replace(
        "[unsubscribe]\nurl = \"https://acme.example/unsubscribe?e={{ email | urlencode }}\"\n\
         mailto = \"unsubscribe@acme.example\"\n",
        "",
    );
    assert!(!toml.contains("unsubscribe"), "{toml}");
    let fixture = campaign(&toml, &clean_html(), 6);
    let out = check(&fixture, &[]);
    assert_eq!(out.code, 0, "warnings alone exit 0: {out:#?}");
    let text = warning(&out, "no List-Unsubscribe header");
    assert!(text.contains("all 6 messages"), "{text}");
    let (why, fix) = explanation(&out, "no List-Unsubscribe header");
    assert!(why.contains("Gmail and Yahoo"), "{why}");
    assert!(fix.contains("[unsubscribe] url = \"https://"), "{fix}");
    assert_eq!(check(&fixture, &["--strict"]).code, 2);

    // Five recipients or fewer: not a bulk send, no warning.
    let small = campaign(&toml, &clean_html(), 5);
    assert_clean(&check(&small, &["--strict"]));
}

#[test]
fn a_mailto_only_unsubscribe_is_not_one_click() {
    let toml = clean_toml().replace(
        "url = \"https://acme.example/unsubscribe?e={{ email | urlencode }}\"\n",
        "",
    );
    let fixture = campaign(&toml, &clean_html(), 6);
    let out = check(&fixture, &[]);
    let text = warning(&out, "no one-click unsubscribe");
    assert!(text.contains("all 6 messages"), "{text}");
    assert!(
        !out.stdout.contains("no List-Unsubscribe header"),
        "{out:#?}"
    );
}

#[test]
fn an_image_only_message_has_no_text_alternative_and_is_image_heavy() {
    let html = "<html><body><a href=\"https://acme.example/sale\">\
                <img src=\"https://cdn.acme.example/sale.png\" alt=\"\"></a></body></html>";
    let fixture = campaign(&clean_toml(), html, 6);
    let out = check(&fixture, &[]);
    let text = warning(&out, "plain-text alternative is empty or nearly empty");
    assert!(text.contains("all 6 messages"), "{text}");
    let (_, fix) = explanation(&out, "plain-text alternative");
    assert!(fix.contains("derived from email.html"), "{fix}");
    let heavy = warning(&out, "image-heavy message");
    assert!(
        heavy.contains("1 image(s), 0 characters of text"),
        "{heavy}"
    );
}

#[test]
fn an_empty_text_template_is_no_text_alternative() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6).file("email.txt", "{{ first_name }}\n");
    let out = check(&fixture, &[]);
    warning(&out, "plain-text alternative is empty or nearly empty");
    let (_, fix) = explanation(&out, "plain-text alternative");
    assert!(fix.contains("text template email.txt"), "{fix}");
    // A real text template is fine.
    let good = campaign(&clean_toml(), &clean_html(), 6).file(
        "email.txt",
        "Hello {{ first_name }},\n\nSpring is here, and so is our April issue.\n",
    );
    assert_clean(&check(&good, &["--strict"]));
}

#[test]
fn html_over_102_kb_is_clipped_by_gmail() {
    let mut html = clean_html();
    let filler = "<p>Filler paragraph to make the message large enough for Gmail to clip it.</p>\n";
    let body = filler.repeat(103 * 1024 / filler.len() + 1);
    html = html.replace("</body>", &format!("{body}</body>"));
    let fixture = campaign(&clean_toml(), &html, 6);
    let out = check(&fixture, &[]);
    let text = warning(&out, "the HTML part is over 102 KB");
    assert!(text.contains("all 6 messages"), "{text}");
    let (why, _) = explanation(&out, "over 102 KB");
    assert!(why.contains("Gmail clips"), "{why}");

    // Just under the limit: no warning.
    let under = clean_html().replace("</body>", &format!("{}</body>", filler.repeat(1200)));
    assert!(under.len() < 100 * 1024);
    assert_clean(&check(&campaign(&clean_toml(), &under, 6), &[]));
}

#[test]
fn many_images_with_little_text_are_image_heavy() {
    let html = "<html><body><h1>Sale</h1><p>Our spring sale starts today: every pair of skates is \
                20% off until Sunday.</p>\
                <img src=\"https://cdn.acme.example/1.png\" alt=\"Skates\">\
                <img src=\"https://cdn.acme.example/2.png\" alt=\"Magnet\">\
                <img src=\"https://cdn.acme.example/3.png\" alt=\"Anvil\">\
                <img src=\"https://t.acme.example/open.gif\" width=\"1\" height=\"1\" alt=\"\">\
                </body></html>";
    let fixture = campaign(&clean_toml(), html, 6);
    let out = check(&fixture, &[]);
    let text = warning(&out, "image-heavy message");
    // The tracking pixel does not count as an image.
    assert!(text.contains(": 3 image(s), "), "{text}");
    // Text enough for the text part, so that warning is absent.
    assert!(!out.stdout.contains("plain-text alternative"), "{out:#?}");
}

#[test]
fn images_without_alt() {
    let html = clean_html().replace(
        "</body>",
        "<img src=\"https://cdn.acme.example/banner.png\"></body>",
    );
    let fixture = campaign(&clean_toml(), &html, 6);
    let out = check(&fixture, &[]);
    let text = warning(&out, "images without an alt attribute");
    assert!(
        text.contains(
            "1 image(s) without alt, e.g. <img src=\"https://cdn.acme.example/banner.png\">"
        ),
        "{text}"
    );
    let (_, fix) = explanation(&out, "without an alt attribute");
    assert!(fix.contains("alt=\"\""), "{fix}");
}

#[test]
fn http_links_and_images() {
    let html = clean_html()
        .replace("https://acme.example/blog", "http://acme.example/blog")
        .replace(
            "https://cdn.acme.example/skates.jpg",
            "HTTP://cdn.acme.example/skates.jpg",
        );
    let fixture = campaign(&clean_toml(), &html, 6);
    let out = check(&fixture, &[]);
    let text = warning(&out, "http:// links or images");
    assert!(text.contains("2 http:// URL(s)"), "{text}");
    assert!(
        text.contains("HTTP://cdn.acme.example/skates.jpg"),
        "{text}"
    );
    let (_, fix) = explanation(&out, "http:// links");
    assert!(fix.contains("https://"), "{fix}");
}

#[test]
fn subject_in_all_caps_is_reported_once_with_a_count() {
    let toml = clean_toml().replace(
        "subject = \"April news for {{ first_name }}\"",
        "subject = \"{{ headline }}\"",
    );
    let mut csv = String::from("email,first_name,headline\n");
    for i in 1..=6 {
        let headline = if i == 3 || i == 5 {
            "HUGE SPRING SALE"
        } else {
            "Spring news"
        };
        csv.push_str(&format!("reader{i}@example.com,Reader{i},{headline}\n"));
    }
    let fixture = campaign(&toml, &clean_html(), 6).file("recipients.csv", csv);
    let out = check(&fixture, &[]);
    let text = warning(&out, "the subject is in ALL CAPS");
    // Lines 4 and 6 of the CSV (the header is line 1); the first one is the example.
    assert!(text.contains("2 of 6 messages"), "{text}");
    assert!(
        text.contains("first: line 4 (reader3@example.com): \"HUGE SPRING SALE\""),
        "{text}"
    );
    assert!(!out.stdout.contains("!!!"), "{out:#?}");
}

#[test]
fn subject_with_three_exclamation_marks() {
    let toml = clean_toml().replace(
        "April news for {{ first_name }}",
        "Last chance {{ first_name }}!!!",
    );
    let out = check(&campaign(&toml, &clean_html(), 6), &[]);
    let text = warning(&out, "the subject contains \"!!!\"");
    assert!(text.contains("all 6 messages"), "{text}");
    assert!(!out.stdout.contains("ALL CAPS"), "{out:#?}");
}

#[test]
fn a_million_recipients_would_still_make_one_warning_per_rule() {
    // 400 recipients stand in for a long list: each rule is one line with the count.
    let toml = clean_toml().replace(
        "April news for {{ first_name }}",
        "APRIL NEWS FOR {{ first_name | upper }}",
    );
    let html = clean_html().replace(" alt=\"Rocket Skates 2.0\"", "");
    let fixture = campaign(&toml, &html, 400);
    let out = check(&fixture, &[]);
    assert!(out.stdout.contains("rendered 400 recipient(s)"), "{out:#?}");
    let caps = warning(&out, "ALL CAPS");
    assert!(caps.contains("all 400 messages"), "{caps}");
    let alt = warning(&out, "without an alt attribute");
    assert!(alt.contains("all 400 messages"), "{alt}");
    assert_eq!(lines(&out, "warning").len(), 2, "{out:#?}");
    assert!(out.stdout.contains("0 error(s), 2 warning(s)."), "{out:#?}");
}

#[test]
fn no_dkim_section() {
    let toml = clean_toml().replace(
        "[dkim]\ndomain = \"acme.example\"\nselector = \"s1\"\nprivate_key = \"dkim.pem\"\n",
        "",
    );
    assert!(!toml.contains("dkim"), "{toml}");
    let out = check(&campaign(&toml, &clean_html(), 6), &[]);
    warning(&out, "no [dkim] section");
    let (_, fix) = explanation(&out, "no [dkim] section");
    assert!(fix.contains("domain = \"acme.example\""), "{fix}");
}

#[test]
fn dkim_domain_must_align_with_the_from_domain() {
    let misaligned = clean_toml().replace("domain = \"acme.example\"", "domain = \"esp.example\"");
    let out = check(&campaign(&misaligned, &clean_html(), 6), &[]);
    let text = warning(&out, "is not aligned with the From domain");
    assert!(text.contains("d=esp.example"), "{text}");
    assert!(text.contains("acme.example"), "{text}");

    // A parent or subdomain is aligned (relaxed alignment); a look-alike suffix is not.
    let parent = clean_toml().replace(FROM, "Acme News <news@mail.acme.example>");
    assert_clean(&check(&campaign(&parent, &clean_html(), 6), &["--strict"]));
    let lookalike = clean_toml().replace(FROM, "Acme News <news@notacme.example>");
    let out = check(&campaign(&lookalike, &clean_html(), 6), &[]);
    warning(&out, "is not aligned with the From domain");
}

#[test]
fn a_no_reply_from_needs_a_reply_to() {
    for from in [
        "noreply@acme.example",
        "No-Reply <no-reply@acme.example>",
        "do-not-reply@acme.example",
        "donotreply@acme.example",
    ] {
        let toml = clean_toml().replace(FROM, from);
        let out = check(&campaign(&toml, &clean_html(), 6), &[]);
        let text = warning(&out, "From is a no-reply address");
        assert!(text.contains("there is no reply_to"), "{text}");
        let (_, fix) = explanation(&out, "no-reply address");
        assert!(fix.contains("reply_to ="), "{fix}");
    }
    let with_reply_to = clean_toml().replace(
        &format!("from = \"{FROM}\"\n"),
        "from = \"noreply@acme.example\"\nreply_to = \"support@acme.example\"\n",
    );
    assert_clean(&check(
        &campaign(&with_reply_to, &clean_html(), 6),
        &["--strict"],
    ));
}

#[test]
fn strict_turns_warnings_into_exit_code_2() {
    let toml = clean_toml().replace(
        "April news for {{ first_name }}",
        "APRIL NEWS FOR {{ first_name | upper }}",
    );
    let fixture = campaign(&toml, &clean_html(), 6);
    let relaxed = check(&fixture, &[]);
    assert_eq!(relaxed.code, 0, "{relaxed:#?}");
    assert!(
        relaxed.stdout.contains("0 error(s), 1 warning(s)."),
        "{relaxed:#?}"
    );
    assert_eq!(check(&fixture, &["--strict"]).code, 2);
}

#[test]
fn resolver_needs_dns_and_a_valid_address() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let out = check(&fixture, &["--resolver", "127.0.0.1:5353"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("--dns"), "{out:#?}");
    let out = check(&fixture, &["--dns", "--resolver", "dns.example"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("not a resolver address"), "{out:#?}");
}

// ------------------------------------------------------------- DNS (dnsmasq) ---

/// dnsmasq serving the given TXT records for `acme.example` and below (and nothing else: other
/// names there are NXDOMAIN), on 127.0.0.1 only. Stopped when dropped.
struct Dnsmasq {
    child: Child,
    port: u16,
}

fn dnsmasq_bin() -> PathBuf {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect(
            "dnsmasq is not installed: run `bash tests/support/setup.sh` (Debian: dnsmasq-base)",
        )
}

impl Dnsmasq {
    /// Starts dnsmasq with `records`: (name, value) pairs; values longer than 255 characters are
    /// split into several strings of one TXT record, as a zone file would have them.
    fn start(records: &[(&str, &str)]) -> Dnsmasq {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("bind 127.0.0.1:0")
                .port();
            let mut command = Command::new(dnsmasq_bin());
            command.args([
                "--no-daemon",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--conf-file=/dev/null",
                "--pid-file",
                "--local=/acme.example/",
            ]);
            for (name, value) in records {
                let strings: Vec<&str> = value
                    .as_bytes()
                    .chunks(200)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                command.arg(format!("--txt-record={name},{}", strings.join(",")));
            }
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start dnsmasq");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().expect("poll dnsmasq").is_some() {
                    break; // it exited: most likely the port was taken; try another
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Dnsmasq { child, port };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dnsmasq did not start listening on 127.0.0.1");
    }

    fn resolver(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check_dns(fixture: &Fixture, dns: &Dnsmasq, extra: &[&str]) -> Run {
    let resolver = dns.resolver();
    let mut args = vec!["--dns", "--resolver", resolver.as_str()];
    args.extend_from_slice(extra);
    check(fixture, &args)
}

const SPF: &str = "v=spf1 mx -all";
const DMARC: &str = "v=DMARC1; p=quarantine; rua=mailto:dmarc@acme.example";

#[test]
fn dns_all_records_present_and_matching() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let dkim = rsa_record(&fixture.dir().join("dkim.pem"));
    assert!(dkim.len() > 255, "the record is split into strings");
    let dns = Dnsmasq::start(&[
        ("acme.example", SPF),
        ("s1._domainkey.acme.example", &dkim),
        ("_dmarc.acme.example", DMARC),
    ]);
    let out = check_dns(&fixture, &dns, &["--strict"]);
    assert_clean(&out);
    let notes = lines(&out, "note");
    assert!(
        notes.contains(&"SPF at acme.example: v=spf1 mx -all"),
        "{out:#?}"
    );
    assert!(
        notes.contains(&"DKIM at s1._domainkey.acme.example: the published key matches the configured private key"),
        "{out:#?}"
    );
    assert!(
        notes.contains(&"DMARC at _dmarc.acme.example: policy p=quarantine"),
        "{out:#?}"
    );
}

#[test]
fn dns_missing_spf_and_dmarc_are_warnings_naming_the_record() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let dkim = rsa_record(&fixture.dir().join("dkim.pem"));
    let dns = Dnsmasq::start(&[("s1._domainkey.acme.example", &dkim)]);
    let out = check_dns(&fixture, &dns, &[]);
    assert_eq!(out.code, 0, "warnings only: {out:#?}");
    assert!(lines(&out, "error").is_empty(), "{out:#?}");
    warning(&out, "no SPF record at acme.example");
    let (_, fix) = explanation(&out, "no SPF record");
    assert!(
        fix.contains("acme.example. IN TXT \"v=spf1 include:"),
        "{fix}"
    );
    warning(&out, "no DMARC record at _dmarc.acme.example");
    let (_, fix) = explanation(&out, "no DMARC record");
    assert!(
        fix.contains(
            "_dmarc.acme.example. IN TXT \"v=DMARC1; p=none; rua=mailto:dmarc-reports@acme.example\""
        ),
        "{fix}"
    );
    assert!(out.stdout.contains("0 error(s), 2 warning(s)."), "{out:#?}");
    assert_eq!(check_dns(&fixture, &dns, &["--strict"]).code, 2);
}

#[test]
fn dns_spf_suggestion_names_the_smtp_host() {
    let toml = format!("{}[smtp]\nhost = \"smtp.acme.example\"\n", clean_toml());
    let fixture = campaign(&toml, &clean_html(), 6);
    let dkim = rsa_record(&fixture.dir().join("dkim.pem"));
    let dns = Dnsmasq::start(&[
        ("s1._domainkey.acme.example", &dkim),
        ("_dmarc.acme.example", DMARC),
    ]);
    let out = check_dns(&fixture, &dns, &[]);
    let (_, fix) = explanation(&out, "no SPF record");
    assert!(
        fix.contains("acme.example. IN TXT \"v=spf1 a:smtp.acme.example ~all\""),
        "{fix}"
    );
}

#[test]
fn dns_dkim_record_with_another_key_is_an_error() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let other = fixture.root().join("other.pem");
    rsa_key(&other);
    let dns = Dnsmasq::start(&[
        ("acme.example", SPF),
        ("s1._domainkey.acme.example", &rsa_record(&other)),
        ("_dmarc.acme.example", DMARC),
    ]);
    // An error even without --strict: every signature would fail.
    let out = check_dns(&fixture, &dns, &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    let errors = lines(&out, "error");
    assert_eq!(errors.len(), 1, "{out:#?}");
    assert!(
        errors[0]
            .contains("the DKIM record at s1._domainkey.acme.example holds another public key"),
        "{out:#?}"
    );
    // The fix is the exact record of the configured key, split into 255-character strings.
    let (_, fix) = explanation(&out, "holds another public key");
    let mine = rsa_record(&fixture.dir().join("dkim.pem"));
    let expected = format!(
        "s1._domainkey.acme.example. IN TXT \"{}\" \"{}\"",
        &mine[..255],
        &mine[255..]
    );
    assert!(fix.contains(&expected), "{fix}\nwant {expected}");
}

#[test]
fn dns_missing_dkim_record_is_an_error() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let dns = Dnsmasq::start(&[("acme.example", SPF), ("_dmarc.acme.example", DMARC)]);
    let out = check_dns(&fixture, &dns, &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    let errors = lines(&out, "error");
    assert_eq!(
        errors,
        vec!["no DKIM key record at s1._domainkey.acme.example"],
        "{out:#?}"
    );
    let (_, fix) = explanation(&out, "no DKIM key record");
    assert!(
        fix.starts_with("publish s1._domainkey.acme.example. IN TXT \"v=DKIM1; k=rsa; p=MII"),
        "{fix}"
    );
}

#[test]
fn dns_pkcs1_rsa_key_matches_its_record() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let key = fixture.dir().join("dkim.pem");
    rsa_key_pkcs1(&key);
    let dns = Dnsmasq::start(&[
        ("acme.example", SPF),
        ("s1._domainkey.acme.example", &rsa_record(&key)),
        ("_dmarc.acme.example", DMARC),
    ]);
    assert_clean(&check_dns(&fixture, &dns, &["--strict"]));
}

#[test]
fn dns_ed25519_key_matches_its_raw_record() {
    let toml = format!("{}algorithm = \"ed25519-sha256\"\n", clean_toml());
    let fixture = campaign(&toml, &clean_html(), 6);
    let key = fixture.dir().join("dkim.pem");
    ed25519_key(&key);
    let record = ed25519_record(&key);
    let dns = Dnsmasq::start(&[
        ("acme.example", SPF),
        ("s1._domainkey.acme.example", &record),
        ("_dmarc.acme.example", DMARC),
    ]);
    let out = check_dns(&fixture, &dns, &["--strict"]);
    assert_clean(&out);
    assert!(out.stdout.contains("the published key matches"), "{out:#?}");

    // An RSA record at the selector: the key type is wrong.
    let other = fixture.root().join("rsa.pem");
    rsa_key(&other);
    let dns = Dnsmasq::start(&[
        ("acme.example", SPF),
        ("s1._domainkey.acme.example", &rsa_record(&other)),
        ("_dmarc.acme.example", DMARC),
    ]);
    let out = check_dns(&fixture, &dns, &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stdout
            .contains("is for k=rsa keys, but the configured key is ed25519"),
        "{out:#?}"
    );
    let (_, fix) = explanation(&out, "is for k=rsa keys");
    assert!(fix.contains(&format!("\"{record}\"")), "{fix}");
}

#[test]
fn dns_dmarc_of_a_parent_domain_applies_to_a_subdomain() {
    let toml = clean_toml().replace(FROM, "Acme News <news@mail.acme.example>");
    let fixture = campaign(&toml, &clean_html(), 6);
    let dkim = rsa_record(&fixture.dir().join("dkim.pem"));
    let dns = Dnsmasq::start(&[
        ("mail.acme.example", SPF),
        ("s1._domainkey.acme.example", &dkim),
        ("_dmarc.acme.example", "v=DMARC1; p=reject; sp=quarantine"),
    ]);
    let out = check_dns(&fixture, &dns, &["--strict"]);
    assert_clean(&out);
    assert!(
        lines(&out, "note").contains(
            &"DMARC at mail.acme.example (inherited from _dmarc.acme.example): policy p=quarantine"
        ),
        "{out:#?}"
    );
}
