//! A Switchyard filter plugin that keeps or drops events by their type.
//!
//! Config: `{"allow": ["order.*"], "deny": ["order.test.*"]}`, both optional.
//! An event is kept if `allow` is empty or one of its globs matches the event
//! type, and none of the `deny` globs matches. In a glob, `*` matches any run
//! of characters (dots included) and `?` exactly one character; everything
//! else matches itself, case-sensitively.

mod glob;

use serde::Deserialize;
use switchyard_plugin_sdk::{Event, Filter, Plugin, export_filter};

use glob::Glob;

/// Keeps events whose type `allow` admits and `deny` does not.
#[derive(Debug)]
struct EventFilter {
    allow: Vec<Glob>,
    deny: Vec<Glob>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

impl Plugin for EventFilter {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        Ok(EventFilter {
            allow: config.allow.iter().map(|g| Glob::new(g)).collect(),
            deny: config.deny.iter().map(|g| Glob::new(g)).collect(),
        })
    }
}

impl Filter for EventFilter {
    fn filter(&self, event: &Event) -> Result<bool, String> {
        Ok(self.keeps(&event.event_type))
    }
}

impl EventFilter {
    fn keeps(&self, event_type: &str) -> bool {
        let allowed = self.allow.is_empty() || self.allow.iter().any(|g| g.matches(event_type));
        allowed && !self.deny.iter().any(|g| g.matches(event_type))
    }
}

export_filter!(EventFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::load;

    fn filter(config: &str) -> EventFilter {
        load(config).unwrap()
    }

    fn keeps(config: &str, event_type: &str) -> bool {
        filter(config)
            .filter(&Event::new(event_type, "{}"))
            .unwrap()
    }

    #[test]
    fn empty_config_keeps_everything() {
        assert!(keeps("{}", "order.paid"));
        assert!(keeps(r#"{"allow": [], "deny": []}"#, ""));
    }

    #[test]
    fn allow_keeps_only_matches() {
        let config = r#"{"allow": ["order.*", "invoice.paid"]}"#;
        assert!(keeps(config, "order.paid"));
        assert!(keeps(config, "order.refund.created"));
        assert!(keeps(config, "invoice.paid"));
        assert!(!keeps(config, "invoice.created"));
        assert!(!keeps(config, "orders.paid"));
    }

    #[test]
    fn deny_wins_over_allow() {
        let config = r#"{"allow": ["order.*"], "deny": ["*.test", "order.?"]}"#;
        assert!(keeps(config, "order.paid"));
        assert!(!keeps(config, "order.paid.test"));
        assert!(!keeps(config, "order.x"));
    }

    #[test]
    fn deny_alone_keeps_the_rest() {
        let config = r#"{"deny": ["ping"]}"#;
        assert!(!keeps(config, "ping"));
        assert!(keeps(config, "pong"));
    }

    #[test]
    fn unknown_keys_fail_init() {
        let err = load::<EventFilter>(r#"{"allow": [], "alow": []}"#).unwrap_err();
        assert!(err.contains("unknown field `alow`"), "{err}");
    }

    #[test]
    fn wrong_types_fail_init() {
        assert!(load::<EventFilter>(r#"{"allow": "order.*"}"#).is_err());
        assert!(load::<EventFilter>(r#"{"deny": [1]}"#).is_err());
    }
}
