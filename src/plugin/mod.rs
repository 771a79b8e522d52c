//! Plugins: WebAssembly components that filter, transform and classify a webhook's
//! deliveries, in any language that compiles to a component.
//!
//! The contract is the WIT package in `wit/`; the host bindings are generated from
//! it ([`bindings`]). A [`Runtime`] compiles each component once and caches it; a
//! [`Plugin`] is one configured use of a component; a [`Chain`] is a webhook's
//! plugins in order, with its failure policy.
//!
//! An instance is made from the pooling allocator and runs `init(config)` once;
//! it then serves hook calls, one at a time, kept warm between them. Making one
//! and running `init` costs tens of microseconds; a warm call costs a few. An
//! instance that failed, printed, hit a limit, or whose memory grew past
//! [`MAX_WARM_GROWTH_BYTES`] is dropped, never reused, and
//! each is retired after [`MAX_CALLS_PER_INSTANCE`] calls, so a plugin that
//! trapped leaves nothing behind and whatever a plugin keeps between calls is
//! bounded. Plugins must not rely on state kept between calls: any call may be
//! the first of a new instance. Each call is bounded in CPU time, memory and
//! output; past a bound, the call fails with a [`CallError`] saying which, and
//! only that call.
//!
//! The CPU budget counts the plugin's own work, not the machine's load: `max_cpu`
//! is turned into fuel ([`FUEL_PER_MS`] a millisecond), which wasmtime burns per
//! instruction executed, so a call that is within its budget alone is within it
//! however many others run beside it. Time still bounds a call, as a backstop
//! against host calls that block: its epoch deadline is [`BACKSTOP`] times its
//! budget. A [`Chain`] runs its calls on the runtime's plugin threads (see
//! `pool`), one per core, where a call's budget starts only once it runs.

pub mod bindings;
mod chain;
mod determinism;
mod host;
mod output;
mod pool;
mod runtime;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::component::Instance;
use wasmtime::{Store, Trap};

pub use bindings::types::{
    Attempt, Event, Outcome, Replacement, Response, Transformed, TransportError,
    TransportErrorKind, Verdict,
};
pub use chain::{BeforeSend, Chain, Classified, OnPluginError, PluginFailure};
pub use runtime::{BACKSTOP, FUEL_PER_MS, MAX_MEMORY_BYTES, POOL_INSTANCES, Runtime};

use host::{HostState, LogBudget};
use runtime::{Compiled, Kept, Slots, TICK, Ticker, Warmth};

/// A plugin as the config names it.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSpec {
    pub path: PathBuf,
    /// Given to the plugin's `init` as JSON text.
    pub config: serde_json::Value,
    pub limits: Limits,
}

/// What one call of a plugin may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub cpu: Duration,
    pub memory_bytes: usize,
    /// The largest body a transform may return.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu: Duration::from_millis(10),
            memory_bytes: 16 * 1024 * 1024,
            output_bytes: 1024 * 1024,
        }
    }
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot set up the plugin engine: {0}")]
    Engine(String),
    #[error("cannot read the component: {0}")]
    Read(String),
    #[error("not a valid WebAssembly component: {0}")]
    Compile(String),
    #[error("cannot link the component: {0}")]
    Link(String),
    #[error(
        "exports none of the switchyard:plugin@0.1.0 hooks: a plugin exports `init` and at least one of `filter`, `transform` and `classify` (was it built for another world, or another version of the contract?)"
    )]
    NotAPlugin,
    /// An export of the contract's name whose type is not the contract's: every
    /// call would fail, so the load does.
    #[error("{0}")]
    WrongType(String),
    #[error("init failed: {0}")]
    Init(CallError),
}

impl LoadError {
    fn engine(e: impl std::fmt::Display) -> Self {
        Self::Engine(e.to_string())
    }
}

