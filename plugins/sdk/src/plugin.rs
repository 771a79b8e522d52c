//! The traits a plugin implements.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::event::Event;
use crate::hooks::{Attempt, Transformed, Verdict};

/// A plugin, built from its configuration.
///
/// The host calls `init` once on each new instance of the component, which then
/// serves many hook calls: parse the configuration here, once, and do all
/// checking of it here, so a bad one fails when the router loads the plugin
/// rather than on the first event.
pub trait Plugin: Sized + 'static {
    /// The plugin's `config` table from the router's TOML file. The SDK
    /// deserializes it from JSON; a mismatch fails the load with serde's
    /// message. Use `#[serde(deny_unknown_fields)]` to catch misspelt keys,
    /// [`NoConfig`] for a plugin that takes none, or [`serde_json::Value`] to
    /// take anything.
    type Config: DeserializeOwned;

    /// Builds the plugin, or says what is wrong with `config`.
    fn init(config: Self::Config) -> Result<Self, String>;
}

/// Keeps or drops an event for one webhook. Export with
/// [`export_filter!`](crate::export_filter).
pub trait Filter: Plugin {
    /// `Ok(true)` keeps the event; `Ok(false)` drops it (recorded as
    /// `filtered`). An error fails the call; the webhook's `on_plugin_error`
    /// says what happens to the delivery.
    fn filter(&self, event: &Event) -> Result<bool, String>;
}

/// Reshapes an event before it is signed and sent. Export with
/// [`export_transform!`](crate::export_transform).
pub trait Transform: Plugin {
    /// The new version of the event, or [`Transformed::Unchanged`]. An error
    /// fails the call, as for [`Filter::filter`].
    fn transform(&self, event: &Event) -> Result<Transformed, String>;
}

/// Judges the receiver's answer: success, retry, or permanent failure.
/// Export with [`export_classify!`](crate::export_classify).
pub trait Classify: Plugin {
    /// The verdict on `attempt`; [`Verdict::Default`] when the plugin has no
    /// opinion (including when it cannot make sense of the answer).
    fn classify(&self, event: &Event, attempt: &Attempt) -> Verdict;
}

/// The configuration of a plugin that takes none: accepts `{}` only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoConfig {}

/// Builds a `T` from its configuration as JSON text, exactly as the host's
/// `init` call does: use it in tests.
pub fn load<T: Plugin>(config_json: &str) -> Result<T, String> {
    let config = serde_json::from_str(config_json).map_err(|e| format!("invalid config: {e}"))?;
    T::init(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Limit(u32);

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct LimitConfig {
        max: u32,
    }

    impl Plugin for Limit {
        type Config = LimitConfig;

        fn init(config: LimitConfig) -> Result<Self, String> {
            match config.max {
                0 => Err("max must be positive".into()),
                max => Ok(Limit(max)),
            }
        }
    }

    #[test]
    fn load_deserializes_then_inits() {
        assert_eq!(load::<Limit>(r#"{"max": 3}"#).unwrap().0, 3);
        assert_eq!(
            load::<Limit>(r#"{"max": 0}"#).unwrap_err(),
            "max must be positive"
        );
    }

    #[test]
    fn load_reports_bad_config() {
        let err = load::<Limit>(r#"{"max": 3, "min": 1}"#).unwrap_err();
        assert!(
            err.starts_with("invalid config: unknown field `min`"),
            "{err}"
        );
        let err = load::<Limit>("not json").unwrap_err();
        assert!(err.starts_with("invalid config: "), "{err}");
    }

    #[test]
    fn no_config_takes_only_an_empty_table() {
        assert!(serde_json::from_str::<NoConfig>("{}").is_ok());
        assert!(serde_json::from_str::<NoConfig>(r#"{"a": 1}"#).is_err());
    }
}
