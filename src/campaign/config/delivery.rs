//! `[smtp]` (or each `[[smtp]]` table) and `[send]` as written: where to deliver and how fast.
//! `campaign/relays.rs` and `campaign/settings.rs` validate them.

use toml::Value;

use super::super::problems::Problems;
use super::section::{Section, describe};

/// `[smtp]`, or one `[[smtp]]` table: a relay, where and how to deliver.
#[derive(Debug, Default)]
pub struct SmtpSection {
    /// Where the table is, as [`Problems`] places keys: `smtp`, or `smtp.1` for a `[[smtp]]` table.
    pub place: String,
    /// The relay's name in the result log and in its password's variable [default: host].
    pub name: Option<String>,
    /// `[[smtp]]` only: the relay's share of the recipients [default: 1].
    pub weight: Option<u32>,
    /// `[[smtp]]` only: sessions to this relay [default: `[send] concurrency`].
    pub concurrency: Option<usize>,
    /// `[[smtp]]` only: this relay's own pace ("10/s").
    pub rate: Option<String>,
    /// `[[smtp]]` only: this relay's own daily limit.
    pub daily_limit: Option<u64>,
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

pub(super) fn smtp(s: Section<'_>, p: &mut Problems) -> SmtpSection {
    let provider = s.string(p, "provider");
    // A relay's own share, sessions and limits are read in `[[smtp]]` tables only (in `[smtp]`
    // they are unknown keys: one relay's go in `[send]`).
    let several = s.index.is_some();
    SmtpSection {
        place: s.place(),
        name: s.string(p, "name"),
        weight: several
            .then(|| s.number(p, "weight", 1, u32::MAX.into()))
            .flatten(),
        concurrency: several
            .then(|| s.number(p, "concurrency", 0, i64::MAX))
            .flatten(),
        rate: several.then(|| s.string(p, "rate")).flatten(),
        daily_limit: several
            .then(|| s.number(p, "daily_limit", 0, i64::MAX))
            .flatten(),
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

pub(super) fn send(s: Section<'_>, p: &mut Problems) -> SendSection {
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
