//! The raw shape of `campaign.toml`, read key by key so that every mistake is found in one pass:
//! an unknown key (a typo such as `subjet`, or `rate` under `[smtp]`) is noted with a suggestion
//! ([`super::did_you_mean`]), a value of the wrong type or out of range is noted and left out, and
//! reading goes on. Only a TOML syntax error stops it: nothing after it can be read. Each table is
//! read by [`section::Section`], `[[dkim]]`'s tables one by one. Turning these raw values into a
//! validated [`crate::campaign::Campaign`] is `campaign/mod.rs`'s job, with `deliverability.rs`
//! and `links.rs`.

mod delivery;
mod section;

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

use super::problems::Problems;
use crate::error::{Error, Result};
use crate::invalid;
pub use delivery::{SendSection, SmtpSection};
use section::{Section, describe};

/// `<campaign>/campaign.toml`. A required key that is missing or unusable is empty here; the
/// problem is noted.
#[derive(Debug)]
pub struct CampaignFile {
    /// A Tera template rendered per recipient.
    pub subject: String,
    pub from: String,
    pub reply_to: Option<String>,
    /// HTML template file name [default: email.html, unless `content` is set].
    pub html: Option<String>,
    /// A Markdown template rendered to HTML into a layout's block (instead of `html`).
    pub content: Option<String>,
    /// The layout the Markdown goes into [default: base.html].
    pub layout: Option<String>,
    /// The block of the layout it fills [default: content].
    pub block: Option<String>,
    /// Text template file name [default: email.txt if it exists, else derived from the HTML].
    pub text: Option<String>,
    /// Recipients CSV [default: recipients.csv].
    pub recipients: Option<String>,
    /// The shared layouts folder, relative to the campaign directory (see `paths::layouts`).
    pub templates: Option<String>,
    pub attachments: Vec<String>,
    /// What a missing per-recipient attachment does: "fail" (default) or "skip".
    pub attachments_missing: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub vars: Table,
    /// Files of addresses never to mail (a CSV with an `email` column, or one address per line).
    pub suppress: Vec<String>,
    pub unsubscribe: Option<UnsubscribeSection>,
    /// `[dkim]` (one key) or `[[dkim]]` (one table per key, one signature each); empty: no
    /// signing.
    pub dkim: Vec<DkimSection>,
    /// `[smtp]` (one relay) or `[[smtp]]` (one table per relay); empty: no relay (a dry run).
    pub smtp: Vec<SmtpSection>,
    pub send: Option<SendSection>,
    /// `[links]`: UTM parameters appended to the message's links.
    pub links: Option<LinksSection>,
    pub notify: Option<NotifySection>,
}

/// `[notify]`: a notice when a send ends (see `crate::notify`).
#[derive(Debug, Default)]
pub struct NotifySection {
    pub webhook: String,
    /// "json" (default), "slack", "feishu" or "dingtalk".
    pub format: Option<String>,
}

/// `[unsubscribe]`: the per-recipient List-Unsubscribe header (RFC 2369, RFC 8058).
#[derive(Debug, Default)]
pub struct UnsubscribeSection {
    /// A Tera template rendered per recipient, e.g. "https://acme.example/u?e={{ email | urlencode }}".
    pub url: Option<String>,
    /// An address for mailto: unsubscribes.
    pub mailto: Option<String>,
}

/// `[dkim]`, or one `[[dkim]]` table: a DKIM signing key (RFC 6376).
#[derive(Debug, Default)]
pub struct DkimSection {
    /// Where the table is, as [`Problems`] places keys: `dkim`, or `dkim.1` for a `[[dkim]]` table.
    pub place: String,
    pub domain: String,
    pub selector: String,
    /// A PEM file inside the campaign directory; else the `CAMPAIGN_DKIM_KEY` environment variable
    /// (with several keys, `CAMPAIGN_DKIM_KEY_<SELECTOR>`).
    pub private_key: Option<String>,
    /// "rsa-sha256" (default) or "ed25519-sha256".
    pub algorithm: Option<String>,
}

/// `[links]`: the UTM parameters appended to the message's links, as written (`links.rs` checks
/// the values).
#[derive(Debug, Default)]
pub struct LinksSection {
    /// `utm = { … }`; `None` when missing or not a table (the problem is noted).
    pub utm: Option<UtmSection>,
    /// Domains whose links are not tagged (the domain and its subdomains).
    pub skip: Vec<String>,
}

