//! `[notify] webhook`: when a send ends, its summary is posted to a URL (a chat's incoming webhook,
//! a CI hook, your own endpoint), so that a long send on another machine or in a Kubernetes Job
//! reports itself. The body is the run's `--json` object (`crate::json` builds it: one summary,
//! not a second), or for a chat's webhook (`format = "slack"`, `"feishu"`, `"dingtalk"`) one line
//! of it in the shape that chat takes.
//!
//! A notice is a courtesy, never part of the outcome: one attempt, 10 s in all, no retry, and a
//! failure is one line on stderr (`notice to https://hooks.example.com/… failed: …`); the exit
//! code stays the run's. The URL of a webhook usually holds its secret token (Slack's
//! `/services/T…/B…/…`, Feishu's `/hook/<token>`, DingTalk's `?access_token=`), so it is only
//! ever shown as scheme, host and port. `http://` is refused except to this machine (loopback):
//! the summary names recipients and the URL its token, neither of which should cross a network
//! in clear text.
//!
//! The HTTP client is reqwest's blocking one, already built into the binary for css-inline
//! (same version and features, so no new crate), on the rustls with ring the SMTP side uses, with
//! webpki-roots as trust (as for SMTP: no system store needed in a minimal container image).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde_json::{Value, json};

/// How long a notice may take, connecting included.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The shape of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The run's `--json` object as it is.
    Json,
    /// `{"text": "…"}`: Slack, Mattermost, Rocket.Chat, Zulip's Slack-compatible hook.
    Slack,
    /// `{"msg_type": "text", "content": {"text": "…"}}`: Feishu / Lark custom bots.
    Feishu,
    /// `{"msgtype": "text", "text": {"content": "…"}}`: DingTalk custom robots.
    DingTalk,
}

impl Format {
    pub fn parse(name: &str) -> Result<Format, String> {
        match name {
            "json" => Ok(Format::Json),
            "slack" => Ok(Format::Slack),
            "feishu" => Ok(Format::Feishu),
            "dingtalk" => Ok(Format::DingTalk),
            _ => Err(format!(
                "[notify] format = {name:?} is not one of \"json\" (the summary object, the \
                 default), \"slack\", \"feishu\", \"dingtalk\""
            )),
        }
    }
}

/// Where and how a notice is posted.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    url: Url,
    pub format: Format,
}

/// Never the whole URL: it holds the token.
impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Webhook({}, {:?})", self.shown(), self.format)
    }
}

impl Webhook {
    pub fn new(url: Url, format: Format) -> Webhook {
        Webhook { url, format }
    }

    /// `webhook = "…"` checked: an absolute https URL, or http to a loopback host.
    pub fn url(text: &str) -> Result<Url, String> {
        let url = Url::parse(text.trim()).map_err(|e| {
            format!("[notify] webhook is not a URL ({e}): write it as \"https://host/path\"")
        })?;
        let loopback = match url.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        match url.scheme() {
            "https" if url.host().is_some() => Ok(url),
            "http" if loopback => Ok(url),
            "http" => Err(format!(
                "[notify] webhook {}: http:// is allowed only to this machine (127.0.0.1, \
                 localhost): the summary and the URL's token would cross the network in clear \
                 text; use https://",
                shown(&url)
            )),
            _ => Err(format!(
                "[notify] webhook {}: not an https:// URL",
                shown(&url)
            )),
        }
    }

    /// The URL as it may be shown: scheme, host and port, the path and query (the token) left out.
    pub fn shown(&self) -> String {
        shown(&self.url)
    }

    /// The body for `summary` (a run's `--json` object).
    pub fn body(&self, summary: &Value) -> Value {
        let line = || one_line(summary);
        match self.format {
            Format::Json => summary.clone(),
            Format::Slack => json!({ "text": line() }),
            Format::Feishu => json!({ "msg_type": "text", "content": { "text": line() } }),
            Format::DingTalk => json!({ "msgtype": "text", "text": { "content": line() } }),
        }
    }

