//! Integration tests for rendering and the dry run: campaign directories are written into a tempdir
//! (`tests/support/fixture.rs`), the real binary renders them, and every `.eml` is parsed back with mail-parser
//! so the assertions are about the message a mail client would see, not about our own strings.

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders};

use support::fixture::{Fixture, emls, files_with, run_binary};

// ------------------------------------------------------------------ fixtures ---

/// A campaign using everything at once: non-ASCII From name, Reply-To, extra header, an
/// attachment, a `<style>` block with an `@media` rule, a local image (used twice), a remote image,
/// a link, a layout table, and recipients with Chinese, accented and emoji names.
const FULL_TOML: &str = r#"
subject = "News for {{ first_name }}!"
from = "Café Ünïcode <news@acme.example>"
reply_to = "Support Team <support@acme.example>"
attachments = ["files/notes.txt"]
headers = { "X-Campaign" = "april" }
"#;

const FULL_HTML: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>April issue</title>
<style>
p { color: #123456 }
h1 { font-size: 20px }
@media (max-width: 600px) { p { color: #654321 !important } }
</style></head>
<body>
<h1>Hello {{ first_name }}</h1>
<p>Welcome to the April issue.</p>
<p>Your note: {{ note }}</p>
<img src="images/logo.png" alt="Logo">
<img src="https://cdn.example.com/banner.jpg" alt="Banner">
<p><a href="https://acme.example/read">Read more</a></p>
<table><tr><td>Cell one</td><td>Cell two</td></tr></table>
<p><img src="images/logo.png" alt="Logo again"></p>
</body></html>
"#;

const FULL_CSV: &str = "email,name,first_name,note\n\
    xiaoming@example.com,王小明,小明,plain\n\
    zoe@example.org,Zoë Müller,Zoë,<script>alert(1)</script>\n\
    rocket@example.net,Rocket 🚀 Fan,🚀,hi\n";

const ATTACHMENT: &[u8] = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n";

/// Bytes for `images/logo.png`: a PNG signature followed by every byte value, so the base64 round
/// trip is checked on binary data.
fn logo_bytes() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.extend(0..=255u8);
    bytes
}

fn full_fixture() -> Fixture {
    Fixture::with(FULL_TOML, FULL_HTML, FULL_CSV)
        .file("images/logo.png", logo_bytes())
        .file("files/notes.txt", ATTACHMENT)
}

/// The smallest valid campaign: one recipient, no attachments, no local images.
const MINIMAL_TOML: &str = "subject = \"Hi {{ first_name }}\"\nfrom = \"news@acme.example\"\n";
const MINIMAL_HTML: &str = "<html><body><h1>Hello {{ first_name }}</h1>\n\
    <p>Plain body.</p>\n<img src=\"https://cdn.example.com/x.png\" alt=\"x\"></body></html>\n";
const MINIMAL_CSV: &str = "email,first_name\nann@example.com,Ann\n";

fn minimal_fixture() -> Fixture {
    Fixture::with(MINIMAL_TOML, MINIMAL_HTML, MINIMAL_CSV)
}

// ------------------------------------------------------------- mail helpers ---

fn parse(bytes: &[u8]) -> Message<'_> {
    MessageParser::default()
        .parse(bytes)
        .expect("the .eml parses as a message")
}

fn mime_type(part: &MessagePart<'_>) -> String {
    let ct = part.content_type().expect("every part has a Content-Type");
    format!(
        "{}/{}",
        ct.ctype().to_ascii_lowercase(),
        ct.subtype().unwrap_or("").to_ascii_lowercase()
    )
}

fn children<'a>(msg: &'a Message<'a>, part: &MessagePart<'_>) -> Vec<&'a MessagePart<'a>> {
    part.sub_parts()
        .unwrap_or_default()
        .iter()
        .map(|&id| &msg.parts[id as usize])
        .collect()
}

/// The MIME tree as `type[child,child]`, in part order.
fn tree(msg: &Message<'_>, part: &MessagePart<'_>) -> String {
    let kids = children(msg, part);
    if kids.is_empty() {
        return mime_type(part);
    }
    let inner: Vec<String> = kids.iter().map(|k| tree(msg, k)).collect();
    format!("{}[{}]", mime_type(part), inner.join(","))
}

/// The first part of the given type (depth-first, part order).
fn part_of<'a>(msg: &'a Message<'a>, wanted: &str) -> &'a MessagePart<'a> {
    msg.parts
        .iter()
        .find(|p| mime_type(p) == wanted)
        .unwrap_or_else(|| panic!("no {wanted} part in {}", tree(msg, msg.root_part())))
}

fn html_of(msg: &Message<'_>) -> String {
    part_of(msg, "text/html")
        .text_contents()
        .expect("HTML is text")
        .to_string()
}

fn text_of(msg: &Message<'_>) -> String {
    part_of(msg, "text/plain")
        .text_contents()
        .expect("text part is text")
        .to_string()
}

/// The top-level header names, in order, as written.
fn header_names(msg: &Message<'_>) -> Vec<String> {
    msg.headers().iter().map(|h| h.name().to_string()).collect()
}

fn count_header(msg: &Message<'_>, name: &str) -> usize {
    header_names(msg)
        .iter()
        .filter(|n| n.eq_ignore_ascii_case(name))
        .count()
}

