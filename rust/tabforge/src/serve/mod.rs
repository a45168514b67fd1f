//! Serving: the models a server holds, dynamic batching, metrics and the Axum router.

use std::collections::BTreeMap;

pub mod batcher;
mod http;
pub mod metrics;
pub mod models;
mod router;
pub mod served;

pub use batcher::BatchPolicy;
pub use models::{Models, Served};
pub use router::{not_found, router};

use crate::engine::Options;

/// How models are served; the defaults are the Python server's.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Models to serve from the registry; empty: all.
    pub models: Vec<String>,
    /// Rows per request (413 above).
    pub max_rows: usize,
    /// Request body in bytes (413 above).
    pub max_body_bytes: usize,
    /// Batching for every model.
    pub batch: BatchPolicy,
    /// Batching for one model, by name.
    pub model_batching: BTreeMap<String, BatchPolicy>,
    /// Sessions and threads per version.
    pub options: Options,
    /// Keys required on model and inference endpoints; empty: open.
    pub api_keys: Vec<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            models: Vec::new(),
            max_rows: 100_000,
            max_body_bytes: 64 << 20,
            batch: BatchPolicy::default(),
            model_batching: BTreeMap::new(),
            options: Options::default(),
            api_keys: Vec::new(),
        }
    }
}
