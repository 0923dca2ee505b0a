//! The SPF check: a TXT record starting with `v=spf1` at the From domain (the envelope sender is
//! the From address, so this is also the aligned SPF domain). Missing, more than one (a
//! permerror), or ending in `+all` → warning.

use super::{Dns, lookup_failed, zone_record};
use crate::check::Problem;

pub(super) async fn check(dns: &Dns, domain: &str, relay_hosts: &[&str]) -> Vec<Problem> {
    match dns.txt(domain).await {
        Ok(records) => spf_problems(domain, &records, relay_hosts),
        Err(e) => vec![lookup_failed("SPF", e)],
    }
}

/// What the TXT records at the From domain say about SPF; the relays' hosts go into the record
/// suggested when there is none.
pub fn spf_problems(domain: &str, records: &[String], relay_hosts: &[&str]) -> Vec<Problem> {
    let spf: Vec<&String> = records
        .iter()
        .filter(|r| {
            let lower = r.trim().to_ascii_lowercase();
            lower == "v=spf1" || lower.starts_with("v=spf1 ")
        })
        .collect();
    match spf.as_slice() {
        [] => {
            let mechanisms: Vec<String> = relay_hosts.iter().map(|h| format!("a:{h}")).collect();
            let (value, hint) = match mechanisms.join(" ") {
                a if !a.is_empty() => (
                    format!("v=spf1 {a} ~all"),
                    format!(
                        " (if your mail provider documents an include: for SPF, use it instead of \
                         {a})"
                    ),
                ),
                _ => (
                    "v=spf1 include:<your mail provider's SPF domain> ~all".to_string(),
                    String::new(),
                ),
            };
            vec![
                Problem::warning(format!("no SPF record at {domain}"))
                    .why(
                        "receivers cannot tell which servers may send for the domain; Gmail and \
                         Yahoo require SPF or DKIM from every sender, and both from bulk senders",
                    )
                    .fix(format!("publish {}{hint}", zone_record(domain, &value))),
            ]
        }
        [record] => {
            let last = record.split_whitespace().last().unwrap_or("");
            if last.eq_ignore_ascii_case("+all") || last.eq_ignore_ascii_case("all") {
                vec![
                    Problem::warning(format!(
                        "the SPF record at {domain} ends in {last}: any server may send as it"
                    ))
                    .why("an SPF record that allows everyone authenticates nothing")
                    .fix("end it with ~all (or -all) after the mechanisms of your real senders"),
                ]
            } else {
                vec![Problem::note(format!("SPF at {domain}: {record}"))]
            }
        }
        _ => vec![
            Problem::warning(format!(
                "{} SPF records at {domain}; SPF allows exactly one",
                spf.len()
            ))
            .why("with more than one v=spf1 record SPF evaluates to permerror, as if there were none")
            .fix("merge them into one v=spf1 record"),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spf_rules() {
        let none = spf_problems("acme.example", &["google-site-verification=x".into()], &[]);
        assert_eq!(none[0].severity, crate::check::Severity::Warning);
        assert!(none[0].fix.as_ref().unwrap().contains("\"v=spf1 include:"));
        let with_host = spf_problems("acme.example", &[], &["smtp.acme.example"]);
        assert!(
            with_host[0]
                .fix
                .as_ref()
                .unwrap()
                .contains("acme.example. IN TXT \"v=spf1 a:smtp.acme.example ~all\"")
        );
        let ok = spf_problems("acme.example", &["v=spf1 mx -all".into()], &[]);
        assert_eq!(ok[0].severity, crate::check::Severity::Note);
        let open = spf_problems("acme.example", &["v=spf1 +all".into()], &[]);
        assert_eq!(open[0].severity, crate::check::Severity::Warning);
        let two = spf_problems(
            "acme.example",
            &["v=spf1 mx -all".into(), "v=spf1 a -all".into()],
            &[],
        );
        assert!(two[0].text.contains("2 SPF records"));
    }
}
