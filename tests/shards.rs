//! `--shard I/N` (issue 13 item 6): N processes started at once against one server send every
//! recipient exactly once in total, each with its own result log and lock; `campaign report`
//! merges the shard logs; mixing splits is refused; and `deploy/`'s Kubernetes Indexed Job is
//! valid against the Kubernetes schemas (kubernetes-validate, offline) and its own command line,
//! run once per index at once, does exactly that. The real binary sends to the aiosmtpd capture
//! server on 127.0.0.1 (`tests/support/`).

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use mail_parser::MimeHeaders;
use support::campaign::{Fixture, Run, Spec, WAIT, capture_rcpts};
use support::{CaptureOptions, CaptureServer};

const MANIFEST: &str = "deploy/kubernetes/indexed-job.yaml";

/// The rows of a result log: (email, status, detail).
fn log_rows(path: &Path) -> Vec<(String, String, String)> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string(), r[5].to_string())
        })
        .collect()
}

/// Every row of the logs, by address: how many rows and their statuses.
fn union(logs: &[PathBuf]) -> BTreeMap<String, Vec<String>> {
    let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for log in logs {
        for (email, status, _) in log_rows(log) {
            all.entry(email).or_default().push(status);
        }
    }
    all
}

/// Starts `campaign <args>` with `dir` as the campaign (args[1]), once per index, all at once,
/// and waits for every one.
fn run_at_once(fx: &Fixture, each: impl Fn(u32) -> Vec<String>, n: u32) -> Vec<Run> {
    let running: Vec<_> = (0..n)
        .map(|i| {
            let args = each(i);
            let rest: Vec<&str> = args[2..].iter().map(String::as_str).collect();
            fx.spawn_command(&args[0], &rest, &[])
        })
        .collect();
    running.into_iter().map(|r| r.wait()).collect()
}

/// Asserts that the server received each of `expected` exactly once, and nothing else.
fn assert_received_once(server: &CaptureServer, expected: &[String]) {
    assert!(support::wait_until(WAIT, || server.messages().len() >= expected.len()));
    let received = capture_rcpts(server);
    assert_eq!(server.messages().len(), expected.len(), "messages received");
    assert_eq!(received.len(), expected.len(), "distinct recipients");
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "received more than once: {twice:?}");
    for e in expected {
        assert!(received.contains_key(e), "{e} never received");
    }
}

#[test]
fn four_shards_at_once_send_every_recipient_exactly_once_and_report_merges_them() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 2000,
        concurrency: 2,
        // The same mailbox spelled otherwise (a duplicate wherever it hashes), and an invalid row.
        extra_rows: vec!["R005@EXAMPLE.COM,Dup", "not-an-address,Bad"],
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    let dir = fx.dir().to_str().unwrap().to_string();
    let runs = run_at_once(
        &fx,
        |i| {
            [
                "run",
                &dir,
                "--shard",
                &format!("{i}/4"),
                "--no-progress",
                "--yes",
            ]
            .map(String::from)
            .to_vec()
        },
        4,
    );
    let logs: Vec<PathBuf> = (0..4)
        .map(|i| fx.dir().join(format!("results.{i}-of-4.csv")))
        .collect();
    let mut sent_per_shard = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        run.expect(0);
        let rows = log_rows(&logs[i]);
        assert!(
            run.stdout.contains(&format!("shard {i}/4: "))
                && run.stdout.contains(" of 2,002 recipients"),
            "{}",
            run.stdout
        );
        sent_per_shard.push(rows.iter().filter(|r| r.1 == "sent").count());
        assert!(fx.dir().join(format!("results.{i}-of-4.csv.lock")).exists());
    }
    assert!(!fx.results_path().exists(), "no unsharded log");
    eprintln!("sent per shard: {sent_per_shard:?}");
    // Roughly even: 500 each expected; SHA-256 keeps them well within ±20 %.
    assert!(
        sent_per_shard.iter().all(|&n| (400..=600).contains(&n)),
        "{sent_per_shard:?}"
    );
    let all = union(&logs);
    for email in spec.emails() {
        assert_eq!(all.get(&email), Some(&vec!["sent".to_string()]), "{email}");
    }
    assert_eq!(all["R005@EXAMPLE.COM"], ["skipped"], "the duplicate, once");
    assert_eq!(all["not-an-address"], ["skipped"], "the invalid row, once");
    assert_eq!(all.len(), 2002);
    assert_received_once(&server, &spec.emails());

    // The report of the campaign merges the four logs: 2,000 sent, each once.
    let report = fx.run("report", &[]);
    assert_eq!(report.code, 0, "{}", report.stderr);
    let html = std::fs::read_to_string(fx.dir().join("report.html")).unwrap();
    for card in [
        "card sent\" data-count=\"2000\"",
        "card failed\" data-count=\"0\"",
        "card skipped\" data-count=\"2\"",
    ] {
        assert!(html.contains(card), "{card}");
    }
    assert!(html.contains("results.3-of-4.csv merged"));

    // Run again: each shard resumes from its own log and sends nobody.
    let again = fx.send(&["--shard", "2/4"], None);
    again.expect(0);
    assert!(again.stdout.contains("sent 0,"), "{}", again.stdout);
    assert_eq!(server.messages().len(), 2000);
}

