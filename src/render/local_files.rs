//! Which files of the campaign directory a message may carry (an embedded image, a per-recipient
//! attachment). Their names can come from recipient data (`<img src="{{ avatar }}">`,
//! `"invoices/{{ customer_id }}.pdf"`), so they are treated as hostile: only a regular file inside
//! the campaign directory, not hidden (a name starting with a dot, in any folder: `.env` holds the
//! SMTP password) and none of the campaign's own files (campaign.toml, the recipients, the
//! suppression lists, the DKIM key, the CA file, the templates, the result log and its lock).

use std::path::{Component, Path, PathBuf};

use crate::campaign::{Campaign, paths};

/// The result log's default name in the campaign directory, and its run lock.
const RESULT_LOG: [&str; 2] = ["results.csv", "results.csv.lock"];

/// The rules for one campaign: its directory and its own files.
pub struct LocalFiles {
    dir: PathBuf,
    /// The campaign's own files (canonical paths), never carried, with what each is.
    protected: Vec<(PathBuf, &'static str)>,
}

/// Why a file may not be carried, or cannot be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// There is no file of that name (the one outcome `attachments_missing = "skip"` forgives).
    Missing,
    /// A phrase to follow the name (`leaves the campaign directory: …`).
    Other(String),
}

impl LocalFiles {
    pub fn new(campaign: &Campaign) -> LocalFiles {
        let dir = &campaign.dir;
        let mut named: Vec<(PathBuf, &'static str)> = vec![
            (dir.join("campaign.toml"), "campaign.toml"),
            (campaign.recipients.clone(), "recipients file"),
            (campaign.html.path.clone(), "body template"),
        ];
        let text = campaign.text.iter();
        named.extend(text.map(|t| (t.path.clone(), "text template")));
        let suppress = campaign.suppress.iter();
        named.extend(suppress.map(|p| (p.clone(), "suppression file")));
        named.extend(RESULT_LOG.map(|name| (dir.join(name), "result log")));
        let keys = campaign.dkim.iter().filter_map(|d| d.key_file.clone());
        named.extend(keys.map(|path| (path, "DKIM key")));
        let ca = campaign
            .relays
            .iter()
            .filter_map(|r| r.smtp.ca_file.clone());
        named.extend(ca.map(|ca| (ca, "CA file")));
        let protected = named
            .into_iter()
            .filter_map(|(path, what)| Some((path.canonicalize().ok()?, what)))
            .collect();
        LocalFiles {
            dir: dir.clone(),
            protected,
        }
    }

    /// The canonical path of `name` (relative to the campaign directory) if a message may carry
    /// it; `used` says how in the refusal (`embedded`, `attached`).
    pub fn resolve(&self, name: &str, used: &str) -> Result<PathBuf, Refused> {
        let other = |why: String| Refused::Other(why);
        let rel = Path::new(name);
        let inside = rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
        let not_found = |e: std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
        if inside && std::fs::symlink_metadata(self.dir.join(rel)).is_err_and(not_found) {
            return Err(Refused::Missing);
        }
        let path = paths::confined(&self.dir, name).map_err(|r| other(r.to_string()))?;
        let real = path
            .canonicalize()
            .map_err(|e| other(format!("cannot open: {e}")))?;
        let real_dir = self.dir.canonicalize().map_err(|e| other(e.to_string()))?;
        // The name as written has no hidden part; nor has the file it leads to, except for the
        // folders of a Kubernetes ConfigMap or Secret volume (`..data`, `..2026_12_03_…`), which
        // link every file of the volume through themselves and are never a dotfile of anyone's.
        let dotted = |c: Component<'_>, atomic_writer: bool| match c {
            Component::Normal(n) => {
                let n = n.as_encoded_bytes();
                n.starts_with(b".") && !(atomic_writer && n.starts_with(b".."))
            }
            _ => false,
        };
        let within = real.strip_prefix(&real_dir).unwrap_or(&real);
        let folders = within.parent().map(Path::components).into_iter().flatten();
        let hidden = Path::new(name).components().any(|c| dotted(c, false))
            || { folders }.any(|c| dotted(c, true))
            || within
                .file_name()
                .is_some_and(|n| dotted(Component::Normal(n), false));
        if hidden {
            return Err(other(format!(
                "a hidden file (its name or a folder's starts with a dot) is never {used}"
            )));
        }
        if let Some((_, what)) = self.protected.iter().find(|(p, _)| *p == real) {
            return Err(other(format!("is the campaign's {what}, never {used}")));
        }
        paths::regular_file(&real).map_err(|r| other(r.to_string()))?;
        Ok(real)
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Missing => f.write_str("no such file"),
            Refused::Other(why) => f.write_str(why),
        }
    }
}
