//! Per-message cost of each rendering stage, on the benchmark newsletter of `bench/fixture/` (the
//! same campaign `bench/e2e.sh` sends): Tera → CSS inlining → HTML-to-text → MIME build, the whole
//! `Renderer::render`, and DKIM signing with both algorithms.
//!
//!     cargo bench --bench stages                 # all
//!     cargo bench --bench stages -- css_inline   # one (a substring filter)
//!
//! Each iteration handles one recipient, cycling through the fixture's eight (Latin with accents,
//! Chinese, Arabic, Cyrillic, emoji; pro/free/team plans take different template branches), so the
//! figures are per message. The campaign directory is written to a temporary directory.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use lettre::Address;
use lettre::message::Mailbox;
use tera::Context;

use campaign::campaign::{Campaign, Recipient, Row};
use campaign::render::{Renderer, inline::Inliner, mime, templates, text};

const CAMPAIGN_TOML: &str = include_str!("../bench/fixture/campaign.toml");
const EMAIL_HTML: &str = include_str!("../bench/fixture/email.html");
const RECIPIENTS: &str = include_str!("../bench/fixture/recipients-sample.csv");

/// Writes `<root>/<name>/` (campaign.toml plus `extra`, email.html, recipients.csv) beside an
/// empty `<root>/templates/`, and loads it.
fn campaign_dir(root: &Path, name: &str, extra: &str) -> Campaign {
    let dir = root.join(name);
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("campaign.toml"),
        format!("{CAMPAIGN_TOML}\n{extra}"),
    )
    .unwrap();
    std::fs::write(dir.join("email.html"), EMAIL_HTML).unwrap();
    std::fs::write(dir.join("recipients.csv"), RECIPIENTS).unwrap();
    Campaign::load(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn recipients(campaign: &Campaign) -> Vec<Recipient> {
    campaign
        .recipients()
        .unwrap()
        .map(|row| match row.unwrap() {
            Row::Recipient(r) => r,
            Row::Skipped(s) => panic!("fixture row skipped: {s:?}"),
        })
        .collect()
}

/// The template context the renderer builds: `[vars]`, then the CSV columns, then `email`.
fn context(campaign: &Campaign, recipient: &Recipient) -> Context {
    let mut context = Context::from_serialize(&campaign.vars).unwrap();
    for (name, value) in recipient.columns.names.iter().zip(&recipient.values) {
        context.insert(name.as_str(), value);
    }
    context.insert("email", &recipient.email);
    // (The renderer also offers `unsubscribe_url` when [unsubscribe] is set; the fixture has none
    // and its [vars] sets one.)
    context
}

fn mailbox(recipient: &Recipient) -> Mailbox {
    let address: Address = recipient.email.parse().unwrap();
    Mailbox::new(
        recipient.name.as_deref().map(mime::without_controls),
        address,
    )
}

/// Cycles through `0..len`, one step per call.
fn cycle(len: usize) -> impl FnMut() -> usize {
    let mut i = len - 1;
    move || {
        i = (i + 1) % len;
        i
    }
}

/// Generates a DKIM key with the openssl CLI; `None` (bench skipped) when openssl is missing.
fn openssl_key(dir: &Path, file: &str, args: &[&str]) -> Option<PathBuf> {
    let path = dir.join(file);
    let status = Command::new("openssl")
        .args(["genpkey", "-out"])
        .arg(&path)
        .args(args)
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => Some(path),
        _ => {
            eprintln!("stages: openssl genpkey {args:?} failed; skipping that DKIM bench");
            None
        }
    }
}

