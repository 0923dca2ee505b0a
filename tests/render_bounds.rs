//! Tera safety and bounds (issue 10 items 2, 3, 9, 10, 12, 14, 15): what templates may read (only
//! `CAMPAIGN_VAR_*` variables, only files inside their folders), template recursion refused at load,
//! the cost of one recipient's render bounded (range, message size, row size), layouts folders with
//! symlink loops, header lines within RFC 5322's 998 octets, and division by zero in plain words.
//! The real binary runs on campaigns written into a tempdir; sends go to the aiosmtpd capture server
//! on 127.0.0.1, and its peak memory is read from `/proc/PID/status` while it runs.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::fixture::{Fixture, Run, emls, files_with};
use support::{CaptureOptions, CaptureServer};

const FROM: &str = "Acme News <news@acme.example>";
const PASSWORD: &str = "Pw-7q!Zk3#vX9-secret";

// ------------------------------------------------------------------ running ---

/// What a watched run did, and the child's peak resident memory (VmHWM) in MiB.
struct Watched {
    out: Run,
    peak_mib: u64,
}

/// Runs `campaign <command> <dir> <extra…>` from the tempdir with `env` set (and CAMPAIGN_*
/// settings of the caller removed), polling its peak memory; kills it and fails the test past
/// `limit` seconds or `max_mib` MiB.
fn watched(
    fx: &Fixture,
    command: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
    max_mib: u64,
) -> Watched {
    let (out, peak_kib) = fx
        .spawn_command(command, extra, env)
        .wait_measuring(limit, max_mib * 1024);
    Watched {
        out,
        peak_mib: peak_kib / 1024,
    }
}

/// A run that must end within 60 s and 1 GiB.
fn run(fx: &Fixture, command: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    watched(fx, command, extra, env, Duration::from_secs(60), 1024).out
}

#[track_caller]
fn expect(out: &Run, code: i32) {
    assert_eq!(out.code, code, "exit code: {out:#?}");
}

/// campaign.toml with `[smtp]` pointing at `port` (0: no `[smtp]`) and `extra` appended.
fn toml(subject: &str, port: u16, extra: &str) -> String {
    let smtp = if port == 0 {
        String::new()
    } else {
        format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\nsecurity = \"none\"\n")
    };
    format!("subject = \"{subject}\"\nfrom = \"{FROM}\"\n{extra}\n{smtp}")
}

fn capture() -> CaptureServer {
    CaptureServer::start(CaptureOptions::plain())
}

/// The rows of results.csv as (email, status, detail).
fn results(fx: &Fixture) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(fx.dir().join("results.csv")).unwrap_or_default();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string(), r[5].to_string())
        })
        .collect()
}

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

// ------------------------------------------------------ item 10: memory ---

const MEMORY_LIMIT_MIB: u64 = 300;

#[test]
fn a_range_from_the_csv_fails_that_recipient_in_bounded_memory() {
    let server = capture();
    let fx = Fixture::with(
        &toml("Hi", server.port, ""),
        "<p>{% for i in range(end=count | int) %}.{% endfor %}</p>",
        "email,count\na@example.com,3\nhuge@example.com,3000000000\nc@example.com,5\n",
    );
    let run = watched(
        &fx,
        "run",
        &["--no-progress"],
        &[],
        Duration::from_secs(60),
        MEMORY_LIMIT_MIB,
    );
    eprintln!("peak RSS of the send: {} MiB", run.peak_mib);
    expect(&run.out, 1);
    let rows = results(&fx);
    let huge = rows.iter().find(|r| r.0 == "huge@example.com").unwrap();
    assert_eq!(huge.1, "failed", "{rows:?}");
    assert!(
        huge.2.contains("range") && huge.2.contains("10,000"),
        "{huge:?}"
    );
    let sent: Vec<_> = rows.iter().filter(|r| r.1 == "sent").collect();
    assert_eq!(sent.len(), 2, "{rows:?}");
    assert_eq!(server.wait_for(2, Duration::from_secs(10)).len(), 2);
}