/// `[links] utm = { source = …, medium = …, campaign = …, term = …, content = … }`: Google
/// Analytics' campaign parameters (`utm_source` and so on); the first three are required (empty
/// here when missing: the problem is noted), as analytics tools attribute a visit by them together.
#[derive(Debug, Default)]
pub struct UtmSection {
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub term: Option<String>,
    pub content: Option<String>,
}

/// Reads `source` (the text of the file at `path`): the raw settings and every problem noted on the
/// way. Only a TOML syntax error is an `Err`, alone, at its line and column.
pub fn read(source: &str, path: &Path) -> Result<(CampaignFile, Problems)> {
    let whole: Table = toml::from_str(source).map_err(|e| toml_error(path, source, &e))?;
    let doc = toml::de::DeTable::parse(source).map_err(|e| toml_error(path, source, &e))?;
    let mut problems = Problems::new(path, source, doc.get_ref());
    let top = Section::top(&whole);
    top.unknown_keys(&mut problems);
    let p = &mut problems;
    let file = CampaignFile {
        subject: top.required(p, "subject", "\"April news for {{ name }}\""),
        from: top.required(p, "from", "\"Acme News <news@acme.example>\""),
        reply_to: top.string(p, "reply_to"),
        html: top.string(p, "html"),
        content: top.string(p, "content"),
        layout: top.string(p, "layout"),
        block: top.string(p, "block"),
        text: top.string(p, "text"),
        recipients: top.string(p, "recipients"),
        templates: top.string(p, "templates"),
        attachments: top.strings(p, "attachments", "file name"),
        attachments_missing: top.string(p, "attachments_missing"),
        suppress: top.strings(p, "suppress", "file name"),
        headers: top.headers(p),
        vars: top.table(p, "vars").cloned().unwrap_or_default(),
        unsubscribe: top.section(p, "unsubscribe").map(|s| UnsubscribeSection {
            url: s.string(p, "url"),
            mailto: s.string(p, "mailto"),
        }),
        dkim: (tables(top, p, "dkim", "domain and selector").into_iter())
            .map(|s| dkim(s, p))
            .collect(),
        smtp: (tables(top, p, "smtp", "host (or provider)").into_iter())
            .map(|s| delivery::smtp(s, p))
            .collect(),
        send: top.section(p, "send").map(|s| delivery::send(s, p)),
        links: top.section(p, "links").map(|s| links(s, p)),
        notify: top.section(p, "notify").map(|s| NotifySection {
            webhook: s.required(p, "webhook", "\"https://hooks.example.com/…\""),
            format: s.string(p, "format"),
        }),
    };
    Ok((file, problems))
}

/// `[name]` (one table) or `[[name]]` (an array of tables, each a `what`), each table's unknown
/// keys noted: `[dkim]`/`[[dkim]]`, `[smtp]`/`[[smtp]]`.
fn tables<'a>(
    top: Section<'a>,
    p: &mut Problems,
    name: &'static str,
    what: &str,
) -> Vec<Section<'a>> {
    let table = |index, table| Section { name, index, table };
    let tables = match top.table.get(name) {
        None => Vec::new(),
        Some(Value::Table(one)) => vec![table(None, one)],
        Some(Value::Array(items)) if items.is_empty() => {
            let message = format!(
                "{name} = [] holds no table: remove it, or write a [[{name}]] table for each"
            );
            p.add(name, message);
            Vec::new()
        }
        Some(Value::Array(items)) => (items.iter().enumerate())
            .filter_map(|(i, item)| match item {
                Value::Table(one) => Some(table(Some(i), one)),
                other => {
                    let message = format!(
                        "[[{name}]]: each element must be a table with {what}, not {}",
                        describe(other)
                    );
                    p.add(&format!("{name}.{i}"), message);
                    None
                }
            })
            .collect(),
        Some(other) => {
            let message = format!(
                "{name} must be a table, written [{name}] (or [[{name}]] once for each), not {}",
                describe(other)
            );
            p.add(name, message);
            Vec::new()
        }
    };
    tables.iter().for_each(|s| s.unknown_keys(p));
    tables
}

