//! Every problem in campaign.toml reported in one pass (issue 12 item 11): unknown keys with "did
//! you mean", bad values and missing files, each at its line, together, exit 2, nothing written or
//! sent — by every command that loads the campaign (`check`, `run`, `run --dry-run`, `show`,
//! `test`), which share one loader. A campaign written into a tempdir
//! (`tests/support/campaign.rs`) with its `[smtp]` pointing at the aiosmtpd capture server on
//! 127.0.0.1, which must receive nothing.

mod support;

use support::campaign::{Fixture, Spec, capture_rcpts};
use support::{CaptureOptions, CaptureServer};

/// Four mistakes in three tables: a typo at the top (`subjet`, so `subject` is missing too), a
/// missing attachment, a bad `[smtp] security`, and a typo in `[send]`.
fn four_mistakes(port: u16) -> String {
    format!(
        "subjet = \"Hello {{{{ first_name }}}}\"\n\
         from = \"Acme News <news@acme.example>\"\n\
         attachments = [\"files/terms.pdf\"]\n\
         \n\
         [smtp]\n\
         host = \"127.0.0.1\"\n\
         port = {port}\n\
         security = \"ssl\"\n\
         \n\
         [send]\n\
         rat = \"10/s\"\n\
         concurrency = 2\n"
    )
}

/// The four problems, each at its line, in the order of the file.
fn assert_all_four(fx: &Fixture, stderr: &str) {
    let config = fx.dir().join("campaign.toml").display().to_string();
    let wanted = [
        format!("{config}: 4 problems; fix them all and run again:"),
        format!("  {config}:1: unknown key `subjet`: did you mean `subject`?"),
        format!("  {config}:3: attachments = \"files/terms.pdf\": cannot open "),
        format!(
            "  {config}:8: [smtp] security = \"ssl\" is not one of \"none\", \"starttls\", \"tls\""
        ),
        format!("  {config}:11: unknown key `rat` in [send]: did you mean `rate`?"),
    ];
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), wanted.len(), "one line a problem:\n{stderr}");
    assert_eq!(
        lines[0].strip_prefix("error: "),
        Some(wanted[0].as_str()),
        "{stderr}"
    );
    for (line, wanted) in lines[1..].iter().zip(&wanted[1..]) {
        assert!(line.starts_with(wanted.as_str()), "{wanted}\nin:\n{stderr}");
    }
    // The typo's suggestion says it all: no second line that `subject` is missing.
    assert!(!stderr.contains("missing"), "{stderr}");
}

#[test]
fn four_mistakes_in_three_tables_are_all_reported_at_once_by_every_command() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = Fixture::from_spec(&Spec::new(server.port));
    fx.write("campaign.toml", &four_mistakes(server.port));
    let before = fx.snapshot();
    let runs = [
        fx.spawn_command("check", &[], &[]).wait(),
        fx.spawn(&["--dry-run"], None).wait(),
        fx.spawn(&[], None).wait(),
        fx.spawn_command("show", &[], &[]).wait(),
        fx.spawn_command("test", &["--to", "me@example.com"], &[])
            .wait(),
    ];
    for run in &runs {
        run.expect(2);
        assert_all_four(&fx, &run.stderr);
    }
    assert_eq!(
        fx.snapshot(),
        before,
        "nothing written (no preview, no log)"
    );
    assert!(!fx.dir().join("preview").exists());
    assert!(capture_rcpts(&server).is_empty(), "nothing sent");
}

#[test]
fn a_key_in_the_wrong_table_says_where_it_belongs() {
    let fx = Fixture::from_spec(&Spec::new(2525));
    let toml = "subject = \"Hi\"\nfrom = \"news@acme.example\"\n\n[smtp]\nhost = \"127.0.0.1\"\n\
                rate = \"10/s\"\nreply_to = \"a@acme.example\"\n[smpt]\nport = 25\n";
    fx.write("campaign.toml", toml);
    let run = fx.spawn_command("check", &[], &[]).wait();
    run.expect(2);
    let config = fx.dir().join("campaign.toml").display().to_string();
    for wanted in [
        format!("{config}:6: unknown key `rate` in [smtp]: `rate` belongs in [send]"),
        format!(
            "{config}:7: unknown key `reply_to` in [smtp]: `reply_to` belongs at the top of the \
             file, before the first [table] header"
        ),
        format!("{config}:8: unknown key `smpt`: did you mean [smtp]?"),
    ] {
        assert!(
            run.stderr.contains(&wanted),
            "{wanted}\nin:\n{}",
            run.stderr
        );
    }
}

