//! Progress of a send: shared counters that the workers bump, and a reporter that shows them — an
//! indicatif bar on stderr when stderr is a terminal, or a plain line every few seconds when it is
//! not (cron, CI), so logs stay readable. The bar takes two lines that fit any terminal width (80
//! columns and less: the bar and the counts shrink, the counts are cut rather than wrapped), and
//! every other line printed while it shows ([`note`]) is printed above it, so no stale frame is
//! left behind, also when a stop signal ends the run.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
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
    /// Messages waiting for another attempt (a temporary failure, a relay asking to slow down).
    pub waiting: Arc<AtomicU64>,
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
    /// Waiting for another attempt (not done yet).
    pub waiting: u64,
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
            waiting: self.waiting.load(Ordering::Relaxed),
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

/// The most characters of the campaign's name the bar shows.
const LABEL_WIDTH: usize = 24;

/// The bar on the terminal, while one shows: [`note`] prints above it.
static SHOWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

fn shown() -> std::sync::MutexGuard<'static, Option<ProgressBar>> {
    SHOWN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The bar: the campaign, the bar itself and the counts of rows on the first line; what happened
/// to them on the second, cut to the terminal's width.
fn bar(total: u64, label: &str) -> ProgressBar {
    let label: String = match label.chars().count() > LABEL_WIDTH {
        true => label.chars().take(LABEL_WIDTH - 1).chain(['…']).collect(),
        false => label.to_string(),
    };
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let template = format!(
        "{label} {{wide_bar:.cyan/blue}} {{human_pos}}/{{human_len}} ETA {{eta}}\n  {{wide_msg}}"
    );
    bar.set_style(
        ProgressStyle::with_template(&template)
            .expect("valid template")
            .progress_chars("█▉▊▋▌▍▎▏ "),
    );
    *shown() = Some(bar.clone());
    bar
}

/// Called when Ctrl-C stops the run, before the first line about it. The terminal echoes `^C`
/// where the cursor is: at the end of the bar's last line, so the echo wraps to a new row and the
/// bar is one row higher than indicatif believes, which would leave its first line behind. The
/// `^C` row is cleared and the cursor put back where indicatif left it. Without a bar, a line
/// break moves past the `^C`.
pub fn after_ctrl_c() {
    let shown = shown();
    let mut stderr = std::io::stderr();
    let _ = match shown.as_ref() {
        Some(_) if echoes_control_characters() => stderr.write_all(b"\r\x1b[2K\x1b[1A"),
        Some(_) => Ok(()),
        None => stderr.write_all(b"\n"),
    };
}

/// Whether the terminal on stderr echoes control characters (`^C`): termios ECHO and ECHOCTL.
fn echoes_control_characters() -> bool {
    // SAFETY: tcgetattr only writes the struct it is given, and fails harmlessly on a non-tty.
    let mut termios: libc::termios = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::tcgetattr(libc::STDERR_FILENO, &mut termios) } == 0;
    got && termios.c_lflag & libc::ECHO != 0 && termios.c_lflag & libc::ECHOCTL != 0
}

/// Clears the bar for good (the run ends without its reporter finishing: a second stop signal).
pub fn clear() {
    if let Some(bar) = shown().take() {
        bar.finish_and_clear();
    }
}

impl Reporter {
    /// Starts reporting `counters` against `total` rows, counting only this run's work (rows an
    /// earlier run handled leave the total as they are found), labelled with the campaign's name.
    /// `plain` forces progress lines.
    pub fn start(counters: Arc<Counters>, total: u64, label: String, plain: bool) -> Reporter {
        let stop = Arc::new(AtomicBool::new(false));
        let bar = (!plain && std::io::stderr().is_terminal()).then(|| bar(total, &label));
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
        let msg = counts_line(&s, rate, now - start);
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
                    "{} {label} progress: {done}/{work} · {msg} · ETA {eta}",
                    chrono::Local::now().format("%Y-%m-%d %H:%M:%S"),
                );
            }
            None => {}
        }
    }
    if bar.is_some() {
        clear();
    }
}

/// What happened so far, most telling first; counts that are zero are left out.
fn counts_line(s: &Snapshot, rate: f64, elapsed: Duration) -> String {
    let mut parts = vec![format!("sent {}", s.sent)];
    for (count, what) in [
        (s.failed, "failed"),
        (s.unknown, "unknown"),
        (s.waiting, "waiting to retry"),
        (s.skipped, "skipped"),
    ] {
        if count > 0 {
            parts.push(format!("{what} {count}"));
        }
    }
    let secs = elapsed.as_secs();
    parts.push(format!("{rate:.1}/s"));
    parts.push(format!(
        "{}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    ));
    parts.join(" · ")
}

/// A line for the user on stderr, beside the progress display. Never panics: after SIGHUP the
/// terminal may be gone, and a failed write must not change how the run ends.
pub fn note(line: &str) {
    let write = || {
        let _ = writeln!(std::io::stderr(), "{line}");
    };
    match shown().as_ref() {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}