#[test]
fn mixing_splits_is_refused_and_nothing_is_sent() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 20,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    fx.send(&["--shard", "1/2"], None).expect(0);
    let first = server.messages().len();
    assert!((4..=16).contains(&first), "shard 1/2 sent {first}");

    for (args, says) in [
        (
            vec![],
            "results.1-of-2.csv: the log of shard 1/2 holds rows",
        ),
        (vec!["--shard", "0/3"], "the log of shard 1/2 holds rows"),
    ] {
        let run = fx.send(&args, None);
        run.expect(2);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    for bad in ["2/2", "1/0", "x/2"] {
        let run = fx.send(&["--shard", bad], None);
        run.expect(2);
        assert!(run.stderr.contains("0-based"), "{bad}: {}", run.stderr);
    }
    // The other shard of the same split is fine, and the two make the whole list.
    fx.send(&["--shard", "0/2"], None).expect(0);
    assert_received_once(&server, &spec.emails());

    // --log PATH: the shard's log is PATH with .I-of-N before the extension.
    let fx2 = Fixture::from_spec(&spec);
    let log = fx2.dir().join("april.csv");
    fx2.send(&["--shard", "0/2", "--log", log.to_str().unwrap()], None)
        .expect(0);
    assert!(fx2.dir().join("april.0-of-2.csv").exists());
    assert!(fx2.dir().join("april.0-of-2.csv.lock").exists());
    assert!(!log.exists());
}

#[test]
fn a_dry_run_of_a_shard_previews_its_rows_only() {
    let spec = Spec {
        recipients: 40,
        ..Spec::new(1)
    };
    let fx = Fixture::from_spec(&spec);
    let mut total = 0;
    for i in 0..2 {
        let run = fx.run("run", &["--dry-run", "--shard", &format!("{i}/2")]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout.contains(&format!("shard {i}/2: ")),
            "{}",
            run.stdout
        );
        let out = fx.dir().join("preview").join(format!("{i}-of-2"));
        let emls = support::fixture::files_with(&out, "eml");
        assert!(!emls.is_empty() && emls.len() < 40, "{}", emls.len());
        total += emls.len();
    }
    assert_eq!(total, 40);
}

/// `python3 -c …` running kubernetes-validate (installed by tests/support/setup.sh) on `files`.
fn kubernetes_validate(files: &[&Path]) -> std::process::Output {
    Command::new(support::python())
        .args([
            "-c",
            "import sys; from kubernetes_validate.__main__ import main; sys.exit(main())",
            "--strict",
            "--quiet",
        ])
        .args(files)
        .output()
        .expect("run python; are the test prerequisites installed? bash tests/support/setup.sh")
}

#[test]
fn every_file_in_deploy_is_valid_against_the_kubernetes_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut folders = vec![root.join("deploy")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    assert!(files.contains(&root.join(MANIFEST)), "{files:?}");
    for file in &files {
        let out = kubernetes_validate(&[file]);
        assert!(
            out.status.success(),
            "{}: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The validator does validate: the same Job with a misspelt field fails.
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.yaml");
    let text = std::fs::read_to_string(root.join(MANIFEST)).unwrap();
    std::fs::write(
        &broken,
        text.replace("restartPolicy: Never", "restartPolcy: Never"),
    )
    .unwrap();
    let out = kubernetes_validate(&[&broken]);
    assert!(!out.status.success(), "a misspelt field must fail");
}

/// The Job's completions, parallelism and container args, read with PyYAML.
fn job_command_line() -> (u32, u32, Vec<String>) {
    let script = "import sys, json, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
job = next(d for d in docs if d['kind'] == 'Job')
spec = job['spec']
c = spec['template']['spec']['containers'][0]
print(json.dumps([spec['completionMode'], spec['completions'], spec['parallelism'], c['args']]))";
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(MANIFEST);
    let out = Command::new(support::python())
        .args(["-c", script])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0], "Indexed");
    let args = v[3].as_array().unwrap();
    let args = args
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    (
        v[1].as_u64().unwrap() as u32,
        v[2].as_u64().unwrap() as u32,
        args,
    )
}

