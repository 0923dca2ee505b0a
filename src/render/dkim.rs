//! DKIM signing (RFC 6376; Ed25519 per RFC 8463) of the finished message bytes.
//!
//! The signature is computed over the exact bytes lettre formatted, and the only change made to
//! them is the `DKIM-Signature` field put in front: what is written or sent is byte for byte what
//! was signed, whatever lettre's header folding or encoding does. (lettre's own `Message::sign`
//! hashes a re-serialisation of the headers and formats the body twice.)
//!
//! Canonicalization is relaxed/relaxed. The signature covers From, To, Subject, Date, Message-ID,
//! MIME-Version, Content-Type and, when present, Reply-To, List-Unsubscribe and
//! List-Unsubscribe-Post; a name that occurs n times is listed n times in `h=`.
//!
//! The key is parsed once per campaign ([`Signer::new`]): unencrypted PEM, PKCS#8 (`BEGIN PRIVATE
//! KEY`, as `openssl genpkey` writes for RSA and Ed25519) or, for RSA, PKCS#1 (`BEGIN RSA PRIVATE
//! KEY`). Cryptography is `ring`'s (already linked for TLS): RSA keys must be 2048 to 4096 bits.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::digest::{self, SHA256};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use crate::campaign::{DkimAlgorithm, DkimSettings};
use crate::error::Result;
use crate::invalid;

/// The header fields signed, each when present (From always is). Lower case, as written in `h=`.
pub const SIGNED_HEADERS: &[&str] = &[
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "reply-to",
    "list-unsubscribe",
    "list-unsubscribe-post",
];

/// Lines of the `DKIM-Signature` field are folded to stay within this many characters.
const LINE: usize = 76;

/// Signs messages for one campaign with a key parsed once.
pub struct Signer {
    domain: String,
    selector: String,
    key: Key,
    rng: SystemRandom,
}

enum Key {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Parses the key of `[dkim]`. A key that cannot be used is an invalid campaign; the message
    /// names where the key came from (never its text) and what to do.
    pub fn new(toml: &Path, settings: &DkimSettings) -> Result<Signer> {
        for (what, value) in [
            ("domain", &settings.domain),
            ("selector", &settings.selector),
        ] {
            let ok = value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok {
                return Err(invalid!(
                    "{}: [dkim] {what} = {value:?} is not a DNS name: use letters, digits, '-', \
                     '_' and '.' only (an internationalised domain in its xn-- form)",
                    toml.display()
                ));
            }
        }
        let key = parse_key(&settings.key_pem, settings.algorithm).map_err(|why| {
            invalid!(
                "{}: cannot use this DKIM private key with [dkim] algorithm = \"{}\" in {}: {why}",
                settings.key_source,
                algorithm_name(settings.algorithm),
                toml.display()
            )
        })?;
        Ok(Signer {
            domain: settings.domain.clone(),
            selector: settings.selector.clone(),
            key,
            rng: SystemRandom::new(),
        })
    }

    /// The algorithm of the key.
    pub fn algorithm(&self) -> DkimAlgorithm {
        match self.key {
            Key::Rsa(_) => DkimAlgorithm::RsaSha256,
            Key::Ed25519(_) => DkimAlgorithm::Ed25519Sha256,
        }
    }

    /// Signs a formatted message (RFC 5322, CRLF line ends): returns it with a `DKIM-Signature`
    /// field in front, timestamped now.
    pub fn sign(&self, message: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.sign_at(message, now)
    }

