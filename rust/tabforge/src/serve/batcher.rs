//! Dynamic batching by rows, one queue per model version, served by inference threads
//! (the text-embeddings-inference pattern: a queue, inference on its own threads, a
//! oneshot per request).
//!
//! Requests already validated wait in the queue. Each version has one inference thread
//! per session; a free thread takes as many queued requests as fit in `max_rows` (a larger
//! request runs alone), waits up to `max_delay` for a fuller batch if asked to, runs the
//! batch and answers each request with its own rows, in order. While every thread is
//! busy, arrivals pile up and the next batch is larger. A batch that fails is retried
//! request by request, so a bad request never fails its batch-mates. The async executor
//! never runs inference: a request costs it one channel send and one wake-up.
//!
//! Measured against the first design (a queue task on the executor handing each batch to
//! `spawn_blocking`): one thread hand-off less per batch (benchmarks/RESULTS.md, "Rust
//! engine").

use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::contract::Feed;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::outputs::Outputs;
use crate::serve::metrics::Metrics;

/// How a version batches.
#[derive(Debug, Clone, Copy)]
pub struct BatchPolicy {
    /// Rows per call; 0 turns batching off (each request runs alone).
    pub max_rows: usize,
    /// How long a batch that is not full waits for more rows.
    pub max_delay: Duration,
    /// Requests that may wait before new ones are refused with 503.
    pub max_queue: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_rows: 256,
            max_delay: Duration::ZERO,
            max_queue: 4096,
        }
    }
}

struct Job {
    feed: Feed,
    queued: Instant,
    reply: oneshot::Sender<Result<Outputs>>,
}

/// The queue of one model version; its threads end when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Batcher {
    queue: SyncSender<Job>,
}

type Jobs = Arc<Mutex<Receiver<Job>>>;

impl Batcher {
    /// Start `threads` inference threads for `model` (at most one call each at a time).
    pub fn start(
        model: Arc<Model>,
        policy: BatchPolicy,
        threads: usize,
        metrics: Arc<Metrics>,
    ) -> Result<Batcher> {
        let (queue, jobs) = sync_channel(policy.max_queue.max(1));
        let jobs: Jobs = Arc::new(Mutex::new(jobs));
        let label = format!("{}:{}", model.manifest().name, model.version());
        for i in 0..threads.max(1) {
            let (model, jobs, metrics) = (model.clone(), jobs.clone(), metrics.clone());
            std::thread::Builder::new()
                .name(format!("infer {label} {i}"))
                .spawn(move || serve(&model, &jobs, policy, &metrics))
                .map_err(|e| {
                    Error::Runtime(format!("cannot start an inference thread for {label}: {e}"))
                })?;
        }
        Ok(Batcher { queue })
    }

    /// Queue a feed and wait for its outputs.
    pub async fn infer(&self, feed: Feed) -> Result<Outputs> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            feed,
            queued: Instant::now(),
            reply,
        };
        self.queue.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => Error::NotReady(
                "the server is overloaded: too many requests waiting; retry later".into(),
            ),
            TrySendError::Disconnected(_) => {
                Error::NotReady("this model version was unloaded".into())
            }
        })?;
        answer
            .await
            .map_err(|_| Error::Runtime("the inference thread ended without an answer".into()))?
    }
}

/// One inference thread: take a batch, run it, answer; until the queue is gone.
fn serve(model: &Model, jobs: &Jobs, policy: BatchPolicy, metrics: &Metrics) {
    loop {
        let (batch, overflow) = {
            let Ok(queue) = jobs.lock() else { return };
            let Ok(first) = queue.recv() else { return };
            gather(&queue, first, policy)
        };
        run_batch(model, batch, metrics);
        if let Some(job) = overflow {
            run_batch(model, vec![job], metrics);
        }
    }
}

/// The first job and the queued ones that fit with it (waiting up to `max_delay`), and the
/// one taken that did not fit, if any: it runs next, alone.
fn gather(queue: &Receiver<Job>, first: Job, policy: BatchPolicy) -> (Vec<Job>, Option<Job>) {
    let mut batch = vec![first];
    let limit = policy.max_rows;
    let mut rows = batch[0].feed.rows;
    let deadline = Instant::now() + policy.max_delay;
    while limit > 0 && rows < limit {
        let next = match queue.try_recv() {
            Ok(job) => job,
            Err(_) if policy.max_delay.is_zero() => break,
            Err(_) => {
                match queue.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                    Ok(job) => job,
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        if rows + next.feed.rows > limit {
            return (batch, Some(next));
        }
        rows += next.feed.rows;
        batch.push(next);
    }
    (batch, None)
}

fn run_batch(model: &Model, batch: Vec<Job>, metrics: &Metrics) {
    let label = (model.manifest().name.as_str(), model.version());
    if batch.len() == 1 {
        let mut batch = batch;
        let Some(job) = batch.pop() else { return };
        let started = Instant::now();
        let result = model.run(&job.feed);
        let waited = started.duration_since(job.queued);
        metrics.observe_batch(label, job.feed.rows, 1, waited, started.elapsed());
        let _ = job.reply.send(result);
        return;
    }
    let mut feed = Feed::default();
    for job in &batch {
        feed.extend(&job.feed);
    }
    let started = Instant::now();
    let result = model.run(&feed);
    let waited = batch
        .first()
        .map_or(Duration::ZERO, |j| started.duration_since(j.queued));
    metrics.observe_batch(label, feed.rows, batch.len(), waited, started.elapsed());
    match result {
        Ok(outputs) => {
            let mut from = 0;
            for job in batch {
                let to = from + job.feed.rows;
                let _ = job.reply.send(Ok(outputs.rows_between(from, to)));
                from = to;
            }
        }
        // One bad request must not fail the others: each runs alone and gets its own answer.
        Err(_) => {
            for job in batch {
                let _ = job.reply.send(model.run(&job.feed));
            }
        }
    }
}
