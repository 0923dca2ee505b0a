//! The relays a send delivers through: `[smtp]` (one relay) or `[[smtp]]` (several: provider
//! accounts, or IPs being warmed up), each with its own credentials, share of the recipients
//! (`weight`), sessions, pace and daily limit. A relay's `name` is what the result log's `relay`
//! column says and what its password's variable is called, so with several relays each needs one.
//! How the workers spread recipients over them and take out a failing one is `send/relays.rs`'s
//! job; here the tables are only validated.

use std::path::Path;

use super::config::SmtpSection;
use super::problems::Problems;
use super::settings::{self, Rate, Secret, SmtpSettings, check_concurrency};
use super::{deliverability, paths};

/// A relay's name is at most this long (it goes into the in-flight record of every session).
pub const NAME_MAX: usize = 64;

/// One relay, validated.
#[derive(Debug, Clone)]
pub struct Relay {
    /// What the result log's `relay` column says: `name`, or the host when it has none.
    pub name: String,
    pub smtp: SmtpSettings,
    /// Its share of the recipients, against the other relays' weights.
    pub weight: u32,
    /// Sessions to this relay: its own `concurrency`, else `[send] concurrency`; the command
    /// line's `--concurrency` sets every relay's.
    pub concurrency: usize,
    /// Its own pace (on top of `[send] rate`, which paces all relays together).
    pub rate: Option<Rate>,
    /// Its own daily limit (on top of `[send] daily_limit`, which counts all relays).
    pub daily_limit: Option<u64>,
    /// The line of its `username` in campaign.toml, for a message about its password.
    pub username_line: Option<usize>,
}

/// The environment variable holding the password of the relay named `name` when there are
/// several: `CAMPAIGN_SMTP_PASSWORD_<NAME>`, upper case, `.` and `-` as `_`. One relay's is
/// `CAMPAIGN_SMTP_PASSWORD`.
pub fn password_var(name: &str, several: bool) -> String {
    if !several {
        return settings::PASSWORD_VAR.to_string();
    }
    let suffix = name.to_ascii_uppercase().replace(['.', '-'], "_");
    format!("{}_{suffix}", settings::PASSWORD_VAR)
}

/// `[smtp]` or the `[[smtp]]` tables validated, each problem noted at its line; the relays whose
/// tables hold no problem. `concurrency` is `[send]`'s, for the relays that do not set their own.
pub(super) fn relays(
    p: &mut Problems,
    dir: &Path,
    sections: Vec<SmtpSection>,
    concurrency: usize,
) -> Vec<Relay> {
    let several = sections.len() > 1;
    let mut relays: Vec<Relay> = Vec::new();
    for section in sections {
        let place = section.place.clone();
        let Some(relay) = relay(p, dir, section, several, concurrency) else {
            continue;
        };
        let var = password_var(&relay.name, true);
        if let Some(twin) = relays.iter().find(|r| password_var(&r.name, true) == var) {
            let message = format!(
                "[[smtp]] name = {:?} is already the name of another relay ({:?}): give each \
                 relay its own name (the result log tells them apart by it)",
                relay.name, twin.name
            );
            p.add(&format!("{place}.name"), message);
            continue;
        }
        relays.push(relay);
    }
    relays
}

/// One relay's table validated; `None` when it holds a problem (noted).
fn relay(
    p: &mut Problems,
    dir: &Path,
    mut section: SmtpSection,
    several: bool,
    concurrency: usize,
) -> Option<Relay> {
    let place = section.place.clone();
    let key = |k: &str| format!("{place}.{k}");
    let before = p.len();
    let name = section.name.take();
    if several && name.is_none() {
        let message = "[[smtp]] name is missing: with several relays each needs a name, for the \
                       result log's relay column and its password's variable; add name = \"…\"";
        p.add(&place, message);
    }
    if let Some(name) = &name {
        p.check(&key("name"), check_name(name));
    }
    let rate = section.rate.take().and_then(|rate| {
        let parsed = Rate::parse(&rate).map_err(|e| format!("[[smtp]] {e}"));
        p.check(&key("rate"), parsed)
    });
    let own_concurrency = section.concurrency.take();
    if let Some(n) = own_concurrency {
        let checked = check_concurrency(n).map_err(|e| format!("[[smtp]] {e}"));
        p.check(&key("concurrency"), checked);
    }
    let (weight, daily_limit) = (section.weight.take(), section.daily_limit.take());
    let username_line = p.line(&key("username"));
    let ca_file = (section.ca_file.as_deref())
        .and_then(|name| p.check(&key("ca_file"), paths::inside(dir, "[smtp] ca_file", name)));
    let mut smtp = SmtpSettings::from_section(section, ca_file, p)?;
    if p.len() > before {
        return None;
    }
    let name = name.unwrap_or_else(|| smtp.host.clone());
    if smtp.username.is_some() {
        let var = password_var(&name, several);
        smtp.password = deliverability::env_or_dotenv(dir, &var).map(Secret);
        smtp.password_var = var;
    }
    // Several relays: a preset's pace and daily limit are the relay's own (with one relay they
    // are `[send]`'s, as before).
    let preset = several.then_some(smtp.provider.as_ref()).flatten();
    Some(Relay {
        name,
        weight: weight.unwrap_or(1),
        concurrency: own_concurrency.unwrap_or(concurrency),
        rate: rate.or(preset.map(|p| p.rate)),
        daily_limit: daily_limit.or(preset.map(|p| p.daily_limit)),
        username_line,
        smtp,
    })
}

