//! The suppression list: addresses never to mail (unsubscribes, hard bounces, complaints), read from
//! the files named by `suppress` in campaign.toml. A file is either a CSV with an `email` column
//! (what most providers export) or one address per line (`#` starts a comment). Matching ignores
//! case. Only 8-byte keys are kept, so a list of a million addresses costs a few megabytes.

use std::collections::HashSet;
use std::path::Path;

use crate::error::Result;
use crate::invalid;

use super::recipients::address_key;

/// Addresses never to mail.
#[derive(Debug, Default)]
pub struct Suppression {
    keys: HashSet<u64>,
}

impl Suppression {
    /// Reads every file; an unreadable file or a CSV without an `email` column is an error.
    pub fn load(files: &[impl AsRef<Path>]) -> Result<Suppression> {
        let mut keys = HashSet::new();
        for file in files {
            read_file(file.as_ref(), &mut keys)?;
        }
        Ok(Suppression { keys })
    }

    pub fn contains(&self, email: &str) -> bool {
        !self.keys.is_empty() && self.keys.contains(&address_key(email))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn read_file(path: &Path, keys: &mut HashSet<u64>) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid!("{}: cannot read the suppression list: {e}", path.display()))?;
    let text = text.trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or_default();
    if first.contains('@') || !first.contains(',') && !first.trim().eq_ignore_ascii_case("email") {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if !line.is_empty() {
                keys.insert(address_key(line));
            }
        }
        return Ok(());
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| invalid!("{}: line 1: {e}", path.display()))?;
    let column = headers
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case("email"))
        .ok_or_else(|| {
            invalid!(
                "{}: line 1: no `email` column in this suppression CSV; name the address column \
                 `email`, or list one address per line",
                path.display()
            )
        })?;
    for record in reader.records() {
        let record = record.map_err(|e| invalid!("{}: {e}", path.display()))?;
        if let Some(email) = record.get(column).map(str::trim).filter(|e| !e.is_empty()) {
            keys.insert(address_key(email));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_exports_and_plain_lists() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("unsubscribed.csv");
        std::fs::write(&csv, "Email,reason\nA@x.example,unsubscribed\n").unwrap();
        let txt = dir.path().join("bounces.txt");
        std::fs::write(
            &txt,
            "# hard bounces\nb@x.example\n\n c@x.example # complaint\n",
        )
        .unwrap();
        let header_only = dir.path().join("h.txt");
        std::fs::write(&header_only, "email\nd@x.example\n").unwrap();
        let s = Suppression::load(&[&csv, &txt, &header_only]).unwrap();
        for yes in ["a@X.example", "b@x.example", "C@x.example", "d@x.example"] {
            assert!(s.contains(yes), "{yes}");
        }
        assert!(!s.contains("e@x.example"));
        assert_eq!(s.len(), 4);
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "address,reason\nx@y.example,z\n").unwrap();
        let err = Suppression::load(&[&bad]).unwrap_err().to_string();
        assert!(err.contains("no `email` column"), "{err}");
    }
}
