//! Provider presets: `[smtp] provider = "gmail"` fills the host, port and security of a well-known
//! relay, and `[send]`'s rate and daily limit with conservative numbers from the provider's own
//! documentation (the README's "Provider presets" table names the page each number comes from).
//! Keys written in campaign.toml win over the preset. `check` warns when a configured rate or
//! daily limit is over the preset's ([`Preset::over_limits`]), and a refused AUTH adds the
//! provider's password rule ([`Preset::password_hint`]).

use std::time::Duration;

use super::config::SmtpSection;
use super::settings::{Rate, Security};

/// One provider's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    /// As written after `provider =`: `gmail`, `ses:eu-west-1`.
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// The documented (or, where none is published, our conservative) sending rate.
    pub rate: Rate,
    /// The documented daily cap of the smallest plan.
    pub daily_limit: u64,
    /// The username every account uses (SendGrid: literally `apikey`).
    pub username: Option<&'static str>,
    /// What the password is, printed when AUTH is refused.
    pub password_hint: Option<&'static str>,
}

/// `(name, host, port, security, messages, per seconds, per day, username, password rule)`.
type Row = (
    &'static str,
    &'static str,
    u16,
    Security,
    u32,
    u64,
    u64,
    Option<&'static str>,
    Option<&'static str>,
);

const AUTH_CODE: &str = "the password is the mailbox's authorization code (授权码, generated in the \
     web mail's settings under POP3/SMTP/IMAP once SMTP is switched on), not the login password";

/// The presets. Sources in the README table; `ses:REGION` is built by [`find`].
#[rustfmt::skip]
const PRESETS: &[Row] = &[
    ("gmail", "smtp.gmail.com", 587, Security::StartTls, 20, 60, 500, None,
     Some("Gmail takes an app password (Google Account → Security → 2-Step Verification → App passwords), not the account password")),
    ("outlook", "smtp-mail.outlook.com", 587, Security::StartTls, 30, 60, 10_000, None,
     Some("Outlook.com and Microsoft 365 need SMTP AUTH enabled for the mailbox, and an app password when two-step verification is on")),
    ("qq", "smtp.qq.com", 465, Security::Tls, 10, 60, 500, None, Some(AUTH_CODE)),
    ("163", "smtp.163.com", 465, Security::Tls, 10, 60, 200, None, Some(AUTH_CODE)),
    ("126", "smtp.126.com", 465, Security::Tls, 10, 60, 200, None, Some(AUTH_CODE)),
    ("aliyun", "smtpdm.aliyun.com", 465, Security::Tls, 1, 1, 200, None,
     Some("DirectMail takes the SMTP password set for the sender address in the DirectMail console, and the username is that full sender address")),
    ("sendgrid", "smtp.sendgrid.net", 587, Security::StartTls, 10, 1, 100, Some("apikey"),
     Some("SendGrid takes the username \"apikey\" (literally) and an API key as the password")),
    ("mailgun", "smtp.mailgun.org", 587, Security::StartTls, 10, 1, 100, None,
     Some("Mailgun takes the SMTP credentials of the sending domain (Domain settings → SMTP credentials), not the API key")),
    ("postmark", "smtp.postmarkapp.com", 587, Security::StartTls, 10, 1, 100, None,
     Some("Postmark takes a Server API token as both the username and the password")),
    ("zoho", "smtp.zoho.com", 465, Security::Tls, 10, 60, 500, None,
     Some("Zoho takes an application-specific password when two-factor authentication is on")),
];

/// Every name `provider` takes, as the error lists them.
#[rustfmt::skip]
pub const NAMES: &[&str] = &[
    "gmail", "outlook", "qq", "163", "126", "aliyun", "ses:REGION", "sendgrid", "mailgun",
    "postmark", "zoho",
];

/// The preset called `name`, or what to say about it (with the closest name).
pub fn find(name: &str) -> Result<Preset, String> {
    let wanted = name.trim().to_ascii_lowercase();
    if let Some(region) = wanted.strip_prefix("ses:") {
        return ses(name, region);
    }
    if let Some(row) = PRESETS.iter().find(|row| row.0 == wanted) {
        return Ok(preset(name, row, row.1.to_string()));
    }
    let names: Vec<&str> = PRESETS.iter().map(|row| row.0).chain(["ses"]).collect();
    let hint = match super::did_you_mean::closest(&wanted, &names) {
        Some("ses") => " did you mean \"ses:REGION\", like \"ses:us-east-1\"?".to_string(),
        Some(best) => format!(" did you mean \"{best}\"?"),
        None => format!(" use one of {}", NAMES.join(", ")),
    };
    Err(format!(
        "[smtp] provider = {name:?} is not a known provider:{hint} (or leave provider out and set \
         host, port and security)"
    ))
}

