//! Which recipient a command means: `--as EMAIL` (one mailbox however it is spelled:
//! [`address_key`]), `--line N` (the CSV line its row starts on), or the first row that would be
//! sent. `campaign show` and `campaign test` pick alike, with suppression applied: a row that would
//! not be sent (a duplicate, an invalid address, a suppressed one, …) is refused with its reason,
//! as is an address or line that is not in the list (exit 2): the user asked for a message that a
//! send would never write.

use super::recipients::address_key;
use super::suppress::Suppression;
use super::{Campaign, Recipient, RecipientList, Row, SkipReason, Skipped};
use crate::error::Result;
use crate::invalid;

/// Which recipient a command means.
#[derive(Debug, Clone)]
pub enum Pick {
    /// The first row that would be sent.
    First,
    /// The row of this address (case-insensitive, IDN domains in any form).
    Address(String),
    /// The row starting on this line of the CSV (1 is the header).
    Line(u64),
}

/// The recipient `pick` names in the campaign's list, or why there is none (bad input).
pub fn recipient(campaign: &Campaign, pick: &Pick) -> Result<Recipient> {
    let recipients = campaign.scan_recipients()?;
    let suppression = Suppression::load(&campaign.suppress)?;
    find(campaign, &recipients, &suppression, pick)
}

/// The recipient `pick` names, or why there is none to show.
fn find(
    campaign: &Campaign,
    recipients: &RecipientList,
    suppression: &Suppression,
    pick: &Pick,
) -> Result<Recipient> {
    let wanted = match pick {
        Pick::Address(a) => Some(address_key(a)),
        _ => None,
    };
    let picks = |line: u64, email: &str| match pick {
        Pick::First => true,
        Pick::Address(_) => wanted == Some(address_key(email)),
        Pick::Line(n) => line == *n,
    };
    // For an address, a row that is sent wins over an earlier skipped one of the same mailbox.
    let mut skipped: Option<Skipped> = None;
    let mut last_line = 1;
    for row in recipients.reader()? {
        let row = match row? {
            Row::Recipient(r) if suppression.contains(&r.email) => Row::Skipped(Skipped {
                line: r.line,
                email: r.email,
                reason: SkipReason::Suppressed,
            }),
            row => row,
        };
        let (line, email) = match &row {
            Row::Recipient(r) => (r.line, r.email.as_str()),
            Row::Skipped(s) => (s.line, s.email.as_str()),
        };
        last_line = line;
        let picked = picks(line, email);
        match row {
            Row::Recipient(r) if picked => return Ok(r),
            Row::Skipped(s) if picked && !matches!(pick, Pick::First) => {
                skipped = skipped.or(Some(s));
            }
            _ => {}
        }
        if matches!(pick, Pick::Line(n) if line >= *n) {
            break;
        }
    }
    Err(none_to_show(&campaign.recipients, pick, skipped, last_line))
}

/// Why `pick` names no message: its row is skipped, or there is no such row.
fn none_to_show(
    csv: &std::path::Path,
    pick: &Pick,
    skipped: Option<Skipped>,
    last_line: u64,
) -> crate::Error {
    let csv = csv.display();
    if let Some(s) = skipped {
        return invalid!(
            "{csv}: line {} ({}) is skipped: {}; a send would not mail it, so there is no message \
             for it",
            s.line,
            s.email,
            s.reason
        );
    }
    match pick {
        Pick::First => {
            invalid!("{csv}: no row would be sent (every row is skipped, or the file has none)")
        }
        Pick::Address(a) => invalid!(
            "{csv}: no row has the address {a}: give --as an address of the list, or --line N"
        ),
        Pick::Line(n) => invalid!(
            "{csv}: no row starts on line {n} (line 1 is the header; the last row starts on line \
             {last_line}): give --line the line a row starts on, as an editor shows it"
        ),
    }
}
