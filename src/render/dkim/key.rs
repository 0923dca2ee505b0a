//! The DKIM private key, read once: ring's key pair for signing ([`super::Signer`]) and the public
//! half for the DNS record (`campaign check --dns`), both from the same parse, so what check
//! compares with DNS is exactly the key that signs.
//!
//! Accepted: unencrypted PEM, PKCS#8 (`BEGIN PRIVATE KEY`, as `openssl genpkey` writes for RSA and
//! Ed25519) or, for RSA, PKCS#1 (`BEGIN RSA PRIVATE KEY`). The key's type and, for RSA, its size
//! are read from the DER here (a few fixed fields), before ring sees it, so a refusal says exactly
//! what the key is ("a 1024-bit RSA key") instead of repeating ring's one-word reasons. RSA keys
//! must be 2048 to 4096 bits: ring signs with nothing else, and RFC 8301 recommends 2048.

use ring::signature::{Ed25519KeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;

use crate::campaign::DkimAlgorithm;
use crate::der::{BIT_STRING, Der, INTEGER, NULL, OCTET_STRING, OID, SEQUENCE, tlv};

/// What signs: one of ring's key pairs.
pub enum Signing {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// The public half of the key, as DKIM publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// Modulus and public exponent, big-endian, without leading zero bytes.
    Rsa { modulus: Vec<u8>, exponent: Vec<u8> },
    /// The raw 32-byte key (RFC 8463).
    Ed25519([u8; 32]),
}

/// A parsed DKIM private key.
pub struct Key {
    pub signing: Signing,
    pub public: PublicKey,
}

/// Why a key cannot be used; `Display` says so in a sentence (never showing key material) and
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    Encrypted,
    NotPem,
    /// An EC (ECDSA) key, or a PKCS#8 key of another type.
    Unsupported(&'static str),
    /// A key of the other algorithm than configured: (what it is, the algorithm to set).
    WrongAlgorithm(&'static str, &'static str),
    RsaSize(usize),
    /// The DER does not hold what its type says; the text is ring's or ours, never key bytes.
    Malformed(String),
}

const GENERATE: &str = "generate one with `openssl genpkey -algorithm RSA -pkeyopt \
     rsa_keygen_bits:2048 -out news.pem` (or `-algorithm ED25519` for ed25519-sha256) and publish \
     its public key in DNS";

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Encrypted => write!(
                f,
                "the key is encrypted with a passphrase, which campaign cannot ask for: write an \
                 unencrypted copy with `openssl pkey -in KEY.pem -out PLAIN.pem` and keep it private"
            ),
            KeyError::NotPem => write!(
                f,
                "it is not a PEM private key: expected \"-----BEGIN PRIVATE KEY-----\" (PKCS#8) \
                 or, for RSA, \"-----BEGIN RSA PRIVATE KEY-----\" (PKCS#1); {GENERATE}"
            ),
            KeyError::Unsupported(what) => write!(
                f,
                "it is {what}, which DKIM cannot sign with: use an RSA or Ed25519 key; {GENERATE}"
            ),
            KeyError::WrongAlgorithm(have, set) => write!(
                f,
                "it is {have}, not the configured algorithm's: set [dkim] algorithm = \"{set}\", \
                 or give a key of the configured algorithm"
            ),
            KeyError::RsaSize(bits) => write!(
                f,
                "it is a {bits}-bit RSA key; campaign signs with 2048 to 4096 bits (RFC 8301 \
                 recommends 2048; receivers ignore keys under 1024): {GENERATE}"
            ),
            KeyError::Malformed(why) => write!(f, "the key is malformed ({why}); {GENERATE}"),
        }
    }
}

