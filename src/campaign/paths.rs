//! Resolving file names from `campaign.toml` (and image paths from templates and recipient data) to
//! paths, refusing any that leave the campaign directory (`../secret`, an absolute path, or a
//! symlink pointing outside) or that are not regular files (a FIFO read twice blocks forever), and
//! finding the shared layouts folder.

use std::os::unix::fs::FileTypeExt;
use std::path::{Component, Path, PathBuf};

use crate::error::Result;
use crate::invalid;

/// Why a path cannot be used; `Display` is a phrase to follow the name
/// (`"../x" leaves the campaign directory: …`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `../x` or an absolute path.
    Leaves {
        dir: PathBuf,
    },
    /// A link whose target is outside the campaign directory.
    LinkLeaves {
        real: PathBuf,
        dir: PathBuf,
    },
    CannotOpen {
        path: PathBuf,
        reason: String,
    },
    /// A FIFO, socket or device.
    NotRegular {
        kind: &'static str,
        path: PathBuf,
    },
}

impl Refusal {
    /// Whether the phrase reads after a colon (`name: cannot open …`) rather than a space.
    fn after_colon(&self) -> bool {
        matches!(self, Refusal::CannotOpen { .. })
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Leaves { dir } => write!(
                f,
                "leaves the campaign directory: use a path inside {}",
                dir.display()
            ),
            Refusal::LinkLeaves { real, dir } => write!(
                f,
                "is a link that leaves the campaign directory ({}): copy the file into {}",
                real.display(),
                dir.display()
            ),
            Refusal::CannotOpen { path, reason } => {
                write!(f, "cannot open {}: {reason}", path.display())
            }
            Refusal::NotRegular { kind, path } => write!(
                f,
                "is {kind}, not a regular file: {}; use a regular file",
                path.display()
            ),
        }
    }
}

/// For a recipient's render failure, which is a sentence.
impl From<Refusal> for String {
    fn from(refusal: Refusal) -> String {
        refusal.to_string()
    }
}

/// Resolves `name` (from the `key` setting) inside the campaign directory `dir`; the file must exist
/// and be a regular file (or a link to one inside `dir`). The refusal is worded after the setting
/// (`html = "x.html": cannot open …`), for campaign.toml's list of problems.
pub fn inside(dir: &Path, key: &str, name: &str) -> std::result::Result<PathBuf, String> {
    let refused = |why: Refusal| {
        // "key = name: cannot open …", "key = name leaves …"
        let sep = if why.after_colon() { ": " } else { " " };
        format!("{key} = {name:?}{sep}{why}")
    };
    let path = confined(dir, name).map_err(refused)?;
    regular_file(&path).map_err(refused)?;
    Ok(path)
}

/// Resolves `name` inside `dir`, or says why it leaves it (`../x`, an absolute path, a link
/// pointing out) or cannot be opened, as a phrase to follow the name. The path returned is
/// `dir/name`; links in it stay inside `dir`.
pub fn confined(dir: &Path, name: &str) -> std::result::Result<PathBuf, Refusal> {
    let rel = Path::new(name);
    let leaves = rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
    if leaves {
        return Err(Refusal::Leaves {
            dir: dir.to_path_buf(),
        });
    }
    let path = dir.join(rel);
    path.canonicalize().map_err(|e| cannot_open(&path, &e))?;
    if let Some(real) = leads_outside(dir, &path) {
        return Err(Refusal::LinkLeaves {
            real,
            dir: dir.to_path_buf(),
        });
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

/// Refuses a FIFO, socket or device (after links): it would block or never end when read, and
/// every input is read more than once or appended to. A folder is left to the reader's own error
/// ("cannot read …: Is a directory").
pub fn regular_file(path: &Path) -> std::result::Result<(), Refusal> {
    let meta = std::fs::metadata(path).map_err(|e| cannot_open(path, &e))?;
    let file_type = meta.file_type();
    let kind = if file_type.is_file() || file_type.is_dir() {
        return Ok(());
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "something"
    };
    Err(Refusal::NotRegular {
        kind,
        path: path.to_path_buf(),
    })
}

fn cannot_open(path: &Path, e: &std::io::Error) -> Refusal {
    Refusal::CannotOpen {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// The real path of `path`, which need not exist yet: each existing prefix with links resolved,
/// `..` taken after that (so it goes to the real parent), the rest as written.
pub fn real(path: &Path) -> PathBuf {
    let absolute = match std::env::current_dir() {
        Ok(cwd) => cwd.join(path),
        Err(_) => path.to_path_buf(),
    };
    let mut real = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                real.pop();
            }
            Component::CurDir => {}
            other => {
                real.push(other);
                if let Ok(resolved) = real.canonicalize() {
                    real = resolved;
                }
            }
        }
    }
    real
}

/// The shared layouts folder for a campaign, in this order: the `templates` key of campaign.toml
/// (relative to the campaign directory), the `CAMPAIGN_TEMPLATES` environment variable, then the
/// nearest `templates/` folder in the campaign directory's parent or any ancestor. `None` when there
/// is none: the layouts built into the binary stand in for it
/// ([`crate::render::templates::BUILT_IN_LAYOUTS`]).
pub fn layouts(dir: &Path, configured: Option<&str>) -> Result<Option<PathBuf>> {
    if let Some(name) = configured {
        let path = dir.join(name);
        if !path.is_dir() {
            return Err(invalid!(
                "templates = {name:?}: {} is not a folder",
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
            let err = inside(dir.path(), "html", bad).unwrap_err();
            assert!(err.contains("leaves the campaign directory"), "{err}");
        }
        let err = inside(dir.path(), "html", "missing.html").unwrap_err();
        assert!(err.contains("cannot open"), "{err}");
    }

    #[test]
    fn real_paths_of_folders_not_made_yet() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        std::fs::create_dir(base.join("a")).unwrap();
        std::os::unix::fs::symlink(base.join("a"), base.join("link")).unwrap();
        assert_eq!(real(&base.join("link/new/x")), base.join("a/new/x"));
        assert_eq!(real(&base.join("link/../b/./c")), base.join("b/c"));
        assert_eq!(real(&base.join("a/new/../..")), base);
    }
}
