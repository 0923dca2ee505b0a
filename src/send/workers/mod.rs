//! The sending workers: `concurrency` async tasks, each owning one SMTP session that it reuses for
//! message after message. A worker takes an item from the renderer's bounded channel (or a message
//! due for retry, [`super::queue`]), waits for the rate limiter, runs the transaction and writes the
//! result row. A transient failure is put back with a backoff delay instead of blocking the worker;
//! a fatal one (authentication, TLS, no session can be opened) sets the stop flag so every worker
//! ends after its current message, and no recipient is marked failed because of it.
//!
//! Each worker is one slot of the journal's in-flight record: it marks its message there just before
//! the final dot and clears it with the outcome row. A message whose fate is unknown after the dot
//! is never retried. What failures say about the relay as a whole ([`retry::Streaks`]) acts on all
//! workers: "slow down" replies pause every session, identical rejections stop the run, and a
//! relay that refuses extra sessions while others deliver means fewer sessions, not a failed run.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::failures::Kind;
use crate::journal::{Journal, RunLock, Status};
use crate::pipeline::Prepared;
use crate::progress::{Counters, note};

mod results;

use super::queue::{Job, Retries};
use super::rate::Pacer;
use super::retry::{self, Streaks, Verdict};
use super::session::{Attempt, Session};
use super::smtp::{ConnectError, Connector};

/// What all workers share.
pub struct Workers {
    pub connector: Connector,
    pub pacer: Pacer,
    pub journal: Arc<Journal>,
    pub counters: Arc<Counters>,
    pub retries: u32,
    /// Set to stop taking new recipients (a stop signal, fatal error).
    pub stop: Arc<AtomicBool>,
    streaks: Streaks,
    fatal: Mutex<Option<Error>>,
    queue: Retries,
    /// Sessions open right now.
    live: AtomicUsize,
    /// The relay refused a session while others worked, and the user was told.
    said_fewer: AtomicBool,
}

/// What opening a session came to.
enum Opened {
    Session(Box<Session>),
    /// Not now (the relay refused this one while others work, or a retry is due): try later.
    Later(Duration),
    /// The run stops (asked to, or nothing can be opened).
    Stop,
}