/// The raw header section (up to the first empty line).
fn raw_headers(bytes: &[u8]) -> &str {
    let text = std::str::from_utf8(bytes).expect("message is UTF-8/ASCII");
    let end = text.find("\r\n\r\n").expect("header section ends");
    &text[..end]
}

/// (display name, address) of the first mailbox of an address header.
fn mailbox(addr: Option<&mail_parser::Address<'_>>) -> (Option<String>, String) {
    let first = addr
        .and_then(|a| a.first())
        .expect("address header present");
    (
        first.name().map(str::to_string),
        first.address().expect("has an address").to_string(),
    )
}

/// Every `<style>` block's content.
fn style_blocks(html: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find("<style") {
        let body = &rest[open..];
        let start = body.find('>').unwrap() + 1;
        let end = body.find("</style>").expect("style block closes");
        blocks.push(body[start..end].to_string());
        rest = &body[end..];
    }
    blocks
}

/// CSS with every `@media … { … }` rule removed (braces matched).
fn without_media_rules(css: &str) -> String {
    let mut out = String::new();
    let mut rest = css;
    while let Some(at) = rest.find("@media") {
        out.push_str(&rest[..at]);
        let open = at + rest[at..].find('{').expect("@media has a block");
        let mut depth = 0;
        let mut end = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The value of `attr="…"` on the first tag containing `marker`.
fn attr_near(html: &str, marker: &str, attr: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in {html}"));
    let tag_start = html[..at].rfind('<').unwrap();
    let tag = &html[tag_start..tag_start + html[tag_start..].find('>').unwrap()];
    let key = format!(" {attr}=\"");
    let from = tag
        .find(&key)
        .unwrap_or_else(|| panic!("no {attr} in {tag}"))
        + key.len();
    tag[from..from + tag[from..].find('"').unwrap()].to_string()
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// ----------------------------------------------------------------- MIME tree ---

#[test]
fn mime_tree_is_mixed_over_alternative_over_related_with_text_first() {
    let fx = full_fixture();
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);

    assert_eq!(
        tree(&msg, msg.root_part()),
        "multipart/mixed[multipart/alternative[text/plain,multipart/related[text/html,image/png]],text/plain]"
    );

    // The inline image carries a Content-ID and an inline disposition.
    let root = msg.root_part();
    let [alternative, attachment] = children(&msg, root)[..] else {
        panic!("mixed has two children")
    };
    let related = children(&msg, alternative)[1];
    let image = children(&msg, related)[1];
    assert!(
        image.content_id().is_some_and(|id| !id.is_empty()),
        "image has a Content-ID"
    );
    assert!(
        image.content_disposition().is_some_and(|d| d.is_inline()),
        "image is inline"
    );

    // The attachment is a real attachment with its file name and bytes.
    let disposition = attachment.content_disposition().expect("disposition");
    assert!(disposition.is_attachment(), "{disposition:?}");
    assert_eq!(attachment.attachment_name(), Some("notes.txt"));
    assert_eq!(attachment.contents(), ATTACHMENT);
    assert_eq!(msg.attachment_count(), 2, "the inline image and the file");
}

#[test]
fn without_attachments_or_local_images_the_top_is_alternative_text_then_html() {
    let fx = minimal_fixture();
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    assert_eq!(
        tree(&msg, msg.root_part()),
        "multipart/alternative[text/plain,text/html]"
    );
    assert_eq!(msg.attachment_count(), 0);
}

#[test]
fn attachment_with_non_ascii_file_name_decodes_back() {
    let toml = format!("{MINIMAL_TOML}attachments = [\"files/Übersicht März.txt\"]\n");
    let fx = Fixture::with(&toml, MINIMAL_HTML, MINIMAL_CSV).file("files/Übersicht März.txt", "x");
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let attachment = msg.attachment(0).expect("one attachment");
    assert_eq!(attachment.attachment_name(), Some("Übersicht März.txt"));
    assert_eq!(attachment.contents(), b"x");
}

// ------------------------------------------------------------------- headers ---

#[test]
fn headers_round_trip_exactly_for_every_recipient() {
    let fx = full_fixture();
    fx.dry_run_ok(&[]);
    let all = emls(&fx.preview());
    assert_eq!(all.len(), 3);
    let expected = [
        ("xiaoming@example.com", "王小明", "News for 小明!"),
        ("zoe@example.org", "Zoë Müller", "News for Zoë!"),
        ("rocket@example.net", "Rocket 🚀 Fan", "News for 🚀!"),
    ];
    let mut ids = HashSet::new();
    for (bytes, (email, name, subject)) in all.iter().zip(expected) {
        let msg = parse(bytes);
        let raw = raw_headers(bytes);
        assert!(
            raw.is_ascii(),
            "non-ASCII header text must be RFC 2047 encoded:\n{raw}"
        );

        assert_eq!(
            mailbox(msg.from()),
            (Some("Café Ünïcode".into()), "news@acme.example".into())
        );
        assert_eq!(mailbox(msg.to()), (Some(name.into()), email.into()));
        assert_eq!(
            mailbox(msg.reply_to()),
            (Some("Support Team".into()), "support@acme.example".into())
        );
        assert_eq!(msg.subject(), Some(subject));

        let date = msg.date().expect("Date parses");
        assert!(date.is_valid(), "{date:?}");
        let age = now_secs() - date.to_timestamp();
        assert!((-60..600).contains(&age), "Date is now-ish: {date}");

        let id = msg.message_id().expect("Message-ID");
        assert!(id.ends_with("@acme.example"), "{id}");
        assert!(id.len() > "@acme.example".len() + 8, "{id}");
        assert!(ids.insert(id.to_string()), "Message-ID {id} repeated");

        assert_eq!(msg.mime_version().as_text(), Some("1.0"));
        let campaign = msg
            .headers()
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case("X-Campaign"))
            .expect("X-Campaign header");
        assert_eq!(campaign.value().as_text(), Some("april"));

        for name in [
            "From",
            "To",
            "Reply-To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "X-Campaign",
        ] {
            assert_eq!(count_header(&msg, name), 1, "{name} exactly once in\n{raw}");
        }
    }
}

#[test]
fn long_non_ascii_subject_is_folded_and_decodes_back_exactly() {
    let subject = "{{ first_name }}: Ihre Übersicht für März — 这是一个很长的主题行，用于测试折叠 🚀 \
                   and some more ASCII words at the end";
    let toml = format!("subject = \"{subject}\"\nfrom = \"news@acme.example\"\n");
    let fx = Fixture::with(
        &toml,
        MINIMAL_HTML,
        "email,first_name\nzoe@example.org,Zoë\n",
    );
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let raw = raw_headers(bytes);
    assert!(
        raw.lines().all(|l| l.len() <= 998),
        "header lines fit RFC 5322"
    );
    assert_eq!(
        parse(bytes).subject(),
        Some(subject.replace("{{ first_name }}", "Zoë").as_str())
    );
}

#[test]
fn header_injection_through_csv_name_and_subject_adds_no_header() {
    let csv = "email,name,first_name\n\
               eve@example.com,\"Eve\r\nBcc: victim@example.com\",\"Eve\r\nBcc: victim@example.com\"\n";
    let toml = "subject = \"Hi {{ first_name }}\"\nfrom = \"news@acme.example\"\n";
    let fx = Fixture::with(toml, MINIMAL_HTML, csv);
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let raw = raw_headers(bytes);

    assert!(msg.bcc().is_none(), "no Bcc:\n{raw}");
    assert!(
        !raw.lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc")),
        "{raw}"
    );
    assert_eq!(
        header_names(&msg),
        [
            "From",
            "To",
            "Subject",
            "Message-ID",
            "Date",
            "MIME-Version",
            "Content-Type"
        ],
        "exactly the headers the tool writes:\n{raw}"
    );
    // Each folded header continuation line starts with whitespace: no line is a new field
    // except the seven above.
    let fields = raw.lines().filter(|l| !l.starts_with([' ', '\t'])).count();
    assert_eq!(fields, 7, "{raw}");

    // The To is still Eve's single address; the text became an inert display name.
    let to = msg.to().expect("To");
    assert_eq!(to.iter().count(), 1, "{to:?}");
    let (name, address) = mailbox(Some(to));
    assert_eq!(address, "eve@example.com");
    let name = name.expect("display name");
    assert!(
        name.starts_with("Eve") && !name.contains(['\r', '\n']),
        "{name:?}"
    );
    let subject = msg.subject().expect("Subject");
    assert!(
        subject.starts_with("Hi Eve") && !subject.contains(['\r', '\n']),
        "{subject:?}"
    );
}

// ---------------------------------------------------------------- HTML part ---

#[test]
fn css_is_inlined_and_only_media_rules_stay_in_style() {
    let fx = full_fixture();
    fx.dry_run_ok(&[]);
    let msg_bytes = &emls(&fx.preview())[0];
    let html = html_of(&parse(msg_bytes));

    assert_eq!(
        attr_near(&html, ">Welcome to the April issue.", "style"),
        "color: #123456;"
    );
    assert_eq!(attr_near(&html, ">Hello 小明", "style"), "font-size: 20px;");

    let blocks = style_blocks(&html);
    assert!(
        blocks
            .iter()
            .any(|b| b.contains("@media (max-width: 600px)")),
        "@media kept in a <style> block: {blocks:?}"
    );
    for block in &blocks {
        let rest = without_media_rules(block);
        assert!(
            !rest.contains('{'),
            "only @media rules left in <style>, found {rest:?}"
        );
    }
}

#[test]
fn csv_values_are_html_escaped_in_the_html_but_not_in_the_subject() {
    let csv = "email,first_name,note\nzoe@example.org,<script>alert(1)</script>,<b>bold</b>\n";
    let html = "<html><body><p>Hi {{ first_name }}</p><p>{{ note }}</p></body></html>\n";
    let fx = Fixture::with(MINIMAL_TOML, html, csv);
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let html = html_of(&msg);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("&lt;b&gt;bold&lt;/b&gt;"), "{html}");
    assert!(!html.to_ascii_lowercase().contains("<script"), "{html}");
    assert!(!html.contains("<b>"), "{html}");

    // The browser preview and the index are escaped too.
    let preview =
        std::fs::read_to_string(fx.preview().join("000002-zoe@example.org.html")).unwrap();
    assert!(
        !preview.to_ascii_lowercase().contains("<script"),
        "{preview}"
    );
    let index = std::fs::read_to_string(fx.preview().join("index.html")).unwrap();
    assert!(!index.contains("<script>"), "{index}");
    assert!(index.contains("Hi &lt;script&gt;"), "{index}");

    // The subject is not HTML: it carries the value as typed.
    assert_eq!(msg.subject(), Some("Hi <script>alert(1)</script>"));
}

