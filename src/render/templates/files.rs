//! Which files are templates: the `.html`/`.txt` files at the top of the campaign directory, and
//! every one in the layouts folder, walked once per folder (a link loop is read once) within
//! [`super::MAX_LAYOUT_ENTRIES`] and [`super::MAX_LAYOUT_DEPTH`]; a file or folder that is a link
//! leading out of its folder is refused.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{MAX_LAYOUT_DEPTH, MAX_LAYOUT_ENTRIES};
use crate::campaign::paths::leads_outside;
use crate::error::Result;
use crate::invalid;

/// The `.html`/`.txt` files at the top of the campaign directory, none leading out of it.
pub(super) fn own_templates(dir: &Path) -> Result<Vec<(PathBuf, Option<String>)>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut own: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_template(p))
        .collect();
    own.sort();
    let mut files = Vec::new();
    for path in own {
        if let Some(real) = leads_outside(dir, &path) {
            return Err(leaves(&path, &real, "campaign directory", dir));
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        files.push((path, Some(name)));
    }
    Ok(files)
}

fn leaves(path: &Path, real: &Path, folder: &str, root: &Path) -> crate::Error {
    invalid!(
        "{}: a link that leaves the {folder} (to {}): templates are read only from inside it; \
         copy the file into {} or remove the link",
        path.display(),
        real.display(),
        root.display()
    )
}

fn is_template(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("html" | "htm" | "txt" | "xml")
    )
}

/// Reads a layouts folder: every template, named by its path relative to the folder with `/`
/// separators. Symlinks are followed only inside the folder, each folder is read once however
/// many links lead to it, and the walk stops with an error past the size bounds.
pub(super) struct LayoutWalk<'a> {
    root: &'a Path,
    /// (device, inode) of every folder read.
    seen: HashSet<(u64, u64)>,
    entries: usize,
    files: Vec<(PathBuf, Option<String>)>,
}

impl<'a> LayoutWalk<'a> {
    pub(super) fn new(root: &'a Path) -> LayoutWalk<'a> {
        LayoutWalk {
            root,
            seen: HashSet::new(),
            entries: 0,
            files: Vec::new(),
        }
    }

    pub(super) fn run(mut self) -> Result<Vec<(PathBuf, Option<String>)>> {
        self.folder(self.root, 0)?;
        Ok(self.files)
    }

    fn folder(&mut self, dir: &Path, depth: usize) -> Result<()> {
        let Ok(meta) = std::fs::metadata(dir) else {
            return Ok(());
        };
        if !self.seen.insert((meta.dev(), meta.ino())) {
            return Ok(());
        }
        if depth > MAX_LAYOUT_DEPTH {
            return Err(self.too_big(&format!("folders nested over {MAX_LAYOUT_DEPTH} deep")));
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Ok(());
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            self.entries += 1;
            if self.entries > MAX_LAYOUT_ENTRIES {
                let many = crate::campaign::recipients::thousands(MAX_LAYOUT_ENTRIES as u64);
                return Err(self.too_big(&format!("more than {many} files and folders")));
            }
            let is_dir = path.is_dir();
            if !is_dir && !is_template(&path) {
                continue;
            }
            if let Some(real) = leads_outside(self.root, &path) {
                return Err(leaves(&path, &real, "layouts folder", self.root));
            }
            if is_dir {
                self.folder(&path, depth + 1)?;
            } else {
                // A FIFO or device would block Tera reading it.
                crate::campaign::paths::regular_file(&path)
                    .map_err(|why| invalid!("the layouts folder's template {why}"))?;
                self.add(path);
            }
        }
        Ok(())
    }

    fn add(&mut self, path: PathBuf) {
        let rel = path.strip_prefix(self.root).unwrap_or(&path);
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        self.files.push((path, Some(name)));
    }

    fn too_big(&self, what: &str) -> crate::Error {
        invalid!(
            "the layouts folder {} holds {what}, too many to be a folder of layouts: point \
             `templates` in campaign.toml (or CAMPAIGN_TEMPLATES) at the folder that holds your \
             layouts",
            self.root.display()
        )
    }
}
