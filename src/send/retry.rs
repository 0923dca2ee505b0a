//! The retry policy: which outcomes are worth another attempt, and how long to wait before it.
//! Transient failures (4xx replies, timeouts, dropped connections) are retried with exponential
//! backoff and full jitter (so that parallel senders hit by the same "try later" do not come back in
//! lockstep); permanent ones (5xx) never are.
//!
//! Two patterns across sessions say something about the relay as a whole rather than one message,
//! and [`Streaks`] watches for them: a relay asking to slow down (a per-minute quota, greylisting)
//! pauses every session for longer than its window instead of burning each message's retries in
//! seconds; and a relay rejecting everything with the same reply stops the run instead of marking
//! the whole list failed (listmonk pauses a campaign past an error threshold for the same reason).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first retry waits about this long; each later one doubles it.
const BASE: Duration = Duration::from_secs(1);
/// No wait is longer than this.
const CAP: Duration = Duration::from_secs(120);
/// The longest pause for a relay that keeps asking to slow down.
const THROTTLE_CAP: Duration = Duration::from_secs(15 * 60);
/// A relay that has throttled everything for this long, with nothing accepted, stops the run.
const THROTTLE_GIVE_UP: Duration = Duration::from_secs(60 * 60);

/// How long to wait before attempt `attempts + 1`, given `attempts` made so far (≥ 1): a random
/// duration between half and all of `BASE · 2^(attempts-1)`, capped.
pub fn backoff(attempts: u32) -> Duration {
    let exp = BASE.saturating_mul(1 << attempts.saturating_sub(1).min(16));
    let full = exp.min(CAP);
    full / 2 + full.mul_f64(fastrand::f64() / 2.0)
}

/// Whether a reply code is a permanent failure (RFC 5321 §4.2.1: 5yz).
pub fn is_permanent(code: u16) -> bool {
    (500..600).contains(&code)
}

/// Whether a transient reply asks the client to slow down rather than reporting a momentary
/// failure: an enhanced status 4.7.x (RFC 3463 §3.8, policy: Postfix's `450 4.7.1 … too much mail`,
/// Gmail's `421 4.7.28`, greylisting's `450 4.7.1 … try again later`) or the wording relays use for
/// rate limits and quotas (SES `454 Throttling failure: Maximum sending rate exceeded`, Outlook
/// `452 4.5.3 Too many recipients`, `421 … too many connections`).
pub fn is_throttling(code: u16, text: &str) -> bool {
    if !(400..500).contains(&code) {
        return false;
    }
    let text = text.to_ascii_lowercase();
    let words = [
        "too much mail",
        "too many",
        "rate limit",
        "ratelimit",
        "throttl",
        "quota",
        "slow down",
        "exceeded",
        "greylist",
        "graylist",
    ];
    text.trim_start().starts_with("4.7.") || words.iter().any(|w| text.contains(w))
}

/// What one session's failure means for the whole run.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing beyond this message.
    Carry,
    /// Pause every session this long.
    Pause(Duration),
    /// Stop the run: the relay refuses everything. The text says what it kept answering.
    Stop(String),
}

/// Failures in a row across all sessions.
pub struct Streaks {
    /// Stop after this many identical permanent rejections in a row (`None`: never).
    stop_after_rejections: Option<u32>,
    /// The first pause when the relay asks to slow down; it doubles while it keeps asking.
    throttle_pause: Duration,
    state: Mutex<State>,
}

struct State {
    /// The last permanent rejection's reply (address left out) and how many in a row gave it.
    rejection: (String, u32),
    /// Throttling replies since the last accepted message.
    throttles: u32,
    /// When a message was last accepted (or the run started).
    last_accepted: Instant,
}

