//! Issue 13 item 1: a Markdown body (`content = "email.md"`). The real `campaign` binary sends a
//! campaign whose body is a Tera template producing Markdown to the aiosmtpd capture server on
//! 127.0.0.1; each message is parsed back with mail-parser: the HTML part is the layout with the
//! Markdown's HTML in its `content` block (CSS inlined), the text part is read from the Markdown,
//! and CSV values cannot turn into Markdown or HTML. Config mistakes are exit 2 with nothing sent.

mod support;

use std::path::Path;

use support::campaign::{Fixture, Spec, WAIT, row_for};
use support::{CaptureOptions, CaptureServer};

/// The repository's layouts, copied into the fixture's layouts folder (which replaces them).
fn with_layouts(fx: &Fixture) {
    let layouts = fx.root().join("templates");
    std::fs::create_dir_all(layouts.join("partials")).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
    for name in ["base.html", "partials/button.html"] {
        std::fs::copy(repo.join(name), layouts.join(name)).unwrap();
    }
}

const MARKDOWN: &str = "# April news\n\nHello {{ first_name }}, see [our plans](https://acme.example/plans).\n\n\
- one\n- two\n\n| Plan | Price |\n|------|-------|\n| Pro  | 10    |\n\n*Note:* {{ note }}\n";

/// A Markdown campaign sending to `port`, one recipient per `(first_name, note)`.
fn markdown_campaign(port: u16, toml_top: &str, rows: &[(&str, &str)]) -> Fixture {
    let spec = Spec::new(port);
    let fx = Fixture::from_spec(&spec);
    with_layouts(&fx);
    fx.write("campaign.toml", &format!("{toml_top}\n{}", spec.toml()));
    fx.write("email.md", MARKDOWN);
    std::fs::remove_file(fx.dir().join("email.html")).unwrap();
    let mut csv = String::from("email,first_name,note\n");
    for (i, (name, note)) in rows.iter().enumerate() {
        let quoted = note.replace('"', "\"\"");
        csv += &format!("{},{name},\"{quoted}\"\n", support::campaign::email(i));
    }
    fx.write("recipients.csv", &csv);
    fx
}

#[test]
fn a_markdown_body_is_sent_in_the_layout_with_its_text_part_read_from_the_markdown() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = markdown_campaign(
        server.port,
        "content = \"email.md\"",
        &[("Ada", "bring skates")],
    );
    fx.send(&[], None).expect(0);
    let received = server.wait_for(1, WAIT);
    let parsed = received[0].parsed();
    let html = parsed.body_html(0).expect("an HTML part").into_owned();
    assert!(
        html.contains("<!DOCTYPE html>") && html.contains("x-apple-disable-message-reformatting"),
        "the layout: {html}"
    );
    assert!(html.contains("April news</h1>"), "{html}");
    assert!(
        html.contains("href=\"https://acme.example/plans\""),
        "the link survives inlining: {html}"
    );
    assert!(
        html.contains("<table") && html.contains(">Pro</td>"),
        "{html}"
    );
    assert!(html.contains("<em>Note:</em> bring skates"), "{html}");
    assert!(
        html.contains("<h1 style="),
        "CSS inlined into the Markdown's HTML: {html}"
    );
    let text = parsed
        .body_text(0)
        .expect("a text part")
        .replace("\r\n", "\n");
    // The layout's header and footer around the Markdown's own text, one list of footnotes.
    let expected = "Newsletter\n\n# April news\n\nHello Ada, see our plans[1].\n\n- one\n- two\n\n\
                    Plan | Price\nPro | 10\n\nNote: bring skates\n\n\
                    You are receiving this email because you signed up for our newsletter.\n\n\
                    [1]: https://acme.example/plans\n";
    assert_eq!(text, expected);
}

