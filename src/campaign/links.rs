//! `[links]`: the UTM parameters appended to the message's links for web analytics, and the
//! domains left alone. `config/` reads the keys; here each value is checked, every problem noted
//! at its line like any other of campaign.toml, and what is kept is the query string itself,
//! percent-encoded once per campaign, so tagging a link costs an append (`render/links.rs`).
//!
//! The values are plain strings, the same for every recipient (UTM parameters describe the
//! campaign, not the reader; a per-reader value belongs in the link itself).

use super::config::{LinksSection, UtmSection};
use super::problems::Problems;

/// `[links]` after validation.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// `utm_source=…&utm_medium=…&utm_campaign=…[&utm_term=…][&utm_content=…]`, percent-encoded.
    pub utm_query: String,
    /// Domains left untagged, lower case, in their ASCII (IDNA) form.
    pub skip: Vec<String>,
}

/// `[links]` validated; each problem is noted in `problems` (and `None` returned).
pub(super) fn settings(section: LinksSection, problems: &mut Problems) -> Option<LinkSettings> {
    let before = problems.len();
    let utm_query = section.utm.map(|utm| query(utm, problems));
    let skip = (section.skip.iter().enumerate())
        .filter_map(|(i, written)| problems.check(&format!("links.skip.{i}"), domain(written)))
        .collect();
    let utm_query = utm_query.filter(|_| problems.len() == before)?;
    Some(LinkSettings { utm_query, skip })
}

/// The query string of `utm`, each value checked (a missing required one was noted when the
/// file was read, and is left out here).
fn query(utm: UtmSection, problems: &mut Problems) -> String {
    let pairs = [
        ("source", Some(utm.source)),
        ("medium", Some(utm.medium)),
        ("campaign", Some(utm.campaign)),
        ("term", utm.term),
        ("content", utm.content),
    ];
    let mut parts = Vec::new();
    for (key, written) in pairs {
        let place = format!("links.utm.{key}");
        let Some(written) = written.filter(|_| problems.line(&place).is_some()) else {
            continue;
        };
        if let Some(value) = problems.check(&place, value(key, &written)) {
            parts.push(format!("utm_{key}={}", encode(&value)));
        }
    }
    parts.join("&")
}

/// One UTM value: trimmed, not empty, no control characters.
fn value(key: &str, written: &str) -> Result<String, String> {
    let trimmed = written.trim();
    if trimmed.is_empty() || trimmed.chars().any(char::is_control) {
        return Err(format!(
            "[links] utm {key} = {written:?}: a UTM value must be text, not empty and without \
             control characters (term and content may be left out)"
        ));
    }
    Ok(trimmed.to_string())
}

/// A `skip` domain, lower-cased into its ASCII form.
fn domain(written: &str) -> Result<String, String> {
    let domain = written.trim().trim_end_matches('.');
    let ascii = idna::domain_to_ascii(domain).ok();
    ascii
        .filter(|a| !a.is_empty() && a.contains('.') && !a.contains(['/', ':', '@', '*']))
        .ok_or_else(|| {
            format!(
                "[links] skip: {written:?} is not a domain: write the domain alone, such as \
                 \"example.org\" (its subdomains are skipped too)"
            )
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_encoded_once() {
        let source = "[links]\nutm = { source = \" news letter \", medium = \"e/mail\", \
                      campaign = \"Zoë & co\", content = \"hero\" }\n\
                      skip = [\"Example.ORG\", \"exämple.com\"]\n";
        let doc = toml::de::DeTable::parse(source).unwrap();
        let mut problems = Problems::new(std::path::Path::new("c.toml"), source, doc.get_ref());
        let section = LinksSection {
            utm: Some(UtmSection {
                source: " news letter ".into(),
                medium: "e/mail".into(),
                campaign: "Zoë & co".into(),
                term: None,
                content: Some("hero".into()),
            }),
            skip: vec!["Example.ORG".into(), "exämple.com".into()],
        };
        let settings = settings(section, &mut problems).unwrap();
        assert_eq!(
            settings.utm_query,
            "utm_source=news%20letter&utm_medium=e%2Fmail&utm_campaign=Zo%C3%AB%20%26%20co\
             &utm_content=hero"
        );
        assert_eq!(settings.skip, ["example.org", "xn--exmple-cua.com"]);
        problems.finish().unwrap();
    }

    #[test]
    fn every_bad_value_is_noted_at_its_line() {
        let source = "[links]\nutm = { source = \"\", medium = \"e\\u0007\", campaign = \"a\" }\n\
                      skip = [\"x.example\", \"https://y.example/\"]\n";
        let doc = toml::de::DeTable::parse(source).unwrap();
        let mut problems = Problems::new(std::path::Path::new("c.toml"), source, doc.get_ref());
        let section = LinksSection {
            utm: Some(UtmSection {
                source: "".into(),
                medium: "e\u{7}".into(),
                campaign: "a".into(),
                term: None,
                content: None,
            }),
            skip: vec!["x.example".into(), "https://y.example/".into()],
        };
        assert!(settings(section, &mut problems).is_none());
        let e = problems.finish().unwrap_err().to_string();
        assert!(e.contains("3 problems"), "{e}");
        assert!(e.contains("c.toml:2: [links] utm source = \"\""), "{e}");
        assert!(e.contains("c.toml:2: [links] utm medium"), "{e}");
        assert!(
            e.contains("c.toml:3: [links] skip: \"https://y.example/\""),
            "{e}"
        );
    }
}
