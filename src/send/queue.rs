//! The messages waiting for another attempt: a timer queue. A transient failure puts its message
//! back here with a backoff delay instead of holding up its worker; workers take from here before
//! the renderer's channel, so retries are not starved by a long list. The run ends when the channel
//! is drained and no work is left ([`Retries::work_left`]): none in the queue, and none in a
//! worker's hands ([`Held`]) that could come back to it (a message whose session could not be
//! opened, or whose relay was taken out, goes back for another worker, of another relay, to send).
//!
//! Waiting is event-driven, never polled: a worker sleeps until the earliest message is due or the
//! queue changes, and [`Retries::until`] re-checks a worker's condition (a stop, no work left) each
//! time something it depends on changes: a message scheduled or taken, or a [`Retries::wake`] (a
//! stop, a worker ending).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{self, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::render::Rendered;

/// How long a message one relay deferred is left to the other relays' sessions before a session
/// of the same relay may take it again (while another relay can take it at all): the retry goes
/// where it has a better chance, and a relay that defers everything does not fail its share.
pub const ANOTHER_RELAYS_TURN: Duration = Duration::from_secs(2);

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
    /// The relay of the last attempt (its index among the send's relays).
    pub relay: Option<usize>,
}

impl Job {
    pub fn new(message: Box<Rendered>) -> Job {
        Job {
            message,
            attempts: 0,
            throttled: 0,
            relay: None,
        }
    }

    /// Attempts that count against `retries`.
    pub fn counted_attempts(&self) -> u32 {
        self.attempts - self.throttled
    }
}

/// Messages due for another attempt after a delay, earliest first.
#[derive(Default)]
pub struct Retries {
    due: Mutex<BinaryHeap<Reverse<Due>>>,
    /// Orders messages due at the same instant by when they were scheduled.
    scheduled: AtomicU64,
    changed: Notify,
    /// How many messages are in the queue, shared with the progress display.
    waiting: Arc<AtomicU64>,
    /// Messages in workers' hands (and workers waiting on the renderer's channel for one): until
    /// each is settled ([`Held`]), it may come back to the queue.
    held: std::sync::atomic::AtomicUsize,
}

/// A message in a worker's hands (or a worker waiting on the channel for one), counted by the
/// queue until it is settled: its row written, or it is back in the queue. Dropping it settles.
pub struct Held<'a> {
    queue: &'a Retries,
    settled: bool,
}

impl Held<'_> {
    /// The message is settled (idempotent). When it was the last one held, workers waiting for
    /// work look again (only then can [`Retries::work_left`] have turned false: waking them for
    /// every message cost the send a third of its speed once, in thread wake-ups).
    pub fn settle(&mut self) {
        if !std::mem::replace(&mut self.settled, true)
            && self.queue.held.fetch_sub(1, atomic::Ordering::SeqCst) == 1
        {
            self.queue.wake();
        }
    }

    /// Keeps the count beyond this value: the caller hands the message on, and a [`Held`] of
    /// [`Retries::held`] settles it later.
    pub fn keep(mut self) {
        self.settled = true;
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.settle();
    }
}

/// A message and when it is due.
struct Due {
    at: Instant,
    seq: u64,
    job: Job,
}

impl Due {
    /// When a session of relay `avoid` may take this job: at once when it is due, unless that
    /// relay made its last attempt, in which case the other relays have [`ANOTHER_RELAYS_TURN`]
    /// first (`avoid` is `None` when no other relay can take it).
    fn ready_for(&self, avoid: Option<usize>) -> Instant {
        match avoid {
            Some(relay) if self.job.relay == Some(relay) => self.at + ANOTHER_RELAYS_TURN,
            _ => self.at,
        }
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Due) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Due) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Due) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

impl Retries {
    /// A queue that keeps `waiting` equal to the number of messages in it.
    pub fn counting(waiting: Arc<AtomicU64>) -> Retries {
        Retries {
            waiting,
            ..Retries::default()
        }
    }

    /// The queue; poisoning is recovered from because every change to it is a single push or pop.
    fn queue(&self) -> std::sync::MutexGuard<'_, BinaryHeap<Reverse<Due>>> {
        self.due.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts `job` back to be taken again after `delay`. When the queue is full the caller waits out
    /// the delay itself first.
    pub async fn schedule(&self, job: Job, delay: Duration) {
        if self.queue().len() >= MAX_WAITING {
            tokio::time::sleep(delay).await;
            return self.push(job, Instant::now());
        }
        self.push(job, Instant::now() + delay);
    }

    fn push(&self, job: Job, at: Instant) {
        let seq = self.scheduled.fetch_add(1, atomic::Ordering::Relaxed);
        self.queue().push(Reverse(Due { at, seq, job }));
        self.waiting.fetch_add(1, atomic::Ordering::Relaxed);
        self.wake();
    }

    /// A job whose delay is over, if there is one now, for a session of relay `avoid` (see
    /// [`Due::ready_for`]; `None`: any job); it is held from then on (counted under the queue's
    /// lock, so that [`Retries::work_left`] never misses it), until the taker settles it
    /// ([`Retries::held`]).
    pub fn try_take(&self, avoid: Option<usize>) -> Option<Job> {
        let job = {
            let mut due = self.queue();
            let now = Instant::now();
            // The earliest due job this taker may have; the due ones left to the other relays
            // for now are put back.
            let mut aside = Vec::new();
            let mut job = None;
            while let Some(Reverse(d)) = due.peek() {
                if d.at > now {
                    break;
                }
                let Reverse(d) = due.pop().expect("peeked");
                if d.ready_for(avoid) <= now {
                    job = Some(d.job);
                    break;
                }
                aside.push(Reverse(d));
            }
            due.extend(aside);
            if job.is_some() {
                self.held.fetch_add(1, atomic::Ordering::SeqCst);
            }
            job
        }?;
        self.waiting.fetch_sub(1, atomic::Ordering::Relaxed);
        self.wake();
        Some(job)
    }

