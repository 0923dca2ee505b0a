//! `report.html` (issue 12 item 9): written beside the result log after every send (an interrupted
//! one too, none for a dry run), and by `campaign report DIR` for any log. The real binary sends
//! to the scripted server (which refuses and defers chosen recipients) or to the aiosmtpd capture
//! server, and the page is opened in a real headless Chromium (Debian's `chromium`, installed by
//! `tests/support/setup.sh`): the DOM it built is read back (`--dump-dom`) and its screenshots are
//! decoded and looked at pixel by pixel, at 1200 px and at a phone's 375 px.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::campaign::{Fixture, PASSWORD, Spec, USER, WAIT, starttls_auth_server};
use support::{Reply, ScriptedServer, Stage};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The chart's bar colour (`report/chart.rs` BAR_COLOUR, #2b6cb0).
const BAR: [u8; 3] = [0x2b, 0x6c, 0xb0];
/// A relay's reply with markup in it: the page must show it as text.
const HOSTILE_REPLY: &str = "550 5.1.1 <script>alert('x')</script> no such user here";

/// Runs headless Chromium on `page` at `width`×`height` with `extra` arguments; its stdout.
fn chromium(page: &Path, width: u32, height: u32, extra: &[&str]) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run `bash tests/support/setup.sh`"
    );
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--window-size={width},{height}"))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A screenshot of `page`, decoded: (width, height, RGB rows).
fn screenshot(page: &Path, width: u32, height: u32) -> Shot {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("shot.png");
    chromium(
        page,
        width,
        height,
        &[&format!("--screenshot={}", png.display())],
    );
    if let Ok(keep) = std::env::var("CAMPAIGN_KEEP_SCREENSHOT") {
        std::fs::copy(&png, format!("{keep}-{width}.png")).unwrap();
    }
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let rgb = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    Shot {
        width: info.width as usize,
        height: info.height as usize,
        rgb,
    }
}

struct Shot {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Shot {
    fn at(&self, x: usize, y: usize) -> [u8; 3] {
        self.rgb[y * self.width + x]
    }

    /// The box (x0, y0, x1, y1) of the pixels of exactly this colour, and how many there are.
    fn find(&self, colour: [u8; 3]) -> (usize, (usize, usize, usize, usize)) {
        let (mut n, mut bx) = (0, (usize::MAX, usize::MAX, 0, 0));
        for y in 0..self.height {
            for x in 0..self.width {
                if self.at(x, y) == colour {
                    n += 1;
                    bx = (bx.0.min(x), bx.1.min(y), bx.2.max(x), bx.3.max(y));
                }
            }
        }
        (n, bx)
    }

    /// Rows holding anything but the white background.
    fn content_rows(&self) -> Vec<usize> {
        (0..self.height)
            .filter(|&y| (0..self.width).any(|x| self.at(x, y) != [255; 3]))
            .collect()
    }
}

/// The message rows' times (`status` other than skipped), in seconds, read from the log.
fn message_times(log: &Path) -> Vec<i64> {
    let mut reader = csv::Reader::from_path(log).unwrap();
    reader
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[1] != "skipped")
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(&r[6])
                .unwrap()
                .timestamp()
        })
        .collect()
}

/// The report's path, from the last line of a send's or `campaign report`'s output.
fn printed_report(stdout: &str) -> PathBuf {
    let last = stdout.lines().last().unwrap_or_default();
    let path = last
        .strip_prefix("report: ")
        .unwrap_or_else(|| panic!("{stdout}"));
    PathBuf::from(path)
}

/// A send to 15 recipients at example.com, 6 at bounce.example (refused, 550 with markup in the
/// text) and 3 at slow.example (deferred once each with 451), at 6 a second.
fn send_with_refusals() -> (Fixture, ScriptedServer) {
    let deferred = Arc::new(Mutex::new(Vec::<String>::new()));
    let server = ScriptedServer::start(move |ev| match (ev.stage, ev.rcpt) {
        (Stage::Rcpt, Some(to)) if to.ends_with("@bounce.example") => Reply::text(HOSTILE_REPLY),
        (Stage::Rcpt, Some(to)) if to.ends_with("@slow.example") => {
            let mut seen = deferred.lock().unwrap();
            if seen.iter().any(|s| s == to) {
                return Reply::Default;
            }
            seen.push(to.to_string());
            Reply::text("451 4.3.0 mailbox busy, try again")
        }
        _ => Reply::Default,
    });
    let mut extra = Vec::new();
    for i in 0..6 {
        let row: &'static str = format!("b{i}@bounce.example,Bo").leak();
        extra.push(row);
    }
    for i in 0..3 {
        let row: &'static str = format!("s{i}@slow.example,Sy").leak();
        extra.push(row);
    }
    let spec = Spec {
        recipients: 15,
        rate: Some("6/s"),
        extra_rows: extra,
        ..Spec::new(server.port)
    };
    (Fixture::from_spec(&spec), server)
}

