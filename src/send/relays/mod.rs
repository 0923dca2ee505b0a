//! The relays of a send at run time: each with its connector, its own pace ([`Pacer`]), its own
//! streaks of failures ([`Streaks`]), its sessions' slots in the journal's in-flight record, its
//! daily allowance and its counts. With several relays, fresh recipients go to them in turn by
//! weight ([`rotation`]); a relay that fails fatally (authentication or TLS refused, no session
//! can be opened, identical rejections) is taken out, and so is one at its daily limit: the others
//! take its turns and the messages due for a retry, and only when none is left does the run stop.
//! With one relay this is the run as it always was: its fatal failure stops the run.

mod connect;
mod rotation;

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use crate::error::Error;
use crate::journal::{History, Status};
use crate::pipeline::Prepared;

use super::rate::Pacer;
use super::retry::Streaks;
use super::smtp::Connector;
use rotation::{Rotation, Standing};

/// One relay of a send.
pub struct Relay {
    pub index: usize,
    /// What the result log's `relay` column says.
    pub name: std::sync::Arc<str>,
    pub connector: Connector,
    /// Its own pace, and the pauses it asks for.
    pub pacer: Pacer,
    pub streaks: Streaks,
    /// Its sessions' places in the journal's in-flight record.
    pub slots: Range<usize>,
    /// Sessions open right now.
    pub live: AtomicUsize,
    /// It refused a session while others worked, and the user was told.
    pub said_fewer: AtomicBool,
    gone: AtomicBool,
    /// It is gone because it reached its daily limit (not taken out for a failure).
    at_limit: AtomicBool,
    why_gone: Mutex<Option<String>>,
    /// Why no session could be opened the last time none was open (cleared when one opens).
    trouble: Mutex<Option<String>>,
    /// Messages it may still be given today (`None`: no daily limit of its own).
    left_today: Option<AtomicU64>,
    sent: AtomicU64,
    failed: AtomicU64,
    unknown: AtomicU64,
}

/// What one relay did in a send, for the summary and `--json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayOutcome {
    pub name: String,
    pub sent: u64,
    pub failed: u64,
    pub unknown: u64,
    /// Why it stopped taking recipients before the end: taken out (the reason), or at its daily
    /// limit.
    pub gone: Option<String>,
    /// It stopped because it reached its daily limit (not taken out for a failure).
    pub at_daily_limit: bool,
    /// Why its sessions could not be opened, when the run ended while it was being tried again.
    pub trouble: Option<String>,
}

impl RelayOutcome {
    /// The relay's line in a send's summary: `alpha: sent 300, failed 0, unknown 0`, and why it
    /// stopped early or was in trouble.
    pub fn line(&self) -> String {
        let mut line = format!(
            "relay {}: sent {}, failed {}, unknown {}",
            self.name, self.sent, self.failed, self.unknown
        );
        if self.at_daily_limit {
            line.push_str("; reached its daily_limit for today");
        } else if let Some(why) = &self.gone {
            line.push_str(&format!("; taken out: {why}"));
        } else if let Some(why) = &self.trouble {
            line.push_str(&format!("; no session could be opened at the end: {why}"));
        }
        line
    }
}

/// What a relay leaving means for the send.
pub enum Ending {
    /// Other relays are left.
    GoOn,
    /// Every relay reached its daily limit: the send stops as at `daily_limit`.
    DailyLimit,
    /// No relay is left and one failed: the send stops with this error.
    Failed(Error),
}

/// The relays of a send.
pub struct Relays {
    pub list: Vec<Relay>,
    /// The turns, with several relays.
    rotation: Option<Rotation>,
}