// ---------------------------------------------------------------- text part ---

#[test]
fn text_part_is_readable_with_links_and_no_css_or_table_borders() {
    let fx = full_fixture();
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let text = text_of(&parse(bytes));

    for wanted in [
        "Hello 小明",
        "Welcome to the April issue.",
        "Your note: plain",
        "Read more",
        "https://acme.example/read",
        "Cell one",
        "Cell two",
    ] {
        assert!(text.contains(wanted), "{wanted:?} missing from:\n{text}");
    }
    assert!(!text.contains('{'), "CSS leaked:\n{text}");
    assert!(!text.contains("color:"), "CSS leaked:\n{text}");
    assert!(!text.contains("<p"), "HTML tags leaked:\n{text}");
    assert!(
        !text.chars().any(|c| ('\u{2500}'..='\u{257F}').contains(&c)),
        "box-drawing characters:\n{text}"
    );
}

#[test]
fn text_template_is_used_instead_of_the_derived_text() {
    let fx = minimal_fixture().file("email.txt", "Plain hello {{ first_name }} & co\n");
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let text = text_of(&parse(bytes));
    assert_eq!(text.trim_end(), "Plain hello Ann & co", "not HTML-escaped");
}

// ------------------------------------------------------------------- images ---

#[test]
fn local_images_become_cid_parts_with_the_file_bytes_and_remote_stay() {
    let fx = full_fixture();
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let html = html_of(&msg);

    let src = attr_near(&html, "alt=\"Logo\"", "src");
    let cid = src
        .strip_prefix("cid:")
        .unwrap_or_else(|| panic!("local image not cid: {src}"));
    assert!(
        !html.contains("images/logo.png"),
        "no relative path left: {html}"
    );
    assert_eq!(
        attr_near(&html, "alt=\"Logo again\"", "src"),
        src,
        "same file, same cid"
    );
    assert_eq!(
        attr_near(&html, "alt=\"Banner\"", "src"),
        "https://cdn.example.com/banner.jpg"
    );

    let images: Vec<&MessagePart<'_>> = msg
        .parts
        .iter()
        .filter(|p| mime_type(p) == "image/png")
        .collect();
    assert_eq!(images.len(), 1, "an image used twice is embedded once");
    let image = images[0];
    assert_eq!(image.content_id(), Some(cid));
    assert_eq!(image.contents(), logo_bytes().as_slice());
}