/// Why one call of a plugin failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("ran past its CPU budget of {}", humantime::format_duration(*.0))]
    Cpu(Duration),
    #[error("ran past its memory limit of {0} bytes")]
    Memory(usize),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("init refused its config: {0}")]
    Init(String),
    #[error("returned an error: {0}")]
    Failed(String),
    #[error("returned {0} bytes, over its output limit of {1}")]
    Output(usize, usize),
    #[error("returned an invalid result: {0}")]
    Invalid(String),
}

impl CallError {
    /// A short, stable name for the kind of failure, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Cpu(_) => "cpu",
            CallError::Memory(_) => "memory",
            CallError::Trap(_) => "trap",
            CallError::Init(_) => "init",
            CallError::Failed(_) => "error",
            CallError::Output(..) => "output",
            CallError::Invalid(_) => "invalid",
        }
    }
}

/// Told of every hook call, for metrics: the webhook (empty for a plugin used
/// outside a webhook's chain), the plugin, the hook, how long the call took
/// (making an instance and its `init` included, when the call needed a new one),
/// and the kind of failure, if any.
pub trait CallObserver: Send + Sync {
    fn called(
        &self,
        webhook: &str,
        plugin: &str,
        hook: &'static str,
        took: Duration,
        error: Option<&'static str>,
    );

    /// How long a call of `webhook`'s chain waited for a plugin thread.
    fn waited(&self, _webhook: &str, _took: Duration) {}
}

/// The hooks a component exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hooks {
    pub filter: bool,
    pub transform: bool,
    pub classify: bool,
}

/// A hook's answer, and the fuel it burned (`None` from a runtime made
/// [`Runtime::without_fuel`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Called<T> {
    pub value: T,
    pub fuel: Option<u64>,
}

/// The longest reason or message kept from a plugin.
const MAX_TEXT: usize = 1024;

/// One configured use of a component.
pub struct Plugin {
    name: Arc<str>,
    /// The webhook whose chain this is in; empty outside a chain.
    webhook: Arc<str>,
    compiled: Arc<Compiled>,
    engine: wasmtime::Engine,
    fuel: bool,
    config: String,
    limits: Limits,
    logs: Arc<LogBudget>,
    observer: Option<Arc<dyn CallObserver>>,
    /// Keeps the epoch advancing: without it, the wall-clock backstop (and, in a
    /// runtime without fuel, the budget) would never run out.
    _ticker: Arc<Ticker>,
    slots: Arc<Slots>,
    /// Idle instances that have run `init`, for the next calls.
    warm: Mutex<Vec<Warm>>,
    warmth: Arc<Warmth>,
}

/// An instance that has run `init`, with its store.
struct Warm {
    store: Store<HostState>,
    instance: Instance,
    /// Hook calls it has served.
    calls: u32,
    /// How much its memory had grown when its `init` returned.
    grown_at_start: usize,
    /// Its share of the process's warm budget, once it has been idle.
    kept: Option<Kept>,
}

/// Warm instances one plugin keeps idle: one per core is what concurrent
/// deliveries can use at once.
const WARM_PER_PLUGIN: usize = 2;

/// Calls after which an instance is retired for a fresh one, so that whatever
/// a plugin lets accumulate (a leak, a cache) is bounded.
const MAX_CALLS_PER_INSTANCE: u32 = 10_000;

