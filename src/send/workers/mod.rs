//! The sending workers: for each relay ([`super::relays`]) its `concurrency` async tasks, each
//! owning one SMTP session that it reuses for message after message. A worker takes an item from
//! the renderer's bounded channel when its relay's turn comes (or a message due for retry,
//! [`super::queue`], whoever's turn it is), waits for the rate limiters (its relay's, then all
//! relays'), runs the transaction and writes the result row. A transient failure is put back with a
//! backoff delay instead of blocking the worker; a fatal one (authentication, TLS, no session can
//! be opened) takes its relay out, so that its workers end after their current message and the
//! other relays take its work; with no relay left the run stops. No recipient is marked failed
//! because of it.
//!
//! Each worker is one slot of the journal's in-flight record: it marks its message there just before
//! the final dot and clears it with the outcome row. A message whose fate is unknown after the dot
//! is never retried. What failures say about a relay as a whole ([`retry::Streaks`]) acts on all its
//! workers: "slow down" replies pause its every session, identical rejections take it out, and a
//! relay that refuses extra sessions while others deliver means fewer sessions, not a failed run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::failures::Kind;
use crate::journal::{Journal, RunLock, Status};
use crate::pipeline::Prepared;
use crate::progress::{Counters, note};

mod results;
mod sessions;

use super::queue::{Job, Retries};
use super::rate::Pacer;
use super::relays::{Relay, Relays};
use super::retry::{self, Verdict};
use super::session::{Attempt, Session};
use sessions::Opened;

/// What all workers share.
pub struct Workers {
    pub relays: Relays,
    /// `[send] rate`: all relays together.
    pub pacer: Pacer,
    pub journal: Arc<Journal>,
    pub counters: Arc<Counters>,
    pub retries: u32,
    /// Set to stop taking new recipients (a stop signal, fatal error).
    pub stop: Arc<AtomicBool>,
    fatal: Mutex<Option<Error>>,
    queue: Retries,
}

impl Workers {
    pub fn new(
        relays: Relays,
        pacer: Pacer,
        journal: Arc<Journal>,
        counters: Arc<Counters>,
        retries: u32,
        stop: Arc<AtomicBool>,
    ) -> Workers {
        let queue = Retries::counting(Arc::clone(&counters.waiting));
        Workers {
            relays,
            pacer,
            journal,
            counters,
            retries,
            stop,
            fatal: Mutex::new(None),
            queue,
        }
    }

    /// The error that stopped the run, if one did.
    pub fn take_fatal(&self) -> Option<Error> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn stop_with(&self, error: Error) {
        let mut fatal = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        if fatal.is_none() {
            *fatal = Some(error);
        }
        drop(fatal);
        self.request_stop();
    }