#[test]
fn local_image_after_an_attribute_containing_gt_is_embedded() {
    let html = "<html><body><img alt=\"a > b\" src=\"images/logo.png\"></body></html>\n";
    let fx = Fixture::with(MINIMAL_TOML, html, MINIMAL_CSV).file("images/logo.png", logo_bytes());
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let html = html_of(&msg);
    assert!(!html.contains("images/logo.png"), "{html}");
    let image = part_of(&msg, "image/png");
    let cid = image.content_id().expect("Content-ID");
    assert!(html.contains(&format!("src=\"cid:{cid}\"")), "{html}");
}

#[test]
fn img_src_scan_is_not_fooled_by_a_value_ending_in_src() {
    let html = "<html><body><img alt=\"{{ caption }}\" src=\"images/logo.png\"></body></html>\n";
    let csv = "email,first_name,caption\nann@example.com,Ann,Logo src=\n";
    let fx = Fixture::with(MINIMAL_TOML, html, csv).file("images/logo.png", logo_bytes());
    fx.dry_run_ok(&[]);
    let bytes = &emls(&fx.preview())[0];
    let msg = parse(bytes);
    let html = html_of(&msg);
    let image = part_of(&msg, "image/png");
    let cid = image.content_id().expect("Content-ID");
    assert!(
        html.contains(&format!("alt=\"Logo src=\" src=\"cid:{cid}\"")),
        "{html}"
    );
    assert_eq!(image.contents(), logo_bytes().as_slice());
}

#[test]
fn css_inline_error_from_one_rows_data_fails_that_recipient_only() {
    let html = "<html><head><style>p { color: red }</style></head>\
        <body><p style=\"{{ sty }}\">Hi {{ first_name }}</p></body></html>\n";
    let csv = "email,first_name,sty\n\
        ann@example.com,Ann,color\n\
        bob@example.com,Bob,font-weight: bold\n\
        cy@example.com,Cy,a{b}\n\
        dee@example.com,Dee,\n";
    let fx = Fixture::with(MINIMAL_TOML, html, csv);
    let out = fx.dry_run(&[]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stdout
            .contains("Rendered 2 recipient(s), skipped 0, failed to render 2"),
        "{}",
        out.stdout
    );
    for wanted in [
        "line 2: ann@example.com: cannot inline CSS",
        "line 4: cy@example.com: cannot inline CSS",
    ] {
        assert!(out.stdout.contains(wanted), "{wanted:?} in\n{}", out.stdout);
    }
    let names: Vec<String> = files_with(&fx.preview(), "eml")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["000003-bob@example.com.eml", "000005-dee@example.com.eml"]
    );
}

