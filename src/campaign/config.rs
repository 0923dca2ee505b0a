//! The raw shape of `campaign.toml`, read key by key so that every mistake is found in one pass:
//! an unknown key (a typo such as `subjet`, or `rate` under `[smtp]`) is noted with a suggestion
//! ([`super::did_you_mean`]), a value of the wrong type or out of range is noted and left out, and
//! reading goes on. Only a TOML syntax error stops it: nothing after it can be read. Turning these
//! raw values into a validated [`crate::campaign::Campaign`] is `mod.rs`'s job.

use std::collections::BTreeMap;
use std::path::Path;

use toml::{Table, Value};

use super::did_you_mean;
use super::problems::Problems;
use crate::error::{Error, Result};
use crate::invalid;

/// `<campaign>/campaign.toml`. A required key that is missing or unusable is empty here; the
/// problem is noted.
#[derive(Debug)]
pub struct CampaignFile {
    /// A Tera template rendered per recipient.
    pub subject: String,
    pub from: String,
    pub reply_to: Option<String>,
    /// HTML template file name [default: email.html].
    pub html: Option<String>,
    /// Text template file name [default: email.txt if it exists, else derived from the HTML].
    pub text: Option<String>,
    /// Recipients CSV [default: recipients.csv].
    pub recipients: Option<String>,
    /// The shared layouts folder, relative to the campaign directory (see `paths::layouts`).
    pub templates: Option<String>,
    pub attachments: Vec<String>,
    pub headers: BTreeMap<String, String>,
    pub vars: Table,
    /// Files of addresses never to mail (a CSV with an `email` column, or one address per line).
    pub suppress: Vec<String>,
    pub unsubscribe: Option<UnsubscribeSection>,
    pub dkim: Option<DkimSection>,
    pub smtp: Option<SmtpSection>,
    pub send: Option<SendSection>,
}

/// `[unsubscribe]`: the per-recipient List-Unsubscribe header (RFC 2369, RFC 8058).
#[derive(Debug, Default)]
pub struct UnsubscribeSection {
    /// A Tera template rendered per recipient, e.g. "https://acme.example/u?e={{ email | urlencode }}".
    pub url: Option<String>,
    /// An address for mailto: unsubscribes.
    pub mailto: Option<String>,
}

/// `[dkim]`: DKIM signing (RFC 6376).
#[derive(Debug, Default)]
pub struct DkimSection {
    pub domain: String,
    pub selector: String,
    /// A PEM file inside the campaign directory; else the `CAMPAIGN_DKIM_KEY` environment variable.
    pub private_key: Option<String>,
    /// "rsa-sha256" (default) or "ed25519-sha256".
    pub algorithm: Option<String>,
}

/// `[smtp]`: where and how to deliver.
#[derive(Debug, Default)]
pub struct SmtpSection {
    /// A provider preset (`gmail`, `ses:us-east-1`, …) filling the keys left out; see `providers`.
    pub provider: Option<String>,
    /// Required unless `provider` gives it.
    pub host: String,
    pub port: Option<u16>,
    pub security: Option<String>,
    pub username: Option<String>,
    /// A PEM file (inside the campaign directory) with an extra trusted root certificate.
    pub ca_file: Option<String>,
    /// Seconds allowed for one SMTP command/reply, and for connecting [default: 30].
    pub timeout: Option<u64>,
    /// Seconds to wait for the reply to the message's final dot [default: 600, RFC 5321 §4.5.3.2.6].
    pub data_timeout: Option<u64>,
    /// The name sent in EHLO [default: this machine's host name].
    pub hello_name: Option<String>,
}

/// `[send]`: pacing and retries.
#[derive(Debug, Default)]
pub struct SendSection {
    pub rate: Option<String>,
    pub concurrency: Option<usize>,
    pub retries: Option<u32>,
    pub daily_limit: Option<u64>,
    /// Stop after this many consecutive permanent failures with the same reply [default: 20; 0: never].
    pub stop_after_rejections: Option<u32>,
    /// Seconds every session pauses when the relay asks to slow down (doubling) [default: 60].
    pub throttle_pause: Option<u64>,
    /// When sending is allowed: `"09:00-18:00"`, or a list of such spans.
    pub window: Vec<String>,
    /// The IANA zone of `window` and `--not-before` [default: this machine's local time].
    pub timezone: Option<String>,
}

