//! The content lints: each rule triggered by a purpose-built campaign and absent from a clean
//! one (unsubscribe, text alternative, size, images, links, subject, DKIM, Reply-To), one warning
//! a rule however many recipients, `--strict`, and a resolver given without `--dns`.

use super::*;

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
