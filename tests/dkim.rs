//! DKIM signing, checked end to end: keys made by the `openssl` CLI in each format OpenSSL writes
//! (RSA PKCS#8 and PKCS#1, Ed25519 PKCS#8), a campaign dry-run by the real binary, and every `.eml`
//! verified by dkimpy (`tests/support/dkim_verify.py`), an implementation independent of ours, with
//! the DNS lookup answered from the public key. Prerequisites: `bash tests/support/setup.sh`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::fixture::{Fixture, files_with, openssl};
use support::keys::{self, Verdict};

const DOMAIN: &str = "acme.example";
const SELECTOR: &str = "news";

/// The headers every signature must cover (RFC 6376 requires From; the rest by our design).
const REQUIRED: &[&str] = &[
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
];
/// Covered when the message has them.
const OPTIONAL: &[&str] = &["reply-to", "list-unsubscribe", "list-unsubscribe-post"];

const HTML: &str = "<html><body><h1>Hello {{ first_name }}</h1>\n\
    <p>Welcome   to the\tApril issue, {{ first_name }}.</p>\n\
    <p>Read it at https://acme.example/april</p></body></html>\n";

/// Non-ASCII names, so that encoded-word headers are signed too.
const CSV: &str = "email,name,first_name\n\
    xiaoming@example.com,王小明,小明\n\
    zoe@example.org,Zoë Müller,Zoë\n";

fn toml(algorithm: &str, private_key: Option<&str>) -> String {
    let key = private_key.map_or(String::new(), |k| format!("private_key = \"{k}\"\n"));
    format!(
        "subject = \"News for {{{{ first_name }}}} — April\"\n\
         from = \"Café Ünïcode <news@{DOMAIN}>\"\n\
         reply_to = \"Support Team <support@{DOMAIN}>\"\n\
         \n\
         [unsubscribe]\n\
         url = \"https://{DOMAIN}/unsubscribe?e={{{{ email }}}}\"\n\
         mailto = \"unsubscribe@{DOMAIN}\"\n\
         \n\
         [dkim]\n\
         domain = \"{DOMAIN}\"\n\
         selector = \"{SELECTOR}\"\n\
         algorithm = \"{algorithm}\"\n\
         {key}"
    )
}

// ------------------------------------------------------------------- openssl ---

#[derive(Clone, Copy, Debug)]
enum KeyFormat {
    /// `openssl genpkey -algorithm RSA`: "BEGIN PRIVATE KEY".
    RsaPkcs8,
    /// `openssl genrsa -traditional`: "BEGIN RSA PRIVATE KEY".
    RsaPkcs1,
    /// `openssl genpkey -algorithm ED25519`: "BEGIN PRIVATE KEY".
    Ed25519Pkcs8,
}

impl KeyFormat {
    fn algorithm(self) -> &'static str {
        match self {
            KeyFormat::RsaPkcs8 | KeyFormat::RsaPkcs1 => "rsa-sha256",
            KeyFormat::Ed25519Pkcs8 => "ed25519-sha256",
        }
    }
}

/// A private key written by the openssl CLI, and its public key (SubjectPublicKeyInfo PEM).
struct Key {
    private: PathBuf,
    public: PathBuf,
}

