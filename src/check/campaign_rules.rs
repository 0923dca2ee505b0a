//! Deliverability lints on campaign.toml alone (the content rules, on every rendered message,
//! are in [`super::lint`]).
//!
//! * **no `[dkim]`**, a DKIM `domain` **not aligned** with the From domain (each such key), or
//!   **Ed25519 as the only algorithm** (many receivers, SpamAssassin among them, verify only RSA;
//!   RFC 8463 §4 says to sign with both). Alignment is DMARC's
//!   relaxed mode, simplified: the two domains are equal, or one is a subdomain of the other
//!   (a suffix on a label boundary: `mail.acme.example` and `acme.example` align,
//!   `notacme.example` and `acme.example` do not). Public suffixes are not consulted.
//! * **From is a no-reply address and there is no `reply_to`**: the local part, lower-cased,
//!   without `.`, `-`, `_` and any `+tag`, starts with `noreply` or `donotreply`.
//! * **`[send] rate` or `daily_limit` over the `[smtp] provider`'s documented limit**: the
//!   provider defers or refuses what is over, or suspends the account.

use crate::campaign::{Campaign, DkimAlgorithm, DkimSettings, providers};

use super::Problem;

/// The rules that depend on campaign.toml only.
pub fn campaign_lints(campaign: &Campaign) -> Vec<Problem> {
    let mut problems = Vec::new();
    let from_domain = campaign.from_domain().to_ascii_lowercase();
    problems.extend(dkim_lints(campaign, &from_domain));
    if is_no_reply(campaign.from.email.user()) && campaign.reply_to.is_none() {
        problems.push(
            Problem::warning(format!(
                "From is a no-reply address ({}) and there is no reply_to",
                campaign.from.email
            ))
            .why(
                "replies from readers bounce or are lost; providers' sender guidelines ask that \
                 recipients can reply, and replies are a strong positive signal for the inbox",
            )
            .fix(format!(
                "set reply_to = \"Support <support@{from_domain}>\" in campaign.toml (a monitored \
                 address), or send from one"
            )),
        );
    }
    problems.extend(provider_lints(campaign));
    problems
}

/// For each relay with a `provider`: a note of what the preset and the file came to (`check`
/// makes no connection, so this is where the user sees the host a preset chose), and a warning for
/// each of the rate and daily limit over the preset's numbers (one relay's are `[send]`'s, each of
/// several relays' its own).
fn provider_lints(campaign: &Campaign) -> Vec<Problem> {
    let several = campaign.relays.len() > 1;
    let mut problems = Vec::new();
    for relay in &campaign.relays {
        let Some(preset) = relay.smtp.provider.as_ref() else {
            continue;
        };
        let (rate, daily, table) = match several {
            false => (campaign.send.rate, campaign.send.daily_limit, "[send]"),
            true => (relay.rate, relay.daily_limit, "its [[smtp]] table"),
        };
        let smtp = &relay.smtp;
        let shown_rate = rate.map_or("none".into(), providers::show_rate);
        let shown_daily = daily.map_or("none".into(), |d| d.to_string());
        let relay_name = if several {
            format!("relay {}: ", relay.name)
        } else {
            String::new()
        };
        problems.push(Problem::note(format!(
            "{relay_name}provider {}: {}:{} {}, rate {shown_rate}, daily_limit {shown_daily} (keys \
             in campaign.toml win over the preset)",
            preset.name,
            smtp.host,
            smtp.port,
            smtp.security.name()
        )));
        let over = preset.over_limits(rate, daily);
        problems.extend(over.into_iter().map(|text| {
            Problem::warning(format!("{relay_name}{text}"))
                .why(format!(
                    "{} defers or refuses mail over its limits, and may suspend the account; the \
                     README's provider table gives the source of each number",
                    preset.name
                ))
                .fix(format!(
                    "lower it in {table} (or leave it out: the preset's number is the default), \
                     unless your plan allows more"
                ))
        }));
    }
    problems
}

