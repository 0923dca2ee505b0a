//! What templates may read (items 2, 3): only `CAMPAIGN_VAR_*` variables from the environment,
//! never the SMTP password (not even through a CSV column's name), and only files inside their
//! folders (a template or layout linking out is refused).

use std::time::Duration;

use crate::support::fixture::{Fixture, emls};
use crate::support::{self};

use super::*;

// ------------------------------------------------------------- item 2: env ---

#[test]
fn templates_cannot_read_the_smtp_password_from_the_environment() {
    let server = capture();
    let fx = Fixture::with(
        &toml("Hi", server.port, ""),
        "<p>Hello {{ get_env(name=\"CAMPAIGN_SMTP_PASSWORD\", default=\"none\") }}</p>",
        "email\na@example.com\nb@example.com\n",
    );
    let sent = run(
        &fx,
        "run",
        &["--no-progress"],
        &[("CAMPAIGN_SMTP_PASSWORD", PASSWORD)],
    );
    let check = run(&fx, "check", &[], &[("CAMPAIGN_SMTP_PASSWORD", PASSWORD)]);
    let dry = run(
        &fx,
        "run",
        &["--dry-run"],
        &[("CAMPAIGN_SMTP_PASSWORD", PASSWORD)],
    );
    std::thread::sleep(Duration::from_millis(300));
    for message in server.messages() {
        assert!(!message.text().contains(PASSWORD), "{}", message.text());
    }
    for out in [&sent, &check, &dry] {
        expect(out, 2);
        assert!(out.stderr.contains("CAMPAIGN_VAR_"), "{out:#?}");
        assert!(!out.stderr.contains(PASSWORD) && !out.stdout.contains(PASSWORD));
    }
    assert!(server.messages().is_empty());
    assert!(!fx.preview().exists());
}

#[test]
fn a_variable_name_from_the_csv_cannot_reach_the_password_either() {
    let server = capture();
    let fx = Fixture::with(
        &toml("Hi", server.port, ""),
        "<p>Value {{ get_env(name=var, default=\"none\") }}</p>",
        "email,var\nok@example.com,CAMPAIGN_VAR_PROMO\nbad@example.com,CAMPAIGN_SMTP_PASSWORD\n",
    );
    let env = [
        ("CAMPAIGN_SMTP_PASSWORD", PASSWORD),
        ("CAMPAIGN_VAR_PROMO", "P-1"),
    ];
    let out = run(&fx, "run", &["--no-progress"], &env);
    expect(&out, 1);
    let messages = server.wait_for(1, Duration::from_secs(10));
    assert_eq!(messages.len(), 1);
    assert!(messages[0].text().contains("Value P-1"));
    let rows = results(&fx);
    let bad = rows.iter().find(|r| r.0 == "bad@example.com").unwrap();
    assert_eq!(bad.1, "failed");
    assert!(bad.2.contains("CAMPAIGN_VAR_"), "{bad:?}");
    let log = std::fs::read_to_string(fx.dir().join("results.csv")).unwrap();
    assert!(!log.contains(PASSWORD) && !out.stdout.contains(PASSWORD));
    assert!(!out.stderr.contains(PASSWORD));
}

#[test]
fn templates_read_campaign_var_variables() {
    let fx = Fixture::with(
        &toml("Hi", 0, ""),
        "<p>Code {{ get_env(name=\"CAMPAIGN_VAR_PROMO\") }}</p>",
        "email\na@example.com\n",
    );
    let out = run(
        &fx,
        "run",
        &["--dry-run"],
        &[("CAMPAIGN_VAR_PROMO", "SPRING-42")],
    );
    expect(&out, 0);
    let eml = &emls(&fx.preview())[0];
    let message = support::parse(eml);
    assert!(message.body_html(0).unwrap().contains("Code SPRING-42"));
}

// --------------------------------------------------------- item 3: symlinks ---

#[test]
fn a_top_level_template_linking_out_of_the_campaign_directory_is_refused() {
    let fx = Fixture::with(
        &toml("Hi", 0, ""),
        "<p>Hello</p>{% include \"footer.txt\" %}",
        "email\na@example.com\n",
    );
    std::fs::write(fx.root().join("secret.txt"), "root:x:0:0:SECRET-LINE").unwrap();
    std::os::unix::fs::symlink(fx.root().join("secret.txt"), fx.dir().join("footer.txt")).unwrap();
    let before = fx.snapshot();
    for (command, extra) in [("check", &[][..]), ("run", &["--dry-run"][..])] {
        let out = run(&fx, command, extra, &[]);
        expect(&out, 2);
        assert!(out.stderr.contains("footer.txt"), "{out:#?}");
        assert!(out.stderr.contains("leaves"), "{out:#?}");
        assert!(!out.stdout.contains("SECRET-LINE"));
    }
    assert_eq!(fx.snapshot(), before, "nothing written");
}

#[test]
fn a_layout_linking_out_of_the_layouts_folder_is_refused() {
    let fx = Fixture::with(
        &toml("Hi", 0, ""),
        "{% extends \"base.html\" %}{% block content %}Hi{% endblock %}",
        "email\na@example.com\n",
    );
    std::fs::write(
        fx.root().join("secret.html"),
        "SECRET {% block content %}{% endblock %}",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        fx.root().join("secret.html"),
        fx.root().join("templates/base.html"),
    )
    .unwrap();
    let out = run(&fx, "run", &["--dry-run"], &[]);
    expect(&out, 2);
    assert!(
        out.stderr.contains("base.html") && out.stderr.contains("leaves"),
        "{out:#?}"
    );
    assert!(!fx.preview().exists());
}