/// Reads `source` (the text of the file at `path`): the raw settings and every problem noted on the
/// way. Only a TOML syntax error is an `Err`, alone, at its line and column.
pub fn read(source: &str, path: &Path) -> Result<(CampaignFile, Problems)> {
    let whole: Table = toml::from_str(source).map_err(|e| toml_error(path, source, &e))?;
    let doc = toml::de::DeTable::parse(source).map_err(|e| toml_error(path, source, &e))?;
    let mut problems = Problems::new(path, source, doc.get_ref());
    let top = Section {
        name: "",
        table: &whole,
    };
    top.unknown_keys(&mut problems);
    let p = &mut problems;
    let file = CampaignFile {
        subject: top.required(p, "subject", "\"April news for {{ name }}\""),
        from: top.required(p, "from", "\"Acme News <news@acme.example>\""),
        reply_to: top.string(p, "reply_to"),
        html: top.string(p, "html"),
        text: top.string(p, "text"),
        recipients: top.string(p, "recipients"),
        templates: top.string(p, "templates"),
        attachments: top.strings(p, "attachments"),
        suppress: top.strings(p, "suppress"),
        headers: top.headers(p),
        vars: top.table(p, "vars").cloned().unwrap_or_default(),
        unsubscribe: top.section(p, "unsubscribe").map(|s| UnsubscribeSection {
            url: s.string(p, "url"),
            mailto: s.string(p, "mailto"),
        }),
        dkim: top.section(p, "dkim").map(|s| DkimSection {
            domain: s.required(p, "domain", "\"acme.example\""),
            selector: s.required(p, "selector", "\"news\""),
            private_key: s.string(p, "private_key"),
            algorithm: s.string(p, "algorithm"),
        }),
        smtp: top.section(p, "smtp").map(|s| smtp(s, p)),
        send: top.section(p, "send").map(|s| send(s, p)),
    };
    Ok((file, problems))
}

fn smtp(s: Section<'_>, p: &mut Problems) -> SmtpSection {
    let provider = s.string(p, "provider");
    SmtpSection {
        host: match provider {
            Some(_) => s.string(p, "host").unwrap_or_default(),
            None => s.required(
                p,
                "host",
                "\"smtp.example.com\" (or provider = \"gmail\", …)",
            ),
        },
        provider,
        port: s.number(p, "port", 1, u16::MAX.into()),
        security: s.string(p, "security"),
        username: s.string(p, "username"),
        ca_file: s.string(p, "ca_file"),
        timeout: s.number(p, "timeout", 0, i64::MAX),
        data_timeout: s.number(p, "data_timeout", 0, i64::MAX),
        hello_name: s.string(p, "hello_name"),
    }
}

fn send(s: Section<'_>, p: &mut Problems) -> SendSection {
    SendSection {
        rate: s.string(p, "rate"),
        concurrency: s.number(p, "concurrency", 0, i64::MAX),
        retries: s.number(p, "retries", 0, u32::MAX.into()),
        daily_limit: s.number(p, "daily_limit", 0, i64::MAX),
        stop_after_rejections: s.number(p, "stop_after_rejections", 0, u32::MAX.into()),
        throttle_pause: s.number(p, "throttle_pause", 0, i64::MAX),
        window: windows(s, p),
        timezone: s.string(p, "timezone"),
    }
}

