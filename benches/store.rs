//! A durable commit of a batch of events, by batch size: each event 1 KiB with
//! one webhook, so one commit writes each event, its dedupe entry, its delivery
//! and its due entry, then fsyncs. One `Queue::ingest` call at a time, so every
//! call is a commit of its own, the batch the writer would group under load.
//! Criterion's time is per commit; its throughput, events per second.
//!
//! The data file lives under cargo's target dir, on the project's disk: `/tmp`
//! can be a tmpfs, where an fsync costs nothing.
//!
//! `cargo bench --bench store`

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use switchyard::metrics::Metrics;
use switchyard::model::{Clock, Ingested, NewEvent};
use switchyard::store::redb::RedbStore;
use switchyard::store::{Maintain, Queue};

const BATCH_SIZES: [usize; 4] = [1, 16, 128, 1024];
const DEDUPE_WINDOW_MS: u64 = 24 * 60 * 60 * 1000;

/// Makes batches of new events, each with an id never used before.
struct Events {
    sender: Arc<str>,
    webhooks: Vec<Arc<str>>,
    payload: Vec<u8>,
    made: u64,
}

impl Events {
    fn new() -> Self {
        Self {
            sender: "shop".into(),
            webhooks: vec!["orders".into()],
            payload: common::event_body("order-1001"),
            made: 0,
        }
    }

    fn batch(&mut self, size: usize) -> Vec<NewEvent> {
        (0..size)
            .map(|_| {
                self.made += 1;
                NewEvent {
                    sender: self.sender.clone(),
                    id: format!("order-{:012}", self.made),
                    event_type: "order.paid".into(),
                    received_at_ms: Clock::system().now_ms(),
                    payload: self.payload.clone(),
                    webhooks: self.webhooks.clone(),
                    filtered_out: Vec::new(),
                    trace: None,
                }
            })
            .collect()
    }
}

fn store_commit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("store_commit");
    // Commits take milliseconds: fewer samples, each of a few commits, and a
    // little longer to take them.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    for size in BATCH_SIZES {
        // A fresh file for each size, deleted after it.
        let dir = tempfile::Builder::new()
            .prefix("store-bench")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a temp dir");
        let store = RedbStore::open(dir.path(), Arc::new(Metrics::new()), Clock::system())
            .expect("the store opens");
        let mut events = Events::new();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter_custom(|commits| {
                let mut took = Duration::ZERO;
                for _ in 0..commits {
                    let batch = events.batch(size);
                    let started = Instant::now();
                    let ingested = runtime.block_on(store.ingest(batch, DEDUPE_WINDOW_MS));
                    took += started.elapsed();
                    let ingested = ingested.expect("the batch commits");
                    assert!(ingested.iter().all(|i| *i == Ingested::New));
                }
                took
            })
        });
        runtime.block_on(store.close()).expect("the store closes");
    }
    group.finish();
}

criterion_group!(name = benches; config = common::criterion(); targets = store_commit);
criterion_main!(benches);
