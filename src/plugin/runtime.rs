//! The engine that compiles and runs plugins, and the cache that spares a restart
//! from compiling them again.
//!
//! One [`Runtime`] per process. It compiles each distinct component once, however
//! many webhooks use it (keyed by the SHA-256 of its bytes), and keeps the compiled
//! artifact in `data_dir/plugin-cache/`, keyed by that hash and the engine's
//! compatibility hash: a restart deserializes in milliseconds what took seconds to
//! compile. Components are pre-instantiated (`InstancePre`) and instantiated from
//! the pooling allocator; an instance that has run `init` is kept warm for the
//! next calls of its plugin (see [`super::Plugin`]), within a budget for the
//! whole process ([`Warmth`]).
//!
//! Every call's CPU budget is fuel, [`FUEL_PER_MS`] per millisecond of its
//! `max_cpu`; a background thread advances the engine's epoch every millisecond,
//! for the wall-clock backstop of [`BACKSTOP`] times the budget. Chains run their
//! calls on the runtime's [`Pool`], one thread per core.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::bindings::{Plugin as PluginWorld, classify, filter, init, transform};
use super::host::HostState;
use super::pool::Pool;
use super::{CallObserver, LoadError};

/// The epoch tick: the granularity of the wall-clock backstop.
pub const TICK: Duration = Duration::from_millis(1);

/// Fuel per millisecond of CPU budget. Wasmtime burns a unit of fuel for most
/// WebAssembly instructions, optimized away or not. A tight loop burns the most
/// per millisecond: about 8 million on the machine this was measured on
/// (docs/performance.md), so a call that fits its budget in time when it runs
/// alone fits it in fuel, and then under any load. Ordinary code burns less fuel
/// a millisecond, which leaves it room to spare.
pub const FUEL_PER_MS: u64 = 10_000_000;

/// How many times its CPU budget a call may take in wall-clock time before it is
/// interrupted anyway: the backstop against time fuel does not see (a host call
/// that blocks). Generous, because a call can be descheduled on a busy machine.
pub const BACKSTOP: u32 = 10;

/// The largest memory any plugin may be allowed (the pool reserves address space for it).
pub const MAX_MEMORY_BYTES: usize = 512 * 1024 * 1024;

/// How much of each pooled memory and table is zeroed in place when an instance
/// goes, rather than given back to the kernel: the next instance then starts on
/// resident pages instead of faulting each one in.
const KEEP_RESIDENT_BYTES: usize = 1 << 20;

/// Plugin instances in a call at once. Chains' calls run on the plugin threads,
/// one per core, so only calls made outside a chain (loads, `plugin run`) can
/// come near this; a call waits for a free one rather than fail.
pub const POOL_INSTANCES: u32 = 128;

/// Idle instances kept warm across every plugin of the process. They hold their
/// memory, so this bounds what warmth costs in RSS (a Rust plugin's memory is
/// about 1 MiB).
const MAX_WARM: u32 = 64;

/// Instances the pool holds at most: those in a call, and those kept warm.
const POOL_TOTAL: u32 = POOL_INSTANCES + MAX_WARM;

/// A compiled component, ready to instantiate, and the hooks it exports.
pub(super) struct Compiled {
    pub pre: InstancePre<HostState>,
    pub init: init::GuestIndices,
    pub filter: Option<filter::GuestIndices>,
    pub transform: Option<transform::GuestIndices>,
    pub classify: Option<classify::GuestIndices>,
}

/// Compiles, caches and instantiates plugins.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
    fuel: bool,
    compiled: Mutex<HashMap<[u8; 32], Arc<Compiled>>>,
    /// Shared with every plugin loaded here: CPU budgets hold as long as any of
    /// them lives, even after the runtime itself is dropped.
    ticker: Arc<Ticker>,
    /// The pool's instances, shared likewise: calls wait for one rather than fail.
    slots: Arc<Slots>,
    warmth: Arc<Warmth>,
    /// The threads chains run their calls on, shared likewise.
    pool: Arc<Pool>,
    observer: Option<Arc<dyn CallObserver>>,
}

impl Runtime {
    /// A runtime whose compiled artifacts are cached in `cache_dir`, if given.
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, LoadError> {
        Self::with_fuel(cache_dir, true)
    }

