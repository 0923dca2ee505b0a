//! One table of `campaign.toml` read key by key: each value taken if it has the wanted type, else
//! the problem noted against the key's place, so that reading goes on. A table is the top level,
//! `[smtp]`, an inline table such as `[links] utm = { … }` (named `links.utm`), or one element of
//! an array of tables (`[[dkim]]`, placed as `dkim.1`), whose keys [`Problems`] knows by that place.

use std::collections::BTreeMap;

use toml::{Table, Value};

use super::super::did_you_mean;
use super::super::problems::Problems;

/// One table of the file: the top level (`name` empty), `[name]`, or element `index` of `[[name]]`.
#[derive(Clone, Copy)]
pub(super) struct Section<'a> {
    /// The table's name as did_you_mean knows its keys (`smtp`, `links.utm`).
    pub name: &'static str,
    /// Which element of an array of tables it is.
    pub index: Option<usize>,
    pub table: &'a Table,
}

impl<'a> Section<'a> {
    /// The top level of the file.
    pub fn top(table: &'a Table) -> Section<'a> {
        Section {
            name: "",
            index: None,
            table,
        }
    }

    /// Where the table is, as [`Problems`] places keys: `""`, `smtp`, `dkim.1`.
    pub fn place(&self) -> String {
        match self.index {
            Some(i) => format!("{}.{i}", self.name),
            None => self.name.to_string(),
        }
    }

    /// `smtp.port`, `dkim.1.selector`, as [`Problems`] places keys.
    pub fn path(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.place())
        }
    }

    /// `[smtp] port`, as messages name a key (the line tells which `[[dkim]]` table).
    pub fn label(&self, key: &str) -> String {
        if self.name.is_empty() {
            key.to_string()
        } else {
            format!("[{}] {key}", self.name)
        }
    }

    /// The table's name as did_you_mean knows its keys: a `[[smtp]]` table (one of several
    /// relays) takes more than `[smtp]`.
    fn keys_name(&self) -> &'static str {
        match (self.name, self.index) {
            ("smtp", Some(_)) => "[[smtp]]",
            (name, _) => name,
        }
    }

    pub fn unknown_keys(&self, problems: &mut Problems) {
        let valid = did_you_mean::keys_of(self.keys_name());
        for key in self.table.keys().filter(|k| !valid.contains(&k.as_str())) {
            let message = did_you_mean::unknown_key(self.keys_name(), key);
            problems.add(&self.path(key), message);
        }
    }

    /// The value of `key` if it is of the wanted type (`check` gives it), else the problem noted.
    fn get<T>(
        &self,
        problems: &mut Problems,
        key: &str,
        wanted: &str,
        check: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Option<T> {
        let value = self.table.get(key)?;
        let got = check(value);
        if got.is_none() {
            let message = format!(
                "{} must be {wanted}, not {}",
                self.label(key),
                describe(value)
            );
            problems.add(&self.path(key), message);
        }
        got
    }

    pub fn string(&self, problems: &mut Problems, key: &str) -> Option<String> {
        let wanted = format!("a string in quotes, like {key} = \"…\"");
        self.get(problems, key, &wanted, |v| v.as_str().map(str::to_string))
    }

    /// A string that must be there: when missing, the problem is noted ([`Section::missing`]) and
    /// it is empty.
    pub fn required(&self, problems: &mut Problems, key: &str, example: &str) -> String {
        self.missing(problems, key, example);
        self.string(problems, key).unwrap_or_default()
    }

    /// Notes that `key` is missing, if it is (`add {key} = {example}`), unless an unknown key of
    /// this table is one typo away from it: that key's problem says so.
    pub fn missing(&self, problems: &mut Problems, key: &str, example: &str) {
        if self.table.contains_key(key) {
            return;
        }
        let valid = did_you_mean::keys_of(self.keys_name());
        let unknown = self.table.keys().filter(|k| !valid.contains(&k.as_str()));
        let typo = unknown
            .map(|k| did_you_mean::unknown_key(self.keys_name(), k))
            .any(|message| message.contains(&format!("mean `{key}`?")));
        if !typo {
            let message = format!("{} is missing: add {key} = {example}", self.label(key));
            problems.add(&self.place(), message);
        }
    }

    /// A whole number from `min` to `max`.
    pub fn number<T: TryFrom<i64>>(
        &self,
        problems: &mut Problems,
        key: &str,
        min: i64,
        max: i64,
    ) -> Option<T> {
        let wanted = format!("a whole number from {min} to {max}");
        self.get(problems, key, &wanted, |v| {
            let n = v.as_integer().filter(|n| (min..=max).contains(n))?;
            T::try_from(n).ok()
        })
    }

    /// A list of strings (each a `what`: "file name", "domain"), each element checked.
    pub fn strings(&self, problems: &mut Problems, key: &str, what: &str) -> Vec<String> {
        let wanted = format!("a list of {what}s, like {key} = [\"…\"]");
        let items = self.get(problems, key, &wanted, Value::as_array);
        let mut names = Vec::new();
        for (i, item) in items.into_iter().flatten().enumerate() {
            match item.as_str() {
                Some(name) => names.push(name.to_string()),
                None => problems.add(
                    &format!("{}.{i}", self.path(key)),
                    format!(
                        "{}: each element must be a {what} in quotes, not {}",
                        self.label(key),
                        describe(item)
                    ),
                ),
            }
        }
        names
    }

    pub fn table(&self, problems: &mut Problems, key: &str) -> Option<&'a Table> {
        let wanted = format!("a table, written [{}] or {key} = {{ … }}", self.path(key));
        self.get(problems, key, &wanted, Value::as_table)
    }

    /// The table `name` (`[smtp]`; `links.utm` for `[links] utm = { … }`), its unknown keys
    /// noted. `name` is the table's full name; its key here is the last part.
    pub fn section(&self, problems: &mut Problems, name: &'static str) -> Option<Section<'a>> {
        let key = name.rsplit('.').next().unwrap_or(name);
        let section = Section {
            name,
            index: None,
            table: self.table(problems, key)?,
        };
        section.unknown_keys(problems);
        Some(section)
    }

    /// `headers = { "X-Campaign" = "april" }`: every value a string.
    pub fn headers(&self, problems: &mut Problems) -> BTreeMap<String, String> {
        let empty = Table::new();
        let headers = Section {
            name: "headers",
            index: None,
            table: self.table(problems, "headers").unwrap_or(&empty),
        };
        let names = headers.table.keys();
        let pairs = names.filter_map(|name| Some((name.clone(), headers.string(problems, name)?)));
        pairs.collect()
    }
}

/// How a value of the wrong type is named: `an integer (465)`.
pub(super) fn describe(value: &Value) -> String {
    let shown = value.to_string();
    let shown = if shown.chars().count() > 40 {
        format!("{}…", shown.chars().take(40).collect::<String>())
    } else {
        shown
    };
    let kind = match value {
        Value::String(_) => "a string",
        Value::Integer(_) => "a number",
        Value::Float(_) => "a decimal number",
        Value::Boolean(_) => "true/false",
        Value::Datetime(_) => "a date",
        Value::Array(_) => "a list",
        Value::Table(_) => return "a table".into(),
    };
    format!("{kind} ({shown})")
}
