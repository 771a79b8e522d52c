//! What the admin commands print: the API's JSON (`--json`), or for a person,
//! aligned tables and `key: value` lines.
//!
//! The commands hold the API's view types; what they print goes through
//! `serde_json::Value`, whose objects keep their keys sorted, so `--json` and
//! `key: value` lines come out in the same order whatever the order of a type's
//! fields, and a cell shows a field as the API writes it (`pending`, not
//! `Pending`).
//!
//! Tables are comfy-table's with every line and border off: a header row, columns
//! padded to line up, and no wrapping, so each item stays one line that `grep`
//! and `awk` can take. Cells show a missing value as `-` and times to the second.

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Prints a list: with `json` one JSON array of the items, else a table under
/// `header` with a `row` per item.
pub fn list<T: Serialize>(
    json: bool,
    items: &[T],
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) {
    if json {
        self::json(items);
    } else {
        table(header, items.iter().map(row));
    }
}

/// Prints one answer: with `json` as JSON, else as `human` prints it.
pub fn one<T: Serialize>(json: bool, answer: &T, human: impl FnOnce(&T)) {
    if json {
        self::json(answer);
    } else {
        human(answer);
    }
}

/// Prints `answer` as pretty-printed JSON, keys sorted: one document.
pub fn json<T: Serialize + ?Sized>(answer: &T) {
    let text = serde_json::to_string_pretty(&value(answer)).unwrap_or_default();
    say!("{text}");
}

/// `answer` as JSON. The API's view types always encode (their map keys are
/// strings); should one not, it shows as null, a `-` in a cell.
fn value<T: Serialize + ?Sized>(answer: &T) -> Value {
    serde_json::to_value(answer).unwrap_or_default()
}

/// Prints a table: `header`, then one line per row, columns aligned.
pub fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header.to_vec())
        .add_rows(rows);
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    for line in table.lines() {
        say!("{}", line.trim_end());
    }
}

/// Prints an object's fields as `key: value` lines: `id` first, then the rest by
/// name; nested objects' fields are named `outer.inner`. Fields named in `skip`
/// are left out.
pub fn fields(answer: &impl Serialize, skip: &[&str]) {
    let mut lines = Vec::new();
    flatten("", &value(answer), skip, &mut lines);
    lines.sort_by_key(|(key, _)| key != "id");
    let width = lines.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    for (key, text) in lines {
        say!("{:width$}  {text}", format!("{key}:"), width = width + 1);
    }
}

fn flatten(prefix: &str, value: &Value, skip: &[&str], out: &mut Vec<(String, String)>) {
    let Value::Object(map) = value else {
        out.push((prefix.to_owned(), text(value)));
        return;
    };
    for (key, value) in map {
        if skip.contains(&key.as_str()) {
            continue;
        }
        let key = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        flatten(&key, value, skip, out);
    }
}

/// A field as a cell shows it: see [`text`].
pub fn cell(field: &impl Serialize) -> String {
    text(&value(field))
}

/// A value as a cell shows it: a string as it is, null as `-`, an array's items
/// joined by commas, anything else as JSON.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Array(items) if items.is_empty() => "-".to_owned(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// An RFC 3339 time to the second (`2026-11-24T02:04:31Z`), still a valid
/// `--since`; anything else as [`cell`] shows it.
pub fn time(value: Option<&str>) -> String {
    let parsed = value
        .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
        .and_then(|t| t.replace_nanosecond(0).ok())
        .and_then(|t| t.format(&Rfc3339).ok());
    parsed.unwrap_or_else(|| cell(&value))
}

/// An age in milliseconds as a person reads it, to the second, in its two largest
/// units: `45s`, `4m12s`, `3h05m`, `2d04h`; none as `-`.
pub fn age(ms: Option<u64>) -> String {
    let Some(ms) = ms else {
        return cell(&ms);
    };
    let s = ms / 1000;
    let (m, h, d) = (s / 60, s / 3600, s / 86_400);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{m}m{:02}s", s % 60),
        3600..86_400 => format!("{h}h{:02}m", m % 60),
        _ => format!("{d}d{:02}h", h % 24),
    }
}

/// `text` on one line: line breaks, tabs and other control characters escaped
/// (`\n`), so a receiver's body cannot break the output's lines.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `text` cut to `max` characters, with `…` where it was cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_their_two_largest_units() {
        let age = |ms: u64| age(Some(ms));
        assert_eq!(age(999), "0s");
        assert_eq!(age(45_000), "45s");
        assert_eq!(age(252_000), "4m12s");
        assert_eq!(age(3 * 3_600_000 + 5 * 60_000), "3h05m");
        assert_eq!(age(2 * 86_400_000 + 4 * 3_600_000), "2d04h");
        assert_eq!(super::age(None), "-");
    }

    #[test]
    fn one_line_escapes_control_characters_only() {
        assert_eq!(one_line("a\nb\tc\u{7}é"), "a\\nb\\tc\\u{7}é");
    }
}
