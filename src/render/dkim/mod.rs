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

/// Signs messages for one campaign with a key parsed once.
pub struct Signer {
    domain: String,
    selector: String,
    key: Signing,
    rng: SystemRandom,
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
        let key = key::parse(&settings.key_pem, settings.algorithm).map_err(|why| {
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
            key: key.signing,
            rng: SystemRandom::new(),
        })
    }

    /// The algorithm of the key.
    pub fn algorithm(&self) -> DkimAlgorithm {
        match self.key {
            Signing::Rsa(_) => DkimAlgorithm::RsaSha256,
            Signing::Ed25519(_) => DkimAlgorithm::Ed25519Sha256,
        }
    }

    /// Signs a formatted message (RFC 5322, CRLF line ends): returns it with a `DKIM-Signature`
    /// field in front, timestamped now.
    pub fn sign(&self, message: Vec<u8>) -> std::result::Result<Vec<u8>, RenderError> {
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
    ) -> std::result::Result<Vec<u8>, RenderError> {
        let failed = |why: &str| RenderError::new(Step::Signing, format!("DKIM: {why}"));
        let Some(end) = memchr::memmem::find(&message, b"\r\n\r\n") else {
            return Err(failed("the message has no blank line after its header"));
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
            return Err(failed("the message has no From field to sign"));
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
            Signing::Rsa(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(&RSA_PKCS1_SHA256, &self.rng, &data, &mut signature)
                    .map_err(|_| failed("RSA signing failed"))?;
                signature
            }
            Signing::Ed25519(key) => key
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
