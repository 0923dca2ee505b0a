//! What an earlier dry run left in the preview folder, found and removed before a new one writes:
//! the files its manifest lists (and those of a run that died before renaming its list), or, in a
//! folder from before manifests, the previews its index.html links to. Only plain files directly in
//! the folder or in its `images/` folder go, never through a link; an index.html a dry run did not
//! write refuses the folder.

use std::path::{Path, PathBuf};

use super::images;
use crate::error::{Error, Result};

/// Marks an index.html as ours. Previews from before the manifest are found through it.
pub(super) const GENERATOR: &str = r#"<meta name="generator" content="campaign preview">"#;

/// The list of files the last dry run wrote into the folder (one name a line).
pub(super) const MANIFEST: &str = ".campaign-preview-manifest";
/// The list being written by this run, renamed over [`MANIFEST`] when it ends.
pub(super) const MANIFEST_NEW: &str = ".campaign-preview-manifest.new";

/// Removes the files an earlier dry run wrote: those its manifest lists (and those of a run that
/// died before renaming its list), or, in a folder from before manifests whose index.html we
/// wrote, the previews that index links to. Only plain files directly in `out` go, never through
/// a link. An index.html we did not write is never overwritten: `out` is refused.
pub(super) fn clear_old_previews(out: &Path) -> Result<()> {
    let mut listed = false;
    for list in [MANIFEST, MANIFEST_NEW] {
        let path = out.join(list);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                listed = true;
                let names = text.lines().filter(|l| !l.starts_with('#'));
                remove_plain_files(out, names)?;
                remove_plain_files(out, [list])?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::output("read", &path, e)),
        }
    }
    let index = out.join("index.html");
    let index_text = match std::fs::symlink_metadata(&index) {
        Err(_) => return Ok(()),
        Ok(meta) if meta.is_file() => std::fs::read_to_string(&index).unwrap_or_default(),
        Ok(_) => String::new(),
    };
    if !index_text.contains(GENERATOR) {
        return Err(crate::invalid!(
            "--out {}: its index.html was not written by a dry run, which would overwrite it; \
             choose another folder",
            out.display()
        ));
    }
    if !listed {
        remove_plain_files(out, linked_previews(&index_text))?;
    }
    Ok(())
}

/// The preview files an index.html from before manifests links to: `<line>-<address>.eml` and
/// `.html`, as [`super::preview::PreviewWriter::file_stem`] names them (six digits, a dash).
fn linked_previews(index: &str) -> impl Iterator<Item = &str> {
    index.split("href=\"").skip(1).filter_map(|rest| {
        let name = &rest[..rest.find('"')?];
        let stem = name
            .strip_suffix(".eml")
            .or_else(|| name.strip_suffix(".html"))?;
        let (line, _) = stem.split_once('-')?;
        (line.len() == 6 && line.bytes().all(|b| b.is_ascii_digit())).then_some(name)
    })
}

/// Removes each `names` entry that is a plain file name (no folder, no `..`) of a regular file
/// directly in `out`, or one in `out/images/` when that is a real folder (not a link); links and
/// anything else are left alone. `images/` goes too when that leaves it empty.
fn remove_plain_files<'a>(out: &Path, names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut from_images = false;
    for name in names {
        let Some((path, in_images)) = preview_file(out, name) else {
            continue;
        };
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        std::fs::remove_file(&path).map_err(|e| Error::output("remove", &path, e))?;
        from_images |= in_images;
    }
    if from_images {
        // A file of the user's own in it keeps the folder.
        let _ = std::fs::remove_dir(out.join(images::FOLDER));
    }
    Ok(())
}

/// Where a name from a manifest leads, and whether it is in `images/`: a plain name directly in
/// `out`, or `images/<plain name>` when `out/images` is a folder and not a link.
fn preview_file(out: &Path, name: &str) -> Option<(PathBuf, bool)> {
    use std::path::Component::Normal;
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Normal(_)), None, None) => Some((out.join(name), false)),
        (Some(Normal(folder)), Some(Normal(file)), None) if folder == images::FOLDER => {
            let folder = out.join(images::FOLDER);
            std::fs::symlink_metadata(&folder)
                .ok()
                .filter(|m| m.is_dir())?;
            Some((folder.join(file), true))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_old_index_gives_only_its_preview_links() {
        let index = r#"<a href="000002-a@x.example.html">html</a> <a href="000002-a@x.example.eml">eml</a>
            <a href="../campaign/email.html">x</a> <a href="notes.html">n</a> <a href="12-b.eml">b</a>"#;
        let names: Vec<&str> = linked_previews(index).collect();
        assert_eq!(names, ["000002-a@x.example.html", "000002-a@x.example.eml"]);
    }

    #[test]
    fn only_plain_files_directly_in_the_folder_are_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let (out, other) = (tmp.path().join("out"), tmp.path().join("other"));
        std::fs::create_dir(&out).unwrap();
        std::fs::create_dir(&other).unwrap();
        for name in ["a.eml", "sub/b.eml"] {
            std::fs::create_dir_all(out.join(name).parent().unwrap()).unwrap();
            std::fs::write(out.join(name), "x").unwrap();
        }
        std::fs::write(other.join("c.eml"), "mine").unwrap();
        std::os::unix::fs::symlink(other.join("c.eml"), out.join("link.eml")).unwrap();
        let names = [
            "a.eml",
            "sub/b.eml",
            "../other/c.eml",
            "link.eml",
            "sub",
            "missing.eml",
        ];
        remove_plain_files(&out, names).unwrap();
        assert!(!out.join("a.eml").exists());
        assert!(out.join("sub/b.eml").exists());
        assert!(out.join("link.eml").is_symlink());
        assert_eq!(
            std::fs::read_to_string(other.join("c.eml")).unwrap(),
            "mine"
        );
    }
}