impl Relays {
    /// The campaign's relays with their `connectors` (in the same order); `history` gives what
    /// each one sent today, for its daily limit.
    pub fn new(
        campaign: &crate::campaign::Campaign,
        connectors: Vec<Connector>,
        history: &History,
    ) -> Relays {
        let mut first_slot = 0;
        let list: Vec<Relay> = (campaign.relays.iter().zip(connectors).enumerate())
            .map(|(index, (configured, connector))| {
                let slots = first_slot..first_slot + configured.concurrency;
                first_slot = slots.end;
                let left = (configured.daily_limit)
                    .map(|cap| cap.saturating_sub(history.sent_today_via(&configured.name)));
                Relay {
                    index,
                    name: configured.name.as_str().into(),
                    connector,
                    pacer: Pacer::new(configured.rate),
                    streaks: Streaks::new(
                        campaign.send.stop_after_rejections,
                        campaign.send.throttle_pause,
                    ),
                    slots,
                    live: AtomicUsize::new(0),
                    said_fewer: AtomicBool::new(false),
                    gone: AtomicBool::new(false),
                    at_limit: AtomicBool::new(false),
                    why_gone: Mutex::new(None),
                    trouble: Mutex::new(None),
                    left_today: left.map(AtomicU64::new),
                    sent: AtomicU64::new(0),
                    failed: AtomicU64::new(0),
                    unknown: AtomicU64::new(0),
                }
            })
            .collect();
        let weights: Vec<u32> = campaign.relays.iter().map(|r| r.weight).collect();
        let relays = Relays {
            rotation: (list.len() > 1).then(|| Rotation::new(&weights)),
            list,
        };
        for relay in &relays.list {
            if relay
                .left_today
                .as_ref()
                .is_some_and(|l| l.load(Ordering::SeqCst) == 0)
            {
                // With none left at all, nothing is given to the send (`run::limits`).
                let _ = relays.at_daily_limit(relay);
            }
        }
        relays
    }

    /// The next item of the renderer's channel for a worker of `relay`: with several relays,
    /// once it is the relay's turn (a message uses the turn up; a skipped or unrenderable row,
    /// which is only logged, does not).
    pub async fn next_fresh(
        &self,
        relay: &Relay,
        rx: &async_channel::Receiver<Prepared>,
    ) -> Result<Prepared, async_channel::RecvError> {
        let Some(rotation) = &self.rotation else {
            return rx.recv().await;
        };
        let turn = rotation.take(relay.index).await;
        let item = rx.recv().await;
        match item {
            Ok(Prepared::Message { .. }) => turn.done(),
            Err(_) => rotation.end(),
            Ok(_) => {}
        }
        item
    }

    /// Takes `relay` out of the send for `why`; returns the error that stops the run when no
    /// relay is left.
    pub fn take_out(&self, relay: &Relay, why: &str) -> Option<Error> {
        if !self.leave(relay, why.to_string()) {
            return None;
        }
        if self.rotation.is_none() {
            return Some(Error::fatal(why));
        }
        let left = self.list.iter().filter(|r| !r.is_gone()).count();
        crate::progress::note(&format!(
            "relay {} taken out: {why}; {}",
            relay.name,
            match left {
                0 => "no relay is left".to_string(),
                n => format!(
                    "its recipients go to the other relay{}",
                    if n == 1 { "" } else { "s" }
                ),
            }
        ));
        (left == 0).then(|| Error::fatal(self.every_relay_failed()))
    }

    /// Marks `relay` as at its daily limit. When no relay is left, the send ends: as a daily
    /// limit does when every relay reached its own ([`Ending::DailyLimit`]), else as a failure.
    pub fn at_daily_limit(&self, relay: &Relay) -> Ending {
        relay.at_limit.store(true, Ordering::SeqCst);
        let why = "reached its daily_limit for today".to_string();
        if self.leave(relay, why) && self.rotation.is_some() {
            crate::progress::note(&format!(
                "relay {} reached its daily_limit: the other relays go on",
                relay.name
            ));
        }
        if !self.list.iter().all(Relay::is_gone) {
            Ending::GoOn
        } else if self.all_at_daily_limit() {
            Ending::DailyLimit
        } else {
            Ending::Failed(Error::fatal(self.every_relay_failed()))
        }
    }

    /// Whether every relay stopped at its daily limit (none was taken out for a failure).
    pub fn all_at_daily_limit(&self) -> bool {
        self.list.iter().all(|r| r.at_limit.load(Ordering::SeqCst))
    }

