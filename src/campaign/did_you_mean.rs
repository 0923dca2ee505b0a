//! The keys each table of `campaign.toml` takes, and what to say about one it does not: the
//! closest valid key of that table (``did you mean `subject`?``), or the table where the key
//! belongs (a `rate` written under `[smtp]` belongs in `[send]`), or the list of valid keys.
//! "Closest" is the optimal string alignment distance (Damerau–Levenshtein without re-editing a
//! substring): at most 2 edits (1 for keys of up to 4 letters), or a prefix of 3 letters or more.

/// Top-level keys (the tables among them are written `[smtp]` …).
const TOP: &[&str] = &[
    "subject",
    "from",
    "reply_to",
    "html",
    "content",
    "layout",
    "block",
    "text",
    "recipients",
    "templates",
    "attachments",
    "attachments_missing",
    "headers",
    "vars",
    "suppress",
    "unsubscribe",
    "dkim",
    "smtp",
    "send",
    "links",
    "notify",
];
/// Keys that are tables of their own (`[smtp]`), for the wording of a suggestion.
const TABLES: &[&str] = &[
    "vars",
    "headers",
    "unsubscribe",
    "dkim",
    "smtp",
    "send",
    "links",
    "notify",
];

/// A relay's keys in a `[[smtp]]` table (one of several): `[smtp]`'s, then its own share and
/// limits.
const RELAY: &[&str] = &[
    "host",
    "port",
    "security",
    "username",
    "ca_file",
    "timeout",
    "data_timeout",
    "hello_name",
    "provider",
    "name",
    "weight",
    "concurrency",
    "rate",
    "daily_limit",
];
/// `[smtp]`'s keys (one relay, whose pace and limits are `[send]`'s).
const SMTP: &[&str] = RELAY.split_at(10).0;

/// `(table, its keys)`; the top level is `""`, and `links.utm` is `[links] utm = { … }`. Each
/// `[[dkim]]` table takes `dkim`'s keys; a `[[smtp]]` table (one of several relays) takes
/// `[smtp]`'s and the relay's own share and limits. `[vars]` and `[headers]` take any key.
pub const KEYS: &[(&str, &[&str])] = &[
    ("", TOP),
    ("unsubscribe", &["url", "mailto"]),
    ("dkim", &["domain", "selector", "private_key", "algorithm"]),
    ("smtp", SMTP),
    (
        "send",
        &[
            "rate",
            "concurrency",
            "retries",
            "daily_limit",
            "stop_after_rejections",
            "throttle_pause",
            "window",
            "timezone",
        ],
    ),
    ("links", &["utm", "skip"]),
    (
        "links.utm",
        &["source", "medium", "campaign", "term", "content"],
    ),
    ("notify", &["webhook", "format"]),
    ("[[smtp]]", RELAY),
];

/// The keys of `table` (`""` for the top level).
pub fn keys_of(table: &str) -> &'static [&'static str] {
    KEYS.iter()
        .find(|(t, _)| *t == table)
        .map_or(&[], |(_, k)| k)
}

/// The message for `key`, which `table` does not take.
pub fn unknown_key(table: &str, key: &str) -> String {
    let place = if table.is_empty() {
        String::new()
    } else if table.starts_with("[[") {
        format!(" in {table}")
    } else {
        format!(" in [{table}]")
    };
    let said = format!("unknown key `{key}`{place}");
    if let Some(best) = closest(key, keys_of(table)) {
        return format!("{said}: did you mean {}?", spelled(table, best));
    }
    let elsewhere = KEYS.iter().filter(|(t, _)| *t != table);
    if let Some((other, _)) = elsewhere.clone().find(|(_, keys)| keys.contains(&key)) {
        return format!("{said}: `{key}` belongs {}", where_(other));
    }
    let near = elsewhere.filter_map(|(t, keys)| Some((*t, closest(key, keys)?)));
    if let Some((other, best)) = near.into_iter().next() {
        return format!(
            "{said}: did you mean {} (it belongs {})?",
            spelled(other, best),
            where_(other)
        );
    }
    let valid: Vec<String> = keys_of(table).iter().map(|k| format!("`{k}`")).collect();
    format!("{said}: the keys here are {}", valid.join(", "))
}

/// `` `rate` `` or, for a table at the top level, `[smtp]`.
fn spelled(table: &str, key: &str) -> String {
    if table.is_empty() && TABLES.contains(&key) {
        format!("[{key}]")
    } else {
        format!("`{key}`")
    }
}

fn where_(table: &str) -> String {
    if table.is_empty() {
        "at the top of the file, before the first [table] header".into()
    } else if table.starts_with("[[") {
        format!("in {table} tables (one for each of several relays)")
    } else {
        format!("in [{table}]")
    }
}

/// The valid key nearest to `key`, if one is near enough.
pub(super) fn closest<'k>(key: &str, valid: &[&'k str]) -> Option<&'k str> {
    let key = normal(key);
    let allowed = if key.chars().count() <= 4 { 1 } else { 2 };
    let by_prefix = |v: &str| key.len() >= 3 && (v.starts_with(&key) || key.starts_with(v));
    valid
        .iter()
        .map(|v| (distance(&key, v), *v))
        .filter(|(d, v)| *d <= allowed || by_prefix(v))
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// Lower case, `-` and ` ` as `_`: `Reply-To` is near `reply_to`.
fn normal(key: &str) -> String {
    key.to_lowercase().replace(['-', ' '], "_")
}

/// The optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters each count 1.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_in_the_table_then_elsewhere() {
        let says = |table, key, wanted: &str| {
            let message = unknown_key(table, key);
            assert!(message.contains(wanted), "{table}/{key}: {message}");
        };
        says("", "subjet", "did you mean `subject`?");
        says("", "sbuject", "did you mean `subject`?");
        says("", "Reply-To", "did you mean `reply_to`?");
        says("", "smpt", "did you mean [smtp]?");
        says("send", "rat", "did you mean `rate`?");
        says("send", "concurrent", "did you mean `concurrency`?");
        says("smtp", "rate", "`rate` belongs in [send]");
        says("smtp", "subject", "belongs at the top of the file");
        says(
            "smtp",
            "retrys",
            "did you mean `retries` (it belongs in [send])?",
        );
        says("dkim", "zzz", "the keys here are `domain`, `selector`");
        says("", "link", "did you mean [links]?");
        says("links", "utn", "did you mean `utm`?");
        says("links.utm", "sorce", "did you mean `source`?");
        says("links", "source", "`source` belongs in [links.utm]");
    }

    #[test]
    fn distances() {
        assert_eq!(distance("subjet", "subject"), 1);
        assert_eq!(distance("sbuject", "subject"), 1);
        assert_eq!(distance("abc", "xyz"), 3);
        assert_eq!(distance("", "rate"), 4);
    }
}
