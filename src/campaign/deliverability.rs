//! Validated `[dkim]` and `[unsubscribe]` settings: what Gmail and Yahoo require of bulk senders
//! since 2024 (DKIM aligned with From, one-click unsubscribe). `[dkim]` is one key, `[[dkim]]`
//! several (an RSA and an Ed25519 one: RFC 8463 §4 asks for both, since many receivers verify only
//! RSA). Each private key is read here, once: from the campaign directory, or from the environment
//! (or `.env`, read by [`env_or_dotenv`], which the SMTP password uses too) — `CAMPAIGN_DKIM_KEY`
//! for a single key, `CAMPAIGN_DKIM_KEY_<SELECTOR>` for each of several — and never printed.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::invalid;

use super::config::{DkimSection, UnsubscribeSection};
use super::paths;

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
    /// The key's file, when it was read from one (not from the environment).
    pub key_file: Option<PathBuf>,
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

/// `[dkim]` or `[[dkim]]` as serde reads it: one table (the first spelling, one key) or an array
/// of tables (several keys, one signature each, RFC 8463 §4). Read through serde's own map and
/// sequence deserializers, so a typo inside a table is still an error naming the key and its line
/// (an untagged enum would only say that no variant matched).
#[derive(Debug)]
pub struct DkimTables(pub Vec<DkimSection>);

impl<'de> serde::Deserialize<'de> for DkimTables {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
        struct Tables;
        impl<'de> serde::de::Visitor<'de> for Tables {
            type Value = Vec<DkimSection>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a [dkim] table or [[dkim]] tables")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                serde::Deserialize::deserialize(MapAccessDeserializer::new(map)).map(|t| vec![t])
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                serde::Deserialize::deserialize(SeqAccessDeserializer::new(seq))
            }
        }
        d.deserialize_any(Tables).map(DkimTables)
    }
}

/// The variable holding the key of `selector` when `[[dkim]]` has several keys:
/// `CAMPAIGN_DKIM_KEY_<SELECTOR>`, upper case, every character but a letter or digit as `_`.
pub fn dkim_key_var(selector: &str) -> String {
    let name: String = selector
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' => c.to_ascii_uppercase(),
            _ => '_',
        })
        .collect();
    format!("{DKIM_KEY_VAR}_{name}")
}

/// Validates every `[dkim]`/`[[dkim]]` table and reads its key: from `private_key`, else from
/// [`DKIM_KEY_VAR`] for a single key, or [`dkim_key_var`] of its selector for several. Every
/// table's names are checked before any key is read.
pub(super) fn dkim(dir: &Path, tables: DkimTables) -> Result<Vec<DkimSettings>> {
    let toml = dir.join("campaign.toml");
    if tables.0.is_empty() {
        return Err(invalid!(
            "{}: dkim = [] holds no key: remove it, or write a [[dkim]] table per key",
            toml.display()
        ));
    }
    let names = dkim_tables(&toml, &tables.0)?;
    let several = tables.0.len() > 1;
    let mut keys: Vec<DkimSettings> = Vec::new();
    let mut unset: Vec<String> = Vec::new();
    for (section, (domain, selector, algorithm)) in tables.0.into_iter().zip(names) {
        let (key_pem, key_source, key_file) = match &section.private_key {
            Some(name) => {
                let (pem, path) = read_key_file(dir, name)?;
                (pem, path.display().to_string(), Some(path))
            }
            None => {
                let var = match several {
                    true => dkim_key_var(&selector),
                    false => DKIM_KEY_VAR.to_string(),
                };
                match env_or_dotenv(dir, &var) {
                    // Environment values often carry the PEM's line breaks as "\n".
                    Some(pem) => (pem.replace("\\n", "\n"), var, None),
                    None => {
                        unset.push(var);
                        continue;
                    }
                }
            }
        };
        keys.push(DkimSettings {
            domain,
            selector,
            algorithm,
            key_pem,
            key_source,
            key_file,
        });
    }
    match unset.as_slice() {
        [] => Ok(keys),
        [var] if !several => Err(invalid!(
            "{}: [dkim] has no private_key and {var} is not set: set one of them",
            toml.display()
        )),
        vars => Err(invalid!(
            "{}: [[dkim]] has several keys, and {} not set for the keys without private_key: \
             set private_key in each table, or put each key in CAMPAIGN_DKIM_KEY_<SELECTOR> \
             ({DKIM_KEY_VAR} is read only when there is one key)",
            toml.display(),
            vars.join(", ")
        )),
    }
}

