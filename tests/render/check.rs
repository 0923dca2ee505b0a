//! `campaign check` on rendering: it passes the example campaign and a clean one (skips are
//! warnings, `--strict` fails on them), fails on an undefined variable writing nothing, and a
//! dry run refuses a bad `--rate` or `--concurrency` like a send.

use std::path::Path;

use crate::support::fixture::{Fixture, run_binary};

use super::*;

// -------------------------------------------------------------------- check ---

fn example_campaign() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("campaigns/april")
}

/// The warnings `check` prints (deliverability lints included, e.g. no `[dkim]` in the example).
fn warning_lines(stdout: &str) -> usize {
    stdout
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .count()
}

#[test]
fn check_passes_the_example_campaign_with_its_skips_as_warnings() {
    let dir = example_campaign();
    let out = run_binary(&[Path::new("check"), &dir]);
    assert_eq!(out.code, 0, "{out:#?}");
    let warnings = warning_lines(&out.stdout);
    assert!(warnings >= 2, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "rendered 5 recipient(s); 0 error(s), {warnings} warning(s)."
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("line 8: Zoe.Muller@Example.com will be skipped: duplicate of line 2"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("line 9: not-an-email will be skipped: invalid address"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("note: ")
            && out
                .stdout
                .contains("line 7: sam.okafor@example.com will be skipped: suppressed"),
        "{}",
        out.stdout
    );
}

#[test]
fn check_strict_fails_on_warnings() {
    let dir = example_campaign();
    let out = run_binary(&[Path::new("check"), &dir, Path::new("--strict")]);
    assert_eq!(out.code, 2, "{out:#?}");
    let warnings = warning_lines(&out.stdout);
    assert!(warnings >= 2, "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!("{warnings} warning(s)")),
        "{}",
        out.stdout
    );
}

#[test]
fn check_fails_on_an_undefined_variable_and_writes_nothing() {
    let html = "<html><body><p>{{ coupon_code }}</p></body></html>\n";
    let fx = Fixture::with(MINIMAL_TOML, html, MINIMAL_CSV);
    let before = fx.snapshot();
    let out = fx.run("check", &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    let file = path_in(&fx, "email.html");
    assert!(
        out.stdout.contains(&format!(
            "error: {file}: undefined variable `coupon_code` (recipients line 2)"
        )),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("1 error(s)"), "{}", out.stdout);
    assert!(fx.snapshot() == before, "check wrote something");
}

#[test]
fn check_passes_a_clean_campaign_even_with_strict() {
    // Clean for the deliverability lints too (see tests/check.rs): DKIM-signed on the From domain
    // (key made with the openssl CLI; no DNS lookup without --dns), and enough text for its image.
    let toml = format!(
        "{MINIMAL_TOML}[dkim]\ndomain = \"acme.example\"\nselector = \"s1\"\nprivate_key = \"dkim.pem\"\n"
    );
    let html = "<html><body><h1>Hello {{ first_name }}</h1>\n\
                <p>A short message, but with enough text around its one image that the \
                deliverability lint does not call it image-heavy.</p>\n\
                <img src=\"https://cdn.example.com/x.png\" alt=\"x\"></body></html>\n";
    let fx = Fixture::with(&toml, html, MINIMAL_CSV);
    let key = fx.dir().join("dkim.pem");
    support::fixture::rsa_key(&key);
    let out = fx.run("check", &["--strict"]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout
            .contains("rendered 1 recipient(s); 0 error(s), 0 warning(s)."),
        "{}",
        out.stdout
    );
}

/// The command line's overrides are part of the campaign, checked at load: a dry run refuses the
/// same bad `--rate` or `--concurrency` a send refuses (it used to ignore them), writing nothing.
#[test]
fn a_dry_run_refuses_a_bad_rate_or_concurrency_like_a_send() {
    for (flag, value, says) in [
        ("--rate", "fast", "--rate"),
        ("--rate", "0/s", "--rate"),
        ("--concurrency", "0", "--concurrency"),
        ("--concurrency", "1000", "--concurrency"),
    ] {
        let fx = minimal_fixture();
        let before = fx.snapshot();
        let out = fx.dry_run(&[flag, value]);
        assert_eq!(out.code, 2, "{flag} {value}: {out:#?}");
        assert!(out.stderr.contains(says), "{flag} {value}: {}", out.stderr);
        assert_eq!(fx.snapshot(), before, "{flag} {value}: nothing written");
    }
    minimal_fixture().dry_run_ok(&["--rate", "10/s", "--concurrency", "2"]);
}

/// One template error that hits many rows is one problem with the count and the lines, not a
/// line per recipient; a different error stays its own problem, with its own line.
#[test]
fn check_groups_one_error_on_many_rows_into_one_problem_with_its_lines() {
    let html = "<p>Hi {{ first_name }}</p>{% if first_name == \"Zed\" %}{{ 1 / 0 }}\
                {% elif first_name != \"Ann\" %}{{ coupon }}{% endif %}";
    let mut csv = String::from("email,first_name\nann@example.com,Ann\n");
    for i in 0..30 {
        csv.push_str(&format!("u{i}@example.com,U{i}\n"));
    }
    csv.push_str("zed@example.com,Zed\n");
    let fx = Fixture::with(MINIMAL_TOML, html, &csv);
    let out = fx.run("check", &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    let lines_with = |needle: &str| -> Vec<String> {
        let found = out.stdout.lines().filter(|l| l.contains(needle));
        found.map(str::to_string).collect()
    };
    let coupon = lines_with("undefined variable `coupon`");
    assert_eq!(
        coupon.len(),
        1,
        "one problem for the 30 rows: {}",
        out.stdout
    );
    assert!(
        coupon[0].contains("— 30 recipients, lines 3–32"),
        "{}",
        out.stdout
    );
    assert!(!coupon[0].contains("(recipients line"), "{}", out.stdout);
    let division = lines_with("division by zero");
    assert_eq!(division.len(), 1, "{}", out.stdout);
    assert!(
        division[0].contains("(recipients line 33)"),
        "{}",
        out.stdout
    );
}
