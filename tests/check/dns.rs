//! `check --dns` against dnsmasq on 127.0.0.1 serving only each test's records: SPF, DMARC (a
//! parent domain's too) and DKIM records present, missing or holding another key (RSA PKCS#1 and
//! SPKI, Ed25519); keys made with the openssl CLI.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::support::fixture::{Fixture, Run, openssl, rsa_key};

use super::*;

// ---------------------------------------------------------------- openssl ---

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Writes a 2048-bit RSA key in PKCS#1 PEM ("BEGIN RSA PRIVATE KEY") to `path`.
fn rsa_key_pkcs1(path: &Path) {
    openssl(&["genrsa", "-traditional", "-out", path_str(path), "2048"]);
    let pem = std::fs::read_to_string(path).unwrap();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----"), "{pem}");
}

/// Writes an Ed25519 key (PKCS#8 PEM) to `path`.
fn ed25519_key(path: &Path) {
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", path_str(path)]);
}

/// The SubjectPublicKeyInfo (DER) of the private key in `path`.
fn spki(path: &Path) -> Vec<u8> {
    openssl(&["pkey", "-in", path_str(path), "-pubout", "-outform", "DER"])
}

/// The DKIM record value for the RSA key in `path`: p= is the base64 SubjectPublicKeyInfo.
fn rsa_record(path: &Path) -> String {
    format!("v=DKIM1; k=rsa; p={}", BASE64.encode(spki(path)))
}

/// The DKIM record value for the Ed25519 key in `path`: p= is the raw 32-byte key (RFC 8463),
/// the last 32 bytes of its SubjectPublicKeyInfo.
fn ed25519_record(path: &Path) -> String {
    let der = spki(path);
    assert_eq!(der.len(), 44);
    format!("v=DKIM1; k=ed25519; p={}", BASE64.encode(&der[12..]))
}

// ------------------------------------------------------------- DNS (dnsmasq) ---

/// dnsmasq serving the given TXT records for `acme.example` and below (and nothing else: other
/// names there are NXDOMAIN), on 127.0.0.1 only. Stopped when dropped.
struct Dnsmasq {
    child: Child,
    port: u16,
}

fn dnsmasq_bin() -> PathBuf {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect(
            "dnsmasq is not installed: run `bash tests/support/setup.sh` (Debian: dnsmasq-base)",
        )
}

impl Dnsmasq {
    /// Starts dnsmasq with `records`: (name, value) pairs; values longer than 255 characters are
    /// split into several strings of one TXT record, as a zone file would have them.
    fn start(records: &[(&str, &str)]) -> Dnsmasq {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("bind 127.0.0.1:0")
                .port();
            let mut command = Command::new(dnsmasq_bin());
            command.args([
                "--no-daemon",
                &format!("--port={port}"),
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
                "--conf-file=/dev/null",
                "--pid-file",
                "--local=/acme.example/",
            ]);
            for (name, value) in records {
                let strings: Vec<&str> = value
                    .as_bytes()
                    .chunks(200)
                    .map(|c| std::str::from_utf8(c).unwrap())
                    .collect();
                command.arg(format!("--txt-record={name},{}", strings.join(",")));
            }
            let mut child = command
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start dnsmasq");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if child.try_wait().expect("poll dnsmasq").is_some() {
                    break; // it exited: most likely the port was taken; try another
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Dnsmasq { child, port };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("dnsmasq did not start listening on 127.0.0.1");
    }

