//! The files a local `<img src>` may embed, each read once and shared by every message that uses
//! it. The path can come from recipient data (`<img src="{{ avatar }}">`), so it is treated as
//! hostile: only a real image is embedded, recognised by its content (PNG, JPEG, GIF, WebP, BMP,
//! ICO magic bytes; its Content-Type comes from the content too, not the name), and only a file
//! [`super::local_files`] lets a message carry (inside the campaign directory, a regular file, not
//! hidden, none of the campaign's own files).
//! SVG is refused: it is XML that can carry script and links, and most mail clients (Gmail,
//! Outlook) do not show it anyway. A refused path fails that recipient alone, with the reason.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};

use lettre::message::{Attachment, Body, SinglePart};

use super::error::{RenderError, Step};
use super::local_files::{LocalFiles, Refused};
use crate::campaign::Campaign;

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

/// Local images, each read from disk once and shared by every message that uses it.
pub struct Images {
    /// Which files may be embedded ([`super::local_files`]).
    files: LocalFiles,
    domain: String,
    cache: RwLock<HashMap<String, Arc<Image>>>,
}

impl Images {
    pub fn new(campaign: &Campaign) -> Images {
        Images {
            files: LocalFiles::new(campaign),
            domain: campaign.from_domain().to_string(),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The image for an `<img src>` value (as css-inline wrote it, `&` as `&amp;`), or why it is
    /// refused: `image "…": …`.
    pub fn get(&self, src: &str) -> Result<Arc<Image>, RenderError> {
        if let Some(image) = self
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(src)
        {
            return Ok(Arc::clone(image));
        }
        let name = src.replace("&amp;", "&");
        let (path, bytes, content_type) = self
            .read(&name)
            .map_err(|why| RenderError::new(Step::Images, format!("image {name:?}: {why}")))?;
        let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        let content_id = format!(
            "img{}.{}@{}",
            cache.len() + 1,
            sanitize(&file_name),
            self.domain
        );
        let part = Attachment::new_inline(content_id.clone())
            .body(Body::new(bytes), super::mime::content_type(content_type));
        let image = Arc::new(Image {
            content_id,
            file_name,
            part,
            path,
        });
        cache.insert(src.to_string(), Arc::clone(&image));
        Ok(image)
    }

    /// Reads `name` if it may be embedded: its canonical path, bytes and Content-Type.
    fn read(&self, name: &str) -> Result<(PathBuf, Vec<u8>, &'static str), String> {
        let real = self.files.resolve(name, "embedded").map_err(|r| match r {
            Refused::Missing => "cannot open: no such file".to_string(),
            Refused::Other(why) => why,
        })?;
        let bytes = std::fs::read(&real).map_err(|e| format!("cannot read: {e}"))?;
        let content_type = sniff(&bytes).ok_or(
            "is not a PNG, JPEG, GIF, WebP, BMP or ICO image (judged by its content, not its \
             name)",
        )?;
        Ok((real, bytes, content_type))
    }
}

/// The image type of `bytes` from their first bytes (the formats' magic numbers), if it is one
/// that mail clients show.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let le32 = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"\xFF\xD8\xFF") {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        Some("image/webp")
    } else if bytes.starts_with(b"BM")
        // The file size it declares, and a known DIB header size: text starting "BM" is not one.
        && le32(2) == u32::try_from(bytes.len()).ok()
        && le32(14).is_some_and(|n| matches!(n, 12 | 40 | 52 | 56 | 64 | 108 | 124))
    {
        Some("image/bmp")
    } else if bytes.starts_with(b"\0\0\x01\0") && bytes.get(4..6).is_some_and(|n| n != [0, 0]) {
        Some("image/x-icon")
    } else {
        None
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

#[cfg(test)]
mod tests {
    use super::sniff;

    #[test]
    fn images_are_known_by_their_content() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0"), Some("image/png"));
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0JFIF"), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a\x01\0"), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        let mut bmp = b"BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0".to_vec();
        bmp.resize(60, 0);
        bmp[2] = 60;
        assert_eq!(sniff(&bmp), Some("image/bmp"));
        assert_eq!(sniff(b"\0\0\x01\0\x01\0\x10\x10"), Some("image/x-icon"));
        for text in [
            &b"CAMPAIGN_SMTP_PASSWORD=x"[..],
            b"-----BEGIN PRIVATE KEY-----",
            b"BMW=1\nkey=2\n and more text here",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>x</script></svg>",
            b"email,status\n",
            b"",
            b"\x89PN",
        ] {
            assert_eq!(sniff(text), None, "{}", String::from_utf8_lossy(text));
        }
    }
}
