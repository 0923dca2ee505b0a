use super::*;

fn berlin(spans: &[&str]) -> SendWindow {
    SendWindow {
        spans: spans.iter().map(|s| Span::parse(s).unwrap()).collect(),
        zone: Zone::parse("Europe/Berlin").unwrap(),
    }
}

fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn inside_the_window_it_is_open_until_the_close() {
    let w = berlin(&["09:00-18:00"]);
    // 12:00 CET is 11:00 UTC.
    assert_eq!(
        w.at(utc("2026-12-23T11:00:00Z")),
        Now::Open {
            closes: utc("2026-12-23T17:00:00Z")
        }
    );
    assert_eq!(
        w.at(utc("2026-12-23T17:00:00Z")),
        Now::Closed {
            opens: utc("2026-12-24T08:00:00Z")
        },
        "18:00 itself is closed"
    );
    assert_eq!(
        w.at(utc("2026-12-23T06:00:00Z")),
        Now::Closed {
            opens: utc("2026-12-23T08:00:00Z")
        }
    );
}

#[test]
fn a_window_past_midnight_and_touching_spans_are_one() {
    let w = berlin(&["22:00-06:00"]);
    // 23:00 CET and 03:00 CET the next day: open until 06:00 CET (05:00 UTC).
    let closes = utc("2026-12-24T05:00:00Z");
    assert_eq!(w.at(utc("2026-12-23T22:00:00Z")), Now::Open { closes });
    assert_eq!(w.at(utc("2026-12-24T02:00:00Z")), Now::Open { closes });
    assert_eq!(
        w.at(utc("2026-12-24T12:00:00Z")),
        Now::Closed {
            opens: utc("2026-12-24T21:00:00Z")
        }
    );
    let two = berlin(&["00:00-06:00", "22:00-24:00"]);
    assert_eq!(two.at(utc("2026-12-23T22:00:00Z")), Now::Open { closes });
}

#[test]
fn the_opening_stays_at_nine_across_dst_changes() {
    let w = berlin(&["09:00-18:00"]);
    // Saturday 28 March 2026, 20:00 CET (UTC+1); Sunday is CEST (UTC+2): 09:00 is 07:00 UTC.
    assert_eq!(
        w.at(utc("2026-03-28T19:00:00Z")),
        Now::Closed {
            opens: utc("2026-03-29T07:00:00Z")
        }
    );
    // Saturday 24 October 2026, CEST; Sunday is CET: 09:00 is 08:00 UTC, and 18:00 17:00 UTC.
    assert_eq!(
        w.at(utc("2026-10-24T19:00:00Z")),
        Now::Closed {
            opens: utc("2026-10-25T08:00:00Z")
        }
    );
    assert_eq!(
        w.at(utc("2026-10-25T16:30:00Z")),
        Now::Open {
            closes: utc("2026-10-25T17:00:00Z")
        }
    );
    // An opening inside the spring-forward gap (02:30 does not exist) opens after it.
    let night = berlin(&["02:30-05:00"]);
    assert_eq!(
        night.at(utc("2026-03-28T23:00:00Z")),
        Now::Closed {
            opens: utc("2026-03-29T01:00:00Z")
        }
    );
}

#[test]
fn spans_and_zones_are_checked() {
    for bad in [
        "9-18",
        "09:00",
        "25:00-26:00",
        "09:60-10:00",
        "09:00-09:00",
        "x",
    ] {
        assert!(Span::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        Span::parse("9:00 – 24:00").unwrap().to_string(),
        "09:00–24:00"
    );
    assert!(Zone::parse("Europe/Berlln").unwrap_err().contains("IANA"));
    assert_eq!(
        berlin(&["09:00-18:00"]).to_string(),
        "09:00–18:00 Europe/Berlin"
    );
}

#[test]
fn not_before_in_the_zone_or_with_its_own_offset() {
    let zone = Zone::parse("Europe/Berlin").unwrap();
    assert_eq!(
        not_before("2026-12-24 09:00", zone).unwrap(),
        utc("2026-12-24T08:00:00Z")
    );
    assert_eq!(
        not_before("2026-07-01T09:00", zone).unwrap(),
        utc("2026-07-01T07:00:00Z")
    );
    assert_eq!(
        not_before("2026-12-24T09:00:00-05:00", zone).unwrap(),
        utc("2026-12-24T14:00:00Z")
    );
    assert!(
        not_before("24.12.2026", zone)
            .unwrap_err()
            .contains("YYYY-MM-DD HH:MM")
    );
    assert_eq!(
        zone.show(utc("2026-12-24T08:00:00Z")),
        "2026-12-24 09:00 CET"
    );
}