/// How much an instance's linear memory may have grown since its `init` and
/// still be kept warm. Linear memory never shrinks: an instance kept after a call
/// that needed 400 MiB would hold them while idle. Past this, it is dropped
/// after the call, and its memory goes back to the pooling allocator, which
/// keeps only the first MiB of each memory resident; the next call makes a new
/// instance.
pub const MAX_WARM_GROWTH_BYTES: usize = 8 * 1024 * 1024;

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// Compiles (or finds) the component, checks the types of its exports, and runs
    /// its `init` once with `spec.config`: a config the plugin refuses fails the
    /// load, before any event is touched.
    pub fn load(runtime: &Runtime, spec: &PluginSpec) -> Result<Self, LoadError> {
        Self::load_in(runtime, "", spec)
    }

    /// [`Plugin::load`], for `webhook`'s chain: its calls are reported, and
    /// logged, with the webhook's id.
    pub fn load_in(runtime: &Runtime, webhook: &str, spec: &PluginSpec) -> Result<Self, LoadError> {
        let name = (spec.path.file_stem()).map_or_else(
            || spec.path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let plugin = Self {
            name: name.into(),
            webhook: webhook.into(),
            compiled: runtime.compile(&spec.path)?,
            engine: runtime.engine().clone(),
            fuel: runtime.fuel(),
            config: spec.config.to_string(),
            limits: spec.limits,
            logs: Arc::new(LogBudget::new()),
            observer: runtime.observer(),
            _ticker: runtime.ticker(),
            slots: runtime.slots(),
            warm: Mutex::default(),
            warmth: runtime.warmth(),
        };
        plugin.typecheck()?;
        plugin.call(|_, _| Ok(Ok(()))).map_err(LoadError::Init)?;
        Ok(plugin)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn webhook(&self) -> &str {
        &self.webhook
    }

    /// Checks the type of `init` and of every hook the component exports, in an
    /// instance of its own that never runs: exports are found by name when the
    /// component is compiled, and typed only when an instance has them.
    fn typecheck(&self) -> Result<(), LoadError> {
        let _slot = self.slots.take();
        let mut store = self.store().map_err(LoadError::Init)?;
        let instance = (self.compiled.pre)
            .instantiate(&mut store)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let wrong = |hook: &'static str| {
            move |e: wasmtime::Error| {
                LoadError::WrongType(format!(
                    "exports `{hook}` with the wrong type for switchyard:plugin@0.1.0: {e:#}"
                ))
            }
        };
        let compiled = &self.compiled;
        compiled
            .init
            .load(&mut store, &instance)
            .map_err(wrong("init"))?;
        if let Some(hook) = &compiled.filter {
            hook.load(&mut store, &instance).map_err(wrong("filter"))?;
        }
        if let Some(hook) = &compiled.transform {
            hook.load(&mut store, &instance)
                .map_err(wrong("transform"))?;
        }
        if let Some(hook) = &compiled.classify {
            hook.load(&mut store, &instance)
                .map_err(wrong("classify"))?;
        }
        Ok(())
    }

    /// Idle instances kept warm for the next calls.
    pub fn warm_instances(&self) -> usize {
        self.warm.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn hooks(&self) -> Hooks {
        Hooks {
            filter: self.compiled.filter.is_some(),
            transform: self.compiled.transform.is_some(),
            classify: self.compiled.classify.is_some(),
        }
    }

    /// `None` when the component exports no filter.
    pub fn filter(&self, event: &Event) -> Option<Result<Called<bool>, CallError>> {
        let hook = self.compiled.filter.as_ref()?;
        Some(self.observed("filter", |store, instance| {
            let guest = hook.load(&mut *store, instance)?;
            Ok(guest
                .call_filter(&mut *store, event)?
                .map_err(|e| CallError::Failed(cut_marked(e, MAX_TEXT))))
        }))
    }

    /// `None` when the component exports no transform.
    pub fn transform(&self, event: &Event) -> Option<Result<Called<Transformed>, CallError>> {
        let hook = self.compiled.transform.as_ref()?;
        let output_bytes = self.limits.output_bytes;
        Some(self.observed("transform", |store, instance| {
            let guest = hook.load(&mut *store, instance)?;
            let result = guest.call_transform(&mut *store, event)?;
            Ok(result
                .map_err(|e| CallError::Failed(cut_marked(e, MAX_TEXT)))
                .and_then(|t| output::checked_transform(t, output_bytes)))
        }))
    }

    /// `None` when the component exports no classifier.
    pub fn classify(
        &self,
        event: &Event,
        attempt: &Attempt,
    ) -> Option<Result<Called<Verdict>, CallError>> {
        let hook = self.compiled.classify.as_ref()?;
        Some(self.observed("classify", |store, instance| {
            let guest = hook.load(&mut *store, instance)?;
            let verdict = guest.call_classify(&mut *store, event, attempt)?;
            Ok(Ok(match verdict {
                Verdict::Permanent(reason) => Verdict::Permanent(cut_marked(reason, MAX_TEXT)),
                other => other,
            }))
        }))
    }

    /// [`Plugin::call`] of the hook `name`, told to the runtime's observer.
    fn observed<T>(
        &self,
        name: &'static str,
        hook: impl FnOnce(&mut Store<HostState>, &Instance) -> wasmtime::Result<Result<T, CallError>>,
    ) -> Result<Called<T>, CallError> {
        let started = Instant::now();
        let result = self.call(hook);
        if let Some(observer) = &self.observer {
            let error = result.as_ref().err().map(CallError::kind);
            observer.called(&self.webhook, &self.name, name, started.elapsed(), error);
        }
        result
    }

    /// Runs `hook` within this plugin's limits, in a warm instance if one is
    /// idle, else in a new one after its `init`. The instance is kept warm for
    /// the next call only if the call went well and left nothing behind.
    fn call<T>(
        &self,
        hook: impl FnOnce(&mut Store<HostState>, &Instance) -> wasmtime::Result<Result<T, CallError>>,
    ) -> Result<Called<T>, CallError> {
        // Declared first, so it is given back after the store (and its instance) is gone.
        let _slot = self.slots.take();
        let mut warm = match self.take_warm() {
            Some(warm) => warm,
            None => self.start()?,
        };
        let store = &mut warm.store;
        store.data().determinism().rewind();
        self.budget(store)?;
        let result = hook(&mut *store, &warm.instance);
        let value = self.settle(store, result)?;
        let fuel = self
            .fuel
            .then(|| (self.fuel_budget()).saturating_sub(store.get_fuel().unwrap_or(0)));
        warm.calls += 1;
        self.keep_warm(warm);
        Ok(Called { value, fuel })
    }

    /// A new instance, after its `init`.
    fn start(&self) -> Result<Warm, CallError> {
        let mut store = self.store()?;
        let result = self.init(&mut store);
        let instance = self.settle(&mut store, result)?;
        Ok(Warm {
            grown_at_start: store.data().limits.grown,
            store,
            instance,
            calls: 0,
            kept: None,
        })
    }

    /// A store for a new instance, within this plugin's limits.
    fn store(&self) -> Result<Store<HostState>, CallError> {
        let state = HostState::new(
            self.webhook.clone(),
            self.name.clone(),
            self.limits.memory_bytes,
            self.logs.clone(),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // `init` (and the instantiation before it) gets a budget of its own.
        self.budget(&mut store)?;
        Ok(store)
    }

    fn init(&self, store: &mut Store<HostState>) -> wasmtime::Result<Result<Instance, CallError>> {
        let instance = self.compiled.pre.instantiate(&mut *store)?;
        let init = self.compiled.init.load(&mut *store, &instance)?;
        Ok(match init.call_init(&mut *store, &self.config)? {
            Ok(()) => Ok(instance),
            Err(refusal) => Err(CallError::Init(cut_marked(refusal, MAX_TEXT))),
        })
    }

    /// Forwards what the plugin printed, and names the failure, if the call failed.
    fn settle<T>(
        &self,
        store: &mut Store<HostState>,
        result: wasmtime::Result<Result<T, CallError>>,
    ) -> Result<T, CallError> {
        store.data_mut().forward_output();
        match result {
            Ok(Ok(value)) => Ok(value),
            // A plugin that ran out of memory and said so politely still ran out of memory.
            Ok(Err(_)) if store.data().limits.denied => {
                Err(CallError::Memory(self.limits.memory_bytes))
            }
            Ok(Err(refusal)) => Err(refusal),
            Err(error) => Err(self.explain(store, &error)),
        }
    }

    /// Gives `store` the CPU budget of one call: its fuel, and the epoch deadline
    /// that backs it. Set when the call starts, so no wait before counts.
    fn budget(&self, store: &mut Store<HostState>) -> Result<(), CallError> {
        store.set_epoch_deadline(self.ticks());
        if self.fuel {
            store
                .set_fuel(self.fuel_budget())
                .map_err(|e| CallError::Trap(e.to_string()))?;
        }
        Ok(())
    }

    /// The fuel of one call's CPU budget.
    fn fuel_budget(&self) -> u64 {
        let fuel = self.limits.cpu.as_micros() * u128::from(FUEL_PER_MS) / 1000;
        u64::try_from(fuel).unwrap_or(u64::MAX)
    }

    /// The epoch deadline of one call: its budget with fuel as the measure, else
    /// the budget itself.
    fn ticks(&self) -> u64 {
        let wall = if self.fuel {
            self.limits.cpu.saturating_mul(BACKSTOP)
        } else {
            self.limits.cpu
        };
        let ticks = wall.as_millis().div_ceil(TICK.as_millis()) + 1;
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    fn take_warm(&self) -> Option<Warm> {
        self.warm.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    /// Keeps `warm` for a later call, unless it has served its share of calls,
    /// its memory grew past [`MAX_WARM_GROWTH_BYTES`], or this plugin, or the
    /// process, already keeps enough warm.
    fn keep_warm(&self, mut warm: Warm) {
        let state = warm.store.data();
        let grown = state.limits.grown.saturating_sub(warm.grown_at_start);
        if warm.calls >= MAX_CALLS_PER_INSTANCE
            || state.printed
            || state.limits.denied
            || grown > MAX_WARM_GROWTH_BYTES
        {
            return;
        }
        let mut idle = self.warm.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() >= WARM_PER_PLUGIN {
            return;
        }
        if warm.kept.is_none() {
            warm.kept = self.warmth.keep();
        }
        if warm.kept.is_some() {
            idle.push(warm);
        }
    }

    /// Names the bound a failed call ran into, if it ran into one.
    fn explain(&self, store: &Store<HostState>, error: &wasmtime::Error) -> CallError {
        if store.data().limits.denied {
            return CallError::Memory(self.limits.memory_bytes);
        }
        match error.downcast_ref::<Trap>() {
            Some(Trap::Interrupt | Trap::OutOfFuel) => CallError::Cpu(self.limits.cpu),
            _ => CallError::Trap(cut_marked(trap_message(self.name(), error), MAX_TEXT)),
        }
    }
}

/// A trap's message on one line: its causes, without the wasm backtrace that
/// wasmtime attaches as one of them, which is logged on its own at DEBUG (it is
/// many lines, and only the plugin's author can read it).
fn trap_message(plugin: &str, error: &wasmtime::Error) -> String {
    let backtrace = (error.downcast_ref::<wasmtime::WasmBacktrace>()).map(ToString::to_string);
    if let Some(backtrace) = &backtrace {
        tracing::debug!(plugin, %backtrace, "plugin trap backtrace");
    }
    let causes: Vec<String> = (error.chain())
        .map(|cause| cause.to_string())
        .filter(|text| Some(text) != backtrace.as_ref())
        .collect();
    if causes.is_empty() {
        error.root_cause().to_string()
    } else {
        causes.join(": ")
    }
}

/// The first `max` characters of `text`, all of it if shorter, with nothing to
/// show it was cut: for a log line, where the cut is the line's end.
fn cut_silently(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// `text` cut to `max` characters and marked with `…` where it was: for a
/// message a person reads as a whole, who should know it goes on.
fn cut_marked(mut text: String, max: usize) -> String {
    let kept = cut_silently(&text, max).len();
    if kept < text.len() {
        text.truncate(kept);
        text.push('…');
    }
    text
}