/// Parses a PEM private key for `algorithm`.
pub fn parse(pem: &str, algorithm: DkimAlgorithm) -> Result<Key, KeyError> {
    if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || pem.contains("Proc-Type: 4,ENCRYPTED")
    {
        return Err(KeyError::Encrypted);
    }
    let der = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| KeyError::NotPem)?;
    let (kind, pkcs8, inner) = match &der {
        PrivateKeyDer::Pkcs1(der) => (Kind::Rsa, None, der.secret_pkcs1_der()),
        PrivateKeyDer::Pkcs8(der) => {
            let (kind, inner) = pkcs8_contents(der.secret_pkcs8_der())?;
            (kind, Some(der.secret_pkcs8_der()), inner)
        }
        _ => return Err(KeyError::Unsupported("an EC (ECDSA) key")),
    };
    match (kind, algorithm) {
        (Kind::Rsa, DkimAlgorithm::Ed25519Sha256) => {
            Err(KeyError::WrongAlgorithm("an RSA key", "rsa-sha256"))
        }
        (Kind::Ed25519, DkimAlgorithm::RsaSha256) => {
            Err(KeyError::WrongAlgorithm("an Ed25519 key", "ed25519-sha256"))
        }
        (Kind::Rsa, DkimAlgorithm::RsaSha256) => rsa(pkcs8, inner),
        (Kind::Ed25519, DkimAlgorithm::Ed25519Sha256) => {
            let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8.unwrap_or_default())
                .map_err(|e| KeyError::Malformed(e.to_string()))?;
            let raw: [u8; 32] = pair
                .public_key()
                .as_ref()
                .try_into()
                .map_err(|_| KeyError::Malformed("public key is not 32 bytes".into()))?;
            Ok(Key {
                signing: Signing::Ed25519(pair),
                public: PublicKey::Ed25519(raw),
            })
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Rsa,
    Ed25519,
}

const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// The key type named by a PKCS#8 structure, and its inner private key.
fn pkcs8_contents(der: &[u8]) -> Result<(Kind, &[u8]), KeyError> {
    let malformed = || KeyError::Malformed("not a PKCS#8 structure".into());
    let mut info = Der(Der(der).take(SEQUENCE).ok_or_else(malformed)?);
    info.take(INTEGER).ok_or_else(malformed)?;
    let mut algorithm = Der(info.take(SEQUENCE).ok_or_else(malformed)?);
    let oid = algorithm.take(OID).ok_or_else(malformed)?;
    let inner = info.take(OCTET_STRING).ok_or_else(malformed)?;
    match oid {
        RSA_ENCRYPTION => Ok((Kind::Rsa, inner)),
        ED25519 => Ok((Kind::Ed25519, inner)),
        _ => Err(KeyError::Unsupported("neither an RSA nor an Ed25519 key")),
    }
}

/// An RSA key from its PKCS#1 `RSAPrivateKey` (inside PKCS#8 when `pkcs8` is set).
fn rsa(pkcs8: Option<&[u8]>, pkcs1: &[u8]) -> Result<Key, KeyError> {
    let malformed = || KeyError::Malformed("not an RSA private key structure".into());
    let mut fields = Der(Der(pkcs1).take(SEQUENCE).ok_or_else(malformed)?);
    fields.take(INTEGER).ok_or_else(malformed)?;
    let modulus = unsigned(fields.take(INTEGER).ok_or_else(malformed)?);
    let exponent = unsigned(fields.take(INTEGER).ok_or_else(malformed)?);
    let bits = bit_length(modulus);
    if !(2048..=4096).contains(&bits) {
        return Err(KeyError::RsaSize(bits));
    }
    let pair = match pkcs8 {
        Some(der) => RsaKeyPair::from_pkcs8(der),
        None => RsaKeyPair::from_der(pkcs1),
    }
    .map_err(|e| KeyError::Malformed(e.to_string()))?;
    Ok(Key {
        signing: Signing::Rsa(pair),
        public: PublicKey::Rsa {
            modulus: modulus.to_vec(),
            exponent: exponent.to_vec(),
        },
    })
}

