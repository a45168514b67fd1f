//! Load and serve [tabforge](https://github.com/) models from Rust.
//!
//! Python trains, exports and stores a model as `model.onnx` + `manifest.json` in a
//! registry; this crate reads what Python wrote and runs it with the same ONNX Runtime
//! build (the `libonnxruntime.so` inside the onnxruntime wheel, or `ORT_DYLIB_PATH`):
//!
//! - [`Registry`] resolves `churn`, `churn:3` and `churn@production` like Python does;
//! - [`Model`] checks the sha256, encodes rows by the contract's rules ([`contract`]) and
//!   returns typed [`Prediction`]s;
//! - [`serve`] is an Axum router answering Open Inference Protocol V2 and KServe V1 with
//!   dynamic batching, to merge into your own `Router`.
//!
//! ```no_run
//! # fn main() -> tabforge::Result<()> {
//! let registry = tabforge::Registry::open("models")?;
//! let model = registry.load("churn@production")?;
//! let rows = vec![serde_json::json!({"tenure": 45, "plan": "fiber"})];
//! for prediction in model.predict(&rows)? {
//!     println!("{prediction:?}");
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod contract;
pub mod engine;
mod error;
pub mod manifest;
mod model;
pub mod outputs;
pub mod refs;
mod registry;
pub mod serve;
mod wire;

/// The Axum side: `tabforge::axum::router(models)` merges into your own `Router`.
pub mod axum {
    pub use crate::serve::{not_found, router, Models, ServeConfig};
}

pub use contract::Feed;
pub use engine::Options;
pub use error::{Error, Result};
pub use manifest::{Label, Manifest, Task};
pub use model::Model;
pub use outputs::{Outputs, Prediction};
pub use refs::ModelRef;
pub use registry::Registry;
