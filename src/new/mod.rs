//! `campaign new DIR`: writes a campaign that works as it stands, so that a first campaign starts
//! from something `campaign check` passes and a dry run renders, from any folder on disk: a
//! commented `campaign.toml` (every key; the optional ones commented out, none naming a file that
//! is not there), an `email.html` extending the built-in `base.html`
//! ([`crate::render::templates::BUILT_IN_LAYOUTS`]), a sample `recipients.csv` and a `.gitignore`
//! for what a run writes and the password file. The files are in `src/new/starter/`.
//!
//! It writes only into a new or empty folder (made with its parents when missing), so that no file
//! of the user's is ever overwritten; a folder that holds anything is refused before anything is
//! written.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::invalid;

/// The files of a new campaign: (name, contents).
pub const STARTER: &[(&str, &str)] = &[
    ("campaign.toml", include_str!("starter/campaign.toml")),
    ("email.html", include_str!("starter/email.html")),
    ("recipients.csv", include_str!("starter/recipients.csv")),
    (".gitignore", include_str!("starter/gitignore")),
];

/// What `campaign new` wrote.
#[derive(Debug)]
pub struct Created {
    pub dir: PathBuf,
    /// The file names, in the order written.
    pub files: Vec<&'static str>,
}

/// Writes the starter campaign into `dir`, which must be missing or empty.
pub fn create(dir: &Path) -> Result<Created> {
    let made = refuse_unless_empty(dir)?;
    if made {
        std::fs::create_dir_all(dir).map_err(|e| Error::output("create the folder", dir, e))?;
    }
    let mut written = Vec::new();
    for (name, contents) in STARTER {
        let path = dir.join(name);
        if let Err(e) = write_new(&path, contents) {
            // Leave the folder as it was: a half-written campaign would be refused by a second try.
            for done in &written {
                let _ = std::fs::remove_file(dir.join(done));
            }
            if made {
                let _ = std::fs::remove_dir(dir);
            }
            return Err(Error::output("write", &path, e));
        }
        written.push(*name);
    }
    Ok(Created {
        dir: dir.to_path_buf(),
        files: written,
    })
}

/// Refuses a `dir` that is not a folder or holds anything; returns whether it must be made.
fn refuse_unless_empty(dir: &Path) -> Result<bool> {
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(invalid!("cannot open {}: {e}", dir.display())),
    };
    if !meta.is_dir() {
        return Err(invalid!(
            "{} is a file, not a folder: give `campaign new` the name of a new folder",
            dir.display()
        ));
    }
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| invalid!("cannot read the folder {}: {e}", dir.display()))?;
    match entries.next() {
        None => Ok(false),
        Some(entry) => {
            let name = entry
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .unwrap_or_default();
            Err(invalid!(
                "{} is not empty (it holds {name:?}{}): `campaign new` writes only into a new or \
                 empty folder, so that none of your files is overwritten; give it a new folder's \
                 name",
                dir.display(),
                if entries.next().is_some() {
                    " and more"
                } else {
                    ""
                }
            ))
        }
    }
}

/// Writes a file that must not exist yet (another process may have made it since the check).
fn write_new(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

impl Created {
    /// What to do next, a line each: check, dry run, a test to oneself, the run.
    pub fn next_steps(&self) -> Vec<String> {
        let dir = self.dir.display();
        vec![
            "Next steps:".into(),
            format!(
                "  1. `campaign check {dir}` validates it and renders every recipient (it warns \
                 that there is no [dkim] yet)"
            ),
            format!(
                "  2. `campaign run {dir} --dry-run` writes every message to {} (`campaign show \
                 {dir}` prints one)",
                self.dir.join("preview").display()
            ),
            format!(
                "  3. set [smtp] in {}, put CAMPAIGN_SMTP_PASSWORD=… in {}, check the relay with \
                 `campaign check {dir} --smtp` (nothing is sent), and send yourself a test: \
                 `campaign test {dir} --to you@example.com`",
                self.dir.join("campaign.toml").display(),
                self.dir.join(".env").display()
            ),
            format!(
                "  4. put your list in recipients.csv and send: `campaign run {dir}` (the same \
                 command resumes; results.csv records every recipient)"
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_into_a_missing_folder_and_its_parents() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b/news");
        let created = create(&dir).unwrap();
        assert_eq!(created.files.len(), STARTER.len());
        for (name, contents) in STARTER {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), *contents);
        }
    }

    #[test]
    fn refuses_a_file_and_a_folder_that_holds_anything() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        let err = create(&file).unwrap_err();
        assert!(
            err.is_invalid() && err.to_string().contains("is a file"),
            "{err}"
        );
        std::fs::write(tmp.path().join(".hidden"), "x").unwrap();
        let err = create(tmp.path()).unwrap_err();
        assert!(
            err.is_invalid() && err.to_string().contains("not empty"),
            "{err}"
        );
    }
}
