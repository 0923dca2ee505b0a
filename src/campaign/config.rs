//! The raw shape of `campaign.toml`, exactly as serde reads it. Unknown keys are rejected
//! (`deny_unknown_fields`) so that a typo such as `subjet` is an error naming the key, never silently
//! ignored. Turning these raw values into a validated [`crate::campaign::Campaign`] is `mod.rs`'s job.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `<campaign>/campaign.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
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
    #[serde(default)]
    pub attachments: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub vars: toml::Table,
    /// Files of addresses never to mail (a CSV with an `email` column, or one address per line).
    #[serde(default)]
    pub suppress: Vec<String>,
    pub unsubscribe: Option<UnsubscribeSection>,
    /// `[dkim]` (one key) or `[[dkim]]` (several, one signature each).
    pub dkim: Option<super::deliverability::DkimTables>,
    pub smtp: Option<SmtpSection>,
    pub send: Option<SendSection>,
    /// `[links]`: UTM parameters appended to the message's links.
    pub links: Option<super::links::LinksSection>,
}

/// `[unsubscribe]`: the per-recipient List-Unsubscribe header (RFC 2369, RFC 8058).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnsubscribeSection {
    /// A Tera template rendered per recipient, e.g. "https://acme.example/u?e={{ email | urlencode }}".
    pub url: Option<String>,
    /// An address for mailto: unsubscribes.
    pub mailto: Option<String>,
}

/// `[dkim]`: DKIM signing (RFC 6376).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimSection {
    pub domain: String,
    pub selector: String,
    /// A PEM file inside the campaign directory; else the `CAMPAIGN_DKIM_KEY` environment variable
    /// (with several keys, `CAMPAIGN_DKIM_KEY_<SELECTOR>`).
    pub private_key: Option<String>,
    /// "rsa-sha256" (default) or "ed25519-sha256".
    pub algorithm: Option<String>,
}

/// `[smtp]`: where and how to deliver.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendSection {
    pub rate: Option<String>,
    pub concurrency: Option<usize>,
    pub retries: Option<u32>,
    pub daily_limit: Option<u64>,
    /// Stop after this many consecutive permanent failures with the same reply [default: 20; 0: never].
    pub stop_after_rejections: Option<u32>,
    /// Seconds every session pauses when the relay asks to slow down (doubling) [default: 60].
    pub throttle_pause: Option<u64>,
}
