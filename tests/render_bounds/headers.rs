//! Header lines within RFC 5322's 998 octets (item 14): long values fold and decode back, still
//! verify with DKIM; an extra header or unsubscribe URL that cannot fold is refused or fails that
//! recipient.

use std::process::Command;

use crate::support::fixture::{Fixture, emls, files_with};
use crate::support::{self};

use super::*;

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
