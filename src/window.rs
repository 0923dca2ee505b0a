//! When sending is allowed: `[send] window = "09:00-18:00"` (or a list of spans; one may run past
//! midnight, `"22:00-06:00"`) in `[send] timezone` (an IANA name such as `Europe/Berlin`, else this
//! machine's local time), and `--not-before "2026-12-24 09:00"`. Everything here is a pure function
//! of "now", so that tests can ask about any instant (a DST change included); the clock that says
//! what now is lives in [`crate::clock`], and `run.rs` does the waiting.
//!
//! Times are wall-clock times in the zone, so a 09:00 opening stays at 09:00 across a DST change.
//! A time the change skips (02:30 on the spring-forward night) counts as the first time after the
//! gap; a time it repeats (02:30 on the fall-back night) as its first occurrence.

use std::fmt;

use chrono::{DateTime, Days, Local, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The zone window times and `--not-before` are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// This machine's local time (the `TZ` variable, else /etc/localtime).
    Local,
    Named(Tz),
}

impl Zone {
    /// `[send] timezone`: an IANA name (`Europe/Berlin`, `Asia/Shanghai`, `UTC`).
    pub fn parse(name: &str) -> Result<Zone, String> {
        name.trim().parse::<Tz>().map(Zone::Named).map_err(|_| {
            format!(
                "[send] timezone = {name:?} is not an IANA time zone name; write it like \
                 \"Europe/Berlin\", \"America/New_York\", \"Asia/Shanghai\" or \"UTC\""
            )
        })
    }

    /// The instant of the wall-clock time `naive` in this zone.
    fn instant(self, naive: NaiveDateTime) -> DateTime<Utc> {
        match self {
            Zone::Local => resolve(&Local, naive),
            Zone::Named(tz) => resolve(&tz, naive),
        }
    }

    /// The date in this zone at `t`.
    fn date(self, t: DateTime<Utc>) -> NaiveDate {
        match self {
            Zone::Local => t.with_timezone(&Local).date_naive(),
            Zone::Named(tz) => t.with_timezone(&tz).date_naive(),
        }
    }

    /// `2026-12-24 09:00 CET`, as people read a time in this zone.
    pub fn show(self, t: DateTime<Utc>) -> String {
        match self {
            Zone::Local => t.with_timezone(&Local).format("%Y-%m-%d %H:%M %Z"),
            Zone::Named(tz) => t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z"),
        }
        .to_string()
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Local => f.write_str("local time"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

/// Wall-clock `naive` in `zone`: a skipped time moves past the gap, a repeated one is the first.
fn resolve<Z: TimeZone>(zone: &Z, naive: NaiveDateTime) -> DateTime<Utc> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => resolve(zone, naive + chrono::Duration::minutes(30)),
    }
}

/// One span of the day, in minutes after midnight; `closes` ≤ `opens` runs past midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    opens: u32,
    closes: u32,
}

impl Span {
    /// `"09:00-18:00"` (also `–`, and `24:00` as the end of the day).
    pub fn parse(text: &str) -> Result<Span, String> {
        let bad = || {
            format!(
                "[send] window {text:?} is not a span of the day: write it as \"HH:MM-HH:MM\", \
                 like \"09:00-18:00\" (or \"22:00-06:00\" past midnight)"
            )
        };
        let (a, b) = text.split_once(['-', '–']).ok_or_else(bad)?;
        let (opens, closes) = (minutes(a).ok_or_else(bad)?, minutes(b).ok_or_else(bad)?);
        if opens == closes % 1440 || opens == 1440 {
            return Err(format!(
                "[send] window {text:?} is empty or the whole day: leave window out to send at \
                 any time"
            ));
        }
        Ok(Span { opens, closes })
    }

    /// This span's opening and closing instants on `day` (the closing maybe the next day).
    fn on(self, day: NaiveDate, zone: Zone) -> (DateTime<Utc>, DateTime<Utc>) {
        let at = |day: NaiveDate, minutes: u32| {
            let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
            zone.instant(midnight + chrono::Duration::minutes(minutes.into()))
        };
        let end_day = if self.closes > self.opens {
            day
        } else {
            day + Days::new(1)
        };
        (at(day, self.opens), at(end_day, self.closes))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}–{}", hm(self.opens), hm(self.closes))
    }
}

