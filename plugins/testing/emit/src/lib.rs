//! Test plugin for the host: a transform that replaces the event with the body
//! and headers its config gives (`{"body": "...", "headers": [["name", "value"]]}`),
//! plus, with `"big_header": n`, a header `x-big` of `n` bytes, to test what the
//! host accepts from a transform.

use serde::Deserialize;
use switchyard_plugin_sdk::{Event, Plugin, Replacement, Transform, Transformed, export_transform};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Emit {
    body: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    big_header: usize,
}

impl Plugin for Emit {
    type Config = Emit;

    fn init(config: Emit) -> Result<Self, String> {
        Ok(config)
    }
}

impl Transform for Emit {
    fn transform(&self, _event: &Event) -> Result<Transformed, String> {
        let mut headers = self.headers.clone();
        if self.big_header > 0 {
            headers.push(("x-big".into(), "x".repeat(self.big_header)));
        }
        Ok(Transformed::Replaced(Replacement {
            body: self.body.clone().into_bytes(),
            event_type: None,
            headers,
        }))
    }
}

export_transform!(Emit);
