//! The DKIM check: for each key of `[dkim]`/`[[dkim]]`, the TXT record at
//! `<selector>._domainkey.<domain>` must hold the public half of that private key, derived by the same parser the signer uses
//! ([`crate::render::dkim::key`]): RSA as a SubjectPublicKeyInfo or PKCS#1 key, Ed25519 as the raw
//! 32-byte key (RFC 8463). A missing record, a revoked key (empty `p=`), another key, or a key of
//! the wrong type is an **error**: every signature made with this key would fail verification,
//! which is worse than not signing (DMARC fails, and with `p=reject` the mail bounces). More than
//! one key record is a warning.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use super::{Dns, lookup_failed, tag, tags, zone_record};
use crate::campaign::DkimSettings;
use crate::check::Problem;
use crate::render::dkim::key::{self, PublicKey};

/// Checks the record of each key's selector, one after the other (a campaign has one or two).
pub(super) async fn check(dns: &Dns, keys: &[DkimSettings]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for settings in keys {
        problems.extend(check_key(dns, settings).await);
    }
    problems
}

/// The DKIM domain DMARC's strict-alignment check looks at: the one equal to the From domain if a
/// key has it (that signature aligns), else the first.
pub(super) fn dmarc_domain<'k>(keys: &'k [DkimSettings], from: &str) -> Option<&'k str> {
    let domain = |k: &'k DkimSettings| k.domain.as_str();
    keys.iter()
        .map(domain)
        .find(|d| d.trim_end_matches('.').eq_ignore_ascii_case(from))
        .or_else(|| keys.first().map(domain))
}

async fn check_key(dns: &Dns, settings: &DkimSettings) -> Vec<Problem> {
    let key = match key::parse(&settings.key_pem, settings.algorithm) {
        Ok(key) => key.public,
        Err(e) => {
            return vec![
                Problem::error(format!(
                    "the [dkim] private key from {}: {e}",
                    settings.key_source
                ))
                .fix(
                    "make one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` \
                     (or `-algorithm ed25519` with algorithm = \"ed25519-sha256\")",
                ),
            ];
        }
    };
    let name = format!("{}._domainkey.{}", settings.selector, settings.domain);
    match dns.txt(&name).await {
        Ok(records) => dkim_problems(&name, &key, &records),
        Err(e) => vec![lookup_failed("DKIM", e)],
    }
}

/// What the TXT records at the selector's name say about the configured key.
pub fn dkim_problems(name: &str, key: &PublicKey, records: &[String]) -> Vec<Problem> {
    let publish = zone_record(name, &record_value(key));
    let mut problems = Vec::new();
    let keys: Vec<Vec<(String, String)>> = records
        .iter()
        .map(|r| tags(r))
        .filter(|t| tag(t, "p").is_some())
        .collect();
    if keys.is_empty() {
        problems.push(
            Problem::error(format!("no DKIM key record at {name}"))
                .why(
                    "receivers cannot verify the signature: DKIM fails, and so does DMARC unless \
                     SPF passes aligned",
                )
                .fix(format!("publish {publish}")),
        );
        return problems;
    }
    if keys.len() > 1 {
        problems.push(
            Problem::warning(format!(
                "{} DKIM key records at {name}; receivers may use any one of them",
                keys.len()
            ))
            .fix(format!("keep only {publish}")),
        );
    }
    let verdicts: Vec<Result<(), String>> = keys.iter().map(|t| judge_dkim(t, key)).collect();
    if verdicts.iter().any(Result::is_ok) {
        problems.push(Problem::note(format!(
            "DKIM at {name}: the published key matches the configured private key"
        )));
    } else {
        let reason = verdicts
            .into_iter()
            .find_map(Result::err)
            .unwrap_or_default();
        problems.push(
            Problem::error(format!("the DKIM record at {name} {reason}"))
                .why(
                    "every message signed with the configured key fails DKIM verification, which \
                     fails DMARC and, with p=quarantine or p=reject, sends the mail to spam or \
                     bounces it",
                )
                .fix(format!(
                    "publish {publish} (or configure the private key that belongs to the \
                     published record)"
                )),
        );
    }
    problems
}

/// Whether one key record holds `key`; the error completes "the DKIM record at NAME …".
fn judge_dkim(tags: &[(String, String)], key: &PublicKey) -> Result<(), String> {
    if let Some(v) = tag(tags, "v")
        && v != "DKIM1"
    {
        return Err(format!("has v={v}, not v=DKIM1"));
    }
    let kind = tag(tags, "k").unwrap_or("rsa").to_ascii_lowercase();
    if kind != key.kind() {
        return Err(format!(
            "is for k={kind} keys, but the configured key is {}",
            key.kind()
        ));
    }
    let p: String = tag(tags, "p")
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if p.is_empty() {
        return Err("has an empty p=: the key is revoked".into());
    }
    let bytes = BASE64
        .decode(&p)
        .map_err(|e| format!("has a p= that is not valid base64: {e}"))?;
    if key.matches(&bytes) {
        return Ok(());
    }
    if let PublicKey::Ed25519(raw) = key
        && bytes.len() == 44
        && bytes.ends_with(raw)
    {
        return Err(
            "holds the key as a SubjectPublicKeyInfo; Ed25519 DKIM keys are published as the raw \
             32-byte key (RFC 8463)"
                .into(),
        );
    }
    Err("holds another public key than the one of the configured private key".into())
}

/// The whole TXT record value to publish.
fn record_value(key: &PublicKey) -> String {
    format!(
        "v=DKIM1; k={}; p={}",
        key.kind(),
        BASE64.encode(key.p_bytes())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dkim_tags() {
        let t = tags("v=DKIM1; k=rsa; p=AB CD\t==;");
        assert_eq!(tag(&t, "v"), Some("DKIM1"));
        assert_eq!(tag(&t, "k"), Some("rsa"));
        assert_eq!(tag(&t, "p"), Some("AB CD\t=="));
    }

    #[test]
    fn ed25519_records() {
        let key = PublicKey::Ed25519([7; 32]);
        let good = format!("v=DKIM1; k=ed25519; p={}", BASE64.encode([7u8; 32]));
        assert!(judge_dkim(&tags(&good), &key).is_ok());
        let rsa = format!("v=DKIM1; p={}", BASE64.encode([7u8; 32]));
        assert!(judge_dkim(&tags(&rsa), &key).unwrap_err().contains("k=rsa"));
        let mut spki = vec![0u8; 12];
        spki.extend([7u8; 32]);
        let wrapped = format!("k=ed25519; p={}", BASE64.encode(&spki));
        assert!(
            judge_dkim(&tags(&wrapped), &key)
                .unwrap_err()
                .contains("RFC 8463")
        );
        let revoked = "k=ed25519; p=";
        assert!(
            judge_dkim(&tags(revoked), &key)
                .unwrap_err()
                .contains("revoked")
        );
    }
}
