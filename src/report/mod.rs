//! The report of a send, `report.html`: built from the result log after the run (off the hot path:
//! the send only appends rows; this reads them back once at the end) and by `campaign report` for
//! any log. One page, self-contained, safe to open and to mail to a colleague: [`figures`] reads the
//! log (through the journal's one reader), [`chart`] draws the throughput, [`page`] writes the
//! HTML. It is written atomically (a temporary file renamed over the old report), so a reader
//! never sees half a page.

pub mod chart;
pub mod figures;
pub mod page;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::campaign::{Campaign, Relay};
use crate::error::{Error, Result};
use crate::invalid;

/// The settings shown at the end of the page, as `(name, value)` lines. Built from a loaded
/// campaign by choosing fields, so that no secret (the SMTP password, the DKIM key) can reach it.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Where they come from, in a sentence.
    pub source: String,
    pub lines: Vec<(&'static str, String)>,
}

impl Settings {
    /// The settings a send used: campaign.toml with the command line's `--rate` and
    /// `--concurrency` applied.
    pub fn of(campaign: &Campaign, source: &str) -> Settings {
        let send = &campaign.send;
        let mut lines = match campaign.relays.as_slice() {
            [] => vec![("relay", "(no [smtp] section)".to_string())],
            [one] => relay_lines(one),
            several => several.iter().map(|r| ("relay", relay_line(r))).collect(),
        };
        let rate = send.rate.map_or_else(|| "unlimited".into(), show_rate);
        let daily = send
            .daily_limit
            .map_or_else(|| "none".into(), |n| n.to_string());
        lines.extend([
            ("rate", rate),
            ("concurrency", campaign.sessions().to_string()),
            ("retries", send.retries.to_string()),
            ("daily limit", daily),
            (
                "send window",
                send.window
                    .as_ref()
                    .map_or("any time".into(), |w| w.to_string()),
            ),
            ("from", campaign.from.to_string()),
            ("subject", campaign.subject.clone()),
        ]);
        Settings {
            source: source.into(),
            lines,
        }
    }
}

/// One relay's provider preset, server, security and user, a line each.
fn relay_lines(relay: &Relay) -> Vec<(&'static str, String)> {
    let smtp = &relay.smtp;
    let provider = smtp.provider.as_ref().map(|p| ("provider", p.name.clone()));
    provider
        .into_iter()
        .chain([
            ("relay", format!("{}:{}", smtp.host, smtp.port)),
            ("security", smtp.security.name().to_string()),
            (
                "username",
                smtp.username.clone().unwrap_or_else(|| "(none)".into()),
            ),
        ])
        .collect()
}

/// One of several relays on one line: its name, server, security, user, weight, sessions and
/// its own limits.
fn relay_line(relay: &Relay) -> String {
    let smtp = &relay.smtp;
    let user = smtp.username.as_deref().unwrap_or("(none)");
    let mut line = format!(
        "{}: {}:{} {}, username {user}, weight {}, concurrency {}",
        relay.name,
        smtp.host,
        smtp.port,
        smtp.security.name(),
        relay.weight,
        relay.concurrency
    );
    if let Some(preset) = &smtp.provider {
        line.push_str(&format!(", provider {}", preset.name));
    }
    if let Some(rate) = relay.rate {
        line.push_str(&format!(", rate {}", show_rate(rate)));
    }
    if let Some(daily) = relay.daily_limit {
        line.push_str(&format!(", daily limit {daily}"));
    }
    line
}

fn show_rate(r: crate::campaign::Rate) -> String {
    format!("{}/{}", r.count, unit(r.per.as_secs()))
}

fn unit(seconds: u64) -> &'static str {
    match seconds {
        1 => "s",
        60 => "min",
        _ => "h",
    }
}

/// Where the report of the log at `log` goes: beside it, `report.html` for the default
/// `results.csv`, else the log's name with `.csv` replaced by `.report.html` (`april.csv` →
/// `april.report.html`), so that two logs in one folder keep two reports.
pub fn path_for(log: &Path) -> PathBuf {
    let name = log.file_name().map(|n| n.to_string_lossy().into_owned());
    let file = match name.as_deref() {
        Some("results.csv") | None => "report.html".to_string(),
        Some(name) => format!("{}.report.html", name.strip_suffix(".csv").unwrap_or(name)),
    };
    log.with_file_name(file)
}

/// Writes the report of the log at `log` (which must exist) to `out`, atomically.
pub fn write(log: &Path, out: &Path, name: &str, settings: &Settings) -> Result<()> {
    write_merged(
        &[log.to_path_buf()],
        &log.display().to_string(),
        out,
        name,
        settings,
    )
}

