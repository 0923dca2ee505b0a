//! The two bodies: CSS inlined into the HTML part with CSV values escaped (a row whose data
//! css-inline refuses fails that recipient only), and the text part derived readably from the
//! HTML or taken from the text template.

use crate::support::fixture::{Fixture, emls, files_with};

use super::*;

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