/// Lays the campaign directory out as a ConfigMap volume is mounted: the files in a hidden,
/// timestamped folder, `..data` linking to it, and each file a link through `..data`.
fn as_config_map_volume(dir: &Path) {
    as_config_map_volume_of(dir, &["campaign.toml", "email.html", "recipients.csv"]);
}

/// [`as_config_map_volume`] with these files; returns the timestamped folder holding them.
fn as_config_map_volume_of(dir: &Path, names: &[&str]) -> PathBuf {
    let data = dir.join("..2026_12_03_16_00_00.000000001");
    std::fs::create_dir(&data).unwrap();
    for &name in names {
        std::fs::rename(dir.join(name), data.join(name)).unwrap();
        std::os::unix::fs::symlink(format!("..data/{name}"), dir.join(name)).unwrap();
    }
    std::os::unix::fs::symlink(data.file_name().unwrap(), dir.join("..data")).unwrap();
    data
}

/// A campaign in a ConfigMap volume embeds its local images, though each file is a link through
/// Kubernetes' own `..data` folder (they were refused as hidden files); a link to a dotfile is still
/// refused, and says so.
#[test]
fn a_config_map_volumes_images_are_embedded_and_a_link_to_a_dotfile_is_not() {
    let fx = Fixture::from_spec(&Spec::new(1));
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";
    std::fs::write(fx.dir().join("logo.png"), png).unwrap();
    fx.write(
        "email.html",
        "<p>Hi {{ first_name }}</p><img src=\"logo.png\" alt=\"Acme\">",
    );
    let names = ["campaign.toml", "email.html", "recipients.csv", "logo.png"];
    let data = as_config_map_volume_of(fx.dir(), &names);
    let out = fx.root().join("out");
    let run = fx.dry_run(&["--out", out.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    let eml = support::fixture::emls(&out).remove(0);
    let message = mail_parser::MessageParser::default().parse(&eml).unwrap();
    let image = message
        .attachments()
        .find(|a| a.content_type().is_some_and(|t| t.subtype() == Some("png")));
    assert_eq!(image.expect("the logo embedded").contents(), png);

    std::fs::write(data.join(".env"), "CAMPAIGN_SMTP_PASSWORD=hunter2\n").unwrap();
    std::os::unix::fs::symlink("..data/.env", fx.dir().join("secret.png")).unwrap();
    std::fs::write(
        data.join("email.html"),
        "<img src=\"secret.png\" alt=\"x\">",
    )
    .unwrap();
    let run = fx.dry_run(&["--out", out.to_str().unwrap()]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("hidden file") || run.stdout.contains("hidden file"),
        "{run:?}"
    );
    let written = support::fixture::emls(&out);
    assert!(
        written
            .iter()
            .all(|e| !String::from_utf8_lossy(e).contains("hunter2"))
    );
}

#[test]
fn the_jobs_own_command_line_once_per_index_at_once_sends_everyone_once() {
    let (completions, parallelism, args) = job_command_line();
    assert_eq!(completions, parallelism, "every shard at once");
    let shard = args.iter().position(|a| a == "--shard").unwrap();
    assert_eq!(
        args[shard + 1],
        format!("$(JOB_COMPLETION_INDEX)/{completions}")
    );
    assert_eq!(args[..2], ["run", "/campaign"]);

    let server = CaptureServer::start(CaptureOptions::plain());
    let spec = Spec {
        recipients: 300,
        ..Spec::new(server.port)
    };
    let fx = Fixture::from_spec(&spec);
    as_config_map_volume(fx.dir());
    let results = fx.dir().parent().unwrap().join("results");
    std::fs::create_dir(&results).unwrap();
    let campaign = fx.dir().to_str().unwrap().to_string();
    let results_dir = results.to_str().unwrap().to_string();
    let runs = run_at_once(
        &fx,
        |i| {
            args.iter()
                .map(|a| {
                    // What Kubernetes does: expand the index, mount the volumes.
                    let a = a.replace("$(JOB_COMPLETION_INDEX)", &i.to_string());
                    match a.strip_prefix("/results/") {
                        Some(file) => format!("{results_dir}/{file}"),
                        None if a == "/campaign" => campaign.clone(),
                        None => a,
                    }
                })
                .collect()
        },
        completions,
    );
    for run in &runs {
        run.expect(0);
    }
    let logs: Vec<PathBuf> = (0..completions)
        .map(|i| results.join(format!("results.{i}-of-{completions}.csv")))
        .collect();
    let all = union(&logs);
    assert_eq!(all.len(), 300);
    assert!(all.values().all(|s| s == &["sent"]));
    assert_received_once(&server, &spec.emails());
    // The read-only campaign volume was not written to.
    let written: Vec<_> = std::fs::read_dir(fx.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with(".."))
        .collect();
    assert_eq!(written.len(), 3, "{written:?}");
}