    /// A runtime whose CPU budgets are wall-clock time only, as they were before
    /// fuel: for `benches/plugins.rs` to measure what fuel costs, not for serving.
    pub fn without_fuel(cache_dir: Option<PathBuf>) -> Result<Self, LoadError> {
        Self::with_fuel(cache_dir, false)
    }

    fn with_fuel(cache_dir: Option<PathBuf>, fuel: bool) -> Result<Self, LoadError> {
        let engine = Engine::new(&engine_config(fuel)?).map_err(LoadError::engine)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(LoadError::engine)?;
        super::determinism::add_to_linker(&mut linker).map_err(LoadError::engine)?;
        PluginWorld::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(LoadError::engine)?;
        Ok(Self {
            ticker: Arc::new(Ticker::start(engine.clone())?),
            slots: Arc::new(Slots::new(POOL_INSTANCES)),
            warmth: Arc::new(Warmth::default()),
            pool: Arc::new(Pool::per_core()?),
            engine,
            linker,
            cache_dir,
            fuel,
            compiled: Mutex::default(),
            observer: None,
        })
    }

    /// Tells `observer` of every hook call of the plugins loaded from now on.
    pub fn observe(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub(super) fn observer(&self) -> Option<Arc<dyn CallObserver>> {
        self.observer.clone()
    }

    pub(super) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(super) fn fuel(&self) -> bool {
        self.fuel
    }

    pub(super) fn ticker(&self) -> Arc<Ticker> {
        self.ticker.clone()
    }

    pub(super) fn slots(&self) -> Arc<Slots> {
        self.slots.clone()
    }

    pub(super) fn pool(&self) -> Arc<Pool> {
        self.pool.clone()
    }

    pub(super) fn warmth(&self) -> Arc<Warmth> {
        self.warmth.clone()
    }

    /// The compiled form of the component at `path`, compiling it at most once.
    pub(super) fn compile(&self, path: &Path) -> Result<Arc<Compiled>, LoadError> {
        let bytes = std::fs::read(path).map_err(|e| LoadError::Read(e.to_string()))?;
        let hash: [u8; 32] = Sha256::digest(&bytes).into();
        if let Some(compiled) = self.lock().get(&hash) {
            return Ok(compiled.clone());
        }
        let component = self.component(&bytes, &hash)?;
        let compiled = Arc::new(self.prepare(&component)?);
        self.lock().insert(hash, compiled.clone());
        Ok(compiled)
    }

    /// Drops the compiled components no loaded plugin uses any more.
    pub fn forget_unused(&self) {
        self.lock()
            .retain(|_, compiled| Arc::strong_count(compiled) > 1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<Compiled>>> {
        self.compiled.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The component from the cache, or compiled (and then cached).
    #[expect(
        unsafe_code,
        reason = "wasmtime cannot check that a compiled file is one it wrote; see SAFETY below"
    )]
    fn component(&self, bytes: &[u8], hash: &[u8; 32]) -> Result<Component, LoadError> {
        let cached = self
            .cache_dir
            .as_ref()
            .map(|dir| dir.join(self.cache_name(hash)));
        if let Some(path) = cached.as_ref().filter(|p| p.is_file()) {
            // SAFETY: files in the cache directory are written only by `store_in_cache`
            // from `Component::serialize`, under a name that carries this engine's
            // compatibility hash; wasmtime checks that hash again while deserializing.
            match unsafe { Component::deserialize_file(&self.engine, path) } {
                Ok(component) => {
                    tracing::debug!(path = %path.display(), "compiled plugin loaded from the cache");
                    return Ok(component);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "unusable cached plugin; compiling again")
                }
            }
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(|e| LoadError::Compile(format!("{e:#}")))?;
        if let Some(path) = cached {
            store_in_cache(&component, &path);
        }
        Ok(component)
    }

    fn cache_name(&self, hash: &[u8; 32]) -> String {
        let mut engine = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut engine);
        format!("{}-{:016x}.cwasm", hex::encode(hash), engine.finish())
    }

    /// Links the component and finds which hooks it exports.
    fn prepare(&self, component: &Component) -> Result<Compiled, LoadError> {
        // An import the router does not provide fails the load here, naming it. (Stubbing
        // unknown imports as traps would suit language runtimes that import more than
        // they use, but wasmtime's stubs match names exactly, and would shadow the
        // semver-compatible WASI functions the linker does provide.)
        let pre = (self.linker)
            .instantiate_pre(component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let init = init::GuestIndices::new(&pre).map_err(|_| LoadError::NotAPlugin)?;
        let compiled = Compiled {
            filter: filter::GuestIndices::new(&pre).ok(),
            transform: transform::GuestIndices::new(&pre).ok(),
            classify: classify::GuestIndices::new(&pre).ok(),
            init,
            pre,
        };
        if compiled.filter.is_none() && compiled.transform.is_none() && compiled.classify.is_none()
        {
            return Err(LoadError::NotAPlugin);
        }
        Ok(compiled)
    }
}

/// Writes a compiled artifact atomically (temp file, then rename), so a crash never
/// leaves a half-written file where a reader expects a whole one. Best effort: a
/// cache that cannot be written only costs the next start a compile.
fn store_in_cache(component: &Component, path: &Path) {
    let written = (|| -> Result<(), String> {
        let bytes = component.serialize().map_err(|e| e.to_string())?;
        let dir = path.parent().ok_or("no cache directory")?;
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let temp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temp, bytes).map_err(|e| e.to_string())?;
        std::fs::rename(&temp, path).map_err(|e| e.to_string())
    })();
    match written {
        Ok(()) => {
            tracing::debug!(path = %path.display(), "plugin compiled; cached for the next load")
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "cannot cache a compiled plugin")
        }
    }
}