#[test]
fn a_message_over_the_size_limit_fails_that_recipient_in_bounded_memory() {
    let fx = Fixture::with(
        &toml("Hi", 0, ""),
        "<p>{% for i in range(end=times | int) %}{{ chunk }}{% endfor %}</p>",
        &format!(
            "email,times,chunk\na@example.com,2,abc\nbig@example.com,9000,{}\n",
            "x".repeat(900 * 1024)
        ),
    );
    let run = watched(
        &fx,
        "run",
        &["--dry-run"],
        &[],
        Duration::from_secs(60),
        MEMORY_LIMIT_MIB,
    );
    eprintln!("peak RSS of the dry run: {} MiB", run.peak_mib);
    expect(&run.out, 1);
    assert!(run.out.stdout.contains("10 MiB"), "{:#?}", run.out);
    assert_eq!(files_with(&fx.preview(), "eml").len(), 1);
}

#[test]
fn a_huge_csv_field_fails_that_row_in_bounded_memory() {
    let big = "y".repeat(50 * 1024 * 1024);
    let fx = Fixture::with(
        &toml("Hi", 0, ""),
        "<p>{{ note }}</p>",
        &format!("email,note\na@example.com,short\nbig@example.com,{big}\nc@example.com,ok\n"),
    );
    drop(big);
    let check = watched(
        &fx,
        "check",
        &[],
        &[],
        Duration::from_secs(60),
        MEMORY_LIMIT_MIB,
    );
    eprintln!(
        "peak RSS of check with a 50 MB field: {} MiB",
        check.peak_mib
    );
    expect(&check.out, 2);
    assert!(check.out.stdout.contains("line 3"), "{:#?}", check.out);
    assert!(check.out.stdout.contains("1 MiB"), "{:#?}", check.out);
    let dry = watched(
        &fx,
        "run",
        &["--dry-run"],
        &[],
        Duration::from_secs(60),
        MEMORY_LIMIT_MIB,
    );
    expect(&dry.out, 1);
    assert_eq!(files_with(&fx.preview(), "eml").len(), 2);
}

// ------------------------------------------------------ item 12: layouts ---

