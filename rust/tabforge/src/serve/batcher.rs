//! Dynamic batching by rows, one queue per model version (the text-embeddings-inference
//! pattern: a queue task, a channel, a oneshot per request).
//!
//! Requests already validated wait in the queue; the queue task takes as many as fit in
//! `max_rows` (a larger request runs alone), waits up to `max_delay` for a fuller batch
//! if asked to, and runs the batch on a blocking thread as soon as a session is free.
//! While every session is busy, arrivals pile up and the next batch is larger. Each
//! request gets its own rows back, in order. A batch that fails is retried request by
//! request, so a bad request never fails its batch-mates.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, Semaphore};

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

/// The queue of one model version.
#[derive(Debug, Clone)]
pub struct Batcher {
    queue: mpsc::Sender<Job>,
}

impl Batcher {
    /// Start the queue task of `model` (inside a tokio runtime).
    pub fn start(
        model: Arc<Model>,
        policy: BatchPolicy,
        slots: usize,
        metrics: Arc<Metrics>,
    ) -> Batcher {
        let (queue, jobs) = mpsc::channel(policy.max_queue.max(1));
        let runner = Runner {
            model,
            policy,
            slots: Arc::new(Semaphore::new(slots.max(1))),
            metrics,
        };
        tokio::spawn(runner.serve(jobs));
        Batcher { queue }
    }

    /// Queue a feed and wait for its outputs.
    pub async fn infer(&self, feed: Feed) -> Result<Outputs> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .try_send(Job {
                feed,
                queued: Instant::now(),
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Error::NotReady(
                    "the server is overloaded: too many requests waiting; retry later".into(),
                ),
                mpsc::error::TrySendError::Closed(_) => {
                    Error::NotReady("this model version was unloaded".into())
                }
            })?;
        answer
            .await
            .map_err(|_| Error::Runtime("the inference task ended without an answer".into()))?
    }
}

struct Runner {
    model: Arc<Model>,
    policy: BatchPolicy,
    slots: Arc<Semaphore>,
    metrics: Arc<Metrics>,
}

impl Runner {
    async fn serve(self, mut jobs: mpsc::Receiver<Job>) {
        let mut carried: Option<Job> = None;
        loop {
            let first = match carried.take() {
                Some(job) => job,
                None => match jobs.recv().await {
                    Some(job) => job,
                    None => return,
                },
            };
            // A free session first: while none is, arrivals wait in the queue and join.
            let Ok(permit) = self.slots.clone().acquire_owned().await else {
                return;
            };
            let mut batch = vec![first];
            carried = self.gather(&mut jobs, &mut batch).await;
            let model = self.model.clone();
            let metrics = self.metrics.clone();
            tokio::task::spawn_blocking(move || {
                run_batch(&model, batch, &metrics);
                drop(permit);
            });
        }
    }

    /// Add queued jobs while they fit; the first one that does not is returned.
    async fn gather(&self, jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>) -> Option<Job> {
        let limit = self.policy.max_rows;
        if limit == 0 {
            return None;
        }
        let mut rows: usize = batch.iter().map(|j| j.feed.rows).sum();
        let deadline = Instant::now() + self.policy.max_delay;
        while rows < limit {
            let next = match jobs.try_recv() {
                Ok(job) => job,
                Err(_) if self.policy.max_delay.is_zero() => return None,
                Err(_) => match tokio::time::timeout_at(deadline.into(), jobs.recv()).await {
                    Ok(Some(job)) => job,
                    _ => return None,
                },
            };
            if rows + next.feed.rows > limit {
                return Some(next);
            }
            rows += next.feed.rows;
            batch.push(next);
        }
        None
    }
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
