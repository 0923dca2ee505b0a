//! The preview folder's own copy of every embedded image, so that the folder can be moved or
//! shared: each image is copied once into `<out>/images/`, named by its content (16 hex digits of
//! its SHA-256 and the extension of its type, judged by content), so that one picture used by every
//! recipient is one file and two different files of the same name do not clash; the browser copies
//! point at it as `images/<name>`, relative to the page.
//!
//! The renderer's browser copy points each embedded image at its file (`file://…`, see
//! `render/html.rs`, whose `<img>` scan this reuses); only such a source, naming a regular file
//! inside the campaign directory that is an image, is copied. `images/` is a real folder of the
//! preview: a link of that name is replaced by a folder, never written through, and anything else
//! of that name refuses the folder before anything is written.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::invalid;
use crate::render::html::img_sources;
use crate::render::images::sniff;

use super::preview::create_fresh;

/// The folder of the copies, inside the preview folder.
pub const FOLDER: &str = "images";

/// The images copied so far into one preview folder.
pub struct ImageCopies {
    folder: PathBuf,
    /// The campaign directory, links resolved: nothing outside it is copied.
    campaign_dir: PathBuf,
    /// `file://…` source → `images/<name>`.
    copied: HashMap<String, String>,
    written: HashSet<String>,
}

impl ImageCopies {
    /// Refuses `out` when its `images` is neither a folder nor a link (a file of the user's): a
    /// check only, made before anything in `out` changes.
    pub fn check_folder(out: &Path) -> Result<()> {
        let folder = out.join(FOLDER);
        match std::fs::symlink_metadata(&folder) {
            Ok(meta) if !meta.is_dir() && !meta.is_symlink() => Err(invalid!(
                "--out {}: {} is not a folder, and a dry run copies the images there; move it \
                 away or choose another folder",
                out.display(),
                folder.display()
            )),
            _ => Ok(()),
        }
    }

    /// Ready to copy into `<out>/images`, a link of that name removed (a folder replaces it with
    /// the first copy).
    pub fn prepare(out: &Path, campaign_dir: &Path) -> Result<ImageCopies> {
        let folder = out.join(FOLDER);
        if std::fs::symlink_metadata(&folder).is_ok_and(|m| m.is_symlink()) {
            std::fs::remove_file(&folder).map_err(|e| Error::output("remove", &folder, e))?;
        }
        Ok(ImageCopies {
            folder,
            campaign_dir: campaign_dir
                .canonicalize()
                .unwrap_or_else(|_| campaign_dir.to_path_buf()),
            copied: HashMap::new(),
            written: HashSet::new(),
        })
    }

    /// `html` with every image that points at a file pointing at its copy instead; `listed` is
    /// given each new file's name (`images/<name>`) before the file is written.
    pub fn localize(
        &mut self,
        html: &str,
        mut listed: impl FnMut(&str) -> Result<()>,
    ) -> Result<String> {
        let mut page = String::with_capacity(html.len());
        let mut last = 0;
        for src in img_sources(html) {
            let Some(copy) = self.copy(src.value, &mut listed)? else {
                continue;
            };
            page.push_str(&html[last..src.start]);
            page.push_str(&copy);
            last = src.end;
        }
        page.push_str(&html[last..]);
        Ok(page)
    }

    /// The copy of the image at `src`, made now if it is the first time; `None` for a source that
    /// is not a `file://` URL of an image in the campaign directory.
    fn copy(
        &mut self,
        src: &str,
        listed: impl FnOnce(&str) -> Result<()>,
    ) -> Result<Option<String>> {
        if let Some(done) = self.copied.get(src) {
            return Ok(Some(done.clone()));
        }
        let Some(real) = file_path(src)
            .and_then(|path| path.canonicalize().ok())
            .filter(|real| real.starts_with(&self.campaign_dir) && real.is_file())
        else {
            return Ok(None);
        };
        let bytes = std::fs::read(&real).map_err(|e| Error::output("read", &real, e))?;
        let Some(kind) = sniff(&bytes) else {
            return Ok(None);
        };
        let name = format!("{}.{}", content_hash(&bytes), extension(kind));
        if !self.written.contains(&name) {
            self.write(&name, &bytes, listed)?;
        }
        let relative = format!("{FOLDER}/{name}");
        self.copied.insert(src.to_string(), relative.clone());
        Ok(Some(relative))
    }

    fn write(
        &mut self,
        name: &str,
        bytes: &[u8],
        listed: impl FnOnce(&str) -> Result<()>,
    ) -> Result<()> {
        if self.written.is_empty() && !self.folder.is_dir() {
            std::fs::create_dir(&self.folder)
                .map_err(|e| Error::output("create", &self.folder, e))?;
        }
        listed(&format!("{FOLDER}/{name}"))?;
        let path = self.folder.join(name);
        create_fresh(&path)
            .and_then(|mut file| file.write_all(bytes))
            .map_err(|e| Error::output("write", &path, e))?;
        self.written.insert(name.to_string());
        Ok(())
    }
}

/// The path of a `file://` URL as `render/html.rs` writes it (percent-encoded bytes).
fn file_path(url: &str) -> Option<PathBuf> {
    let encoded = url.strip_prefix("file://")?.as_bytes();
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        if encoded[i] == b'%' {
            let hex = std::str::from_utf8(encoded.get(i + 1..i + 3)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            bytes.push(encoded[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

/// 16 hex digits of the SHA-256 of `bytes`: a name that differs whenever the content does.
fn content_hash(bytes: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The file extension for a Content-Type [`sniff`] gives.
fn extension(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/bmp" => "bmp",
        _ => "ico",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_decode_to_their_paths() {
        assert_eq!(
            file_path("file:///tmp/a%20b/%C3%A9.png"),
            Some(PathBuf::from("/tmp/a b/é.png"))
        );
        assert_eq!(file_path("https://x.example/a.png"), None);
        assert_eq!(file_path("file:///a%2"), None);
    }
}