fn engine_config(fuel: bool) -> Result<Config, LoadError> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(POOL_TOTAL)
        .total_core_instances(POOL_TOTAL * 16)
        .total_memories(POOL_TOTAL * 4)
        .total_tables(POOL_TOTAL * 16)
        .max_core_instances_per_component(64)
        .max_memories_per_component(8)
        .max_tables_per_component(32)
        .max_memory_size(MAX_MEMORY_BYTES)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(fuel)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(config)
}

/// The pooling allocator's instances, as a counting semaphore. More plugin calls
/// can be under way than the pool has instances (one per delivery in flight, across
/// webhooks); without this, the extra ones would fail to instantiate, and count as
/// plugin failures, instead of waiting their turn.
pub(super) struct Slots {
    free: Mutex<u32>,
    freed: Condvar,
}

impl Slots {
    fn new(count: u32) -> Self {
        Self {
            free: Mutex::new(count),
            freed: Condvar::new(),
        }
    }

    /// Blocks until an instance is free. Plugin calls run on plugin threads or
    /// the blocking pool, so blocking here stalls no async task.
    pub(super) fn take(&self) -> Slot<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Slot(self)
    }
}

/// A taken instance; given back when dropped.
pub(super) struct Slot<'a>(&'a Slots);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// The process-wide budget of warm instances: each one kept holds a [`Kept`],
/// and at most [`MAX_WARM`] exist at once, so the pool (sized for the instances
/// in calls plus these) never runs dry.
#[derive(Default)]
pub(super) struct Warmth {
    kept: AtomicU32,
}

impl Warmth {
    /// A place for one more warm instance, if the budget has one.
    pub(super) fn keep(self: &Arc<Self>) -> Option<Kept> {
        let kept = (self.kept).fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < MAX_WARM).then_some(n + 1)
        });
        kept.ok().map(|_| Kept(self.clone()))
    }
}

/// A warm instance's share of the budget; given back when dropped.
pub(super) struct Kept(Arc<Warmth>);

impl Drop for Kept {
    fn drop(&mut self) {
        self.0.kept.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Advances the engine's epoch every [`TICK`] until dropped.
pub(super) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> Result<Self, LoadError> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| LoadError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_waits_for_a_free_instance_instead_of_failing() {
        let slots = Arc::new(Slots::new(1));
        let held = slots.take();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let slots = slots.clone();
            std::thread::spawn(move || {
                let _slot = slots.take();
                tx.send(()).unwrap();
            })
        };
        assert!(
            rx.recv_timeout(Duration::from_millis(100)).is_err(),
            "no slot while one is held"
        );
        drop(held);
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the freed slot is taken");
        waiter.join().unwrap();
    }
}
