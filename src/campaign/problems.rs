//! Every problem in `campaign.toml`, found in one pass: loading does not stop at the first unknown
//! key, bad value or missing file but notes each one here with its line (`campaign.toml:12: …`),
//! and the campaign is refused once, with all of them, so that one edit fixes everything. Lines
//! come from toml's spanned document: each key's line, and each list element's own line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};

use crate::error::Result;
use crate::invalid;

/// The problems found so far, and where each key of the file is.
pub struct Problems {
    path: PathBuf,
    /// `smtp.security` → its line; a list element is `attachments.1`.
    lines: BTreeMap<String, usize>,
    /// (line, message); messages with no line of their own come last.
    found: Vec<(usize, String)>,
}

impl Problems {
    /// Problems of the file at `path`, whose keys are placed by `doc`, parsed from `source`.
    pub fn new(path: &Path, source: &str, doc: &DeTable<'_>) -> Problems {
        let mut lines = BTreeMap::new();
        let starts = LineStarts::of(source);
        place_table(doc, "", &starts, &mut lines);
        Problems {
            path: path.to_path_buf(),
            lines,
            found: Vec::new(),
        }
    }

    /// No problems yet and no lines known: for settings built by hand (tests).
    #[cfg(test)]
    pub fn without_lines(path: &Path) -> Problems {
        Problems {
            path: path.to_path_buf(),
            lines: BTreeMap::new(),
            found: Vec::new(),
        }
    }

    /// The line of `key` (`smtp.port`, `attachments.0`), if the file has it.
    pub fn line(&self, key: &str) -> Option<usize> {
        self.lines.get(key).copied()
    }

    /// Notes a problem with `key` (`""` or a key the file does not have: no line).
    pub fn add(&mut self, key: &str, message: impl std::fmt::Display) {
        let text = match self.line(key) {
            Some(line) => format!("{}:{line}: {message}", self.path.display()),
            None => format!("{}: {message}", self.path.display()),
        };
        let line = self.line(key).unwrap_or(usize::MAX);
        self.found.push((line, text));
    }

    /// Notes a problem not of the file itself (an environment variable), worded as it is.
    pub fn add_other(&mut self, message: impl std::fmt::Display) {
        self.found.push((usize::MAX, message.to_string()));
    }

    /// The value, or `None` with the problem noted against `key`.
    pub fn check<T>(&mut self, key: &str, result: std::result::Result<T, String>) -> Option<T> {
        result.map_err(|message| self.add(key, message)).ok()
    }

    /// How many problems were noted so far.
    pub fn len(&self) -> usize {
        self.found.len()
    }

    /// `Ok` when nothing was found; else one invalid-campaign error (exit 2) listing every problem
    /// in the order of the file.
    pub fn finish(mut self) -> Result<()> {
        self.found.sort_by_key(|(line, _)| *line);
        match self.found.len() {
            0 => Ok(()),
            1 => Err(invalid!("{}", self.found[0].1)),
            n => {
                let list: Vec<String> = self.found.into_iter().map(|(_, m)| m).collect();
                Err(invalid!(
                    "{}: {n} problems; fix them all and run again:\n  {}",
                    self.path.display(),
                    list.join("\n  ")
                ))
            }
        }
    }
}

/// Byte offsets where each line starts, to turn a span into a line number.
struct LineStarts(Vec<usize>);

impl LineStarts {
    fn of(source: &str) -> LineStarts {
        let ends = source.match_indices('\n').map(|(i, _)| i + 1);
        LineStarts(std::iter::once(0).chain(ends).collect())
    }

    /// The 1-based line of byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

fn place_table(
    table: &DeTable<'_>,
    prefix: &str,
    starts: &LineStarts,
    lines: &mut BTreeMap<String, usize>,
) {
    for (key, value) in table.iter() {
        let path = format!("{prefix}{}", key.get_ref());
        lines.insert(path.clone(), starts.line(key.span().start));
        match value.get_ref() {
            DeValue::Table(inner) => place_table(inner, &format!("{path}."), starts, lines),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let place = format!("{path}.{i}");
                    lines.insert(place.clone(), starts.line(item.span().start));
                    // `[[dkim]]`: each table's keys as `dkim.1.selector`.
                    if let DeValue::Table(inner) = item.get_ref() {
                        place_table(inner, &format!("{place}."), starts, lines);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_list_elements_are_placed_on_their_lines() {
        let source =
            "subject = \"x\"\nattachments = [\n  \"a\",\n  \"b\",\n]\n\n[smtp]\nport = 1\n";
        let doc = DeTable::parse(source).unwrap();
        let problems = Problems::new(Path::new("c.toml"), source, doc.get_ref());
        assert_eq!(problems.line("subject"), Some(1));
        assert_eq!(problems.line("attachments.1"), Some(4));
        assert_eq!(problems.line("smtp"), Some(7));
        assert_eq!(problems.line("smtp.port"), Some(8));
    }

    #[test]
    fn each_table_of_an_array_of_tables_is_placed_on_its_own_lines() {
        let source = "subject = \"x\"\n\n[[dkim]]\ndomain = \"a\"\nselector = \"r\"\n\n\
                      [[dkim]]\ndomain = \"a\"\nselectr = \"e\"\n[links]\nutm = { source = \"n\" }\n";
        let doc = DeTable::parse(source).unwrap();
        let problems = Problems::new(Path::new("c.toml"), source, doc.get_ref());
        assert_eq!(problems.line("dkim.0"), Some(3));
        assert_eq!(problems.line("dkim.0.selector"), Some(5));
        assert_eq!(problems.line("dkim.1"), Some(7));
        assert_eq!(problems.line("dkim.1.domain"), Some(8));
        assert_eq!(problems.line("dkim.1.selectr"), Some(9));
        assert_eq!(problems.line("links.utm.source"), Some(11));
    }

    #[test]
    fn all_problems_in_file_order_in_one_error() {
        let source = "a = 1\nb = 2\n";
        let doc = DeTable::parse(source).unwrap();
        let mut problems = Problems::new(Path::new("c.toml"), source, doc.get_ref());
        problems.add("b", "second");
        problems.add("", "no line");
        problems.add("a", "first");
        let e = problems.finish().unwrap_err().to_string();
        assert_eq!(
            e,
            "c.toml: 3 problems; fix them all and run again:\n  c.toml:1: first\n  \
             c.toml:2: second\n  c.toml: no line"
        );
    }
}