/// The names of every table, checked: no two keys for one selector, no two keys read from one
/// variable.
fn dkim_tables(
    toml: &Path,
    tables: &[DkimSection],
) -> Result<Vec<(String, String, DkimAlgorithm)>> {
    let mut names: Vec<(String, String, DkimAlgorithm)> = Vec::new();
    for section in tables {
        let (domain, selector, algorithm) = dkim_names(toml, section)?;
        if names.iter().any(|(d, s, _)| *s == selector && *d == domain) {
            return Err(invalid!(
                "{}: two [[dkim]] tables have selector {selector:?} for {domain}: one DNS record \
                 cannot hold both keys; give each key its own selector",
                toml.display()
            ));
        }
        // Only the keys taken from the environment read a variable (with one key, none is shared).
        let var = dkim_key_var(&selector);
        let twin = names.iter().zip(tables).find(|((_, other, _), table)| {
            table.private_key.is_none() && dkim_key_var(other) == var
        });
        if let Some(((_, twin, _), _)) = twin.filter(|_| section.private_key.is_none()) {
            return Err(invalid!(
                "{}: [[dkim]] selectors {twin:?} and {selector:?} would both read their key from \
                 {var}: set private_key for one of them",
                toml.display()
            ));
        }
        names.push((domain, selector, algorithm));
    }
    Ok(names)
}

/// The domain (lower case), selector and algorithm of one table, checked.
fn dkim_names(toml: &Path, section: &DkimSection) -> Result<(String, String, DkimAlgorithm)> {
    let algorithm = match section.algorithm.as_deref().unwrap_or("rsa-sha256") {
        "rsa-sha256" => DkimAlgorithm::RsaSha256,
        "ed25519-sha256" => DkimAlgorithm::Ed25519Sha256,
        other => {
            return Err(invalid!(
                "{}: [dkim] algorithm = {other:?} is not \"rsa-sha256\" or \"ed25519-sha256\"",
                toml.display()
            ));
        }
    };
    if section.domain.trim().is_empty() || section.selector.trim().is_empty() {
        return Err(invalid!(
            "{}: [dkim] domain and selector must not be empty",
            toml.display()
        ));
    }
    Ok((
        section.domain.trim().to_ascii_lowercase(),
        section.selector.trim().to_string(),
        algorithm,
    ))
}

/// Reads `[dkim] private_key`, a file inside the campaign directory: its text and path.
fn read_key_file(dir: &Path, name: &str) -> Result<(String, PathBuf)> {
    let path = paths::inside(dir, "[dkim] private_key", name)?;
    let pem = std::fs::read_to_string(&path).map_err(|e| {
        invalid!(
            "{}: [dkim] private_key: cannot read {}: {e}",
            dir.join("campaign.toml").display(),
            path.display()
        )
    })?;
    Ok((pem, path))
}

pub(super) fn unsubscribe(dir: &Path, section: UnsubscribeSection) -> Result<UnsubscribeSettings> {
    let toml = dir.join("campaign.toml");
    if section.url.is_none() && section.mailto.is_none() {
        return Err(invalid!(
            "{}: [unsubscribe] needs url, mailto or both",
            toml.display()
        ));
    }
    if let Some(mailto) = &section.mailto
        && mailto.parse::<lettre::Address>().is_err()
    {
        return Err(invalid!(
            "{}: [unsubscribe] mailto = {mailto:?} is not an email address",
            toml.display()
        ));
    }
    Ok(UnsubscribeSettings {
        url: section.url,
        mailto: section.mailto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_selector_has_its_variable() {
        assert_eq!(dkim_key_var("news-ed"), "CAMPAIGN_DKIM_KEY_NEWS_ED");
        assert_eq!(dkim_key_var("2026.rsa"), "CAMPAIGN_DKIM_KEY_2026_RSA");
        assert_eq!(
            dkim_key_var("a_b"),
            dkim_key_var("a-b"),
            "refused as a pair at load"
        );
    }

    #[test]
    fn one_table_or_an_array_of_tables() {
        #[derive(serde::Deserialize)]
        struct File {
            dkim: DkimTables,
        }
        let one: File = toml::from_str("[dkim]\ndomain = \"a.example\"\nselector = \"s\"").unwrap();
        assert_eq!(one.dkim.0.len(), 1);
        let two: File = toml::from_str(
            "[[dkim]]\ndomain = \"a.example\"\nselector = \"r\"\n\
             [[dkim]]\ndomain = \"a.example\"\nselector = \"e\"\nalgorithm = \"ed25519-sha256\"",
        )
        .unwrap();
        assert_eq!(two.dkim.0[1].selector, "e");
        let typo = toml::from_str::<File>("[[dkim]]\ndomain = \"a.example\"\nselectr = \"r\"");
        let message = typo.err().unwrap().to_string();
        assert!(
            message.contains("selectr") && message.contains("line 3"),
            "{message}"
        );
    }
}
