//! One round of a send: the pipeline into the SMTP workers until the list is done, a stop signal
//! or a fatal error stops it, or the send window closes (the workers' stop flag: no new
//! recipients, the messages in flight finished and logged). A run has one round, or one per
//! opening of the send window; each starts from the result log as it stands.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::time::Instant;

use chrono::{DateTime, Utc};

use super::signals::StopSignals;
use super::{LastWords, SendOptions, SendReport, judge, limits};
use crate::campaign::suppress::Suppression;
use crate::campaign::{Campaign, RecipientList};
use crate::error::Result;
use crate::journal::{History, Journal};
use crate::pipeline::{self, Decision, Selection};
use crate::progress::{self, Counters, Reporter};
use crate::render::Renderer;
use crate::send::rate::Pacer;
use crate::send::relays::Relays;
use crate::send::smtp::Connector;
use crate::send::workers::Workers;

/// What every round of one run shares.
pub(super) struct Shared<'a> {
    pub campaign: &'a Campaign,
    pub options: &'a SendOptions,
    pub recipients: &'a RecipientList,
    pub renderer: &'a Renderer<'a>,
    pub suppression: &'a Suppression,
    pub log: &'a PathBuf,
    pub runtime: &'a tokio::runtime::Runtime,
    /// The run's counts, over all rounds.
    pub counters: Arc<Counters>,
    /// The last CSV line an earlier round decided on: a later round counts as "already handled
    /// by earlier runs" only the rows after it (the ones before were counted, or sent, then).
    pub reached: AtomicU64,
    /// With `--shard`: this shard's part of the list.
    pub shard: Option<crate::shard::ShardRows>,
}

/// Recipients this run has handled so far (sent, failed or unknown): what `--limit` counts over
/// the rounds.
pub(super) fn handled(counters: &Counters) -> u64 {
    let done = counters.snapshot();
    done.sent + done.failed + done.unknown
}

/// Runs one round into `report` (its time, limits, stop signal and fatal error); returns whether
/// the send window closed during it (`closes`).
pub(super) fn run(
    s: &Shared<'_>,
    journal: Journal,
    history: History,
    closes: Option<DateTime<Utc>>,
    signals: &mut StopSignals,
    report: &mut SendReport,
) -> Result<bool> {
    let (campaign, options, counters) = (s.campaign, s.options, &s.counters);
    // --limit counts over the whole run.
    let left = options.limit.map(|l| l.saturating_sub(handled(counters)));
    let (limit, remaining_today) = limits(campaign, left, &history);
    // A dead run's messages in flight were just logged `unknown`: this run reports them.
    (counters.unknown).fetch_add(history.settled_unknown(), Ordering::Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let relays = Relays::new(campaign, Connector::for_campaign(campaign)?, &history);
    let workers = Arc::new(Workers::new(
        relays,
        Pacer::new(campaign.send.rate),
        Arc::new(journal),
        Arc::clone(counters),
        campaign.send.retries,
        Arc::clone(&stop),
    ));
    let judge = judge(&history, s.suppression, options);
    let earlier = s.reached.load(Ordering::SeqCst);
    let decide = |r: &crate::campaign::Recipient| {
        s.reached.fetch_max(r.line, Ordering::SeqCst);
        let decision = judge(r);
        if matches!(decision, Decision::AlreadyDone) && r.line > earlier {
            counters.already_done.fetch_add(1, Ordering::Relaxed);
        }
        decision
    };
    // A skipped row is logged once: not again when its address already has a row.
    let report_skip = |skipped: &crate::campaign::Skipped| {
        let new = history.status(&skipped.email).is_none();
        if new && skipped.reason == crate::campaign::SkipReason::Suppressed {
            counters.suppressed.fetch_add(1, Ordering::Relaxed);
        }
        new
    };
    let selection = Selection {
        shard: options.shard,
        limit,
        stop: Arc::clone(&stop),
        decide: Box::new(decide),
        report_skip: Box::new(report_skip),
    };

    let started = Instant::now();
    let last_words = last_words(s, report);
    let reporter = Reporter::start(
        Arc::clone(counters),
        s.shard.map_or(s.recipients.rows(), |r| r.rows),
        campaign.name() + &s.shard.map_or(String::new(), |r| format!(" {}", r.shard)),
        options.plain_progress,
    );
    let stopped_by = AtomicI32::new(0);
    let window_closed = AtomicBool::new(false);
    let capacity = campaign.sessions() * 4 + 64;
    let (_, fed) = pipeline::drive(s.recipients, s.renderer, selection, capacity, |rx| {
        s.runtime.block_on(async {
            let closing = async {
                if let Some(closes) = closes {
                    options.clock.sleep_until(closes).await;
                    window_closed.store(true, Ordering::SeqCst);
                    workers.request_stop();
                    progress::note(&format!(
                        "the send window closed at {}: no new recipients; finishing the messages \
                         in flight",
                        campaign.send.zone.show(closes)
                    ));
                }
                std::future::pending::<()>().await;
            };
            tokio::select! {
                () = workers.run(rx.clone()) => {}
                () = signals.watch(&workers, &stopped_by, last_words) => {}
                () = closing => {}
            }
        });
    })?;
    reporter.finish();
    let flushed = workers.journal.sync();
    report.elapsed += started.elapsed();
    let relays_at_limit = workers.relays.all_at_daily_limit();
    report.limited = fed.limited || relays_at_limit;
    report.daily_limit_reached = relays_at_limit
        || fed.limited && remaining_today.is_some_and(|r| left.is_none_or(|l| r < l));
    crate::send::relays::add_up(&mut report.relays, workers.relays.outcomes());
    report.stopped_by = Some(stopped_by.load(Ordering::SeqCst)).filter(|&n| n != 0);
    report.fatal = workers.take_fatal().or(flushed.err());
    Ok(window_closed.load(Ordering::SeqCst))
}

/// What a second stop signal prints before the process exits at once: the report so far.
fn last_words(s: &Shared<'_>, report: &SendReport) -> impl FnOnce(i32, u64) + use<> {
    let counters = Arc::clone(&s.counters);
    let words = s.options.last_words.clone();
    let (log, started_at, elapsed) = (s.log.clone(), report.started, report.elapsed);
    let shard = s.shard;
    let started = Instant::now();
    move |signal: i32, abandoned: u64| {
        let Some(LastWords(words)) = words else {
            return;
        };
        let mut counts = counters.snapshot();
        counts.unknown += abandoned; // logged `unknown` by the second signal
        words(&SendReport {
            counts,
            failures: counters.failures.groups(),
            started: started_at,
            elapsed: elapsed + started.elapsed(),
            stopped_by: Some(signal),
            shard,
            ..SendReport::empty(log)
        });
    }
}
