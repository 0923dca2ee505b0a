//! The dry run's index and preview folder (issue 12 item 10): a summary at the top of index.html
//! (counts, subject, From, Reply-To, sizes, the warnings `check` gives), a `.txt` per recipient
//! holding the text part as sent, and images copied into the folder and linked relatively, so the
//! folder can be moved or shared. The real binary runs a dry run on a campaign in a tempdir
//! (`tests/support/fixture.rs`); the messages are parsed back with mail-parser and the pages with
//! the crate's HTML lexer.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use campaign::html::{Lexer, Token};
use support::fixture::{Fixture, files_with};

const TOML: &str = "subject = \"News for {{ first_name }}\"\n\
                    from = \"Acme News <news@acme.example>\"\n\
                    reply_to = \"Help & Support <help@acme.example>\"\n\
                    suppress = [\"unsubscribed.txt\"]\n";

/// A page with a shared logo and a per-recipient picture; `coupon` is undefined for VIPs without
/// one, which fails that recipient alone.
const HTML: &str = "<html><body><h1>Hello {{ first_name }}</h1>\n\
    <img src=\"logo.png\"><img src=\"{{ picture }}\" alt=\"pic\">\n\
    <p>Plenty of words about the April news, so that the text part has something to say: \
    gardens, bicycles, and the new bakery on the corner.</p>\n\
    {% if vip == \"y\" %}<p>Your coupon: {{ coupon }}</p>{% endif %}</body></html>\n";

const CSV: &str = "email,first_name,picture,vip\n\
    xiaoming@example.com,小明,a/pic.png,n\n\
    zoe@example.org,Zoë,b/pic.png,n\n\
    bad-address,Nobody,a/pic.png,n\n\
    zoe@example.org,Zoë again,a/pic.png,n\n\
    gone@example.net,Gone,a/pic.png,n\n\
    vip@example.com,Vip,a/pic.png,y\n\
    rocket@example.net,Rocket,a/pic.png,n\n";

/// A tiny PNG with `tag` in a trailing chunk, so that each is a different file.
fn png(tag: &str) -> Vec<u8> {
    let mut bytes =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89".to_vec();
    bytes.extend_from_slice(tag.as_bytes());
    bytes
}

fn fixture() -> Fixture {
    Fixture::with(TOML, HTML, CSV)
        .file("unsubscribed.txt", "gone@example.net\n")
        .file("logo.png", png("logo"))
        .file("a/pic.png", png("picture a"))
        .file("b/pic.png", png("picture b"))
}

/// The summary block of an index page, and the rest after it.
fn summary(index: &str) -> &str {
    let start = index
        .find("<section class=\"summary\">")
        .expect("a summary");
    let end = index.find("</section>").expect("its end");
    assert!(
        end < index.find("<th>Line</th>").expect("the table"),
        "the summary comes before the list"
    );
    &index[start..end]
}

/// `cid:img3.logo.png@…` as `cid:img.logo.png@…`.
fn without_cid_numbers(text: &str) -> String {
    let mut out = String::new();
    for (i, piece) in text.split("cid:img").enumerate() {
        if i > 0 {
            out.push_str("cid:img");
        }
        out.push_str(if i > 0 {
            piece.trim_start_matches(|c: char| c.is_ascii_digit())
        } else {
            piece
        });
    }
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[test]
fn the_index_opens_with_counts_subject_addresses_sizes_and_the_warnings_check_gives() {
    let fx = fixture();
    let run = fx.dry_run(&[]);
    assert_eq!(run.code, 1, "one recipient failed to render: {run:#?}");
    let index = fs::read_to_string(fx.preview().join("index.html")).unwrap();
    let summary = summary(&index);
    for wanted in [
        "3 rendered · 3 skipped (1 duplicate, 1 invalid address, 1 suppressed) · ".to_string(),
        "1 failed to render".to_string(),
        "News for 小明 <em>(the first; it varies per recipient)</em>".to_string(),
        escape("Acme News <news@acme.example>"),
        escape("Help & Support <help@acme.example>"),
        "under Gmail's 102 KB clipping limit".to_string(),
    ] {
        assert!(summary.contains(&wanted), "{wanted}\nin:\n{summary}");
    }
    // Sizes from the messages themselves: the largest exactly, the median to 0.1 KB.
    let mut sizes: Vec<usize> = support::fixture::emls(&fx.preview())
        .iter()
        .map(Vec::len)
        .collect();
    sizes.sort_unstable();
    let kb = |n: usize| format!("{:.1} KB", n as f64 / 1024.0);
    let largest = format!("largest {} (line", kb(*sizes.last().unwrap()));
    assert!(summary.contains(&largest), "{largest}\nin:\n{summary}");
    let median = sizes[(sizes.len() - 1) / 2];
    let shown = |n: usize| format!("median {}", kb(n / 100 * 100 + 50));
    assert!(
        summary.contains(&shown(median)),
        "{}\nin:\n{summary}",
        shown(median)
    );

    // Every content warning `check` gives is there, in the same words.
    let check = fx.run("check", &[]);
    let warnings: Vec<&str> = (check.stdout.lines())
        .filter_map(|l| l.strip_prefix("warning: "))
        .filter(|l| !l.contains("will be skipped"))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("without an alt attribute")),
        "{}",
        check.stdout
    );
    assert!(warnings.iter().any(|w| w.contains("no [dkim] section")));
    // Content IDs are numbered in the order images are first read, which differs between runs.
    let summary = without_cid_numbers(summary);
    for warning in warnings {
        let warning = without_cid_numbers(&escape(warning));
        assert!(summary.contains(&warning), "{warning}\nin:\n{summary}");
    }
}

