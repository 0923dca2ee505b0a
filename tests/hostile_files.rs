//! Hostile files and hostile output (issue 10 items 1, 4, 12, 13, 15): recipient data naming a
//! secret as a local image, a second dry run deleting files it never wrote, a FIFO where a file
//! is read, a closed stdout or stderr, and a full or read-only disk under `--out`. The real
//! `campaign` binary runs on a campaign written into a tempdir (`tests/support/campaign.rs`), and
//! sends to the aiosmtpd capture server on 127.0.0.1.

mod support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use mail_parser::MimeHeaders;
use support::campaign::{Fixture, HEADER, Run, Spec, WAIT, assert_each_once, row_for};
use support::{CaptureOptions, CaptureServer};

/// A password that must never leave the campaign directory.
const CANARY: &str = "canary-Hx81-do-not-send";

/// A FIFO must be refused well before any test timeout.
const PROMPTLY: Duration = Duration::from_secs(10);

/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x01, 0x54, 0xA2, 0x4F, 0x5D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// A 1×1 GIF.
const GIF: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

fn dir(fx: &Fixture) -> PathBuf {
    fx.root().join("campaign")
}

fn write_bytes(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
}

// ------------------------------------------------------------------- item 1 ---

/// Each recipient's avatar, and whether it is a real image inside the campaign.
const AVATARS: &[(&str, Option<&[u8]>)] = &[
    ("images/a.png", Some(PNG)),
    (".env", None),
    ("keys/news.pem", None),
    ("campaign.toml", None),
    ("results.csv", None),
    ("recipients.csv", None),
    ("images/fake.png", None),
    ("../outside.png", None),
    ("images/link.png", None),
    ("/etc/passwd", None),
    (".hidden/real.png", None),
    ("images/b.gif", Some(GIF)),
];

/// A campaign whose HTML embeds `{{ avatar }}` and whose directory holds secrets: `.env` with the
/// SMTP password, a DKIM key, a text file named `.png`, a real PNG outside (and a link to it), a
/// real PNG in a dot folder.
fn avatar_campaign(port: u16) -> Fixture {
    let mut spec = Spec::new(port);
    spec.recipients = 0;
    let fx = Fixture::from_spec(&spec);
    let d = dir(&fx);
    fx.write(
        "email.html",
        "<html><body><p>Hi {{ first_name }}</p><img src=\"{{ avatar }}\" alt=\"\"></body></html>\n",
    );
    let mut csv = String::from("email,first_name,avatar\n");
    for (i, (avatar, _)) in AVATARS.iter().enumerate() {
        csv += &format!("{},N{i},{avatar}\n", support::campaign::email(i));
    }
    fx.write("recipients.csv", &csv);
    fx.write(".env", &format!("CAMPAIGN_SMTP_PASSWORD={CANARY}\n"));
    let key = common_key(&d);
    let toml = fs::read_to_string(d.join("campaign.toml")).unwrap();
    fx.write(
        "campaign.toml",
        &format!(
            "{toml}\n[dkim]\ndomain = \"acme.example\"\nselector = \"news\"\n\
             private_key = \"keys/news.pem\"\nalgorithm = \"ed25519-sha256\"\n"
        ),
    );
    assert!(key.contains("PRIVATE KEY"));
    fx.write("results.csv", &format!("{HEADER}\n"));
    write_bytes(&d.join("images/a.png"), PNG);
    write_bytes(&d.join("images/b.gif"), GIF);
    write_bytes(
        &d.join("images/fake.png"),
        format!("secret={CANARY}\n").as_bytes(),
    );
    write_bytes(&fx.root().join("outside.png"), PNG);
    symlink(fx.root().join("outside.png"), d.join("images/link.png")).unwrap();
    write_bytes(&d.join(".hidden/real.png"), PNG);
    fx
}

/// Writes an Ed25519 key to `keys/news.pem` and returns its PEM text.
fn common_key(d: &Path) -> String {
    fs::create_dir_all(d.join("keys")).unwrap();
    let path = d.join("keys/news.pem");
    let status = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ED25519", "-out"])
        .arg(&path)
        .status()
        .expect("run openssl");
    assert!(status.success());
    fs::read_to_string(path).unwrap()
}

