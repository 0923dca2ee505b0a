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
//! `[[dkim]]` may hold several keys (an RSA and an Ed25519 one, RFC 8463 §4): each adds its own
//! signature over the same fields and body hash, computed once.
//!
//! Each key is parsed once per campaign ([`Signer::new`]): unencrypted PEM, PKCS#8 (`BEGIN PRIVATE
//! KEY`, as `openssl genpkey` writes for RSA and Ed25519) or, for RSA, PKCS#1 (`BEGIN RSA PRIVATE
//! KEY`). Cryptography is `ring`'s (already linked for TLS): RSA keys must be 2048 to 4096 bits.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::digest::{self, SHA256};
use ring::rand::SystemRandom;
use ring::signature::RSA_PKCS1_SHA256;

mod canon;
pub mod key;

use canon::{body_hash, fields, relaxed_header};
use key::Signing;

use super::error::{RenderError, Step};
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

/// Signs messages for one campaign with its keys, each parsed once: one `DKIM-Signature` per key.
pub struct Signer {
    /// RSA keys first, then Ed25519, each group in campaign.toml's order (see [`Signer::new`]).
    keys: Vec<Key>,
    rng: SystemRandom,
}

/// One key of `[dkim]`/`[[dkim]]`.
struct Key {
    domain: String,
    selector: String,
    signing: Signing,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<(&str, &str, &str)> = self
            .keys
            .iter()
            .map(|k| {
                let algorithm = algorithm_name(k.algorithm());
                (k.domain.as_str(), k.selector.as_str(), algorithm)
            })
            .collect();
        f.debug_struct("Signer")
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl Key {
    fn algorithm(&self) -> DkimAlgorithm {
        match self.signing {
            Signing::Rsa(_) => DkimAlgorithm::RsaSha256,
            Signing::Ed25519(_) => DkimAlgorithm::Ed25519Sha256,
        }
    }
}

impl Signer {
    /// Parses the keys of `[dkim]`/`[[dkim]]`; `None` when there are none. A key that cannot be
    /// used is an invalid campaign; the message names where the key came from (never its text)
    /// and what to do.
    ///
    /// The signatures are put in front of the message RSA first: RFC 8463 §4 sets no order and a
    /// verifier may take any signature that passes, but one that looks only at the first (or
    /// reports only on it) then finds the algorithm every receiver supports.
    pub fn new(toml: &Path, keys: &[DkimSettings]) -> Result<Option<Signer>> {
        let mut parsed = keys
            .iter()
            .map(|settings| Key::new(toml, settings))
            .collect::<Result<Vec<Key>>>()?;
        if parsed.is_empty() {
            return Ok(None);
        }
        parsed.sort_by_key(|k| k.algorithm() != DkimAlgorithm::RsaSha256);
        Ok(Some(Signer {
            keys: parsed,
            rng: SystemRandom::new(),
        }))
    }

    /// The algorithms of the keys, in the order their signatures are written.
    pub fn algorithms(&self) -> Vec<DkimAlgorithm> {
        self.keys.iter().map(Key::algorithm).collect()
    }

    /// Signs a formatted message (RFC 5322, CRLF line ends): returns it with one `DKIM-Signature`
    /// field per key in front, timestamped now.
    pub fn sign(&self, message: Vec<u8>) -> std::result::Result<Vec<u8>, RenderError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.sign_at(message, now)
    }

    /// [`Signer::sign`] with `t=` set to `timestamp` (seconds since the Unix epoch).
    ///
    /// The body hash and the canonicalized header fields are computed once and shared by every
    /// key. Each signature covers the message's fields as lettre wrote them and never another
    /// `DKIM-Signature` (`h=` does not list it), so the signatures do not depend on each other
    /// and their order does not matter to a verifier.
    pub fn sign_at(
        &self,
        message: Vec<u8>,
        timestamp: u64,
    ) -> std::result::Result<Vec<u8>, RenderError> {
        let Some(end) = memchr::memmem::find(&message, b"\r\n\r\n") else {
            return Err(failed("the message has no blank line after its header"));
        };
        // The header block keeps the CRLF of its last field; the body starts after the blank line.
        let (header, body) = (&message[..end + 2], &message[end + 4..]);
        let body_hash = BASE64.encode(body_hash(body));
        let (names, data) = signed_fields(header)?;
        let tags = Tags {
            timestamp,
            names: &names,
            body_hash: &body_hash,
        };
        let fields = self
            .keys
            .iter()
            .map(|key| self.signature(key, &tags, data.clone()))
            .collect::<std::result::Result<Vec<String>, RenderError>>()?;
        let size = fields.iter().map(String::len).sum::<usize>() + message.len();
        let mut signed = Vec::with_capacity(size);
        for field in &fields {
            signed.extend_from_slice(field.as_bytes());
        }
        signed.extend_from_slice(&message);
        Ok(signed)
    }

