//! Validated `[dkim]` and `[unsubscribe]` settings: what Gmail and Yahoo require of bulk senders
//! since 2024 (DKIM aligned with From, one-click unsubscribe). The DKIM private key is read here,
//! once: from the campaign directory or from the `CAMPAIGN_DKIM_KEY` environment variable (or
//! `.env`, read by [`env_or_dotenv`], which the SMTP password uses too), and never printed.

use std::path::{Path, PathBuf};

use super::config::{DkimSection, UnsubscribeSection};
use super::paths;
use super::problems::Problems;

/// The environment variable that may hold the DKIM private key (PEM text).
pub const DKIM_KEY_VAR: &str = "CAMPAIGN_DKIM_KEY";

/// The DKIM signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimAlgorithm {
    RsaSha256,
    Ed25519Sha256,
}

/// `[dkim]` after validation, with the key's PEM text loaded.
#[derive(Clone)]
pub struct DkimSettings {
    pub domain: String,
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// The private key, PEM (PKCS#8, or PKCS#1 for RSA). Never shown.
    pub key_pem: String,
    /// Where the key came from, for messages: a path or the variable's name.
    pub key_source: String,
}

impl std::fmt::Debug for DkimSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSettings")
            .field("domain", &self.domain)
            .field("selector", &self.selector)
            .field("algorithm", &self.algorithm)
            .field("key_source", &self.key_source)
            .finish_non_exhaustive()
    }
}

/// `[unsubscribe]` after validation.
#[derive(Debug, Clone)]
pub struct UnsubscribeSettings {
    /// A Tera template for the https URL.
    pub url: Option<String>,
    pub mailto: Option<String>,
}

/// Looks a variable up in the environment, then in `.env` of the campaign directory and of the
/// working directory (the environment wins).
pub fn env_or_dotenv(dir: &Path, key: &str) -> Option<String> {
    if let Ok(value) = std::env::var(key) {
        return Some(value);
    }
    // Only regular files: a FIFO would block the read forever.
    [dir.join(".env"), PathBuf::from(".env")]
        .iter()
        .filter(|path| path.is_file())
        .filter_map(|path| dotenvy::from_path_iter(path).ok())
        .flat_map(|iter| iter.flatten())
        .find(|(k, _)| k == key)
        .map(|(_, value)| value)
}

/// `[dkim]` validated and its key read; each problem is noted in `problems` (and `None` returned).
pub(super) fn dkim(
    dir: &Path,
    section: DkimSection,
    problems: &mut Problems,
) -> Option<DkimSettings> {
    let before = problems.len();
    let algorithm = match section.algorithm.as_deref().unwrap_or("rsa-sha256") {
        "rsa-sha256" => DkimAlgorithm::RsaSha256,
        "ed25519-sha256" => DkimAlgorithm::Ed25519Sha256,
        other => {
            problems.add(
                "dkim.algorithm",
                format!("[dkim] algorithm = {other:?} is not \"rsa-sha256\" or \"ed25519-sha256\""),
            );
            DkimAlgorithm::RsaSha256
        }
    };
    for (key, value) in [("domain", &section.domain), ("selector", &section.selector)] {
        if value.trim().is_empty() && problems.line(&format!("dkim.{key}")).is_some() {
            problems.add(
                &format!("dkim.{key}"),
                format!("[dkim] {key} must not be empty"),
            );
        }
    }
    let key = match &section.private_key {
        Some(name) => paths::inside(dir, "[dkim] private_key", name)
            .and_then(|path| match std::fs::read_to_string(&path) {
                Ok(pem) => Ok((pem, path.display().to_string())),
                Err(e) => Err(format!(
                    "[dkim] private_key: cannot read {}: {e}",
                    path.display()
                )),
            })
            .map_err(|e| problems.add("dkim.private_key", e))
            .ok(),
        None => {
            match env_or_dotenv(dir, DKIM_KEY_VAR) {
                // Environment values often carry the PEM's line breaks as "\n".
                Some(pem) => Some((pem.replace("\\n", "\n"), DKIM_KEY_VAR.to_string())),
                None => {
                    problems.add(
                    "dkim",
                    format!("[dkim] has no private_key and {DKIM_KEY_VAR} is not set: set one of them"),
                );
                    None
                }
            }
        }
    };
    let (key_pem, key_source) = key.filter(|_| problems.len() == before)?;
    Some(DkimSettings {
        domain: section.domain.trim().to_ascii_lowercase(),
        selector: section.selector.trim().to_string(),
        algorithm,
        key_pem,
        key_source,
    })
}

/// `[unsubscribe]` validated; each problem is noted in `problems` (and `None` returned).
pub(super) fn unsubscribe(
    section: UnsubscribeSection,
    problems: &mut Problems,
) -> Option<UnsubscribeSettings> {
    if section.url.is_none() && section.mailto.is_none() {
        problems.add("unsubscribe", "[unsubscribe] needs url, mailto or both");
        return None;
    }
    if let Some(mailto) = &section.mailto
        && mailto.parse::<lettre::Address>().is_err()
    {
        problems.add(
            "unsubscribe.mailto",
            format!("[unsubscribe] mailto = {mailto:?} is not an email address"),
        );
        return None;
    }
    Some(UnsubscribeSettings {
        url: section.url,
        mailto: section.mailto,
    })
}
