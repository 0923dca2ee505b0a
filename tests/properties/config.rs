//! `campaign.toml` as `Campaign::load` reads it: any TOML-ish text loads or is refused without a
//! panic; every refusal names the file, and one the TOML reader makes (syntax, a wrong type, an
//! unknown key) names the line and column, counted in characters, inside the file.

use campaign::campaign::Campaign;
use proptest::prelude::*;

const CASES: u32 = 2048;

/// A value as TOML writes it, or almost: strings with escapes (some invalid), unterminated ones,
/// numbers out of range, arrays, inline tables, dates, garbage.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 @<>.,/=éü张😀-]{0,12}".prop_map(|s| format!("\"{s}\"")),
        "[a-zA-Z0-9 @<>.éü张-]{0,12}".prop_map(|s| format!("'{s}'")),
        prop::sample::select(vec![
            "\"Acme <news@acme.example>\"",
            "\"news@acme.example\"",
            "\"Zoë Müller <zoë@exämple.com>\"",
            "\"a\\nb@x.example\"",
            "\"\\u00e9\\t\\\"q\\\"\"",
            "\"\\q\"",
            "\"\\uD800\"",
            "\"\\U0010FFFF\"",
            "\"unterminated",
            "\"\"\"multi\nline\"\"\"",
            "'''lit\nline'''",
            "\"10/s\"",
            "\"0/s\"",
            "\"4294967296/s\"",
            "\" 5 / MIN \"",
            "\"starttls\"",
            "\"TLS\"",
            "\"../secret\"",
            "\"/etc/passwd\"",
            "\"email.html\"",
            "\"\"",
            "0",
            "-1",
            "465",
            "65536",
            "99999999999999999999",
            "1e400",
            "nan",
            "3.5",
            "true",
            "1979-05-27T07:32:00Z",
            "[1, \"a\"]",
            "[\"email.html\", 2]",
            "{ a = 1 }",
            "{ a = 1, a = 2 }",
            "=",
            "",
            "é",
        ])
        .prop_map(str::to_string),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "subject",
        "from",
        "reply_to",
        "html",
        "text",
        "recipients",
        "templates",
        "attachments",
        "suppress",
        "subjet",
        "host",
        "port",
        "security",
        "timeout",
        "data_timeout",
        "username",
        "rate",
        "concurrency",
        "retries",
        "daily_limit",
        "throttle_pause",
        "url",
        "mailto",
        "domain",
        "selector",
        "algorithm",
        "\"X-Tag\"",
        "\"Bad:Name\"",
        "\"From\"",
        "a.b",
        "\"ké\"",
        "é",
        "1",
    ])
    .prop_map(str::to_string)
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
        2 => prop::sample::select(vec![
            "[smtp]", "[send]", "[dkim]", "[unsubscribe]", "[vars]", "[headers]", "[[vars]]",
            "[smtp", "[vars.x]", "[é]",
        ]).prop_map(str::to_string),
        1 => "# [a-zé张 ]{0,8}",
        1 => Just(String::new()),
        1 => "[a-z=\"'\\[\\]{},é ]{0,10}",
    ]
}

/// A file: most start with a valid subject and From, so later lines reach the checks after
/// parsing; lines end in LF or CRLF.
fn file() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        prop::collection::vec(line(), 0..10),
        any::<bool>(),
    )
        .prop_map(|(base, lines, crlf)| {
            let mut all = Vec::new();
            if base {
                all.push("subject = \"Hi {{ name }}\"".to_string());
                all.push("from = \"Acme <news@acme.example>\"".to_string());
            }
            all.extend(lines);
            all.join(if crlf { "\r\n" } else { "\n" })
        })
}

/// `(line, column)` of a `campaign.toml:LINE:COLUMN: ` prefix after `path`, if the error has one.
fn position(error: &str, path: &str) -> Option<(usize, usize)> {
    let rest = error.strip_prefix(path)?.strip_prefix(':')?;
    let mut parts = rest.splitn(3, ':');
    let line = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok()?;
    Some((line, column))
}

proptest! {
    #![proptest_config(config!(CASES, "config.txt"))]

    #[test]
    fn any_toml_ish_text_loads_or_is_refused_naming_the_file_and_place(text in file()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("email.html"), "<p>Hi</p>").unwrap();
        std::fs::write(dir.path().join("recipients.csv"), "email\n").unwrap();
        let path = dir.path().join("campaign.toml");
        std::fs::write(&path, &text).unwrap();
        let Err(e) = Campaign::load(dir.path()) else { return Ok(()) };
        let (e, path) = (e.to_string(), path.display().to_string());
        prop_assert!(e.contains(&path), "{e}");
        if text.parse::<toml::Table>().is_err() {
            let (line, column) = position(&e, &path)
                .ok_or_else(|| TestCaseError::fail(format!("no line:column in {e}")))?;
            let lines: Vec<&str> = text.split('\n').collect();
            prop_assert!((1..=lines.len()).contains(&line), "line {line} of {}: {e}", lines.len());
            let chars = lines[line - 1].chars().count();
            prop_assert!((1..=chars + 1).contains(&column), "column {column} of {chars}: {e}");
        }
    }
}

/// The column of a TOML error counts characters, as an editor does, not bytes.
#[test]
fn a_toml_error_after_non_ascii_text_is_placed_by_characters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("email.html"), "<p>Hi</p>").unwrap();
    let path = dir.path().join("campaign.toml");
    // The `=` missing before `from`, the 6th character of line 2 (its 8th byte: ä and ö are two).
    std::fs::write(&path, "subject = \"Grüße\"\n\"äö\" from \"x@y\"\n").unwrap();
    let e = Campaign::load(dir.path()).unwrap_err().to_string();
    let at = format!("{}:2:6: ", path.display());
    assert!(e.starts_with(&at), "{e}");
}