    /// [`Signer::sign`] with `t=` set to `timestamp` (seconds since the Unix epoch).
    pub fn sign_at(
        &self,
        message: Vec<u8>,
        timestamp: u64,
    ) -> std::result::Result<Vec<u8>, String> {
        let Some(end) = memchr::memmem::find(&message, b"\r\n\r\n") else {
            return Err("DKIM: the message has no blank line after its header".into());
        };
        // The header block keeps the CRLF of its last field; the body starts after the blank line.
        let (header, body) = (&message[..end + 2], &message[end + 4..]);
        let body_hash = BASE64.encode(body_hash(body));

        let fields = fields(header);
        let mut names: Vec<&str> = Vec::new();
        let mut data = Vec::with_capacity(header.len());
        for &name in SIGNED_HEADERS {
            // RFC 6376 §5.4.2: instances of a name repeated in h= are taken from the bottom up.
            for field in fields
                .iter()
                .rev()
                .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
            {
                names.push(name);
                relaxed_header(&mut data, field.name, field.value);
                data.extend_from_slice(b"\r\n");
            }
        }
        if !names.contains(&"from") {
            return Err("DKIM: the message has no From field to sign".into());
        }

        let mut field = Folder::new("DKIM-Signature:");
        for tag in [
            "v=1;".to_string(),
            format!("a={};", algorithm_name(self.algorithm())),
            "c=relaxed/relaxed;".to_string(),
            format!("d={};", self.domain),
            format!("s={};", self.selector),
            format!("t={timestamp};"),
        ] {
            field.push(" ", &tag);
        }
        for (i, name) in names.iter().enumerate() {
            match (i, i + 1 == names.len()) {
                (0, last) => field.push(" ", &format!("h={name}{}", if last { ";" } else { ":" })),
                (_, false) => field.push("", &format!("{name}:")),
                (_, true) => field.push("", &format!("{name};")),
            }
        }
        field.push(" ", &format!("bh={body_hash};"));
        field.push(" ", "b=");
        // The field itself is hashed with an empty b= and without its final CRLF (§3.7).
        let value = &field.text.as_bytes()["DKIM-Signature:".len()..];
        relaxed_header(&mut data, b"DKIM-Signature", value);

        let signature = match &self.key {
            Key::Rsa(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &self.rng, &data, &mut signature)
                    .map_err(|_| "DKIM: RSA signing failed".to_string())?;
                signature
            }
            Key::Ed25519(key) => key
                .sign(digest::digest(&SHA256, &data).as_ref())
                .as_ref()
                .to_vec(),
        };
        let signature = BASE64.encode(signature);
        let mut rest = signature.as_str();
        while !rest.is_empty() {
            // Fill the line; when little room is left, the chunk goes on a new one.
            let room = match LINE.saturating_sub(field.line) {
                room if room < 8 => LINE - 1,
                room => room,
            };
            let (chunk, tail) = rest.split_at(room.min(rest.len()));
            field.push("", chunk);
            rest = tail;
        }
        field.text.push_str("\r\n");

        let mut signed = Vec::with_capacity(field.text.len() + message.len());
        signed.extend_from_slice(field.text.as_bytes());
        signed.extend_from_slice(&message);
        Ok(signed)
    }
}

/// The `a=` / config spelling of an algorithm.
fn algorithm_name(algorithm: DkimAlgorithm) -> &'static str {
    match algorithm {
        DkimAlgorithm::RsaSha256 => "rsa-sha256",
        DkimAlgorithm::Ed25519Sha256 => "ed25519-sha256",
    }
}

const GENERATE: &str = "generate one with `openssl genpkey -algorithm RSA -pkeyopt \
     rsa_keygen_bits:2048 -out news.pem` (or `-algorithm ED25519` for ed25519-sha256) and publish \
     its public key in DNS";

