//! Bad input is an invalid campaign (exit 2, nothing written) with a message naming the file,
//! line or position and the cause: campaign.toml, templates, layouts and partials, the CSV and
//! attachments.

use crate::support::fixture::Fixture;

use super::*;

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
        &[&format!(
            "{config}:2: unknown key `subjet`: did you mean `subject`?"
        )],
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
            "{config}:3: html = \"newsletter.html\": cannot open {missing}"
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
fn a_template_syntax_error_names_the_real_file_and_position_not_a_made_up_template_path() {
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
fn an_undefined_variable_in_a_partial_names_the_partial_not_email_html() {
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
    assert_invalid(
        &fx,
        &[&format!("{config}:3: attachments: cannot read {dir}")],
    );
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
