//! The DMARC check: the `v=DMARC1` TXT record at `_dmarc.<From domain>`, or, as in DMARCbis' tree
//! walk, at the closest parent domain that has one. Missing → warning with a `p=none` record to
//! publish; found → a note with the policy (`sp=` for a subdomain that inherits it); `adkim=s`
//! with a DKIM domain other than the From domain → warning.

use super::{Dns, lookup_failed, tag, tags, zone_record};
use crate::check::Problem;

pub(super) async fn check(dns: &Dns, from: &str, dkim_domain: Option<&str>) -> Vec<Problem> {
    // The From domain first, then each parent with at least two labels, at most 8 lookups.
    let labels: Vec<&str> = from.split('.').collect();
    let candidates: Vec<String> = (0..labels.len().saturating_sub(1))
        .map(|i| labels[i..].join("."))
        .take(8)
        .collect();
    for domain in &candidates {
        let name = format!("_dmarc.{domain}");
        match dns.txt(&name).await {
            Ok(records) => {
                let dmarc: Vec<&String> = records
                    .iter()
                    .filter(|r| {
                        let lower = r.trim_start().to_ascii_lowercase();
                        lower.starts_with("v=dmarc1") && {
                            let rest = lower["v=dmarc1".len()..].trim_start();
                            rest.is_empty() || rest.starts_with(';')
                        }
                    })
                    .collect();
                if !dmarc.is_empty() {
                    return dmarc_problems(&name, from, domain != from, &dmarc, dkim_domain);
                }
            }
            Err(e) => return vec![lookup_failed("DMARC", e)],
        }
    }
    vec![
        Problem::warning(format!("no DMARC record at _dmarc.{from}"))
            .why(
                "Gmail and Yahoo require a DMARC record (p=none at least) from bulk senders, and \
                 without one anybody can send mail that claims to come from the domain",
            )
            .fix(format!(
                "publish {} (start with p=none, read the reports, then move to p=quarantine)",
                zone_record(
                    &format!("_dmarc.{from}"),
                    &format!("v=DMARC1; p=none; rua=mailto:dmarc-reports@{from}")
                )
            )),
    ]
}

/// What the DMARC record(s) found at `name` say.
pub fn dmarc_problems(
    name: &str,
    from: &str,
    inherited: bool,
    records: &[&String],
    dkim_domain: Option<&str>,
) -> Vec<Problem> {
    if records.len() > 1 {
        return vec![
            Problem::warning(format!(
                "{} DMARC records at {name}; receivers ignore them all",
                records.len()
            ))
            .fix("keep exactly one v=DMARC1 record"),
        ];
    }
    let record = records[0];
    let tags = tags(record);
    let policy = if inherited {
        tag(&tags, "sp").or(tag(&tags, "p"))
    } else {
        tag(&tags, "p")
    };
    let mut problems = Vec::new();
    match policy.map(str::to_ascii_lowercase).as_deref() {
        Some(p @ ("none" | "quarantine" | "reject")) => {
            let whose = if inherited {
                format!("{from} (inherited from {name})")
            } else {
                name.to_string()
            };
            problems.push(Problem::note(format!("DMARC at {whose}: policy p={p}")));
        }
        Some(other) => problems.push(
            Problem::warning(format!("the DMARC record at {name} has p={other}"))
                .why("receivers ignore a DMARC record whose policy is not none, quarantine or reject")
                .fix("set p=none, p=quarantine or p=reject"),
        ),
        None => problems.push(
            Problem::warning(format!("the DMARC record at {name} has no p= policy"))
                .why("a DMARC record without p= is treated as p=none at best, or ignored")
                .fix(format!("add p=none (e.g. {})", zone_record(name, "v=DMARC1; p=none"))),
        ),
    }
    if let Some(dkim) = dkim_domain
        && tag(&tags, "adkim").is_some_and(|a| a.eq_ignore_ascii_case("s"))
        && !dkim.trim_end_matches('.').eq_ignore_ascii_case(from)
    {
        problems.push(
            Problem::warning(format!(
                "the DMARC record at {name} asks for strict DKIM alignment (adkim=s), but the \
                 DKIM domain {dkim} is not the From domain {from}"
            ))
            .why("with adkim=s only a signature with d= equal to the From domain counts")
            .fix(format!(
                "sign with [dkim] domain = \"{from}\", or remove adkim=s"
            )),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmarc_policies() {
        let record = "v=DMARC1; p=reject; sp=quarantine; adkim=s".to_string();
        let own = dmarc_problems(
            "_dmarc.acme.example",
            "acme.example",
            false,
            &[&record],
            Some("acme.example"),
        );
        assert_eq!(own.len(), 1);
        assert!(own[0].text.ends_with("policy p=reject"), "{own:?}");
        let inherited = dmarc_problems(
            "_dmarc.acme.example",
            "news.acme.example",
            true,
            &[&record],
            Some("acme.example"),
        );
        assert!(inherited[0].text.contains("p=quarantine"), "{inherited:?}");
        assert!(inherited[1].text.contains("adkim=s"), "{inherited:?}");
    }
}