/// Writes the report of several logs of one campaign (a sharded send's), `label` naming them.
fn write_merged(
    logs: &[PathBuf],
    label: &str,
    out: &Path,
    name: &str,
    settings: &Settings,
) -> Result<()> {
    let figures = figures::read_all(logs)?;
    let html = page::html(name, label, &figures, settings);
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".report-")
        .suffix(".html.tmp")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644))
        .tempfile_in(dir)
        .map_err(|e| Error::output("write the report in", dir, e))?;
    temp.write_all(html.as_bytes())
        .and_then(|()| temp.as_file().sync_data())
        .map_err(|e| Error::output("write", temp.path(), e))?;
    temp.persist(out)
        .map_err(|e| Error::output("write", out, e.error))?;
    Ok(())
}

/// The report at the end of a send, beside its log: the path written.
pub fn after_send(campaign: &Campaign, log: &Path) -> Result<PathBuf> {
    let out = path_for(log);
    let settings = Settings::of(
        campaign,
        "As this send used them (campaign.toml and the command line). The password is never shown.",
    );
    write(log, &out, &campaign.name(), &settings)?;
    Ok(out)
}

/// `campaign report DIR`: the report of `log` (default `<DIR>/results.csv`) and of its shard logs
/// beside it (`results.I-of-N.csv`, merged: each recipient once) into `out` (default beside the
/// log). A campaign.toml that cannot be loaded only leaves the settings out.
pub fn for_log(dir: &Path, log: Option<&Path>, out: Option<&Path>) -> Result<PathBuf> {
    let log = log.map_or_else(|| dir.join("results.csv"), Path::to_path_buf);
    let (logs, label) = logs_to_merge(&log)?;
    let out = out.map_or_else(|| path_for(&log), Path::to_path_buf);
    let (name, settings) = match Campaign::load(dir) {
        Ok(campaign) => (
            campaign.name(),
            Settings::of(
                &campaign,
                "From campaign.toml as it is now (a send's --rate or --concurrency is not \
                 recorded). The password is never shown.",
            ),
        ),
        Err(e) => (
            dir.file_name()
                .map_or_else(|| "campaign".into(), |n| n.to_string_lossy().into_owned()),
            Settings {
                source: format!("Not shown: {e}"),
                lines: Vec::new(),
            },
        ),
    };
    write_merged(&logs, &label, &out, &name, &settings)?;
    Ok(out)
}

/// The log at `log` and the shard logs beside it, with how the page names them; refused when there
/// is none, or when shard logs of different counts (`--shard I/4` and `I/3`) are mixed.
fn logs_to_merge(log: &Path) -> Result<(Vec<PathBuf>, String)> {
    let found = crate::shard::logs_beside(log)?;
    let counts: std::collections::BTreeSet<u32> = found
        .iter()
        .filter_map(|(_, s)| s.map(|s| s.count))
        .collect();
    if counts.len() > 1 {
        let counts: Vec<String> = counts.iter().map(|n| format!("I-of-{n}")).collect();
        return Err(invalid!(
            "{}: shard logs of different shard counts lie beside it ({}): a campaign is split \
             one way; move the logs of the other split to a folder of their own",
            log.display(),
            counts.join(", ")
        ));
    }
    let label = match (found.as_slice(), counts.first()) {
        ([], _) => {
            return Err(invalid!(
                "{}: no result log there, nor shard logs beside it (a send writes it); pass --log \
                 PATH for a log kept elsewhere",
                log.display()
            ));
        }
        ([(only, None)], _) => only.display().to_string(),
        (_, Some(&count)) => shard_label(&found, count),
        (_, None) => log.display().to_string(),
    };
    Ok((found.into_iter().map(|(path, _)| path).collect(), label))
}

/// `/c/results.csv and 4 shard logs (results.0-of-4.csv … results.3-of-4.csv)`, saying which
/// shards have no log.
fn shard_label(found: &[(PathBuf, Option<crate::shard::Shard>)], count: u32) -> String {
    let names: Vec<String> = found
        .iter()
        .map(|(p, _)| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let folder = found[0].0.parent().unwrap_or(Path::new("")).display();
    let have: Vec<u32> = found
        .iter()
        .filter_map(|(_, s)| s.map(|s| s.index))
        .collect();
    let missing: Vec<String> = (0..count)
        .filter(|i| !have.contains(i))
        .map(|i| i.to_string())
        .collect();
    let mut label = format!("{folder}/: {} merged", names.join(", "));
    if !missing.is_empty() {
        label += &format!(" (no log yet of shard {} of {count})", missing.join(", "));
    }
    label
}

#[cfg(test)]
mod tests;