/// The text part carries what the layout adds around the Markdown (the postal address, the
/// unsubscribe link: a text-only reader needs them as much as an HTML one), its links numbered
/// after the Markdown's in one list, and nothing of the mark that placed the Markdown.
#[test]
fn the_text_part_has_the_layouts_footer_with_its_links_numbered_after_the_markdowns() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = markdown_campaign(server.port, "content = \"email.md\"", &[("Ada", "x")]);
    let toml = std::fs::read_to_string(fx.dir().join("campaign.toml")).unwrap();
    let tables = "\n[vars]\ncompany = \"Acme Inc.\"\naddress = \"742 Evergreen Terrace, Springfield\"\n\
                  [unsubscribe]\nurl = \"https://acme.example/u?e={{ email | urlencode }}\"\n";
    fx.write("campaign.toml", &format!("{toml}{tables}"));
    fx.send(&[], None).expect(0);
    let received = server.wait_for(1, WAIT);
    let text = received[0]
        .parsed()
        .body_text(0)
        .unwrap()
        .replace("\r\n", "\n");
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} in:\n{text}"))
    };
    assert!(
        at("Acme Inc.") < at("# April news"),
        "the header first:\n{text}"
    );
    assert!(
        at("Note: x") < at("742 Evergreen Terrace, Springfield"),
        "{text}"
    );
    assert!(at("742 Evergreen Terrace") < at("Unsubscribe[2]"), "{text}");
    let notes = &text[at("[1]: ")..];
    let unsubscribe = format!("[2]: https://acme.example/u?e={}", "r000%40example.com");
    assert_eq!(
        notes,
        format!("[1]: https://acme.example/plans\n{unsubscribe}\n"),
        "one list, in reading order:\n{text}"
    );
    assert!(!text.contains('\u{FFFC}'), "{text:?}");
}

#[test]
fn csv_values_cannot_inject_markup_or_links_into_markdown() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let hostile = [
        ("Eve", "<script>alert(1)</script>"),
        ("Mal", "**x** and _y_"),
        ("Oz", "[a](javascript:alert(1)) ![i](x.png)"),
        ("Tab", "# heading\n\n1. item"),
    ];
    let fx = markdown_campaign(server.port, "content = \"email.md\"", &hostile);
    fx.send(&[], None).expect(0);
    let received = server.wait_for(hostile.len(), WAIT);
    assert_eq!(received.len(), hostile.len());
    for message in &received {
        let parsed = message.parsed();
        let html = parsed.body_html(0).unwrap().into_owned();
        let body = &html[html.find("April news").unwrap()..];
        // The same page shape for everyone: the later pages come from the shape cache.
        assert!(
            body.contains("href=\"https://acme.example/plans\""),
            "{body}"
        );
        for injected in [
            "<script",
            "<strong",
            "<em>y",
            "href=\"javascript",
            "<img",
            "<h1",
            "<ol",
        ] {
            assert!(!body.contains(injected), "{injected} injected: {body}");
        }
        let i = hostile
            .iter()
            .position(|(name, _)| html.contains(&format!("Hello {name},")))
            .unwrap();
        let text = parsed.body_text(0).unwrap().into_owned();
        let first_line = hostile[i].1.lines().next().unwrap();
        assert!(
            text.contains(first_line),
            "shown as written: {first_line:?} in {text}"
        );
    }
}

#[test]
fn content_and_html_together_are_a_config_error() {
    let fx = markdown_campaign(
        2525,
        "content = \"email.md\"\nhtml = \"email.md\"",
        &[("Ada", "x")],
    );
    let run = fx.run("check", &[]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("one or the other"), "{}", run.stderr);
}

