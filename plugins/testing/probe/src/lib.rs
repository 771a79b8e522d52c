//! Test plugin for the host: a transform that replaces the body with what the
//! sandbox let it see (the wall clock, the monotonic clock across a sleep, and
//! 16 random bytes), to test that a plugin's answer depends on its input only,
//! and that a sleep does not block. Config: `{"sleep_ms": 2000}` sleeps in each
//! call, `{"init_sleep_ms": 2000}` in `init`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::json;
use switchyard_plugin_sdk::{Event, Plugin, Transform, Transformed, export_transform};

struct Probe {
    sleep: Duration,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    sleep_ms: u64,
    init_sleep_ms: u64,
}

impl Plugin for Probe {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        std::thread::sleep(Duration::from_millis(config.init_sleep_ms));
        Ok(Probe {
            sleep: Duration::from_millis(config.sleep_ms),
        })
    }
}

unsafe extern "C" {
    /// wasi-libc's, over `wasi:random/random`.
    fn getentropy(buffer: *mut u8, length: usize) -> i32;
}

impl Transform for Probe {
    fn transform(&self, _event: &Event) -> Result<Transformed, String> {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?;
        let before = Instant::now();
        std::thread::sleep(self.sleep);
        let slept = before.elapsed();
        let mut random = [0u8; 16];
        // SAFETY: `random` is valid for writes of its length, at most 256 bytes.
        if unsafe { getentropy(random.as_mut_ptr(), random.len()) } != 0 {
            return Err("getentropy failed".into());
        }
        let body = json!({
            "wall_clock_ns": u64::try_from(wall.as_nanos()).unwrap_or(u64::MAX),
            "slept_ns": u64::try_from(slept.as_nanos()).unwrap_or(u64::MAX),
            "random": random,
        });
        Ok(Transformed::replace_json(&body))
    }
}

export_transform!(Probe);
