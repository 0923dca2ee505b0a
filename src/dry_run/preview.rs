//! The dry run's last step: instead of SMTP, each message is written as `<line>-<address>.eml` (the
//! exact bytes that would be sent), `.html` (for a browser, its images copied beside it by
//! [`super::images`]) and `.txt` (the text part as sent), and `index.html` lists every recipient
//! with links to all three, under the summary of [`super::summary`]. Rows arrive out of order from
//! the parallel renderer; a small reorder buffer writes them in CSV order to an unnamed file, copied
//! under the summary when the run ends, so the whole list is never held.
//!
//! Every file written is listed in a manifest in the folder, so that the next dry run removes
//! exactly those and nothing else (a folder of the user's own, a file added beside the previews).
//! The list is written as the files are, to `.campaign-preview-manifest.new`, and renamed over
//! `.campaign-preview-manifest` at the end; a run that died leaves the `.new` list, which the next
//! run honours too.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::clear::{GENERATOR, MANIFEST, MANIFEST_NEW, clear_old_previews};
use super::images::ImageCopies;
use crate::error::{Error, Result};
use crate::html::escape;

/// One row of the index, in CSV order.
pub enum Entry {
    Rendered {
        line: u64,
        email: String,
        subject: String,
        file_stem: String,
    },
    Skipped {
        line: u64,
        email: String,
        reason: String,
    },
}

/// Writes preview files and the index.
pub struct PreviewWriter {
    out: PathBuf,
    campaign_name: String,
    /// The index rows so far, in CSV order: an unnamed file in `out` (gone if the run dies),
    /// copied into index.html under the summary when the run ends.
    rows: BufWriter<File>,
    /// The names written so far, one a line ([`MANIFEST_NEW`]).
    manifest: BufWriter<File>,
    images: ImageCopies,
    pending: BTreeMap<u64, Entry>,
    next_seq: u64,
}

impl PreviewWriter {
    /// Creates (or refreshes) the preview folder; images are copied from inside `campaign_dir`.
    pub fn create(out: &Path, campaign_name: &str, campaign_dir: &Path) -> Result<PreviewWriter> {
        std::fs::create_dir_all(out).map_err(|e| Error::output("create", out, e))?;
        ImageCopies::check_folder(out)?;
        clear_old_previews(out)?;
        let images = ImageCopies::prepare(out, campaign_dir)?;
        let manifest_path = out.join(MANIFEST_NEW);
        let file =
            create_fresh(&manifest_path).map_err(|e| Error::output("write", &manifest_path, e))?;
        let mut manifest = BufWriter::new(file);
        writeln!(
            manifest,
            "# files written by campaign's dry run; the next one removes them\nindex.html"
        )
        .map_err(|e| Error::output("write", &manifest_path, e))?;
        let rows = tempfile::tempfile_in(out).map_err(|e| Error::output("write in", out, e))?;
        Ok(PreviewWriter {
            out: out.to_path_buf(),
            campaign_name: campaign_name.to_string(),
            rows: BufWriter::new(rows),
            manifest,
            images,
            pending: BTreeMap::new(),
            next_seq: 1,
        })
    }

    /// The file name (without extension) for a recipient's preview.
    pub fn file_stem(line: u64, email: &str) -> String {
        let safe: String = email
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || "@.-_+".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect();
        format!("{line:06}-{safe}")
    }

    /// Writes one message's `.eml`, `.html` (its images pointing at their copies in `images/`)
    /// and `.txt` (the text part as sent, decoded), listing each in the manifest first.
    pub fn write_message(&mut self, stem: &str, eml: &[u8], html: &str, text: &str) -> Result<()> {
        let (manifest, manifest_path) = (&mut self.manifest, self.out.join(MANIFEST_NEW));
        let html = self.images.localize(html, |name| {
            writeln!(manifest, "{name}").map_err(|e| Error::output("write", &manifest_path, e))
        })?;
        let html = with_policy(&html);
        for (ext, bytes) in [
            ("eml", eml),
            ("html", html.as_bytes()),
            ("txt", text.as_bytes()),
        ] {
            let name = format!("{stem}.{ext}");
            writeln!(self.manifest, "{name}")
                .map_err(|e| Error::output("write", &manifest_path, e))?;
            let path = self.out.join(name);
            create_fresh(&path)
                .and_then(|mut file| file.write_all(bytes))
                .map_err(|e| Error::output("write", &path, e))?;
        }
        Ok(())
    }

    /// Records the index row for sequence number `seq` (1-based, every number exactly once).
    pub fn add(&mut self, seq: u64, entry: Entry) -> Result<()> {
        self.pending.insert(seq, entry);
        while let Some(entry) = self.pending.remove(&self.next_seq) {
            self.write_row(&entry)?;
            self.next_seq += 1;
        }
        Ok(())
    }