    /// One key's `DKIM-Signature` field (with its CRLF), over `data`: the canonicalized signed
    /// fields, to which the field itself is added with an empty `b=` (§3.7).
    fn signature(
        &self,
        key: &Key,
        tags: &Tags,
        mut data: Vec<u8>,
    ) -> std::result::Result<String, RenderError> {
        let mut field = Folder::new("DKIM-Signature:");
        for tag in [
            "v=1;".to_string(),
            format!("a={};", algorithm_name(key.algorithm())),
            "c=relaxed/relaxed;".to_string(),
            format!("d={};", key.domain),
            format!("s={};", key.selector),
            format!("t={};", tags.timestamp),
        ] {
            field.push(" ", &tag);
        }
        for (i, name) in tags.names.iter().enumerate() {
            match (i, i + 1 == tags.names.len()) {
                (0, last) => field.push(" ", &format!("h={name}{}", if last { ";" } else { ":" })),
                (_, false) => field.push("", &format!("{name}:")),
                (_, true) => field.push("", &format!("{name};")),
            }
        }
        field.push(" ", &format!("bh={};", tags.body_hash));
        field.push(" ", "b=");
        // The field itself is hashed with an empty b= and without its final CRLF (§3.7).
        let value = &field.text.as_bytes()["DKIM-Signature:".len()..];
        relaxed_header(&mut data, b"DKIM-Signature", value);

        let signature = match &key.signing {
            Signing::Rsa(rsa) => {
                let mut signature = vec![0; rsa.public().modulus_len()];
                rsa.sign(&RSA_PKCS1_SHA256, &self.rng, &data, &mut signature)
                    .map_err(|_| failed("RSA signing failed"))?;
                signature
            }
            Signing::Ed25519(ed) => ed
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
        Ok(field.text)
    }
}

impl Key {
    /// Checks the names of one `[dkim]` table and parses its key.
    fn new(toml: &Path, settings: &DkimSettings) -> Result<Key> {
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
        let key = key::parse(&settings.key_pem, settings.algorithm).map_err(|why| {
            invalid!(
                "{}: cannot use this DKIM private key with [dkim] algorithm = \"{}\" in {}: {why}",
                settings.key_source,
                algorithm_name(settings.algorithm),
                toml.display()
            )
        })?;
        Ok(Key {
            domain: settings.domain.clone(),
            selector: settings.selector.clone(),
            signing: key.signing,
        })
    }
}

/// What every key's signature shares: the time, the signed field names and the body hash.
struct Tags<'a> {
    timestamp: u64,
    names: &'a [&'static str],
    body_hash: &'a str,
}

fn failed(why: &str) -> RenderError {
    RenderError::new(Step::Signing, format!("DKIM: {why}"))
}

/// The names of the [`SIGNED_HEADERS`] present, as `h=` lists them (a name n times for n
/// fields), and those fields canonicalized (relaxed), in that order.
fn signed_fields(header: &[u8]) -> std::result::Result<(Vec<&'static str>, Vec<u8>), RenderError> {
    let fields = fields(header);
    let mut names: Vec<&'static str> = Vec::new();
    let mut data = Vec::with_capacity(header.len() + 1024);
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
        return Err(failed("the message has no From field to sign"));
    }
    Ok((names, data))
}

/// The `a=` / config spelling of an algorithm.
fn algorithm_name(algorithm: DkimAlgorithm) -> &'static str {
    match algorithm {
        DkimAlgorithm::RsaSha256 => "rsa-sha256",
        DkimAlgorithm::Ed25519Sha256 => "ed25519-sha256",
    }
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

    #[test]
    fn folder_keeps_lines_short() {
        let mut f = Folder::new("DKIM-Signature:");
        for _ in 0..20 {
            f.push(" ", "abcdefghij;");
        }
        assert!(f.text.split("\r\n").all(|l| l.len() <= LINE));
        assert!(f.text.split("\r\n").skip(1).all(|l| l.starts_with(' ')));
    }
}
