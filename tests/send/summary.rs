//! The summary after a send: failures grouped by reply code and reason (one line for a rejection
//! that quoted each address), the first addresses of each group, and advice that fits: never
//! `--retry-failed` for a permanent rejection or a message that could not be rendered.

use crate::support::campaign::{Fixture, Spec};
use crate::support::{Reply, ScriptedServer, Stage};

#[test]
fn failures_are_grouped_by_reply_and_only_temporary_ones_are_offered_a_retry() {
    let server = ScriptedServer::start(|ev| match (ev.stage, ev.rcpt) {
        // The relay quotes each address, as Postfix does: still one group.
        (Stage::Rcpt, Some(rcpt))
            if ["r000", "r001", "r002", "r003"]
                .iter()
                .any(|r| rcpt.starts_with(r)) =>
        {
            Reply::text(format!("550 5.1.1 <{rcpt}>: Recipient address rejected"))
        }
        (Stage::Rcpt, Some(rcpt)) if rcpt.starts_with("r004") => {
            Reply::text("451 4.3.0 mailbox busy, try again later")
        }
        _ => Reply::Default,
    });
    let spec = Spec {
        recipients: 6,
        retries: 0,
        extra_rows: vec!["boom@example.com,Boom"],
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    // Renders for everyone but the `Boom` row, which names a variable nobody has.
    fx.write(
        "email.html",
        "<p>Dear {{ first_name }}</p>{% if first_name == \"Boom\" %}{{ coupon }}{% endif %}",
    );
    let run = fx.send(&[], None);
    run.expect(1);
    let out = &run.stdout;
    assert!(out.contains("6 recipient(s) failed"), "{out}");
    let line = |needle: &str| -> usize {
        out.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} in {out}"))
    };
    let rejected = line("4 × 550 5.1.1 <<address>>: Recipient address rejected");
    let examples = out.lines().nth(rejected + 1).unwrap();
    assert_eq!(examples.matches("@example.com").count(), 3, "{out}");
    assert!(examples.ends_with(", …"), "{out}");
    assert!(
        out.lines().nth(rejected + 2).unwrap().contains("permanent"),
        "{out}"
    );
    let busy = line("1 × 451 4.3.0 mailbox busy");
    assert!(
        out.lines()
            .nth(busy + 2)
            .unwrap()
            .contains("--retry-failed"),
        "{out}"
    );
    let boom = line("1 × not rendered:");
    assert!(
        out.lines()
            .nth(boom + 2)
            .unwrap()
            .contains("fix the template"),
        "{out}"
    );
    assert_eq!(
        out.matches("--retry-failed").count(),
        1,
        "offered for the temporary failure only: {out}"
    );
    assert_eq!(fx.rows().iter().filter(|r| r.status == "failed").count(), 6);
}
