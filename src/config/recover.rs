//! Reading a config file past its first error, so that one run names them all.
//!
//! serde stops at the first key it cannot take. So the file is parsed once into a
//! spanned tree, and deserialized from it again and again: each failure is noted
//! with its key path (serde_path_to_error) and its span (toml), the key is dropped
//! from the tree (or, when missing, stood in for), and the next try gets past it.
//! What the tries leave is validated as usual; problems validation then finds in
//! or around a dropped key are consequences of the first, and left out.
//!
//! A syntax error leaves no tree to trust (toml's recovery guesses what the
//! broken lines meant), so syntax errors are reported alone: every one toml's
//! parser finds, and nothing else.

use std::borrow::Cow;
use std::collections::HashMap;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::Problem;
use super::keypath::{KeyPath, Segment};
use super::raw::RawConfig;
use super::report::{self, Location};

/// How many times a file is deserialized at most: far more than any file has
/// problems, and a bound on the work a pathological one can cause.
const MAX_TRIES: usize = 256;

/// What reading a file found.
pub(super) struct Reading<'i> {
    /// The file as typed, once its broken keys were dropped; `None` if it could
    /// not be read that far.
    pub raw: Option<RawConfig>,
    /// Syntax and type problems, in the order found.
    pub problems: Vec<Problem>,
    /// Keys dropped or stood in for: validation's problems there are not news.
    dropped: Vec<KeyPath>,
    /// The tree as read, less what was dropped: where validation's keys are found.
    tree: DeTable<'i>,
    text: &'i str,
    /// The text with secret values masked: what a report may show of the file.
    pub shown: String,
}

impl Reading<'_> {
    /// `problem` (one validation found) with its place in the file, or `None` if
    /// it is about a key already reported as broken.
    pub(super) fn locate(&self, mut problem: Problem) -> Option<Problem> {
        let Some(path) = KeyPath::parse(&problem.key) else {
            return Some(problem);
        };
        if self.dropped.iter().any(|d| d.overlaps(&path)) {
            return None;
        }
        problem.at = self.location_of(&path);
        Some(problem)
    }

    /// Where `key` (`webhooks[0].url`) is in the file, if it holds it.
    pub(super) fn location(&self, key: &str) -> Option<Location> {
        self.location_of(&KeyPath::parse(key)?)
    }

    fn location_of(&self, path: &KeyPath) -> Option<Location> {
        (path.span_in(&self.tree)).map(|span| Location::new(self.text, span))
    }
}

/// Parses and deserializes `text`, collecting every problem on the way.
pub(super) fn read(text: &str) -> Reading<'_> {
    let (tree, errors) = DeTable::parse_recoverable(text);
    let mut tree = tree.into_inner();
    if !errors.is_empty() {
        let problems = (errors.iter())
            .map(|error| {
                let span = error.span().unwrap_or(text.len()..text.len());
                Problem {
                    key: syntax_key(text, span.start),
                    message: error.message().to_owned(),
                    at: Some(Location::new(text, span)),
                }
            })
            .collect();
        return Reading {
            raw: None,
            problems,
            dropped: Vec::new(),
            shown: report::masked(text, &tree, &[], true),
            tree,
            text,
        };
    }
    let mut problems = Vec::new();
    let mut dropped: Vec<KeyPath> = Vec::new();
    let mut stand_ins: Vec<KeyPath> = Vec::new();
    let mut secret_spans = Vec::new();
    let original = tree.clone();
    let mut raw = None;
    // A consequence of a reported problem, kept in case reading stops at it with
    // nothing reported: a refused file always says why.
    let mut last = None;
    for _ in 0..MAX_TRIES {
        let document = Spanned::new(0..text.len(), tree.clone());
        let error = match serde_path_to_error::deserialize(toml::de::Deserializer::from(document)) {
            Ok(config) => {
                raw = Some(config);
                break;
            }
            Err(error) => error,
        };
        let path = KeyPath::from_serde(error.path());
        let error = error.into_inner();
        let missing = missing_field(error.message());
        let key = match missing {
            Some(field) => path.child(Segment::Key(field.to_owned())),
            None => path.clone(),
        };
        let stood_in = stand_ins.iter().find(|s| key_within(&key, s)).cloned();
        let already = stood_in.is_some() || dropped.iter().any(|d| key_within(&key, d));
        let (message, secret) = describe(&key, error.message());
        if secret && let Some(span) = key.span_in(&tree) {
            secret_spans.push(span);
        }
        let span = error.span().or_else(|| key.span_in(&tree));
        let problem = Problem {
            key: key.to_string(),
            message,
            at: span.map(|span| Location::new(text, span)),
        };
        if already {
            last = Some(problem);
        } else {
            problems.push(problem);
        }
        // Get past it: stand in for a missing key (all required keys are strings);
        // drop a broken one; drop what holds a stand-in that did not do.
        let progressed = match (missing, stood_in) {
            (_, Some(stand_in)) => (stand_in.parent())
                .is_some_and(|p| p.remove_from(&mut tree) && remember(&mut dropped, p)),
            (Some(_), None) => {
                let span = key.span_in(&tree).unwrap_or(0..0);
                let value = Spanned::new(span, DeValue::String(Cow::Borrowed("")));
                key.insert_into(&mut tree, value) && remember(&mut stand_ins, key)
            }
            (None, None) => (key.removable())
                .is_some_and(|p| p.remove_from(&mut tree) && remember(&mut dropped, p)),
        };
        if !progressed {
            break;
        }
    }
    if raw.is_none() && problems.is_empty() {
        problems.extend(last);
    }
    dropped.extend(stand_ins);
    Reading {
        // A file with type problems is refused, but still validated for the rest.
        raw,
        problems,
        dropped,
        shown: report::masked(text, &original, &secret_spans, false),
        tree,
        text,
    }
}

