//! Templates that cannot render (items 9, 15): recursion of every shape refused at load by check,
//! dry run and send; division or modulo by zero fails that recipient in plain words, or refuses
//! the campaign when the zero is a literal.

use crate::support::fixture::{Fixture, emls};

use super::*;

// -------------------------------------------------------- item 9: recursion ---

/// Each recursion shape: (name, files in the campaign directory, what the message must name).
/// A recursion shape: its name, the files of the campaign directory, what the error must name.
type Shape = (
    &'static str,
    Vec<(&'static str, &'static str)>,
    &'static str,
);

fn recursion_shapes() -> Vec<Shape> {
    vec![
        (
            "self-include",
            vec![("email.html", "<p>Hi</p>{% include \"email.html\" %}")],
            "email.html → email.html",
        ),
        (
            "include cycle",
            vec![
                ("email.html", "<p>Hi</p>{% include \"a.html\" %}"),
                ("a.html", "a {% include \"b.html\" %}"),
                ("b.html", "b {% include \"a.html\" %}"),
            ],
            "a.html → b.html → a.html",
        ),
        (
            "recursive macro",
            vec![(
                "email.html",
                "{% macro down(n) %}{{ n }} {{ self::down(n=n) }}{% endmacro down %}\
                 <p>{{ self::down(n=1) }}</p>",
            )],
            "down",
        ),
        (
            "mutually recursive imported macros",
            vec![
                (
                    "email.html",
                    "{% import \"m.html\" as m %}<p>{{ m::ping(n=1) }}</p>",
                ),
                (
                    "m.html",
                    "{% macro ping(n) %}{{ self::pong(n=n) }}{% endmacro %}\
                     {% macro pong(n) %}{{ self::ping(n=n) }}{% endmacro %}",
                ),
            ],
            "ping",
        ),
        (
            "extends including the child",
            vec![
                (
                    "email.html",
                    "{% extends \"page.html\" %}{% block content %}x{% endblock %}",
                ),
                (
                    "page.html",
                    "<p>{% block content %}{% endblock %}</p>{% include \"email.html\" %}",
                ),
            ],
            "email.html → page.html → email.html",
        ),
        (
            "extends cycle",
            vec![
                ("email.html", "{% extends \"a.html\" %}"),
                ("a.html", "{% extends \"b.html\" %}"),
                ("b.html", "{% extends \"a.html\" %}"),
            ],
            "a.html → b.html → a.html",
        ),
    ]
}

#[test]
fn template_recursion_is_refused_at_load_in_check_dry_run_and_send() {
    let server = capture();
    for (shape, files, cycle) in recursion_shapes() {
        let mut fx = Fixture::new()
            .file("campaign.toml", toml("Hi", server.port, ""))
            .file("recipients.csv", "email\na@example.com\nb@example.com\n");
        for (name, text) in files {
            fx = fx.file(name, text);
        }
        let before = fx.snapshot();
        for (command, extra) in [
            ("check", &[][..]),
            ("run", &["--dry-run"][..]),
            ("run", &["--no-progress"][..]),
        ] {
            let out = run(&fx, command, extra, &[]);
            assert_eq!(out.code, 2, "{shape}: {command} {extra:?}: {out:#?}");
            assert!(
                out.stderr.contains(cycle),
                "{shape}: {command} {extra:?} should name {cycle:?}: {}",
                out.stderr
            );
        }
        assert_eq!(fx.snapshot(), before, "{shape}: nothing written");
        assert!(server.messages().is_empty(), "{shape}: nothing sent");
    }
}

// ------------------------------------------------- item 15: division by zero ---

#[test]
fn division_and_modulo_by_zero_fail_that_recipient_in_plain_words() {
    for expression in ["100 / n", "100 % n", "1.5 % n"] {
        let fx = Fixture::with(
            &toml("Hi", 0, ""),
            &format!("{{% set n = d | int %}}<p>{{{{ {expression} }}}}</p>"),
            "email,d\na@example.com,4\nzero@example.com,0\n",
        );
        let check = run(&fx, "check", &[], &[]);
        expect(&check, 2);
        let error = check
            .stdout
            .lines()
            .find(|l| l.contains("division by zero"))
            .unwrap_or_else(|| panic!("{expression}: {check:#?}"));
        assert!(
            error.contains("email.html") && error.contains("line 3"),
            "{error}"
        );
        assert!(!check.stdout.contains("Expr"), "{check:#?}");
        let dry = run(&fx, "run", &["--dry-run"], &[]);
        expect(&dry, 1);
        let eml = &emls(&fx.preview())[0];
        assert!(!String::from_utf8_lossy(eml).contains("NaN"));
    }
}

#[test]
fn division_by_a_literal_zero_refuses_the_campaign() {
    let fx = Fixture::with(
        &toml("Hi", 0, ""),
        "<p>{{ 1/0 }}</p>",
        "email\na@example.com\n",
    );
    let out = run(&fx, "run", &["--dry-run"], &[]);
    expect(&out, 2);
    let expected = format!(
        "division by zero in {} (recipients line 2)",
        fx.dir().join("email.html").display()
    );
    assert!(out.stderr.contains(&expected), "{out:#?}");
}