#[test]
fn a_layouts_folder_with_symlink_loops_is_walked_in_seconds() {
    let fx = Fixture::with(
        &toml("Hi", 0, ""),
        "{% extends \"base.html\" %}{% block content %}Hi{% endblock %}",
        "email\na@example.com\n",
    );
    let layouts = fx.root().join("templates");
    std::fs::write(
        layouts.join("base.html"),
        "<p>{% block content %}{% endblock %}</p>",
    )
    .unwrap();
    std::fs::create_dir_all(layouts.join("a/b")).unwrap();
    std::os::unix::fs::symlink(&layouts, layouts.join("loop")).unwrap();
    std::os::unix::fs::symlink("..", layouts.join("a/b/up")).unwrap();
    std::os::unix::fs::symlink("../..", layouts.join("a/b/upup")).unwrap();
    let started = Instant::now();
    let out = watched(&fx, "check", &[], &[], Duration::from_secs(10), 1024).out;
    expect(&out, 0);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_layouts_folder_with_too_many_files_is_refused() {
    let fx = Fixture::with(
        &toml("Hi", 0, "templates = \"../big\""),
        "<p>Hi</p>",
        "email\na@example.com\n",
    );
    let big = fx.root().join("big");
    for i in 0..120 {
        let dir = big.join(format!("d{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        for j in 0..100 {
            std::fs::write(dir.join(format!("f{j}.dat")), "").unwrap();
        }
    }
    let out = run(&fx, "check", &[], &[]);
    expect(&out, 2);
    assert!(out.stderr.contains("10,000"), "{out:#?}");
}

// ------------------------------------------------------ item 14: headers ---

fn header_block(raw: &[u8]) -> &[u8] {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    &raw[..end]
}

#[test]
fn header_lines_stay_within_998_octets_and_decode_to_the_original() {
    let long_subject = "S".repeat(3000);
    let long_name = "N".repeat(3000);
    let token = "t".repeat(850);
    let utf8_subject = "é".repeat(1500);
    let long_header = "word ".repeat(300).trim().to_string();
    let extra = format!(
        "headers = {{ \"X-Long\" = \"{long_header}\" }}\n\
         [unsubscribe]\n\
         url = \"https://acme.example/u?e={{{{ email | urlencode }}}}&t={{{{ token }}}}\"\n\
         mailto = \"unsubscribe@acme.example\"\n"
    );
    let fx = Fixture::with(
        &toml("{{ subject }}", 0, &extra),
        "<p>Hi</p>",
        &format!(
            "email,name,subject,token\na@example.com,{long_name},{long_subject},{token}\n\
             b@example.com,Zoë {long_name},{utf8_subject},{token}\n"
        ),
    );
    let out = run(&fx, "run", &["--dry-run"], &[]);
    expect(&out, 0);
    let messages = emls(&fx.preview());
    assert_eq!(messages.len(), 2);
    for (raw, (subject, name)) in messages.iter().zip([
        (&long_subject, long_name.clone()),
        (&utf8_subject, format!("Zoë {long_name}")),
    ]) {
        for line in header_block(raw).split(|&b| b == b'\n') {
            assert!(
                line.len() <= 998 + 1,
                "a header line of {} octets: {}…",
                line.len(),
                String::from_utf8_lossy(&line[..80])
            );
        }
        let message = support::parse(raw);
        assert_eq!(message.subject(), Some(subject.as_str()));
        let to = message.to().unwrap().first().unwrap();
        assert_eq!(to.name(), Some(name.as_str()));
        let x_long = message.header_raw("X-Long").unwrap().replace("\r\n", "");
        assert_eq!(x_long.trim(), long_header);
        let unsubscribe = message
            .header_raw("List-Unsubscribe")
            .unwrap()
            .replace(['\r', '\n'], "");
        assert!(
            unsubscribe.contains(&format!("&t={token}>")),
            "{unsubscribe}"
        );
    }
}

#[test]
fn long_headers_still_verify_with_dkim() {
    let fx = Fixture::with(
        &toml(
            "{{ subject }}",
            0,
            "[dkim]\ndomain = \"acme.example\"\nselector = \"news\"\nprivate_key = \"dkim.pem\"\n",
        ),
        "<p>Hi</p>",
        &format!(
            "email,name,subject\na@example.com,{},{}\n",
            "N".repeat(2000),
            "S".repeat(3000)
        ),
    );
    support::fixture::rsa_key(&fx.dir().join("dkim.pem"));
    let public = fx.root().join("dkim.pub");
    support::fixture::openssl(&[
        "pkey",
        "-in",
        fx.dir().join("dkim.pem").to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    expect(&run(&fx, "run", &["--dry-run"], &[]), 0);
    let files = files_with(&fx.preview(), "eml");
    let raw = std::fs::read(&files[0]).unwrap();
    for line in header_block(&raw).split(|&b| b == b'\n') {
        assert!(line.len() <= 998 + 1, "{}", String::from_utf8_lossy(line));
    }
    let out = Command::new(support::python())
        .arg(support::support_dir().join("dkim_verify.py"))
        .arg("--public-key")
        .arg(&public)
        .args(["--domain", "acme.example", "--selector", "news"])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict: serde_json::Value =
        serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
    assert_eq!(verdict["ok"], true, "{verdict:#}");
}

#[test]
fn an_extra_header_that_cannot_fold_within_998_octets_is_refused() {
    let extra = format!("headers = {{ \"X-Long\" = \"{}\" }}\n", "X".repeat(1200));
    let fx = Fixture::with(
        &toml("Hi", 0, &extra),
        "<p>Hi</p>",
        "email\na@example.com\n",
    );
    let out = run(&fx, "run", &["--dry-run"], &[]);
    expect(&out, 2);
    assert!(
        out.stderr.contains("X-Long") && out.stderr.contains("998"),
        "{out:#?}"
    );
    assert!(!fx.preview().exists());
}

#[test]
fn an_unsubscribe_url_too_long_for_a_header_line_fails_that_recipient() {
    let fx = Fixture::with(
        &toml(
            "Hi",
            0,
            "[unsubscribe]\nurl = \"https://acme.example/u?t={{ token }}\"\n",
        ),
        "<p>Hi</p>",
        &format!(
            "email,token\nshort@example.com,abc\nlong@example.com,{}\n",
            "t".repeat(1000)
        ),
    );
    let out = run(&fx, "run", &["--dry-run"], &[]);
    expect(&out, 1);
    assert!(out.stdout.contains("at most 950"), "{out:#?}");
    assert_eq!(emls(&fx.preview()).len(), 1);
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