fn remember(paths: &mut Vec<KeyPath>, path: KeyPath) -> bool {
    paths.push(path);
    true
}

/// Whether `key` is `outer` or lies inside it.
fn key_within(key: &KeyPath, outer: &KeyPath) -> bool {
    key.overlaps(outer) && key.keys().count() >= outer.keys().count()
}

/// The field serde's "missing field" message names.
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// serde's message about `key`, in a config file's words (keys, tables, arrays;
/// not fields, maps, sequences, Rust types), with a suggestion for a misspelt
/// key; and whether the key's value may be a secret, as a misspelt `token` is.
fn describe(key: &KeyPath, message: &str) -> (String, bool) {
    let name = key.last_key().unwrap_or_default();
    let secret = report::is_secret_key(name);
    if let Some(field) = missing_field(message) {
        return (format!("missing key `{field}`"), false);
    }
    if message.starts_with("unknown field `") {
        let known = backticked(message).skip(1);
        return match closest(name, known) {
            Some(near) => (
                format!("unknown key `{name}`, did you mean `{near}`?"),
                secret || report::is_secret_key(near),
            ),
            None => (format!("unknown key `{name}`"), secret),
        };
    }
    for (prefix, reveal) in [("invalid type: ", false), ("invalid value: ", !secret)] {
        if let Some((found, expected)) =
            (message.strip_prefix(prefix)).and_then(|rest| rest.rsplit_once(", expected "))
        {
            return (
                format!(
                    "expected {}, found {}",
                    expected_words(expected),
                    found_words(found, reveal)
                ),
                secret,
            );
        }
    }
    let message = match message.strip_prefix("unknown variant ") {
        Some(rest) => format!("unknown value {rest}"),
        None => message.to_owned(),
    };
    (message, secret)
}

/// The `quoted` words of a message, in order.
fn backticked(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2)
}

/// The known key most like `name`, if one is like it enough to be what was meant.
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    (known.map(|k| (strsim::jaro_winkler(name, k), k)))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn expected_words(expected: &str) -> Cow<'_, str> {
    Cow::Borrowed(match expected {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a sequence" => "an array",
        "a map" => "a table",
        "a borrowed string" | "path string" => "a string",
        _ if expected.starts_with("struct ") => "a table",
        _ => return Cow::Borrowed(expected),
    })
}

/// What serde says it found (`integer \`3\``), with its value only if `reveal`.
fn found_words(found: &str, reveal: bool) -> String {
    let (kind, value) = match found.find([' ', '`', '"']) {
        Some(i) if found[i..].trim_start().starts_with(['`', '"']) => {
            (&found[..i], found[i..].trim())
        }
        _ => (found, ""),
    };
    let kind = match kind {
        "string" => "a string",
        "integer" => "an integer",
        "floating point" => "a float",
        "boolean" => "a boolean",
        "sequence" => "an array",
        "map" => "a table",
        other => other,
    };
    if reveal && !value.is_empty() {
        format!("{kind} {value}")
    } else {
        kind.to_owned()
    }
}