/// Parses a PEM private key for `algorithm`; the error says why (never showing the key) and what
/// to do.
fn parse_key(pem: &str, algorithm: DkimAlgorithm) -> std::result::Result<Key, String> {
    if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || pem.contains("Proc-Type: 4,ENCRYPTED")
    {
        return Err(
            "the key is encrypted with a passphrase, which campaign cannot ask for: write an \
             unencrypted copy with `openssl pkey -in KEY.pem -out PLAIN.pem` and keep it private"
                .into(),
        );
    }
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
        format!(
            "it is not a PEM private key: expected \"-----BEGIN PRIVATE KEY-----\" (PKCS#8) or, \
             for RSA, \"-----BEGIN RSA PRIVATE KEY-----\" (PKCS#1); {GENERATE}"
        )
    })?;
    let wrong = |have: &str, set: &str| {
        format!(
            "it is {have}, not an {} key: set [dkim] algorithm = \"{set}\", or give a key of the \
             configured algorithm",
            match algorithm {
                DkimAlgorithm::RsaSha256 => "RSA",
                DkimAlgorithm::Ed25519Sha256 => "Ed25519",
            }
        )
    };
    match (algorithm, der) {
        (_, PrivateKeyDer::Sec1(_)) => Err(format!(
            "it is an EC (ECDSA) key (\"BEGIN EC PRIVATE KEY\"), which DKIM cannot sign with: \
             use an RSA or Ed25519 key; {GENERATE}"
        )),
        (DkimAlgorithm::RsaSha256, PrivateKeyDer::Pkcs1(der)) => {
            RsaKeyPair::from_der(der.secret_pkcs1_der())
                .map(Key::Rsa)
                .map_err(|e| rsa_rejected(e.to_string()))
        }
        (DkimAlgorithm::Ed25519Sha256, PrivateKeyDer::Pkcs1(_)) => {
            Err(wrong("an RSA key", "rsa-sha256"))
        }
        (DkimAlgorithm::RsaSha256, PrivateKeyDer::Pkcs8(der)) => {
            let der = der.secret_pkcs8_der();
            RsaKeyPair::from_pkcs8(der).map(Key::Rsa).map_err(|e| {
                if Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).is_ok() {
                    wrong("an Ed25519 key", "ed25519-sha256")
                } else {
                    rsa_rejected(e.to_string())
                }
            })
        }
        (DkimAlgorithm::Ed25519Sha256, PrivateKeyDer::Pkcs8(der)) => {
            let der = der.secret_pkcs8_der();
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                .map(Key::Ed25519)
                .map_err(|e| {
                    if RsaKeyPair::from_pkcs8(der).is_ok() {
                        wrong("an RSA key", "rsa-sha256")
                    } else if e.to_string() == "WrongAlgorithm" {
                        format!("it is not an RSA or Ed25519 key; {GENERATE}")
                    } else {
                        format!("the key is malformed ({e}); {GENERATE}")
                    }
                })
        }
        (_, _) => Err(format!("it is not an RSA or Ed25519 key; {GENERATE}")),
    }
}

/// Explains why `ring` rejected an RSA key (its reasons are fixed words, never key material).
fn rsa_rejected(reason: String) -> String {
    match reason.as_str() {
        "TooSmall" => format!(
            "the RSA key is shorter than 2048 bits, which campaign does not sign with (RFC 8301 \
             recommends 2048 bits; 1024-bit keys are being phased out): {GENERATE}"
        ),
        "TooLarge" => format!("the RSA key is longer than 4096 bits; {GENERATE}"),
        "WrongAlgorithm" => format!("it is not an RSA or Ed25519 key; {GENERATE}"),
        _ => format!("the key is malformed ({reason}); {GENERATE}"),
    }
}

/// One header field: its name and everything after the colon up to (not including) the CRLF that
/// ends it, folds included.
struct Field<'a> {
    name: &'a [u8],
    value: &'a [u8],
}

/// Splits a header block (each field ending in CRLF) into fields.
fn fields(header: &[u8]) -> Vec<Field<'_>> {
    let mut fields: Vec<(usize, usize)> = Vec::new(); // (start, end) of each field, CRLF excluded
    let mut start = 0;
    while start < header.len() {
        let end = crlf(&header[start..]).map_or(header.len(), |i| start + i);
        let continuation = matches!(header[start], b' ' | b'\t');
        match fields.last_mut() {
            Some(last) if continuation => last.1 = end,
            _ => fields.push((start, end)),
        }
        start = end + 2;
    }
    fields
        .into_iter()
        .filter_map(|(start, end)| {
            let field = &header[start..end];
            let colon = field.iter().position(|&b| b == b':')?;
            Some(Field {
                name: &field[..colon],
                value: &field[colon + 1..],
            })
        })
        .collect()
}

/// Appends `name:value` in relaxed canonical form (RFC 6376 §3.4.2), without a line end: the name
/// in lower case, the value unfolded, whitespace runs made one space, none at either end.
fn relaxed_header(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend(name.trim_ascii_end().iter().map(|b| b.to_ascii_lowercase()));
    out.push(b':');
    let mut space = false;
    let mut empty = true;
    for &b in value {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => space = true,
            _ => {
                if space && !empty {
                    out.push(b' ');
                }
                out.push(b);
                space = false;
                empty = false;
            }
        }
    }
}

