//! The sending workers: `concurrency` async tasks, each owning one SMTP session that it reuses for
//! message after message. A worker takes an item from the renderer's bounded channel (or a message
//! due for retry), waits for the rate limiter, runs the transaction and writes the result row. A
//! transient failure is put back with a backoff delay instead of blocking the worker; a fatal one
//! (authentication, TLS, unreachable server) sets the stop flag so every worker ends after its
//! current message, and no recipient is marked failed because of it. Each worker is one slot of the
//! journal's in-flight record: it marks its message there just before the final dot and clears it
//! with the outcome row. A message whose fate is unknown after the dot is never retried; a relay
//! that rejects everything stops the run after `stop_after_rejections` identical rejections.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::journal::{Journal, Record, RunLock, Status};
use crate::pipeline::Item;
use crate::progress::Counters;
use crate::render::Rendered;

use super::rate::Pacer;
use super::retry;
use super::session::{Attempt, Session};
use super::smtp::{ConnectError, Connector};

/// At most this many messages wait for a retry at once; beyond it a worker waits out the backoff
/// itself, so a relay answering 4xx to everything slows the run instead of filling memory.
const MAX_WAITING_RETRIES: usize = 1024;

/// A message on its way, with its attempts so far.
struct Job {
    message: Box<Rendered>,
    attempts: u32,
}

/// What all workers share.
pub struct Workers {
    pub connector: Connector,
    pub pacer: Pacer,
    pub journal: Journal,
    pub counters: Arc<Counters>,
    pub retries: u32,
    /// Set to stop taking new recipients (a stop signal, fatal error).
    pub stop: Arc<AtomicBool>,
    /// Stop after this many consecutive permanent rejections with the same reply.
    pub stop_after_rejections: Option<u32>,
    fatal: Mutex<Option<Error>>,
    /// The last permanent rejection's reply (address-free) and how many in a row gave it.
    rejections: Mutex<(String, u32)>,
    retry_tx: async_channel::Sender<Job>,
    retry_rx: async_channel::Receiver<Job>,
    waiting: AtomicUsize,
}

