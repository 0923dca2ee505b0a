//! The send plan: what `campaign run` is about to do, shown on a terminal before anything is sent
//! so that the person at the keyboard can say yes or no (`--yes` answers for them; a run that is
//! not on a terminal never asks, so cron never hangs). It is counted from the same decisions the
//! send makes (result log, `--retry-*`, suppression, `--limit`, `daily_limit`), in one extra
//! pass over the CSV that only an interactive run pays for.

use std::time::Duration;

use crate::campaign::recipients::{plural, thousands};
use crate::campaign::{Campaign, RecipientList, Row, Security};
use crate::error::Result;
use crate::pipeline::Decision;

/// What a send is about to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Messages this run will send (after `--limit` and `daily_limit`).
    pub messages: u64,
    /// Recipients the result log says are handled, not sent again.
    pub already_handled: u64,
    pub suppressed: u64,
    /// Rows skipped for another reason (invalid, duplicate, …).
    pub skipped: u64,
    /// Messages left for a later run because of `--limit` or `daily_limit`.
    pub left_for_later: u64,
    /// `host:port (security)`.
    pub server: String,
    pub user: Option<String>,
    pub rate: Option<crate::campaign::Rate>,
    /// With `--shard`: how much of the list is this shard's (the counts above are of its rows).
    pub shard: Option<crate::shard::ShardRows>,
}

/// Counts the plan: each row as the send's own `decide` would take it.
pub fn count(
    campaign: &Campaign,
    recipients: &RecipientList,
    limit: Option<u64>,
    shard: Option<crate::shard::ShardRows>,
    decide: &dyn Fn(&crate::campaign::Recipient) -> Decision,
) -> Result<Plan> {
    let mut plan = Plan {
        messages: 0,
        already_handled: 0,
        suppressed: 0,
        skipped: 0,
        left_for_later: 0,
        server: server(campaign),
        user: match campaign.relays.as_slice() {
            [one] => one.smtp.username.clone(),
            _ => None,
        },
        rate: pace(campaign),
        shard,
    };
    let in_shard = |row: &Row| crate::shard::Shard::takes_row(shard.map(|s| s.shard), row);
    for row in recipients.reader()? {
        match row? {
            row if !in_shard(&row) => {}
            Row::Skipped(_) => plan.skipped += 1,
            Row::Recipient(r) => match decide(&r) {
                Decision::AlreadyDone => plan.already_handled += 1,
                Decision::Skip(_) => plan.suppressed += 1,
                Decision::Deliver | Decision::Resend(_) => plan.messages += 1,
            },
        }
    }
    if let Some(limit) = limit.filter(|&l| l < plan.messages) {
        plan.left_for_later = plan.messages - limit;
        plan.messages = limit;
    }
    Ok(plan)
}

/// The pace a send keeps at most: `[send] rate`, or slower when a relay's own rate holds its share
/// back (the shares are fixed: a relay paced at r/s with weight w of W lets the whole send go at
/// most r·W/w a second).
fn pace(campaign: &Campaign) -> Option<crate::campaign::Rate> {
    let overall = campaign.send.rate;
    let total: f64 = campaign.relays.iter().map(|r| f64::from(r.weight)).sum();
    let by_relays = (campaign.relays.iter())
        .filter_map(|r| Some(r.rate?.per_second() * total / f64::from(r.weight)))
        .min_by(f64::total_cmp);
    match (overall, by_relays) {
        (Some(rate), Some(relays)) if rate.per_second() <= relays => Some(rate),
        (_, Some(relays)) => Some(crate::campaign::Rate {
            count: ((relays * 60.0).round() as u32).max(1),
            per: Duration::from_secs(60),
        }),
        (overall, None) => overall,
    }
}

/// `host:port (security)`, or with several relays each one's name, server, user and weight.
fn server(campaign: &Campaign) -> String {
    let shown = |s: &crate::campaign::SmtpSettings| {
        let security = match s.security {
            Security::None => "no TLS",
            Security::StartTls => "STARTTLS",
            Security::Tls => "TLS",
        };
        format!("{}:{} ({security})", s.host, s.port)
    };
    match campaign.relays.as_slice() {
        [] => String::new(),
        [one] => shown(&one.smtp),
        several => {
            let each: Vec<String> = (several.iter())
                .map(|r| {
                    let user =
                        (r.smtp.username.as_ref()).map_or(String::new(), |u| format!(" as {u}"));
                    format!("{} = {}{user}, weight {}", r.name, shown(&r.smtp), r.weight)
                })
                .collect();
            format!("{} relays ({})", several.len(), each.join("; "))
        }
    }
}

impl Plan {
    /// How long the messages take at the rate limit (`None` without one).
    pub fn estimated(&self) -> Option<Duration> {
        let rate = self.rate?;
        let per_message = rate.per.as_secs_f64() / f64::from(rate.count.max(1));
        Some(Duration::from_secs_f64(per_message * self.messages as f64))
    }
}

impl std::fmt::Display for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(shard) = &self.shard {
            writeln!(f, "This is {shard}.")?;
        }
        write!(
            f,
            "About to send {} to {}",
            plural(self.messages, "message", "messages"),
            self.server
        )?;
        if let Some(user) = &self.user {
            write!(f, " as {user}")?;
        }
        match (self.rate, self.estimated()) {
            (Some(rate), Some(time)) => write!(
                f,
                ", at most {} per {}s (about {})",
                rate.count,
                rate.per.as_secs(),
                duration(time)
            )?,
            _ => write!(f, ", with no rate limit")?,
        }
        write!(
            f,
            ".\n{} already handled by earlier runs, {} suppressed, {} skipped",
            thousands(self.already_handled),
            thousands(self.suppressed),
            thousands(self.skipped)
        )?;
        if self.left_for_later > 0 {
            write!(
                f,
                ", {} left for a later run (--limit or daily_limit)",
                thousands(self.left_for_later)
            )?;
        }
        write!(f, ".")
    }
}

/// `45 s`, `12 min`, `3 h 20 min`.
fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0..=89 => format!("{} s", secs.max(1)),
        90..=5399 => format!("{} min", (secs + 30) / 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600 + 30) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_says_what_how_fast_and_what_is_left_out() {
        let plan = Plan {
            messages: 1200,
            already_handled: 300,
            suppressed: 2,
            skipped: 1,
            left_for_later: 50,
            server: "smtp.acme.example:587 (STARTTLS)".into(),
            user: Some("news".into()),
            rate: Some(crate::campaign::Rate {
                count: 10,
                per: Duration::from_secs(1),
            }),
            shard: None,
        };
        assert_eq!(
            plan.to_string(),
            "About to send 1,200 messages to smtp.acme.example:587 (STARTTLS) as news, at most 10 \
             per 1s (about 2 min).\n300 already handled by earlier runs, 2 suppressed, 1 skipped, \
             50 left for a later run (--limit or daily_limit)."
        );
        assert_eq!(duration(Duration::from_secs(12_000)), "3 h 20 min");
    }
}