#[test]
fn a_send_writes_report_html_that_chromium_shows_with_counts_chart_and_failures() {
    let (fx, server) = send_with_refusals();
    let run = fx.send(&[], None);
    run.expect(1);
    server.wait_for(18, WAIT);
    let report = printed_report(&run.stdout);
    assert_eq!(report, fx.dir().join("report.html"), "beside results.csv");

    // The DOM Chromium built: the counts, one bar per second of the run, the failures.
    let dom = chromium(&report, 1200, 1600, &["--dump-dom"]);
    for (status, n) in [("sent", 18), ("failed", 6), ("unknown", 0), ("skipped", 0)] {
        let card = format!("class=\"card {status}\" data-count=\"{n}\"");
        assert!(dom.contains(&card), "{card} in\n{dom}");
    }
    let times = message_times(&fx.results_path());
    let span = times.iter().max().unwrap() - times.iter().min().unwrap();
    assert!(span >= 2, "the run spans seconds at 6/s: {span}");
    let bars = dom.matches("<rect class=\"bar\"").count() as i64;
    assert_eq!(
        bars,
        span + 1,
        "one bar per second from the first message to the last"
    );
    assert!(dom.contains("messages per second") && dom.contains("time (UTC)"));
    assert!(
        !dom.contains("<script"),
        "the reply's markup is text:\n{dom}"
    );
    assert!(dom.contains("&lt;script&gt;alert('x')&lt;/script&gt; no such user here"));
    let by_domain = section(&dom, "id=\"failures-by-domain\"");
    assert!(
        by_domain.contains("bounce.<wbr>example</td><td class=\"n\">6</td>"),
        "{by_domain}"
    );
    let slowest = section(&dom, "id=\"slowest\"");
    assert!(
        slowest.contains("slow.<wbr>example</td><td class=\"n\">2.00</td>"),
        "{slowest}"
    );
    let settings = section(&dom, "id=\"settings\"");
    for value in [
        &format!("127.0.0.1:{}", server.port),
        "6/s",
        "Hello {{ first_name }}",
    ] {
        assert!(settings.contains(value), "{value} in {settings}");
    }

    // The screenshot at 1200 px: not blank, the chart's bars drawn across the chart's width.
    let shot = screenshot(&report, 1200, 1600);
    assert_eq!((shot.width, shot.height), (1200, 1600));
    let rows = shot.content_rows();
    assert!(rows.len() > 600, "content on {} rows of 1600", rows.len());
    assert!(
        *rows.last().unwrap() > 1000,
        "the page goes on below the chart"
    );
    let (n, (x0, y0, x1, y1)) = shot.find(BAR);
    assert!(n > 5000, "bar-coloured pixels: {n}");
    assert!(x1 - x0 > 600, "bars spread over the chart: x {x0}..{x1}");
    assert!(
        y0 > 300 && y1 < 1000 && y1 - y0 > 100,
        "the chart, below the counts: y {y0}..{y1}"
    );

    // On a phone, nothing runs past the right edge, and the chart is there.
    let phone = screenshot(&report, 375, 1400);
    let edge = (0..phone.height).find(|&y| (369..375).any(|x| phone.at(x, y) != [255; 3]));
    assert_eq!(edge, None, "something reaches the right edge at 375 px");
    assert!(phone.find(BAR).0 > 1000, "the chart shows on a phone");
}

/// The text of the element that opens with `marker`, up to its table's (or paragraph's) end.
fn section<'a>(dom: &'a str, marker: &str) -> &'a str {
    let start = dom
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in\n{dom}"));
    let rest = &dom[start..];
    let end = rest.find("</table>").or_else(|| rest.find("</p>")).unwrap();
    &rest[..end]
}

