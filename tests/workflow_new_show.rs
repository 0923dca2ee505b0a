//! The first-campaign workflow (issue 12 items 1 and 4): `campaign new DIR` writes a campaign that
//! `campaign check` passes and a dry run renders from a folder outside this repository (so the
//! layouts built into the binary are the ones extended), and `campaign show DIR` prints one
//! recipient's message exactly as a send renders it. The real binary runs on tempdirs; messages
//! are parsed back with mail-parser.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::fixture::{Run, emls};

/// Runs the binary in `cwd` with `args`, as a user would from that folder.
fn campaign_in(cwd: &Path, args: &[&str]) -> Run {
    support::fixture::run_binary_in(cwd, args)
}

/// A tempdir with no `templates/` folder in it or above it: only the built-in layouts can serve.
fn outside_the_repository() -> tempfile::TempDir {
    let tmp = tempfile::Builder::new()
        .prefix("campaign-new-")
        .tempdir()
        .unwrap();
    let above = tmp
        .path()
        .ancestors()
        .find(|a| a.join("templates").is_dir());
    assert!(above.is_none(), "a templates/ folder above {above:?}");
    tmp
}

/// `campaign new <tmp>/<name>` run from the tempdir; returns the campaign directory.
fn new_campaign(tmp: &Path, name: &str) -> PathBuf {
    let run = campaign_in(tmp, &["new", name]);
    run.expect(0);
    tmp.join(name)
}

/// Whether `html` has a `<name …>` start tag holding each of `attributes` (in any order: css-inline
/// writes them in its own).
fn has_tag(html: &str, name: &str, attributes: &[&str]) -> bool {
    let open = format!("<{name} ");
    html.match_indices(&open).any(|(at, _)| {
        let tag = &html[at..at + html[at..].find('>').unwrap()];
        attributes.iter().all(|a| tag.contains(a))
    })
}