    /// The next job as soon as its delay is over; `None` as soon as `give_up()` holds (checked
    /// first, and again whenever the queue changes or [`Retries::wake`] is called).
    pub async fn take(
        &self,
        give_up: impl Fn() -> bool,
        avoid: impl Fn() -> Option<usize>,
    ) -> Option<Job> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if give_up() {
                return None;
            }
            let avoid = avoid();
            if let Some(job) = self.try_take(avoid) {
                return Some(job);
            }
            let next = match avoid {
                None => self.queue().peek().map(|Reverse(d)| d.at),
                Some(_) => self
                    .queue()
                    .iter()
                    .map(|Reverse(d)| d.ready_for(avoid))
                    .min(),
            };
            match next {
                Some(at) => tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = changed => {}
                },
                None => changed.await,
            }
        }
    }

    /// Resolves once `done()` holds, checked now and whenever the queue changes or
    /// [`Retries::wake`] is called.
    pub async fn until(&self, done: impl Fn() -> bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done() {
                return;
            }
            changed.await;
        }
    }

    /// Tells every waiter that something it may depend on changed (a stop, a worker ending).
    pub fn wake(&self) {
        self.changed.notify_waiters();
    }

    /// Whether any job is scheduled or held (and so may come back).
    pub fn work_left(&self) -> bool {
        let due = self.queue();
        !due.is_empty() || self.held.load(atomic::Ordering::SeqCst) > 0
    }

    /// Counts one more message (or worker waiting on the channel for one) held; see [`Held`].
    pub fn hold(&self) -> Held<'_> {
        self.held.fetch_add(1, atomic::Ordering::SeqCst);
        self.held()
    }

    /// The [`Held`] of a message already counted: taken from the queue, or kept from [`Retries::hold`].
    pub fn held(&self) -> Held<'_> {
        Held {
            queue: self,
            settled: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use lettre::address::Envelope;

    use super::*;
    use crate::render::Rendered;

    fn job(line: u64) -> Job {
        let address: lettre::Address = "a@example.com".parse().unwrap();
        Job::new(Box::new(Rendered {
            line,
            email: address.to_string(),
            subject: String::new(),
            message_id: format!("{line}@example.com"),
            envelope: Envelope::new(Some(address.clone()), vec![address]).unwrap(),
            bytes: Vec::new(),
            preview_html: None,
            preview_text: None,
            html_bytes: 0,
            sent_without: Vec::new(),
        }))
    }

    #[tokio::test]
    async fn jobs_come_back_earliest_due_first_and_not_before() {
        let queue = Retries::default();
        let start = Instant::now();
        queue.schedule(job(1), Duration::from_millis(60)).await;
        queue.schedule(job(2), Duration::from_millis(20)).await;
        queue.schedule(job(3), Duration::from_millis(20)).await;
        assert!(queue.try_take(None).is_none(), "nothing is due yet");
        let order: Vec<u64> = [
            queue.take(|| false, || None).await,
            queue.take(|| false, || None).await,
            queue.take(|| false, || None).await,
        ]
        .into_iter()
        .map(|j| j.unwrap().message.line)
        .collect();
        assert_eq!(order, [2, 3, 1]);
        assert!(start.elapsed() >= Duration::from_millis(60));
        assert!(queue.queue().is_empty());
    }

    #[tokio::test]
    async fn a_relays_own_deferred_message_is_left_to_the_others_for_a_while() {
        let queue = Retries::default();
        let mut deferred = job(1);
        deferred.relay = Some(0);
        queue.schedule(deferred, Duration::ZERO).await;
        queue.schedule(job(2), Duration::ZERO).await;
        let first = queue
            .try_take(Some(0))
            .expect("the other job is not its own");
        assert_eq!(first.message.line, 2);
        assert!(
            queue.try_take(Some(0)).is_none(),
            "its own, left to the others"
        );
        let other = queue
            .try_take(Some(1))
            .expect("another relay takes it at once");
        assert_eq!(other.message.line, 1);
        let mut deferred = job(3);
        deferred.relay = Some(0);
        queue.schedule(deferred, Duration::ZERO).await;
        let start = Instant::now();
        let own = queue.take(|| false, || Some(0)).await.unwrap();
        assert_eq!(own.message.line, 3);
        assert!(
            start.elapsed() >= ANOTHER_RELAYS_TURN,
            "after the others' turn"
        );
        assert!(queue.try_take(None).is_none());
    }

    #[tokio::test]
    async fn a_waiting_take_gives_up_when_woken_without_polling() {
        let queue = Arc::new(Retries::default());
        let stop = Arc::new(AtomicBool::new(false));
        // A job due in an hour: the waiter sleeps until then unless something changes.
        queue.schedule(job(1), Duration::from_secs(3600)).await;
        let waiter = {
            let (queue, stop) = (Arc::clone(&queue), Arc::clone(&stop));
            tokio::spawn(async move {
                queue
                    .take(|| stop.load(atomic::Ordering::SeqCst), || None)
                    .await
                    .is_none()
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        stop.store(true, atomic::Ordering::SeqCst);
        queue.wake();
        let gave_up = tokio::time::timeout(Duration::from_secs(5), waiter).await;
        assert!(gave_up.expect("woken at once").unwrap());
    }
}
