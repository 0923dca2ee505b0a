//! Pacing sends to the provider's limit. Slots are handed out on a fixed schedule, one every
//! `per / count`, so the achieved rate does not drift below the limit when timers wake late (a
//! limiter that measures from each actual send, such as governor's GCRA with a burst of one, lost
//! about 10 % at 500/s here). On top of the schedule, slot k is never earlier than slot k−count plus
//! the period plus a small margin for late wake-ups, so no window of one period — the first one
//! included, since there is no initial burst — carries more than the limit. Every attempt (a retry
//! too) takes a slot, since that is what the relay counts.
//!
//! A slot is the moment the message content goes out, which is when the relay counts it (at the end
//! of DATA). The session is woken [`LEAD`] before its slot to exchange MAIL, RCPT and DATA, and
//! writes the content at the slot itself: the time the envelope takes (which varies with the
//! relay's load) then does not move messages closer together than the schedule allows. Long waits
//! at low rates still happen before MAIL, with the session idle, never in the middle of a
//! transaction.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::campaign::Rate;

/// Allowance for a timer that wakes late and for uneven delivery, so that the relay, not only the
/// sender, sees no window over the limit. It costs 1 % of the rate at a one-second period.
const WAKE_MARGIN: Duration = Duration::from_millis(10);

/// How long before its slot a session starts the envelope (MAIL, RCPT, DATA).
pub const LEAD: Duration = Duration::from_millis(100);

/// Rates whose window needs more remembered slots than this are paced by the schedule alone.
const MAX_REMEMBERED: u32 = 1_000_000;

/// Waits for a free slot before each send; without a rate, never waits.
pub struct Pacer {
    rate: Option<Rate>,
    state: Mutex<State>,
}

struct State {
    /// No slot before this: the relay asked to slow down ([`Pacer::pause`]).
    paused_until: Option<Instant>,
    next: Option<Instant>,
    /// The last `count` slots handed out.
    recent: VecDeque<Instant>,
}

impl Pacer {
    pub fn new(rate: Option<Rate>) -> Pacer {
        Pacer {
            rate,
            state: Mutex::new(State {
                paused_until: None,
                next: None,
                recent: VecDeque::new(),
            }),
        }
    }

    /// Reserves the next slot and returns [`LEAD`] before it; the slot is when the content may go
    /// out (`None`: no rate, at once).
    pub async fn next_slot(&self) -> Option<Instant> {
        while let Some(until) = self.paused_until() {
            tokio::time::sleep_until(until).await;
        }
        let rate = self.rate?;
        let slot = self.reserve(rate, Instant::now());
        tokio::time::sleep_until(slot.checked_sub(LEAD).unwrap_or(slot)).await;
        Some(slot)
    }

    /// Holds every session's next message for `pause` from now (a relay's "slow down"). Returns
    /// whether this extends the pause in force.
    pub fn pause(&self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let longer = state.paused_until.is_none_or(|t| t < until);
        if longer {
            state.paused_until = Some(until);
        }
        longer
    }

    /// The end of the pause in force, if any.
    fn paused_until(&self) -> Option<Instant> {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.paused_until.filter(|&t| t > Instant::now())
    }

    fn reserve(&self, rate: Rate, now: Instant) -> Instant {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut slot = state.next.map_or(now, |next| next.max(now));
        if rate.count <= MAX_REMEMBERED && state.recent.len() >= rate.count as usize {
            let oldest = state.recent.pop_front().expect("non-empty");
            slot = slot.max(oldest + rate.per + WAKE_MARGIN);
        }
        if rate.count <= MAX_REMEMBERED {
            state.recent.push_back(slot);
        }
        state.next = Some(slot + rate.interval());
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_schedule_and_no_window_exceeds_the_limit() {
        let rate = Rate::parse("10/s").unwrap();
        let pacer = Pacer::new(Some(rate));
        let start = Instant::now();
        // Callers arriving late (every 250 ms, 3 at once) do not push the schedule back.
        let slots: Vec<Instant> = (0..60)
            .map(|i| pacer.reserve(rate, start + Duration::from_millis(250 * (i / 3))))
            .collect();
        for pair in slots.windows(2) {
            assert!(pair[1] - pair[0] >= rate.interval());
        }
        for (k, slot) in slots.iter().enumerate().skip(10) {
            assert!(*slot - slots[k - 10] >= rate.per, "window at {k}");
        }
        let span = slots[59] - slots[0];
        assert!(span < Duration::from_millis(6_000), "{span:?}");
    }
}