/// Every file under `dir` with its contents.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                found.insert(path.clone(), Vec::new());
                folders.push(path);
            } else {
                found.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

#[test]
fn a_new_campaign_passes_check_and_its_dry_run_extends_the_built_in_layout() {
    let tmp = outside_the_repository();
    let run = campaign_in(tmp.path(), &["new", "spring/news"]);
    run.expect(0);
    for step in [
        "campaign check",
        "--dry-run",
        "--smtp",
        "campaign test",
        "CAMPAIGN_SMTP_PASSWORD",
    ] {
        assert!(
            run.stdout.contains(step),
            "next steps name {step}: {}",
            run.stdout
        );
    }
    let dir = tmp.path().join("spring/news");
    let ignored = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
    let ignored: Vec<&str> = ignored.lines().filter(|l| !l.starts_with('#')).collect();
    for entry in [
        "preview/",
        "results.csv",
        "results.*-of-*.csv",
        "*.report.html",
        ".env",
    ] {
        assert!(
            ignored.contains(&entry),
            "{entry} in .gitignore: {ignored:?}"
        );
    }

    // check, from the tempdir: exit 0 and no warning but the expected one (no [dkim] yet).
    let check = campaign_in(tmp.path(), &["check", "spring/news"]);
    check.expect(0);
    let warnings: Vec<&str> = (check.stdout.lines())
        .filter(|l| l.starts_with("warning:") || l.starts_with("error:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", check.stdout);
    assert!(warnings[0].contains("no [dkim]"), "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("rendered 3 recipient(s); 0 error(s), 1 warning(s)")
    );

    // The dry run, from another folder altogether, by absolute path.
    let dry = campaign_in(Path::new("/"), &["run", dir.to_str().unwrap(), "--dry-run"]);
    dry.expect(0);
    let messages = emls(&dir.join("preview"));
    assert_eq!(messages.len(), 3, "{}", dry.stdout);
    for raw in &messages {
        let message = support::parse(raw);
        let html = message.body_html(0).expect("an HTML part");
        // base.html's structure: the 600 px container table, the @media block kept for phones,
        // the preheader and the footer; partials/button.html's button.
        for mark in [
            "@media (max-width: 620px)",
            "You are receiving this email because you signed up for our newsletter.",
            "Example Ltd, 1 Example Street, Example Town",
        ] {
            assert!(html.contains(mark), "{mark:?} in the HTML:\n{html}");
        }
        assert!(has_tag(
            &html,
            "table",
            &[r#"class="container""#, r#"width="600""#]
        ));
        assert!(has_tag(
            &html,
            "div",
            &[r#"class="preheader""#, "display: none"]
        ));
        assert!(has_tag(
            &html,
            "a",
            &[r#"class="button-link""#, r#"href="https://example.com/""#]
        ));
        let text = message.body_text(0).expect("a text part");
        let first_name = message.subject().unwrap().trim_start_matches("News for ");
        assert!(text.contains(&format!("Hello {first_name},")), "{text}");
    }
}

#[test]
fn new_refuses_a_folder_that_holds_anything_and_writes_nothing() {
    let tmp = outside_the_repository();
    let dir = tmp.path().join("news");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    std::fs::write(tmp.path().join("a-file"), "mine too").unwrap();
    let before = files(tmp.path());

    let run = campaign_in(tmp.path(), &["new", "news"]);
    run.expect(2);
    assert!(run.stderr.contains("news is not empty"), "{}", run.stderr);
    assert!(run.stderr.contains("notes.txt"), "{}", run.stderr);
    let run = campaign_in(tmp.path(), &["new", "a-file"]);
    run.expect(2);
    assert!(run.stderr.contains("a-file is a file"), "{}", run.stderr);
    assert_eq!(files(tmp.path()), before, "nothing written");
}

/// The starter campaign with a list that has a skipped row, an IDN domain and a duplicate, and a
/// template that fails for one recipient's data only.
fn campaign_to_show(tmp: &Path) -> PathBuf {
    let dir = new_campaign(tmp, "news");
    std::fs::write(
        dir.join("recipients.csv"),
        "email,name,first_name\n\
         ada@example.com,Ada Lovelace,Ada\n\
         not-an-address,Bad Row,Bad\n\
         zoe@exämple.com,Zoë Müller,Zoë\n\
         ADA@Example.com,Ada Again,Ada\n\
         broken@example.com,Broken,Broken\n\
         grace@example.org,Grace Hopper,Grace\n",
    )
    .unwrap();
    // Uncommenting a key of the starter campaign.toml is all it takes.
    let toml = std::fs::read_to_string(dir.join("campaign.toml")).unwrap();
    let toml = toml.replace(
        "# suppress = [\"unsubscribed.csv\"]",
        "suppress = [\"unsubscribed.csv\"]",
    );
    std::fs::write(dir.join("campaign.toml"), toml).unwrap();
    std::fs::write(dir.join("unsubscribed.csv"), "email\nGRACE@example.org\n").unwrap();
    let html = std::fs::read_to_string(dir.join("email.html")).unwrap();
    let html = html.replace(
        "<h1>Hello {{ first_name }},</h1>",
        "<h1>Hello {{ first_name }},</h1>{% if first_name == \"Broken\" %}{{ nope }}{% endif %}",
    );
    std::fs::write(dir.join("email.html"), html).unwrap();
    dir
}

/// Splits `show`'s default output into its headers (name → value) and the text after them.
fn headers_and_text(stdout: &str) -> (BTreeMap<String, String>, String) {
    let (head, text) = stdout
        .split_once("\n\n")
        .expect("a blank line after the headers");
    let headers = head
        .lines()
        .map(|l| {
            let (name, value) = l.split_once(": ").expect("one header a line");
            (name.to_ascii_lowercase(), value.to_string())
        })
        .collect();
    (headers, text.to_string())
}

#[test]
fn show_prints_the_picked_recipients_headers_and_text() {
    let tmp = outside_the_repository();
    let dir = campaign_to_show(tmp.path());
    let before = files(tmp.path());

    let first = campaign_in(tmp.path(), &["show", "news"]);
    first.expect(0);
    let (headers, text) = headers_and_text(&first.stdout);
    assert_eq!(headers["subject"], "News for Ada");
    assert_eq!(headers["to"], "\"Ada Lovelace\" <ada@example.com>");
    assert!(headers.contains_key("message-id") && headers.contains_key("date"));
    assert!(text.starts_with("Example Ltd\n"), "{text}");
    assert!(text.contains("Hello Ada,"), "{text}");
    assert!(!text.contains('\r') && !text.contains('<'), "{text}");

    // By address, in another spelling of the same mailbox; by line: one message, decoded.
    for pick in [["--as", "ZOE@xn--exmple-cua.com"], ["--line", "4"]] {
        let run = campaign_in(tmp.path(), &["show", "news", pick[0], pick[1]]);
        run.expect(0);
        let (headers, text) = headers_and_text(&run.stdout);
        assert_eq!(headers["subject"], "News for Zoë", "{pick:?}");
        assert_eq!(
            headers["to"], "Zoë Müller <zoe@xn--exmple-cua.com>",
            "{pick:?}"
        );
        assert!(text.contains("Hello Zoë,"), "{text}");
    }

    let html = campaign_in(tmp.path(), &["show", "news", "--html"]);
    html.expect(0);
    assert!(
        html.stdout.starts_with("<!DOCTYPE html>"),
        "{}",
        html.stdout
    );
    assert!(has_tag(&html.stdout, "table", &[r#"class="container""#]));
    let only_text = campaign_in(tmp.path(), &["show", "news", "--text"]);
    only_text.expect(0);
    assert_eq!(only_text.stdout, text_of(&first.stdout));
    let only_headers = campaign_in(tmp.path(), &["show", "news", "--headers"]);
    only_headers.expect(0);
    assert!(only_headers.stdout.starts_with("From: ") && !only_headers.stdout.contains("Hello"));

    assert_eq!(files(tmp.path()), before, "show writes nothing");
    assert!(!dir.join("preview").exists());
}

fn text_of(stdout: &str) -> String {
    headers_and_text(stdout).1
}

#[test]
fn show_refuses_what_a_send_would_not_send_and_fails_a_render_with_exit_1() {
    let tmp = outside_the_repository();
    campaign_to_show(tmp.path());
    let cases: [(&[&str], &str); 6] = [
        (
            &["--as", "nobody@example.com"],
            "no row has the address nobody@example.com",
        ),
        (
            &["--line", "3"],
            "line 3 (not-an-address) is skipped: invalid address",
        ),
        (
            &["--line", "5"],
            "line 5 (ADA@Example.com) is skipped: duplicate of line 2",
        ),
        (&["--line", "1"], "no row starts on line 1"),
        (
            &["--as", "grace@example.org"],
            "line 7 (grace@example.org) is skipped: suppressed",
        ),
        (&["--line", "99"], "no row starts on line 99"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["show", "news"];
        all.extend_from_slice(args);
        let run = campaign_in(tmp.path(), &all);
        run.expect(2);
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
    // The flags of each group exclude each other (clap's usage error, exit 2).
    for args in [["--raw", "--html"], ["--text", "--headers"]] {
        campaign_in(tmp.path(), &["show", "news", args[0], args[1]]).expect(2);
    }
    campaign_in(
        tmp.path(),
        &["show", "news", "--as", "a@example.com", "--line", "2"],
    )
    .expect(2);

    let broken = campaign_in(tmp.path(), &["show", "news", "--as", "broken@example.com"]);
    broken.expect(1);
    assert!(
        broken.stderr.contains("undefined variable `nope`"),
        "{}",
        broken.stderr
    );
    assert!(
        broken.stderr.contains("recipients line 6"),
        "{}",
        broken.stderr
    );
}

/// A message with the values that differ between two renders of it (Date, Message-ID and the
/// MIME boundaries, which are random) replaced by placeholders.
fn without_varying_values(raw: &[u8]) -> String {
    let text = String::from_utf8(raw.to_vec()).expect("a 7-bit message");
    let mut lines: Vec<String> = Vec::new();
    for line in text.split("\r\n") {
        if line.starts_with("Date: ") {
            lines.push("Date: <date>".into());
        } else if line.starts_with("Message-ID: ") {
            lines.push("Message-ID: <id>".into());
        } else {
            lines.push(line.to_string());
        }
    }
    let mut text = lines.join("\r\n");
    let mut n = 0;
    while let Some(start) = text.find("boundary=\"").map(|i| i + "boundary=\"".len()) {
        let end = start + text[start..].find('"').unwrap();
        let boundary = text[start..end].to_string();
        text = text.replace(&boundary, &format!("b{n}"));
        text = text.replacen("boundary=\"", "BOUNDARY=\"", 1);
        n += 1;
    }
    assert!(n > 0, "a multipart message");
    text
}

#[test]
fn show_raw_is_the_message_a_dry_run_writes() {
    let tmp = outside_the_repository();
    let dir = campaign_to_show(tmp.path());
    let raw = Command::new(support::campaign_bin())
        .args(["show", "news", "--raw", "--as", "zoe@EXÄMPLE.com"])
        .current_dir(tmp.path())
        .env_remove("CAMPAIGN_TEMPLATES")
        .output()
        .unwrap();
    assert_eq!(raw.status.code(), Some(0), "{raw:?}");
    let shown = support::parse(&raw.stdout);
    assert_eq!(shown.subject(), Some("News for Zoë"));

    campaign_in(tmp.path(), &["run", "news", "--dry-run"]).expect(1);
    let previews = support::fixture::files_with(&dir.join("preview"), "eml");
    let zoe = previews
        .iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches('0')
                .starts_with("4-")
        })
        .expect("the preview of line 4");
    let written = std::fs::read(zoe).unwrap();
    assert_eq!(
        without_varying_values(&raw.stdout),
        without_varying_values(&written)
    );
}

#[test]
fn a_layouts_folder_found_above_replaces_the_built_in_layouts_and_the_error_names_it() {
    let tmp = outside_the_repository();
    std::fs::create_dir(tmp.path().join("templates")).unwrap();
    new_campaign(tmp.path(), "news");
    let check = campaign_in(tmp.path(), &["check", "news"]);
    check.expect(2);
    let folder = tmp.path().join("templates");
    for words in [
        "inheriting from 'base.html'",
        &format!("the layouts come from {}", folder.display()),
        "replaces the built-in ones",
    ] {
        assert!(check.stderr.contains(words), "{words:?}: {}", check.stderr);
    }
}

/// `--help` says how to start, where the password goes and what the exit codes mean; shell
/// completions and a manual page are generated from the same definitions.
#[test]
fn help_completions_and_man_page_come_from_the_command_definitions() {
    let tmp = outside_the_repository();
    for args in [&["--help"][..], &["run", "--help"]] {
        let help = campaign_in(tmp.path(), args);
        help.expect(0);
        for needle in [
            "CAMPAIGN_SMTP_PASSWORD",
            "Exit codes:",
            "6  a file could not be written",
        ] {
            assert!(
                help.stdout.contains(needle),
                "{args:?}: {needle}: {}",
                help.stdout
            );
        }
    }
    let run = campaign_in(tmp.path(), &["run", "--help"]);
    assert!(
        run.stdout
            .contains("campaign run campaigns/april --dry-run"),
        "{}",
        run.stdout
    );

    let bash = campaign_in(tmp.path(), &["completions", "bash"]);
    bash.expect(0);
    let script = tmp.path().join("campaign.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(syntax.success(), "bash -n on the completion script");
    for word in ["check", "show", "test", "--dry-run", "--retry-failed"] {
        assert!(bash.stdout.contains(word), "completes {word}");
    }

    let man = campaign_in(tmp.path(), &["man"]);
    man.expect(0);
    assert!(man.stdout.contains(".TH campaign 1"), "{}", man.stdout);
    assert!(man.stdout.contains(".SH NAME"), "{}", man.stdout);
}
