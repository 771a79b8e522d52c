//! The one thread that answers claims, and why it batches them (group read).
//!
//! A claim is a read: a page of one webhook's due entries and what they point
//! to, in one snapshot. A read must not run on an async worker (opening a
//! snapshot waits while a commit writes the file's header), and run as a job of
//! tokio's blocking pool, each claim was a hand-off of its own: a pool thread
//! woken, a snapshot opened, the thread parked again. When one event fans out to
//! a hundred webhooks, a hundred lanes claim at once, and those hand-offs (futex
//! waits and wakes, context switches) cost more than the reads: a quarter of the
//! router's CPU in `switchyard bench fanout`.
//!
//! So lanes queue their claims for this thread, as writes queue for the writer:
//! it takes whatever queued while it was busy, answers all of it from one
//! snapshot opened after the last of them was asked, and goes back to waiting.
//! Under load it stays awake; at idle a lone claim is answered at once.
//!
//! The snapshot is opened after every claim in the batch was asked, so each
//! claim sees every commit its lane heard of before asking: what the lease
//! protocol of [`crate::store::Queue::claim`] needs.

use std::sync::{Arc, Weak};

use redb::{ReadTransaction, ReadableDatabase};
use tokio::sync::{mpsc, oneshot};

use super::error::Error;
use super::handle::Handle;
use super::leases::Leases;
use super::read;
use crate::model::DeliveryId;
use crate::store::Claim;

/// How many claims one snapshot answers at most: a lane per webhook, so a
/// batch is at most one claim per webhook anyway; this bounds the wait of the last.
const MAX_BATCH: usize = 1024;

/// A lane's claim, as the store's [`crate::store::Queue::claim`] was asked it.
pub(super) struct Request {
    pub webhook: String,
    pub now_ms: u64,
    pub limit: usize,
    /// When the leases it takes run out, unix ms.
    pub until_ms: u64,
    pub reply: oneshot::Sender<Result<Claim, Error>>,
}

/// Starts the thread, detached: it holds the database only while it answers
/// a batch (`db` is weak), so that dropping the store lets the file go at
/// once, and it stops when every sender is gone.
pub(super) fn spawn(
    db: Weak<Handle>,
    leases: Arc<Leases>,
    rx: mpsc::Receiver<Request>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("store-claimer".into())
        .spawn(move || run(&db, &leases, rx))
        .map(drop)
}

fn run(db: &Weak<Handle>, leases: &Leases, mut rx: mpsc::Receiver<Request>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while super::next_batch(&mut rx, &mut batch, MAX_BATCH) {
        let Some(handle) = db.upgrade() else {
            return;
        };
        let snapshot = handle.get().and_then(|db| Ok(db.begin_read()?));
        for request in batch.drain(..) {
            let claimed = match &snapshot {
                Ok(txn) => claim(txn, leases, &request),
                Err(e) => Err(e.clone()),
            };
            // The lane may have stopped meanwhile; its leases run out by themselves.
            let _ = request.reply.send(claimed);
        }
    }
}

/// One claim, on `txn`: leases the oldest due entries no live lease holds, and
/// loads what each points to.
fn claim(txn: &ReadTransaction, leases: &Leases, request: &Request) -> Result<Claim, Error> {
    let Request {
        webhook,
        now_ms,
        limit,
        until_ms,
        ..
    } = request;
    // Leased entries may be the oldest: read past as many as there are.
    let want = limit.saturating_add(leases.held(webhook));
    let (page, next_at_ms) = read::due(txn, webhook, *now_ms, want)?;
    let due = leases.take(webhook, page, *limit, *now_ms, *until_ms);
    let next_at_ms = if due.len() < *limit { next_at_ms } else { None };
    let taken: Vec<DeliveryId> = due.iter().map(|due| due.delivery).collect();
    match read::loaded(txn, due) {
        Ok(leased) => Ok(Claim { leased, next_at_ms }),
        Err(e) => {
            // Leased for nothing: claimable again at once, not when they run out.
            (taken.into_iter()).for_each(|id| leases.release(webhook, id));
            Err(e)
        }
    }
}
