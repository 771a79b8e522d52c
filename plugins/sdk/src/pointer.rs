//! RFC 6901 JSON pointers, checked once at `init` and applied to every body.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A JSON pointer such as `/data/customer/email` (RFC 6901): `""` is the
/// whole document, `~1` stands for `/` and `~0` for `~` within a key.
///
/// It deserializes from a string, so a configuration can hold pointers and
/// have a malformed one fail `init`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pointer {
    text: String,
    tokens: Vec<String>,
}

impl Pointer {
    /// Parses `text`, which must be empty or start with `/`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let tokens = match text.strip_prefix('/') {
            Some(rest) => rest.split('/').map(unescape).collect::<Result<_, _>>(),
            None if text.is_empty() => Ok(Vec::new()),
            None => Err("must be empty or start with `/`".to_string()),
        };
        let tokens = tokens.map_err(|e| format!("invalid JSON pointer {text:?}: {e}"))?;
        Ok(Pointer {
            text: text.to_string(),
            tokens,
        })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this is `""`, the whole document.
    pub fn is_root(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The value this points to in `document`, if there is one.
    pub fn get<'a>(&self, document: &'a Value) -> Option<&'a Value> {
        self.tokens
            .iter()
            .try_fold(document, |value, token| child(value, token))
    }

    /// The value this points to in `document`, mutably, if there is one.
    pub fn get_mut<'a>(&self, document: &'a mut Value) -> Option<&'a mut Value> {
        self.tokens
            .iter()
            .try_fold(document, |value, token| child_mut(value, token))
    }

    /// Takes the value this points to out of `document`: an object loses the
    /// key (the others keep their order), an array the element. `None`, and
    /// `document` untouched, when there is no such value or this is the root.
    pub fn remove(&self, document: &mut Value) -> Option<Value> {
        let (last, parents) = self.tokens.split_last()?;
        let parent = parents
            .iter()
            .try_fold(document, |value, token| child_mut(value, token))?;
        match parent {
            Value::Object(map) => map.shift_remove(last.as_str()),
            Value::Array(items) => {
                let index = array_index(last).filter(|&i| i < items.len())?;
                Some(items.remove(index))
            }
            _ => None,
        }
    }
}

/// Decodes `~1` and `~0` in one reference token.
fn unescape(token: &str) -> Result<String, String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => return Err("`~` must be followed by `0` or `1`".to_string()),
        }
    }
    Ok(out)
}

/// The index a token names in an array: digits without leading zeros.
fn array_index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    let canonical = token == "0" || !token.starts_with('0');
    if digits && canonical {
        token.parse().ok()
    } else {
        None
    }
}

fn child<'a>(value: &'a Value, token: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(array_index(token)?),
        _ => None,
    }
}

fn child_mut<'a>(value: &'a mut Value, token: &str) -> Option<&'a mut Value> {
    match value {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => items.get_mut(array_index(token)?),
        _ => None,
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Pointer {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Pointer::parse(text)
    }
}

impl<'de> Deserialize<'de> for Pointer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Pointer::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ptr(text: &str) -> Pointer {
        Pointer::parse(text).unwrap()
    }

    #[test]
    fn rfc_6901_examples() {
        let doc = json!({
            "foo": ["bar", "baz"], "": 0, "a/b": 1, "c%d": 2, "e^f": 3,
            "g|h": 4, "i\\j": 5, "k\"l": 6, " ": 7, "m~n": 8
        });
        assert_eq!(ptr("").get(&doc), Some(&doc));
        assert_eq!(ptr("/foo").get(&doc), Some(&json!(["bar", "baz"])));
        assert_eq!(ptr("/foo/0").get(&doc), Some(&json!("bar")));
        assert_eq!(ptr("/").get(&doc), Some(&json!(0)));
        assert_eq!(ptr("/a~1b").get(&doc), Some(&json!(1)));
        assert_eq!(ptr("/c%d").get(&doc), Some(&json!(2)));
        assert_eq!(ptr("/ ").get(&doc), Some(&json!(7)));
        assert_eq!(ptr("/m~0n").get(&doc), Some(&json!(8)));
    }

    #[test]
    fn misses_resolve_to_nothing() {
        let doc = json!({"a": [1, 2], "s": "text"});
        for text in ["/b", "/a/2", "/a/01", "/a/-", "/a/x", "/s/0", "/a/0/x"] {
            assert_eq!(ptr(text).get(&doc), None, "{text}");
        }
    }

    #[test]
    fn rejects_malformed_pointers() {
        for text in ["a", "a/b", "/a~", "/a~2"] {
            let err = Pointer::parse(text).unwrap_err();
            assert!(err.starts_with("invalid JSON pointer"), "{err}");
        }
        assert_eq!(ptr("/~01").tokens, ["~1"]);
    }

    #[test]
    fn remove_keeps_the_order_of_the_rest() {
        let mut doc = json!({"z": 1, "card": 2, "a": {"list": [1, 2, 3]}});
        assert_eq!(ptr("/card").remove(&mut doc), Some(json!(2)));
        assert_eq!(ptr("/a/list/1").remove(&mut doc), Some(json!(2)));
        assert_eq!(ptr("/a/list/5").remove(&mut doc), None);
        assert_eq!(ptr("/nope/x").remove(&mut doc), None);
        assert_eq!(ptr("").remove(&mut doc), None);
        assert_eq!(doc, json!({"z": 1, "a": {"list": [1, 3]}}));
    }

    #[test]
    fn get_mut_changes_in_place() {
        let mut doc = json!({"data": {"email": "a@b"}});
        if let Some(value) = ptr("/data/email").get_mut(&mut doc) {
            *value = json!("x");
        }
        assert_eq!(doc, json!({"data": {"email": "x"}}));
    }

    #[test]
    fn deserializes_from_a_string() {
        let parsed: Pointer = serde_json::from_str(r#""/data/a""#).unwrap();
        assert_eq!(parsed.as_str(), "/data/a");
        assert!(serde_json::from_str::<Pointer>(r#""data""#).is_err());
    }
}
