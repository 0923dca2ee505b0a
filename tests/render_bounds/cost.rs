//! The cost of one recipient bounded (items 10, 12): a range, a message or a CSV field too big
//! fails that recipient in bounded memory; a layouts folder with symlink loops is walked in
//! seconds, one with too many files refused.

use std::time::{Duration, Instant};

use crate::support::fixture::{Fixture, files_with};

use super::*;

// ------------------------------------------------------ item 10: memory ---

const MEMORY_LIMIT_MIB: u64 = 300;

#[test]
fn a_range_from_the_csv_fails_that_recipient_in_bounded_memory() {
    let server = capture();
    let fx = Fixture::with(
        &toml("Hi", server.port, ""),
        "<p>{% for i in range(end=count | int) %}.{% endfor %}</p>",
        "email,count\na@example.com,3\nhuge@example.com,3000000000\nc@example.com,5\n",
    );
    let run = watched(
        &fx,
        "run",
        &["--no-progress"],
        &[],
        Duration::from_secs(60),
        MEMORY_LIMIT_MIB,
    );
    eprintln!("peak RSS of the send: {} MiB", run.peak_mib);
    expect(&run.out, 1);
    let rows = results(&fx);
    let huge = rows.iter().find(|r| r.0 == "huge@example.com").unwrap();
    assert_eq!(huge.1, "failed", "{rows:?}");
    assert!(
        huge.2.contains("range") && huge.2.contains("10,000"),
        "{huge:?}"
    );
    let sent: Vec<_> = rows.iter().filter(|r| r.1 == "sent").collect();
    assert_eq!(sent.len(), 2, "{rows:?}");
    assert_eq!(server.wait_for(2, Duration::from_secs(10)).len(), 2);
}

#[test]
fn a_message_over_the_size_limit_fails_that_recipient_in_bounded_memory() {
    let fx = Fixture::with(
        &toml("Hi", 0, ""),
        "<p>{% for i in range(end=times | int) %}{{ chunk }}{% endfor %}</p>",
        &format!(
            "email,times,chunk\na@example.com,2,abc\nbig@example.com,9000,{}\n",
            "x".repeat(900 * 1024)
        ),
    );
    let run = watched(
        &fx,
        "run",
        &["--dry-run"],
        &[],
        Duration::from_secs(60),
        MEMORY_LIMIT_MIB,
    );
    eprintln!("peak RSS of the dry run: {} MiB", run.peak_mib);
    expect(&run.out, 1);
    assert!(run.out.stdout.contains("10 MiB"), "{:#?}", run.out);
    assert_eq!(files_with(&fx.preview(), "eml").len(), 1);
}

#[test]
fn a_huge_csv_field_fails_that_row_in_bounded_memory() {
    let big = "y".repeat(50 * 1024 * 1024);
    let fx = Fixture::with(
        &toml("Hi", 0, ""),
        "<p>{{ note }}</p>",
        &format!("email,note\na@example.com,short\nbig@example.com,{big}\nc@example.com,ok\n"),
    );
    drop(big);
    let check = watched(
        &fx,
        "check",
        &[],
        &[],
        Duration::from_secs(60),
        MEMORY_LIMIT_MIB,
    );
    eprintln!(
        "peak RSS of check with a 50 MB field: {} MiB",
        check.peak_mib
    );
    expect(&check.out, 2);
    assert!(check.out.stdout.contains("line 3"), "{:#?}", check.out);
    assert!(check.out.stdout.contains("1 MiB"), "{:#?}", check.out);
    let dry = watched(
        &fx,
        "run",
        &["--dry-run"],
        &[],
        Duration::from_secs(60),
        MEMORY_LIMIT_MIB,
    );
    expect(&dry.out, 1);
    assert_eq!(files_with(&fx.preview(), "eml").len(), 2);
}

// ------------------------------------------------------ item 12: layouts ---

#[test]
fn a_layouts_folder_with_symlink_loops_is_walked_in_seconds() {
    let fx = Fixture::with(
        &toml("Hi", 0, ""),
        "{% extends \"base.html\" %}{% block content %}Hi{% endblock %}",
        "email\na@example.com\n",
    );
    let layouts = fx.root().join("templates");
    std::fs::write(
        layouts.join("base.html"),
        "<p>{% block content %}{% endblock %}</p>",
    )
    .unwrap();
    std::fs::create_dir_all(layouts.join("a/b")).unwrap();
    std::os::unix::fs::symlink(&layouts, layouts.join("loop")).unwrap();
    std::os::unix::fs::symlink("..", layouts.join("a/b/up")).unwrap();
    std::os::unix::fs::symlink("../..", layouts.join("a/b/upup")).unwrap();
    let started = Instant::now();
    let out = watched(&fx, "check", &[], &[], Duration::from_secs(10), 1024).out;
    expect(&out, 0);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_layouts_folder_with_too_many_files_is_refused() {
    let fx = Fixture::with(
        &toml("Hi", 0, "templates = \"../big\""),
        "<p>Hi</p>",
        "email\na@example.com\n",
    );
    let big = fx.root().join("big");
    for i in 0..120 {
        let dir = big.join(format!("d{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        for j in 0..100 {
            std::fs::write(dir.join(format!("f{j}.dat")), "").unwrap();
        }
    }
    let out = run(&fx, "check", &[], &[]);
    expect(&out, 2);
    assert!(out.stderr.contains("10,000"), "{out:#?}");
}