    fn write_row(&mut self, entry: &Entry) -> Result<()> {
        let row = match entry {
            Entry::Rendered {
                line,
                email,
                subject,
                file_stem,
            } => format!(
                "<tr><td>{line}</td><td>{}</td><td>{}</td><td><a href=\"{s}.html\">html</a> \
                 <a href=\"{s}.txt\">text</a> <a href=\"{s}.eml\">eml</a></td></tr>\n",
                escape(email),
                escape(subject),
                s = escape(file_stem)
            ),
            Entry::Skipped {
                line,
                email,
                reason,
            } => format!(
                "<tr class=\"skipped\"><td>{line}</td><td>{}</td><td>skipped: {}</td><td></td></tr>\n",
                escape(email),
                escape(reason)
            ),
        };
        self.rows
            .write_all(row.as_bytes())
            .map_err(|e| Error::output("write", &self.out.join("index.html"), e))
    }

    /// Writes any rows still buffered (a stopped run leaves gaps), then index.html: the summary
    /// (`summary`, HTML) at the top, then every row.
    pub fn finish(mut self, summary: &str) -> Result<PathBuf> {
        for (_, entry) in std::mem::take(&mut self.pending) {
            self.write_row(&entry)?;
        }
        let path = self.out.join("index.html");
        let failed = |e| Error::output("write", &path, e);
        let mut rows = self.rows.into_inner().map_err(|e| failed(e.into_error()))?;
        rows.seek(SeekFrom::Start(0)).map_err(failed)?;
        let mut index = BufWriter::new(create_fresh(&path).map_err(failed)?);
        write!(
            index,
            "<!doctype html>\n<html><head><meta charset=\"utf-8\">{GENERATOR}<title>Preview: {name}</title>\
             <style>body{{font:14px system-ui,sans-serif;margin:2em}}table{{border-collapse:collapse}}\
             td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}\
             .skipped,.bad{{color:#a00}}.summary{{margin-bottom:2em}}small{{color:#555}}</style></head>\
             <body><h1>Preview: {name}</h1>\n{summary}\
             <table><tr><th>Line</th><th>Recipient</th><th>Subject / reason</th><th>Files</th></tr>\n",
            name = escape(&self.campaign_name)
        )
        .map_err(failed)?;
        std::io::copy(&mut rows, &mut index).map_err(failed)?;
        index
            .write_all(b"</table></body></html>\n")
            .and_then(|()| index.flush())
            .map_err(failed)?;
        let (new, manifest) = (self.out.join(MANIFEST_NEW), self.out.join(MANIFEST));
        self.manifest
            .flush()
            .map_err(|e| Error::output("write", &new, e))?;
        std::fs::rename(&new, &manifest).map_err(|e| Error::output("write", &manifest, e))?;
        Ok(path)
    }
}

/// Creates `path` as a new file, removing what is there first: never writing through a link
/// someone put in the folder (`O_CREAT | O_EXCL` does not follow links).
pub(super) fn create_fresh(path: &Path) -> std::io::Result<File> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => std::fs::remove_file(path)?,
        _ => {}
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// A Content-Security-Policy for the browser copy, opened from disk: images (the embedded ones
/// point at their copies in `images/`) and inline styles load, but no script, frame, object, media or stylesheet
/// file does, so a page cannot show the browser another local file.
const POLICY: &str = "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
     img-src file: https: http: data:; style-src 'unsafe-inline'; font-src https: data:\">";

/// `html` with [`POLICY`] as the first thing in its `<head>` (after the doctype when there is no
/// `<head>` tag: a `<meta>` there opens the head, and the page keeps its standards mode).
fn with_policy(html: &str) -> String {
    let lower = html
        .get(..html.len().min(4096))
        .unwrap_or(html)
        .to_ascii_lowercase();
    let after = |tag: &str| {
        lower.match_indices(tag).find_map(|(i, _)| {
            let next = lower.as_bytes().get(i + tag.len())?;
            matches!(next, b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')
                .then(|| lower[i..].find('>').map(|j| i + j + 1))?
        })
    };
    let at = after("<head").or_else(|| after("<!doctype")).unwrap_or(0);
    let mut out = String::with_capacity(html.len() + POLICY.len());
    out.push_str(&html[..at]);
    out.push_str(POLICY);
    out.push_str(&html[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_opens_the_head() {
        let page =
            "<!DOCTYPE html>\n<html><HEAD lang=x><title>t</title></head><body></body></html>";
        let with = with_policy(page);
        assert!(with.starts_with(&format!(
            "<!DOCTYPE html>\n<html><HEAD lang=x>{POLICY}<title>"
        )));
        let bare = with_policy("<!doctype html><header>x</header>");
        assert_eq!(bare, format!("<!doctype html>{POLICY}<header>x</header>"));
        assert_eq!(with_policy("<p>x</p>"), format!("{POLICY}<p>x</p>"));
    }
}
