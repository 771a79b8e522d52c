//! The threads plugin calls run on: one per core, shared by every webhook in
//! turn.
//!
//! Plugin calls are synchronous and CPU-bound, so running more of them at once
//! than there are cores only makes each one slower. Tokio's blocking pool (up to
//! 512 threads) would run every call the deliveries in flight ask for at once,
//! and one webhook flooded with events would take the machine from all others.
//! Here a fixed set of threads takes calls from per-webhook queues, one webhook
//! after the other (round robin), so a webhook with a backlog gets its share of
//! the threads and no more while others have calls waiting, and all of them when
//! it is alone. A call waits in its queue without holding a thread, an instance
//! or any of its CPU budget, which starts only once the call runs; the wait is
//! reported to the observer, for the `plugin_pool_wait_seconds` histogram.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::{CallObserver, LoadError};

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads running jobs from per-webhook queues in turn.
pub struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    queued: Condvar,
}

#[derive(Default)]
struct State {
    /// Jobs waiting, by webhook; a webhook with none has no entry.
    queues: HashMap<Arc<str>, VecDeque<Job>>,
    /// The webhooks with jobs waiting, in the order their next job runs.
    turns: VecDeque<Arc<str>>,
    stopping: bool,
}

impl Pool {
    /// A pool of `threads` threads (at least one).
    pub fn new(threads: usize) -> Result<Self, LoadError> {
        let threads = threads.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            queued: Condvar::new(),
        });
        for n in 0..threads {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("plugin-{n}"))
                .spawn(move || shared.work())
                .map_err(|e| LoadError::Engine(format!("cannot start a plugin thread: {e}")))?;
        }
        Ok(Self { shared })
    }

    /// One thread per core the process may use.
    pub fn per_core() -> Result<Self, LoadError> {
        Self::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
    }

    /// Queues `job` at once in `webhook`'s turn; the future is what it returns (or
    /// resumes its panic). The time it waited for a thread goes to `observer`.
    pub fn run<R, F>(
        &self,
        webhook: &Arc<str>,
        observer: Option<Arc<dyn CallObserver>>,
        job: F,
    ) -> impl Future<Output = R> + use<R, F>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let (done, result) = tokio::sync::oneshot::channel();
        let queued = Instant::now();
        let name = webhook.clone();
        self.submit(
            webhook,
            Box::new(move || {
                if let Some(observer) = &observer {
                    observer.waited(&name, queued.elapsed());
                }
                let _ = done.send(std::panic::catch_unwind(AssertUnwindSafe(job)));
            }),
        );
        async move {
            match result.await {
                Ok(Ok(value)) => value,
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                // The threads drain the queues before they stop, and catch panics:
                // every job sends its result.
                Err(_) => unreachable!("a plugin pool job ended without a result"),
            }
        }
    }

    fn submit(&self, webhook: &Arc<str>, job: Job) {
        let mut state = self.shared.lock();
        let queue = state.queues.entry(webhook.clone()).or_default();
        queue.push_back(job);
        if queue.len() == 1 {
            state.turns.push_back(webhook.clone());
        }
        drop(state);
        self.shared.queued.notify_one();
    }
}

impl Drop for Pool {
    /// The threads finish the jobs queued, then end; nothing waits for them here.
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.queued.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn work(&self) {
        while let Some(job) = self.next() {
            job();
        }
    }

    /// The next webhook's next job, waiting for one; `None` once stopping and idle.
    fn next(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(webhook) = state.turns.pop_front() {
                let queue = state.queues.get_mut(&webhook)?;
                let job = queue.pop_front();
                if queue.is_empty() {
                    state.queues.remove(&webhook);
                } else {
                    state.turns.push_back(webhook);
                }
                if job.is_some() {
                    return job;
                }
                continue;
            }
            if state.stopping {
                return None;
            }
            state = self.queued.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the one thread busy, jobs of two webhooks queued as a burst of one,
    /// then two of the other, run alternately, not in the order they came.
    #[tokio::test]
    async fn webhooks_take_turns() {
        let pool = Pool::new(1).unwrap();
        let (hold, release) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let a: Arc<str> = "a".into();
        let b: Arc<str> = "b".into();
        let blocker = pool.run(&a, None, move || {
            started.send(()).unwrap();
            release.recv().unwrap();
        });
        running.recv().unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let jobs: Vec<_> = [&a, &a, &a, &b, &b]
            .into_iter()
            .map(|webhook| {
                let (order, name) = (order.clone(), webhook.to_string());
                pool.run(webhook, None, move || order.lock().unwrap().push(name))
            })
            .collect();
        hold.send(()).unwrap();
        blocker.await;
        for job in jobs {
            job.await;
        }
        assert_eq!(*order.lock().unwrap(), ["a", "b", "a", "b", "a"]);
    }
}
