//! `campaign test DIR --to ADDR[,ADDR…]`: one recipient's message, exactly as a send renders it
//! (the same [`Renderer`], headers and DKIM), with `[TEST] ` before its subject, sent through the
//! campaign's relay to the given addresses only, before a real send.
//!
//! The message keeps the recipient's own To header, so the test shows what they will see; only
//! the envelope (RCPT TO) goes to the `--to` addresses, one transaction each, so one refused
//! address does not stop the others. The subject is changed before signing, so the DKIM signature
//! verifies. Nothing is written to the result log and no run lock is taken: a test is not part of
//! the campaign's record.

use lettre::Address;
use lettre::address::Envelope;

use crate::campaign::pick::Pick;
use crate::campaign::{self, Campaign};
use crate::error::Result;
use crate::invalid;
use crate::render::{Rendered, Renderer};
use crate::send::session::{Attempt, Session};
use crate::send::smtp::{Connector, one_session_runtime};

/// Put before the subject of every test message.
pub const SUBJECT_PREFIX: &str = "[TEST] ";

/// What a test send did.
#[derive(Debug)]
pub struct TestReport {
    /// The recipient whose message was sent: CSV line and address.
    pub line: u64,
    pub email: String,
    /// The subject as sent, `[TEST] ` included.
    pub subject: String,
    pub server: String,
    /// Per `--to` address: the relay's reply, accepted or not.
    pub outcomes: Vec<Outcome>,
}

/// What the relay answered for one `--to` address.
#[derive(Debug)]
pub struct Outcome {
    pub to: String,
    pub accepted: bool,
    /// The reply (`250 2.0.0 Ok: queued as …`) or why there was none.
    pub reply: String,
}

impl TestReport {
    /// Whether every `--to` address was accepted.
    pub fn all_accepted(&self) -> bool {
        self.outcomes.iter().all(|o| o.accepted)
    }
}

/// Checks the `--to` addresses (bad input: exit 2 before anything is rendered or sent).
pub fn parse_addresses(to: &[String]) -> Result<Vec<Address>> {
    let to: Vec<&str> = to
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect();
    if to.is_empty() {
        return Err(invalid!(
            "--to: give at least one address to send the test to"
        ));
    }
    to.iter()
        .map(|a| {
            a.parse::<Address>().map_err(|e| {
                invalid!("--to: {a:?} is not an email address ({e}): give plain addresses, separated by commas")
            })
        })
        .collect()
}

/// Renders the picked recipient's message with `[TEST] ` before the subject and sends it to each of `to`.
/// Through the relay named `relay`, or the first.
pub fn send(
    campaign: &Campaign,
    to: &[String],
    pick: &Pick,
    relay: Option<&str>,
) -> Result<TestReport> {
    let to = parse_addresses(to)?;
    let connector = Connector::for_relay(campaign, chosen(campaign, relay)?)?;
    let recipient = campaign::pick::recipient(campaign, pick)?;
    let renderer = Renderer::new(campaign)?.with_subject_prefix(SUBJECT_PREFIX);
    let message = renderer.render(&recipient).map_err(|e| {
        invalid!(
            "{}: line {}: {} cannot be rendered: {e}",
            campaign.recipients.display(),
            recipient.line,
            recipient.email
        )
    })?;
    let outcomes = one_session_runtime()?.block_on(deliver(&connector, &message, &to))?;
    Ok(TestReport {
        line: message.line,
        email: message.email,
        subject: message.subject,
        server: connector.server(),
        outcomes,
    })
}

/// The relay named `name` (any case), or the first; none is bad input (exit 2).
fn chosen<'c>(campaign: &'c Campaign, name: Option<&str>) -> Result<&'c campaign::Relay> {
    let relays = &campaign.relays;
    let found = match name {
        None => relays.first(),
        Some(name) => relays.iter().find(|r| r.name.eq_ignore_ascii_case(name)),
    };
    found.ok_or_else(|| match (name, relays.is_empty()) {
        (_, true) => invalid!(
            "{}: no [smtp] section: add host (and port, security, username) to send a test",
            campaign.dir.join("campaign.toml").display()
        ),
        (name, false) => {
            let names: Vec<&str> = relays.iter().map(|r| r.name.as_str()).collect();
            invalid!(
                "--relay {:?}: no relay of that name; the campaign's relays are {}",
                name.unwrap_or_default(),
                names.join(", ")
            )
        }
    })
}

/// One transaction per address on one session (opened again if the relay dropped it).
async fn deliver(
    connector: &Connector,
    message: &Rendered,
    to: &[Address],
) -> Result<Vec<Outcome>> {
    let mut session: Option<Session> = None;
    let mut outcomes = Vec::new();
    for address in to {
        let mut open = match session.take() {
            Some(s) if !s.is_broken() => s,
            _ => connector.connect_once().await?,
        };
        let envelope = Envelope::new(message.envelope.from().cloned(), vec![address.clone()])
            .map_err(|e| invalid!("--to {address}: {e}"))?;
        let attempt = open
            .send(&envelope, &message.bytes, None, std::future::ready(true))
            .await;
        outcomes.push(outcome(address, attempt));
        session = Some(open);
    }
    if let Some(s) = session {
        s.quit().await;
    }
    Ok(outcomes)
}

fn outcome(address: &Address, attempt: Attempt) -> Outcome {
    let (accepted, reply) = match attempt {
        Attempt::Accepted { code, text } => (true, format!("{code} {text}")),
        Attempt::Rejected { code, text } => (false, format!("{code} {text}")),
        Attempt::Broken { detail } | Attempt::Refused { detail } => (false, detail),
        Attempt::Unknown { detail, .. } => (false, format!("unknown outcome: {detail}")),
    };
    Outcome {
        to: address.to_string(),
        accepted,
        reply,
    }
}
