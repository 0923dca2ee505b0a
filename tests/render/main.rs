//! Integration tests for rendering and the dry run: campaign directories are written into a tempdir
//! (`tests/support/fixture.rs`), the real binary renders them, and every `.eml` is parsed back with mail-parser
//! so the assertions are about the message a mail client would see, not about our own strings.
//! This file holds the suite's fixtures and mail helpers; the tests are in one file a behaviour.

#[path = "../support/mod.rs"]
mod support;

mod bad_input;
mod check;
mod dry_run;
mod html_and_text;
mod images;
mod mime;

use std::time::{SystemTime, UNIX_EPOCH};

use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders};

use support::fixture::Fixture;

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
