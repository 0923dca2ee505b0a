//! Validated `[dkim]` and `[unsubscribe]` settings: what Gmail and Yahoo require of bulk senders
//! since 2024 (DKIM aligned with From, one-click unsubscribe). `[dkim]` is one key, `[[dkim]]`
//! several (an RSA and an Ed25519 one: RFC 8463 §4 asks for both, since many receivers verify only
//! RSA). Each private key is read here, once: from the campaign directory, or from the environment
//! (or `.env`, read by [`env_or_dotenv`], which the SMTP password uses too) — `CAMPAIGN_DKIM_KEY`
//! for a single key, `CAMPAIGN_DKIM_KEY_<SELECTOR>` for each of several — and never printed.

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
/// problem of every table is noted in `problems` (and no key returned).
pub(super) fn dkim(
    dir: &Path,
    tables: Vec<DkimSection>,
    problems: &mut Problems,
) -> Vec<DkimSettings> {
    let before = problems.len();
    let several = tables.len() > 1;
    let mut keys = Vec::new();
    let mut unset = Vec::new();
    for (i, section) in tables.iter().enumerate() {
        let algorithm = dkim_algorithm(section, problems);
        let named = dkim_names(section, &tables[..i], problems);
        let selector = section.selector.trim();
        let var = match several {
            true => dkim_key_var(selector),
            false => DKIM_KEY_VAR.to_string(),
        };
        let key = match &section.private_key {
            Some(name) => read_key_file(dir, name)
                .map_err(|e| problems.add(&format!("{}.private_key", section.place), e))
                .ok()
                .map(|(pem, path)| (pem, path.display().to_string(), Some(path))),
            // No variable to look for: the selector's problem is noted.
            None if !named => None,
            None => match env_or_dotenv(dir, &var) {
                // Environment values often carry the PEM's line breaks as "\n".
                Some(pem) => Some((pem.replace("\\n", "\n"), var, None)),
                None => {
                    unset.push(var);
                    None
                }
            },
        };
        if let (Some((key_pem, key_source, key_file)), Some(algorithm)) = (key, algorithm) {
            keys.push(DkimSettings {
                domain: section.domain.trim().to_ascii_lowercase(),
                selector: selector.to_string(),
                algorithm,
                key_pem,
                key_source,
                key_file,
            });
        }
    }
    note_unset(&tables, &unset, problems);
    if problems.len() > before {
        return Vec::new();
    }
    keys
}

/// The table's algorithm, or `None` with the problem noted.
fn dkim_algorithm(section: &DkimSection, problems: &mut Problems) -> Option<DkimAlgorithm> {
    match section.algorithm.as_deref().unwrap_or("rsa-sha256") {
        "rsa-sha256" => Some(DkimAlgorithm::RsaSha256),
        "ed25519-sha256" => Some(DkimAlgorithm::Ed25519Sha256),
        other => {
            problems.add(
                &format!("{}.algorithm", section.place),
                format!("[dkim] algorithm = {other:?} is not \"rsa-sha256\" or \"ed25519-sha256\""),
            );
            None
        }
    }
}

/// Checks the table's domain and selector, against the tables before it too: not empty, no two
/// keys for one selector, no two keys read from one variable. `false` (the problem noted) when
/// the selector cannot name the key's variable.
fn dkim_names(section: &DkimSection, before: &[DkimSection], problems: &mut Problems) -> bool {
    let mut named = true;
    for (key, value) in [("domain", &section.domain), ("selector", &section.selector)] {
        let place = format!("{}.{key}", section.place);
        // A missing key was noted when the file was read.
        if value.trim().is_empty() {
            if problems.line(&place).is_some() {
                problems.add(&place, format!("[dkim] {key} must not be empty"));
            }
            named = false;
        }
    }
    if !named {
        return false;
    }
    let (domain, selector) = (
        section.domain.trim().to_ascii_lowercase(),
        section.selector.trim(),
    );
    let place = format!("{}.selector", section.place);
    let same = |other: &DkimSection| {
        other.selector.trim() == selector && other.domain.trim().to_ascii_lowercase() == domain
    };
    if before.iter().any(same) {
        problems.add(
            &place,
            format!(
                "two [[dkim]] tables have selector {selector:?} for {domain}: one DNS record \
                 cannot hold both keys; give each key its own selector"
            ),
        );
        return false;
    }
    // Only the keys taken from the environment read a variable (with one key, none is shared).
    let var = dkim_key_var(selector);
    let twin = (before.iter())
        .filter(|other| other.private_key.is_none() && section.private_key.is_none())
        .find(|other| dkim_key_var(other.selector.trim()) == var);
    if let Some(twin) = twin {
        let twin = twin.selector.trim();
        problems.add(
            &place,
            format!(
                "[[dkim]] selectors {twin:?} and {selector:?} would both read their key from \
                 {var}: set private_key for one of them"
            ),
        );
        return false;
    }
    true
}

