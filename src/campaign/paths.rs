//! Resolving file names from `campaign.toml` to paths, refusing any that leave the campaign directory
//! (`../secret`, an absolute path, or a symlink pointing outside), and finding the shared layouts folder.

use std::path::{Component, Path, PathBuf};

use crate::error::Result;
use crate::invalid;

/// Resolves `name` (from the `key` setting) inside the campaign directory `dir`; the file must exist.
pub fn inside(dir: &Path, key: &str, name: &str) -> Result<PathBuf> {
    let rel = Path::new(name);
    let leaves = rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
    if leaves {
        return Err(invalid!(
            "{}: {key} = {name:?} leaves the campaign directory: use a path inside {}",
            dir.join("campaign.toml").display(),
            dir.display()
        ));
    }
    let path = dir.join(rel);
    let real = path.canonicalize().map_err(|e| {
        invalid!(
            "{}: {key} = {name:?}: cannot open {}: {e}",
            dir.join("campaign.toml").display(),
            path.display()
        )
    })?;
    if leads_outside(dir, &real).is_some() {
        return Err(invalid!(
            "{}: {key} = {name:?} is a link that leaves the campaign directory ({}): copy the file into {}",
            dir.join("campaign.toml").display(),
            real.display(),
            dir.display()
        ));
    }
    Ok(path)
}

/// Where `path` really leads (symlinks resolved) when that is outside the folder `root`, else
/// `None` (also when either cannot be resolved: opening it will say why).
pub fn leads_outside(root: &Path, path: &Path) -> Option<PathBuf> {
    let real = path.canonicalize().ok()?;
    let real_root = root.canonicalize().ok()?;
    (!real.starts_with(&real_root)).then_some(real)
}

/// The shared layouts folder for a campaign, in this order: the `templates` key of campaign.toml
/// (relative to the campaign directory), the `CAMPAIGN_TEMPLATES` environment variable, then the
/// nearest `templates/` folder in the campaign directory's parent or any ancestor. `None` when there
/// is none, which is fine for a campaign whose templates extend nothing.
pub fn layouts(dir: &Path, configured: Option<&str>) -> Result<Option<PathBuf>> {
    if let Some(name) = configured {
        let path = dir.join(name);
        if !path.is_dir() {
            return Err(invalid!(
                "{}: templates = {name:?}: {} is not a folder",
                dir.join("campaign.toml").display(),
                path.display()
            ));
        }
        return Ok(Some(path));
    }
    if let Some(env) = std::env::var_os("CAMPAIGN_TEMPLATES") {
        let path = PathBuf::from(env);
        if !path.is_dir() {
            return Err(invalid!(
                "CAMPAIGN_TEMPLATES={} is not a folder: point it at your layouts folder or unset it",
                path.display()
            ));
        }
        return Ok(Some(path));
    }
    let real = dir
        .canonicalize()
        .map_err(|e| invalid!("cannot open the campaign directory {}: {e}", dir.display()))?;
    Ok(real
        .ancestors()
        .skip(1)
        .map(|a| a.join("templates"))
        .find(|p| p.is_dir()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_paths_that_leave() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "x").unwrap();
        assert!(inside(dir.path(), "html", "a.txt").is_ok());
        for bad in ["../a.txt", "/etc/passwd", "x/../../a.txt"] {
            let err = inside(dir.path(), "html", bad).unwrap_err().to_string();
            assert!(err.contains("leaves the campaign directory"), "{err}");
        }
        let err = inside(dir.path(), "html", "missing.html")
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot open"), "{err}");
    }
}