#[test]
fn image_path_leaving_the_campaign_directory_is_refused() {
    let html = "<html><body><img src=\"../secret.png\"></body></html>\n";
    let fx = Fixture::with(MINIMAL_TOML, html, MINIMAL_CSV);
    std::fs::write(fx.root().join("secret.png"), b"secret").unwrap();
    assert_invalid(
        &fx,
        &["image \"../secret.png\": leaves the campaign directory"],
    );
}

// --------------------------------------------------------------- recipients ---

#[test]
fn recipients_bom_crlf_quotes_and_skips_are_reported_with_line_numbers() {
    let csv = "\u{feff} Email ,name,first_name\r\n\
               a@example.com,\"Doe, Jane\",\"Multi\r\nline\"\r\n\
               bad-address,Bad,Bad\r\n\
               ,Empty,Empty\r\n\
               A@EXAMPLE.COM,Dup,Dup\r\n\
               b@example.com,Too,Many,Fields\r\n\
               c@example.com,C,Cee\r\n";
    let fx = Fixture::with(MINIMAL_TOML, MINIMAL_HTML, csv);
    let out = fx.dry_run_ok(&[]);

    assert!(
        out.stdout.contains("Rendered 2 recipient(s), skipped 4"),
        "{}",
        out.stdout
    );
    for wanted in [
        "line 4: bad-address: invalid address",
        "line 5: : empty address",
        "line 6: A@EXAMPLE.COM: duplicate of line 2",
        "line 7: b@example.com: malformed row: 4 fields, the header has 3",
    ] {
        assert!(out.stdout.contains(wanted), "{wanted:?} in\n{}", out.stdout);
    }

    // Line numbers count the newline inside the quoted field (c is on line 8).
    let names: Vec<String> = files_with(&fx.preview(), "eml")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["000002-a@example.com.eml", "000008-c@example.com.eml"]
    );

    let all = emls(&fx.preview());
    let first = parse(&all[0]);
    assert_eq!(
        mailbox(first.to()),
        (Some("Doe, Jane".into()), "a@example.com".into())
    );
    assert!(
        text_of(&first).contains("Multi"),
        "quoted field reached the template"
    );
    let second = parse(&all[1]);
    assert_eq!(second.subject(), Some("Hi Cee"));
}

// ------------------------------------------------------------------ dry run ---

#[test]
fn dry_run_writes_eml_and_html_per_recipient_and_an_index_linking_both() {
    let fx = full_fixture();
    let out = fx.dry_run_ok(&[]);
    let preview = fx.preview();

    assert!(
        out.stdout
            .contains("Rendered 3 recipient(s), skipped 0 — nothing was sent."),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("Previews: {}", preview.display())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&preview.join("index.html").display().to_string()),
        "{}",
        out.stdout
    );

    let emls = files_with(&preview, "eml");
    assert_eq!(emls.len(), 3);
    let index = std::fs::read_to_string(preview.join("index.html")).unwrap();
    for eml in &emls {
        let stem = eml.file_stem().unwrap().to_string_lossy().into_owned();
        let html_path = preview.join(format!("{stem}.html"));
        assert!(html_path.is_file(), "{} exists", html_path.display());
        assert!(index.contains(&format!("href=\"{stem}.eml\"")), "{index}");
        assert!(index.contains(&format!("href=\"{stem}.html\"")), "{index}");
    }
    for email in [
        "xiaoming@example.com",
        "zoe@example.org",
        "rocket@example.net",
    ] {
        assert!(index.contains(email), "{email} in {index}");
    }
    // One .html per recipient plus index.html.
    assert_eq!(files_with(&preview, "html").len(), 4);

    // The browser copy shows the rendered page with images pointing at the file on disk.
    let browser =
        std::fs::read_to_string(preview.join("000002-xiaoming@example.com.html")).unwrap();
    assert!(browser.contains("Hello 小明"), "{browser}");
    assert!(browser.contains("src=\"file://"), "{browser}");
    assert!(!browser.contains("cid:"), "{browser}");
}

#[test]
fn dry_run_out_elsewhere_writes_there_and_not_into_the_campaign() {
    let fx = full_fixture();
    let elsewhere = fx.root().join("somewhere/else");
    let out = fx.dry_run_ok(&["--out", elsewhere.to_str().unwrap()]);
    assert!(
        out.stdout
            .contains(&format!("Previews: {}", elsewhere.display())),
        "{}",
        out.stdout
    );
    assert_eq!(files_with(&elsewhere, "eml").len(), 3);
    assert!(elsewhere.join("index.html").is_file());
    assert!(!fx.preview().exists(), "default preview folder not created");
}

#[test]
fn dry_run_limit_renders_only_that_many() {
    let fx = full_fixture();
    let out = fx.dry_run_ok(&["--limit", "2"]);
    assert!(
        out.stdout.contains("Rendered 2 recipient(s)"),
        "{}",
        out.stdout
    );
    let names: Vec<String> = files_with(&fx.preview(), "eml")
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "000002-xiaoming@example.com.eml",
            "000003-zoe@example.org.eml"
        ],
        "the first two in CSV order"
    );
}