    fn resolver(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn check_dns(fixture: &Fixture, dns: &Dnsmasq, extra: &[&str]) -> Run {
    let resolver = dns.resolver();
    let mut args = vec!["--dns", "--resolver", resolver.as_str()];
    args.extend_from_slice(extra);
    check(fixture, &args)
}

const SPF: &str = "v=spf1 mx -all";
const DMARC: &str = "v=DMARC1; p=quarantine; rua=mailto:dmarc@acme.example";

#[test]
fn dns_all_records_present_and_matching() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let dkim = rsa_record(&fixture.dir().join("dkim.pem"));
    assert!(dkim.len() > 255, "the record is split into strings");
    let dns = Dnsmasq::start(&[
        ("acme.example", SPF),
        ("s1._domainkey.acme.example", &dkim),
        ("_dmarc.acme.example", DMARC),
    ]);
    let out = check_dns(&fixture, &dns, &["--strict"]);
    assert_clean(&out);
    let notes = lines(&out, "note");
    assert!(
        notes.contains(&"SPF at acme.example: v=spf1 mx -all"),
        "{out:#?}"
    );
    assert!(
        notes.contains(&"DKIM at s1._domainkey.acme.example: the published key matches the configured private key"),
        "{out:#?}"
    );
    assert!(
        notes.contains(&"DMARC at _dmarc.acme.example: policy p=quarantine"),
        "{out:#?}"
    );
}

#[test]
fn dns_missing_spf_and_dmarc_are_warnings_naming_the_record() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let dkim = rsa_record(&fixture.dir().join("dkim.pem"));
    let dns = Dnsmasq::start(&[("s1._domainkey.acme.example", &dkim)]);
    let out = check_dns(&fixture, &dns, &[]);
    assert_eq!(out.code, 0, "warnings only: {out:#?}");
    assert!(lines(&out, "error").is_empty(), "{out:#?}");
    warning(&out, "no SPF record at acme.example");
    let (_, fix) = explanation(&out, "no SPF record");
    assert!(
        fix.contains("acme.example. IN TXT \"v=spf1 include:"),
        "{fix}"
    );
    warning(&out, "no DMARC record at _dmarc.acme.example");
    let (_, fix) = explanation(&out, "no DMARC record");
    assert!(
        fix.contains(
            "_dmarc.acme.example. IN TXT \"v=DMARC1; p=none; rua=mailto:dmarc-reports@acme.example\""
        ),
        "{fix}"
    );
    assert!(out.stdout.contains("0 error(s), 2 warning(s)."), "{out:#?}");
    assert_eq!(check_dns(&fixture, &dns, &["--strict"]).code, 2);
}

#[test]
fn dns_spf_suggestion_names_the_smtp_host() {
    let toml = format!("{}[smtp]\nhost = \"smtp.acme.example\"\n", clean_toml());
    let fixture = campaign(&toml, &clean_html(), 6);
    let dkim = rsa_record(&fixture.dir().join("dkim.pem"));
    let dns = Dnsmasq::start(&[
        ("s1._domainkey.acme.example", &dkim),
        ("_dmarc.acme.example", DMARC),
    ]);
    let out = check_dns(&fixture, &dns, &[]);
    let (_, fix) = explanation(&out, "no SPF record");
    assert!(
        fix.contains("acme.example. IN TXT \"v=spf1 a:smtp.acme.example ~all\""),
        "{fix}"
    );
}

#[test]
fn dns_dkim_record_with_another_key_is_an_error() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let other = fixture.root().join("other.pem");
    rsa_key(&other);
    let dns = Dnsmasq::start(&[
        ("acme.example", SPF),
        ("s1._domainkey.acme.example", &rsa_record(&other)),
        ("_dmarc.acme.example", DMARC),
    ]);
    // An error even without --strict: every signature would fail.
    let out = check_dns(&fixture, &dns, &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    let errors = lines(&out, "error");
    assert_eq!(errors.len(), 1, "{out:#?}");
    assert!(
        errors[0]
            .contains("the DKIM record at s1._domainkey.acme.example holds another public key"),
        "{out:#?}"
    );
    // The fix is the exact record of the configured key, split into 255-character strings.
    let (_, fix) = explanation(&out, "holds another public key");
    let mine = rsa_record(&fixture.dir().join("dkim.pem"));
    let expected = format!(
        "s1._domainkey.acme.example. IN TXT \"{}\" \"{}\"",
        &mine[..255],
        &mine[255..]
    );
    assert!(fix.contains(&expected), "{fix}\nwant {expected}");
}