/// Generates a key of `format` into `dir` (named `name.pem`, public key `name.pub`).
fn generate(dir: &Path, name: &str, format: KeyFormat) -> Key {
    std::fs::create_dir_all(dir).unwrap();
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let p = private.to_str().unwrap();
    let begin = match format {
        KeyFormat::RsaPkcs8 => {
            openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                p,
            ]);
            "-----BEGIN PRIVATE KEY-----"
        }
        KeyFormat::RsaPkcs1 => {
            // OpenSSL 3 needs -traditional for PKCS#1; 1.1 writes it by default and lacks the flag.
            let traditional = Command::new("openssl")
                .args(["genrsa", "-traditional", "-out", p, "2048"])
                .output()
                .is_ok_and(|o| o.status.success());
            if !traditional {
                openssl(&["genrsa", "-out", p, "2048"]);
            }
            "-----BEGIN RSA PRIVATE KEY-----"
        }
        KeyFormat::Ed25519Pkcs8 => {
            openssl(&["genpkey", "-algorithm", "ED25519", "-out", p]);
            "-----BEGIN PRIVATE KEY-----"
        }
    };
    let pem = std::fs::read_to_string(&private).unwrap();
    assert!(pem.starts_with(begin), "{format:?} key starts {pem:.40}");
    openssl(&[
        "pkey",
        "-in",
        p,
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    Key { private, public }
}

// ----------------------------------------------------------------- running ---

struct Run {
    code: i32,
    stderr: String,
}

/// `campaign run <dir> --dry-run`, isolated: no CAMPAIGN_TEMPLATES, CAMPAIGN_DKIM_KEY only when
/// given, and the tempdir as working directory (so no `.env` of the caller is read).
fn dry_run(fixture: &Fixture, env_key: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_campaign"));
    cmd.args(["run"])
        .arg(fixture.dir())
        .arg("--dry-run")
        .current_dir(fixture.root())
        .env_remove("CAMPAIGN_TEMPLATES")
        .env_remove("CAMPAIGN_DKIM_KEY")
        .env("NO_COLOR", "1");
    if let Some(key) = env_key {
        cmd.env("CAMPAIGN_DKIM_KEY", key);
    }
    let out = cmd.output().expect("run the campaign binary");
    Run {
        code: out.status.code().expect("exited normally"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn dry_run_ok(fixture: &Fixture, env_key: Option<&str>) -> Vec<PathBuf> {
    let run = dry_run(fixture, env_key);
    assert_eq!(run.code, 0, "dry run failed: {}", run.stderr);
    let emls = files_with(&fixture.preview(), "eml");
    assert_eq!(emls.len(), 2, "one .eml per recipient");
    emls
}

// --------------------------------------------------------------- verifying ---

/// Verifies `files` with dkimpy, the DNS record built from `public`.
fn verify(public: &Path, files: &[PathBuf]) -> Vec<Verdict> {
    keys::dkim_verdicts(public, DOMAIN, SELECTOR, files)
}

fn assert_all_verify(public: &Path, files: &[PathBuf]) {
    for verdict in verify(public, files) {
        assert!(verdict.ok, "DKIM verification failed: {verdict:#?}");
    }
}

/// The header block of a message, unfolded: one (name, value) per field, in order.
fn header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(raw);
    let header = &text[..text.find("\r\n\r\n").expect("blank line after the header")];
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in header.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            fields.last_mut().unwrap().1.push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("field has a colon");
            fields.push((name.to_string(), value.trim().to_string()));
        }
    }
    fields
}

/// The tags of the message's one DKIM-Signature field, which must come first.
fn signature_tags(raw: &[u8]) -> Vec<(String, String)> {
    let fields = header_fields(raw);
    let signatures: Vec<_> = fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("dkim-signature"))
        .collect();
    assert_eq!(signatures.len(), 1, "exactly one DKIM-Signature");
    assert!(
        fields[0].0.eq_ignore_ascii_case("dkim-signature"),
        "DKIM-Signature comes first, got {}",
        fields[0].0
    );
    signatures[0]
        .1
        .split(';')
        .filter(|t| !t.trim().is_empty())
        .map(|t| {
            let (k, v) = t.split_once('=').expect("tag=value");
            let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
            (k.trim().to_string(), v)
        })
        .collect()
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> &'a str {
    tags.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name}= tag in {tags:?}"))
}

/// Checks the tags of every message's signature.
fn assert_tags(files: &[PathBuf], algorithm: &str) {
    for file in files {
        let raw = std::fs::read(file).unwrap();
        let tags = signature_tags(&raw);
        assert_eq!(tag(&tags, "v"), "1");
        assert_eq!(tag(&tags, "a"), algorithm);
        assert_eq!(tag(&tags, "c"), "relaxed/relaxed");
        assert_eq!(tag(&tags, "d"), DOMAIN);
        assert_eq!(tag(&tags, "s"), SELECTOR);
        assert!(!tag(&tags, "bh").is_empty() && !tag(&tags, "b").is_empty());
        tag(&tags, "t").parse::<u64>().expect("t= is a timestamp");
        let signed: Vec<String> = tag(&tags, "h")
            .split(':')
            .map(|h| h.to_ascii_lowercase())
            .collect();
        let present: Vec<String> = header_fields(&raw)
            .into_iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        for name in REQUIRED {
            assert!(present.iter().any(|p| p == name), "message lacks {name}");
            assert!(
                signed.iter().any(|s| s == name),
                "h= lacks {name}: {signed:?}"
            );
        }
        assert!(
            present.iter().any(|p| p == "reply-to"),
            "fixture has Reply-To"
        );
        for name in OPTIONAL {
            if present.iter().any(|p| p == name) {
                assert!(
                    signed.iter().any(|s| s == name),
                    "h= lacks {name}: {signed:?}"
                );
            }
        }
        // Long lines are folded (RFC 5322 §2.1.1 recommends 78 characters).
        let text = String::from_utf8_lossy(&raw);
        let field_end = text.find("\r\nFrom:").or(text.find("\r\nfrom:")).unwrap();
        for line in text[..field_end].split("\r\n") {
            assert!(line.len() <= 78, "DKIM-Signature line too long: {line}");
        }
    }
}