#[test]
fn dry_run_opens_no_connection_to_the_configured_smtp_server() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let toml = format!(
        "{MINIMAL_TOML}\n[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n"
    );
    let fx = Fixture::with(&toml, MINIMAL_HTML, MINIMAL_CSV);
    fx.dry_run_ok(&[]);
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the dry run connected to the SMTP server: {other:?}"),
    }
}

#[test]
fn inline_stats_count_how_pages_were_inlined() {
    use campaign::campaign::{Campaign, Row};
    let fx = full_fixture();
    let campaign = Campaign::load(fx.dir()).unwrap();
    let renderer = campaign::render::Renderer::new(&campaign).unwrap();
    for row in campaign.recipients().unwrap() {
        if let Row::Recipient(r) = row.unwrap() {
            renderer.render(&r).unwrap();
        }
    }
    // Three recipients whose pages differ only in text: one shape, inlined once.
    let stats = renderer.inline_stats();
    assert_eq!(
        (stats.new_shapes, stats.cached, stats.direct),
        (1, 2, 0),
        "{stats:?}"
    );
}

// ---------------------------------------------------------------- bad input ---

/// Runs a dry run that must fail as an invalid campaign: exit 2, every `wanted` text on stderr,
/// nothing on stdout, and nothing written anywhere (no preview folder, no file changed).
fn assert_invalid(fx: &Fixture, wanted: &[&str]) -> String {
    let before = fx.snapshot();
    let out = fx.dry_run(&[]);
    assert_eq!(out.code, 2, "{out:#?}");
    for w in wanted {
        assert!(
            out.stderr.contains(w),
            "{w:?} not in stderr:\n{}",
            out.stderr
        );
    }
    assert!(out.stdout.is_empty(), "{out:#?}");
    assert!(!fx.preview().exists(), "preview folder created: {out:#?}");
    assert_eq!(
        fx.snapshot().keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>(),
        "files added or removed"
    );
    assert!(fx.snapshot() == before, "a file changed");
    out.stderr
}

fn path_in(fx: &Fixture, name: &str) -> String {
    fx.dir().join(name).display().to_string()
}

#[test]
fn bad_toml_syntax_names_file_line_and_column() {
    let toml = "subject = \"Hi\"\nfrom = \"news@acme.example\"\nreply_to = = \"x\"\n";
    let fx = Fixture::with(toml, MINIMAL_HTML, MINIMAL_CSV);
    let config = path_in(&fx, "campaign.toml");
    assert_invalid(&fx, &[&format!("error: {config}:3:12: ")]);
}

#[test]
fn unknown_key_names_the_key_and_its_line() {
    let toml = "from = \"news@acme.example\"\nsubjet = \"Hi\"\n";
    let fx = Fixture::with(toml, MINIMAL_HTML, MINIMAL_CSV);
    let config = path_in(&fx, "campaign.toml");
    assert_invalid(
        &fx,
        &[
            &format!("{config}:2:1: unknown field `subjet`"),
            "`subject`",
        ],
    );
}

#[test]
fn missing_template_file_is_named() {
    let toml = format!("{MINIMAL_TOML}html = \"newsletter.html\"\n");
    let fx = Fixture::new()
        .file("campaign.toml", toml)
        .file("recipients.csv", MINIMAL_CSV);
    let config = path_in(&fx, "campaign.toml");
    let missing = path_in(&fx, "newsletter.html");
    assert_invalid(
        &fx,
        &[&format!(
            "{config}: html = \"newsletter.html\": cannot open {missing}"
        )],
    );
}

#[test]
fn missing_default_template_is_named() {
    let fx = Fixture::new()
        .file("campaign.toml", MINIMAL_TOML)
        .file("recipients.csv", MINIMAL_CSV);
    let missing = path_in(&fx, "email.html");
    assert_invalid(
        &fx,
        &[&format!("html = \"email.html\": cannot open {missing}")],
    );
}

#[test]
fn missing_recipients_csv_is_named() {
    let fx = Fixture::new()
        .file("campaign.toml", MINIMAL_TOML)
        .file("email.html", MINIMAL_HTML);
    let config = path_in(&fx, "campaign.toml");
    let missing = path_in(&fx, "recipients.csv");
    assert_invalid(
        &fx,
        &[&format!(
            "{config}: recipients = \"recipients.csv\": cannot open {missing}"
        )],
    );
}

#[test]
fn template_syntax_error_names_the_real_file_and_position() {
    let html = "<html><body>\n<p>{% if %}x{% endif %}</p>\n</body></html>\n";
    let fx = Fixture::with(MINIMAL_TOML, html, MINIMAL_CSV);
    let file = path_in(&fx, "email.html");
    let stderr = assert_invalid(&fx, &[&format!("{file}: "), "2:10"]);
    // Regression: the message once started with a made-up path (`<layouts>/template`).
    assert!(
        !stderr.contains("/template:"),
        "no made-up file name: {stderr}"
    );
}

#[test]
fn subject_syntax_error_names_campaign_toml() {
    let toml = "subject = \"Hi {{ first_name\"\nfrom = \"news@acme.example\"\n";
    let fx = Fixture::with(toml, MINIMAL_HTML, MINIMAL_CSV);
    let config = path_in(&fx, "campaign.toml");
    assert_invalid(&fx, &[&format!("{config}: subject: Failed to parse")]);
}

