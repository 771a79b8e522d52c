//! Test plugin for the host: a transform that appends its mark (config
//! `{"mark": "a"}`) to the array at `marks` in the JSON body, creating it, so
//! a chain of marks shows the order the transforms ran in.

use serde::Deserialize;
use serde_json::Value;
use switchyard_plugin_sdk::{Event, Plugin, Transform, Transformed, export_transform};

/// Appends `mark` to `body["marks"]`.
struct Mark {
    mark: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    mark: String,
}

impl Plugin for Mark {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        Ok(Mark { mark: config.mark })
    }
}

impl Transform for Mark {
    fn transform(&self, event: &Event) -> Result<Transformed, String> {
        let mut body = event.json()?;
        let Value::Object(fields) = &mut body else {
            return Err("the body is not a JSON object".to_string());
        };
        let marks = fields
            .entry("marks")
            .or_insert_with(|| Value::Array(Vec::new()));
        let Value::Array(marks) = marks else {
            return Err("`marks` in the body is not an array".to_string());
        };
        marks.push(Value::String(self.mark.clone()));
        Ok(Transformed::replace_json(&body))
    }
}

export_transform!(Mark);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::load;

    fn mark(mark: &str, body: &str) -> Result<String, String> {
        let plugin: Mark = load(&format!(r#"{{"mark": "{mark}"}}"#)).unwrap();
        match plugin.transform(&Event::new("x", body))? {
            Transformed::Replaced(replacement) => Ok(String::from_utf8(replacement.body).unwrap()),
            other => panic!("expected a replacement, got {other:?}"),
        }
    }

    #[test]
    fn creates_then_appends() {
        let once = mark("a", r#"{"id":1}"#).unwrap();
        assert_eq!(once, r#"{"id":1,"marks":["a"]}"#);
        assert_eq!(mark("b", &once).unwrap(), r#"{"id":1,"marks":["a","b"]}"#);
    }

    #[test]
    fn refuses_bodies_it_cannot_mark() {
        assert!(mark("a", "[]").is_err());
        assert!(mark("a", r#"{"marks": "x"}"#).is_err());
        assert!(mark("a", "not json").is_err());
    }
}