// ---------------------------------------------------------------- tampering ---

/// Writes a copy of `file` changed by `change` next to it and returns its path.
fn tampered(file: &Path, suffix: &str, change: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut raw = std::fs::read(file).unwrap();
    change(&mut raw);
    let path = file.with_extension(format!("{suffix}.eml"));
    std::fs::write(&path, raw).unwrap();
    path
}

fn body_start(raw: &[u8]) -> usize {
    raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4
}

/// Changes one letter or digit in the middle of the body (whitespace changes would be
/// canonicalized away).
fn change_body_byte(raw: &mut [u8]) {
    let start = body_start(raw);
    let middle = start + (raw.len() - start) / 2;
    let at = (middle..raw.len())
        .find(|&i| raw[i].is_ascii_alphanumeric())
        .expect("a letter in the second half of the body");
    raw[at] = if raw[at] == b'x' { b'y' } else { b'x' };
}

/// Changes the Subject field's value.
fn change_subject(raw: &mut Vec<u8>) {
    let at = raw
        .windows(11)
        .position(|w| w == b"\r\nSubject: ")
        .expect("a Subject field")
        + 11;
    raw.splice(at..at, b"Re: ".iter().copied());
}

/// Signs a campaign with a fresh key of `format`; checks verification, the tags, and that a
/// changed body byte and a changed Subject fail.
fn signs_and_verifies(format: KeyFormat) {
    let fixture = Fixture::with(&toml(format.algorithm(), Some("keys/news.pem")), HTML, CSV);
    let key = generate(&fixture.dir().join("keys"), "news", format);
    let emls = dry_run_ok(&fixture, None);

    assert_all_verify(&key.public, &emls);
    assert_tags(&emls, format.algorithm());

    // A copy written the same way still verifies; one byte of body, or the subject, does not.
    let same = tampered(&emls[0], "same", |_| {});
    let body = tampered(&emls[0], "body", |raw| change_body_byte(raw));
    let subject = tampered(&emls[1], "subject", change_subject);
    let verdicts = verify(&key.public, &[same, body, subject]);
    assert!(verdicts[0].ok, "unchanged copy: {:#?}", verdicts[0]);
    assert!(
        !verdicts[1].ok,
        "changed body byte verified: {:#?}",
        verdicts[1]
    );
    assert!(
        verdicts[1].log.contains("body hash mismatch"),
        "{:#?}",
        verdicts[1]
    );
    assert!(
        !verdicts[2].ok,
        "changed subject verified: {:#?}",
        verdicts[2]
    );

    // The key pair is the only thing tying signature to DNS: another key's record fails.
    let other = generate(&fixture.root().join("other"), "other", format);
    for verdict in verify(&other.public, &emls) {
        assert!(!verdict.ok, "verified with another key: {}", verdict.file);
    }
}

// -------------------------------------------------------------------- tests ---

#[test]
fn rsa_pkcs8_key_signs_verifiably() {
    signs_and_verifies(KeyFormat::RsaPkcs8);
}

#[test]
fn rsa_pkcs1_key_signs_verifiably() {
    signs_and_verifies(KeyFormat::RsaPkcs1);
}

#[test]
fn ed25519_pkcs8_key_signs_verifiably() {
    signs_and_verifies(KeyFormat::Ed25519Pkcs8);
}

