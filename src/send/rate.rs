//! Pacing sends to the provider's limit with governor's GCRA limiter. The quota is one message per
//! `per / count` with a burst of one, so no window of any length, the first one included, carries
//! more than the limit: a provider that allows "10/s" never sees 11 in a second, even at start.
//! Every attempt (a retry too) takes a slot, since that is what the relay counts.

use std::num::NonZeroU32;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::campaign::Rate;

/// Waits for a free slot before each send; without a rate, never waits.
pub struct Pacer {
    limiter: Option<DefaultDirectRateLimiter>,
}

impl Pacer {
    pub fn new(rate: Option<Rate>) -> Pacer {
        let limiter = rate.and_then(|rate| {
            let quota = Quota::with_period(rate.interval())?.allow_burst(NonZeroU32::MIN);
            Some(RateLimiter::direct(quota))
        });
        Pacer { limiter }
    }

    /// Returns when the next message may go.
    pub async fn wait(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
    }
}
