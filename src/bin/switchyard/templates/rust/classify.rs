//! {{name}}: a Switchyard classify plugin. It dead-letters at once the attempts
//! whose HTTP status is in the configured list, and leaves every other answer to
//! the next classifier or the router's built-in rule:
//!
//! ```toml
//! plugins = [{ path = "{{name}}.wasm", config = { permanent = [400, 404, 410, 422] } }]
//! ```

use serde::Deserialize;
use switchyard_plugin_sdk::{Attempt, Classify, Event, Plugin, Verdict, export_classify};

struct {{type}} {
    permanent: Vec<u16>,
}

/// The `config` table from the router's TOML file. Unknown keys fail the load,
/// so a typo in the config is an error at start-up, not a silent default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    permanent: Vec<u16>,
}

impl Plugin for {{type}} {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        Ok(Self {
            permanent: config.permanent,
        })
    }
}

impl Classify for {{type}} {
    /// `Success`, `Retry { after_ms }`, `Permanent(reason)`, or `Default`: no
    /// opinion, ask the next classifier.
    fn classify(&self, _event: &Event, attempt: &Attempt) -> Verdict {
        match attempt.response() {
            Some(response) if self.permanent.contains(&response.status) => {
                Verdict::Permanent(format!("the receiver answered HTTP {}", response.status))
            }
            _ => Verdict::Default,
        }
    }
}

export_classify!({{type}});

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_plugin_sdk::{Outcome, Response, load};

    /// The plugin as `init` makes it from `config`.
    fn loaded(config: &str) -> Result<{{type}}, String> {
        load(config)
    }

    fn answered(status: u16) -> Attempt {
        let response = Response {
            status,
            headers: vec![],
            body: vec![],
            truncated: false,
        };
        Attempt {
            number: 1,
            max_attempts: 4,
            duration_ms: 12,
            outcome: Outcome::Response(response),
        }
    }

    #[test]
    fn the_configured_statuses_are_permanent() {
        let plugin = loaded(r#"{"permanent": [422]}"#).unwrap();
        let event = Event::new("t", "{}");
        let verdict = plugin.classify(&event, &answered(422));
        assert!(matches!(verdict, Verdict::Permanent(_)), "{verdict:?}");
        assert_eq!(plugin.classify(&event, &answered(500)), Verdict::Default);
    }
}