/// Amazon SES in `region`: the sandbox limits (1 message a second, 200 a day), which every new
/// account starts with.
fn ses(name: &str, region: &str) -> Result<Preset, String> {
    if !is_region(region) {
        return Err(format!(
            "[smtp] provider = {name:?}: {region:?} is not an AWS region; write it like \
             \"ses:us-east-1\" or \"ses:eu-west-1\""
        ));
    }
    let host = format!("email-smtp.{region}.amazonaws.com");
    let row: Row = (
        "ses",
        "",
        587,
        Security::StartTls,
        1,
        1,
        200,
        None,
        Some(
            "SES takes SMTP credentials made in the SES console (SMTP settings → Create SMTP \
             credentials), not the IAM access key itself",
        ),
    );
    Ok(preset(name, &row, host))
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: lower-case words and a number, by dashes.
fn is_region(region: &str) -> bool {
    let parts: Vec<&str> = region.split('-').collect();
    let (last, words) = parts.split_last().expect("split gives one part at least");
    parts.len() >= 3
        && !last.is_empty()
        && last.bytes().all(|b| b.is_ascii_digit())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
}

fn preset(name: &str, row: &Row, host: String) -> Preset {
    let &(_, _, port, security, count, per, daily_limit, username, password_hint) = row;
    Preset {
        name: name.trim().to_string(),
        host,
        port,
        security,
        rate: Rate {
            count,
            per: Duration::from_secs(per),
        },
        daily_limit,
        username,
        password_hint,
    }
}

impl Preset {
    /// Fills the `[smtp]` keys the file left out: host, port, security, username. A port or a
    /// security written alone keeps the other consistent (as without a preset), so a preset's
    /// port is taken only when neither is written.
    pub(super) fn fill(&self, section: &mut SmtpSection) {
        if section.host.trim().is_empty() {
            section.host = self.host.clone();
        }
        if section.port.is_none() && section.security.is_none() {
            section.port = Some(self.port);
            section.security = Some(self.security.name().to_string());
        }
        if section.username.is_none() {
            section.username = self.username.map(str::to_string);
        }
    }

    /// What a configured `rate` and `daily_limit` exceed of this preset's numbers, one line each.
    pub fn over_limits(&self, rate: Option<Rate>, daily_limit: Option<u64>) -> Vec<String> {
        let mut over = Vec::new();
        if let Some(rate) = rate.filter(|r| r.per_second() > self.rate.per_second() * 1.0001) {
            over.push(format!(
                "[send] rate {} is over {}'s documented {}",
                show_rate(rate),
                self.name,
                show_rate(self.rate)
            ));
        }
        if let Some(daily) = daily_limit.filter(|&d| d > self.daily_limit) {
            over.push(format!(
                "[send] daily_limit {daily} is over {}'s documented {} a day",
                self.name, self.daily_limit
            ));
        }
        over
    }
}

/// `20/min`, as campaign.toml writes a rate.
pub fn show_rate(rate: Rate) -> String {
    match rate.per.as_secs() {
        1 => format!("{}/s", rate.count),
        60 => format!("{}/min", rate.count),
        3600 => format!("{}/h", rate.count),
        s => format!("{}/{s}s", rate.count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_fill_host_port_and_security() {
        let gmail = find("gmail").unwrap();
        assert_eq!(
            (gmail.host.as_str(), gmail.port, gmail.security),
            ("smtp.gmail.com", 587, Security::StartTls)
        );
        let qq = find("QQ").unwrap();
        assert_eq!((qq.host.as_str(), qq.port), ("smtp.qq.com", 465));
        assert!(qq.password_hint.unwrap().contains("authorization code"));
        assert_eq!(find("sendgrid").unwrap().username, Some("apikey"));
        let ses = find("ses:eu-west-1").unwrap();
        assert_eq!(ses.host, "email-smtp.eu-west-1.amazonaws.com");
        assert_eq!((ses.rate.count, ses.daily_limit), (1, 200));
    }

    #[test]
    fn bad_names_get_a_suggestion() {
        assert!(
            find("gmial")
                .unwrap_err()
                .contains("did you mean \"gmail\"?")
        );
        assert!(find("sess").unwrap_err().contains("\"ses:REGION\""));
        assert!(
            find("ses:useast1")
                .unwrap_err()
                .contains("not an AWS region")
        );
        assert!(find("ses:").is_err());
        assert!(find("fastmail").unwrap_err().contains("use one of gmail"));
        assert!(find("ses:us-gov-west-1").is_ok());
    }

    #[test]
    fn over_limits_names_each_number() {
        let ses = find("ses:us-east-1").unwrap();
        let fast = Rate::parse("5/s").ok();
        let over = ses.over_limits(fast, Some(1000));
        assert_eq!(over.len(), 2, "{over:?}");
        assert!(over[0].contains("5/s is over ses:us-east-1's documented 1/s"));
        assert!(
            ses.over_limits(Rate::parse("60/min").ok(), Some(200))
                .is_empty()
        );
    }
}