    /// Records why `relay` is gone; false when it already was.
    fn leave(&self, relay: &Relay, why: String) -> bool {
        if relay.gone.swap(true, Ordering::SeqCst) {
            return false;
        }
        *relay.why_gone.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        if let Some(rotation) = &self.rotation {
            rotation.set(relay.index, Standing::Gone);
        }
        true
    }

    /// No session to `relay` could be opened (`Some(why)`), or one was: a failing relay gets no
    /// fresh recipients while another can take them, and with several relays the user is told
    /// once each time it starts failing.
    pub fn set_trouble(&self, relay: &Relay, trouble: Option<&str>) {
        let mut held = relay.trouble.lock().unwrap_or_else(|p| p.into_inner());
        let started = held.is_none() && trouble.is_some();
        *held = trouble.map(str::to_string);
        drop(held);
        let Some(rotation) = &self.rotation else {
            return;
        };
        let standing = if trouble.is_some() {
            Standing::Failing
        } else {
            Standing::Open
        };
        rotation.set(relay.index, standing);
        if let Some(why) = trouble.filter(|_| started) {
            crate::progress::note(&format!(
                "note: relay {}: {why}; its recipients go to the other relays while it is tried \
                 again",
                relay.name
            ));
        }
    }

    /// `relay` asked to slow down until `until`: meanwhile the other relays take its turns.
    pub fn rest(&self, relay: &Relay, until: tokio::time::Instant) {
        if let Some(rotation) = &self.rotation {
            rotation.rest(relay.index, until);
        }
    }

    /// Whether the messages `relay` deferred are left to the other relays first (see
    /// [`crate::send::queue::ANOTHER_RELAYS_TURN`]): `Some(its index)` while another relay can
    /// take them (not gone, its sessions opening), `None` when none can.
    pub fn leave_to_others(&self, relay: &Relay) -> Option<usize> {
        let able = |r: &Relay| {
            r.index != relay.index
                && !r.is_gone()
                && r.trouble
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .is_none()
        };
        self.list.iter().any(able).then_some(relay.index)
    }

    /// After a failing relay's backoff: it takes turns again, on probation (taken out if its
    /// sessions keep failing).
    pub fn on_probation(&self, relay: &Relay) {
        if let Some(rotation) = &self.rotation {
            rotation.set(relay.index, Standing::Open);
        }
    }

    fn every_relay_failed(&self) -> String {
        let each: Vec<String> = (self.list.iter())
            .map(|r| format!("{}: {}", r.name, r.why_gone().unwrap_or_default()))
            .collect();
        format!("no relay is left: {}", each.join("; "))
    }

    /// What each relay did.
    pub fn outcomes(&self) -> Vec<RelayOutcome> {
        (self.list.iter())
            .map(|r| RelayOutcome {
                name: r.name.to_string(),
                sent: r.sent.load(Ordering::Relaxed),
                failed: r.failed.load(Ordering::Relaxed),
                unknown: r.unknown.load(Ordering::Relaxed),
                gone: r.why_gone(),
                at_daily_limit: r.at_limit.load(Ordering::SeqCst),
                trouble: r.trouble.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            })
            .collect()
    }
}

/// Adds a round's outcomes to the run's so far (the same relays, in the same order).
pub fn add_up(run: &mut Vec<RelayOutcome>, round: Vec<RelayOutcome>) {
    if run.is_empty() {
        *run = round;
        return;
    }
    for (total, this) in run.iter_mut().zip(round) {
        total.sent += this.sent;
        total.failed += this.failed;
        total.unknown += this.unknown;
        total.gone = this.gone;
        total.at_daily_limit = this.at_daily_limit;
        total.trouble = this.trouble;
    }
}

impl Relay {
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    fn why_gone(&self) -> Option<String> {
        self.why_gone
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Uses one of today's messages; false when the relay has none left (it is then at its
    /// daily limit, and the message goes to another relay).
    pub fn use_one_today(&self) -> bool {
        let Some(left) = &self.left_today else {
            return true;
        };
        left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Counts an outcome of a message this relay was given.
    pub fn count(&self, status: Status) {
        let counter = match status {
            Status::Sent => &self.sent,
            Status::Failed => &self.failed,
            Status::Unknown => &self.unknown,
            Status::Skipped => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