/// The key a syntax error at `offset` is at, read off the lines before it, as
/// the tree is no guide to a broken file: the last table header, with an index
/// for arrays of tables, and the key on the error's line. Empty if none.
fn syntax_key(text: &str, offset: usize) -> String {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let mut arrays: HashMap<String, usize> = HashMap::new();
    let mut section = String::new();
    for line in text[..line_start].lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
            let name = dotted(name);
            *arrays.entry(name.clone()).or_default() += 1;
            section = indexed(&name, &arrays);
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            section = indexed(&dotted(name), &arrays);
        }
    }
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let key = if line.starts_with('[') {
        section.clear();
        indexed(&dotted(line.trim_matches(['[', ']'])), &arrays)
    } else {
        line.split_once('=')
            .map_or(String::new(), |(k, _)| dotted(k))
    };
    match (section.is_empty(), key.is_empty()) {
        (_, true) => section,
        (true, false) => key,
        (false, false) => format!("{section}.{key}"),
    }
}

/// A dotted key as written, without the spaces TOML allows around its dots.
fn dotted(key: &str) -> String {
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    parts.join(".")
}

/// `webhooks.retry` as `webhooks[1].retry` when `[[webhooks]]` came twice so far.
fn indexed(name: &str, arrays: &HashMap<String, usize>) -> String {
    let mut prefix = String::new();
    let mut out = String::new();
    for part in name.split('.') {
        if !prefix.is_empty() {
            prefix.push('.');
            out.push('.');
        }
        prefix.push_str(part);
        out.push_str(part);
        if let Some(n) = arrays.get(&prefix) {
            out.push_str(&format!("[{}]", n.saturating_sub(1)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<(String, String, Option<usize>)> {
        (read(text).problems.into_iter())
            .map(|p| (p.key, p.message, p.at.map(|at| at.line)))
            .collect()
    }

    #[test]
    fn every_broken_key_is_reported_in_one_pass() {
        let found = problems(
            "[server]\nlistn = \"127.0.0.1:8080\"\n\n[[webhooks]]\nid = \"w\"\nurl = \"https://example.com/\"\ntimeout = \"10\"\nretries = 3\n",
        );
        let keys: Vec<&str> = found.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            ["server.listn", "webhooks[0].retries", "webhooks[0].timeout"]
        );
        assert_eq!(found[0].1, "unknown key `listn`, did you mean `listen`?");
        assert_eq!(found[0].2, Some(2));
        assert_eq!(found[1].1, "unknown key `retries`, did you mean `retry`?");
        assert!(
            found[2].1.starts_with("invalid duration \"10\""),
            "{found:?}"
        );
        assert_eq!(found[2].2, Some(7));
    }

    #[test]
    fn a_broken_required_key_is_reported_once_and_reading_goes_on() {
        let found = problems(
            "[[webhooks]]\nid = 5\nurl = \"https://example.com/\"\n[[webhooks]]\nid = \"v\"\n[server]\nmax_body_bytes = -1\n",
        );
        assert_eq!(
            found,
            [
                (
                    "server.max_body_bytes".into(),
                    "expected a non-negative integer, found an integer `-1`".into(),
                    Some(7)
                ),
                (
                    "webhooks[0].id".into(),
                    "expected a string, found an integer".into(),
                    Some(2)
                ),
                (
                    "webhooks[1].url".into(),
                    "missing key `url`".into(),
                    Some(4)
                ),
            ]
        );
        // A required table with a missing key of its own is dropped, not looped on.
        let found = problems("[[webhooks]]\nid = \"w\"\nurl = \"u\"\n[webhooks.retry]\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "webhooks[0].retry.delays");
        assert!(
            read("[[webhooks]]\nid = \"w\"\nurl = \"u\"\n[webhooks.retry]\n")
                .raw
                .is_some()
        );
    }

    #[test]
    fn every_syntax_error_is_reported_with_its_key() {
        let found = problems("[server]\nlisten = \n[[webhooks]]\n[[webhooks]]\nurl = [1,\n");
        let keys: Vec<&str> = found.iter().map(|(k, _, _)| k.as_str()).collect();
        assert!(keys.contains(&"server.listen"), "{found:?}");
        assert!(keys.contains(&"webhooks[1].url"), "{found:?}");
        assert_eq!(syntax_key("[server\nx = 1", 3), "server");
        assert_eq!(syntax_key("a = [", 4), "a");
    }

    #[test]
    fn a_secret_is_never_quoted_in_a_message() {
        let found = problems("[[senders]]\nname = \"a\"\ntoken = -98765432\n");
        assert_eq!(found[0].0, "senders[0].token");
        assert!(!found[0].1.contains("98765432"), "{found:?}");
        // A misspelt token's value is masked in what a report shows.
        let shown = read("[[senders]]\nname = \"a\"\ntokn = \"hunter2hunter2\"\n").shown;
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