impl Workers {
    pub fn new(
        connector: Connector,
        pacer: Pacer,
        journal: Arc<Journal>,
        counters: Arc<Counters>,
        retries: u32,
        stop: Arc<AtomicBool>,
        streaks: Streaks,
    ) -> Workers {
        let queue = Retries::counting(Arc::clone(&counters.waiting));
        Workers {
            connector,
            pacer,
            journal,
            counters,
            retries,
            stop,
            streaks,
            fatal: Mutex::new(None),
            queue,
            live: AtomicUsize::new(0),
            said_fewer: AtomicBool::new(false),
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

    /// Resolves once the run is asked to stop.
    async fn stopping(&self) {
        self.queue.until(|| self.stopped()).await;
    }

    /// Resolves once the renderer's channel is drained and closed and no retry is pending: a worker
    /// waiting to open a session has nothing left to send. Checked again whenever the queue
    /// changes or a worker ends (the others end when they find the channel drained).
    async fn no_work_left(&self, rx: &async_channel::Receiver<Prepared>) {
        let drained = || rx.is_closed() && rx.is_empty() && !self.queue.pending();
        self.queue.until(drained).await;
    }

    /// Runs `concurrency` workers until the channel is drained and no retry is pending, or a stop.
    pub async fn run(self: &Arc<Self>, concurrency: usize, rx: async_channel::Receiver<Prepared>) {
        let tasks: Vec<_> = (0..concurrency)
            .map(|slot| tokio::spawn(Arc::clone(self).worker(slot, rx.clone())))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// One SMTP session's loop; `slot` is its place in the journal's in-flight record.
    async fn worker(self: Arc<Self>, slot: usize, rx: async_channel::Receiver<Prepared>) {
        let mut session: Option<Session> = None;
        let mut refused = 0;
        while let Some(mut job) = self.next_job(&rx).await {
            let m = &job.message;
            if !RunLock::fits(&m.message_id, &m.email, "") {
                let why = "the address is longer than SMTP allows (RFC 5321: 254 octets)";
                self.failed(Kind::Permanent, None, why, &job.message.email);
                self.finish(&job, Status::Failed, None, why, None).await;
                continue;
            }
            if session.as_ref().is_none_or(Session::is_broken) {
                self.close(&mut session).await;
                match self.open(&mut refused).await {
                    Opened::Session(s) => session = Some(*s),
                    Opened::Later(delay) => {
                        self.queue.schedule(job, Duration::ZERO).await;
                        tokio::select! {
                            () = tokio::time::sleep(delay) => continue,
                            () = self.stopping() => break,
                            () = self.no_work_left(&rx) => break,
                        }
                    }
                    Opened::Stop => break,
                }
            }
            let conn = session.as_mut().expect("opened above");
            // A stop while waiting for the rate limit's slot leaves this message unsent (no row:
            // the next run sends it); only messages already on their way are finished.
            let pace = tokio::select! {
                pace = self.pacer.next_slot() => pace,
                () = self.stopping() => break,
            };
            job.attempts += 1;
            let m = &job.message;
            let (email, message_id) = (m.email.clone(), m.message_id.clone());
            let before_dot = async {
                let begin = move |journal: &Journal| journal.begin(slot, &email, &message_id, "");
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
                self.close(&mut session).await;
            }
            self.settle(job, attempt, slot).await;
        }
        self.close(&mut session).await;
        // A worker waiting to open a session may now have nothing left to wait for.
        self.queue.wake();
    }

    /// Ends the worker's session, if it has one.
    async fn close(&self, session: &mut Option<Session>) {
        if let Some(s) = session.take() {
            self.live.fetch_sub(1, Ordering::SeqCst);
            if !s.is_broken() {
                s.quit().await;
            }
        }
    }

    /// Tries once to open a session. A transient refusal while other sessions deliver means the
    /// relay limits sessions per client: this worker tries again later, with backoff, and the run
    /// goes on with fewer sessions. Only when none is open does it count toward giving up.
    async fn open(&self, refused: &mut u32) -> Opened {
        *refused += 1;
        match self.connector.connect().await {
            Ok(session) => {
                *refused = 0;
                self.live.fetch_add(1, Ordering::SeqCst);
                Opened::Session(Box::new(session))
            }
            Err(ConnectError::Fatal(why)) => {
                self.stop_with(Error::fatal(why));
                Opened::Stop
            }
            Err(ConnectError::Transient(_)) if self.stopped() => Opened::Stop,
            Err(ConnectError::Transient(why)) => {
                let others = self.live.load(Ordering::SeqCst);
                if others == 0 && *refused > self.retries {
                    self.stop_with(Error::fatal(format!(
                        "{why} (gave up after {refused} attempt{}); check [smtp] host and port and \
                         that the server is reachable from here",
                        if *refused == 1 { "" } else { "s" }
                    )));
                    return Opened::Stop;
                }
                if others > 0 && !self.said_fewer.swap(true, Ordering::SeqCst) {
                    note(&format!(
                        "note: {why}; going on with the sessions that work and trying to open more \
                         later (lower [send] concurrency to match the relay's limit)"
                    ));
                }
                Opened::Later(retry::backoff((*refused).min(5)))
            }
        }
    }

    /// The next message to send, recording skipped and unrenderable rows on the way.
    async fn next_job(&self, rx: &async_channel::Receiver<Prepared>) -> Option<Job> {
        loop {
            if self.stopped() {
                return None;
            }
            if let Some(job) = self.queue.try_take() {
                return Some(job);
            }
            let item = tokio::select! {
                biased;
                job = self.queue.take(|| self.stopped()) => return job,
                item = rx.recv() => item,
            };
            match item {
                Ok(Prepared::Message { message, .. }) => return Some(Job::new(message)),
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
                Err(_) => return self.wait_for_retries().await,
            }
        }
    }

    /// After the channel is drained: the messages still waiting for a retry, until there are none.
    async fn wait_for_retries(&self) -> Option<Job> {
        self.queue
            .take(|| self.stopped() || !self.queue.pending())
            .await
    }

    /// Records the outcome of an attempt (clearing `slot`'s in-flight record with the row), or
    /// schedules the next one.
    async fn settle(&self, job: Job, attempt: Attempt, slot: usize) {
        let (code, detail) = match attempt {
            Attempt::Accepted { code, text } => {
                self.streaks.accepted();
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
                let verdict = self.streaks.rejected(code, &text, &job.message.email);
                return self.act_on(verdict, code, &text);
            }
            Attempt::Refused { detail } => {
                self.failed(Kind::Permanent, None, &detail, &job.message.email);
                return self
                    .finish(&job, Status::Failed, None, &detail, Some(slot))
                    .await;
            }
            Attempt::Rejected { code, text } if retry::is_throttling(code, &text) => {
                return self.throttled(job, code, &text, slot).await;
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
    async fn throttled(&self, mut job: Job, code: u16, text: &str, slot: usize) {
        job.throttled += 1;
        if let Err(e) = self.release(slot).await {
            return self.stop_with(e);
        }
        let verdict = self.streaks.throttled(code, text);
        let stop = matches!(verdict, Verdict::Stop(_));
        self.act_on(verdict, code, text);
        if !stop {
            self.queue.schedule(job, Duration::ZERO).await;
        }
    }

    /// Carries out what a failure says about the relay as a whole.
    fn act_on(&self, verdict: Verdict, code: u16, text: &str) {
        match verdict {
            Verdict::Carry => {}
            Verdict::Pause(pause) => {
                if self.pacer.pause(pause) {
                    note(&format!(
                        "note: the relay asks to slow down (\"{code} {text}\"): every session \
                         pauses {}s",
                        pause.as_secs()
                    ));
                }
            }
            Verdict::Stop(why) => self.stop_with(Error::fatal(why)),
        }
    }
}