#[test]
fn an_html_part_over_gmails_limit_is_flagged_in_the_summary() {
    let words = "<p>The April news, at length. </p>".repeat(3500);
    let html = format!("<html><body>{{{{ first_name }}}}{words}</body></html>");
    let fx = Fixture::with(TOML, &html, CSV).file("unsubscribed.txt", "gone@example.net\n");
    fx.dry_run(&[]);
    let index = fs::read_to_string(fx.preview().join("index.html")).unwrap();
    let summary = summary(&index);
    assert!(summary.contains("over Gmail's 102 KB"), "{summary}");
    assert!(
        summary.contains("the HTML part is over 102 KB"),
        "check's warning too: {summary}"
    );
}

#[test]
fn each_recipient_has_a_text_file_holding_the_text_part_as_sent() {
    let fx = fixture();
    fx.dry_run(&[]);
    let preview = fx.preview();
    let index = fs::read_to_string(preview.join("index.html")).unwrap();
    let emls = files_with(&preview, "eml");
    assert_eq!(emls.len(), 3);
    for eml in emls {
        let stem = eml.file_stem().unwrap().to_string_lossy().into_owned();
        let bytes = fs::read(&eml).unwrap();
        let message = support::parse(&bytes);
        let part = message.text_part(0).expect("a text part");
        let sent = part.text_contents().expect("text").replace("\r\n", "\n");
        let txt = fs::read_to_string(preview.join(format!("{stem}.txt"))).unwrap();
        assert_eq!(txt, sent, "{stem}: the text part, line ends as LF");
        assert!(
            index.contains(&format!("href=\"{}.txt\"", escape(&stem))),
            "{index}"
        );
    }
    let txt = fs::read_to_string(preview.join("000002-xiaoming@example.com.txt")).unwrap();
    assert!(txt.contains("Hello 小明"), "decoded UTF-8: {txt}");
    let manifest = fs::read_to_string(preview.join(".campaign-preview-manifest")).unwrap();
    assert!(
        manifest
            .lines()
            .any(|l| l == "000002-xiaoming@example.com.txt")
    );
}

/// The `src` of every `<img>` in `html`, read with the crate's lexer.
fn img_sources(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for token in Lexer::new(html) {
        if let Token::Start(tag) = token
            && tag.is("img")
            && let Some(src) = tag.attr("src")
        {
            found.push(src.to_string());
        }
    }
    found
}

/// Every image of every preview page in `folder`, as a file in it, with its bytes.
fn images_in(folder: &Path) -> Vec<(String, PathBuf)> {
    let mut all = Vec::new();
    for page in files_with(folder, "html") {
        if page.ends_with("index.html") {
            continue;
        }
        let html = fs::read_to_string(&page).unwrap();
        let stem = page.file_stem().unwrap().to_string_lossy().into_owned();
        let sources = img_sources(&html);
        assert_eq!(sources.len(), 2, "{html}");
        for src in sources {
            assert!(
                !src.contains(':') && !src.starts_with('/'),
                "relative to the page: {src}"
            );
            all.push((stem.clone(), folder.join(&src)));
        }
    }
    all
}

