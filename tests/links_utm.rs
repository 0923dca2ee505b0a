//! Link tagging (issue 13, item 8): `[links] utm = { … }` appends UTM parameters to the http(s)
//! links of the HTML part (`<a>`, `<area>`, Outlook's VML buttons in conditional comments) and to
//! the http(s) URLs of the text part, derived or from a text template — never to `mailto:`, `tel:`,
//! fragments, relative links, the unsubscribe URL, a link that already carries a `utm_` parameter
//! or one to a `skip` domain. The real binary sends to the aiosmtpd capture server; every message
//! is parsed back with mail-parser and each link checked.

mod support;

use support::campaign::{Fixture, Spec, WAIT, email};
use support::{CaptureOptions, CaptureServer, Received};

/// The query the `[links]` below appends: values percent-encoded.
const UTM: &str = "utm_source=newsletter&utm_medium=email&utm_campaign=april%20news%20%26%20more";

const LINKS: &str = "\n[unsubscribe]\n\
    url = \"https://acme.example/u?e={{ email | urlencode }}\"\n\
    \n[links]\n\
    utm = { source = \"newsletter\", medium = \"email\", campaign = \"april news & more\" }\n\
    skip = [\"example.org\"]\n";

const HTML: &str = r##"<!DOCTYPE html>
<html><head><meta charset="utf-8"><style>a { color: #1f4fd8 }</style></head>
<body>
<p><a href="https://acme.example/april">Read the April issue</a></p>
<p><a href="https://acme.example/p?x=1&amp;y=2#top">Prices</a></p>
<p><a href="HTTP://acme.example/caps?">Caps</a></p>
<p><a href='https://acme.example/single'>Single</a> <a href=https://acme.example/bare>Bare</a></p>
<p><a href="https://acme.example/for/{{ first_name | urlencode }}">Yours</a></p>
<p><a href="mailto:help@acme.example?subject=Hi">Write to us</a> <a href="tel:+15550100">Call</a></p>
<p><a href="#contents">Contents</a> <a href="/archive">Archive</a> <a href="//cdn.acme.example/x">CDN</a></p>
<p><a href="https://acme.example/x?utm_source=partner&amp;a=1">Partner</a></p>
<p><a href="https://shop.example.org/y">Shop</a></p>
<map name="m"><area shape="rect" coords="0,0,1,1" href="http://acme.example/map" alt="Map"></map>
<!--[if mso]><v:roundrect href="https://acme.example/button" arcsize="10%"><![endif]-->
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
</body></html>
"##;

/// The hrefs of the HTML above as sent, for the first recipient (`Zoë-000`).
fn expected_hrefs() -> Vec<String> {
    vec![
        format!("https://acme.example/april?{UTM}"),
        format!("https://acme.example/p?x=1&y=2&{UTM}#top"),
        format!("HTTP://acme.example/caps?{UTM}"),
        format!("https://acme.example/single?{UTM}"),
        format!("https://acme.example/bare?{UTM}"),
        format!("https://acme.example/for/Zo%C3%AB-000?{UTM}"),
        "mailto:help@acme.example?subject=Hi".into(),
        "tel:+15550100".into(),
        "#contents".into(),
        "/archive".into(),
        "//cdn.acme.example/x".into(),
        "https://acme.example/x?utm_source=partner&a=1".into(),
        "https://shop.example.org/y".into(),
        format!("http://acme.example/map?{UTM}"),
        format!("https://acme.example/button?{UTM}"),
        unsubscribe_url(),
    ]
}

fn unsubscribe_url() -> String {
    format!("https://acme.example/u?e={}", email(0).replace('@', "%40"))
}

/// Every `href` value in `html`, in order, `&amp;` decoded (the test's HTML has no other
/// references; the sent HTML is css-inline's serialization, double-quoted, or the comment as
/// written).
fn hrefs(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find("href=") {
        rest = &rest[at + 5..];
        let value = match rest.chars().next() {
            Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap(),
            _ => rest.split([' ', '>']).next().unwrap(),
        };
        found.push(value.replace("&amp;", "&"));
    }
    found
}

/// Sends a campaign of `files` (with `[links]`) to a capture server; the first recipient's message.
fn send(files: &[(&str, &str)]) -> Received {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 2,
        ..Spec::new(server.port)
    };
    let fixture = Fixture::from_spec(&spec);
    fixture.write("campaign.toml", &(spec.toml() + LINKS));
    for (name, text) in files {
        fixture.write(name, text);
    }
    fixture.send(&[], None).expect(0);
    let messages = server.wait_for(2, WAIT);
    messages
        .into_iter()
        .find(|m| m.rcpt_tos == [email(0)])
        .expect("the first recipient's message")
}

/// The List-Unsubscribe header is the unsubscribe URL as rendered, untagged.
#[track_caller]
fn assert_unsubscribe_header(message: &Received) {
    let parsed = message.parsed();
    let header = parsed
        .header_raw("List-Unsubscribe")
        .expect("List-Unsubscribe");
    assert_eq!(header.trim(), format!("<{}>", unsubscribe_url()));
}