/// Notes the variables that were not set, all in one problem: `CAMPAIGN_DKIM_KEY` for one key,
/// each `CAMPAIGN_DKIM_KEY_<SELECTOR>` for several.
fn note_unset(tables: &[DkimSection], unset: &[String], problems: &mut Problems) {
    match (unset, tables) {
        ([], _) => {}
        ([var], [one]) => problems.add(
            &one.place,
            format!("[dkim] has no private_key and {var} is not set: set one of them"),
        ),
        (vars, _) => problems.add(
            "dkim",
            format!(
                "[[dkim]] has several keys, and {} not set for the keys without private_key: \
                 set private_key in each table, or put each key in CAMPAIGN_DKIM_KEY_<SELECTOR> \
                 ({DKIM_KEY_VAR} is read only when there is one key)",
                vars.join(", ")
            ),
        ),
    }
}

/// Reads `[dkim] private_key`, a file inside the campaign directory: its text and path.
fn read_key_file(dir: &Path, name: &str) -> Result<(String, PathBuf), String> {
    let path = paths::inside(dir, "[dkim] private_key", name)?;
    match std::fs::read_to_string(&path) {
        Ok(pem) => Ok((pem, path)),
        Err(e) => Err(format!(
            "[dkim] private_key: cannot read {}: {e}",
            path.display()
        )),
    }
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

    /// Tables as config/ reads them, placed on the lines of `source`.
    fn placed(source: &str) -> (Vec<DkimSection>, Problems) {
        let doc = toml::de::DeTable::parse(source).unwrap();
        let problems = Problems::new(Path::new("c.toml"), source, doc.get_ref());
        let whole: toml::Table = toml::from_str(source).unwrap();
        let items = whole["dkim"].as_array().unwrap().iter().enumerate();
        let tables = items.map(|(i, t)| {
            let text = |key: &str| t.get(key).and_then(|v| v.as_str()).map(str::to_string);
            DkimSection {
                place: format!("dkim.{i}"),
                domain: text("domain").unwrap_or_default(),
                selector: text("selector").unwrap_or_default(),
                private_key: text("private_key"),
                algorithm: text("algorithm"),
            }
        });
        (tables.collect(), problems)
    }

    #[test]
    fn every_problem_of_every_table_is_noted_and_the_unset_variables_listed_together() {
        let dir = tempfile::tempdir().unwrap();
        let source = "[[dkim]]\ndomain = \"a.example\"\nselector = \"zz-unit-r\"\n\
                      [[dkim]]\ndomain = \"a.example\"\nselector = \"zz_unit_r\"\n\
                      [[dkim]]\ndomain = \"A.example\"\nselector = \"zz-unit-r\"\n\
                      private_key = \"gone.pem\"\n\
                      [[dkim]]\ndomain = \"a.example\"\nselector = \"zz-unit-e\"\n\
                      algorithm = \"md5\"\n";
        let (tables, mut problems) = placed(source);
        assert!(dkim(dir.path(), tables, &mut problems).is_empty());
        let e = problems.finish().unwrap_err().to_string();
        for wanted in [
            "c.toml: 5 problems;",
            "c.toml:1: [[dkim]] has several keys, and CAMPAIGN_DKIM_KEY_ZZ_UNIT_R, \
             CAMPAIGN_DKIM_KEY_ZZ_UNIT_E not set",
            "c.toml:6: [[dkim]] selectors \"zz-unit-r\" and \"zz_unit_r\" would both read",
            "c.toml:9: two [[dkim]] tables have selector \"zz-unit-r\" for a.example",
            "c.toml:10: [dkim] private_key = \"gone.pem\": cannot open",
            "c.toml:14: [dkim] algorithm = \"md5\" is not",
        ] {
            assert!(e.contains(wanted), "{wanted}\nin:\n{e}");
        }
    }

    #[test]
    fn one_key_reads_the_one_variable_and_each_of_several_its_own() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k.pem"), "PEM").unwrap();
        let one = "[[dkim]]\ndomain = \"a.example\"\nselector = \"zz-unit-one\"\n";
        let (tables, mut problems) = placed(one);
        dkim(dir.path(), tables, &mut problems);
        let e = problems.finish().unwrap_err().to_string();
        assert_eq!(
            e,
            "c.toml:1: [dkim] has no private_key and CAMPAIGN_DKIM_KEY is not set: set one of them"
        );
        let two = format!(
            "{one}private_key = \"k.pem\"\n[[dkim]]\ndomain = \"a.example\"\nselector = \"s\"\nprivate_key = \"k.pem\"\n"
        );
        let (tables, mut problems) = placed(&two);
        let keys = dkim(dir.path(), tables, &mut problems);
        problems.finish().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[1].key_file, Some(dir.path().join("k.pem")));
    }

    #[test]
    fn an_empty_list_of_tables_signs_nothing() {
        let mut problems = Problems::without_lines(Path::new("c.toml"));
        assert!(dkim(Path::new("."), Vec::new(), &mut problems).is_empty());
        problems.finish().unwrap();
    }
}
