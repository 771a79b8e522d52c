//! {{name}}: a Switchyard filter plugin. It keeps the events whose type starts with
//! one of the configured prefixes, and drops the rest:
//!
//! ```toml
//! plugins = [{ path = "{{name}}.wasm", config = { prefixes = ["order."] } }]
//! ```

use serde::Deserialize;
use switchyard_plugin_sdk::{Event, Filter, Plugin, export_filter};

struct {{type}} {
    prefixes: Vec<String>,
}

/// The `config` table from the router's TOML file. Unknown keys fail the load,
/// so a typo in the config is an error at start-up, not a silent default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    prefixes: Vec<String>,
}

impl Plugin for {{type}} {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        if config.prefixes.is_empty() {
            return Err("`prefixes` must list at least one prefix".into());
        }
        Ok(Self {
            prefixes: config.prefixes,
        })
    }
}

impl Filter for {{type}} {
    /// `Ok(true)` keeps the event, `Ok(false)` drops it (recorded as filtered);
    /// an `Err` fails the call, and the webhook's `on_plugin_error` decides.
    fn filter(&self, event: &Event) -> Result<bool, String> {
        let event_type = &event.event_type;
        Ok(self.prefixes.iter().any(|p| event_type.starts_with(p)))
    }
}

export_filter!({{type}});

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::load;

    /// The plugin as `init` makes it from `config`.
    fn loaded(config: &str) -> Result<{{type}}, String> {
        load(config)
    }

    #[test]
    fn keeps_the_configured_types_only() {
        let plugin = loaded(r#"{"prefixes": ["order."]}"#).unwrap();
        assert_eq!(plugin.filter(&Event::new("order.paid", "{}")), Ok(true));
        assert_eq!(plugin.filter(&Event::new("user.created", "{}")), Ok(false));
    }

    #[test]
    fn refuses_an_empty_config() {
        assert!(loaded(r#"{"prefixes": []}"#).is_err());
        assert!(loaded(r#"{"prefix": "order."}"#).is_err());
    }
}