/// Every secret of the campaign directory, as bytes that must appear in no message or preview.
fn secrets(fx: &Fixture) -> Vec<Vec<u8>> {
    let d = dir(fx);
    let key = fs::read_to_string(d.join("keys/news.pem")).unwrap();
    let key_body = key.lines().nth(1).unwrap().to_string();
    vec![CANARY.as_bytes().to_vec(), key_body.into_bytes()]
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that no part of the parsed message, nor its raw bytes, holds a secret.
#[track_caller]
fn assert_no_secret(raw: &[u8], secrets: &[Vec<u8>], what: &str) {
    let message = support::parse(raw);
    for secret in secrets {
        assert!(!contains(raw, secret), "{what} holds a secret (raw)");
        for part in &message.parts {
            assert!(
                !contains(part.contents(), secret),
                "{what}: a part holds a secret"
            );
        }
    }
}

fn is_refused(i: usize) -> bool {
    AVATARS[i].1.is_none()
}

#[test]
fn data_chosen_image_paths_cannot_embed_secrets_in_a_dry_run() {
    let fx = avatar_campaign(1);
    let out = fx.root().join("out");
    let run = fx.send(&["--dry-run", "--out", out.to_str().unwrap()], None);
    run.expect(1);
    let secrets = secrets(&fx);
    let mut previews = 0;
    // The previews, and the copies of the images they show (`images/`).
    let copies = fs::read_dir(out.join("images")).into_iter().flatten();
    for entry in fs::read_dir(&out).unwrap().chain(copies) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let bytes = fs::read(&path).unwrap();
        for secret in &secrets {
            assert!(
                !contains(&bytes, secret),
                "{} holds a secret",
                path.display()
            );
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".eml") {
            assert_no_secret(&bytes, &secrets, &name);
            previews += 1;
        }
        if name.ends_with(".html") && name != "index.html" {
            let text = String::from_utf8(bytes).unwrap();
            assert!(text.contains("Content-Security-Policy"), "{name}: {text}");
            for (avatar, good) in AVATARS {
                if good.is_none() {
                    assert!(!text.contains(avatar.trim_start_matches("../")), "{name}");
                }
            }
        }
    }
    assert_eq!(previews, 2, "the two recipients with real images");
    for (i, (avatar, _)) in AVATARS.iter().enumerate() {
        let email = support::campaign::email(i);
        let listed = run.stdout.lines().find(|l| l.contains(&email));
        if is_refused(i) {
            let line = listed.unwrap_or_else(|| panic!("{email} listed:\n{}", run.stdout));
            assert!(line.contains(&format!("image \"{avatar}\"")), "{line}");
        } else {
            assert!(listed.is_none(), "{email} not failed:\n{}", run.stdout);
        }
    }
}

#[test]
fn data_chosen_image_paths_cannot_embed_secrets_in_a_send() {
    let server = CaptureServer::start(CaptureOptions::plain());
    let fx = avatar_campaign(server.port);
    fx.send(&[], None).expect(1);
    let good: Vec<String> = (0..AVATARS.len())
        .filter(|&i| !is_refused(i))
        .map(support::campaign::email)
        .collect();
    let received = server.wait_for(good.len(), WAIT);
    assert_each_once(&support::campaign::capture_rcpts(&server), &good);
    let secrets = secrets(&fx);
    for message in &received {
        assert_no_secret(&message.raw, &secrets, &message.rcpt_tos[0]);
        let parsed = message.parsed();
        let i = AVATARS
            .iter()
            .enumerate()
            .position(|(i, _)| support::campaign::email(i) == message.rcpt_tos[0])
            .unwrap();
        let image = parsed
            .parts
            .iter()
            .find(|p| p.content_type().is_some_and(|c| c.ctype() == "image"))
            .expect("the image part");
        support::assert_same_bytes(image.contents(), AVATARS[i].1.unwrap(), "its own image");
    }
    let rows = fx.strict_rows();
    for (i, (avatar, _)) in AVATARS.iter().enumerate() {
        let row = row_for(&rows, &support::campaign::email(i));
        if is_refused(i) {
            assert_eq!(row.status, "failed", "{row:?}");
            assert!(
                row.detail
                    .starts_with(&format!("not rendered: image \"{avatar}\": ")),
                "{row:?}"
            );
        } else {
            assert_eq!(row.status, "sent", "{row:?}");
        }
    }
}