#[test]
fn dns_missing_dkim_record_is_an_error() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let dns = Dnsmasq::start(&[("acme.example", SPF), ("_dmarc.acme.example", DMARC)]);
    let out = check_dns(&fixture, &dns, &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    let errors = lines(&out, "error");
    assert_eq!(
        errors,
        vec!["no DKIM key record at s1._domainkey.acme.example"],
        "{out:#?}"
    );
    let (_, fix) = explanation(&out, "no DKIM key record");
    assert!(
        fix.starts_with("publish s1._domainkey.acme.example. IN TXT \"v=DKIM1; k=rsa; p=MII"),
        "{fix}"
    );
}

#[test]
fn dns_pkcs1_rsa_key_matches_its_record() {
    let fixture = campaign(&clean_toml(), &clean_html(), 6);
    let key = fixture.dir().join("dkim.pem");
    rsa_key_pkcs1(&key);
    let dns = Dnsmasq::start(&[
        ("acme.example", SPF),
        ("s1._domainkey.acme.example", &rsa_record(&key)),
        ("_dmarc.acme.example", DMARC),
    ]);
    assert_clean(&check_dns(&fixture, &dns, &["--strict"]));
}

/// An Ed25519 key beside the RSA one (`[[dkim]]`, as RFC 8463 §4 advises; Ed25519 alone is
/// warned about): each selector's record is checked against its own key.
#[test]
fn dns_ed25519_key_matches_its_raw_record() {
    let toml = clean_toml().replace("[dkim]", "[[dkim]]")
        + "[[dkim]]\ndomain = \"acme.example\"\nselector = \"ed\"\nprivate_key = \"ed.pem\"\n\
           algorithm = \"ed25519-sha256\"\n";
    let fixture = campaign(&toml, &clean_html(), 6);
    let key = fixture.dir().join("ed.pem");
    ed25519_key(&key);
    let record = ed25519_record(&key);
    let rsa = rsa_record(&fixture.dir().join("dkim.pem"));
    let dns = Dnsmasq::start(&[
        ("acme.example", SPF),
        ("s1._domainkey.acme.example", &rsa),
        ("ed._domainkey.acme.example", &record),
        ("_dmarc.acme.example", DMARC),
    ]);
    let out = check_dns(&fixture, &dns, &["--strict"]);
    assert_clean(&out);
    for name in ["s1._domainkey", "ed._domainkey"] {
        let matches = format!("DKIM at {name}.acme.example: the published key matches");
        assert!(out.stdout.contains(&matches), "{name}: {out:#?}");
    }

    // An RSA record at the Ed25519 selector: the key type is wrong.
    let other = fixture.root().join("rsa.pem");
    rsa_key(&other);
    let dns = Dnsmasq::start(&[
        ("acme.example", SPF),
        ("s1._domainkey.acme.example", &rsa),
        ("ed._domainkey.acme.example", &rsa_record(&other)),
        ("_dmarc.acme.example", DMARC),
    ]);
    let out = check_dns(&fixture, &dns, &[]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stdout
            .contains("is for k=rsa keys, but the configured key is ed25519"),
        "{out:#?}"
    );
    let (_, fix) = explanation(&out, "is for k=rsa keys");
    assert!(fix.contains(&format!("\"{record}\"")), "{fix}");
}

#[test]
fn dns_dmarc_of_a_parent_domain_applies_to_a_subdomain() {
    let toml = clean_toml().replace(FROM, "Acme News <news@mail.acme.example>");
    let fixture = campaign(&toml, &clean_html(), 6);
    let dkim = rsa_record(&fixture.dir().join("dkim.pem"));
    let dns = Dnsmasq::start(&[
        ("mail.acme.example", SPF),
        ("s1._domainkey.acme.example", &dkim),
        ("_dmarc.acme.example", "v=DMARC1; p=reject; sp=quarantine"),
    ]);
    let out = check_dns(&fixture, &dns, &["--strict"]);
    assert_clean(&out);
    assert!(
        lines(&out, "note").contains(
            &"DMARC at mail.acme.example (inherited from _dmarc.acme.example): policy p=quarantine"
        ),
        "{out:#?}"
    );
}
