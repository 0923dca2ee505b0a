//! Validated `[smtp]` and `[send]` settings: security/port defaults, the rate syntax ("10/s",
//! "600/min", "5000/h"), concurrency and retries. Parsed when the campaign loads so that a bad value
//! is an invalid campaign (exit 2) before anything is rendered or sent.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::invalid;

use super::config::{SendSection, SmtpSection};
use super::problems::Problems;
use super::providers::{self, Preset};
use crate::window::{SendWindow, Span, Zone};

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain text (only sensible for a relay on localhost).
    None,
    /// Plain connect, then STARTTLS (RFC 3207); refused if the server does not offer it.
    StartTls,
    /// TLS from the first byte ("SMTPS", RFC 8314), usually port 465.
    Tls,
}

impl Security {
    fn parse(s: &str) -> Option<Security> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(Security::None),
            "starttls" => Some(Security::StartTls),
            "tls" => Some(Security::Tls),
            _ => None,
        }
    }

    /// As campaign.toml writes it.
    pub fn name(self) -> &'static str {
        match self {
            Security::None => "none",
            Security::StartTls => "starttls",
            Security::Tls => "tls",
        }
    }

    fn default_port(self) -> u16 {
        match self {
            Security::None => 25,
            Security::StartTls => 587,
            Security::Tls => 465,
        }
    }

    /// RFC 8314: 465 is implicit TLS; 587 (submission) and 25 use STARTTLS.
    fn for_port(port: u16) -> Security {
        if port == 465 {
            Security::Tls
        } else {
            Security::StartTls
        }
    }
}

/// `[smtp]` after validation.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
    /// How long to wait for the reply to the final dot: RFC 5321 §4.5.3.2.6 asks for 10 minutes,
    /// because a relay may scan or queue the message before answering. A missing reply after the
    /// dot leaves the outcome unknown, so this wait is long on purpose.
    pub data_timeout: Duration,
    pub hello_name: Option<String>,
    /// The password for `username`, from the environment or `.env` ([`PASSWORD_VAR`], or with
    /// several relays the relay's own variable), read once at load.
    pub password: Option<Secret>,
    /// The variable `password` is read from, for the messages that name it.
    pub password_var: String,
    /// The `provider` preset the settings came from, if any.
    pub provider: Option<Preset>,
}

/// The environment variable holding the SMTP password (also read from `.env`).
pub const PASSWORD_VAR: &str = "CAMPAIGN_SMTP_PASSWORD";

/// A password: never shown (`Debug` prints no part of it).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl SmtpSettings {
    /// `[smtp]` validated; each bad value is noted in `problems` (and `None` returned).
    pub(super) fn from_section(
        mut section: SmtpSection,
        ca_file: Option<PathBuf>,
        problems: &mut Problems,
    ) -> Option<Self> {
        let before = problems.len();
        let place = section.place.clone();
        let key = |k: &str| format!("{place}.{k}");
        let provider = section.provider.as_deref().map(providers::find);
        let provider = provider.and_then(|found| problems.check(&key("provider"), found));
        if let Some(preset) = &provider {
            preset.fill(&mut section);
        }
        if section.host.trim().is_empty() && problems.line(&key("host")).is_some() {
            problems.add(
                &key("host"),
                "[smtp] host is empty: set it to your relay's host name",
            );
        }
        let security = section.security.as_deref().and_then(|s| {
            let parsed = Security::parse(s);
            if parsed.is_none() {
                problems.add(
                    &key("security"),
                    format!(
                        "[smtp] security = {s:?} is not one of \"none\", \"starttls\", \"tls\""
                    ),
                );
            }
            parsed
        });
        let (port, security) = match (section.port, security) {
            (Some(port), Some(security)) => (port, security),
            (Some(port), None) => (port, Security::for_port(port)),
            (None, Some(security)) => (security.default_port(), security),
            (None, None) => (587, Security::StartTls),
        };
        let timeout = section.timeout.unwrap_or(30);
        if timeout == 0 {
            problems.add(
                &key("timeout"),
                "[smtp] timeout must be at least 1 (seconds)",
            );
        }
        let data_timeout = section.data_timeout.unwrap_or(600);
        if data_timeout == 0 {
            problems.add(
                &key("data_timeout"),
                "[smtp] data_timeout must be at least 1 (seconds; the default is 600)",
            );
        }
        (problems.len() == before).then(|| SmtpSettings {
            host: section.host.trim().to_string(),
            port,
            security,
            username: section.username.filter(|u| !u.is_empty()),
            ca_file,
            timeout: Duration::from_secs(timeout),
            data_timeout: Duration::from_secs(data_timeout),
            hello_name: section.hello_name,
            password: None,
            password_var: PASSWORD_VAR.to_string(),
            provider,
        })
    }
}

/// A rate limit in the provider's terms: `count` messages per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
}

impl Rate {
    /// Parses "N/s", "N/min" or "N/h" (also "N/sec", "N/second", "N/m", "N/minute", "N/hour").
    pub fn parse(text: &str) -> Result<Rate> {
        let bad = || {
            invalid!(
                "rate {text:?} is not valid: write it as N/s, N/min or N/h, for example \"10/s\""
            )
        };
        let (count, unit) = text.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let seconds = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(bad()),
        };
        if count == 0 {
            return Err(bad());
        }
        Ok(Rate {
            count,
            per: Duration::from_secs(seconds),
        })
    }

    /// The smallest spacing between two sends that keeps every window under the limit.
    pub fn interval(&self) -> Duration {
        self.per / self.count
    }

    pub fn per_second(&self) -> f64 {
        self.count as f64 / self.per.as_secs_f64()
    }
}