/// SHA-256 of the body in relaxed canonical form (RFC 6376 §3.4.4): whitespace runs in a line made
/// one space, none at line ends, no empty lines at the end, and a non-empty body ending in CRLF.
///
/// Most lines (base64, quoted-printable) are canonical already: a run of them is hashed straight
/// from the body, in one piece.
fn body_hash(body: &[u8]) -> digest::Digest {
    let mut hash = digest::Context::new(&SHA256);
    // body[run.0..run.1]: canonical as it is and not hashed yet; run.1 starts a line.
    let mut run = (0, 0);
    // Lines after the run that are empty once canonical, not hashed yet (dropped at the end).
    let mut empty_lines = 0;
    let mut relaxed = Vec::new();
    let mut at = 0;
    loop {
        // The line at `at` (a lone CR or LF is part of it), and where the next one starts.
        let (end, next) = match crlf(&body[at..]) {
            Some(i) => (at + i, Some(at + i + 2)),
            None => (body.len(), None),
        };
        let raw = &body[at..end];
        let canonical = is_relaxed(raw);
        if let (true, false, Some(next)) = (canonical, raw.is_empty(), next) {
            // Joins the run if the empty lines in between were bare CRLFs.
            if at - run.1 == 2 * empty_lines {
                run.1 = next;
                empty_lines = 0;
                at = next;
                continue;
            }
        }
        let line = if canonical {
            raw
        } else {
            relaxed.clear();
            let mut space = false;
            for &b in raw {
                if b == b' ' || b == b'\t' {
                    space = true;
                } else {
                    if space {
                        relaxed.push(b' ');
                        space = false;
                    }
                    relaxed.push(b);
                }
            }
            &relaxed[..]
        };
        if line.is_empty() {
            empty_lines += 1;
        } else {
            hash.update(&body[run.0..run.1]);
            for _ in 0..empty_lines {
                hash.update(b"\r\n");
            }
            empty_lines = 0;
            hash.update(line);
            hash.update(b"\r\n");
            let after = next.unwrap_or(body.len());
            run = (after, after);
        }
        match next {
            Some(next) => at = next,
            None => break,
        }
    }
    hash.update(&body[run.0..run.1]);
    hash.finish()
}

/// Whether a line is unchanged by relaxed body canonicalization: no tab, no two spaces in a row,
/// no space at the end.
fn is_relaxed(line: &[u8]) -> bool {
    if memchr::memchr2(b' ', b'\t', line).is_none() {
        return true;
    }
    let mut space = false;
    for &b in line {
        match b {
            b'\t' => return false,
            b' ' if space => return false,
            b' ' => space = true,
            _ => space = false,
        }
    }
    !space
}

/// Where the first CRLF in `bytes` starts.
fn crlf(bytes: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &bytes[from..]) {
        let at = from + i;
        if at > 0 && bytes[at - 1] == b'\r' {
            return Some(at - 1);
        }
        from = at + 1;
    }
    None
}

/// Builds a header field, folding (CRLF + space) before a token that would overrun [`LINE`].
struct Folder {
    text: String,
    /// Length of the current line.
    line: usize,
}

impl Folder {
    fn new(start: &str) -> Folder {
        Folder {
            text: start.to_string(),
            line: start.len(),
        }
    }

