//! What a model returns: raw output tensors in manifest order, and typed predictions.

use serde::Serialize;

use crate::error::Error;
use crate::manifest::{Label, Manifest, Task};

/// The elements of one output tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// FP32.
    F32(Vec<f32>),
    /// INT64.
    I64(Vec<i64>),
    /// BYTES, as UTF-8 text.
    Text(Vec<String>),
}

impl TensorData {
    fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I64(v) => v.len(),
            TensorData::Text(v) => v.len(),
        }
    }

    fn slice(&self, from: usize, to: usize) -> TensorData {
        match self {
            TensorData::F32(v) => TensorData::F32(v[from..to].to_vec()),
            TensorData::I64(v) => TensorData::I64(v[from..to].to_vec()),
            TensorData::Text(v) => TensorData::Text(v[from..to].to_vec()),
        }
    }
}

/// One output tensor: name, shape (rows first) and elements, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor {
    /// Tensor name (`label`, `probabilities`, `prediction`, `scores`).
    pub name: String,
    /// Shape; the first dimension is the rows.
    pub shape: Vec<usize>,
    /// Elements.
    pub data: TensorData,
}

impl OutputTensor {
    fn width(&self) -> usize {
        self.shape.iter().skip(1).product()
    }
}

/// A run's outputs, in the manifest's order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outputs {
    /// Rows predicted.
    pub rows: usize,
    /// The tensors.
    pub tensors: Vec<OutputTensor>,
}

/// One row's prediction, typed by task.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Prediction {
    /// Classification: the label and `(class, probability)` in class order.
    Class {
        /// The predicted class.
        label: Label,
        /// Probability per class, in the manifest's class order (as JSON: `{class: p}`).
        #[serde(serialize_with = "by_class")]
        probabilities: Vec<(Label, f32)>,
    },
    /// Regression.
    Value {
        /// The predicted number.
        prediction: f32,
    },
    /// Clustering: the cluster and its scores (distances or memberships).
    Cluster {
        /// The cluster number.
        label: i64,
        /// One score per cluster.
        scores: Vec<f32>,
    },
}

fn by_class<S: serde::Serializer>(pairs: &[(Label, f32)], out: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = out.serialize_map(Some(pairs.len()))?;
    for (label, p) in pairs {
        map.serialize_entry(&label.to_string(), &f64::from(*p))?;
    }
    map.end()
}

impl Outputs {
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&OutputTensor> {
        self.tensors.iter().find(|t| t.name == name)
    }

    fn f32s(&self, name: &str) -> crate::Result<(&[f32], usize)> {
        match self.get(name) {
            Some(
                t @ OutputTensor {
                    data: TensorData::F32(v),
                    ..
                },
            ) => Ok((v, t.width())),
            _ => Err(Error::Runtime(format!(
                "the model returned no float output {name:?}"
            ))),
        }
    }

    /// Rows `from..to`, as a run of just those rows would have returned them.
    pub fn rows_between(&self, from: usize, to: usize) -> Outputs {
        let tensors = self
            .tensors
            .iter()
            .map(|t| {
                let w = t.width();
                let mut shape = t.shape.clone();
                shape[0] = to - from;
                OutputTensor {
                    name: t.name.clone(),
                    shape,
                    data: t.data.slice(from * w, to * w),
                }
            })
            .collect();
        Outputs {
            rows: to - from,
            tensors,
        }
    }

    /// Typed predictions, one per row.
    pub fn predictions(&self, manifest: &Manifest) -> crate::Result<Vec<Prediction>> {
        match manifest.task {
            Task::Classification => {
                let (proba, width) = self.f32s("probabilities")?;
                let classes = manifest.classes();
                let labels = self.labels()?;
                Ok(labels
                    .into_iter()
                    .enumerate()
                    .map(|(i, label)| Prediction::Class {
                        label,
                        probabilities: classes
                            .iter()
                            .cloned()
                            .zip(proba[i * width..(i + 1) * width].iter().copied())
                            .collect(),
                    })
                    .collect())
            }
            Task::Regression => {
                let (values, _) = self.f32s("prediction")?;
                Ok(values
                    .iter()
                    .map(|v| Prediction::Value { prediction: *v })
                    .collect())
            }
            Task::Clustering => {
                let (scores, width) = self.f32s("scores")?;
                let labels = self.labels()?;
                Ok(labels
                    .into_iter()
                    .enumerate()
                    .map(|(i, label)| Prediction::Cluster {
                        label: match label {
                            Label::Int(v) => v,
                            Label::Text(_) => -1,
                        },
                        scores: scores[i * width..(i + 1) * width].to_vec(),
                    })
                    .collect())
            }
        }
    }

    /// The `label` tensor as labels.
    pub fn labels(&self) -> crate::Result<Vec<Label>> {
        match self.get("label").map(|t| &t.data) {
            Some(TensorData::I64(v)) => Ok(v.iter().map(|x| Label::Int(*x)).collect()),
            Some(TensorData::Text(v)) => Ok(v.iter().map(|x| Label::Text(x.clone())).collect()),
            _ => Err(Error::Runtime("the model returned no label output".into())),
        }
    }

    pub(crate) fn check_rows(&self) -> crate::Result<()> {
        for t in &self.tensors {
            if t.shape.first() != Some(&self.rows)
                || t.data.len() != t.shape.iter().product::<usize>()
            {
                return Err(Error::Runtime(format!(
                    "output {:?} has shape {:?} for {} rows",
                    t.name, t.shape, self.rows
                )));
            }
        }
        Ok(())
    }
}
