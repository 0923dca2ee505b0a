//! DKIM with several keys (issue 13, item 9): `[[dkim]]` tables, one signature per key, so that a
//! receiver verifying only RSA (SpamAssassin's Mail::DKIM reports every Ed25519 signature as
//! `DKIM_INVALID (UNSUPPORTED ALGORITHM ED25519-SHA256)`) and one preferring Ed25519 both find a
//! signature they can check (RFC 8463 §4). Messages are sent by the real binary to the aiosmtpd
//! capture server, and each signature is verified by dkimpy (`tests/support/dkim_verify.py
//! --index`), its DNS answered from the public key made by the openssl CLI; where SpamAssassin's
//! verifier (Mail::DKIM) is installed, it checks the RSA one too.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::campaign::{Fixture, Spec, WAIT};
use support::fixture::{files_with, openssl};
use support::keys::dkim_verdicts_at;
use support::{CaptureOptions, CaptureServer};

const DOMAIN: &str = "acme.example";
/// What `check` says when every key is Ed25519.
const ED25519_ONLY: &str = "SpamAssassin and many receivers verify only RSA";

/// A private key (`<name>.pem`) made by openssl in `dir`, and its public key (`<name>.pub`).
fn key_pair(dir: &Path, name: &str, algorithm: &str) -> (PathBuf, PathBuf) {
    std::fs::create_dir_all(dir).unwrap();
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub"));
    let p = private.to_str().unwrap();
    match algorithm {
        "rsa-sha256" => openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            p,
        ]),
        _ => openssl(&["genpkey", "-algorithm", "ED25519", "-out", p]),
    };
    openssl(&[
        "pkey",
        "-in",
        p,
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (private, public)
}

/// A `[[dkim]]` table; the key from `keys/<selector>.pem` when `file` is set.
fn dkim_table(selector: &str, algorithm: &str, file: bool) -> String {
    let key = if file {
        format!("private_key = \"keys/{selector}.pem\"\n")
    } else {
        String::new()
    };
    format!(
        "\n[[dkim]]\ndomain = \"{DOMAIN}\"\nselector = \"{selector}\"\nalgorithm = \"{algorithm}\"\n{key}"
    )
}

/// The DKIM-Signature fields of a message, unfolded, top first: each as its tags.
fn signatures(raw: &[u8]) -> Vec<Vec<(String, String)>> {
    let text = String::from_utf8_lossy(raw);
    let header = &text[..text
        .find("\r\n\r\n")
        .expect("a blank line after the header")];
    let mut fields: Vec<String> = Vec::new();
    for line in header.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            fields.last_mut().unwrap().push_str(line);
        } else {
            fields.push(line.to_string());
        }
    }
    fields
        .iter()
        .filter_map(|f| f.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("dkim-signature"))
        .map(|(_, value)| {
            value
                .split(';')
                .filter(|t| !t.trim().is_empty())
                .map(|t| {
                    let (k, v) = t.split_once('=').expect("tag=value");
                    let v: String = v.chars().filter(|c| !c.is_whitespace()).collect();
                    (k.trim().to_string(), v)
                })
                .collect()
        })
        .collect()
}

fn tag<'a>(tags: &'a [(String, String)], name: &str) -> &'a str {
    tags.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name}= in {tags:?}"))
}

/// Asserts dkimpy's verdict on the `index`-th signature of every file.
#[track_caller]
fn assert_verifies(index: usize, public: &Path, selector: &str, files: &[PathBuf], ok: bool) {
    for verdict in dkim_verdicts_at(index, public, DOMAIN, selector, files) {
        assert_eq!(
            verdict.ok, ok,
            "signature {index} ({selector}): {verdict:#?}"
        );
    }
}

/// The messages a capture server received, written to files for dkimpy.
fn received_files(server: &CaptureServer, n: usize, dir: &Path) -> Vec<PathBuf> {
    server
        .wait_for(n, WAIT)
        .iter()
        .map(|m| {
            let path = dir.join(format!("received-{}.eml", m.seq));
            std::fs::write(&path, &m.raw).unwrap();
            path
        })
        .collect()
}

