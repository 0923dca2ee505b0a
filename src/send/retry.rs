//! The retry policy: which outcomes are worth another attempt, and how long to wait before it.
//! Transient failures (4xx replies, timeouts, dropped connections) are retried with exponential
//! backoff and full jitter (so that parallel senders hit by the same "try later" do not come back in
//! lockstep); permanent ones (5xx) never are.

use std::time::Duration;

/// The first retry waits about this long; each later one doubles it.
const BASE: Duration = Duration::from_secs(1);
/// No wait is longer than this.
const CAP: Duration = Duration::from_secs(120);

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
}