impl PublicKey {
    /// The `k=` tag value.
    pub fn kind(&self) -> &'static str {
        match self {
            PublicKey::Rsa { .. } => "rsa",
            PublicKey::Ed25519(_) => "ed25519",
        }
    }

    /// The `p=` bytes: the SubjectPublicKeyInfo (RSA, as openssl writes it) or the raw key.
    pub fn p_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Rsa { modulus, exponent } => {
                let pkcs1 = tlv(
                    SEQUENCE,
                    &[
                        tlv(INTEGER, &signed(modulus)),
                        tlv(INTEGER, &signed(exponent)),
                    ]
                    .concat(),
                );
                let algorithm = tlv(
                    SEQUENCE,
                    &[tlv(OID, RSA_ENCRYPTION), tlv(NULL, &[])].concat(),
                );
                let bits = tlv(BIT_STRING, &[&[0u8][..], &pkcs1].concat());
                tlv(SEQUENCE, &[algorithm, bits].concat())
            }
            PublicKey::Ed25519(raw) => raw.to_vec(),
        }
    }

    /// Whether the `p=` bytes of a record hold this key (RSA: as a SubjectPublicKeyInfo or a bare
    /// PKCS#1 `RSAPublicKey`).
    pub fn matches(&self, p: &[u8]) -> bool {
        match self {
            PublicKey::Rsa { modulus, exponent } => {
                rsa_public(p).is_some_and(|(n, e)| n == modulus.as_slice() && e == exponent)
            }
            PublicKey::Ed25519(raw) => p == raw,
        }
    }

    /// The modulus size of an RSA key.
    pub fn rsa_bits(&self) -> Option<usize> {
        match self {
            PublicKey::Rsa { modulus, .. } => Some(bit_length(modulus)),
            PublicKey::Ed25519(_) => None,
        }
    }
}

/// Modulus and exponent of a published RSA key.
fn rsa_public(p: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut outer = Der(Der(p).take(SEQUENCE)?);
    let pkcs1 = if outer.peek() == Some(SEQUENCE) {
        let mut algorithm = Der(outer.take(SEQUENCE)?);
        if algorithm.take(OID)? != RSA_ENCRYPTION {
            return None;
        }
        let bits = outer.take(BIT_STRING)?;
        Der(bits.strip_prefix(&[0])?).take(SEQUENCE)?
    } else {
        outer.0
    };
    let mut fields = Der(pkcs1);
    let n = unsigned(fields.take(INTEGER)?);
    let e = unsigned(fields.take(INTEGER)?);
    Some((n, e))
}

/// An INTEGER's contents as an unsigned number without leading zeros.
fn unsigned(int: &[u8]) -> &[u8] {
    let zeros = int.iter().take_while(|&&b| b == 0).count();
    &int[zeros..]
}

/// An unsigned number as INTEGER contents (a zero byte in front when the top bit is set).
fn signed(number: &[u8]) -> Vec<u8> {
    match number.first() {
        None => vec![0],
        Some(&b) if b >= 0x80 => [&[0u8][..], number].concat(),
        Some(_) => number.to_vec(),
    }
}

fn bit_length(number: &[u8]) -> usize {
    let number = unsigned(number);
    number
        .first()
        .map_or(0, |&b| number.len() * 8 - b.leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_refused_without_echo() {
        let secret = "hunter2-not-a-key";
        let Err(why) = parse(secret, DkimAlgorithm::RsaSha256) else {
            panic!("garbage parsed as a key");
        };
        let text = why.to_string();
        assert!(!text.contains(secret), "{text}");
        assert!(text.contains("BEGIN PRIVATE KEY"), "{text}");
    }

    #[test]
    fn rsa_public_keys_round_trip_through_p() {
        let key = PublicKey::Rsa {
            modulus: vec![0xc5; 256],
            exponent: vec![1, 0, 1],
        };
        let p = key.p_bytes();
        assert!(key.matches(&p));
        assert_eq!(key.rsa_bits(), Some(2048));
        // The bare PKCS#1 form inside the BIT STRING matches too.
        let pkcs1 = &p[p.len() - 270..];
        assert_eq!(pkcs1[0], SEQUENCE);
        assert!(key.matches(pkcs1));
        let other = PublicKey::Rsa {
            modulus: vec![0xc6; 256],
            exponent: vec![1, 0, 1],
        };
        assert!(!other.matches(&p));
    }
}
