//! Durations as a config file writes them: strings with a unit, `"250ms"`,
//! `"5s"`, `"2h"`, never bare numbers (whose unit a reader would have to guess).
//!
//! A module of its own because serde's `with = "duration"` wants a module
//! holding a `deserialize` function (and `duration::list` one for lists), and
//! because validation parses the same text outside serde (`disable_after =
//! "5d"`), with the same message.

use std::time::Duration;

use serde::{Deserialize, Deserializer, de::Error};

pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    parse(&String::deserialize(d)?).map_err(D::Error::custom)
}

pub(super) fn parse(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|_| {
        format!("invalid duration {text:?}: write a number and a unit, such as \"250ms\", \"5s\" or \"2h\"")
    })
}

/// A list of durations: `["5s", "1m"]`.
pub(super) mod list {
    use super::*;

    pub(in crate::config) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Duration>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| parse(t).map_err(D::Error::custom))
            .collect()
    }
}
