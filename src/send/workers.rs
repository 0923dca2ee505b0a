//! The sending workers: `concurrency` async tasks, each owning one SMTP session that it reuses for
//! message after message. A worker takes an item from the renderer's bounded channel (or a message
//! due for retry), waits for the rate limiter, runs the transaction and writes the result row. A
//! transient failure is put back with a backoff delay instead of blocking the worker; a fatal one
//! (authentication, TLS, unreachable server) sets the stop flag so every worker ends after its
//! current message, and no recipient is marked failed because of it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::Error;
use crate::journal::{Journal, Record, Status};
use crate::pipeline::Item;
use crate::progress::Counters;
use crate::render::Rendered;

use super::rate::Pacer;
use super::retry;
use super::smtp::{Attempt, ConnectError, Connector, Session};

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
    /// Set to stop taking new recipients (Ctrl-C, fatal error).
    pub stop: Arc<AtomicBool>,
    fatal: Mutex<Option<Error>>,
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
    ) -> Workers {
        let (retry_tx, retry_rx) = async_channel::unbounded();
        Workers {
            connector,
            pacer,
            journal,
            counters,
            retries,
            stop,
            fatal: Mutex::new(None),
            retry_tx,
            retry_rx,
            waiting: AtomicUsize::new(0),
        }
    }

    /// The error that stopped the run, if one did.
    pub fn take_fatal(&self) -> Option<Error> {
        self.fatal.lock().unwrap().take()
    }

    fn stop_with(&self, error: Error) {
        let mut fatal = self.fatal.lock().unwrap();
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
            .map(|_| tokio::spawn(Arc::clone(self).worker(rx.clone())))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }

    async fn worker(self: Arc<Self>, rx: async_channel::Receiver<Item>) {
        let mut session: Option<Session> = None;
        while let Some(mut job) = self.next_job(&rx).await {
            if session.as_ref().is_none_or(Session::is_broken) {
                match self.connect().await {
                    Ok(s) => session = Some(s),
                    Err(e) => {
                        self.stop_with(e);
                        break;
                    }
                }
            }
            let conn = session.as_mut().expect("connected above");
            let slot = self.pacer.next_slot().await;
            job.attempts += 1;
            let attempt = conn
                .send(&job.message.envelope, &job.message.bytes, slot)
                .await;
            let drop_session = matches!(attempt, Attempt::Broken { .. })
                || matches!(attempt, Attempt::Rejected { code: 421, .. });
            if drop_session {
                session = None;
            }
            self.settle(job, attempt).await;
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
                    self.record(&skipped.email, Status::Skipped, 0, None, "", &detail);
                }
                Ok(Item::RenderFailed {
                    recipient, error, ..
                }) => {
                    let detail = format!("not rendered: {error}");
                    self.record(&recipient.email, Status::Failed, 0, None, "", &detail);
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

    /// Opens a session, retrying transient failures; gives up with a fatal error.
    async fn connect(&self) -> Result<Session, Error> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.connector.connect().await {
                Ok(session) => return Ok(session),
                Err(ConnectError::Fatal(why)) => return Err(Error::Fatal(why)),
                Err(ConnectError::Transient(why)) if tries > self.retries || self.stopped() => {
                    return Err(Error::Fatal(format!(
                        "{why} (gave up after {tries} attempts); check [smtp] host and port and that \
                         the server is reachable from here"
                    )));
                }
                Err(ConnectError::Transient(_)) => tokio::time::sleep(retry::backoff(tries)).await,
            }
        }
    }

    /// Records the outcome of an attempt, or schedules the next one.
    async fn settle(&self, job: Job, attempt: Attempt) {
        let (code, detail) = match attempt {
            Attempt::Accepted { code, text } => {
                return self.finish(&job, Status::Sent, Some(code), &text);
            }
            Attempt::Rejected { code, text } if retry::is_permanent(code) => {
                return self.finish(&job, Status::Failed, Some(code), &text);
            }
            Attempt::Refused { detail } => return self.finish(&job, Status::Failed, None, &detail),
            Attempt::Rejected { code, text } => (Some(code), text),
            Attempt::Broken { detail } => (None, detail),
        };
        if job.attempts > self.retries {
            return self.finish(&job, Status::Failed, code, &detail);
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

    fn finish(&self, job: &Job, status: Status, code: Option<u16>, detail: &str) {
        let m = &job.message;
        self.record(&m.email, status, job.attempts, code, &m.message_id, detail);
    }

    fn record(
        &self,
        email: &str,
        status: Status,
        attempts: u32,
        code: Option<u16>,
        message_id: &str,
        detail: &str,
    ) {
        let counter = match status {
            Status::Sent => &self.counters.sent,
            Status::Failed => &self.counters.failed,
            Status::Skipped => &self.counters.skipped,
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
        if let Err(e) = self.journal.append(&record) {
            self.stop_with(e);
        }
    }
}
