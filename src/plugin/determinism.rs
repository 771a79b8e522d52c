//! The clocks and randomness a plugin sees: fixed, virtual and seeded, so that a
//! plugin's answer is a function of its input and config.
//!
//! Shadow tests and replays compare a plugin's answers across runs, and a plugin
//! whose answer depends on the time or on random bytes would differ for no reason.
//! So the sandbox gives:
//!
//! - a wall clock stopped at the unix epoch ([`WALL_CLOCK`]): the time of an event
//!   is its `received-at-ms`;
//! - a virtual monotonic clock that starts at zero on every call and advances only
//!   when the plugin sleeps: a sleep returns at once, its duration added to the
//!   clock, so a plugin cannot block the thread it runs on (nor hold a pool slot
//!   while its CPU budget, which counts work, stands still);
//! - random bytes from a generator seeded with [`SEED`] at the start of every call,
//!   so a call gets the same bytes whether its instance is warm or new.
//!
//! WASI's own `wasi:clocks/monotonic-clock` sleeps on the host's real clock, so
//! [`add_to_linker`] shadows that interface with [`Host`](monotonic_clock::Host) of
//! [`HostState`]; wall clock and randomness are plain `WasiCtxBuilder` settings.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use wasmtime::component::{HasSelf, Linker, Resource};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi::clocks::HostWallClock;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, Pollable};

use super::host::HostState;

/// What the wall clock always says: the unix epoch.
pub const WALL_CLOCK: Duration = Duration::ZERO;

/// The seed of every call's random bytes (`wasi:random/random` and `insecure`).
pub const SEED: u64 = 0x5317_c4ad;

/// An instance's virtual time and random source, rewound before each call.
#[derive(Clone)]
pub struct Determinism {
    /// Nanoseconds slept in this call.
    now: Arc<AtomicU64>,
    random: Arc<Mutex<StdRng>>,
}

impl Determinism {
    pub fn new() -> Self {
        Self {
            now: Arc::default(),
            random: Arc::new(Mutex::new(StdRng::seed_from_u64(SEED))),
        }
    }

    /// Gives `builder` the fixed wall clock and the seeded random sources.
    pub fn configure(&self, builder: &mut WasiCtxBuilder) {
        builder
            .wall_clock(FixedClock)
            .secure_random(Seeded(self.random.clone()))
            .insecure_random(Seeded(self.random.clone()))
            .insecure_random_seed(u128::from(SEED));
    }

    /// Back to time zero and the first random byte, for the next call.
    pub fn rewind(&self) {
        self.now.store(0, Ordering::Relaxed);
        *self.random.lock().unwrap_or_else(|e| e.into_inner()) = StdRng::seed_from_u64(SEED);
    }

    fn now(&self) -> u64 {
        self.now.load(Ordering::Relaxed)
    }

    /// A sleep of `nanos`: the clock moves on, the thread does not wait.
    fn sleep(&self, nanos: u64) {
        let _ = (self.now).fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
            Some(now.saturating_add(nanos))
        });
    }
}

/// Shadows WASI's monotonic clock (added by `wasmtime_wasi::p2::add_to_linker_sync`
/// just before) with the virtual one.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let added =
        monotonic_clock::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state);
    linker.allow_shadowing(false);
    added
}

impl monotonic_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        Ok(self.determinism().now())
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(1)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let now = self.determinism().now();
        self.determinism().sleep(when.saturating_sub(now));
        self.ready()
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.determinism().sleep(duration);
        self.ready()
    }
}

impl HostState {
    /// A pollable that is ready at once: the sleep it stands for has happened.
    fn ready(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let table = self.table();
        let ready = table.push(Ready)?;
        wasmtime_wasi::p2::subscribe(table, ready)
    }
}

/// The end of a virtual sleep.
struct Ready;

impl Pollable for Ready {
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(std::future::ready(()))
    }
}

struct FixedClock;

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        WALL_CLOCK
    }
}

/// A handle on an instance's seeded generator, which [`Determinism::rewind`] resets.
struct Seeded(Arc<Mutex<StdRng>>);

impl rand::TryRng for Seeded {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(rand::Rng::next_u32(&mut *self.lock()))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(rand::Rng::next_u64(&mut *self.lock()))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        rand::Rng::fill_bytes(&mut *self.lock(), dst);
        Ok(())
    }
}

impl Seeded {
    fn lock(&self) -> std::sync::MutexGuard<'_, StdRng> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
