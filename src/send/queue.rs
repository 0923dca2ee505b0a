//! The messages waiting for another attempt. A transient failure puts its message back here with a
//! backoff delay instead of holding up its worker; workers take from here before the renderer's
//! channel, so retries are not starved by a long list. The run ends when the channel is drained and
//! nothing is [`Retries::pending`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::render::Rendered;

/// At most this many messages wait for a retry at once; beyond it a worker waits out the backoff
/// itself, so a relay answering 4xx to everything slows the run instead of filling memory.
const MAX_WAITING: usize = 1024;

/// A message on its way, with its attempts so far.
pub struct Job {
    pub message: Box<Rendered>,
    /// SMTP attempts made (the log's `attempts`).
    pub attempts: u32,
    /// Of those, the ones the relay answered "slow down": they do not use up `retries`.
    pub throttled: u32,
}

impl Job {
    pub fn new(message: Box<Rendered>) -> Job {
        Job {
            message,
            attempts: 0,
            throttled: 0,
        }
    }

    /// Attempts that count against `retries`.
    pub fn counted_attempts(&self) -> u32 {
        self.attempts - self.throttled
    }
}

/// Messages due for another attempt after a delay.
pub struct Retries {
    tx: async_channel::Sender<Job>,
    rx: async_channel::Receiver<Job>,
    /// Scheduled and not yet taken (sleeping or in the channel).
    waiting: AtomicUsize,
}

impl Default for Retries {
    fn default() -> Retries {
        let (tx, rx) = async_channel::unbounded();
        Retries {
            tx,
            rx,
            waiting: AtomicUsize::new(0),
        }
    }
}

impl Retries {
    /// Puts `job` back to be taken again after `delay`.
    pub async fn schedule(&self, job: Job, delay: Duration) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        if delay.is_zero() || self.waiting.load(Ordering::SeqCst) > MAX_WAITING {
            tokio::time::sleep(delay).await;
            let _ = self.tx.send(job).await;
            return;
        }
        let tx = self.tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(job).await;
        });
    }

    /// A job whose delay is over, if there is one now.
    pub fn try_take(&self) -> Option<Job> {
        let job = self.rx.try_recv().ok()?;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        Some(job)
    }

    /// The next job whose delay is over, when there is one.
    pub async fn take(&self) -> Option<Job> {
        let job = self.rx.recv().await.ok()?;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        Some(job)
    }

    /// Whether any job is still scheduled.
    pub fn pending(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }
}
