//! Signing one delivery of a 1 KiB body, in each scheme: the HMAC-SHA256 and
//! the headers an attempt sends.
//!
//! `cargo bench --bench signing`

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchyard::config::Secret;
use switchyard::signing::{Message, Scheme, Signer};

fn signing(c: &mut Criterion) {
    let body = common::event_body("order-1001");
    let message = Message {
        id: "01936b2e-7c4a-7d3e-9f1a-2b3c4d5e6f70",
        event_type: "order.paid",
        body: &body,
        now_ms: 1_764_000_000_000,
    };
    let schemes = [
        (Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        (Scheme::Hex, "a-hex-scheme-secret-of-some-length"),
    ];
    let mut group = c.benchmark_group("signing");
    group.throughput(Throughput::Bytes(body.len() as u64));
    for (scheme, secret) in schemes {
        let signer = Signer::new(scheme, &[Secret::new(secret)]).expect("a valid secret");
        let name = format!("{scheme:?}").to_lowercase();
        group.bench_function(BenchmarkId::new(name, "1KiB"), |b| {
            b.iter(|| signer.sign(black_box(&message)).expect("signs"))
        });
    }
    group.finish();
}

criterion_group!(name = benches; config = common::criterion(); targets = signing);
criterion_main!(benches);