#[test]
fn layout_or_block_without_content_and_a_mistyped_key_are_reported_together() {
    let fx = markdown_campaign(
        2525,
        "layout = \"base.html\"\ncontnet = \"email.md\"",
        &[("Ada", "x")],
    );
    let run = fx.run("check", &[]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr
            .contains("layout applies only to a Markdown body"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("did you mean `content`?"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_block_the_layout_lacks_is_refused_before_anything_is_sent() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let top = "content = \"email.md\"\nblock = \"body\"";
    let fx = markdown_campaign(server.port, top, &[("Ada", "x")]);
    let run = fx.send(&[], None);
    run.expect(2);
    assert!(
        run.stderr.contains("has no block \"body\""),
        "{}",
        run.stderr
    );
    assert!(server.messages().is_empty());
    let missing = markdown_campaign(
        2525,
        "content = \"email.md\"\nlayout = \"nope.html\"",
        &[("Ada", "x")],
    );
    let run = missing.run("check", &[]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("nope.html"), "{}", run.stderr);
}

#[test]
fn another_block_of_the_layout_can_be_filled() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let top = "content = \"email.md\"\nblock = \"footer\"";
    let fx = markdown_campaign(server.port, top, &[("Ada", "x")]);
    fx.send(&[], None).expect(0);
    let html = server.wait_for(1, WAIT)[0]
        .parsed()
        .body_html(0)
        .unwrap()
        .into_owned();
    assert!(html.contains("April news</h1>"), "{html}");
    let rows = fx.rows();
    assert_eq!(row_for(&rows, &support::campaign::email(0)).status, "sent");
}

/// The example campaign of the README passes `check` and renders in a dry run.
#[test]
fn the_markdown_example_campaign_checks_and_renders() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("campaigns/markdown-example");
    let run = support::fixture::run_binary(&[Path::new("check"), &dir]);
    assert_eq!(run.code, 0, "{run:#?}");
    let out = tempfile::tempdir().unwrap();
    let preview = out.path().join("preview");
    let args = [
        Path::new("run"),
        &dir,
        Path::new("--dry-run"),
        Path::new("--out"),
        &preview,
    ];
    let run = support::fixture::run_binary(&args);
    assert_eq!(run.code, 0, "{run:#?}");
    let index = std::fs::read_to_string(preview.join("index.html")).unwrap();
    assert!(!index.is_empty());
}

#[test]
fn images_and_value_links_in_markdown_work_and_a_text_template_wins() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = markdown_campaign(server.port, "content = \"email.md\"", &[("Ada", "x")]);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    std::fs::create_dir_all(fx.dir().join("images")).unwrap();
    std::fs::write(fx.dir().join("images/logo.png"), png).unwrap();
    let md = "![Our logo](images/logo.png)\n\n[Pay now]({{ pay_url }})\n";
    fx.write("email.md", md);
    let csv = "email,first_name,pay_url\na@example.com,Ada,https://pay.example/?id=42&k=a_b\n";
    fx.write("recipients.csv", csv);
    fx.send(&[], None).expect(0);
    let message = &server.wait_for(1, WAIT)[0];
    let parsed = message.parsed();
    let html = parsed.body_html(0).unwrap().into_owned();
    assert!(
        html.contains("src=\"cid:") && html.contains("alt=\"Our logo\""),
        "{html}"
    );
    assert!(
        html.contains("href=\"https://pay.example/?id=42&amp;k=a_b\""),
        "{html}"
    );
    let text = parsed.body_text(0).unwrap().replace("\r\n", "\n");
    let text = text.trim_start_matches("Newsletter\n\n");
    let text = text.replace(
        "You are receiving this email because you signed up for our newsletter.\n\n",
        "",
    );
    assert_eq!(
        text,
        "[Our logo]\n\nPay now[1]\n\n[1]: https://pay.example/?id=42&k=a_b\n"
    );

    fx.write("email.txt", "Plain {{ first_name }}\n");
    fx.write("results.csv", "");
    std::fs::remove_file(fx.results_path()).unwrap();
    fx.send(&[], None).expect(0);
    let second = &server.wait_for(2, WAIT)[1];
    let text = second.parsed().body_text(0).unwrap().replace("\r\n", "\n");
    assert_eq!(text.trim_end(), "Plain Ada");
}