fn dkim(s: Section<'_>, p: &mut Problems) -> DkimSection {
    DkimSection {
        place: s.place(),
        domain: s.required(p, "domain", "\"acme.example\""),
        selector: s.required(p, "selector", "\"news\""),
        private_key: s.string(p, "private_key"),
        algorithm: s.string(p, "algorithm"),
    }
}

/// `[links]`: `utm` is required (a `[links]` table is written for it).
fn links(s: Section<'_>, p: &mut Problems) -> LinksSection {
    let example = "{ source = \"newsletter\", medium = \"email\", campaign = \"april\" }";
    s.missing(p, "utm", example);
    LinksSection {
        utm: s.section(p, "links.utm").map(|u| UtmSection {
            source: u.required(p, "source", "\"newsletter\""),
            medium: u.required(p, "medium", "\"email\""),
            campaign: u.required(p, "campaign", "\"april\""),
            term: u.string(p, "term"),
            content: u.string(p, "content"),
        }),
        skip: s.strings(p, "skip", "domain"),
    }
}

/// `campaign.toml:LINE:COLUMN: message` from a TOML error's byte span; the column counts
/// characters, as an editor does.
fn toml_error(path: &Path, source: &str, e: &toml::de::Error) -> Error {
    let (line, column) = match e.span() {
        Some(span) => {
            let before = &source[..span.start.min(source.len())];
            let line = before.matches('\n').count() + 1;
            let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
                .chars()
                .count()
                + 1;
            (line, column)
        }
        None => (1, 1),
    };
    invalid!("{}:{line}:{column}: {}", path.display(), e.message().trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_ok(source: &str) -> CampaignFile {
        let (file, problems) = read(source, Path::new("c.toml")).unwrap();
        problems.finish().unwrap();
        file
    }

    #[test]
    fn one_dkim_table_or_an_array_of_tables_each_placed() {
        let top = "subject = \"x\"\nfrom = \"a@a.example\"\n";
        let one = read_ok(&format!(
            "{top}[dkim]\ndomain = \"a.example\"\nselector = \"s\"\n"
        ));
        assert_eq!((one.dkim.len(), one.dkim[0].place.as_str()), (1, "dkim"));
        let two = read_ok(&format!(
            "{top}[[dkim]]\ndomain = \"a.example\"\nselector = \"r\"\n\
             [[dkim]]\ndomain = \"a.example\"\nselector = \"e\"\nalgorithm = \"ed25519-sha256\"\n"
        ));
        assert_eq!(two.dkim[1].selector, "e");
        assert_eq!(two.dkim[1].place, "dkim.1");
        let typo = format!(
            "{top}[[dkim]]\ndomain = \"a.example\"\nselector = \"r\"\n\
             [[dkim]]\ndomain = \"a.example\"\nselectr = \"e\"\n"
        );
        let (_, problems) = read(&typo, Path::new("c.toml")).unwrap();
        let e = problems.finish().unwrap_err().to_string();
        assert_eq!(
            e,
            "c.toml:8: unknown key `selectr` in [dkim]: did you mean `selector`?"
        );
    }

    #[test]
    fn links_utm_keys_are_read_and_checked_like_a_table() {
        let file = read_ok(
            "subject = \"x\"\nfrom = \"a@a.example\"\n[links]\n\
             utm = { source = \"n\", medium = \"m\", campaign = \"c\", term = \"t\" }\n\
             skip = [\"p.example\"]\n",
        );
        let links = file.links.unwrap();
        let utm = links.utm.unwrap();
        assert_eq!((utm.source, utm.term), ("n".into(), Some("t".into())));
        assert_eq!(links.skip, ["p.example"]);
        let source = "subject = \"x\"\nfrom = \"a@a.example\"\n[links]\n\
                      utm = { source = 1, medium = \"m\" }\nskip = \"p.example\"\n";
        let (_, problems) = read(source, Path::new("c.toml")).unwrap();
        let e = problems.finish().unwrap_err().to_string();
        for wanted in [
            "c.toml:4: [links.utm] campaign is missing: add campaign = \"april\"",
            "c.toml:4: [links.utm] source must be a string in quotes",
            "c.toml:5: [links] skip must be a list of domains",
        ] {
            assert!(e.contains(wanted), "{wanted}\nin:\n{e}");
        }
    }
}
