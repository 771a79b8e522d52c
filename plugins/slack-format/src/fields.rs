//! The labelled fields of the message, each a JSON pointer into the body.
//!
//! Configured as a table, `{"Amount": "/data/amount"}`, or, where the order
//! must survive a config format that sorts keys, as a list,
//! `[{"label": "Amount", "pointer": "/data/amount"}]`.

use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use switchyard_plugin_sdk::{Event, Pointer};

use crate::mrkdwn::{escape, truncate};

/// The most characters Slack takes in one field.
const FIELD_TEXT_MAX: usize = 2000;

/// The fields, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<Field>);

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Field {
    label: String,
    pointer: Pointer,
}

impl Fields {
    /// Each field that resolves in `event`'s body, as `*label*\nvalue`.
    pub fn render(&self, event: &Event) -> Result<Vec<String>, String> {
        if self.0.is_empty() {
            return Ok(Vec::new());
        }
        let body = event.json()?;
        Ok(self
            .0
            .iter()
            .filter_map(|field| field.render(&body))
            .collect())
    }
}

impl Field {
    fn render(&self, body: &Value) -> Option<String> {
        let value = match self.pointer.get(body)? {
            Value::String(text) => escape(text),
            other => escape(&other.to_string()),
        };
        let text = format!("*{}*\n{value}", escape(&self.label));
        Some(truncate(&text, FIELD_TEXT_MAX))
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FieldsVisitor)
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of label = pointer, or a list of {label, pointer}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Vec::new();
        while let Some((label, pointer)) = map.next_entry()? {
            fields.push(Field { label, pointer });
        }
        Ok(Fields(fields))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Fields, A::Error> {
        let mut fields = Vec::new();
        while let Some(field) = seq.next_element()? {
            fields.push(field);
        }
        Ok(Fields(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(config: Value, body: Value) -> Vec<String> {
        let fields: Fields = serde_json::from_value(config).unwrap();
        fields.render(&Event::new("x", body.to_string())).unwrap()
    }

    #[test]
    fn table_and_list_forms() {
        let body = json!({"a": 1, "b": "two"});
        let expected = ["*A*\n1", "*B*\ntwo"];
        assert_eq!(
            render(json!({"A": "/a", "B": "/b"}), body.clone()),
            expected
        );
        let list = json!([{"label": "A", "pointer": "/a"}, {"label": "B", "pointer": "/b"}]);
        assert_eq!(render(list, body), expected);
    }

    #[test]
    fn renders_any_json_value_and_escapes_it() {
        let body = json!({"o": {"k": [1, null]}, "s": "<b> & c", "n": null, "t": true});
        let config = json!({"O": "/o", "S": "/s", "N": "/n", "T": "/t", "M": "/missing"});
        let expected = [
            "*O*\n{\"k\":[1,null]}",
            "*S*\n&lt;b&gt; &amp; c",
            "*N*\nnull",
            "*T*\ntrue",
        ];
        assert_eq!(render(config, body), expected);
    }

    #[test]
    fn truncates_long_values() {
        let body = json!({"long": "y".repeat(3000)});
        let text = &render(json!({"L": "/long"}), body)[0];
        assert_eq!(text.chars().count(), FIELD_TEXT_MAX);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn rejects_malformed_fields() {
        let parse = |config: Value| serde_json::from_value::<Fields>(config).unwrap_err();
        assert!(
            parse(json!({"A": "a"}))
                .to_string()
                .contains("invalid JSON pointer")
        );
        assert!(
            parse(json!([{"label": "A"}]))
                .to_string()
                .contains("missing field")
        );
        assert!(parse(json!("A")).to_string().contains("invalid type"));
    }
}
