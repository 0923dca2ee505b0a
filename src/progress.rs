//! Progress of a send: shared counters that the workers bump, and a reporter that shows them — an
//! indicatif bar on stderr when stderr is a terminal, or a plain line every few seconds when it is
//! not (cron, CI), so logs stay readable.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Counts of outcomes in this run.
#[derive(Debug, Default)]
pub struct Counters {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    /// Of the skipped, those on a suppression list.
    pub suppressed: AtomicU64,
    /// Messages whose final dot went out without a valid verdict (may have been delivered).
    pub unknown: AtomicU64,
    /// Recipients already handled by an earlier run (not sent again).
    pub already_done: AtomicU64,
    /// This run's failures, grouped for the summary.
    pub failures: crate::failures::Failures,
}

/// A plain copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub sent: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Of `skipped`, those on a suppression list.
    pub suppressed: u64,
    pub unknown: u64,
    pub already_done: u64,
}

impl Counters {
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            suppressed: self.suppressed.load(Ordering::Relaxed),
            unknown: self.unknown.load(Ordering::Relaxed),
            already_done: self.already_done.load(Ordering::Relaxed),
        }
    }
}

impl Snapshot {
    pub fn done(&self) -> u64 {
        self.sent + self.failed + self.skipped + self.unknown + self.already_done
    }
}

/// Reports progress until dropped or finished.
pub struct Reporter {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

impl Reporter {
    /// Starts reporting `counters` against `total` rows, counting only this run's work (rows an
    /// earlier run handled leave the total as they are found), labelled with the campaign's name.
    /// `plain` forces progress lines.
    pub fn start(counters: Arc<Counters>, total: u64, label: String, plain: bool) -> Reporter {
        let stop = Arc::new(AtomicBool::new(false));
        let bar = (!plain && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{label} {{bar:20.cyan/blue}} {{pos}}/{{len}} {{msg}} [{{elapsed_precise}}, ETA {{eta}}]"
                ))
                .expect("valid template")
                .progress_chars("█▉▊▋▌▍▎▏ "),
            );
            bar
        });
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || report(&counters, total, &label, bar, &flag));
        Reporter {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops reporting and clears the bar.
    pub fn finish(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.halt();
    }
}

fn report(
    counters: &Counters,
    total: u64,
    label: &str,
    bar: Option<ProgressBar>,
    stop: &AtomicBool,
) {
    let start = Instant::now();
    let mut last_line = Instant::now();
    // The rate over the last few seconds: (time, sent) samples.
    let mut samples: std::collections::VecDeque<(Instant, u64)> = Default::default();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let now = Instant::now();
        let s = counters.snapshot();
        samples.push_back((now, s.sent + s.failed));
        while samples.len() > 2 && now - samples[0].0 > Duration::from_secs(5) {
            samples.pop_front();
        }
        let (t0, n0) = samples[0];
        let rate = if now > t0 {
            (s.sent + s.failed - n0) as f64 / (now - t0).as_secs_f64()
        } else {
            0.0
        };
        let unknown = if s.unknown > 0 {
            format!(" unknown {}", s.unknown)
        } else {
            String::new()
        };
        let msg = format!(
            "sent {} failed {} skipped {}{unknown} · {rate:.1}/s",
            s.sent, s.failed, s.skipped
        );
        // This run's work: rows an earlier run handled are neither done nor to do.
        let work = total.saturating_sub(s.already_done);
        let done = s.done() - s.already_done;
        match &bar {
            Some(bar) => {
                bar.set_length(work);
                bar.set_position(done.min(work));
                bar.set_message(msg);
            }
            None if now - last_line >= PLAIN_EVERY => {
                last_line = now;
                let left = work.saturating_sub(done);
                let eta = if rate > 0.0 {
                    format!("{}s", (left as f64 / rate).round())
                } else {
                    "?".into()
                };
                // Not eprintln!: after SIGHUP the terminal may be gone, and a failed write must not
                // panic the thread.
                let _ = writeln!(
                    std::io::stderr(),
                    "{} {label} progress: {done}/{work} {msg}, elapsed {}s, ETA {eta}",
                    chrono::Local::now().format("%Y-%m-%d %H:%M:%S"),
                    (now - start).as_secs()
                );
            }
            None => {}
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// A line for the user on stderr, beside the progress display. Never panics: after SIGHUP the
/// terminal may be gone, and a failed write must not change how the run ends.
pub fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