#[test]
fn the_preview_folder_can_be_moved_and_every_image_still_shows() {
    let fx = fixture();
    fx.dry_run(&[]);
    let moved = fx.root().join("shared-preview");
    fs::rename(fx.preview(), &moved).unwrap();
    let images = images_in(&moved);
    assert_eq!(images.len(), 6, "two images on each of three pages");
    for (page, path) in &images {
        let bytes = fs::read(path).unwrap_or_else(|e| panic!("{page}: {}: {e}", path.display()));
        let wanted = match page.as_str() {
            _ if bytes == png("logo") => continue,
            "000003-zoe@example.org" => png("picture b"),
            _ => png("picture a"),
        };
        assert_eq!(bytes, wanted, "{page}: {}", path.display());
    }
    // One copy per distinct image, whatever its name or how many pages show it.
    let copies: BTreeSet<PathBuf> = images.into_iter().map(|(_, p)| p).collect();
    assert_eq!(copies.len(), 3, "{copies:?}");
    assert_eq!(fs::read_dir(moved.join("images")).unwrap().count(), 3);
    let manifest = fs::read_to_string(moved.join(".campaign-preview-manifest")).unwrap();
    let listed = manifest
        .lines()
        .filter(|l| l.starts_with("images/"))
        .count();
    assert_eq!(listed, 3, "{manifest}");
}

#[test]
fn a_later_dry_run_removes_the_image_copies_it_no_longer_needs() {
    let fx = fixture();
    fx.dry_run(&[]);
    let folder = fx.preview().join("images");
    fs::write(folder.join("notes.txt"), "mine").unwrap();
    assert_eq!(fs::read_dir(&folder).unwrap().count(), 4);
    fx.dry_run_ok(&["--limit", "1"]);
    let mut left: Vec<String> = fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left.len(),
        3,
        "logo, picture a, and the user's file: {left:?}"
    );
    assert!(left.contains(&"notes.txt".to_string()));
    assert_eq!(images_in(&fx.preview()).len(), 2);
}

#[test]
fn a_link_named_images_in_the_preview_folder_is_replaced_not_written_through() {
    let fx = fixture();
    let victim = fx.root().join("victim");
    fs::create_dir(&victim).unwrap();
    fs::create_dir_all(fx.preview()).unwrap();
    std::os::unix::fs::symlink(&victim, fx.preview().join("images")).unwrap();
    fx.dry_run(&[]);
    assert_eq!(
        fs::read_dir(&victim).unwrap().count(),
        0,
        "nothing written through"
    );
    let meta = fs::symlink_metadata(fx.preview().join("images")).unwrap();
    assert!(meta.is_dir(), "a folder of its own");
    assert_eq!(images_in(&fx.preview()).len(), 6);
}

#[test]
fn past_a_hundred_messages_the_summary_says_the_content_rules_read_the_first_hundred() {
    let mut csv = String::from("email,first_name\n");
    for i in 0..105 {
        csv += &format!("r{i:03}@example.com,R{i}\n");
    }
    let html = "<html><body><p>Hello {{ first_name }}</p><img src=\"https://cdn.example.com/a.png\"></body></html>";
    let fx = Fixture::with(TOML, html, &csv).file("unsubscribed.txt", "gone@example.net\n");
    fx.dry_run_ok(&[]);
    let index = fs::read_to_string(fx.preview().join("index.html")).unwrap();
    let summary = summary(&index);
    assert!(
        summary.contains("105 rendered · 0 skipped · 0 failed to render"),
        "{summary}"
    );
    assert!(
        summary.contains(
            "content rules on the first 100 messages rendered; <code>campaign check</code> reads all 105"
        ),
        "{summary}"
    );
    assert!(
        summary.contains("(all 100 messages; first: line 2"),
        "{summary}"
    );
    assert!(summary.contains("News for R0 <em>(the first; it varies per recipient)</em>"));
}

#[test]
fn a_file_named_images_in_the_preview_folder_refuses_it_before_anything_changes() {
    let fx = fixture();
    fx.dry_run(&[]);
    let images = fx.preview().join("images");
    fs::remove_dir_all(&images).unwrap();
    fs::write(&images, "mine").unwrap();
    let before = fx.snapshot();
    let run = fx.dry_run(&[]);
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains("is not a folder"), "{}", run.stderr);
    assert_eq!(fx.snapshot(), before, "nothing removed or written");
}