/// `HH:MM` → minutes after midnight (24:00 is 1440).
fn minutes(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (m < 60 && (h < 24 || (h == 24 && m == 0)) && (1..=2).contains(&text.trim().find(':')?))
        .then_some(h * 60 + m)
}

/// The spans of the day when sending is allowed, in a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendWindow {
    pub spans: Vec<Span>,
    pub zone: Zone,
}

/// Whether sending is allowed at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Now {
    /// Yes, until `closes`.
    Open { closes: DateTime<Utc> },
    /// No; the next opening.
    Closed { opens: DateTime<Utc> },
}

impl Now {
    /// When an open window closes.
    pub fn closes(self) -> Option<DateTime<Utc>> {
        match self {
            Now::Open { closes } => Some(closes),
            Now::Closed { .. } => None,
        }
    }
}

/// Sending may not start yet: until when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotNow {
    pub until: DateTime<Utc>,
    /// `until` in the zone of the settings: `2026-12-24 09:00 CET`.
    pub shown: String,
    /// `outside the send window 09:00–18:00 Europe/Berlin`, `--not-before 2026-12-24 09:00 CET`.
    pub why: String,
}

/// Whether sending may start at `now`: `None`, or the first time it may, after `not_before` and
/// inside the window.
pub fn may_start(
    send: &crate::campaign::SendSettings,
    not_before: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Option<NotNow> {
    let mut at = now;
    let mut why = None;
    if let Some(not_before) = not_before.filter(|&t| t > now) {
        at = not_before;
        why = Some(format!("--not-before {}", send.zone.show(not_before)));
    }
    if let Some(window) = &send.window
        && let Now::Closed { opens } = window.at(at)
    {
        at = opens;
        why = Some(format!("outside the send window {window}"));
    }
    why.map(|why| NotNow {
        until: at,
        shown: send.zone.show(at),
        why,
    })
}

impl SendWindow {
    /// The window at `now`.
    pub fn at(&self, now: DateTime<Utc>) -> Now {
        let today = self.zone.date(now);
        let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>)> = (0..4)
            .map(|i| today - Days::new(1) + Days::new(i))
            .flat_map(|day| self.spans.iter().map(move |s| s.on(day, self.zone)))
            .filter(|(opens, closes)| opens < closes)
            .collect();
        spans.sort();
        // Spans that touch or overlap are one: "22:00-24:00" then "00:00-06:00".
        let mut merged: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
        for (opens, closes) in spans {
            match merged.last_mut() {
                Some(last) if opens <= last.1 => last.1 = last.1.max(closes),
                _ => merged.push((opens, closes)),
            }
        }
        match merged
            .iter()
            .find(|(opens, closes)| *opens <= now && now < *closes)
        {
            Some(&(_, closes)) => Now::Open { closes },
            None => Now::Closed {
                opens: (merged.iter().map(|s| s.0))
                    .find(|&opens| opens > now)
                    .expect("a span opens within two days"),
            },
        }
    }
}

impl fmt::Display for SendWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spans: Vec<String> = self.spans.iter().map(Span::to_string).collect();
        write!(f, "{} {}", spans.join(", "), self.zone)
    }
}

/// `--not-before` as the command line gave it, in the campaign's `[send] timezone` (an invalid
/// campaign, exit 2, when it is no time).
pub fn not_before_arg(
    text: Option<&str>,
    campaign: &crate::campaign::Campaign,
) -> crate::error::Result<Option<DateTime<Utc>>> {
    let parsed = text.map(|text| not_before(text, campaign.send.zone));
    parsed.transpose().map_err(crate::error::Error::invalid)
}

/// `--not-before`: `YYYY-MM-DD HH:MM` in `zone` (also with seconds, or a `T`), or RFC 3339 with
/// its own offset (`2026-12-24T09:00:00+01:00`).
pub fn not_before(text: &str, zone: Zone) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let formats = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ];
    formats
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|naive| zone.instant(naive))
        .ok_or_else(|| {
            format!(
                "--not-before {text:?} is not a time: write it as \"YYYY-MM-DD HH:MM\" (in \
                 [send] timezone, else local time), like \"2026-12-24 09:00\", or as RFC 3339, \
                 like \"2026-12-24T09:00:00+01:00\""
            )
        })
}

#[cfg(test)]
mod tests;
