//! What the workers do with an outcome: count it (for the progress bar and the summary) and write
//! its result-log row. Every write of the journal (a row, an in-flight mark) goes through
//! [`Workers::write`], on the worker itself: each is one small `write(2)` into the page cache (the
//! `fdatasync` runs on the journal's own thread), and handing them to tokio's blocking pool cost a
//! third of the send's throughput in thread wake-ups (4.25 s → 5.84 s for 20,000 messages to
//! smtp-sink, measured alternately); the order a session needs — its mark, its row, its next mark
//! — is then simply the order of its own code.

use std::sync::atomic::Ordering;

use super::Workers;
use crate::error::Result;
use crate::failures::Kind;
use crate::journal::{Journal, Record, Status};
use crate::send::queue::Job;

impl Workers {
    /// Records a failure for the summary's groups.
    pub(super) fn failed(&self, kind: Kind, code: Option<u16>, reason: &str, email: &str) {
        self.counters.failures.record(kind, code, reason, email);
    }

    pub(super) async fn finish(
        &self,
        job: &Job,
        status: Status,
        code: Option<u16>,
        detail: &str,
        slot: Option<usize>,
    ) {
        let relay = job.relay.map(|i| &self.relays.list[i]);
        if let Some(relay) = relay {
            relay.count(status);
        }
        let record = Record {
            email: &job.message.email,
            status,
            attempts: job.attempts,
            code,
            message_id: &job.message.message_id,
            detail,
            relay: relay.map_or("", |r| &r.name),
        };
        self.log(record, slot).await;
    }

    /// Logs a recipient that was never sent (skipped, or not rendered).
    pub(super) async fn never_sent(&self, status: Status, email: &str, detail: &str) {
        let record = Record {
            email,
            status,
            attempts: 0,
            code: None,
            message_id: "",
            detail,
            relay: "",
        };
        self.log(record, None).await;
    }

    /// Counts and appends one row (clearing `slot`'s in-flight mark with it); a log that cannot be
    /// written stops the run.
    async fn log(&self, record: Record<'_>, slot: Option<usize>) {
        let counter = match record.status {
            Status::Sent => &self.counters.sent,
            Status::Failed => &self.counters.failed,
            Status::Skipped => &self.counters.skipped,
            Status::Unknown => &self.counters.unknown,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let (status, attempts, code) = (record.status, record.attempts, record.code);
        let owned = [record.email, record.message_id, record.detail, record.relay];
        let owned = owned.map(str::to_owned);
        let append = move |journal: &Journal| {
            let [email, message_id, detail, relay] = &owned;
            let record = Record {
                email,
                status,
                attempts,
                code,
                message_id,
                detail,
                relay,
            };
            journal.append(&record, slot)
        };
        if let Err(e) = self.write(append).await {
            self.stop_with(e);
        }
    }

    /// Runs one write of the journal (a row, an in-flight mark): the one place a worker touches
    /// the files, so moving the writes elsewhere is a change here alone (see the module's note on
    /// why they run on the worker).
    pub(super) async fn write(
        &self,
        write: impl FnOnce(&Journal) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        write(&self.journal)
    }

    /// Clears `slot`'s in-flight mark: its attempt ended without a row (it will be retried).
    pub(super) async fn release(&self, slot: usize) -> Result<()> {
        self.write(move |journal| journal.release(slot)).await
    }
}
