//! The suppression list: addresses never to mail (unsubscribes, hard bounces, complaints), read from
//! the files named by `suppress` in campaign.toml. A file is either a CSV with an `email` column
//! (what most providers export) or one address per line (`#` starts a comment). Matching ignores
//! case. The addresses' 8-byte keys are kept in an [`AddressIndex`] used as a set, whose memory does
//! not grow with the list.

use std::path::Path;

use crate::address_index::{self, AddressIndex, Builder, Combine};
use crate::error::Result;
use crate::invalid;

use super::recipients::address_key;

/// Addresses never to mail.
#[derive(Debug, Default)]
pub struct Suppression {
    keys: AddressIndex,
}

impl Suppression {
    /// Reads every file; an unreadable file or a CSV without an `email` column is an error.
    pub fn load(files: &[impl AsRef<Path>]) -> Result<Suppression> {
        Suppression::load_with_capacity(files, address_index::DEFAULT_CAPACITY)
    }

    /// [`Suppression::load`] with the index holding `capacity` keys in memory (tests spill it).
    fn load_with_capacity(files: &[impl AsRef<Path>], capacity: usize) -> Result<Suppression> {
        let mut keys = Builder::with_capacity(Combine::Min, capacity);
        for file in files {
            read_file(file.as_ref(), &mut keys)?;
        }
        Ok(Suppression {
            keys: keys.finish()?,
        })
    }

    pub fn contains(&self, email: &str) -> bool {
        !self.keys.is_empty() && self.keys.contains(address_key(email))
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn read_file(path: &Path, keys: &mut Builder) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid!("{}: cannot read the suppression list: {e}", path.display()))?;
    let text = text.trim_start_matches('\u{feff}');
    let first = text.lines().next().unwrap_or_default();
    if first.contains('@') || !first.contains(',') && !first.trim().eq_ignore_ascii_case("email") {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if !line.is_empty() {
                keys.push(address_key(line), 0)?;
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
            keys.push(address_key(email), 0)?;
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
        assert!(Suppression::load(&[] as &[&Path]).unwrap().is_empty());
        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "address,reason\nx@y.example,z\n").unwrap();
        let err = Suppression::load(&[&bad]).unwrap_err().to_string();
        assert!(err.contains("no `email` column"), "{err}");
    }

    #[test]
    fn a_long_list_spilled_to_disk_is_the_same_set() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("bounces.txt");
        let again = dir.path().join("again.csv");
        let addresses: Vec<String> = (0..100).map(|i| format!("u{i}@x.example")).collect();
        std::fs::write(&list, addresses.join("\n")).unwrap();
        std::fs::write(
            &again,
            format!("email\n{}", addresses.join("\n").to_uppercase()),
        )
        .unwrap();
        let s = Suppression::load_with_capacity(&[&list, &again], 3).unwrap();
        assert_eq!(s.len(), 100);
        for a in &addresses {
            assert!(s.contains(&a.to_uppercase()), "{a}");
        }
        assert!(!s.contains("u100@x.example"));
    }
}
