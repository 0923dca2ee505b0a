//! Keys and certificates the suites make: a self-signed relay certificate (`openssl req -x509`),
//! an expired one from a trustme CA, and dkimpy's verdict on DKIM-signed messages.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::fixture::openssl;

/// A certificate made the usual way for a private relay: `openssl req -x509`, which marks it
/// CA:TRUE, for localhost and 127.0.0.1, subject `CN=localhost, O=Acme Relay`. Returns
/// (cert.pem, key.pem).
pub fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=localhost/O=Acme Relay",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
    ]);
    let text = String::from_utf8(openssl(&[
        "x509",
        "-in",
        cert.to_str().unwrap(),
        "-noout",
        "-text",
    ]))
    .unwrap();
    assert!(text.contains("CA:TRUE"), "openssl req -x509 marks it a CA");
    (cert, key)
}

/// A CA (trustme) and a leaf for localhost that expired in 2020. Returns (ca, cert, key).
pub fn expired_leaf(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let script = r#"
import datetime, sys, trustme
d = sys.argv[1]
ca = trustme.CA()
leaf = ca.issue_cert("localhost", "127.0.0.1",
    not_before=datetime.datetime(2020, 1, 1), not_after=datetime.datetime(2020, 2, 1))
ca.cert_pem.write_to_path(d + "/ca.pem")
with open(d + "/expired.pem", "wb") as f:
    for blob in leaf.cert_chain_pems:
        f.write(blob.bytes())
leaf.private_key_pem.write_to_path(d + "/expired.key")
"#;
    let out = Command::new(super::python())
        .args(["-c", script])
        .arg(dir)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        dir.join("ca.pem"),
        dir.join("expired.pem"),
        dir.join("expired.key"),
    )
}

/// dkimpy's verdict on one message file.
#[derive(Debug)]
pub struct Verdict {
    pub file: String,
    pub ok: bool,
    pub log: String,
}

/// Verifies `files` with dkimpy (`tests/support/dkim_verify.py`), the DNS record built from the
/// public key in `public` at `selector._domainkey.domain`.
pub fn dkim_verdicts(
    public: &Path,
    domain: &str,
    selector: &str,
    files: &[PathBuf],
) -> Vec<Verdict> {
    dkim_verdicts_at(0, public, domain, selector, files)
}

/// [`dkim_verdicts`] of the `index`-th DKIM-Signature field of each file (0: the topmost), for
/// messages signed with several keys.
pub fn dkim_verdicts_at(
    index: usize,
    public: &Path,
    domain: &str,
    selector: &str,
    files: &[PathBuf],
) -> Vec<Verdict> {
    let out = Command::new(super::python())
        .arg(super::support_dir().join("dkim_verify.py"))
        .arg("--public-key")
        .arg(public)
        .args(["--domain", domain, "--selector", selector])
        .args(["--index", &index.to_string()])
        .args(files)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "dkim_verify.py failed (is dkimpy installed? run `bash tests/support/setup.sh`): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdicts: Vec<Verdict> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            Verdict {
                file: v["file"].as_str().unwrap().to_string(),
                ok: v["ok"].as_bool().unwrap(),
                log: v["log"].as_str().unwrap().to_string(),
            }
        })
        .collect();
    assert_eq!(verdicts.len(), files.len());
    verdicts
}
