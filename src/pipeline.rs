//! The one-way pipeline every command shares, and its one driver ([`drive`]): the recipients CSV is
//! read in order on one thread, each row is numbered and filtered (result log, limit, stop flag),
//! rendered in parallel on the rayon pool, and handed to the destination (preview files, the SMTP
//! workers, the lint) through a bounded channel. The channel's bound is what keeps memory flat
//! however long the list: rendering waits when delivery is behind.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::iter::{ParallelBridge, ParallelIterator};

use crate::campaign::suppress::Suppression;
use crate::campaign::{Recipient, RecipientList, Row, SkipReason, Skipped};
use crate::error::{Error, Result};
use crate::render::{RenderError, Rendered, Renderer};
use crate::shard::Shard;

/// A row prepared for the destination: what the delivery side receives for each row, in CSV order
/// of `seq` (arrival order may differ).
#[derive(Debug)]
pub enum Prepared {
    /// A message to deliver (or preview).
    Message { seq: u64, message: Box<Rendered> },
    /// A row that is not sent, with its reason.
    Skipped { seq: u64, skipped: Skipped },
    /// Rendering this recipient failed (data-dependent template error).
    RenderFailed {
        seq: u64,
        recipient: Box<Recipient>,
        error: RenderError,
    },
    /// The CSV became unreadable part-way; the run must stop.
    Abort(Error),
}

/// What the sequential stage decides for each recipient before rendering.
pub enum Decision {
    /// Render and deliver.
    Deliver,
    /// Render and deliver again with this Message-ID (`--retry-unknown`).
    Resend(String),
    /// Already handled by an earlier run: drop it silently (the caller counts it).
    AlreadyDone,
    /// Not sent, for this reason.
    Skip(crate::campaign::SkipReason),
}

impl Decision {
    /// Deliver unless the address is on a suppression list.
    pub fn unless_suppressed(suppression: &Suppression, recipient: &Recipient) -> Decision {
        if suppression.contains(&recipient.email) {
            Decision::Skip(SkipReason::Suppressed)
        } else {
            Decision::Deliver
        }
    }
}

/// Which rows go on to be rendered: the sequential stage's decision per recipient (result log,
/// suppression), its limit and its stop flag; with a shard, only that shard's rows are read at all
/// (the others are not logged, counted or skipped: they are another process's).
pub struct Selection<'a> {
    /// `--shard I/N`: the rows of this shard only.
    pub shard: Option<Shard>,
    /// Stop after this many recipients were passed on to render.
    pub limit: Option<u64>,
    /// Set to stop reading more rows (Ctrl-C, fatal error, daily limit).
    pub stop: Arc<AtomicBool>,
    /// Per-recipient decision (result log, suppression).
    pub decide: Box<dyn Fn(&Recipient) -> Decision + Send + Sync + 'a>,
    /// Whether a skipped row should reach the delivery side (false when already logged).
    pub report_skip: Box<dyn Fn(&Skipped) -> bool + Send + Sync + 'a>,
}

impl<'a> Selection<'a> {
    /// The selection of a dry run and of `check`: every row up to `limit`, suppressed addresses
    /// skipped, every skipped row reported.
    pub fn unless_suppressed(suppression: &'a Suppression, limit: Option<u64>) -> Selection<'a> {
        Selection {
            shard: None,
            limit,
            stop: Arc::new(AtomicBool::new(false)),
            decide: Box::new(|r| Decision::unless_suppressed(suppression, r)),
            report_skip: Box::new(|_| true),
        }
    }

    /// This selection, taking only `shard`'s rows.
    pub fn in_shard(self, shard: Option<Shard>) -> Selection<'a> {
        Selection { shard, ..self }
    }
}

/// What the sequential stage counted, returned when the CSV is exhausted or the selection stopped.
#[derive(Debug, Default, Clone, Copy)]
pub struct SelectionCounts {
    pub passed: u64,
    pub already_done: u64,
    /// True when `limit` cut the list short.
    pub limited: bool,
}

