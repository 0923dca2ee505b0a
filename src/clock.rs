//! What time it is, for the send window and `--not-before`, and waiting until a time with a
//! countdown. One struct, not a trait: the system clock, or — in debug builds only, for the tests —
//! a clock that starts at `CAMPAIGN_TEST_NOW` (RFC 3339) and runs at the real pace while sending
//! but passes `CAMPAIGN_TEST_SPEED` times faster while waiting, so that a test waits out a night
//! in a fraction of a second and never sleeps for real minutes. A release build ignores both.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// The start time of the test clock (debug builds only).
pub const TEST_NOW_VAR: &str = "CAMPAIGN_TEST_NOW";
/// How many times faster the test clock passes while waiting [default: 1].
pub const TEST_SPEED_VAR: &str = "CAMPAIGN_TEST_SPEED";

/// The clock a run asks.
pub struct Clock {
    test: Option<TestTime>,
}

struct TestTime {
    started: Instant,
    at_start: DateTime<Utc>,
    speed: f64,
    /// Time the waits skipped over.
    skipped: Mutex<chrono::Duration>,
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.test.is_some() {
            "Clock(test)"
        } else {
            "Clock(system)"
        })
    }
}

impl Clock {
    pub fn system() -> Clock {
        Clock { test: None }
    }

    /// The system clock, or in a debug build the test clock when `CAMPAIGN_TEST_NOW` is set.
    pub fn from_env() -> Clock {
        if !cfg!(debug_assertions) {
            return Clock::system();
        }
        let at_start = std::env::var(TEST_NOW_VAR)
            .ok()
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok());
        let Some(at_start) = at_start else {
            return Clock::system();
        };
        let speed = std::env::var(TEST_SPEED_VAR)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| *s >= 1.0)
            .unwrap_or(1.0);
        Clock {
            test: Some(TestTime {
                started: Instant::now(),
                at_start: at_start.with_timezone(&Utc),
                speed,
                skipped: Mutex::new(chrono::Duration::zero()),
            }),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.test {
            None => Utc::now(),
            Some(t) => {
                let real = chrono::Duration::from_std(t.started.elapsed()).unwrap_or_default();
                t.at_start + real + *t.skipped.lock().unwrap_or_else(|p| p.into_inner())
            }
        }
    }

    /// Sleeps at most a second of real time towards `until` (waking each second lets a countdown
    /// tick, and follows the wall clock when the machine was suspended or the time was set).
    async fn step_towards(&self, until: DateTime<Utc>) {
        let left = (until - self.now()).to_std().unwrap_or_default();
        let speed = self.test.as_ref().map_or(1.0, |t| t.speed);
        let real = left.div_f64(speed).min(Duration::from_secs(1));
        tokio::time::sleep(real).await;
        if let Some(t) = &self.test {
            let passed = chrono::Duration::from_std(real.mul_f64(speed - 1.0)).unwrap_or_default();
            *t.skipped.lock().unwrap_or_else(|p| p.into_inner()) += passed;
        }
    }

    /// Resolves at `until`.
    pub async fn sleep_until(&self, until: DateTime<Utc>) {
        while self.now() < until {
            self.step_towards(until).await;
        }
    }

    /// Waits until `until`, having printed `why` on stderr: on a terminal with a countdown that
    /// ticks each second, off one (cron, a log) as the one line alone.
    pub async fn wait_until(&self, until: DateTime<Utc>, why: &str) {
        let tty = std::io::stderr().is_terminal();
        crate::progress::note(why);
        while self.now() < until {
            if tty {
                let left = (until - self.now()).num_seconds().max(0);
                let mut err = std::io::stderr();
                let _ = write!(err, "\r\x1b[2K  {} left", countdown(left));
                let _ = err.flush();
            }
            self.step_towards(until).await;
        }
        if tty {
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        }
    }
}

/// `2d 03:04:05`, `03:04:05`.
pub fn countdown(seconds: i64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    let hms = format!("{h:02}:{m:02}:{s:02}");
    if d > 0 { format!("{d}d {hms}") } else { hms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns() {
        assert_eq!(countdown(59), "00:00:59");
        assert_eq!(countdown(3600 * 26 + 61), "1d 02:01:01");
    }

    #[tokio::test]
    async fn a_test_clock_passes_faster_while_waiting() {
        let clock = Clock {
            test: Some(TestTime {
                started: Instant::now(),
                at_start: "2026-12-23T17:00:00Z".parse().unwrap(),
                speed: 1_000_000.0,
                skipped: Mutex::new(chrono::Duration::zero()),
            }),
        };
        let until: DateTime<Utc> = "2026-12-24T08:00:00Z".parse().unwrap();
        let real = Instant::now();
        clock.sleep_until(until).await;
        assert!(
            real.elapsed() < Duration::from_secs(2),
            "{:?}",
            real.elapsed()
        );
        let now = clock.now();
        assert!(
            now >= until && now - until < chrono::Duration::seconds(5),
            "{now}"
        );
    }
}
