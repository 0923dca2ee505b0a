//! Several relays, `[[smtp]]` (issue 13 item 5), attacked end to end: the README's promise
//! ("### Several relays") against real servers on 127.0.0.1, each server one relay. The shares
//! by weight, each relay's own password, a relay refusing AUTH, down, dying mid-run or rejecting
//! everything taken out with its work going to the others, every relay failing, kill -9 and
//! SIGTERM with two relays, per-relay daily limits and rates, `--json`'s `relays`, and the
//! `[[smtp]]` mistakes campaign.toml can hold. Assertions are on what the servers received and on
//! the result log's email and status (not on its relay column, which lands separately).
//!
//! Here the helpers (a campaign's `[[smtp]]` tables from [`Spec`]s, what servers received added
//! up); one file a behaviour: `shares.rs`, `passwords.rs`, `taken_out.rs`, `stopping.rs`,
//! `daily_limits.rs`, `json.rs`, `plan.rs`, `config.rs`. A test that found a defect is kept, ignored with
//! `defect: …` as its reason.

#[path = "../support/mod.rs"]
mod support;

mod config;
mod daily_limits;
mod json;
mod passwords;
mod plan;
mod shares;
mod stopping;
mod taken_out;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::campaign::{
    Fixture, PASSWORD, Row, Run, Spec, USER, WAIT, assert_each_once, capture_rcpts, copies,
    scripted_rcpts,
};
use support::{CaptureOptions, CaptureServer, Reply, ScriptedServer, Stage, free_port};

/// One `[[smtp]]` table: the relay's name, the `[smtp]` keys [`Spec::toml`] writes for `spec`
/// (host, port, security, username, ca_file, timeouts), and `extra` lines (weight, rate, …).
struct Relay {
    name: &'static str,
    spec: Spec,
    extra: String,
}

fn relay(name: &'static str, spec: Spec) -> Relay {
    Relay {
        name,
        spec,
        extra: String::new(),
    }
}

impl Relay {
    /// Adds a line to the table (`"weight = 3"`).
    fn with(mut self, line: &str) -> Relay {
        self.extra += line;
        self.extra += "\n";
        self
    }

    /// The table: `spec`'s `[smtp]` section as a `[[smtp]]` table named `name`, its CA (if any)
    /// as `ca-<name>.pem`.
    fn table(&self) -> String {
        let toml = self.spec.toml();
        let start = toml.find("\n[smtp]\n").expect("Spec writes [smtp]") + "\n[smtp]\n".len();
        let end = start + toml[start..].find("\n[send]").expect("then [send]");
        let body = toml[start..end].replace(
            "ca_file = \"ca.pem\"",
            &format!("ca_file = \"ca-{}.pem\"", self.name),
        );
        format!("\n[[smtp]]\nname = \"{}\"\n{body}{}", self.name, self.extra)
    }
}

/// The campaign of `base` (its `[send]` and recipients; its own `[smtp]` left out) sending
/// through `relays`.
fn campaign(base: &Spec, relays: &[Relay]) -> Fixture {
    let fx = Fixture::from_spec(base);
    let mut toml = Spec {
        smtp: false,
        ca_pem: None,
        ..base.clone()
    }
    .toml();
    for r in relays {
        toml += &r.table();
        if let Some(ca) = &r.spec.ca_pem {
            std::fs::copy(ca, fx.dir().join(format!("ca-{}.pem", r.name))).unwrap();
        }
    }
    fx.write("campaign.toml", &toml);
    fx
}

/// The `[send]` and recipients of a test: `recipients` rows, 2 sessions a relay, 2 retries.
fn base(recipients: usize) -> Spec {
    Spec {
        recipients,
        ..Spec::new(0)
    }
}

/// Starts `campaign run <dir> --no-progress <args…>` with `env` (the relays' passwords).
fn spawn(fx: &Fixture, args: &[&str], env: &[(&str, &str)]) -> support::campaign::Running {
    let mut all = vec!["--no-progress"];
    all.extend_from_slice(args);
    fx.spawn_command("run", &all, env)
}

/// Runs `campaign run <dir> --no-progress <args…>` with `env` to its end.
fn send(fx: &Fixture, args: &[&str], env: &[(&str, &str)]) -> Run {
    spawn(fx, args, env).wait()
}

/// Adds up what several servers received, address → times.
fn union(each: &[BTreeMap<String, usize>]) -> BTreeMap<String, usize> {
    let mut all = BTreeMap::new();
    for server in each {
        for (address, n) in server {
            *all.entry(address.clone()).or_insert(0) += n;
        }
    }
    all
}

/// What a scripted server accepted (2xx to the final dot), address → times.
fn accepted(server: &ScriptedServer) -> BTreeMap<String, usize> {
    scripted_rcpts(&server.messages())
}

/// Asserts every recipient of `spec` has exactly one row, and returns them by address.
#[track_caller]
fn one_row_each(fx: &Fixture, spec: &Spec) -> BTreeMap<String, Row> {
    let rows = fx.strict_rows();
    let mut by_address = BTreeMap::new();
    for row in rows {
        let email = row.email.clone();
        assert!(
            by_address.insert(email.clone(), row).is_none(),
            "two rows for {email}:\n{}",
            fx.results_text()
        );
    }
    let addresses: Vec<&String> = by_address.keys().collect();
    let wanted: Vec<String> = spec.emails();
    assert_eq!(
        addresses,
        wanted.iter().collect::<Vec<_>>(),
        "one row a recipient"
    );
    by_address
}

/// Asserts `secret` appears nowhere the user or the log could show it.
#[track_caller]
fn never_shown(fx: &Fixture, run: &Run, secret: &str) {
    assert!(!run.stdout.contains(secret), "{secret:?} on stdout");
    assert!(!run.stderr.contains(secret), "{secret:?} on stderr");
    assert!(!fx.results_text().contains(secret), "{secret:?} in the log");
}

/// A plain capture server that asks for AUTH as `user`/`password`.
fn auth_server(user: &str, password: &str) -> CaptureServer {
    CaptureServer::start(
        CaptureOptions::plain()
            .with_auth(user, password)
            .require_auth(),
    )
}

fn plain() -> CaptureServer {
    CaptureServer::start(CaptureOptions::plain())
}

/// Waits until `server` holds `n` messages, then asserts it holds exactly `n`.
#[track_caller]
fn exactly(server: &CaptureServer, n: usize, what: &str) {
    if n > 0 {
        server.wait_for(n, WAIT);
    }
    assert_eq!(server.messages().len(), n, "{what}");
}

fn read(fx: &Fixture, rel: &str) -> String {
    std::fs::read_to_string(fx.dir().join(rel)).unwrap()
}