#[test]
fn html_links_are_tagged_by_the_rules_and_the_derived_text_part_follows() {
    let message = send(&[("email.html", HTML)]);
    let parsed = message.parsed();
    let html = parsed.body_html(0).expect("an HTML part");
    assert_eq!(hrefs(&html), expected_hrefs(), "{html}");
    assert!(
        html.contains("&amp;utm_medium=email&amp;"),
        "escaped in attributes: {html}"
    );
    assert_unsubscribe_header(&message);

    let text = parsed
        .body_text(0)
        .expect("a text part")
        .replace("\r\n", "\n");
    assert!(
        text.contains(&format!("https://acme.example/april?{UTM}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("https://acme.example/p?x=1&y=2&{UTM}#top")),
        "{text}"
    );
    assert!(text.contains(&unsubscribe_url()), "{text}");
    assert!(
        !text.contains(&format!("{}?utm", unsubscribe_url()))
            && !text.contains(&format!("{}&utm", unsubscribe_url())),
        "unsubscribe untagged: {text}"
    );
    // Each tagged link as a footnote line of its own, nothing after it.
    for tagged in &expected_hrefs()[..6] {
        assert!(text.contains(&format!(": {tagged}\n")), "{tagged}: {text}");
    }
    assert!(
        !text.contains(&format!("utm_source=partner&a=1&{UTM}")),
        "{text}"
    );
}

#[test]
fn urls_of_a_text_template_are_tagged_by_the_same_rules() {
    let txt = "Hello {{ first_name }},\n\
        Read https://acme.example/april.\n\
        Prices (https://acme.example/p?x=1#top), or <https://acme.example/angle>.\n\
        Already: https://acme.example/x?UTM_source=partner\n\
        Shop: https://shop.example.org/y\n\
        Empty query: https://acme.example/q?\n\
        Write: mailto:help@acme.example\n\
        Unsubscribe: {{ unsubscribe_url }}\n";
    let message = send(&[("email.html", HTML), ("email.txt", txt)]);
    let parsed = message.parsed();
    let text = parsed.body_text(0).expect("a text part");
    let expected = format!(
        "Hello Zoë-000,\n\
        Read https://acme.example/april?{UTM}.\n\
        Prices (https://acme.example/p?x=1&{UTM}#top), or <https://acme.example/angle?{UTM}>.\n\
        Already: https://acme.example/x?UTM_source=partner\n\
        Shop: https://shop.example.org/y\n\
        Empty query: https://acme.example/q?{UTM}\n\
        Write: mailto:help@acme.example\n\
        Unsubscribe: {}\n",
        unsubscribe_url()
    );
    assert_eq!(text.replace("\r\n", "\n"), expected);
    let html = parsed.body_html(0).expect("an HTML part");
    assert_eq!(hrefs(&html), expected_hrefs(), "{html}");
    assert_unsubscribe_header(&message);
}

/// `[links]` mistakes are named with their line, exit 2, nothing sent.
#[test]
fn bad_links_settings_are_an_invalid_campaign() {
    let cases = [
        (
            "[links]\nutm = { source = \"\", medium = \"email\", campaign = \"april\" }\n",
            "campaign.toml:4:",
            "source",
        ),
        (
            "[links]\nutm = { source = \"news\", medium = \"email\" }\n",
            "campaign.toml:4:",
            "campaign",
        ),
        (
            "[links]\nutm = { source = \"news\", medium = \"email\", campaign = \"a\", sorce = \"x\" }\n",
            "campaign.toml:4:",
            "sorce",
        ),
        (
            "[links]\nutm = { source = \"news\", medium = \"email\", campaign = \"a\" }\nskip = [\"https://x.example/\"]\n",
            "campaign.toml:5:",
            "https://x.example/",
        ),
    ];
    for (links, line, named) in cases {
        let toml = format!("subject = \"Hi\"\nfrom = \"news@acme.example\"\n{links}");
        let fixture = Fixture::with(&toml, HTML, "email,first_name\na@example.com,A\n");
        let run = fixture.dry_run(&[]);
        assert_eq!(run.code, 2, "{links}: {run:#?}");
        assert!(
            run.stderr.contains(line) && run.stderr.contains(named),
            "{links}: {}",
            run.stderr
        );
        assert!(!fixture.preview().exists(), "nothing written");
    }
}

/// Without `[links]` nothing is tagged (the campaign as before).
#[test]
fn without_links_settings_nothing_is_tagged() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 1,
        ..Spec::new(server.port)
    };
    let fixture = Fixture::from_spec(&spec);
    fixture.write("email.html", HTML);
    fixture.write(
        "campaign.toml",
        &(spec.toml()
            + "\n[unsubscribe]\nurl = \"https://acme.example/u?e={{ email | urlencode }}\"\n"),
    );
    fixture.send(&[], None).expect(0);
    let message = &server.wait_for(1, WAIT)[0];
    assert!(!message.text().contains("utm_source=newsletter"));
    let parsed = message.parsed();
    let html = parsed.body_html(0).unwrap();
    assert_eq!(hrefs(&html)[0], "https://acme.example/april");
    assert!(
        !parsed
            .body_text(0)
            .unwrap()
            .contains("utm_source=newsletter")
    );
}
