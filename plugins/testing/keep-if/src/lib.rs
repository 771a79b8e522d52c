//! Test plugin for the host: a filter that keeps only events of exactly the
//! type in its config, `{"type": "x"}`. The simplest real filter, so it is
//! also what the benchmarks run.

use serde::Deserialize;
use switchyard_plugin_sdk::{Event, Filter, Plugin, export_filter};

/// Keeps events whose type is `event_type`.
struct KeepIf {
    event_type: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(rename = "type")]
    event_type: String,
}

impl Plugin for KeepIf {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        Ok(KeepIf {
            event_type: config.event_type,
        })
    }
}

impl Filter for KeepIf {
    fn filter(&self, event: &Event) -> Result<bool, String> {
        Ok(event.event_type == self.event_type)
    }
}

export_filter!(KeepIf);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::load;

    #[test]
    fn keeps_only_the_configured_type() {
        let plugin: KeepIf = load(r#"{"type": "order.paid"}"#).unwrap();
        assert!(plugin.filter(&Event::new("order.paid", "{}")).unwrap());
        assert!(!plugin.filter(&Event::new("order.paid.v2", "{}")).unwrap());
    }

    #[test]
    fn requires_the_type() {
        assert!(load::<KeepIf>("{}").is_err());
        assert!(load::<KeepIf>(r#"{"type": "x", "other": 1}"#).is_err());
    }
}
