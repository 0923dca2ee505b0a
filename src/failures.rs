//! What failed in a send, grouped for the summary: by reply code and reason (the recipient's
//! address taken out, since relays quote it), each group with its count, its first addresses, and
//! whether sending again can help. A relay rejecting 10,000 addresses with the same `550` is one
//! line, not 10,000, and the advice fits the failure: `--retry-failed` is offered only for
//! failures that were temporary, never for a permanent rejection or a message that could not be
//! rendered (the same data would fail again).

use std::sync::{Mutex, PoisonError};

/// At most this many distinct groups are kept; later ones are counted in the last group.
const MAX_GROUPS: usize = 50;
/// Addresses kept per group, to show.
const EXAMPLES: usize = 3;

/// Why a recipient failed, as far as what to do about it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The relay refused it for good (5xx), or cannot take the address at all: sending again as it
    /// stands fails again.
    Permanent,
    /// The relay kept answering "not now" (4xx, a dropped session) until the retries ran out:
    /// `--retry-failed` may get it through later.
    Temporary,
    /// The message could not be rendered from this row: the template or the data needs fixing.
    NotRendered,
}

/// One group of failures with the same code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub kind: Kind,
    pub code: Option<u16>,
    /// The reply or reason, the recipient's address taken out.
    pub reason: String,
    pub count: u64,
    /// The first addresses, at most [`EXAMPLES`].
    pub examples: Vec<String>,
    /// Their CSV lines, where known (a dry run's).
    pub lines: Vec<u64>,
}

/// The failures of one run, recorded by the workers as they happen.
#[derive(Debug, Default)]
pub struct Failures {
    groups: Mutex<Vec<Group>>,
}

impl Failures {
    /// Records that `email` failed: `kind`, the reply code if there was one, and the reason.
    pub fn record(&self, kind: Kind, code: Option<u16>, reason: &str, email: &str) {
        self.record_row(kind, code, reason, email, None);
    }

    /// [`Failures::record`] with the recipient's CSV line, when known.
    pub fn record_row(
        &self,
        kind: Kind,
        code: Option<u16>,
        reason: &str,
        email: &str,
        line: Option<u64>,
    ) {
        let reason = without_line(&without_address(reason, email));
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        let found = groups
            .iter()
            .position(|g| g.kind == kind && g.code == code && g.reason == reason);
        let index = match found {
            Some(i) => i,
            None if groups.len() < MAX_GROUPS => {
                groups.push(Group {
                    kind,
                    code,
                    reason,
                    count: 0,
                    examples: Vec::new(),
                    lines: Vec::new(),
                });
                groups.len() - 1
            }
            None => groups.len() - 1,
        };
        let group = &mut groups[index];
        group.count += 1;
        if group.examples.len() < EXAMPLES {
            group.examples.push(email.to_string());
            group.lines.extend(line);
        }
    }

    /// The groups, most recipients first.
    pub fn groups(&self) -> Vec<Group> {
        let mut groups = self
            .groups
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        groups.sort_by_key(|g| std::cmp::Reverse(g.count));
        groups
    }
}

/// A reply text with the recipient's address (in any case) taken out, since relays often quote
/// it: so that one rejection given to many addresses is one group.
pub fn without_address(text: &str, email: &str) -> String {
    if email.is_empty() {
        return text.trim().to_string();
    }
    let lower = text.to_ascii_lowercase();
    let address = email.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = 0;
    for (at, _) in lower.match_indices(&address) {
        out.push_str(&text[rest..at]);
        out.push_str("<address>");
        rest = at + address.len();
    }
    out.push_str(&text[rest..]);
    out.trim().to_string()
}

/// A reason without the CSV line a render error names (` (recipients line 8)`), so that one
/// template error hitting many rows is one group.
pub fn without_line(text: &str) -> String {
    const MARK: &str = " (recipients line ";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(MARK) {
        let after = &rest[at + MARK.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || !after[digits..].starts_with(')') {
            out.push_str(&rest[..at + MARK.len()]);
            rest = after;
            continue;
        }
        out.push_str(&rest[..at]);
        rest = &after[digits + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rejection_quoting_each_address_is_one_group() {
        let failures = Failures::default();
        for i in 0..5 {
            let email = format!("u{i}@example.com");
            let reply = format!("5.1.1 <U{i}@Example.com>: Recipient address rejected");
            failures.record(Kind::Permanent, Some(550), &reply, &email);
        }
        failures.record(
            Kind::Temporary,
            Some(451),
            "4.3.0 try later",
            "x@example.com",
        );
        let groups = failures.groups();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].count, 5);
        assert_eq!(
            groups[0].reason,
            "5.1.1 <<address>>: Recipient address rejected"
        );
        assert_eq!(groups[0].examples.len(), EXAMPLES);
        assert_eq!(groups[1].kind, Kind::Temporary);
    }

    #[test]
    fn one_template_error_on_many_rows_is_one_group() {
        let failures = Failures::default();
        for line in 2..12 {
            let why = format!(
                "not rendered: email.html: undefined variable `coupon` (recipients line {line}): add it"
            );
            failures.record(Kind::NotRendered, None, &why, &format!("u{line}@x.example"));
        }
        let groups = failures.groups();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].count, 10);
        assert_eq!(
            groups[0].reason,
            "not rendered: email.html: undefined variable `coupon`: add it"
        );
    }

    #[test]
    fn past_the_limit_new_reasons_count_in_the_last_group() {
        let failures = Failures::default();
        for i in 0..MAX_GROUPS + 10 {
            failures.record(
                Kind::Permanent,
                Some(550),
                &format!("reason {i}"),
                "a@x.example",
            );
        }
        let groups = failures.groups();
        assert_eq!(groups.len(), MAX_GROUPS);
        assert_eq!(
            groups.iter().map(|g| g.count).sum::<u64>(),
            MAX_GROUPS as u64 + 10
        );
    }
}