// ------------------------------------------------------------------- item 4 ---

#[test]
fn an_out_folder_holding_the_campaigns_inputs_is_refused() {
    let fx = Fixture::from_spec(&Spec::new(1));
    let d = dir(&fx);
    write_bytes(&d.join("files/terms.pdf"), b"%PDF-1.4 terms");
    let toml = fs::read_to_string(d.join("campaign.toml")).unwrap();
    fx.write(
        "campaign.toml",
        &format!("attachments = [\"files/terms.pdf\"]\n{toml}"),
    );
    let before = fx.snapshot();
    for out in [
        d.clone(),
        fx.root().to_path_buf(),
        fx.root().join("templates"),
        fx.root().join("templates/partials/new"),
        d.join("files"),
        d.join("."),
    ] {
        let run = fx.send(&["--dry-run", "--out", out.to_str().unwrap()], None);
        run.expect(2);
        assert!(run.stderr.contains("--out"), "{}", run.stderr);
        assert_eq!(
            fx.snapshot(),
            before,
            "nothing written or removed for --out {}",
            out.display()
        );
    }
    fx.send(&["--dry-run"], None).expect(0);
    assert!(d.join("preview/index.html").is_file());
    assert!(d.join("email.html").is_file());
}

/// Previews written into the folder a per-recipient attachment is named in would become, or
/// overwrite, recipients' attachments: refused like the other input folders.
#[test]
fn an_out_folder_inside_a_per_recipient_attachments_folder_is_refused() {
    let fx = Fixture::from_spec(&Spec::new(1));
    let d = dir(&fx);
    write_bytes(&d.join("statements/r000@example.com.txt"), b"statement");
    let toml = fs::read_to_string(d.join("campaign.toml")).unwrap();
    let named = "attachments = [\"statements/{{ email }}.txt\"]\nattachments_missing = \"skip\"\n";
    fx.write("campaign.toml", &format!("{named}{toml}"));
    let before = fx.snapshot();
    for out in [d.join("statements"), d.join("statements/preview")] {
        let run = fx.send(&["--dry-run", "--out", out.to_str().unwrap()], None);
        run.expect(2);
        assert!(
            run.stderr
                .contains("the folder of a per-recipient attachment"),
            "{}",
            run.stderr
        );
        assert_eq!(
            fx.snapshot(),
            before,
            "nothing written for --out {}",
            out.display()
        );
    }
    fx.send(&["--dry-run"], None).expect(0);
}

#[test]
fn a_second_dry_run_removes_only_what_the_first_wrote() {
    let fx = Fixture::from_spec(&Spec::new(1));
    let out = fx.root().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(out.join("notes.html"), "mine").unwrap();
    fs::write(out.join("000002-r000@example.com.txt"), "mine").unwrap();
    fs::write(fx.root().join("elsewhere.html"), "mine").unwrap();
    symlink(fx.root().join("elsewhere.html"), out.join("link.html")).unwrap();
    let out_arg = out.to_str().unwrap();
    fx.send(&["--dry-run", "--out", out_arg], None).expect(0);
    assert!(out.join("000006-r004@example.com.eml").is_file());
    fx.send(&["--dry-run", "--out", out_arg, "--limit", "1"], None)
        .expect(0);
    let mut names: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ".campaign-preview-manifest",
            "000002-r000@example.com.eml",
            "000002-r000@example.com.html",
            "000002-r000@example.com.txt",
            "index.html",
            "link.html",
            "notes.html",
        ]
    );
    assert_eq!(
        fs::read_to_string(fx.root().join("elsewhere.html")).unwrap(),
        "mine"
    );
}

