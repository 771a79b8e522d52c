//! Test plugin for the host: a filter that allocates and writes 1 MiB after
//! 1 MiB, to test that a call's memory is bounded. When the host refuses to
//! grow memory it returns an error saying how much it got (unless the host
//! traps on the refused growth first). With config `{"mib": n}`, it stops after
//! `n` MiB, frees them and keeps the event: its linear memory stays grown.

use std::hint::black_box;

use serde::Deserialize;
use switchyard_plugin_sdk::{Event, Filter, Plugin, export_filter};

const MIB: usize = 1 << 20;

/// Hoards memory in `filter` until there is no more, or `mib` MiB.
struct MemoryHog {
    mib: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Config {
    mib: Option<usize>,
}

impl Plugin for MemoryHog {
    type Config = Config;

    fn init(config: Config) -> Result<Self, String> {
        Ok(MemoryHog { mib: config.mib })
    }
}

impl Filter for MemoryHog {
    fn filter(&self, _event: &Event) -> Result<bool, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            if self.mib.is_some_and(|mib| hoard.len() >= mib) {
                return Ok(true);
            }
            let mut chunk = Vec::new();
            if hoard.try_reserve(1).is_err() || chunk.try_reserve_exact(MIB).is_err() {
                return Err(format!("out of memory after {} MiB", hoard.len()));
            }
            // Write every byte, so the memory is really used, not just reserved.
            chunk.resize(MIB, 0xA5);
            hoard.push(black_box(chunk));
        }
    }
}

export_filter!(MemoryHog);