impl Streaks {
    pub fn new(stop_after_rejections: Option<u32>, throttle_pause: Duration) -> Streaks {
        Streaks {
            stop_after_rejections,
            throttle_pause,
            state: Mutex::new(State {
                rejection: (String::new(), 0),
                throttles: 0,
                last_accepted: Instant::now(),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A message was accepted: both streaks end.
    pub fn accepted(&self) {
        let mut state = self.state();
        state.rejection.1 = 0;
        state.throttles = 0;
        state.last_accepted = Instant::now();
    }

    /// A permanent rejection of `email` with this reply.
    pub fn rejected(&self, code: u16, text: &str, email: &str) -> Verdict {
        let Some(limit) = self.stop_after_rejections else {
            return Verdict::Carry;
        };
        let reply = format!("{code} {}", crate::failures::without_address(text, email));
        let mut state = self.state();
        if state.rejection.0 == reply {
            state.rejection.1 += 1;
        } else {
            state.rejection = (reply, 1);
        }
        if state.rejection.1 < limit {
            return Verdict::Carry;
        }
        Verdict::Stop(format!(
            "the relay rejected {limit} messages in a row with the same reply: \"{code} {text}\"; \
             the run stopped so the rest of the list is not marked failed. Fix what the reply says \
             (sender, account, quota, relay access), then run again: recipients without a row are \
             sent then ([send] stop_after_rejections = 0 disables this stop)"
        ))
    }

    /// The relay asked to slow down: how long every session pauses (doubling while it keeps
    /// asking), or a stop when it has accepted nothing for an hour.
    pub fn throttled(&self, code: u16, text: &str) -> Verdict {
        let mut state = self.state();
        if state.last_accepted.elapsed() > THROTTLE_GIVE_UP {
            return Verdict::Stop(format!(
                "the relay has accepted nothing for {} minutes and keeps asking to slow down: \
                 \"{code} {text}\" (a daily quota?); the run stopped, nobody was marked failed: run \
                 again later to continue",
                THROTTLE_GIVE_UP.as_secs() / 60
            ));
        }
        state.throttles += 1;
        let doublings = (state.throttles - 1).min(16);
        Verdict::Pause(
            self.throttle_pause
                .saturating_mul(1 << doublings)
                .min(THROTTLE_CAP.max(self.throttle_pause)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for _ in 0..100 {
            let first = backoff(1);
            assert!(
                first >= Duration::from_millis(500) && first <= BASE,
                "{first:?}"
            );
            let third = backoff(3);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4));
            assert!(backoff(30) <= CAP);
        }
        assert!(is_permanent(550) && !is_permanent(451) && !is_permanent(250));
    }

    #[test]
    fn throttling_replies_are_told_from_momentary_failures() {
        assert!(is_throttling(
            450,
            "4.7.1 Error: too much mail from 192.0.2.1"
        ));
        assert!(is_throttling(
            421,
            "4.7.0 Try again later, closing connection."
        ));
        assert!(is_throttling(
            454,
            "Throttling failure: Maximum sending rate exceeded."
        ));
        assert!(is_throttling(452, "4.5.3 Too many recipients"));
        assert!(!is_throttling(451, "4.3.0 Error: queue file write error"));
        assert!(
            !is_throttling(550, "5.7.1 too much mail"),
            "5xx is not a pause"
        );
    }

    #[test]
    fn identical_rejections_stop_the_run_whatever_address_they_quote() {
        let streaks = Streaks::new(Some(3), Duration::from_secs(1));
        let reject =
            |who: &str| streaks.rejected(554, &format!("5.7.1 <{who}>: Relay access denied"), who);
        assert_eq!(reject("a@x.example"), Verdict::Carry);
        assert_eq!(reject("B@X.example"), Verdict::Carry);
        assert!(matches!(reject("c@x.example"), Verdict::Stop(s) if s.contains("Relay access")));
        streaks.accepted();
        assert_eq!(
            reject("d@x.example"),
            Verdict::Carry,
            "a success ends the streak"
        );
        assert_eq!(
            streaks.rejected(550, "5.1.1 no such user", "e@x"),
            Verdict::Carry
        );
        assert_eq!(
            reject("f@x.example"),
            Verdict::Carry,
            "another reply ends it too"
        );
        let never = Streaks::new(None, Duration::from_secs(1));
        for _ in 0..100 {
            assert_eq!(never.rejected(554, "denied", "a@x"), Verdict::Carry);
        }
    }

    #[test]
    fn throttle_pauses_double_up_to_a_cap_and_reset_on_success() {
        let streaks = Streaks::new(None, Duration::from_secs(60));
        let pause = |s: &Streaks| match s.throttled(450, "4.7.1 too much mail") {
            Verdict::Pause(d) => d.as_secs(),
            other => panic!("{other:?}"),
        };
        assert_eq!(pause(&streaks), 60);
        assert_eq!(pause(&streaks), 120);
        assert_eq!(pause(&streaks), 240);
        for _ in 0..10 {
            pause(&streaks);
        }
        assert_eq!(pause(&streaks), THROTTLE_CAP.as_secs());
        streaks.accepted();
        assert_eq!(pause(&streaks), 60);
    }
}
