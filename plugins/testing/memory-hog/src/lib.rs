//! Test plugin for the host: a filter that allocates and writes 1 MiB after
//! 1 MiB, to test that a call's memory is bounded. When the host refuses to
//! grow memory it returns an error saying how much it got (unless the host
//! traps on the refused growth first).

use std::hint::black_box;

use switchyard_plugin_sdk::{Event, Filter, NoConfig, Plugin, export_filter};

const MIB: usize = 1 << 20;

/// Hoards memory in `filter` until there is no more.
struct MemoryHog;

impl Plugin for MemoryHog {
    type Config = NoConfig;

    fn init(_: NoConfig) -> Result<Self, String> {
        Ok(MemoryHog)
    }
}

impl Filter for MemoryHog {
    fn filter(&self, _event: &Event) -> Result<bool, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
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