    /// Posts the notice of `summary`; the error says why it failed, the URL left out.
    pub fn post(&self, summary: &Value) -> Result<(), String> {
        let client = reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(tls()?)
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("campaign/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {}", reason(e)))?;
        let body = serde_json::to_vec(&self.body(summary)).unwrap_or_default();
        let response = client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .map_err(reason)?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the server answered HTTP {status}"))
        }
    }

    /// Posts the notice, returning the line for people: what was done, or why it failed.
    pub fn notify(&self, summary: &Value) -> Result<String, String> {
        match self.post(summary) {
            Ok(()) => Ok(format!("notice posted to {}", self.shown())),
            Err(e) => Err(format!("notice to {} failed: {e}", self.shown())),
        }
    }
}

fn shown(url: &Url) -> String {
    let port = url.port().map_or_else(String::new, |p| format!(":{p}"));
    let path = if url.path() == "/" && url.query().is_none() {
        ""
    } else {
        "/…"
    };
    format!(
        "{}://{}{port}{path}",
        url.scheme(),
        url.host_str().unwrap_or("")
    )
}

/// rustls with ring and the webpki roots, as for SMTP.
fn tls() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?;
    Ok(config.with_root_certificates(roots).with_no_client_auth())
}

/// Why a request failed, in a few words, without the URL (reqwest's message holds it).
fn reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return format!("no answer within {} s", TIMEOUT.as_secs());
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text += &format!(": {cause}");
        source = cause.source();
    }
    text
}

/// `campaign april (shard 2/4): sent 498, failed 2, unknown 0, skipped 1, already handled 0 —
/// exit 1`, from the summary object.
fn one_line(summary: &Value) -> String {
    let name = summary["campaign"]["name"].as_str().unwrap_or("campaign");
    let shard = match &summary["shard"] {
        Value::Object(s) => format!(" (shard {}/{})", s["index"], s["count"]),
        _ => String::new(),
    };
    let c = &summary["counts"];
    let n = |key: &str| c[key].as_u64().unwrap_or(0);
    let mut line = format!(
        "campaign {name}{shard}: sent {}, failed {}, unknown {}, skipped {}, already handled {} — \
         exit {}",
        n("sent"),
        n("failed"),
        n("unknown"),
        n("skipped"),
        n("already_handled"),
        summary["exit_code"]
    );
    if let Some(message) = summary["error"]["message"].as_str() {
        line += &format!(": {message}");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_never_shown_whole_and_http_only_to_this_machine() {
        let url = Webhook::url("https://hooks.slack.com/services/T0/B0/SECRET?x=1").unwrap();
        let hook = Webhook::new(url, Format::Slack);
        assert_eq!(hook.shown(), "https://hooks.slack.com/…");
        assert!(!format!("{hook:?}").contains("SECRET"));
        for ok in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/x",
            "http://[::1]:9/",
        ] {
            assert!(Webhook::url(ok).is_ok(), "{ok}");
        }
        let err = Webhook::url("http://hooks.example.com/T/secret").unwrap_err();
        assert!(
            err.contains("only to this machine") && !err.contains("secret"),
            "{err}"
        );
        assert!(Webhook::url("ftp://example.com/").is_err());
        assert!(Webhook::url("hooks.example.com/x").is_err());
        assert!(Webhook::url("").is_err());
        assert!(Format::parse("teams").unwrap_err().contains("\"slack\""));
    }

    #[test]
    fn chat_formats_carry_one_line_of_the_summary() {
        let summary = json!({
            "campaign": {"name": "april", "path": "c/april"},
            "counts": {"sent": 498, "failed": 2, "unknown": 0, "skipped": 1, "already_handled": 0},
            "exit_code": 1, "error": null, "shard": {"index": 2, "count": 4},
        });
        let line = "campaign april (shard 2/4): sent 498, failed 2, unknown 0, skipped 1, already \
                    handled 0 — exit 1";
        let hook = |format| Webhook::new(Webhook::url("https://h.example/x").unwrap(), format);
        assert_eq!(hook(Format::Json).body(&summary), summary);
        assert_eq!(hook(Format::Slack).body(&summary), json!({ "text": line }));
        assert_eq!(hook(Format::Feishu).body(&summary)["content"]["text"], line);
        assert_eq!(
            hook(Format::DingTalk).body(&summary)["text"]["content"],
            line
        );
    }
}
