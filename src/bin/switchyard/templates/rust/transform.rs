//! {{name}}: a Switchyard transform plugin. It adds the configured fields to the
//! top level of the body, replacing any of the same name:
//!
//! ```toml
//! plugins = [{ path = "{{name}}.wasm", config = { add = { environment = "production" } } }]
//! ```

use serde::Deserialize;
use serde_json::{Map, Value};
use switchyard_plugin_sdk::{Event, Plugin, Transform, Transformed, export_transform};

struct {{type}} {
    add: Map<String, Value>,
}

/// The `config` table from the router's TOML file. Unknown keys fail the load,
/// so a typo in the config is an error at start-up, not a silent default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    add: Map<String, Value>,
}

impl Plugin for {{type}} {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        Ok(Self { add: config.add })
    }
}

impl Transform for {{type}} {
    /// The body delivered, and signed, is the one returned here. An `Err` fails
    /// the call, and the webhook's `on_plugin_error` decides.
    fn transform(&self, event: &Event) -> Result<Transformed, String> {
        if self.add.is_empty() {
            return Ok(Transformed::Unchanged);
        }
        let mut body = event.json()?;
        let Value::Object(fields) = &mut body else {
            return Err("the body is not a JSON object".into());
        };
        fields.extend(self.add.clone());
        Ok(Transformed::replace_json(&body))
    }
}

export_transform!({{type}});

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::load;

    /// The plugin as `init` makes it from `config`.
    fn loaded(config: &str) -> Result<{{type}}, String> {
        load(config)
    }

    #[test]
    fn adds_the_configured_fields() {
        let plugin = loaded(r#"{"add": {"environment": "production"}}"#).unwrap();
        let Ok(Transformed::Replaced(new)) = plugin.transform(&Event::new("t", r#"{"id":"1"}"#))
        else {
            panic!("expected a replacement");
        };
        assert_eq!(new.body, br#"{"id":"1","environment":"production"}"#);
    }

    #[test]
    fn refuses_a_body_that_is_not_an_object() {
        let plugin = loaded(r#"{"add": {"a": 1}}"#).unwrap();
        assert!(plugin.transform(&Event::new("t", "[]")).is_err());
    }
}