/// No key, a key not aligned with the From domain (each such key), Ed25519 as the only algorithm.
fn dkim_lints(campaign: &Campaign, from_domain: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    if campaign.dkim.is_empty() {
        problems.push(
            Problem::warning("no [dkim] section: messages are not DKIM-signed")
                .why(
                    "Gmail and Yahoo require bulk mail to be authenticated, and DMARC passes only \
                     with a DKIM signature (or SPF) aligned with the From domain; unsigned mail \
                     goes to spam or is rejected",
                )
                .fix(format!(
                    "add to campaign.toml: [dkim] domain = \"{from_domain}\", selector = \"campaign\", \
                     private_key = \"dkim.pem\" (or set CAMPAIGN_DKIM_KEY), then publish the public \
                     key: `campaign check --dns` prints the record"
                )),
        );
        return problems;
    }
    for dkim in campaign
        .dkim
        .iter()
        .filter(|d| !aligned(&d.domain, from_domain))
    {
        problems.push(
            Problem::warning(format!(
                "the DKIM domain d={} is not aligned with the From domain {from_domain}",
                dkim.domain
            ))
            .why(
                "DMARC counts a DKIM signature only if its d= domain is the From domain or a \
                 parent or subdomain of it (relaxed alignment); this signature does not make DMARC \
                 pass",
            )
            .fix(format!(
                "sign with [dkim] domain = \"{from_domain}\" (or a parent or subdomain of it), or \
                 send from an address at {}",
                dkim.domain
            )),
        );
    }
    if campaign
        .dkim
        .iter()
        .all(|d| d.algorithm == DkimAlgorithm::Ed25519Sha256)
    {
        problems.push(ed25519_only(&campaign.dkim[0]));
    }
    problems
}

/// Every key is Ed25519: receivers that verify only RSA see no valid signature.
fn ed25519_only(key: &DkimSettings) -> Problem {
    Problem::warning(
        "every DKIM key is Ed25519: SpamAssassin and many receivers verify only RSA: add an RSA \
         key too (RFC 8463 §4)",
    )
    .why(
        "SpamAssassin (Mail::DKIM) reports an Ed25519 signature as DKIM_INVALID (UNSUPPORTED \
         ALGORITHM ED25519-SHA256), and receivers without Ed25519 support treat the mail as \
         unsigned, so DMARC fails there; RFC 8463 §4 says to sign with both algorithms",
    )
    .fix(format!(
        "make an RSA key (`openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out \
         keys/rsa.pem`) and list both keys as [[dkim]] tables: [[dkim]] domain = \"{}\", \
         selector = \"{}-rsa\", private_key = \"keys/rsa.pem\"; then publish its record \
         (`campaign check --dns` prints it)",
        key.domain, key.selector
    ))
}

/// DMARC relaxed alignment, simplified: equal, or one a subdomain of the other.
pub fn aligned(a: &str, b: &str) -> bool {
    let a = a.trim_end_matches('.').to_ascii_lowercase();
    let b = b.trim_end_matches('.').to_ascii_lowercase();
    let sub = |long: &str, short: &str| {
        long.strip_suffix(short)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1)
    };
    !a.is_empty() && (a == b || sub(&a, &b) || sub(&b, &a))
}

/// Whether an address's local part is a no-reply one (noreply, no-reply, do_not_reply, …).
pub fn is_no_reply(local: &str) -> bool {
    let local = local.split('+').next().unwrap_or(local);
    let squashed: String = local
        .chars()
        .filter(|c| !matches!(c, '.' | '-' | '_'))
        .collect::<String>()
        .to_lowercase();
    squashed.starts_with("noreply") || squashed.starts_with("donotreply")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_is_a_suffix_on_a_label_boundary() {
        assert!(aligned("acme.example", "acme.example"));
        assert!(aligned("ACME.example.", "acme.example"));
        assert!(aligned("mail.acme.example", "acme.example"));
        assert!(aligned("acme.example", "news.acme.example"));
        assert!(!aligned("notacme.example", "acme.example"));
        assert!(!aligned("other.example", "acme.example"));
        assert!(!aligned("", "acme.example"));
    }

    #[test]
    fn no_reply_local_parts() {
        for local in [
            "noreply",
            "no-reply",
            "No_Reply",
            "donotreply",
            "do-not-reply",
            "do.not.reply",
            "noreply+news",
            "no-reply-news",
        ] {
            assert!(is_no_reply(local), "{local}");
        }
        for local in ["news", "reply", "info", "nora"] {
            assert!(!is_no_reply(local), "{local}");
        }
    }
}
