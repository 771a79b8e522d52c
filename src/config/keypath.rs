//! Key paths (`webhooks[0].retry.delays`): how a problem names the key it is
//! about, and how that name finds the key again in the parsed file.
//!
//! One type serves both directions because a problem is named in two ways: serde
//! reports where a deserialization failed as a path of its own, and validation
//! names keys as text. Both become a [`KeyPath`], which then looks up the key's
//! span for the report, or drops a broken key from the tree so that reading can
//! go on past it (`super::recover`).

use std::fmt;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One step down a config: a table's key, or an array's element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Segment {
    Key(String),
    Index(usize),
}

/// Where a key is in a config, from the top: `server.listen`, `webhooks[1].url`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// The path serde_path_to_error tracked to a failure. Its other steps (enum
    /// variants, and unknown ones) have no key of their own in a TOML file.
    pub(super) fn from_serde(path: &serde_path_to_error::Path) -> Self {
        use serde_path_to_error::Segment as S;
        let segments = (path.iter())
            .filter_map(|segment| match segment {
                S::Map { key } => Some(Segment::Key(key.clone())),
                S::Seq { index } => Some(Segment::Index(*index)),
                S::Enum { .. } | S::Unknown => None,
            })
            .collect();
        Self(segments)
    }

    /// Reads a path as [`fmt::Display`] writes it; `None` for text that is not one.
    pub(super) fn parse(text: &str) -> Option<Self> {
        if text.is_empty() {
            return None;
        }
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let (index, after) = after.split_once(']')?;
                segments.push(Segment::Index(index.parse().ok()?));
                rest = after;
            } else {
                if !segments.is_empty() {
                    rest = rest.strip_prefix('.')?;
                }
                let (key, after) = if let Some(quoted) = rest.strip_prefix('"') {
                    unquote(quoted)?
                } else {
                    let end = rest.find(['.', '[']).unwrap_or(rest.len());
                    let key = &rest[..end];
                    if key.is_empty() || !key.bytes().all(is_bare) {
                        return None;
                    }
                    (key.to_owned(), &rest[end..])
                };
                segments.push(Segment::Key(key));
                rest = after;
            }
        }
        Some(Self(segments))
    }

    pub(super) fn child(&self, segment: Segment) -> Self {
        let mut segments = self.0.clone();
        segments.push(segment);
        Self(segments)
    }

    /// The nearest enclosing key a table holds (never an array's element): what
    /// can be dropped from a file without renumbering the elements after it.
    pub(super) fn removable(&self) -> Option<Self> {
        let end = self.0.iter().rposition(|s| matches!(s, Segment::Key(_)))?;
        Some(Self(self.0[..=end].to_vec()))
    }

    /// The path one step up, as [`KeyPath::removable`] would drop it.
    pub(super) fn parent(&self) -> Option<Self> {
        let mut segments = self.0.clone();
        segments.pop()?;
        Self(segments).removable()
    }

    /// Whether one path is the other or lies inside it.
    pub(super) fn overlaps(&self, other: &Self) -> bool {
        let n = self.0.len().min(other.0.len());
        self.0[..n] == other.0[..n]
    }

    /// The last key's name, if the path ends in one.
    pub(super) fn last_key(&self) -> Option<&str> {
        match self.0.last()? {
            Segment::Key(key) => Some(key),
            Segment::Index(_) => None,
        }
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|s| match s {
            Segment::Key(key) => Some(key.as_str()),
            Segment::Index(_) => None,
        })
    }

    /// The span of the deepest part of the path the file holds, from the top:
    /// where to point when the key itself is absent (left to its default, or
    /// spelled another way). `None` if not even its first key is in the file.
    pub(super) fn span_in(&self, root: &DeTable<'_>) -> Option<Range<usize>> {
        let mut span = None;
        let mut value: Option<&Spanned<DeValue<'_>>> = None;
        for segment in &self.0 {
            let next = match (segment, value.map(|v| v.get_ref())) {
                (Segment::Key(key), None) => root.get(key.as_str()),
                (Segment::Key(key), Some(DeValue::Table(table))) => table.get(key.as_str()),
                (Segment::Index(i), Some(DeValue::Array(array))) => array.get(*i),
                _ => None,
            };
            let Some(next) = next else { break };
            // Tables made implicitly by a dotted header have no text of their own.
            if !next.span().is_empty() {
                span = Some(next.span());
            }
            value = Some(next);
        }
        span
    }

    /// The value at this path, to change it in place.
    fn value_mut<'t, 'i>(&self, root: &'t mut DeTable<'i>) -> Option<&'t mut DeValue<'i>> {
        let (first, rest) = self.0.split_first()?;
        let Segment::Key(key) = first else {
            return None;
        };
        let mut value = root.get_mut(key.as_str())?.get_mut();
        for segment in rest {
            value = match (segment, value) {
                (Segment::Key(key), DeValue::Table(table)) => {
                    table.get_mut(key.as_str())?.get_mut()
                }
                (Segment::Index(i), DeValue::Array(array)) => array.get_mut(*i)?.get_mut(),
                _ => return None,
            };
        }
        Some(value)
    }

    /// The table that holds this path's last key, and that key.
    fn table_mut<'t, 'i>(&self, root: &'t mut DeTable<'i>) -> Option<(&'t mut DeTable<'i>, &str)> {
        let (last, parent) = self.0.split_last()?;
        let Segment::Key(key) = last else {
            return None;
        };
        if parent.is_empty() {
            return Some((root, key));
        }
        match Self(parent.to_vec()).value_mut(root)? {
            DeValue::Table(table) => Some((table, key)),
            _ => None,
        }
    }

    /// Drops the key at this path from the tree; false if it was not there.
    pub(super) fn remove_from(&self, root: &mut DeTable<'_>) -> bool {
        self.table_mut(root)
            .is_some_and(|(table, key)| table.remove(key).is_some())
    }

    /// Sets the key at this path, in a table the tree already has.
    pub(super) fn insert_into<'i>(
        &self,
        root: &mut DeTable<'i>,
        value: Spanned<DeValue<'i>>,
    ) -> bool {
        let Some((table, key)) = self.table_mut(root) else {
            return false;
        };
        let key = Spanned::new(value.span(), key.to_owned().into());
        table.insert(key, value);
        true
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Index(index) => write!(f, "[{index}]")?,
                Segment::Key(key) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if !key.is_empty() && key.bytes().all(is_bare) {
                        f.write_str(key)?;
                    } else {
                        write!(f, "{key:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// A byte TOML allows in a bare key.
fn is_bare(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// A quoted key as `{:?}` writes it (opening quote already read), and what follows.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut key = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((key, &text[i + 1..])),
            '\\' => key.push(match chars.next()?.1 {
                'n' => '\n',
                't' => '\t',
                'r' => '\r',
                other => other,
            }),
            c => key.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_back_as_they_are_written() {
        for text in [
            "server.listen",
            "webhooks[1].retry.delays[0]",
            "webhooks[0].headers.\"X Custom.Header\"",
            "senders",
        ] {
            let path = KeyPath::parse(text).unwrap();
            assert_eq!(path.to_string(), text);
        }
        for not_a_path in ["", "senders (app)", "a..b", "a[x]", "[0"] {
            assert_eq!(KeyPath::parse(not_a_path), None, "{not_a_path}");
        }
    }

    #[test]
    fn a_path_finds_its_key_or_the_deepest_part_the_file_has() {
        let text = "[server]\nlisten = \"x\"\n[[webhooks]]\nid = \"w\"\n[[webhooks]]\nid = \"v\"\n";
        let root = DeTable::parse(text).unwrap().into_inner();
        let span = |path: &str| {
            let span = KeyPath::parse(path).unwrap().span_in(&root)?;
            Some(&text[span])
        };
        assert_eq!(span("server.listen"), Some("\"x\""));
        assert_eq!(span("server.data_dir"), Some("[server]"));
        assert_eq!(span("webhooks[1].id"), Some("\"v\""));
        assert_eq!(span("webhooks[1].secret"), Some("[[webhooks]]"));
        assert_eq!(span("senders"), None);
    }

    #[test]
    fn keys_are_dropped_and_set_in_place() {
        let text = "[[webhooks]]\nid = \"w\"\ntimeout = 5\n";
        let mut root = DeTable::parse(text).unwrap().into_inner();
        let timeout = KeyPath::parse("webhooks[0].timeout").unwrap();
        assert!(timeout.remove_from(&mut root));
        assert!(!timeout.remove_from(&mut root));
        assert_eq!(
            timeout.span_in(&root).map(|s| &text[s]),
            Some("[[webhooks]]")
        );
        let url = KeyPath::parse("webhooks[0].url").unwrap();
        let value = Spanned::new(0..0, DeValue::String("".into()));
        assert!(url.insert_into(&mut root, value));
        assert_eq!(
            KeyPath::parse("webhooks[0].events[3]").unwrap().removable(),
            KeyPath::parse("webhooks[0].events")
        );
        assert_eq!(url.parent(), KeyPath::parse("webhooks"));
    }
}
