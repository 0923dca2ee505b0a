//! Integration tests for careless or hostile input in the recipients CSV and the suppression files:
//! each test writes a campaign directory into a tempdir (`tests/common`), runs the real binary on it
//! (`check`, the dry run, and where it matters a real send to the scripted SMTP server of
//! `tests/support`), and looks at what it printed, wrote and sent.

#[allow(dead_code)]
mod common;
mod support;

use std::net::TcpListener;

use common::{Fixture, Output, files_with};

const TOML: &str = "subject = \"Hi {{ name }}\"\nfrom = \"news@acme.example\"\n";
const HTML: &str = "<html><body><p>Hello {{ name }}, {{ email }}.</p>\n\
    <p>Some text so that the message is not empty.</p></body></html>\n";

/// A campaign whose `[smtp]` points at `listener` (which must never see a connection).
fn toml_with_smtp(listener: &TcpListener) -> String {
    let port = listener.local_addr().unwrap().port();
    format!("{TOML}[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n")
}

/// Asserts that nobody connected to `listener`.
fn assert_no_connection(listener: &TcpListener) {
    listener.set_nonblocking(true).unwrap();
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("something connected to the SMTP server: {other:?}"),
    }
}

/// Asserts exit code 2 with every `wanted` text on stderr.
fn assert_refused(out: &Output, wanted: &[&str]) {
    assert_eq!(out.code, 2, "{out:#?}");
    for w in wanted {
        assert!(
            out.stderr.contains(w),
            "{w:?} not in stderr:\n{}",
            out.stderr
        );
    }
}

// ------------------------------------------------------- 5: unterminated quote ---

/// 1,000 rows on 1,001 lines; line 2's name field opens a quote that the next `"` (on line 501)
/// closes, so lines 3-500 are swallowed into it unless the reader notices.
fn swallowing_csv() -> String {
    let mut csv = String::from("email,name\nu0@example.com,\"Ann\n");
    for i in 1..499 {
        csv.push_str(&format!("u{i}@example.com,N{i}\n"));
    }
    csv.push_str("u499@example.com,\"Zed\"\n");
    for i in 500..1000 {
        csv.push_str(&format!("u{i}@example.com,N{i}\n"));
    }
    csv
}

#[test]
fn an_unterminated_quote_swallowing_rows_is_an_error_naming_its_line() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let fx = Fixture::with(&toml_with_smtp(&listener), HTML, &swallowing_csv());
    let csv = fx.dir().join("recipients.csv").display().to_string();
    let wanted = [
        format!("{csv}: line 2: a quoted field starts here"),
        "line 3: u1@example.com".to_string(),
    ];
    let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let before = fx.snapshot();

    assert_refused(&fx.run("check", &[]), &wanted);
    assert_refused(&fx.dry_run(&[]), &wanted);
    assert!(!fx.preview().exists(), "the dry run wrote previews");
    assert_refused(&fx.run("run", &[]), &wanted);
    assert_no_connection(&listener);
    assert!(fx.snapshot() == before, "a file was written or changed");
}

#[test]
fn multi_line_fields_without_rows_in_them_still_work_and_rows_and_lines_are_reported() {
    let csv = "email,name,address,note\n\
               ann@example.com,Ann,\"Acme Inc.\n742 Evergreen Terrace\nSpringfield, OR 97403\",\"first line\nsecond line, with a comma\"\n\
               bob@example.com,Bob,\"1 Main St\",\"write to him at bob@example.com\nor call\"\n\
               cy@example.com,Cy,,\n";
    let fx = Fixture::with(TOML, HTML, csv);
    let path = fx.dir().join("recipients.csv").display().to_string();
    let summary = format!(
        "{path}: 3 rows on 8 lines (2 rows hold line breaks in quoted fields, the first on line 2)"
    );

    let out = fx.dry_run_ok(&[]);
    assert!(
        out.stdout.contains("Rendered 3 recipient(s), skipped 0"),
        "{out:#?}"
    );
    assert!(out.stdout.contains(&summary), "{summary:?} in {out:#?}");
    assert_eq!(files_with(&fx.preview(), "eml").len(), 3);

    let out = fx.run("check", &[]);
    assert!(out.stdout.contains(&summary), "{summary:?} in {out:#?}");
    assert!(
        out.stdout.contains("rendered 3 recipient(s); 0 error(s)"),
        "{out:#?}"
    );
}

#[test]
fn rows_and_lines_of_a_plain_list_are_reported_with_thousands_separators() {
    let mut csv = String::from("email,name\n");
    for i in 0..1000 {
        csv.push_str(&format!("u{i}@example.com,N{i}\n"));
    }
    let fx = Fixture::with(TOML, HTML, &csv);
    let path = fx.dir().join("recipients.csv").display().to_string();
    let out = fx.run("check", &[]);
    let summary = format!("{path}: 1,000 rows on 1,001 lines\n");
    assert!(out.stdout.contains(&summary), "{summary:?} in {out:#?}");
}