    /// Stops taking recipients; every worker waiting for something notices at once.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.queue.wake();
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Takes `relay` out for `why` (its workers end after their message, the others take its
    /// work); with no relay left the run stops.
    fn take_out(&self, relay: &Relay, why: String) {
        match self.relays.take_out(relay, &why) {
            Some(last) => self.stop_with(last),
            None => self.queue.wake(),
        }
    }

    /// Whether a worker of `relay` is done: the run stops, or its relay is gone.
    fn done(&self, relay: &Relay) -> bool {
        self.stopped() || relay.is_gone()
    }

    /// Resolves once a worker of `relay` is done.
    async fn stopping(&self, relay: &Relay) {
        self.queue.until(|| self.done(relay)).await;
    }

    /// Resolves once the renderer's channel is drained and closed and no work is left (none due for
    /// a retry, none in another worker's hands): a worker waiting to open a session has nothing
    /// left to send. Checked again whenever the queue changes or a message is settled.
    async fn no_work_left(&self, rx: &async_channel::Receiver<Prepared>) {
        let drained = || rx.is_closed() && rx.is_empty() && !self.queue.work_left();
        self.queue.until(drained).await;
    }

    /// Runs every relay's workers until the channel is drained and no retry is pending, or a stop.
    pub async fn run(self: &Arc<Self>, rx: async_channel::Receiver<Prepared>) {
        let slots = (self.relays.list.iter()).flat_map(|r| r.slots.clone().map(|s| (r.index, s)));
        let tasks: Vec<_> = slots
            .map(|(relay, slot)| tokio::spawn(Arc::clone(self).worker(relay, slot, rx.clone())))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// One SMTP session's loop, to the relay at `relay`; `slot` is its place in the journal's
    /// in-flight record.
    async fn worker(
        self: Arc<Self>,
        relay: usize,
        slot: usize,
        rx: async_channel::Receiver<Prepared>,
    ) {
        let relay = &self.relays.list[relay];
        let mut session: Option<Session> = None;
        let mut refused = 0;
        while let Some(mut job) = self.next_job(relay, &rx).await {
            // Settled when this iteration ends: its row written, or back in the queue.
            let mut held = self.queue.held();
            if !self.may_take(relay) {
                // Another relay takes it.
                self.queue.schedule(job, Duration::ZERO).await;
                break;
            }
            let m = &job.message;
            if !RunLock::fits(&m.message_id, &m.email, &relay.name) {
                let why = "the address is longer than SMTP allows (RFC 5321: 254 octets)";
                self.failed(Kind::Permanent, None, why, &job.message.email);
                self.finish(&job, Status::Failed, None, why, None).await;
                continue;
            }
            if session.as_ref().is_none_or(Session::is_broken) {
                self.close(relay, &mut session).await;
                match self.open(relay, &mut refused).await {
                    Opened::Session(s) => session = Some(*s),
                    Opened::Later(delay) => {
                        match self.later(relay, job, delay, &rx, &mut held).await {
                            true => continue,
                            false => break,
                        }
                    }
                    Opened::Stop => {
                        self.queue.schedule(job, Duration::ZERO).await;
                        break;
                    }
                }
            }
            let conn = session.as_mut().expect("opened above");
            // A stop while waiting for the rate limit's slot leaves this message unsent (no row:
            // the next run sends it); only messages already on their way are finished.
            let pace = tokio::select! {
                pace = self.pace(relay) => pace,
                () = self.stopping(relay) => {
                    if relay.is_gone() {
                        self.queue.schedule(job, Duration::ZERO).await;
                    }
                    break;
                }
            };
            job.attempts += 1;
            job.relay = Some(relay.index);
            let m = &job.message;
            let (email, message_id) = (m.email.clone(), m.message_id.clone());
            let name = Arc::clone(&relay.name);
            let before_dot = async {
                let begin =
                    move |journal: &Journal| journal.begin(slot, &email, &message_id, &name);
                match self.write(begin).await {
                    Ok(()) => true,
                    Err(e) => {
                        self.stop_with(e);
                        false
                    }
                }
            };
            let attempt = conn.send(&m.envelope, &m.bytes, pace, before_dot).await;
            if matches!(
                attempt,
                Attempt::Broken { .. }
                    | Attempt::Unknown { .. }
                    | Attempt::Rejected { code: 421, .. }
            ) {
                self.close(relay, &mut session).await;
            }
            self.settle(relay, job, attempt, slot).await;
        }
        self.close(relay, &mut session).await;
        // A worker waiting to open a session may now have nothing left to wait for.
        self.queue.wake();
    }

    /// The next message for a worker of `relay`, recording skipped and unrenderable rows on the
    /// way.
    async fn next_job(&self, relay: &Relay, rx: &async_channel::Receiver<Prepared>) -> Option<Job> {
        loop {
            if self.done(relay) {
                return None;
            }
            if let Some(job) = self.queue.try_take(self.relays.leave_to_others(relay)) {
                return Some(job);
            }
            // Waiting on the channel counts as holding a message: one may come.
            let fresh = async {
                let held = self.queue.hold();
                (held, self.relays.next_fresh(relay, rx).await)
            };
            let (held, item) = tokio::select! {
                biased;
                job = self.queue.take(|| self.done(relay), || self.relays.leave_to_others(relay)) => return job,
                fresh = fresh => fresh,
            };
            match item {
                Ok(Prepared::Message { message, .. }) => {
                    held.keep();
                    return Some(Job::new(message));
                }
                Ok(Prepared::Skipped { skipped, .. }) => {
                    let detail = skipped.reason.to_string();
                    self.never_sent(Status::Skipped, &skipped.email, &detail)
                        .await;
                }
                Ok(Prepared::RenderFailed {
                    recipient, error, ..
                }) => {
                    let detail = format!("not rendered: {error}");
                    self.failed(Kind::NotRendered, None, &detail, &recipient.email);
                    self.never_sent(Status::Failed, &recipient.email, &detail)
                        .await;
                }
                Ok(Prepared::Abort(e)) => {
                    self.stop_with(e);
                    return None;
                }
                Err(_) => {
                    drop(held); // nothing came, nor will
                    return self.wait_for_retries(relay).await;
                }
            }
        }
    }

    /// After the channel is drained: the messages still waiting for a retry, until none is left,
    /// in the queue or in another worker's hands.
    async fn wait_for_retries(&self, relay: &Relay) -> Option<Job> {
        self.queue
            .take(
                || self.done(relay) || !self.queue.work_left(),
                || self.relays.leave_to_others(relay),
            )
            .await
    }

    /// Records the outcome of an attempt (clearing `slot`'s in-flight record with the row), or
    /// schedules the next one.
    async fn settle(&self, relay: &Relay, job: Job, attempt: Attempt, slot: usize) {
        let (code, detail) = match attempt {
            Attempt::Accepted { code, text } => {
                relay.streaks.accepted();
                let text =
                    crate::render::attachments::with_left_out(&job.message.sent_without, text);
                return self
                    .finish(&job, Status::Sent, Some(code), &text, Some(slot))
                    .await;
            }
            Attempt::Unknown { code, detail } => {
                let detail = format!(
                    "{detail}: it may have been delivered, so it is not sent again; check with \
                     the relay (search for the Message-ID), then run with --retry-unknown to send it \
                     again"
                );
                return self
                    .finish(&job, Status::Unknown, code, &detail, Some(slot))
                    .await;
            }
            Attempt::Rejected { code, text } if retry::is_permanent(code) => {
                self.failed(Kind::Permanent, Some(code), &text, &job.message.email);
                self.finish(&job, Status::Failed, Some(code), &text, Some(slot))
                    .await;
                let verdict = relay.streaks.rejected(code, &text, &job.message.email);
                return self.act_on(relay, verdict, code, &text);
            }
            Attempt::Refused { detail } => {
                self.failed(Kind::Permanent, None, &detail, &job.message.email);
                return self
                    .finish(&job, Status::Failed, None, &detail, Some(slot))
                    .await;
            }
            Attempt::Rejected { code, text } if retry::is_throttling(code, &text) => {
                return self.throttled(relay, job, code, &text, slot).await;
            }
            Attempt::Rejected { code, text } => (Some(code), text),
            Attempt::Broken { detail } => (None, detail),
        };
        if job.counted_attempts() > self.retries {
            self.failed(Kind::Temporary, code, &detail, &job.message.email);
            return self
                .finish(&job, Status::Failed, code, &detail, Some(slot))
                .await;
        }
        if let Err(e) = self.release(slot).await {
            return self.stop_with(e);
        }
        let delay = retry::backoff(job.counted_attempts());
        self.queue.schedule(job, delay).await;
    }

    /// The relay asked to slow down: every session pauses, and the message goes back to the queue
    /// without using up its retries (it was not refused, only deferred).
    async fn throttled(&self, relay: &Relay, mut job: Job, code: u16, text: &str, slot: usize) {
        job.throttled += 1;
        if let Err(e) = self.release(slot).await {
            return self.stop_with(e);
        }
        let verdict = relay.streaks.throttled(code, text);
        self.act_on(relay, verdict, code, text);
        // Taken out, or not: another session (of another relay, when it was taken out) sends it.
        self.queue.schedule(job, Duration::ZERO).await;
    }

    /// Carries out what a failure says about the relay as a whole.
    fn act_on(&self, relay: &Relay, verdict: Verdict, code: u16, text: &str) {
        match verdict {
            Verdict::Carry => {}
            Verdict::Pause(pause) => {
                self.relays.rest(relay, tokio::time::Instant::now() + pause);
                if relay.pacer.pause(pause) {
                    let whose = match self.relays.list.len() {
                        1 => "the relay".to_string(),
                        _ => format!("relay {}", relay.name),
                    };
                    note(&format!(
                        "note: {whose} asks to slow down (\"{code} {text}\"): every session \
                         to it pauses {}s",
                        pause.as_secs()
                    ));
                }
            }
            Verdict::Stop(why) => self.take_out(relay, why),
        }
    }
}
