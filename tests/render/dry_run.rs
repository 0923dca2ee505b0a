//! What a dry run writes and reports: recipients read with their line numbers, an `.eml` and an
//! `.html` per recipient with an index, `--out` and `--limit`, no connection to the SMTP server,
//! and the inliner's counters.

use crate::support::fixture::{Fixture, emls, files_with};

use super::*;

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

    // The browser copy shows the rendered page with images pointing at their copies beside it.
    let browser =
        std::fs::read_to_string(preview.join("000002-xiaoming@example.com.html")).unwrap();
    assert!(browser.contains("Hello 小明"), "{browser}");
    assert!(browser.contains("src=\"images/"), "{browser}");
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