#[test]
fn bad_values_of_every_kind_and_missing_files_are_listed_together() {
    let fx = Fixture::from_spec(&Spec::new(2525));
    let toml = "subject = \"Hi\"\nfrom = \"not an address\"\nreply_to = 5\nhtml = \"news.html\"\n\
                suppress = [\"gone.csv\"]\ntemplates = \"layouts\"\n\n\
                [smtp]\nhost = \"127.0.0.1\"\nport = 70000\nca_file = \"ca.pem\"\n\n\
                [send]\nrate = \"fast\"\nconcurrency = 0\n\n\
                [dkim]\ndomain = \"acme.example\"\nselector = \"s\"\nalgorithm = \"md5\"\n\
                private_key = \"dkim.pem\"\n";
    fx.write("campaign.toml", toml);
    let run = fx.spawn_command("check", &[], &[]).wait();
    run.expect(2);
    let config = fx.dir().join("campaign.toml").display().to_string();
    for (line, wanted) in [
        (2, "from = \"not an address\": "),
        (3, "reply_to must be a string in quotes"),
        (4, "html = \"news.html\": cannot open"),
        (5, "suppress = \"gone.csv\": cannot open"),
        (6, "templates = \"layouts\": "),
        (
            10,
            "[smtp] port must be a whole number from 1 to 65535, not a number (70000)",
        ),
        (11, "[smtp] ca_file = \"ca.pem\": cannot open"),
        (14, "[send] rate \"fast\" is not valid"),
        (15, "[send] concurrency = 0 is out of range"),
        (20, "[dkim] algorithm = \"md5\" is not"),
        (21, "[dkim] private_key = \"dkim.pem\": cannot open"),
    ] {
        let wanted = format!("  {config}:{line}: {wanted}");
        assert!(
            run.stderr.contains(&wanted),
            "{wanted}\nin:\n{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains(": 11 problems;"), "{}", run.stderr);
}

#[test]
fn a_toml_syntax_error_is_still_reported_alone() {
    let fx = Fixture::from_spec(&Spec::new(2525));
    fx.write("campaign.toml", "subjet = \"Hi\"\nfrom = = \"x\"\n");
    let run = fx.spawn_command("check", &[], &[]).wait();
    run.expect(2);
    let config = fx.dir().join("campaign.toml").display().to_string();
    assert!(
        run.stderr.starts_with(&format!("error: {config}:2:8: ")),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

/// `[[dkim]]` and `[links]` are read like every other table (issue 13 items 8 and 9): a typo in
/// the second `[[dkim]]` table is reported at its own line (not the first table's, not the
/// `[[dkim]]` header's), and a misspelt key of `[links] utm` at its line, both in one pass; the
/// typo's suggestion stands for the missing `selector` and `campaign`. Nothing written.
#[test]
fn a_typo_in_a_dkim_table_and_a_bad_utm_key_are_reported_together() {
    let fx = Fixture::from_spec(&Spec::new(2525));
    let toml = "subject = \"Hi\"\nfrom = \"news@acme.example\"\n\n\
                [[dkim]]\ndomain = \"acme.example\"\nselector = \"news-rsa\"\n\
                private_key = \"rsa.pem\"\n\n\
                [[dkim]]\ndomain = \"acme.example\"\nselectr = \"news-ed\"\n\
                algorithm = \"ed25519-sha256\"\n\n\
                [links]\nutm = { source = \"newsletter\", medium = \"email\", campain = \"april\" }\n";
    fx.write("campaign.toml", toml);
    fx.write("rsa.pem", "not read before the file is right\n");
    let before = fx.snapshot();
    let config = fx.dir().join("campaign.toml").display().to_string();
    for run in [
        fx.spawn_command("check", &[], &[]).wait(),
        fx.spawn(&["--dry-run"], None).wait(),
    ] {
        run.expect(2);
        let wanted = [
            format!("error: {config}: 2 problems; fix them all and run again:"),
            format!("  {config}:11: unknown key `selectr` in [dkim]: did you mean `selector`?"),
            format!(
                "  {config}:15: unknown key `campain` in [links.utm]: did you mean `campaign`?"
            ),
        ];
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines, wanted, "{}", run.stderr);
    }
    assert_eq!(fx.snapshot(), before, "nothing written");
}