#[test]
fn key_from_the_environment_signs_verifiably() {
    for format in [KeyFormat::RsaPkcs8, KeyFormat::Ed25519Pkcs8] {
        let fixture = Fixture::with(&toml(format.algorithm(), None), HTML, CSV);
        let key = generate(&fixture.root().join("secret"), "news", format);
        let pem = std::fs::read_to_string(&key.private).unwrap();

        let emls = dry_run_ok(&fixture, Some(&pem));
        assert_all_verify(&key.public, &emls);
        assert_tags(&emls, format.algorithm());

        // On one line with "\n" escapes, as environment values are often written.
        std::fs::remove_dir_all(fixture.preview()).unwrap();
        let emls = dry_run_ok(&fixture, Some(&pem.trim_end().replace('\n', "\\n")));
        assert_all_verify(&key.public, &emls);
    }
}

#[test]
fn garbage_key_file_is_an_invalid_campaign_without_echoing_the_key() {
    const SECRET: &str = "S3CRET-NOT-A-KEY-9f8e7d";
    let garbage = [
        format!("{SECRET}\n"),
        format!("-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"),
        format!("-----BEGIN RSA PRIVATE KEY-----\nAAAA{SECRET}\n-----END RSA PRIVATE KEY-----\n"),
    ];
    for (i, text) in garbage.iter().enumerate() {
        let fixture = Fixture::with(&toml("rsa-sha256", Some("keys/news.pem")), HTML, CSV)
            .file("keys/news.pem", text);
        let run = dry_run(&fixture, None);
        assert_eq!(run.code, 2, "case {i}: exit code: {}", run.stderr);
        assert!(
            run.stderr
                .contains(&*fixture.dir().join("keys/news.pem").to_string_lossy()),
            "case {i}: the message names the key file: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains(SECRET),
            "case {i}: the message shows the key text: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("openssl genpkey"),
            "case {i}: the message says what to do: {}",
            run.stderr
        );
        assert!(!fixture.preview().exists(), "case {i}: nothing is written");
    }
}

#[test]
fn key_of_the_other_algorithm_is_an_invalid_campaign() {
    let fixture = Fixture::with(&toml("rsa-sha256", Some("keys/news.pem")), HTML, CSV);
    generate(&fixture.dir().join("keys"), "news", KeyFormat::Ed25519Pkcs8);
    let run = dry_run(&fixture, None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("algorithm = \"ed25519-sha256\""),
        "says which algorithm fits: {}",
        run.stderr
    );

    let fixture = Fixture::with(&toml("ed25519-sha256", Some("keys/news.pem")), HTML, CSV);
    generate(&fixture.dir().join("keys"), "news", KeyFormat::RsaPkcs1);
    let run = dry_run(&fixture, None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("algorithm = \"rsa-sha256\""),
        "says which algorithm fits: {}",
        run.stderr
    );
}

#[test]
fn encrypted_key_is_an_invalid_campaign_that_says_to_decrypt_it() {
    let fixture = Fixture::with(&toml("ed25519-sha256", Some("keys/news.pem")), HTML, CSV);
    let path = fixture.dir().join("keys/news.pem");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    openssl(&[
        "genpkey",
        "-algorithm",
        "ED25519",
        "-aes256",
        "-pass",
        "pass:correct horse",
        "-out",
        path.to_str().unwrap(),
    ]);
    let run = dry_run(&fixture, None);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&*path.to_string_lossy()),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("encrypted"), "{}", run.stderr);
    assert!(run.stderr.contains("openssl pkey"), "{}", run.stderr);
}

/// The key's size is read by the one key parser the signer and `check --dns` share, so the refusal
/// names it (ring alone only says "TooSmall"), for PKCS#8 and PKCS#1 alike.
#[test]
fn rsa_key_outside_2048_to_4096_bits_is_refused_naming_its_size() {
    for (bits, traditional) in [("1024", false), ("1024", true), ("4608", false)] {
        let fixture = Fixture::with(&toml("rsa-sha256", Some("keys/news.pem")), HTML, CSV);
        let path = fixture.dir().join("keys/news.pem");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let p = path.to_str().unwrap();
        if traditional {
            openssl(&["genrsa", "-traditional", "-out", p, bits]);
        } else {
            let opt = format!("rsa_keygen_bits:{bits}");
            openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", &opt, "-out", p]);
        }
        let run = dry_run(&fixture, None);
        assert_eq!(run.code, 2, "{bits} bits: {}", run.stderr);
        assert!(
            run.stderr.contains(&format!("a {bits}-bit RSA key")),
            "{bits} bits: {}",
            run.stderr
        );
        assert!(
            !fixture.preview().exists(),
            "{bits} bits: nothing is written"
        );
    }
}
