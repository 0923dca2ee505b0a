//! What `--json`'s `relays` says of each relay: its counts against what each server received,
//! `taken_out` or `trouble` for one that failed, and every relay failing.

use super::*;

/// Every relay failing under `--json`: exit_code 3, error kind `fatal`, each relay `taken_out`.
#[test]
fn json_when_every_relay_fails() {
    let (a, b) = (auth_server(USER, PASSWORD), auth_server(USER, PASSWORD));
    let with_user = |port| Spec {
        username: Some(USER),
        ..Spec::new(port)
    };
    let fx = campaign(
        &base(4),
        &[relay("a", with_user(a.port)), relay("b", with_user(b.port))],
    );
    let env = [
        ("CAMPAIGN_SMTP_PASSWORD_A", "wrong"),
        ("CAMPAIGN_SMTP_PASSWORD_B", "wrong"),
    ];
    let run = send(&fx, &["--json"], &env);
    run.expect(3);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    assert_eq!(json["exit_code"], 3);
    assert_eq!(json["error"]["kind"], "fatal", "{json}");
    let relays = json["relays"].as_array().unwrap();
    assert_eq!(relays.len(), 2, "{json}");
    for r in relays {
        assert!(r["taken_out"].is_string(), "{r}");
        assert_eq!(r["sent"], 0);
    }
    assert!(fx.rows().is_empty());
}

/// `--json`'s `relays`: per relay the counts each server received, `taken_out` for the one
/// whose password was refused (and `null` for the other).
#[test]
fn json_relays_match_what_each_server_received() {
    let (a, b) = (plain(), plain());
    let refusing = auth_server(USER, PASSWORD);
    let spec = base(30);
    let fx = campaign(
        &spec,
        &[
            relay("a", Spec::new(a.port)).with("weight = 2"),
            relay("b", Spec::new(b.port)),
            relay(
                "refusing",
                Spec {
                    username: Some(USER),
                    ..Spec::new(refusing.port)
                },
            ),
        ],
    );
    let env = [("CAMPAIGN_SMTP_PASSWORD_REFUSING", "wrong")];
    let run = send(&fx, &["--json"], &env);
    run.expect(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    let relays = json["relays"].as_array().expect("a relays array");
    let names: Vec<&str> = relays.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "refusing"]);
    let received = [a.messages().len(), b.messages().len(), 0];
    assert_eq!(received[0] + received[1], 30, "{}", run.stdout);
    for (r, n) in relays.iter().zip(received) {
        assert_eq!(r["sent"], n as u64, "{r}");
        assert_eq!(r["failed"], 0, "{r}");
        assert_eq!(r["unknown"], 0, "{r}");
    }
    assert!(relays[0]["taken_out"].is_null() && relays[1]["taken_out"].is_null());
    let why = relays[2]["taken_out"].as_str().expect("taken_out says why");
    assert!(why.to_lowercase().contains("authentication"), "{why}");
    assert_eq!(json["counts"]["sent"], 30);
}

/// `--json` with a relay down: that relay sent nothing and says why (`taken_out`, or `trouble`
/// when the run ended while it was being tried again); the other's count is what it received.
#[test]
fn json_says_why_a_relay_down_sent_nothing() {
    let up = plain();
    let fx = campaign(
        &base(20),
        &[
            relay("up", Spec::new(up.port)),
            relay("down", Spec::new(free_port())),
        ],
    );
    let run = send(&fx, &["--json"], &[]);
    run.expect(0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON object");
    let relays = json["relays"].as_array().expect("relays");
    assert_eq!(relays[0]["sent"], up.messages().len() as u64);
    assert_eq!(relays[0]["sent"], 20);
    assert_eq!(relays[1]["sent"], 0);
    let why = relays[1]["taken_out"]
        .as_str()
        .or(relays[1]["trouble"].as_str());
    assert!(
        why.is_some_and(|w| w.contains("127.0.0.1:")),
        "{}",
        relays[1]
    );
}