/// `[send] window`: one span in quotes or a list of them.
fn windows(s: Section<'_>, p: &mut Problems) -> Vec<String> {
    let spans = match s.table.get("window") {
        None => Some(Vec::new()),
        Some(Value::String(span)) => Some(vec![span.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        Some(_) => None,
    };
    spans.unwrap_or_else(|| {
        let value = s
            .table
            .get("window")
            .expect("only a value present can be wrong");
        let message = format!(
            "[send] window must be a span in quotes like \"09:00-18:00\", or a list of them, \
             not {}",
            describe(value)
        );
        p.add("send.window", message);
        Vec::new()
    })
}

/// One table of the file: the top level (`name` empty) or `[name]`.
#[derive(Clone, Copy)]
struct Section<'a> {
    name: &'static str,
    table: &'a Table,
}

impl<'a> Section<'a> {
    /// `smtp.port`, as [`Problems`] places keys.
    fn path(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.name)
        }
    }

    /// `[smtp] port`, as messages name a key.
    fn label(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("[{}] {key}", self.name)
        }
    }

    fn unknown_keys(&self, problems: &mut Problems) {
        let valid = did_you_mean::keys_of(self.name);
        for key in self.table.keys().filter(|k| !valid.contains(&k.as_str())) {
            problems.add(&self.path(key), did_you_mean::unknown_key(self.name, key));
        }
    }

    /// The value of `key` if it is of the wanted type (`check` gives it), else the problem noted.
    fn get<T>(
        &self,
        problems: &mut Problems,
        key: &str,
        wanted: &str,
        check: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Option<T> {
        let value = self.table.get(key)?;
        let got = check(value);
        if got.is_none() {
            let message = format!(
                "{} must be {wanted}, not {}",
                self.label(key),
                describe(value)
            );
            problems.add(&self.path(key), message);
        }
        got
    }

    fn string(&self, problems: &mut Problems, key: &str) -> Option<String> {
        let wanted = format!("a string in quotes, like {key} = \"…\"");
        self.get(problems, key, &wanted, |v| v.as_str().map(str::to_string))
    }

    /// A string that must be there: when missing, the problem is noted (unless an unknown key of
    /// this table is one typo away from it: that key's problem says so) and it is empty.
    fn required(&self, problems: &mut Problems, key: &str, example: &str) -> String {
        if !self.table.contains_key(key) {
            let valid = did_you_mean::keys_of(self.name);
            let unknown = self.table.keys().filter(|k| !valid.contains(&k.as_str()));
            let typo = unknown
                .map(|k| did_you_mean::unknown_key(self.name, k))
                .any(|message| message.contains(&format!("mean `{key}`?")));
            let at = if self.name.is_empty() { "" } else { self.name };
            if !typo {
                let message = format!("{} is missing: add {key} = {example}", self.label(key));
                problems.add(at, message);
            }
        }
        self.string(problems, key).unwrap_or_default()
    }

    /// A whole number from `min` to `max`.
    fn number<T: TryFrom<i64>>(
        &self,
        problems: &mut Problems,
        key: &str,
        min: i64,
        max: i64,
    ) -> Option<T> {
        let wanted = format!("a whole number from {min} to {max}");
        self.get(problems, key, &wanted, |v| {
            let n = v.as_integer().filter(|n| (min..=max).contains(n))?;
            T::try_from(n).ok()
        })
    }

    /// A list of strings (file names), each element checked.
    fn strings(&self, problems: &mut Problems, key: &str) -> Vec<String> {
        let wanted = format!("a list of file names, like {key} = [\"…\"]");
        let items = self.get(problems, key, &wanted, Value::as_array);
        let mut names = Vec::new();
        for (i, item) in items.into_iter().flatten().enumerate() {
            match item.as_str() {
                Some(name) => names.push(name.to_string()),
                None => problems.add(
                    &format!("{}.{i}", self.path(key)),
                    format!(
                        "{}: each element must be a file name in quotes, not {}",
                        self.label(key),
                        describe(item)
                    ),
                ),
            }
        }
        names
    }

    fn table(&self, problems: &mut Problems, key: &str) -> Option<&'a Table> {
        let wanted = format!("a table, written [{key}] or {key} = {{ … }}");
        self.get(problems, key, &wanted, Value::as_table)
    }

    /// The table `[name]`, its unknown keys noted.
    fn section(&self, problems: &mut Problems, name: &'static str) -> Option<Section<'a>> {
        let section = Section {
            name,
            table: self.table(problems, name)?,
        };
        section.unknown_keys(problems);
        Some(section)
    }

    /// `headers = { "X-Campaign" = "april" }`: every value a string.
    fn headers(&self, problems: &mut Problems) -> BTreeMap<String, String> {
        let empty = Table::new();
        let headers = Section {
            name: "headers",
            table: self.table(problems, "headers").unwrap_or(&empty),
        };
        let names = headers.table.keys();
        let pairs = names.filter_map(|name| Some((name.clone(), headers.string(problems, name)?)));
        pairs.collect()
    }
}

/// How a value of the wrong type is named: `an integer (465)`.
fn describe(value: &Value) -> String {
    let shown = value.to_string();
    let shown = if shown.chars().count() > 40 {
        format!("{}…", shown.chars().take(40).collect::<String>())
    } else {
        shown
    };
    let kind = match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "a number",
        Value::Float(_) => "a decimal number",
        Value::Boolean(_) => "true/false",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => return "a table".into(),
    };
    format!("{kind} ({shown})")
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
