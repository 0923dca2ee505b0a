//! Integration tests for `campaign check` as a deliverability lint: every content rule is triggered
//! by a purpose-built campaign (and absent from a clean one), and `--dns` is run against a real DNS
//! server on 127.0.0.1: dnsmasq (Debian's `dnsmasq-base`, installed by `tests/support/setup.sh`)
//! serving only the records each test gives it. No test queries any other address. Keys are made
//! with the openssl CLI.
//!
//! This file holds the suite's fixtures (a clean campaign to spoil) and the readers of `check`'s
//! output; the content lints and the DNS checks are a file each.

#[path = "../support/mod.rs"]
mod support;

mod dns;
mod lints;

use support::fixture::{Fixture, Run, rsa_key};

// ------------------------------------------------------------------ fixtures ---

const FROM: &str = "Acme News <news@acme.example>";

/// Enough visible text (well over 500 characters) for one image.
const PARAGRAPHS: &str = "<p>Spring is here, and so is our April issue. This month we look at the \
    new Rocket Skates, five weekend projects for your workshop, and the story of how every Giant \
    Magnet spends a week next to a very nervous anvil before it ships to you.</p>\n\
    <p>We also answer the three questions readers asked most since March: how to upgrade an old \
    pair of skates, where to find the spare parts for the solar bird feeder, and why the magnet \
    never ships in the same parcel as the anvil. As always, reply to this message if you have a \
    question of your own; a real person reads every reply.</p>\n";

/// The HTML of the clean campaign: text, one image with alt, https links.
fn clean_html() -> String {
    format!(
        "<!DOCTYPE html><html><head><title>April</title></head><body>\n\
         <h1>Hello {{{{ first_name }}}}</h1>\n{PARAGRAPHS}\
         <img src=\"https://cdn.acme.example/skates.jpg\" alt=\"Rocket Skates 2.0\">\n\
         <p><a href=\"https://acme.example/blog\">Read more on the blog</a></p>\n\
         </body></html>\n"
    )
}

/// A CSV of `n` recipients with a `first_name` and a `headline` column.
fn recipients(n: usize) -> String {
    let mut csv = String::from("email,first_name,headline\n");
    for i in 1..=n {
        csv.push_str(&format!("reader{i}@example.com,Reader{i},Spring news\n"));
    }
    csv
}

/// campaign.toml of the clean campaign with `[dkim]` using `dkim.pem`.
fn clean_toml() -> String {
    format!(
        "subject = \"April news for {{{{ first_name }}}}\"\n\
         from = \"{FROM}\"\n\
         [unsubscribe]\n\
         url = \"https://acme.example/unsubscribe?e={{{{ email | urlencode }}}}\"\n\
         mailto = \"unsubscribe@acme.example\"\n\
         [dkim]\n\
         domain = \"acme.example\"\n\
         selector = \"s1\"\n\
         private_key = \"dkim.pem\"\n"
    )
}

/// A campaign with `toml`, `html` and `n` recipients, and a fresh RSA key in `dkim.pem`.
fn campaign(toml: &str, html: &str, n: usize) -> Fixture {
    let fixture = Fixture::with(toml, html, &recipients(n));
    rsa_key(&fixture.dir().join("dkim.pem"));
    fixture
}

fn check(fixture: &Fixture, extra: &[&str]) -> Run {
    fixture.run("check", extra)
}

/// The lines of stdout that start with `label: ` (error, warning, note).
fn lines<'o>(out: &'o Run, label: &str) -> Vec<&'o str> {
    let prefix = format!("{label}: ");
    out.stdout
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()))
        .collect()
}

/// The one warning containing `needle`; fails when there is none or more than one.
fn warning<'o>(out: &'o Run, needle: &str) -> &'o str {
    let found: Vec<&str> = lines(out, "warning")
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect();
    assert_eq!(found.len(), 1, "want one warning with {needle:?}: {out:#?}");
    found[0]
}

/// The `why:` and `fix:` lines printed under the problem whose line contains `needle`.
fn explanation<'o>(out: &'o Run, needle: &str) -> (&'o str, &'o str) {
    let all: Vec<&str> = out.stdout.lines().collect();
    let at = all
        .iter()
        .position(|l| !l.starts_with(' ') && l.contains(needle))
        .unwrap_or_else(|| panic!("no problem with {needle:?}: {out:#?}"));
    let why = all
        .get(at + 1)
        .and_then(|l| l.strip_prefix("  why: "))
        .unwrap_or_else(|| panic!("no why: under {needle:?}: {out:#?}"));
    let fix = all
        .get(at + 2)
        .and_then(|l| l.strip_prefix("  fix: "))
        .unwrap_or_else(|| panic!("no fix: under {needle:?}: {out:#?}"));
    (why, fix)
}

fn assert_clean(out: &Run) {
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(lines(out, "warning").is_empty(), "{out:#?}");
    assert!(lines(out, "error").is_empty(), "{out:#?}");
    assert!(out.stdout.contains("0 error(s), 0 warning(s)."), "{out:#?}");
}