/// Runs the pipeline into `deliver`, the destination: rows are read and rendered on other threads
/// while `deliver` takes the items from a channel of `capacity` on this one. When `deliver`
/// returns, the channel is closed and the selection's stop flag set, so reading ends; what the selection
/// counted comes back with `deliver`'s result.
pub fn drive<R>(
    recipients: &RecipientList,
    renderer: &Renderer<'_>,
    selection: Selection<'_>,
    capacity: usize,
    deliver: impl FnOnce(&async_channel::Receiver<Prepared>) -> R,
) -> Result<(R, SelectionCounts)> {
    let stop = Arc::clone(&selection.stop);
    let (tx, rx) = async_channel::bounded::<Prepared>(capacity);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || produce(recipients, renderer, selection, &tx));
        let delivered = deliver(&rx);
        rx.close();
        stop.store(true, Ordering::SeqCst);
        let counts = producer.join().map_err(|_| {
            Error::fatal(
                "internal error: reading the recipients stopped unexpectedly (a bug; please \
                 report it); the result log holds every outcome so far",
            )
        })?;
        Ok((delivered, counts))
    })
}

/// [`drive`] into a destination that takes one item at a time on this thread; its first error
/// stops the run and is returned.
pub fn drive_each(
    recipients: &RecipientList,
    renderer: &Renderer<'_>,
    selection: Selection<'_>,
    mut each: impl FnMut(Prepared) -> Result<()>,
) -> Result<SelectionCounts> {
    let (delivered, counts) = drive(recipients, renderer, selection, 256, |rx| {
        while let Ok(item) = rx.recv_blocking() {
            each(item)?;
        }
        Ok(())
    })?;
    delivered.map(|()| counts)
}

/// Reads, filters and renders every row of the scanned list, sending results into `tx`. Runs on the
/// caller's thread and the rayon pool; returns when the list is done, the limit is reached, or
/// `stop` is set.
fn produce(
    recipients: &RecipientList,
    renderer: &Renderer<'_>,
    selection: Selection<'_>,
    tx: &async_channel::Sender<Prepared>,
) -> SelectionCounts {
    let mut counts = SelectionCounts::default();
    let mut reader = match recipients.reader() {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send_blocking(Prepared::Abort(e));
            return counts;
        }
    };
    let mut seq = 0u64;
    let stop = &selection.stop;
    let rows = std::iter::from_fn(|| {
        loop {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let row = reader.next()?;
            if row
                .as_ref()
                .is_ok_and(|row| !Shard::takes_row(selection.shard, row))
            {
                continue;
            }
            seq += 1;
            let item = match row {
                Err(e) => return Some(Action::Abort(e)),
                Ok(Row::Skipped(s)) if (selection.report_skip)(&s) => Action::Skip(seq, s),
                Ok(Row::Skipped(_)) => continue,
                Ok(Row::Recipient(r)) => match (selection.decide)(&r) {
                    Decision::AlreadyDone => {
                        counts.already_done += 1;
                        continue;
                    }
                    Decision::Skip(reason) => {
                        let s = Skipped {
                            line: r.line,
                            email: r.email,
                            reason,
                        };
                        if !(selection.report_skip)(&s) {
                            continue;
                        }
                        Action::Skip(seq, s)
                    }
                    decision @ (Decision::Deliver | Decision::Resend(_)) => {
                        if selection.limit.is_some_and(|l| counts.passed >= l) {
                            counts.limited = true;
                            return None;
                        }
                        counts.passed += 1;
                        let message_id = match decision {
                            Decision::Resend(id) => Some(id),
                            _ => None,
                        };
                        Action::Render(seq, r, message_id)
                    }
                },
            };
            return Some(item);
        }
    });
    rows.par_bridge().for_each_with(tx.clone(), |tx, work| {
        let item = match work {
            Action::Abort(e) => Prepared::Abort(e),
            Action::Skip(seq, skipped) => Prepared::Skipped { seq, skipped },
            Action::Render(seq, recipient, id) => {
                match renderer.render_as(&recipient, id.as_deref()) {
                    Ok(message) => Prepared::Message {
                        seq,
                        message: Box::new(message),
                    },
                    Err(error) => Prepared::RenderFailed {
                        seq,
                        recipient: Box::new(recipient),
                        error,
                    },
                }
            }
        };
        // A closed channel means delivery stopped; the remaining rows are simply not taken.
        if tx.send_blocking(item).is_err() {
            stop.store(true, Ordering::Relaxed);
        }
    });
    counts
}

/// What the sequential stage does with a row.
enum Action {
    /// A recipient to render, with the Message-ID to reuse, if any.
    Render(u64, Recipient, Option<String>),
    Skip(u64, Skipped),
    Abort(Error),
}