/// A name the result log and a variable name can carry: letters, digits, `.`, `-`, `_`.
fn check_name(name: &str) -> Result<(), String> {
    let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    if name.is_empty() || name.len() > NAME_MAX || !name.chars().all(fine) {
        return Err(format!(
            "[smtp] name = {name:?} is not usable: write 1 to {NAME_MAX} letters, digits, `.`, `-` \
             or `_` (it goes into the result log and the password's variable name)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP: &str = "subject = \"x\"\nfrom = \"a@a.example\"\n";

    /// The relays of a campaign.toml, or its problems.
    fn read(tables: &str) -> Result<Vec<Relay>, String> {
        let source = format!("{TOP}{tables}");
        let (file, mut p) = super::super::config::read(&source, Path::new("c.toml")).unwrap();
        let read = relays(&mut p, Path::new("."), file.smtp, 4);
        p.finish().map(|()| read).map_err(|e| e.to_string())
    }

    #[test]
    fn several_relays_with_their_own_share_sessions_and_limits() {
        let relays = read(
            "[[smtp]]\nname = \"a\"\nhost = \"h1\"\nweight = 3\nrate = \"5/s\"\n\
             [[smtp]]\nname = \"b\"\nprovider = \"ses:eu-west-1\"\nconcurrency = 2\n",
        )
        .unwrap();
        let (a, b) = (&relays[0], &relays[1]);
        assert_eq!((a.name.as_str(), a.weight, a.concurrency), ("a", 3, 4));
        assert_eq!(a.rate, Some(Rate::parse("5/s").unwrap()));
        assert_eq!((b.weight, b.concurrency), (1, 2));
        assert_eq!(b.smtp.host, "email-smtp.eu-west-1.amazonaws.com");
        assert_eq!(b.daily_limit, Some(200), "the preset's, as the relay's own");
        let one = read("[smtp]\nhost = \"relay.example\"\n").unwrap();
        assert_eq!((one[0].name.as_str(), one[0].weight), ("relay.example", 1));
    }

    #[test]
    fn every_relay_problem_at_its_line() {
        let e = read(
            "[[smtp]]\nhost = \"h1\"\nweight = 0\n\
             [[smtp]]\nname = \"b\"\nhost = \"h2\"\nwieght = 2\n\
             [[smtp]]\nname = \"B\"\nhost = \"h3\"\n",
        )
        .unwrap_err();
        for wanted in [
            "c.toml:3: [[smtp]] name is missing",
            "c.toml:5: [smtp] weight must be a whole number from 1",
            "c.toml:9: unknown key `wieght` in [[smtp]]: did you mean `weight`?",
            "c.toml:11: [[smtp]] name = \"B\" is already the name of another relay (\"b\")",
        ] {
            assert!(e.contains(wanted), "{wanted}\nin:\n{e}");
        }
        let e = read("[smtp]\nhost = \"h\"\nweight = 2\n").unwrap_err();
        assert!(
            e.contains("unknown key `weight` in [smtp]: `weight` belongs in [[smtp]] tables"),
            "{e}"
        );
    }

    #[test]
    fn each_relay_has_its_own_password_variable() {
        assert_eq!(password_var("ses", false), "CAMPAIGN_SMTP_PASSWORD");
        assert_eq!(password_var("ses", true), "CAMPAIGN_SMTP_PASSWORD_SES");
        assert_eq!(
            password_var("warm-ip.2", true),
            "CAMPAIGN_SMTP_PASSWORD_WARM_IP_2"
        );
    }

    #[test]
    fn names_are_short_plain_words() {
        assert!(check_name("sendgrid-2").is_ok());
        for bad in ["", "a b", "x,y", "é", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
