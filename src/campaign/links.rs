//! `[links]`: the UTM parameters appended to the message's links for web analytics, and the
//! domains left alone. The values are checked as serde reads campaign.toml, so a mistake is an
//! error at its line and column like any other; what is kept is the query string itself,
//! percent-encoded once per campaign, so tagging a link costs an append (`render/links.rs`).
//!
//! The values are plain strings, the same for every recipient (UTM parameters describe the
//! campaign, not the reader; a per-reader value belongs in the link itself).

use serde::{Deserialize, Deserializer};

/// `[links]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksSection {
    pub utm: UtmSection,
    /// Domains whose links are not tagged (the domain and its subdomains).
    #[serde(default, deserialize_with = "skip")]
    pub skip: Vec<String>,
}

/// `[links] utm = { source = …, medium = …, campaign = …, term = …, content = … }`: Google
/// Analytics' campaign parameters (`utm_source` and so on); the first three are required, as
/// analytics tools attribute a visit by them together.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UtmSection {
    #[serde(deserialize_with = "source")]
    pub source: String,
    #[serde(deserialize_with = "medium")]
    pub medium: String,
    #[serde(deserialize_with = "campaign")]
    pub campaign: String,
    #[serde(default, deserialize_with = "term")]
    pub term: Option<String>,
    #[serde(default, deserialize_with = "content")]
    pub content: Option<String>,
}

/// `[links]` after validation.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// `utm_source=…&utm_medium=…&utm_campaign=…[&utm_term=…][&utm_content=…]`, percent-encoded.
    pub utm_query: String,
    /// Domains left untagged, lower case, in their ASCII (IDNA) form.
    pub skip: Vec<String>,
}

impl LinksSection {
    pub fn settings(self) -> LinkSettings {
        let utm = self.utm;
        let pairs = [
            ("utm_source", Some(utm.source)),
            ("utm_medium", Some(utm.medium)),
            ("utm_campaign", Some(utm.campaign)),
            ("utm_term", utm.term),
            ("utm_content", utm.content),
        ];
        let utm_query = pairs
            .iter()
            .filter_map(|(name, value)| Some(format!("{name}={}", encode(value.as_deref()?))))
            .collect::<Vec<_>>()
            .join("&");
        LinkSettings {
            utm_query,
            skip: self.skip,
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a space is `%20`).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One UTM value: trimmed, not empty, no control characters.
fn value<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<String, D::Error> {
    let value = String::deserialize(d)?;
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().any(char::is_control) {
        return Err(serde::de::Error::custom(format!(
            "[links] utm {key} = {value:?}: a UTM value must be text, not empty and without \
             control characters (term and content may be left out)"
        )));
    }
    Ok(trimmed.to_string())
}

fn source<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    value(d, "source")
}
fn medium<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    value(d, "medium")
}
fn campaign<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    value(d, "campaign")
}
fn term<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    value(d, "term").map(Some)
}
fn content<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    value(d, "content").map(Some)
}

/// The `skip` list: domains, each lower-cased into its ASCII form.
fn skip<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|written| {
            let domain = written.trim().trim_end_matches('.');
            let ascii = idna::domain_to_ascii(domain).ok();
            ascii
                .filter(|a| !a.is_empty() && a.contains('.') && !a.contains(['/', ':', '@', '*']))
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "[links] skip: {written:?} is not a domain: write the domain alone, such \
                         as \"example.org\" (its subdomains are skipped too)"
                    ))
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_encoded_once() {
        let section: LinksSection = toml::from_str(
            "utm = { source = \"news letter\", medium = \"e/mail\", campaign = \"Zoë & co\", \
             content = \"hero\" }\nskip = [\"Example.ORG\", \"exämple.com\"]",
        )
        .unwrap();
        let settings = section.settings();
        assert_eq!(
            settings.utm_query,
            "utm_source=news%20letter&utm_medium=e%2Fmail&utm_campaign=Zo%C3%AB%20%26%20co\
             &utm_content=hero"
        );
        assert_eq!(settings.skip, ["example.org", "xn--exmple-cua.com"]);
    }
}