impl Workers {
    pub fn new(
        connector: Connector,
        pacer: Pacer,
        journal: Journal,
        counters: Arc<Counters>,
        retries: u32,
        stop: Arc<AtomicBool>,
        stop_after_rejections: Option<u32>,
    ) -> Workers {
        let (retry_tx, retry_rx) = async_channel::unbounded();
        Workers {
            connector,
            pacer,
            journal,
            counters,
            retries,
            stop,
            stop_after_rejections,
            fatal: Mutex::new(None),
            rejections: Mutex::new((String::new(), 0)),
            retry_tx,
            retry_rx,
            waiting: AtomicUsize::new(0),
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
        self.stop.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Runs `concurrency` workers until the channel is drained and no retry is pending, or a stop.
    pub async fn run(self: &Arc<Self>, concurrency: usize, rx: async_channel::Receiver<Item>) {
        let tasks: Vec<_> = (0..concurrency)
            .map(|slot| tokio::spawn(Arc::clone(self).worker(slot, rx.clone())))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    /// One SMTP session's loop; `slot` is its place in the journal's in-flight record.
    async fn worker(self: Arc<Self>, slot: usize, rx: async_channel::Receiver<Item>) {
        let mut session: Option<Session> = None;
        while let Some(mut job) = self.next_job(&rx).await {
            let m = &job.message;
            if !RunLock::fits(&m.message_id, &m.email) {
                let why = "the address is longer than SMTP allows (RFC 5321: 254 octets)";
                self.finish(&job, Status::Failed, None, why, None);
                continue;
            }
            if session.as_ref().is_none_or(Session::is_broken) {
                match self.connect().await {
                    Ok(Some(s)) => session = Some(s),
                    Ok(None) => break, // stopped while waiting to reconnect
                    Err(e) => {
                        self.stop_with(e);
                        break;
                    }
                }
            }
            let conn = session.as_mut().expect("connected above");
            // A stop while waiting for the rate limit's slot leaves this message unsent (no row:
            // the next run sends it); only messages already on their way are finished.
            let pace = tokio::select! {
                pace = self.pacer.next_slot() => pace,
                () = self.stopping() => break,
            };
            job.attempts += 1;
            let m = &job.message;
            let before_dot = || match self.journal.begin(slot, &m.email, &m.message_id) {
                Ok(()) => true,
                Err(e) => {
                    self.stop_with(e);
                    false
                }
            };
            let attempt = conn.send(&m.envelope, &m.bytes, pace, before_dot).await;
            let drop_session = matches!(
                attempt,
                Attempt::Broken { .. }
                    | Attempt::Unknown { .. }
                    | Attempt::Rejected { code: 421, .. }
            );
            if drop_session {
                session = None;
            }
            self.settle(job, attempt, slot).await;
        }
        if let Some(session) = session {
            session.quit().await;
        }
    }

    /// The next message to send, recording skipped and unrenderable rows on the way.
    async fn next_job(&self, rx: &async_channel::Receiver<Item>) -> Option<Job> {
        loop {
            if self.stopped() {
                return None;
            }
            if let Ok(job) = self.retry_rx.try_recv() {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                return Some(job);
            }
            let item = tokio::select! {
                biased;
                Ok(job) = self.retry_rx.recv() => {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Some(job);
                }
                item = rx.recv() => item,
            };
            match item {
                Ok(Item::Message { message, .. }) => {
                    return Some(Job {
                        message,
                        attempts: 0,
                    });
                }
                Ok(Item::Skipped { skipped, .. }) => {
                    let detail = skipped.reason.to_string();
                    self.record(&skipped.email, Status::Skipped, 0, None, "", &detail, None);
                }
                Ok(Item::RenderFailed {
                    recipient, error, ..
                }) => {
                    let detail = format!("not rendered: {error}");
                    self.record(&recipient.email, Status::Failed, 0, None, "", &detail, None);
                }
                Ok(Item::Abort(e)) => {
                    self.stop_with(e);
                    return None;
                }
                Err(_) => return self.wait_for_retries().await,
            }
        }
    }

    /// After the channel is drained: the messages still waiting for a retry, until there are none.
    async fn wait_for_retries(&self) -> Option<Job> {
        while self.waiting.load(Ordering::SeqCst) > 0 && !self.stopped() {
            tokio::select! {
                Ok(job) = self.retry_rx.recv() => {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Some(job);
                }
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        None
    }

    /// Resolves once the run is asked to stop.
    async fn stopping(&self) {
        while !self.stopped() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens a session, retrying transient failures; gives up with a fatal error. `None` when the
    /// run was asked to stop meanwhile.
    async fn connect(&self) -> Result<Option<Session>, Error> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.connector.connect().await {
                Ok(session) => return Ok(Some(session)),
                Err(ConnectError::Fatal(why)) => return Err(Error::Fatal(why)),
                Err(ConnectError::Transient(_)) if self.stopped() => return Ok(None),
                Err(ConnectError::Transient(why)) if tries > self.retries => {
                    return Err(Error::Fatal(format!(
                        "{why} (gave up after {tries} attempts); check [smtp] host and port and that \
                         the server is reachable from here"
                    )));
                }
                Err(ConnectError::Transient(_)) => tokio::select! {
                    () = tokio::time::sleep(retry::backoff(tries)) => {}
                    () = self.stopping() => return Ok(None),
                },
            }
        }
    }

    /// Records the outcome of an attempt (clearing `slot`'s in-flight record with the row), or
    /// schedules the next one.
    async fn settle(&self, job: Job, attempt: Attempt, worker: usize) {
        let slot = Some(worker);
        let (code, detail) = match attempt {
            Attempt::Accepted { code, text } => {
                self.rejections.lock().unwrap_or_else(|p| p.into_inner()).1 = 0;
                return self.finish(&job, Status::Sent, Some(code), &text, slot);
            }
            Attempt::Unknown { code, detail } => {
                let detail = format!(
                    "{detail}: it may have been delivered, so it is not sent again; check with \
                     the relay (search for the Message-ID), then run with --retry-unknown to send it \
                     again"
                );
                return self.finish(&job, Status::Unknown, code, &detail, slot);
            }
            Attempt::Rejected { code, text } if retry::is_permanent(code) => {
                self.finish(&job, Status::Failed, Some(code), &text, slot);
                return self.count_rejection(code, &text, &job.message.email);
            }
            Attempt::Refused { detail } => {
                return self.finish(&job, Status::Failed, None, &detail, slot);
            }
            Attempt::Rejected { code, text } => (Some(code), text),
            Attempt::Broken { detail } => (None, detail),
        };
        if job.attempts > self.retries {
            return self.finish(&job, Status::Failed, code, &detail, slot);
        }
        if let Err(e) = self.journal.release(worker) {
            return self.stop_with(e);
        }
        let delay = retry::backoff(job.attempts);
        if self.waiting.load(Ordering::SeqCst) >= MAX_WAITING_RETRIES {
            tokio::time::sleep(delay).await;
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let _ = self.retry_tx.send(job).await;
            return;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let tx = self.retry_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = tx.send(job).await;
        });
    }

    /// Counts a permanent rejection; stops the run when `stop_after_rejections` in a row gave the
    /// same reply (the recipient's address left out, as relays often quote it), since a relay that
    /// rejects everything would otherwise mark the whole list failed.
    fn count_rejection(&self, code: u16, text: &str, email: &str) {
        let Some(limit) = self.stop_after_rejections else {
            return;
        };
        let reply = format!("{code} {}", without_address(text, email));
        let mut last = self.rejections.lock().unwrap_or_else(|p| p.into_inner());
        if last.0 == reply {
            last.1 += 1;
        } else {
            *last = (reply, 1);
        }
        if last.1 >= limit {
            let message = format!(
                "the relay rejected {limit} messages in a row with the same reply: \"{code} {text}\"; \
                 the run stopped so the rest of the list is not marked failed. Fix what the reply \
                 says (sender, account, quota, relay access), then run again: recipients without \
                 a row are sent then ([send] stop_after_rejections = 0 disables this stop)"
            );
            drop(last);
            self.stop_with(Error::Fatal(message));
        }
    }

    fn finish(
        &self,
        job: &Job,
        status: Status,
        code: Option<u16>,
        detail: &str,
        slot: Option<usize>,
    ) {
        let m = &job.message;
        self.record(
            &m.email,
            status,
            job.attempts,
            code,
            &m.message_id,
            detail,
            slot,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        email: &str,
        status: Status,
        attempts: u32,
        code: Option<u16>,
        message_id: &str,
        detail: &str,
        slot: Option<usize>,
    ) {
        let counter = match status {
            Status::Sent => &self.counters.sent,
            Status::Failed => &self.counters.failed,
            Status::Skipped => &self.counters.skipped,
            Status::Unknown => &self.counters.unknown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let record = Record {
            email,
            status,
            attempts,
            code,
            message_id,
            detail,
        };
        if let Err(e) = self.journal.append(&record, slot) {
            self.stop_with(e);
        }
    }
}

/// A reply text with the recipient's address (in any case) taken out.
fn without_address(text: &str, email: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let email = email.trim().to_ascii_lowercase();
    match lower.find(&email).filter(|_| !email.is_empty()) {
        Some(i) => format!("{}{}", &text[..i], &text[i + email.len()..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rejections_compare_without_the_address() {
        let a = super::without_address("<Bob@X.example>: Relay access denied", "bob@x.example");
        let b = super::without_address("<ann@x.example>: Relay access denied", "ann@x.example");
        assert_eq!(a, b);
        assert_eq!(a, "<>: Relay access denied");
    }
}
