//! Test plugin for the host: a transform that replaces the body with exactly
//! `bytes` bytes (config `{"bytes": 8388608}`), to test the output limit.
//! The body is valid JSON for any size but 1: a string, `"xx…x"`.

use serde::Deserialize;
use switchyard_plugin_sdk::{Event, Plugin, Transform, Transformed, export_transform};

/// Replaces the body with `bytes` bytes.
struct HugeOutput {
    bytes: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    bytes: usize,
}

impl Plugin for HugeOutput {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        Ok(HugeOutput {
            bytes: config.bytes,
        })
    }
}

impl Transform for HugeOutput {
    fn transform(&self, _event: &Event) -> Result<Transformed, String> {
        Ok(Transformed::replace(body(self.bytes)))
    }
}

/// A JSON string `bytes` long (`bytes` ≥ 2), or that many `x`s.
fn body(bytes: usize) -> Vec<u8> {
    let mut body = vec![b'x'; bytes];
    if bytes >= 2 {
        body[0] = b'"';
        body[bytes - 1] = b'"';
    }
    body
}

export_transform!(HugeOutput);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_exactly_the_size_asked_for() {
        for bytes in [0, 1, 2, 3, 1000] {
            assert_eq!(body(bytes).len(), bytes);
        }
        assert_eq!(body(4), b"\"xx\"");
    }
}
