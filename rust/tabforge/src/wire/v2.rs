//! Open Inference Protocol V2 requests on the wire: the request types and each input
//! decoded to a tensor. The same rules and messages as Python's `contract/v2.py`
//! (assemble.rs makes the feed, response.rs the answer).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{quoted, Error, Result};
use crate::wire::json;
use crate::wire::tensor::{self, Decoded, WIRE_TYPES};

/// One input of a V2 inference request.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestInput {
    /// Tensor or column name.
    pub name: String,
    /// Shape (sizes >= 0).
    pub shape: Vec<i64>,
    /// Datatype (`FP32`, `BYTES`, ...).
    pub datatype: String,
    /// Elements, flat or nested; absent when the tensor travels as binary.
    #[serde(default)]
    pub data: Option<Value>,
    /// `binary_data_size` and others.
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
}

impl RequestInput {
    /// The shape as sizes; refused unless it has at least one dimension, none negative.
    pub(crate) fn check_shape(&self) -> Result<Vec<usize>> {
        if self.shape.is_empty() || self.shape.iter().any(|d| *d < 0) {
            return Err(Error::bad(format!(
                "input {}: shape {:?} must have sizes >= 0",
                quoted(&self.name),
                self.shape
            )));
        }
        Ok(self.shape.iter().map(|d| *d as usize).collect())
    }
}

/// An output a request asks for.
#[derive(Debug, Clone, Deserialize)]
pub struct RequestOutput {
    /// Output name.
    pub name: String,
    /// `binary_data` and others.
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
}

/// A V2 inference request.
#[derive(Debug, Clone, Deserialize)]
pub struct InferenceRequest {
    /// The inputs.
    pub inputs: Vec<RequestInput>,
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// `binary_data_output`, `routing_key`, ...
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    /// Which outputs to return (all when absent).
    #[serde(default)]
    pub outputs: Option<Vec<RequestOutput>>,
}

impl InferenceRequest {
    /// The routing key given as the request parameter `routing_key`.
    pub fn routing_key(&self) -> Option<String> {
        match self.parameters.as_ref()?.get("routing_key")? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }
}

/// Parse a request body (the JSON part, when tensors travel as binary).
pub fn decode_request(body: &[u8]) -> Result<InferenceRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad(
            "empty request body: expected a JSON inference request",
        ));
    }
    let request: InferenceRequest = json::decode(body, "inference request")?;
    if request.inputs.is_empty() {
        return Err(Error::bad("the request has no inputs"));
    }
    let mut dupes: Vec<&str> = request
        .inputs
        .iter()
        .map(|i| i.name.as_str())
        .filter(|n| request.inputs.iter().filter(|i| i.name == *n).count() > 1)
        .collect();
    dupes.sort_unstable();
    dupes.dedup();
    if !dupes.is_empty() {
        return Err(Error::bad(format!(
            "duplicate input names: {}",
            dupes.join(", ")
        )));
    }
    Ok(request)
}

/// One input as a tensor of its declared shape and datatype.
pub(crate) fn decode_tensor(
    inp: &RequestInput,
    max_rows: usize,
    binary: &BTreeMap<String, Decoded>,
) -> Result<Decoded> {
    if !WIRE_TYPES.contains(&inp.datatype.as_str()) {
        return Err(Error::bad(format!(
            "input {}: unknown datatype {} (use one of {})",
            quoted(&inp.name),
            quoted(&inp.datatype),
            WIRE_TYPES.join(", ")
        )));
    }
    let shape = inp.check_shape()?;
    if shape[0] > max_rows {
        return Err(Error::TooLarge(format!(
            "input {}: {} rows, over the limit of {max_rows}",
            quoted(&inp.name),
            shape[0]
        )));
    }
    let expected = shape.iter().try_fold(1usize, |a, d| a.checked_mul(*d));
    let expected = match expected {
        Some(n) if n <= max_rows.saturating_mul(10_000) => n,
        _ => {
            return Err(Error::TooLarge(format!(
                "input {}: shape {:?} is too large",
                quoted(&inp.name),
                inp.shape
            )))
        }
    };
    if let Some(found) = binary.get(&inp.name) {
        if found.elements.has_infinity() {
            return Err(Error::bad(format!(
                "input {} holds Infinity; send NaN for a missing value",
                quoted(&inp.name)
            )));
        }
        return Ok(found.clone());
    }
    let Some(data) = &inp.data else {
        return Err(Error::bad(format!(
            "input {} has no data",
            quoted(&inp.name)
        )));
    };
    Ok(Decoded {
        shape,
        elements: tensor::from_json(inp, data, expected)?,
    })
}
