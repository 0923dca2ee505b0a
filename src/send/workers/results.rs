//! What the workers do with an outcome: count it (for the progress bar and the summary) and write
//! its result-log row. The journal's writes — a row, an in-flight mark — are blocking file writes,
//! so they run on tokio's blocking pool, never on the async threads that drive the SMTP sessions;
//! each worker awaits its own, so one session's mark, row and next mark reach the files in order.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Workers;
use crate::error::{Error, Result};
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
        let record = Record {
            email: &job.message.email,
            status,
            attempts: job.attempts,
            code,
            message_id: &job.message.message_id,
            detail,
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
        let owned = [record.email, record.message_id, record.detail].map(str::to_owned);
        let append = move |journal: &Journal| {
            let [email, message_id, detail] = &owned;
            let record = Record {
                email,
                status,
                attempts,
                code,
                message_id,
                detail,
            };
            journal.append(&record, slot)
        };
        if let Err(e) = self.write(append).await {
            self.stop_with(e);
        }
    }

    /// Runs one write of the journal (a row, an in-flight mark) on tokio's blocking pool: they are
    /// blocking file writes, kept off the async threads that drive every SMTP session. Each worker
    /// awaits its own writes, so a session's mark, row and next mark reach the files in order.
    pub(super) async fn write(
        &self,
        write: impl FnOnce(&Journal) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let journal = Arc::clone(&self.journal);
        match tokio::task::spawn_blocking(move || write(&journal)).await {
            Ok(written) => written,
            Err(e) => Err(Error::fatal(format!("the result log's writer failed: {e}"))),
        }
    }

    /// Clears `slot`'s in-flight mark: its attempt ended without a row (it will be retried).
    pub(super) async fn release(&self, slot: usize) -> Result<()> {
        self.write(move |journal| journal.release(slot)).await
    }
}
