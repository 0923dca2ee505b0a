//! The throughput chart of one run: messages (rows other than `skipped`) per time bucket, as an
//! inline SVG bar chart with labelled axes, drawn from the rows' times. The log's times are whole
//! seconds, so the smallest bucket is a second; the bucket grows with the run's length so that a
//! run is drawn in at most [`MAX_BARS`] bars (per second for a short run, per minute for an hour).

use std::fmt::Write;

use chrono::{DateTime, Utc};

/// At most this many bars in a chart.
pub const MAX_BARS: i64 = 120;

/// The bucket sizes to choose from, in seconds, with their names for the axis.
const BUCKETS: &[(i64, &str)] = &[
    (1, "second"),
    (2, "2 s"),
    (5, "5 s"),
    (10, "10 s"),
    (30, "30 s"),
    (60, "minute"),
    (120, "2 min"),
    (300, "5 min"),
    (600, "10 min"),
    (1800, "30 min"),
    (3600, "hour"),
    (6 * 3600, "6 hours"),
    (86400, "day"),
];

/// The colour of the bars (the screenshot test looks for it).
pub const BAR_COLOUR: &str = "#2b6cb0";

/// Drawing area inside the SVG's view box.
const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 300.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 15.0;
const BOTTOM: f64 = 60.0;

/// The bucket for a run whose message times span `first..=last`: the smallest that needs at most
/// [`MAX_BARS`] bars.
pub fn bucket(first: i64, last: i64) -> (i64, &'static str) {
    let span = last - first + 1;
    BUCKETS
        .iter()
        .copied()
        .find(|(size, _)| (span + size - 1) / size <= MAX_BARS)
        .unwrap_or(BUCKETS[BUCKETS.len() - 1])
}

/// Messages per bucket, from the first message's bucket to the last's (empty ones included).
pub fn counts(times: &[i64], size: i64) -> Vec<u64> {
    let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
        return Vec::new();
    };
    let mut counts = vec![0; ((last - first) / size + 1) as usize];
    for &t in times {
        counts[((t - first) / size) as usize] += 1;
    }
    counts
}

/// The SVG of a run with messages at `times` (empty when it has none).
pub fn svg(times: &[i64]) -> String {
    let (Some(&first), Some(&last)) = (times.iter().min(), times.iter().max()) else {
        return String::new();
    };
    let (size, unit) = bucket(first, last);
    let counts = counts(times, size);
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let step = plot_w / counts.len() as f64;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" \
         aria-label=\"messages per {unit} over time\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, &n) in counts.iter().enumerate() {
        let h = plot_h * n as f64 / most as f64;
        let _ = write!(
            s,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" \
             fill=\"{BAR_COLOUR}\"><title>{} UTC: {n}</title></rect>",
            LEFT + i as f64 * step + step * 0.1,
            TOP + plot_h - h,
            (step * 0.8).max(0.5),
            clock(first + i as i64 * size),
        );
    }
    axes(&mut s, first, counts.len() as i64, size, most, unit);
    s.push_str("</svg>");
    s
}

/// The two axes, their ticks and their titles.
fn axes(s: &mut String, first: i64, bars: i64, size: i64, most: u64, unit: &str) {
    let (bottom, right) = (HEIGHT - BOTTOM, WIDTH - RIGHT);
    let _ = write!(
        s,
        "<g class=\"axes\" stroke=\"#444\" fill=\"none\"><line x1=\"{LEFT}\" y1=\"{TOP}\" \
         x2=\"{LEFT}\" y2=\"{bottom}\"/><line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{right}\" \
         y2=\"{bottom}\"/></g><g class=\"ticks\" font-size=\"13\" fill=\"#333\">"
    );
    let mut values = vec![0, most / 2, most];
    values.dedup();
    for value in values {
        let y = bottom - (bottom - TOP) * value as f64 / most as f64;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{value}</text>",
            LEFT - 8.0,
            y + 4.0
        );
    }
    let step = (right - LEFT) / bars as f64;
    let ticks = bars.clamp(1, 5);
    for k in 0..ticks {
        let bar = if ticks == 1 {
            0
        } else {
            k * (bars - 1) / (ticks - 1)
        };
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            LEFT + (bar as f64 + 0.5) * step,
            bottom + 18.0,
            clock(first + bar * size)
        );
    }
    let _ = write!(
        s,
        "</g><text class=\"axis-title\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
         font-size=\"14\">time (UTC)</text><text class=\"axis-title\" x=\"16\" y=\"{:.1}\" \
         text-anchor=\"middle\" font-size=\"14\" transform=\"rotate(-90 16 {:.1})\">messages \
         per {unit}</text>",
        LEFT + (right - LEFT) / 2.0,
        HEIGHT - 12.0,
        TOP + (bottom - TOP) / 2.0,
        TOP + (bottom - TOP) / 2.0,
    );
}

/// `HH:MM:SS` of a time in seconds since the epoch (UTC).
fn clock(seconds: i64) -> String {
    DateTime::<Utc>::from_timestamp(seconds, 0)
        .map_or_else(String::new, |t| t.format("%H:%M:%S").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_grows_with_the_run() {
        assert_eq!(bucket(0, 0), (1, "second"));
        assert_eq!(bucket(0, 119), (1, "second"));
        assert_eq!(bucket(0, 120).0, 2);
        assert_eq!(bucket(0, 3599), (30, "30 s"));
        assert_eq!(bucket(0, 7199), (60, "minute"));
        assert_eq!(bucket(0, 10 * 86400), (6 * 3600, "6 hours"));
        assert_eq!(bucket(0, 100 * 86400), (86400, "day"));
    }

    #[test]
    fn empty_buckets_are_bars_of_nothing() {
        assert_eq!(counts(&[10, 10, 13], 1), vec![2, 0, 0, 1]);
        assert_eq!(counts(&[10, 11, 13], 2), vec![2, 1]);
        assert!(counts(&[], 1).is_empty());
    }

    #[test]
    fn one_bar_per_bucket_and_labelled_axes() {
        let svg = svg(&[100, 100, 101, 103]);
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 4);
        assert!(svg.contains("messages per second"), "{svg}");
        assert!(svg.contains("time (UTC)"));
        assert!(svg.contains("00:01:40 UTC: 2"), "{svg}");
        assert_eq!(super::svg(&[]), "");
    }
}