/// `[send]` after validation, with the command line's `--rate` and `--concurrency` applied
/// ([`SendSettings::override_with`]).
#[derive(Debug, Clone)]
pub struct SendSettings {
    pub rate: Option<Rate>,
    pub concurrency: usize,
    pub retries: u32,
    pub daily_limit: Option<u64>,
    /// Stop the run after this many consecutive permanent failures with the same reply (a relay
    /// that rejects everything); `None` never stops.
    pub stop_after_rejections: Option<u32>,
    /// The first pause of every session when the relay asks to slow down (a per-minute quota,
    /// greylisting): longer than such a window, doubling while it keeps asking.
    pub throttle_pause: Duration,
    /// When sending is allowed (`None`: at any time).
    pub window: Option<SendWindow>,
    /// The zone of `window` and of `--not-before`.
    pub zone: Zone,
}

/// The default for `[send] stop_after_rejections`.
pub const STOP_AFTER_REJECTIONS: u32 = 20;

impl SendSettings {
    /// `[send]` validated; each bad value is noted in `problems` and its default used instead.
    /// A `provider` preset gives the rate and daily limit left out.
    pub(super) fn from_section(
        section: Option<SendSection>,
        preset: Option<&Preset>,
        problems: &mut Problems,
    ) -> Self {
        let section = section.unwrap_or_default();
        let rate = section.rate.as_deref().and_then(|rate| {
            let parsed = Rate::parse(rate).map_err(|e| format!("[send] {e}"));
            problems.check("send.rate", parsed)
        });
        let rate = rate.or(preset.map(|p| p.rate));
        let zone = section.timezone.as_deref().map(Zone::parse);
        let zone = zone.and_then(|z| problems.check("send.timezone", z));
        let zone = zone.unwrap_or(Zone::Local);
        let spans: Vec<Span> = (section.window.iter())
            .filter_map(|span| problems.check("send.window", Span::parse(span)))
            .collect();
        let window = (!spans.is_empty()).then_some(SendWindow { spans, zone });
        let concurrency = section.concurrency.unwrap_or(4);
        let checked = check_concurrency(concurrency).map_err(|e| format!("[send] {e}"));
        problems.check("send.concurrency", checked);
        let throttle_pause = section.throttle_pause.unwrap_or(60);
        if throttle_pause == 0 {
            problems.add(
                "send.throttle_pause",
                "[send] throttle_pause must be at least 1 (seconds)",
            );
        }
        SendSettings {
            rate,
            concurrency,
            retries: section.retries.unwrap_or(3),
            daily_limit: section.daily_limit.or(preset.map(|p| p.daily_limit)),
            throttle_pause: Duration::from_secs(throttle_pause.max(1)),
            stop_after_rejections: match section.stop_after_rejections {
                Some(0) => None,
                n => Some(n.unwrap_or(STOP_AFTER_REJECTIONS)),
            },
            window,
            zone,
        }
    }
}

impl SendSettings {
    /// Applies the command line's `--rate` and `--concurrency`, refused (exit 2) as the same
    /// settings in campaign.toml would be, whether the run sends or is a dry run.
    pub fn override_with(&mut self, rate: Option<&str>, concurrency: Option<usize>) -> Result<()> {
        if let Some(rate) = rate {
            self.rate = Some(Rate::parse(rate).map_err(|e| invalid!("--rate: {e}"))?);
        }
        if let Some(n) = concurrency {
            check_concurrency(n).map_err(|e| invalid!("--concurrency: {e}"))?;
            self.concurrency = n;
        }
        Ok(())
    }
}

/// Concurrency must be 1..=256: more parallel sessions than that is a mistake with any relay.
pub fn check_concurrency(n: usize) -> Result<()> {
    if (1..=256).contains(&n) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "concurrency = {n} is out of range: use 1 to 256 parallel SMTP sessions"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_in_provider_terms() {
        let r = Rate::parse("10/s").unwrap();
        assert_eq!((r.count, r.per), (10, Duration::from_secs(1)));
        assert_eq!(
            Rate::parse("600/min").unwrap().interval(),
            Duration::from_millis(100)
        );
        assert_eq!(
            Rate::parse(" 3600 / h ").unwrap().interval(),
            Duration::from_secs(1)
        );
        for bad in ["10", "0/s", "ten/s", "10/day", "-1/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    fn smtp(port: Option<u16>, security: Option<&str>) -> Option<SmtpSettings> {
        let section = SmtpSection {
            host: "relay.example".into(),
            port,
            security: security.map(str::to_string),
            ..SmtpSection::default()
        };
        let mut problems = Problems::without_lines(std::path::Path::new("campaign.toml"));
        SmtpSettings::from_section(section, None, &mut problems)
    }

    #[test]
    fn security_follows_port_and_port_follows_security() {
        let s = smtp(Some(465), None).unwrap();
        assert_eq!(s.security, Security::Tls);
        assert_eq!(smtp(Some(587), None).unwrap().security, Security::StartTls);
        assert_eq!(smtp(Some(25), None).unwrap().security, Security::StartTls);
        assert_eq!(smtp(None, Some("tls")).unwrap().port, 465);
        assert_eq!(smtp(None, Some("starttls")).unwrap().port, 587);
        assert_eq!(smtp(None, Some("none")).unwrap().port, 25);
        assert!(smtp(None, Some("ssl")).is_none());
    }
}