    /// Appends `token`, after `separator` or, when the line would get too long, after a fold.
    fn push(&mut self, separator: &str, token: &str) {
        if self.line + separator.len() + token.len() > LINE && self.line > 1 {
            self.text.push_str("\r\n ");
            self.line = 1;
        } else {
            self.text.push_str(separator);
            self.line += separator.len();
        }
        self.text.push_str(token);
        self.line += token.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(d: digest::Digest) -> String {
        d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn relaxed_body_examples() {
        // RFC 6376 §3.4.6, example 2 (relaxed body).
        let want = digest::digest(&SHA256, b" C\r\nD E\r\n");
        assert_eq!(
            hex(body_hash(b" C \r\nD \t E\r\n\r\n\r\n")),
            hex(want),
            "RFC example"
        );
        // An empty body, and one of empty lines only, hash as the empty string.
        let empty = hex(digest::digest(&SHA256, b""));
        assert_eq!(hex(body_hash(b"")), empty);
        assert_eq!(hex(body_hash(b"\r\n\r\n \r\n")), empty);
        // A missing final CRLF is added; inner empty lines are kept.
        assert_eq!(
            hex(body_hash(b"a\r\n\r\nb")),
            hex(digest::digest(&SHA256, b"a\r\n\r\nb\r\n"))
        );
    }

    /// Relaxed body canonicalization, written plainly (RFC 6376 §3.4.4).
    fn relaxed_body_reference(body: &[u8]) -> Vec<u8> {
        let text = body.to_vec();
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let mut rest = &text[..];
        loop {
            let i = crlf(rest);
            let raw = &rest[..i.unwrap_or(rest.len())];
            let mut line = Vec::new();
            for (k, &b) in raw.iter().enumerate() {
                let wsp = |c: u8| c == b' ' || c == b'\t';
                if wsp(b) {
                    if raw[k + 1..].iter().all(|&c| wsp(c)) || wsp(raw[k + 1]) {
                        continue;
                    }
                    line.push(b' ');
                } else {
                    line.push(b);
                }
            }
            lines.push(line);
            match i {
                Some(i) => rest = &rest[i + 2..],
                None => break,
            }
        }
        while lines.last().is_some_and(|l| l.is_empty()) {
            lines.pop();
        }
        lines
            .iter()
            .flat_map(|l| [&l[..], b"\r\n"].concat())
            .collect()
    }

    #[test]
    fn body_hash_matches_the_plain_reference() {
        let alphabet = [
            &b" "[..],
            b"\t",
            b"\r\n",
            b"\r",
            b"\n",
            b"a",
            b"bc",
            b"  ",
            b"\r\n\r\n",
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..5000 {
            let len = rng.usize(0..24);
            let body: Vec<u8> = (0..len)
                .flat_map(|_| alphabet[rng.usize(..alphabet.len())].to_vec())
                .collect();
            assert_eq!(
                hex(body_hash(&body)),
                hex(digest::digest(&SHA256, &relaxed_body_reference(&body))),
                "body {:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn lone_cr_and_lf_stay_in_their_line() {
        assert_eq!(
            hex(body_hash(b"a\nb  c\r\nd\re \r\n")),
            hex(digest::digest(&SHA256, b"a\nb c\r\nd\re\r\n"))
        );
        assert_eq!(crlf(b"\n\r\n"), Some(1));
        assert_eq!(crlf(b"\r\r\n"), Some(1));
        assert_eq!(crlf(b"\n\r"), None);
    }

    #[test]
    fn relaxed_header_example() {
        // RFC 6376 §3.4.6, example 2 (relaxed header).
        let header = b"A: X\r\nB : Y\t\r\n\tZ  \r\n";
        let mut out = Vec::new();
        for field in fields(header) {
            relaxed_header(&mut out, field.name, field.value);
            out.extend_from_slice(b"\r\n");
        }
        assert_eq!(out, b"a:X\r\nb:Y Z\r\n");
    }

    #[test]
    fn folder_keeps_lines_short() {
        let mut f = Folder::new("DKIM-Signature:");
        for _ in 0..20 {
            f.push(" ", "abcdefghij;");
        }
        assert!(f.text.split("\r\n").all(|l| l.len() <= LINE));
        assert!(f.text.split("\r\n").skip(1).all(|l| l.starts_with(' ')));
    }

    #[test]
    fn garbage_key_is_refused_without_echo() {
        let secret = "hunter2-not-a-key";
        let Err(why) = parse_key(secret, DkimAlgorithm::RsaSha256) else {
            panic!("garbage parsed as a key");
        };
        assert!(!why.contains(secret), "{why}");
        assert!(why.contains("BEGIN PRIVATE KEY"), "{why}");
    }
}