#[test]
fn undefined_variable_names_variable_template_and_csv_line() {
    let html = "<html><body><p>Hi {{ first_name }}</p><p>{{ coupon_code }}</p></body></html>\n";
    let csv = "email,first_name\nbad-row\nann@example.com,Ann\n";
    let fx = Fixture::with(MINIMAL_TOML, html, csv);
    let file = path_in(&fx, "email.html");
    assert_invalid(
        &fx,
        &[&format!(
            "{file}: undefined variable `coupon_code` (recipients line 3)"
        )],
    );
}

/// A campaign whose HTML extends `layouts/base.html`, which uses an undefined `footer_text`.
fn layout_fixture() -> Fixture {
    let toml = format!("{MINIMAL_TOML}templates = \"layouts\"\n");
    let html = "{% extends \"base.html\" %}{% block body %}Hi {{ first_name }}{% endblock %}\n";
    let base = "<html><body>{% block body %}{% endblock %}<p>{{ footer_text }}</p></body></html>\n";
    Fixture::with(&toml, html, MINIMAL_CSV).file("layouts/base.html", base)
}

#[test]
fn undefined_variable_in_a_layout_is_an_invalid_campaign() {
    let fx = layout_fixture();
    assert_invalid(
        &fx,
        &["undefined variable `footer_text` (recipients line 2)"],
    );
}

#[test]
#[ignore = "known bug: Tera reports the child template, so the message names email.html"]
fn undefined_variable_in_a_layout_names_the_layout_file() {
    let fx = layout_fixture();
    let layout = path_in(&fx, "layouts/base.html");
    assert_invalid(
        &fx,
        &[&format!("{layout}: undefined variable `footer_text`")],
    );
}

#[test]
fn undefined_variable_in_an_included_partial_names_the_partial() {
    let toml = format!("{MINIMAL_TOML}templates = \"layouts\"\n");
    let html = "<html><body><p>Hi</p>{% include \"partials/button.html\" %}</body></html>\n";
    let partial = "<a href=\"{{ button_url }}\">Go</a>\n";
    let fx = Fixture::with(&toml, html, MINIMAL_CSV).file("layouts/partials/button.html", partial);
    let file = path_in(&fx, "layouts/partials/button.html");
    // Regression: the message named email.html, the first template in Tera's error chain.
    assert_invalid(
        &fx,
        &[&format!(
            "{file}: undefined variable `button_url` (recipients line 2)"
        )],
    );
}

#[test]
fn template_error_without_a_quoted_file_names_no_made_up_file() {
    let html = "{% import \"macros.html\" as m %}<p>{{ m::x() }}</p>\n";
    let fx = Fixture::with(MINIMAL_TOML, html, MINIMAL_CSV);
    let file = path_in(&fx, "email.html");
    let stderr = assert_invalid(&fx, &[&format!("{file}: "), "macros.html"]);
    assert!(!stderr.contains("/template:"), "{stderr}");
}

#[test]
fn csv_without_email_column_is_reported_on_line_1() {
    let fx = Fixture::with(
        MINIMAL_TOML,
        MINIMAL_HTML,
        "mail,first_name\nann@example.com,Ann\n",
    );
    let csv = path_in(&fx, "recipients.csv");
    assert_invalid(
        &fx,
        &[&format!(
            "{csv}: line 1: no `email` column in the header row (found: mail, first_name)"
        )],
    );
}

#[test]
fn csv_with_invalid_utf8_on_a_later_line_writes_nothing() {
    let mut csv = b"email,first_name\nann@example.com,Ann\nbob@example.com,B".to_vec();
    csv.extend_from_slice(b"\xff\xfe\n");
    let fx = Fixture::with(MINIMAL_TOML, MINIMAL_HTML, "").file("recipients.csv", csv);
    let path = path_in(&fx, "recipients.csv");
    assert_invalid(&fx, &[&format!("{path}: line 3: is not valid UTF-8")]);
}

#[test]
fn missing_attachment_is_named() {
    let toml = format!("{MINIMAL_TOML}attachments = [\"files/agenda.pdf\"]\n");
    let fx = Fixture::with(&toml, MINIMAL_HTML, MINIMAL_CSV);
    let missing = path_in(&fx, "files/agenda.pdf");
    assert_invalid(
        &fx,
        &[&format!(
            "attachments = \"files/agenda.pdf\": cannot open {missing}"
        )],
    );
}

#[test]
fn unreadable_attachment_is_named() {
    // A directory opens but cannot be read as a file (chmod would not stop root).
    let toml = format!("{MINIMAL_TOML}attachments = [\"files\"]\n");
    let fx = Fixture::with(&toml, MINIMAL_HTML, MINIMAL_CSV).file("files/a.txt", "a");
    let config = path_in(&fx, "campaign.toml");
    let dir = path_in(&fx, "files");
    assert_invalid(&fx, &[&format!("{config}: attachments: cannot read {dir}")]);
}

#[test]
fn attachment_path_leaving_the_campaign_directory_is_refused() {
    let toml = format!("{MINIMAL_TOML}attachments = [\"../secret.txt\"]\n");
    let fx = Fixture::with(&toml, MINIMAL_HTML, MINIMAL_CSV);
    std::fs::write(fx.root().join("secret.txt"), "top secret").unwrap();
    let stderr = assert_invalid(
        &fx,
        &["attachments = \"../secret.txt\" leaves the campaign directory"],
    );
    assert!(!stderr.contains("top secret"));
}