/// `campaign <args…>` in the fixture's tempdir with only `env` of the `CAMPAIGN_DKIM_KEY*`
/// variables set.
fn run_with_env(fixture: &Fixture, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_campaign"));
    cmd.arg(args[0])
        .arg(fixture.dir())
        .args(&args[1..])
        .current_dir(fixture.root())
        .env_remove("CAMPAIGN_TEMPLATES")
        .env_remove("CAMPAIGN_DKIM_KEY")
        .env("NO_COLOR", "1");
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("CAMPAIGN_DKIM_KEY")) {
        cmd.env_remove(name);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run the campaign binary");
    (
        out.status.code().expect("exited normally"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An RSA and an Ed25519 key, the Ed25519 one written first: every message sent carries two
/// signatures, RSA's on top, each over the same headers and body hash, none covering the other
/// signature; dkimpy verifies each with its own selector's record, and neither with the other's.
#[test]
fn rsa_and_ed25519_keys_each_sign_and_dkimpy_verifies_both() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 3,
        ..Spec::new(server.port)
    };
    let fixture = Fixture::from_spec(&spec);
    let toml = spec.toml()
        + &dkim_table("ed", "ed25519-sha256", true)
        + &dkim_table("rsa", "rsa-sha256", true);
    fixture.write("campaign.toml", &toml);
    let keys = fixture.dir().join("keys");
    let (_, ed) = key_pair(&keys, "ed", "ed25519-sha256");
    let (_, rsa) = key_pair(&keys, "rsa", "rsa-sha256");

    fixture.send(&[], None).expect(0);
    let files = received_files(&server, 3, fixture.root());
    assert_eq!(files.len(), 3);

    for file in &files {
        let raw = std::fs::read(file).unwrap();
        let sigs = signatures(&raw);
        assert_eq!(sigs.len(), 2, "one signature per key: {sigs:?}");
        assert_eq!(tag(&sigs[0], "a"), "rsa-sha256", "RSA on top");
        assert_eq!(tag(&sigs[0], "s"), "rsa");
        assert_eq!(tag(&sigs[1], "a"), "ed25519-sha256");
        assert_eq!(tag(&sigs[1], "s"), "ed");
        assert_eq!(tag(&sigs[0], "bh"), tag(&sigs[1], "bh"), "one body hash");
        assert_eq!(tag(&sigs[0], "h"), tag(&sigs[1], "h"), "the same headers");
        assert_eq!(tag(&sigs[0], "t"), tag(&sigs[1], "t"));
        for sig in &sigs {
            assert!(
                !tag(sig, "h")
                    .to_ascii_lowercase()
                    .contains("dkim-signature"),
                "h= covers no DKIM-Signature: {sig:?}"
            );
        }
    }
    assert_verifies(0, &rsa, "rsa", &files, true);
    assert_verifies(1, &ed, "ed", &files, true);
    assert_verifies(0, &ed, "ed", &files, false);
    assert_verifies(1, &rsa, "rsa", &files, false);
}

/// With several keys and no `private_key`, each key comes from `CAMPAIGN_DKIM_KEY_<SELECTOR>`
/// (upper case, `-` and `.` as `_`); `CAMPAIGN_DKIM_KEY` alone, meant for one key, is refused
/// with a message naming the variables to set and never the key.
#[test]
fn several_keys_come_from_one_variable_per_selector() {
    let html = "<html><body><p>Hello {{ email }}</p></body></html>\n";
    let csv = "email\na@example.com\nb@example.com\n";
    let toml = format!("subject = \"Hi\"\nfrom = \"news@{DOMAIN}\"\n")
        + &dkim_table("news-rsa", "rsa-sha256", false)
        + &dkim_table("news.ed", "ed25519-sha256", false);
    let fixture = Fixture::with(&toml, html, csv);
    let secret = fixture.root().join("secret");
    let (rsa_pem, rsa) = key_pair(&secret, "rsa", "rsa-sha256");
    let (ed_pem, ed) = key_pair(&secret, "ed", "ed25519-sha256");
    let rsa_pem = std::fs::read_to_string(rsa_pem).unwrap();
    let ed_pem = std::fs::read_to_string(ed_pem).unwrap();

    let (code, _, stderr) = run_with_env(
        &fixture,
        &["run", "--dry-run"],
        &[("CAMPAIGN_DKIM_KEY", &rsa_pem)],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("CAMPAIGN_DKIM_KEY_NEWS_RSA"), "{stderr}");
    assert!(stderr.contains("CAMPAIGN_DKIM_KEY_NEWS_ED"), "{stderr}");
    assert!(!stderr.contains("PRIVATE KEY"), "no key text: {stderr}");
    assert!(!fixture.preview().exists(), "nothing written");

    let (code, _, stderr) = run_with_env(
        &fixture,
        &["run", "--dry-run"],
        &[
            ("CAMPAIGN_DKIM_KEY_NEWS_RSA", &rsa_pem),
            ("CAMPAIGN_DKIM_KEY_NEWS_ED", &ed_pem),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let files = files_with(&fixture.preview(), "eml");
    assert_eq!(files.len(), 2);
    assert_verifies(0, &rsa, "news-rsa", &files, true);
    assert_verifies(1, &ed, "news.ed", &files, true);
}

/// Two tables for one selector would put two signatures under one DNS record: refused, naming
/// the file, the line of the second table and the selector; nothing written.
#[test]
fn two_keys_with_one_selector_are_an_invalid_campaign() {
    let html = "<html><body><p>Hello</p></body></html>\n";
    let toml = format!("subject = \"Hi\"\nfrom = \"news@{DOMAIN}\"\n")
        + &dkim_table("news", "rsa-sha256", true)
        + &dkim_table("news", "ed25519-sha256", true);
    let fixture = Fixture::with(&toml, html, "email\na@example.com\n");
    let run = fixture.dry_run(&[]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("campaign.toml"), "{}", run.stderr);
    assert!(run.stderr.contains("selector \"news\""), "{}", run.stderr);
    assert!(!fixture.preview().exists(), "nothing written");

    // A typo inside a [[dkim]] table is named with its line, as in a [dkim] table.
    let toml = format!("subject = \"Hi\"\nfrom = \"news@{DOMAIN}\"\n")
        + &dkim_table("a", "rsa-sha256", true)
        + "\n[[dkim]]\ndomain = \"acme.example\"\nselectr = \"b\"\n";
    let fixture = Fixture::with(&toml, html, "email\na@example.com\n");
    let run = fixture.dry_run(&[]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("campaign.toml:12:") && run.stderr.contains("selectr"),
        "{}",
        run.stderr
    );
}

/// `check` warns (a warning, exit 0) when every key is Ed25519, with one or several keys, and
/// not when an RSA key signs too.
#[test]
fn check_warns_when_ed25519_is_the_only_algorithm() {
    let html = "<html><body><p>Hello {{ email }}, the April news.</p></body></html>\n";
    let head = format!(
        "subject = \"April news\"\nfrom = \"news@{DOMAIN}\"\nreply_to = \"help@{DOMAIN}\"\n"
    );
    let cases = [
        (vec![("ed", "ed25519-sha256")], true),
        (
            vec![("ed", "ed25519-sha256"), ("ed2", "ed25519-sha256")],
            true,
        ),
        (vec![("ed", "ed25519-sha256"), ("rsa", "rsa-sha256")], false),
        (vec![("rsa", "rsa-sha256")], false),
    ];
    for (keys, warned) in cases {
        let mut toml = head.clone();
        for (selector, algorithm) in &keys {
            toml += &dkim_table(selector, algorithm, true);
        }
        let fixture = Fixture::with(&toml, html, "email\na@example.com\n");
        for (selector, algorithm) in &keys {
            key_pair(&fixture.dir().join("keys"), selector, algorithm);
        }
        let run = fixture.run("check", &[]);
        assert_eq!(run.code, 0, "{keys:?}: {run:#?}");
        let warnings: Vec<&str> = run
            .stdout
            .lines()
            .filter(|l| l.starts_with("warning: ") && l.contains(ED25519_ONLY))
            .collect();
        assert_eq!(
            warnings.len(),
            usize::from(warned),
            "{keys:?}: {}",
            run.stdout
        );
        if warned {
            assert!(run.stdout.contains("RFC 8463"), "{}", run.stdout);
        }
    }
}

// ------------------------------------------------------- SpamAssassin (optional) ---

/// Mail::DKIM, the verifier SpamAssassin's DKIM plugin uses, on one message file: its DNS answered
/// from the `name=record` arguments (a stub resolver object, the hook Mail::DKIM::DNS offers).
/// Prints `selector<TAB>algorithm<TAB>result<TAB>detail` per signature.
const MAIL_DKIM: &str = r#"
use strict; use warnings;
use Mail::DKIM::Verifier; use Mail::DKIM::DNS; use Net::DNS;
my ($file, @records) = @ARGV;
my %txt = map { my ($n, $v) = split /=/, $_, 2; (lc($n) => $v) } @records;
{
    package Stub;
    sub new { bless {}, shift }
    sub send {
        my ($self, $name, $type) = @_;
        my $packet = Net::DNS::Packet->new($name, $type);
        $packet->header->qr(1);
        my $value = $txt{lc $name};
        if (defined $value) {
            my @strings = unpack("(a255)*", $value);
            $packet->push(answer => Net::DNS::RR->new(name => $name, type => 'TXT', txtdata => \@strings));
        } else {
            $packet->header->rcode('NXDOMAIN');
        }
        return $packet;
    }
}
Mail::DKIM::DNS::resolver(Stub->new);
my $dkim = Mail::DKIM::Verifier->new;
open my $fh, '<:raw', $file or die "$file: $!";
while (<$fh>) { $dkim->PRINT($_) }
$dkim->CLOSE;
for my $sig ($dkim->signatures) {
    print join("\t", $sig->selector, $sig->algorithm, $sig->result, $sig->result_detail // ''), "\n";
}
"#;

/// The DKIM record of the public key in `public` (PEM): RSA's SubjectPublicKeyInfo, Ed25519's raw
/// 32 bytes (RFC 8463).
fn record(public: &Path) -> String {
    use base64::Engine as _;
    let der = openssl(&[
        "pkey",
        "-pubin",
        "-in",
        public.to_str().unwrap(),
        "-outform",
        "DER",
    ]);
    let (k, p) = match der.len() {
        44 => ("ed25519", &der[12..]),
        _ => ("rsa", &der[..]),
    };
    let p = base64::engine::general_purpose::STANDARD.encode(p);
    format!("v=DKIM1; k={k}; p={p}")
}

/// SpamAssassin's verifier, Mail::DKIM (Debian's `libmail-dkim-perl`, pulled in by the
/// `spamassassin` package; not installed by setup.sh), passes the RSA signature of a dual-signed
/// message, whatever it makes of the Ed25519 one. Skipped, saying so, where it is absent.
#[test]
fn spamassassins_mail_dkim_passes_the_rsa_signature() {
    let present = Command::new("perl")
        .args(["-MMail::DKIM::Verifier", "-MNet::DNS", "-e", "1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        eprintln!("skipped: Mail::DKIM (SpamAssassin's DKIM verifier) is not installed");
        return;
    }
    let html = "<html><body><p>Hello {{ email }}, the April news.</p></body></html>\n";
    let toml = format!("subject = \"April news\"\nfrom = \"news@{DOMAIN}\"\n")
        + &dkim_table("ed", "ed25519-sha256", true)
        + &dkim_table("rsa", "rsa-sha256", true);
    let fixture = Fixture::with(&toml, html, "email\na@example.com\n");
    let keys = fixture.dir().join("keys");
    let (_, ed) = key_pair(&keys, "ed", "ed25519-sha256");
    let (_, rsa) = key_pair(&keys, "rsa", "rsa-sha256");
    let run = fixture.dry_run(&[]);
    assert_eq!(run.code, 0, "{run:#?}");
    let file = &files_with(&fixture.preview(), "eml")[0];

    let out = Command::new("perl")
        .args(["-e", MAIL_DKIM])
        .arg(file)
        .arg(format!("rsa._domainkey.{DOMAIN}={}", record(&rsa)))
        .arg(format!("ed._domainkey.{DOMAIN}={}", record(&ed)))
        .output()
        .expect("run perl");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("Mail::DKIM: {stdout}");
    let results: Vec<Vec<&str>> = stdout.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(results.len(), 2, "two signatures seen: {stdout}");
    assert_eq!(results[0][..3], ["rsa", "rsa-sha256", "pass"], "{stdout}");
    assert_eq!(results[1][..2], ["ed", "ed25519-sha256"], "{stdout}");
    // Debian 12's Mail::DKIM 1.20230212: "invalid (unsupported algorithm ed25519-sha256)", the
    // reason for signing with RSA too.
    assert!(
        results[1][2] == "pass" || results[1][3].contains("unsupported algorithm"),
        "{stdout}"
    );
}