/// A link planted in `--out` under the name of a preview (or of the index, or the manifest) is
/// replaced by the preview, never written through: the file it points at is untouched.
#[test]
fn a_link_in_out_named_like_a_preview_is_not_written_through() {
    let fx = Fixture::from_spec(&Spec::new(1));
    let out = fx.root().join("out");
    fs::create_dir(&out).unwrap();
    let victim = fx.root().join("victim.txt");
    fs::write(&victim, "precious").unwrap();
    for name in [
        "000002-r000@example.com.eml",
        "000002-r000@example.com.html",
        ".campaign-preview-manifest.new",
    ] {
        symlink(&victim, out.join(name)).unwrap();
    }
    fx.send(&["--dry-run", "--out", out.to_str().unwrap()], None)
        .expect(0);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let eml = out.join("000002-r000@example.com.eml");
    assert!(
        fs::symlink_metadata(&eml).unwrap().is_file(),
        "a file of its own"
    );
    assert!(fs::read_to_string(eml).unwrap().contains("Subject:"));
}

#[test]
fn an_old_preview_folder_without_a_manifest_loses_only_the_files_its_index_lists() {
    let fx = Fixture::from_spec(&Spec::new(1));
    let out = fx.root().join("out");
    fs::create_dir(&out).unwrap();
    fs::write(
        out.join("index.html"),
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><meta name=\"generator\" content=\"campaign preview\">\
         </head><body><table>\n<tr><td>7</td><td>x@example.com</td><td>S</td><td>\
         <a href=\"000007-x@example.com.html\">html</a> <a href=\"000007-x@example.com.eml\">eml</a></td></tr>\n\
         <tr><td>8</td><td>y</td><td>S</td><td><a href=\"../campaign/email.html\">html</a></td></tr>\n\
         </table></body></html>\n",
    )
    .unwrap();
    fs::write(out.join("000007-x@example.com.html"), "old").unwrap();
    fs::write(out.join("000007-x@example.com.eml"), "old").unwrap();
    fs::write(out.join("email.html"), "mine").unwrap();
    fs::write(out.join("000009-z@example.com.eml"), "mine").unwrap();
    fx.send(&["--dry-run", "--out", out.to_str().unwrap()], None)
        .expect(0);
    assert!(!out.join("000007-x@example.com.html").exists());
    assert!(!out.join("000007-x@example.com.eml").exists());
    assert_eq!(fs::read_to_string(out.join("email.html")).unwrap(), "mine");
    assert_eq!(
        fs::read_to_string(out.join("000009-z@example.com.eml")).unwrap(),
        "mine"
    );
    assert!(dir(&fx).join("email.html").is_file());
}

// ------------------------------------------------------------------ item 12 ---