#[test]
fn attachment_symlink_leaving_the_campaign_directory_is_refused() {
    let toml = format!("{MINIMAL_TOML}attachments = [\"link.txt\"]\n");
    let fx = Fixture::with(&toml, MINIMAL_HTML, MINIMAL_CSV);
    std::fs::write(fx.root().join("secret.txt"), "top secret").unwrap();
    std::os::unix::fs::symlink(fx.root().join("secret.txt"), fx.dir().join("link.txt")).unwrap();
    assert_invalid(
        &fx,
        &["attachments = \"link.txt\" is a link that leaves the campaign directory"],
    );
}

#[test]
fn header_value_with_a_line_break_in_campaign_toml_is_refused() {
    let toml =
        format!("{MINIMAL_TOML}headers = {{ \"X-Campaign\" = \"a\\r\\nBcc: v@example.com\" }}\n");
    let fx = Fixture::with(&toml, MINIMAL_HTML, MINIMAL_CSV);
    assert_invalid(
        &fx,
        &["headers: the value of X-Campaign contains a line break"],
    );
}

// -------------------------------------------------------------------- check ---

fn example_campaign() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("campaigns/april")
}

/// The warnings `check` prints (deliverability lints included, e.g. no `[dkim]` in the example).
fn warning_lines(stdout: &str) -> usize {
    stdout
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .count()
}

#[test]
fn check_passes_the_example_campaign_with_its_skips_as_warnings() {
    let dir = example_campaign();
    let out = run_binary(&[Path::new("check"), &dir]);
    assert_eq!(out.code, 0, "{out:#?}");
    let warnings = warning_lines(&out.stdout);
    assert!(warnings >= 2, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "rendered 5 recipient(s); 0 error(s), {warnings} warning(s)."
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("line 8: Zoe.Muller@Example.com will be skipped: duplicate of line 2"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("line 9: not-an-email will be skipped: invalid address"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("note: ")
            && out
                .stdout
                .contains("line 7: sam.okafor@example.com will be skipped: suppressed"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_strict_fails_on_warnings() {
    let dir = example_campaign();
    let out = run_binary(&[Path::new("check"), &dir, Path::new("--strict")]);
    assert_eq!(out.code, 2, "{out:#?}");
    let warnings = warning_lines(&out.stdout);
    assert!(warnings >= 2, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("{warnings} warning(s)")),
        "{}",
        out.stdout
    );
}

#[test]
fn check_fails_on_an_undefined_variable_and_writes_nothing() {
    let html = "<html><body><p>{{ coupon_code }}</p></body></html>\n";
    let fx = Fixture::with(MINIMAL_TOML, html, MINIMAL_CSV);
    let before = fx.snapshot();
    let out = fx.run("check", &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    let file = path_in(&fx, "email.html");
    assert!(
        out.stdout.contains(&format!(
            "error: {file}: undefined variable `coupon_code` (recipients line 2)"
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("1 error(s)"), "{}", out.stdout);
    assert!(fx.snapshot() == before, "check wrote something");
}

#[test]
fn check_passes_a_clean_campaign_even_with_strict() {
    // Clean for the deliverability lints too (see tests/check.rs): DKIM-signed on the From domain
    // (key made with the openssl CLI; no DNS lookup without --dns), and enough text for its image.
    let toml = format!(
        "{MINIMAL_TOML}[dkim]\ndomain = \"acme.example\"\nselector = \"s1\"\nprivate_key = \"dkim.pem\"\n"
    );
    let html = "<html><body><h1>Hello {{ first_name }}</h1>\n\
                <p>A short message, but with enough text around its one image that the \
                deliverability lint does not call it image-heavy.</p>\n\
                <img src=\"https://cdn.example.com/x.png\" alt=\"x\"></body></html>\n";
    let fx = Fixture::with(&toml, html, MINIMAL_CSV);
    let key = fx.dir().join("dkim.pem");
    support::fixture::rsa_key(&key);
    let out = fx.run("check", &["--strict"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout
            .contains("rendered 1 recipient(s); 0 error(s), 0 warning(s)."),
        "{}",
        out.stdout
    );
}

/// The command line's overrides are part of the campaign, checked at load: a dry run refuses the
/// same bad `--rate` or `--concurrency` a send refuses (it used to ignore them), writing nothing.
#[test]
fn a_dry_run_refuses_a_bad_rate_or_concurrency_like_a_send() {
    for (flag, value, says) in [
        ("--rate", "fast", "--rate"),
        ("--rate", "0/s", "--rate"),
        ("--concurrency", "0", "--concurrency"),
        ("--concurrency", "1000", "--concurrency"),
    ] {
        let fx = minimal_fixture();
        let before = fx.snapshot();
        let out = fx.dry_run(&[flag, value]);
        assert_eq!(out.code, 2, "{flag} {value}: {out:#?}");
        assert!(out.stderr.contains(says), "{flag} {value}: {}", out.stderr);
        assert_eq!(fx.snapshot(), before, "{flag} {value}: nothing written");
    }
    minimal_fixture().dry_run_ok(&["--rate", "10/s", "--concurrency", "2"]);
}
