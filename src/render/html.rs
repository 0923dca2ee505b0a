//! The HTML part after CSS inlining ([`super::inline`]): local images found so they can be embedded
//! as `cid:` parts (RFC 2392) while remote `http(s)` images are left alone, and the browser copy of
//! the page for the dry run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, RwLock};

use memchr::memmem;

use lettre::message::{Attachment, Body, SinglePart};

use crate::campaign::paths;

/// A local image embedded in messages.
#[derive(Debug)]
pub struct Image {
    /// The Content-ID without angle brackets.
    pub content_id: String,
    pub file_name: String,
    /// The inline MIME part, base64-encoded once and cloned into every message that uses it.
    pub part: SinglePart,
    /// Absolute path, for the browser preview.
    pub path: PathBuf,
}

/// The HTML for the message (local images as `cid:`), the images it embeds (each once), and the
/// browser copy when asked for.
pub type Embedded = (String, Vec<Arc<Image>>, Option<String>);

/// Local images, each read from disk once and shared by every message that uses it.
pub struct Images {
    dir: PathBuf,
    domain: String,
    cache: RwLock<HashMap<String, Arc<Image>>>,
}

/// Where an `<img src="…">` value sits in an HTML string.
struct Src<'a> {
    start: usize,
    end: usize,
    value: &'a str,
}

/// The `src` values of every `<img>` tag, as css-inline serializes them (`src="…"`).
fn img_sources(html: &str) -> Vec<Src<'_>> {
    let mut found = Vec::new();
    let mut at = 0;
    static IMG: LazyLock<memmem::Finder> = LazyLock::new(|| memmem::Finder::new("<img"));
    while let Some(i) = IMG.find(&html.as_bytes()[at..]) {
        let tag_start = at + i;
        let tag_end = tag_end(html, tag_start);
        let tag = &html[tag_start..tag_end];
        if let Some(s) = tag.find(" src=\"") {
            let start = tag_start + s + 6;
            if let Some(len) = html[start..tag_end].find('"') {
                let value = &html[start..start + len];
                found.push(Src {
                    start,
                    end: start + len,
                    value,
                });
            }
        }
        at = tag_end;
    }
    found
}

/// Where the tag starting at `start` ends: the first `>` outside a double-quoted attribute value
/// (`alt="a > b"` does not end the tag), or the end of `html`.
fn tag_end(html: &str, start: usize) -> usize {
    let mut quoted = false;
    for (i, b) in html.as_bytes()[start..].iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b'>' if !quoted => return start + i,
            _ => {}
        }
    }
    html.len()
}

fn is_local(src: &str) -> bool {
    let lower = src.trim_start().to_ascii_lowercase();
    !(lower.is_empty()
        || lower.starts_with("http:")
        || lower.starts_with("https:")
        || lower.starts_with("cid:")
        || lower.starts_with("data:")
        || lower.starts_with("//"))
}

impl Images {
    pub fn new(dir: &Path, domain: &str) -> Images {
        Images {
            dir: dir.to_path_buf(),
            domain: domain.to_string(),
            cache: RwLock::new(HashMap::new()),
        }
    }

    fn get(&self, src: &str) -> Result<Arc<Image>, String> {
        if let Some(image) = self.cache.read().unwrap().get(src) {
            return Ok(Arc::clone(image));
        }
        let name = src.replace("&amp;", "&");
        let path = paths::inside(&self.dir, "<img src>", &name).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read image {name}: {e}"))?;
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut cache = self.cache.write().unwrap();
        let content_id = format!(
            "img{}.{}@{}",
            cache.len() + 1,
            sanitize(&file_name),
            self.domain
        );
        let content_type = mime_guess::from_path(&path).first_or_octet_stream();
        let part = Attachment::new_inline(content_id.clone()).body(
            Body::new(bytes),
            super::mime::content_type(content_type.essence_str()),
        );
        let image = Arc::new(Image {
            content_id,
            file_name,
            part,
            path: path.canonicalize().unwrap_or(path),
        });
        cache.insert(src.to_string(), Arc::clone(&image));
        Ok(image)
    }

    /// Replaces each local `<img src>` with `cid:`; returns the new HTML and the images it uses
    /// (each once), plus, when `preview` is set, a browser copy whose images point at the files.
    pub fn embed(&self, html: &str, preview: bool) -> Result<Embedded, String> {
        let sources = img_sources(html);
        if !sources.iter().any(|s| is_local(s.value)) {
            return Ok((
                html.to_string(),
                Vec::new(),
                preview.then(|| html.to_string()),
            ));
        }
        let mut mail = String::with_capacity(html.len());
        let mut browser = String::new();
        let mut used: Vec<Arc<Image>> = Vec::new();
        let mut last = 0;
        for src in sources.iter().filter(|s| is_local(s.value)) {
            let image = self.get(src.value)?;
            mail.push_str(&html[last..src.start]);
            mail.push_str("cid:");
            mail.push_str(&image.content_id);
            if preview {
                browser.push_str(&html[last..src.start]);
                browser.push_str(&file_url(&image.path));
            }
            last = src.end;
            if !used.iter().any(|u| Arc::ptr_eq(u, &image)) {
                used.push(image);
            }
        }
        mail.push_str(&html[last..]);
        let browser = preview.then(|| {
            browser.push_str(&html[last..]);
            browser
        });
        Ok((mail, used, browser))
    }
}

/// Content-ID local parts allow only a restricted set of characters.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A `file://` URL for a local path, percent-encoding what a browser would misread.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            url.push(b as char);
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_img_sources_and_locality() {
        let html =
            r#"<p><img alt="a" src="images/logo.png"><img src="https://x.example/b.jpg"></p>"#;
        let found: Vec<&str> = img_sources(html).iter().map(|s| s.value).collect();
        assert_eq!(found, ["images/logo.png", "https://x.example/b.jpg"]);
        assert!(is_local("images/logo.png"));
        assert!(!is_local("HTTPS://x.example/b.jpg"));
        assert!(!is_local("cid:abc"));
    }
}