fn mkfifo(path: &Path) {
    let _ = fs::remove_file(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

#[test]
fn a_fifo_where_a_file_is_read_is_refused_promptly() {
    for (what, fifo, toml_line) in [
        ("recipients", "recipients.csv", ""),
        (
            "suppress",
            "unsubscribed.txt",
            "suppress = [\"unsubscribed.txt\"]\n",
        ),
        (
            "attachment",
            "files/terms.pdf",
            "attachments = [\"files/terms.pdf\"]\n",
        ),
        ("template", "email.html", ""),
        ("layout", "../templates/partials/footer.html", ""),
        ("image", "images/logo.png", ""),
    ] {
        let fx = Fixture::from_spec(&Spec::new(1));
        let d = dir(&fx);
        let toml = fs::read_to_string(d.join("campaign.toml")).unwrap();
        fx.write("campaign.toml", &format!("{toml_line}{toml}"));
        if what == "image" {
            fx.write(
                "email.html",
                "<html><body><p>Hi</p><img src=\"images/logo.png\" alt=\"\"></body></html>\n",
            );
        }
        mkfifo(&d.join(fifo));
        for args in [&["--dry-run"][..], &[]] {
            let run = fx.spawn(args, None).wait_within(PROMPTLY);
            let shown = Path::new(fifo)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            run.expect(2);
            assert!(
                run.stderr.contains("is a FIFO, not a regular file") && run.stderr.contains(&shown),
                "{what}: {}",
                run.stderr
            );
        }
        assert!(!d.join("preview").exists(), "{what}: nothing written");
        assert!(!d.join("results.csv").exists(), "{what}: nothing logged");
    }
}

// ------------------------------------------------------------------ item 13 ---

/// Runs the binary with stdout and/or stderr a pipe whose read end is already closed.
fn run_closed(cwd: &Path, args: &[&str], close_stdout: bool, close_stderr: bool) -> i32 {
    let closed = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Stdio::from(writer)
    };
    let mut cmd = Command::new(support::campaign_bin());
    cmd.args(args)
        .current_dir(cwd)
        .env_remove("CAMPAIGN_TEMPLATES")
        .env_remove("CAMPAIGN_SMTP_PASSWORD")
        .env_remove("CAMPAIGN_DKIM_KEY")
        .stdin(Stdio::null())
        .stdout(if close_stdout {
            closed()
        } else {
            Stdio::null()
        })
        .stderr(if close_stderr {
            closed()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + support::campaign::RUN_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(std::time::Instant::now() < deadline, "the binary hangs");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_closed_stdout_or_stderr_changes_no_outcome_or_exit_code() {
    for (close_stdout, close_stderr) in [(true, false), (false, true), (true, true)] {
        let server = CaptureServer::start(CaptureOptions::plain());
        let spec = Spec::new(server.port);
        let fx = Fixture::from_spec(&spec);
        let d = dir(&fx);
        let d_arg = d.to_str().unwrap();
        let code = run_closed(
            fx.root(),
            &["run", d_arg, "--no-progress"],
            close_stdout,
            close_stderr,
        );
        assert_eq!(
            code, 0,
            "send, stdout closed {close_stdout}, stderr closed {close_stderr}"
        );
        server.wait_for(spec.recipients, WAIT);
        assert_each_once(&support::campaign::capture_rcpts(&server), &spec.emails());
        let rows = fx.strict_rows();
        assert_eq!(rows.len(), spec.recipients);
        assert!(rows.iter().all(|r| r.status == "sent"), "{rows:?}");
        let code = run_closed(
            fx.root(),
            &["run", d_arg, "--dry-run"],
            close_stdout,
            close_stderr,
        );
        assert_eq!(code, 0, "dry run");
        assert!(d.join("preview/index.html").is_file());
        let code = run_closed(fx.root(), &["check", d_arg], close_stdout, close_stderr);
        assert_eq!(code, 0, "check");
        fs::remove_file(d.join("recipients.csv")).unwrap();
        let code = run_closed(fx.root(), &["check", d_arg], close_stdout, close_stderr);
        assert_eq!(code, 2, "an invalid campaign");
    }
}

// ------------------------------------------------------------------ item 15 ---

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A tmpfs mounted for the test, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, options: &str) -> Option<Mount> {
        fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn assert_output_failure(run: &Run, file_part: &str, reason: &str) {
    run.expect(6);
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_default();
    assert!(error.contains(file_part), "{}", run.stderr);
    assert_eq!(
        error.matches(reason).count(),
        1,
        "the reason, once: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn a_full_disk_under_out_is_an_output_failure_not_a_transport_one() {
    if !is_root() {
        println!("note: not root, cannot mount a small tmpfs: full-disk test skipped");
        return;
    }
    let mut spec = Spec::new(1);
    spec.recipients = 200;
    let fx = Fixture::from_spec(&spec);
    let Some(_mount) = Mount::tmpfs(&fx.root().join("full"), "size=64k") else {
        println!("note: mount -t tmpfs failed: full-disk test skipped");
        return;
    };
    let out = fx.root().join("full/preview");
    let run = fx.send(&["--dry-run", "--out", out.to_str().unwrap()], None);
    assert_output_failure(&run, "full/preview", "No space left on device");
}

#[test]
fn a_read_only_out_is_an_output_failure() {
    let fx = Fixture::from_spec(&Spec::new(1));
    let out = fx.root().join("ro");
    let _mount = if is_root() {
        let Some(mount) = Mount::tmpfs(&out, "ro,size=64k") else {
            println!("note: mount -t tmpfs failed: read-only test skipped");
            return;
        };
        Some(mount)
    } else {
        fs::create_dir(&out).unwrap();
        let status = Command::new("chmod").arg("555").arg(&out).status().unwrap();
        assert!(status.success());
        None
    };
    let run = fx.send(&["--dry-run", "--out", out.to_str().unwrap()], None);
    let reason = if is_root() {
        "Read-only file system"
    } else {
        "Permission denied"
    };
    assert_output_failure(&run, "ro", reason);
}