#[test]
fn an_interrupted_send_leaves_the_report_of_what_the_log_holds() {
    let server = ScriptedServer::accept_all();
    let spec = Spec {
        recipients: 40,
        rate: Some("4/s"),
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let running = fx.spawn(&[], None);
    assert!(support::wait_until(WAIT, || fx.sent_rows_now() >= 3));
    running.signal("INT");
    let run = running.wait();
    assert_eq!(run.code, 130, "{run:?}");
    let report = printed_report(&run.stdout);
    let html = std::fs::read_to_string(&report).unwrap();
    let sent = fx.rows_with("sent").len();
    assert!(sent < 40, "stopped early: {sent}");
    assert!(
        html.contains(&format!("class=\"card sent\" data-count=\"{sent}\"")),
        "{html}"
    );
}

#[test]
fn a_resumed_send_is_a_second_run_and_counts_each_recipient_once() {
    let (fx, server) = send_with_refusals();
    fx.send(&[], None).expect(1);
    server.wait_for(18, WAIT);
    let again = fx.send(&["--retry-failed"], None);
    again.expect(1);
    let html = std::fs::read_to_string(printed_report(&again.stdout)).unwrap();
    let runs = section(&html, "id=\"runs\"");
    assert!(
        runs.contains("<td>2</td>") && !runs.contains("<td>3</td>"),
        "{runs}"
    );
    assert!(
        runs.contains("0 sent, 6 failed"),
        "the second run retried the 6: {runs}"
    );
    assert!(html.contains("id=\"throughput-1\"") && html.contains("id=\"throughput-2\""));
    for card in ["sent\" data-count=\"18\"", "failed\" data-count=\"6\""] {
        assert!(
            html.contains(card),
            "{card}: each address once over both runs"
        );
    }
}

#[test]
fn a_dry_run_writes_no_report() {
    let fx = Fixture::from_spec(&Spec::new(9));
    let run = fx.spawn_command("run", &["--dry-run"], &[]).wait();
    run.expect(0);
    assert!(!fx.dir().join("report.html").exists());
    assert!(!run.stdout.contains("report:"), "{}", run.stdout);
}

/// A log in the format earlier versions wrote, a skipped address with a line break among them.
const OLD_LOG: &str = "email,status,attempts,code,message_id,detail,time\n\
a@one.example,sent,1,250,m1@x,2.0.0 ok,2026-03-01T09:00:00Z\n\
b@two.example,failed,1,550,m2@x,5.1.1 no such user,2026-03-01T09:00:01Z\n\
\"c@one.example\nx\",skipped,0,,,invalid address,2026-03-01T09:00:01Z\n";

#[test]
fn campaign_report_reads_any_log_and_refuses_when_there_is_none() {
    let fx = Fixture::from_spec(&Spec::new(9));
    let none = fx.spawn_command("report", &[], &[]).wait();
    none.expect(2);
    assert!(
        none.stderr.contains("results.csv: no result log there"),
        "{}",
        none.stderr
    );
    assert!(!fx.dir().join("report.html").exists());

    // Two logs in one folder: two reports.
    fx.write("results.csv", OLD_LOG);
    fx.write("april.csv", OLD_LOG);
    let first = fx.spawn_command("report", &[], &[]).wait();
    first.expect(0);
    assert_eq!(printed_report(&first.stdout), fx.dir().join("report.html"));
    let april = fx.dir().join("april.csv");
    let second = fx
        .spawn_command("report", &["--log", april.to_str().unwrap()], &[])
        .wait();
    second.expect(0);
    let april_report = fx.dir().join("april.report.html");
    assert_eq!(printed_report(&second.stdout), april_report);
    for report in [fx.dir().join("report.html"), april_report] {
        let html = std::fs::read_to_string(report).unwrap();
        for card in [
            "sent\" data-count=\"1\"",
            "failed\" data-count=\"1\"",
            "skipped\" data-count=\"1\"",
        ] {
            assert!(html.contains(card), "{card} in\n{html}");
        }
    }

    // --out anywhere; a folder without campaign.toml still gets its report, without settings.
    std::fs::remove_file(fx.dir().join("campaign.toml")).unwrap();
    let out = fx.root().join("elsewhere.html");
    let third = fx
        .spawn_command("report", &["--out", out.to_str().unwrap()], &[])
        .wait();
    third.expect(0);
    let html = std::fs::read_to_string(&out).unwrap();
    assert!(
        html.contains("Not shown:") && html.contains("campaign.toml"),
        "{html}"
    );
}

#[test]
fn the_report_shows_the_username_and_never_the_password() {
    let server = starttls_auth_server();
    let spec = Spec {
        recipients: 3,
        ..Spec::starttls_auth(&server)
    };
    let fx = Fixture::from_spec(&spec);
    let run = fx.send(&[], Some(PASSWORD));
    run.expect(0);
    server.wait_for(3, Duration::from_secs(10));
    let html = std::fs::read_to_string(printed_report(&run.stdout)).unwrap();
    let settings = section(&html, "id=\"settings\"");
    for value in [
        "starttls",
        &format!("localhost:{}", server.port),
        USER,
        "news@acme.example",
    ] {
        assert!(settings.contains(value), "{value} in {settings}");
    }
    assert!(!html.contains(PASSWORD), "the password is never shown");
}