fn stages(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let campaign = campaign_dir(tmp.path(), "bench", "");
    let recipients = recipients(&campaign);
    let n = recipients.len();
    let contexts: Vec<Context> = recipients.iter().map(|r| context(&campaign, r)).collect();
    let set = templates::load(&campaign).unwrap();
    let html_name = campaign.html.name.as_str();
    let render_html = |i: usize| set.render(html_name, &contexts[i], 2).unwrap();

    // Each stage's input is the previous stage's output for the same recipient.
    let html: Vec<String> = (0..n).map(render_html).collect();
    let inliner = Inliner::new();
    let inlined: Vec<String> = html.iter().map(|h| inliner.inline(h).unwrap()).collect();
    let texts: Vec<String> = html.iter().map(|h| text::from_html(h)).collect();
    let subjects: Vec<String> = (0..n)
        .map(|i| set.render(templates::SUBJECT, &contexts[i], 2).unwrap())
        .collect();
    let mailboxes: Vec<Mailbox> = recipients.iter().map(mailbox).collect();
    let parts = |i: usize| mime::Parts {
        from: &campaign.from,
        to: mailboxes[i].clone(),
        reply_to: campaign.reply_to.as_ref(),
        subject: &subjects[i],
        message_id: "<bench.0123456789abcdef@acme.example>",
        headers: &campaign.headers,
        unsubscribe: None,
        text: texts[i].clone(),
        html: inlined[i].clone(),
        images: Vec::new(),
        // The fixture has no attachments (nor local images).
        attachments: Vec::new(),
    };
    let messages: Vec<Vec<u8>> = (0..n)
        .map(|i| mime::build(parts(i)).unwrap().formatted())
        .collect();
    let mean = |sizes: &mut dyn Iterator<Item = usize>| sizes.sum::<usize>() / n;
    eprintln!(
        "stages: {n} recipients; mean bytes: Tera HTML {}, inlined HTML {}, text {}, message {}",
        mean(&mut html.iter().map(String::len)),
        mean(&mut inlined.iter().map(String::len)),
        mean(&mut texts.iter().map(String::len)),
        mean(&mut messages.iter().map(Vec::len)),
    );

    if let Some(path) = std::env::var_os("STAGES_DUMP") {
        // The first recipient's message at each stage, to look at.
        let path = PathBuf::from(path);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("tera.html"), &html[0]).unwrap();
        std::fs::write(path.join("inlined.html"), &inlined[0]).unwrap();
        std::fs::write(path.join("text.txt"), &texts[0]).unwrap();
        std::fs::write(path.join("message.eml"), &messages[0]).unwrap();
    }

    let mut g = c.benchmark_group("stage");
    g.throughput(Throughput::Elements(1));

    let mut next = cycle(n);
    g.bench_function("tera_render", |b| {
        b.iter(|| {
            let i = next();
            let subject = set.render(templates::SUBJECT, &contexts[i], 2).unwrap();
            (black_box(subject), black_box(render_html(i)))
        })
    });
    let mut next = cycle(n);
    g.bench_function("css_inline", |b| {
        b.iter(|| black_box(inliner.inline(&html[next()]).unwrap()))
    });
    let mut next = cycle(n);
    g.bench_function("html_to_text", |b| {
        b.iter(|| black_box(text::from_html(&html[next()])))
    });
    let mut next = cycle(n);
    g.bench_function("mime_build", |b| {
        b.iter_batched(
            || parts(next()),
            |p| black_box(mime::build(p).unwrap().formatted()),
            BatchSize::SmallInput,
        )
    });

    let renderer = Renderer::new(&campaign).unwrap();
    let mut next = cycle(n);
    g.bench_function("renderer_render", |b| {
        b.iter(|| black_box(renderer.render(&recipients[next()]).unwrap()))
    });
    let preview = Renderer::with_previews(&campaign).unwrap();
    let mut next = cycle(n);
    g.bench_function("renderer_render_preview", |b| {
        b.iter(|| black_box(preview.render(&recipients[next()]).unwrap()))
    });

    // DKIM: the signer of src/render/dkim.rs, loaded through [dkim] like a real campaign, with keys
    // made by `openssl genpkey`; signing the finished messages above, and the whole render with it.
    let algorithms = [
        (
            "rsa2048",
            "rsa-sha256",
            "rsa.pem",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"][..],
        ),
        (
            "ed25519",
            "ed25519-sha256",
            "ed25519.pem",
            &["-algorithm", "ed25519"][..],
        ),
    ];
    for (label, algorithm, file, args) in algorithms {
        let name = format!("dkim-{label}");
        std::fs::create_dir_all(tmp.path().join(&name)).unwrap();
        if openssl_key(&tmp.path().join(&name), file, args).is_none() {
            continue;
        }
        let extra = format!(
            "[dkim]\ndomain = \"acme.example\"\nselector = \"bench\"\nprivate_key = \"{file}\"\n\
             algorithm = \"{algorithm}\"\n"
        );
        let signed = campaign_dir(tmp.path(), &name, &extra);
        let toml = signed.dir.join("campaign.toml");
        let signer = campaign::render::dkim::Signer::new(&toml, &signed.dkim)
            .unwrap()
            .expect("[dkim] loaded");
        let mut next = cycle(n);
        g.bench_function(format!("dkim_sign_{label}"), |b| {
            b.iter_batched(
                || messages[next()].clone(),
                |m| black_box(signer.sign_at(m, 1_767_225_600).unwrap()),
                BatchSize::SmallInput,
            )
        });
        let renderer = Renderer::new(&signed).unwrap();
        let people = self::recipients(&signed);
        let mut next = cycle(n);
        g.bench_function(format!("renderer_render_dkim_{label}"), |b| {
            b.iter(|| black_box(renderer.render(&people[next()]).unwrap()))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Bounded: the whole file runs in about a minute on two cores.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(3));
    targets = stages
}
criterion_main!(benches);
