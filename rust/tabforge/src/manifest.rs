//! `manifest.json`: the contract Python writes beside every `model.onnx`.
//!
//! Only the fields a runtime needs are typed; everything else (metrics, parity report,
//! profile, config) stays reachable as JSON in [`Manifest::rest`].

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The manifest format this crate reads; Python bumps it on any incompatible change.
pub const MANIFEST_VERSION: i64 = 1;
/// Name of the numeric input tensor (float32 [N, k]).
pub const NUMERIC_INPUT: &str = "numeric";
/// Name of the categorical input tensor (string [N, m]).
pub const CATEGORICAL_INPUT: &str = "categorical";

/// What a model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// A class label and one probability per class.
    Classification,
    /// One number per row.
    Regression,
    /// A cluster number and one score per cluster.
    Clustering,
}

impl fmt::Display for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
            Task::Clustering => "clustering",
        })
    }
}

/// A class label as training saw it: text, or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Label {
    /// An integer class (or a cluster number).
    Int(i64),
    /// A text class.
    Text(String),
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Int(v) => write!(f, "{v}"),
            Label::Text(v) => f.write_str(v),
        }
    }
}

/// One tensor as the manifest declares it; `-1` marks a variable dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    /// Tensor name in the graph.
    pub name: String,
    /// Open Inference Protocol datatype (`FP32`, `INT64`, `BYTES`, ...).
    pub datatype: String,
    /// Shape, `-1` for a variable dimension.
    pub shape: Vec<i64>,
}

/// The input half: which column sits at which position of which tensor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inputs {
    /// Numeric columns, in their order in the `numeric` tensor.
    pub numeric: Vec<String>,
    /// Categorical columns, in their order in the `categorical` tensor.
    pub categorical: Vec<String>,
    /// Categories seen in training, per categorical column.
    pub categories: BTreeMap<String, Vec<String>>,
    /// The input tensors, as the graph takes them.
    pub tensors: Vec<TensorSpec>,
    /// How a missing categorical value is written in the string tensor.
    #[serde(default)]
    pub missing_text: String,
}

/// The output half: the graph's tensors and the class labels in probability order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outputs {
    /// Output tensors, in graph order.
    pub tensors: Vec<TensorSpec>,
    /// Class labels in probability-column order (classification).
    #[serde(default)]
    pub classes: Option<Vec<Label>>,
    /// What clustering scores mean (distances or probabilities).
    #[serde(default)]
    pub scores: Option<String>,
}

/// Which estimator was trained.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Estimator {
    /// The catalog name (`lightgbm`, `logistic`, ...).
    pub name: String,
    /// The library class (`LGBMClassifier`, ...).
    pub class_name: String,
}

/// A stored version's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format version; only [`MANIFEST_VERSION`] is read.
    pub manifest_version: i64,
    /// Model name.
    pub name: String,
    /// Version number in the registry.
    pub version: u64,
    /// When training stored it (ISO 8601).
    pub created_at: String,
    /// What it predicts.
    pub task: Task,
    /// The estimator trained.
    pub estimator: Estimator,
    /// Input columns and tensors.
    pub inputs: Inputs,
    /// Output tensors and classes.
    pub outputs: Outputs,
    /// sha256 of `model.onnx`, checked on every load.
    pub model_sha256: String,
    /// Every other field, as JSON (metrics, parity, data, config, versions, reference).
    #[serde(flatten)]
    pub rest: serde_json::Map<String, serde_json::Value>,
}

impl Manifest {
    /// Parse a manifest, refusing formats this crate does not know.
    pub fn from_json(bytes: &[u8], shown_as: &str) -> Result<Self> {
        let probe: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| Error::Registry(format!("{shown_as} is unreadable: {e}")))?;
        let found = probe
            .get("manifest_version")
            .and_then(serde_json::Value::as_i64);
        if found != Some(MANIFEST_VERSION) {
            let seen = probe
                .get("manifest_version")
                .map_or("none".to_string(), |v| v.to_string());
            return Err(Error::Registry(format!(
                "{shown_as} has manifest_version {seen}; this tabforge crate reads version \
                 {MANIFEST_VERSION} (upgrade the crate to read newer models)"
            )));
        }
        serde_json::from_value(probe)
            .map_err(|e| Error::Registry(format!("{shown_as} is unreadable: {e}")))
    }

    /// The class labels (empty unless classification).
    pub fn classes(&self) -> &[Label] {
        self.outputs.classes.as_deref().unwrap_or(&[])
    }

    /// The datatype the manifest declares for an output tensor.
    pub fn output_datatype(&self, name: &str) -> Option<&str> {
        self.outputs
            .tensors
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.datatype.as_str())
    }
}
