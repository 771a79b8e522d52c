//! A Switchyard transform plugin that redacts fields of the event body.
//!
//! Config: `{"remove": ["/data/card"], "mask": ["/data/email"],
//! "mask_with": "[redacted]"}`. Pointers are RFC 6901 JSON pointers into the
//! body. A masked value, of any JSON type, becomes the `mask_with` string
//! (default `"[redacted]"`); a removed one disappears with its key (or array
//! element). Masks apply first, then removals, each in the order listed.
//! Everything else in the body is kept as it was, key order and numbers
//! included. When no pointer matches, the event goes on unchanged.

use serde::Deserialize;
use serde_json::Value;
use switchyard_plugin_sdk::{Event, Plugin, Pointer, Transform, Transformed, export_transform};

/// Masks and removes values in the body.
#[derive(Debug)]
struct Redact {
    remove: Vec<Pointer>,
    mask: Vec<Pointer>,
    mask_with: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    remove: Vec<Pointer>,
    #[serde(default)]
    mask: Vec<Pointer>,
    #[serde(default = "default_mask")]
    mask_with: String,
}

fn default_mask() -> String {
    "[redacted]".to_string()
}

impl Plugin for Redact {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        if config.remove.is_empty() && config.mask.is_empty() {
            return Err("nothing to redact: give `remove` or `mask` pointers".to_string());
        }
        check_not_root("remove", &config.remove)?;
        check_not_root("mask", &config.mask)?;
        Ok(Redact {
            remove: config.remove,
            mask: config.mask,
            mask_with: config.mask_with,
        })
    }
}

/// Refuses `""`, which would redact the whole body.
fn check_not_root(key: &str, pointers: &[Pointer]) -> Result<(), String> {
    if pointers.iter().any(Pointer::is_root) {
        return Err(format!("`{key}`: the pointer \"\" is the whole body"));
    }
    Ok(())
}

impl Transform for Redact {
    fn transform(&self, event: &Event) -> Result<Transformed, String> {
        let mut body = event.json()?;
        if self.redact(&mut body) {
            Ok(Transformed::replace_json(&body))
        } else {
            Ok(Transformed::Unchanged)
        }
    }
}

impl Redact {
    /// Redacts `body` in place; whether any pointer matched.
    fn redact(&self, body: &mut Value) -> bool {
        let mut matched = false;
        for pointer in &self.mask {
            if let Some(value) = pointer.get_mut(body) {
                *value = Value::String(self.mask_with.clone());
                matched = true;
            }
        }
        for pointer in &self.remove {
            matched |= pointer.remove(body).is_some();
        }
        matched
    }
}

export_transform!(Redact);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::load;

    fn redact(config: &str, body: &str) -> Transformed {
        let plugin: Redact = load(config).unwrap();
        plugin.transform(&Event::new("order.paid", body)).unwrap()
    }

    fn replaced_body(transformed: Transformed) -> String {
        match transformed {
            Transformed::Replaced(replacement) => {
                assert_eq!(replacement.event_type, None);
                assert!(replacement.headers.is_empty());
                String::from_utf8(replacement.body).unwrap()
            }
            other => panic!("expected a replacement, got {other:?}"),
        }
    }

    const CONFIG: &str = r#"{"remove": ["/data/card"], "mask": ["/data/email", "/data/phone"]}"#;

    #[test]
    fn removes_and_masks() {
        let body = r#"{"id":"e1","data":{"card":"4242","email":"a@b.c","phone":{"cc":44},"n":1}}"#;
        assert_eq!(
            replaced_body(redact(CONFIG, body)),
            r#"{"id":"e1","data":{"email":"[redacted]","phone":"[redacted]","n":1}}"#
        );
    }

    #[test]
    fn keeps_numbers_and_key_order_exactly() {
        let body =
            r#"{"z":10.50,"big":123456789012345678901234567890,"data":{"email":"x"},"a":1.000}"#;
        assert_eq!(
            replaced_body(redact(CONFIG, body)),
            r#"{"z":10.50,"big":123456789012345678901234567890,"data":{"email":"[redacted]"},"a":1.000}"#
        );
    }

    #[test]
    fn unchanged_when_nothing_matches() {
        let body = r#"{"data":{"other":1}}"#;
        assert_eq!(redact(CONFIG, body), Transformed::Unchanged);
    }

    #[test]
    fn custom_mask_and_array_elements() {
        let config = r#"{"mask": ["/items/1"], "mask_with": "***", "remove": ["/tags/0"]}"#;
        let body = r#"{"items":["a","b"],"tags":["x","y"]}"#;
        assert_eq!(
            replaced_body(redact(config, body)),
            r#"{"items":["a","***"],"tags":["y"]}"#
        );
    }

    #[test]
    fn a_body_that_is_not_json_fails_the_call() {
        let plugin: Redact = load(CONFIG).unwrap();
        assert!(plugin.transform(&Event::new("x", "not json")).is_err());
    }

    #[test]
    fn config_errors() {
        let error = |config: &str| load::<Redact>(config).unwrap_err();
        assert!(error("{}").contains("nothing to redact"));
        assert!(error(r#"{"mask": [""]}"#).contains("whole body"));
        assert!(error(r#"{"remove": ["data"]}"#).contains("invalid JSON pointer"));
        assert!(error(r#"{"mask": ["/a"], "mask_width": "x"}"#).contains("unknown field"));
    }
}
