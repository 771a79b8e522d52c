//! What a plugin instance can reach: its store's state, and nothing else.
//!
//! Each instance gets a fresh [`HostState`]: a WASI context that grants nothing (no
//! preopened directories, no environment, no network, stdin empty; clocks and
//! randomness fixed, virtual and seeded, see [`super::determinism`]), stdout and
//! stderr captured into memory and forwarded to the router's log afterwards, a
//! memory limiter that remembers when it said no (so a memory bomb is reported as
//! one, not as a mysterious trap), and the `log` import, rate-limited per plugin.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::bindings::{log, types};
use super::cut_silently;
use super::determinism::Determinism;

/// How much of a plugin's stdout and stderr is kept per call.
const OUTPUT_CAPTURE_BYTES: usize = 16 * 1024;
/// The longest log line a plugin may write; longer ones are cut.
const MAX_LOG_LINE: usize = 2048;

/// The state of one plugin instance's store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    determinism: Determinism,
    pub(super) limits: Limits,
    /// The webhook and the plugin, for the log lines the plugin writes.
    webhook: Arc<str>,
    plugin: Arc<str>,
    logs: Arc<LogBudget>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
    /// How much of stdout and stderr has been forwarded already.
    forwarded: [usize; 2],
    /// The plugin wrote to stdout or stderr. Those pipes keep all that was
    /// written, up to their capacity, so such an instance is not reused.
    pub(super) printed: bool,
}

impl HostState {
    pub(super) fn new(
        webhook: Arc<str>,
        plugin: Arc<str>,
        memory_bytes: usize,
        logs: Arc<LogBudget>,
    ) -> Self {
        let stdout = MemoryOutputPipe::new(OUTPUT_CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(OUTPUT_CAPTURE_BYTES);
        let determinism = Determinism::new();
        let mut builder = WasiCtxBuilder::new();
        builder.stdout(stdout.clone()).stderr(stderr.clone());
        determinism.configure(&mut builder);
        Self {
            wasi: builder.build(),
            table: ResourceTable::new(),
            determinism,
            limits: Limits {
                memory_bytes,
                denied: false,
                grown: 0,
            },
            webhook,
            plugin,
            logs,
            stdout,
            stderr,
            forwarded: [0; 2],
            printed: false,
        }
    }

    pub(super) fn determinism(&self) -> &Determinism {
        &self.determinism
    }

    pub(super) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// Sends what the plugin printed since the last time to the router's log,
    /// line by line, and says how many lines the rate limit dropped, if any.
    pub(super) fn forward_output(&mut self) {
        self.forward_printed();
        let dropped = self.logs.take_dropped();
        if dropped > 0 {
            tracing::warn!(
                webhook = &*self.webhook,
                plugin = &*self.plugin,
                dropped,
                "{dropped} plugin log lines dropped (over {LOG_RATE} a second)"
            );
        }
    }

    fn forward_printed(&mut self) {
        let pipes = [("stdout", &self.stdout), ("stderr", &self.stderr)];
        for ((stream, pipe), forwarded) in pipes.into_iter().zip(&mut self.forwarded) {
            let contents = pipe.contents();
            let new = contents.get(*forwarded..).unwrap_or_default();
            *forwarded = contents.len();
            self.printed |= !contents.is_empty();
            for line in String::from_utf8_lossy(new)
                .lines()
                .filter(|l| !l.is_empty())
            {
                if self.logs.take() {
                    tracing::info!(
                        webhook = &*self.webhook,
                        plugin = &*self.plugin,
                        stream,
                        "{}",
                        cut_silently(line, MAX_LOG_LINE)
                    );
                }
            }
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: log::Level, message: String) {
        if !self.logs.take() {
            return;
        }
        let (webhook, plugin) = (&*self.webhook, &*self.plugin);
        let message = cut_silently(&message, MAX_LOG_LINE);
        match level {
            log::Level::Trace => tracing::trace!(webhook, plugin, "{message}"),
            log::Level::Debug => tracing::debug!(webhook, plugin, "{message}"),
            log::Level::Info => tracing::info!(webhook, plugin, "{message}"),
            log::Level::Warn => tracing::warn!(webhook, plugin, "{message}"),
            log::Level::Error => tracing::error!(webhook, plugin, "{message}"),
        }
    }
}

/// The memory bound of one instance.
pub struct Limits {
    memory_bytes: usize,
    /// Whether a growth was refused: the trap that usually follows is a memory overrun.
    pub denied: bool,
    /// Bytes the instance's memories have grown by, in all: linear memory never
    /// shrinks, so this is what it holds beyond what it started with.
    pub grown: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory_bytes;
        self.denied |= !allowed;
        if allowed {
            self.grown = self.grown.saturating_add(desired.saturating_sub(current));
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far past any real plugin.
        Ok(desired <= 1_000_000)
    }
}

/// A token bucket shared by every instance of one plugin: a chatty or looping
/// plugin cannot flood the router's logs. It counts the lines it drops, so that
/// each call that dropped some ends with one line saying how many.
pub struct LogBudget {
    state: Mutex<(f64, Instant)>,
    dropped: AtomicU64,
}

/// Lines per second a plugin may log, and the burst it may save up.
const LOG_RATE: f64 = 50.0;
const LOG_BURST: f64 = 200.0;

impl LogBudget {
    pub fn new() -> Self {
        Self {
            state: Mutex::new((LOG_BURST, Instant::now())),
            dropped: AtomicU64::new(0),
        }
    }

    fn take(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = &mut *state;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * LOG_RATE).min(LOG_BURST);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    /// Lines dropped since the last time this was asked.
    fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}
