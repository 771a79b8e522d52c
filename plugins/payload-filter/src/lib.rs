//! A Switchyard filter plugin that keeps or drops events by rules on their
//! JSON body.
//!
//! Config: `{"rules": [{"pointer": "/data/amount", "op": ">=", "value": 100}],
//! "match": "all"}`. Each rule looks up an RFC 6901 pointer in the body and
//! tests the value there; `match` is `all` (the default: every rule must hold)
//! or `any`. See `rule.rs` for the operators.

mod rule;

use serde::Deserialize;
use serde_json::Value;
use switchyard_plugin_sdk::{Event, Filter, Plugin, export_filter};

use rule::Rule;

/// Keeps events whose body satisfies the rules.
#[derive(Debug)]
struct PayloadFilter {
    rules: Vec<Rule>,
    mode: Match,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    rules: Vec<Value>,
    #[serde(default, rename = "match")]
    mode: Match,
}

/// How the rules combine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Match {
    #[default]
    All,
    Any,
}

impl Plugin for PayloadFilter {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        if config.rules.is_empty() {
            return Err("`rules` is empty: give at least one rule".to_string());
        }
        let rules = config
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| Rule::parse(rule).map_err(|e| format!("rules[{index}]: {e}")));
        Ok(PayloadFilter {
            rules: rules.collect::<Result<_, _>>()?,
            mode: config.mode,
        })
    }
}

impl Filter for PayloadFilter {
    fn filter(&self, event: &Event) -> Result<bool, String> {
        let body = event.json()?;
        let mut results = self.rules.iter().map(|rule| rule.holds(&body));
        Ok(match self.mode {
            Match::All => results.all(|holds| holds),
            Match::Any => results.any(|holds| holds),
        })
    }
}

export_filter!(PayloadFilter);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchyard_plugin_sdk::load;

    fn keeps(config: Value, body: Value) -> bool {
        let plugin: PayloadFilter = load(&config.to_string()).unwrap();
        plugin.filter(&Event::new("x", body.to_string())).unwrap()
    }

    fn init_error(config: Value) -> String {
        load::<PayloadFilter>(&config.to_string()).unwrap_err()
    }

    fn rules() -> Value {
        json!([
            {"pointer": "/data/amount", "op": ">=", "value": 100},
            {"pointer": "/data/plan", "op": "in", "value": ["pro", "team"]}
        ])
    }

    #[test]
    fn all_needs_every_rule() {
        let config = json!({"rules": rules()});
        assert!(keeps(
            config.clone(),
            json!({"data": {"amount": 100, "plan": "pro"}})
        ));
        assert!(!keeps(
            config.clone(),
            json!({"data": {"amount": 99, "plan": "pro"}})
        ));
        assert!(!keeps(
            config,
            json!({"data": {"amount": 500, "plan": "free"}})
        ));
    }

    #[test]
    fn any_needs_one_rule() {
        let config = json!({"rules": rules(), "match": "any"});
        assert!(keeps(
            config.clone(),
            json!({"data": {"amount": 5, "plan": "team"}})
        ));
        assert!(keeps(config.clone(), json!({"data": {"amount": 500}})));
        assert!(!keeps(
            config,
            json!({"data": {"amount": 5, "plan": "free"}})
        ));
    }

    #[test]
    fn a_body_that_is_not_json_fails_the_call() {
        let plugin: PayloadFilter = load(&json!({"rules": rules()}).to_string()).unwrap();
        let err = plugin.filter(&Event::new("x", "<xml/>")).unwrap_err();
        assert!(err.starts_with("event body is not JSON"), "{err}");
    }

    #[test]
    fn config_errors_name_the_rule() {
        let bad_op = json!({"rules": [
            {"pointer": "/a", "op": "exists"},
            {"pointer": "/b", "op": "=~", "value": 1}
        ]});
        assert!(init_error(bad_op).starts_with("rules[1]: unknown variant `=~`"));
        let bad_pointer = json!({"rules": [{"pointer": "a", "op": "exists"}]});
        assert!(init_error(bad_pointer).starts_with("rules[0]: invalid JSON pointer"));
    }

    #[test]
    fn config_must_be_well_formed() {
        assert!(init_error(json!({})).contains("missing field `rules`"));
        assert!(init_error(json!({"rules": []})).contains("at least one rule"));
        assert!(init_error(json!({"rules": rules(), "match": "some"})).contains("unknown variant"));
        assert!(init_error(json!({"rules": rules(), "mode": "any"})).contains("unknown field"));
    }
}
