//! Open Inference Protocol V2 on the wire: requests in, the model's feed out; outputs in,
//! responses out. The same rules and messages as Python's `contract/v2.py`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contract::{encode_cells, Cell, Feed};
use crate::error::{quoted, Error, Result};
use crate::manifest::{Inputs, Manifest, NUMERIC_INPUT};
use crate::outputs::{Outputs, TensorData};
use crate::wire::json;
use crate::wire::tensor::{self, Decoded, Elements, WIRE_TYPES};

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
    fn check_shape(&self) -> Result<Vec<usize>> {
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
fn decode_tensor(
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

/// The model's feed, from its own tensors or from one input per column.
pub fn assemble(
    request: &InferenceRequest,
    inputs: &Inputs,
    max_rows: usize,
    binary: &BTreeMap<String, Decoded>,
) -> Result<Feed> {
    let is_column = |n: &str| {
        inputs
            .numeric
            .iter()
            .chain(&inputs.categorical)
            .any(|c| c == n)
    };
    let is_tensor = |n: &str| inputs.tensors.iter().any(|t| t.name == n);
    let grouped = |n: &str| is_tensor(n) && !is_column(n);
    if request.inputs.iter().all(|i| grouped(&i.name)) {
        return assemble_grouped(request, inputs, max_rows, binary);
    }
    if let Some(unknown) = request
        .inputs
        .iter()
        .find(|i| !is_column(&i.name) && !is_tensor(&i.name))
    {
        let mut tensors: Vec<String> = inputs.tensors.iter().map(|t| quoted(&t.name)).collect();
        tensors.sort();
        let columns: Vec<&str> = inputs
            .numeric
            .iter()
            .chain(&inputs.categorical)
            .map(String::as_str)
            .collect();
        return Err(Error::bad(format!(
            "unknown input {}; send the tensors [{}] or one input per column: {}",
            quoted(&unknown.name),
            tensors.join(", "),
            columns.join(", ")
        )));
    }
    if request.inputs.iter().any(|i| grouped(&i.name)) {
        return Err(Error::bad(
            "send either the model's tensors or one input per column, not both",
        ));
    }
    let mut decoded: Vec<(&str, Decoded)> = Vec::new();
    for inp in &request.inputs {
        let d = decode_tensor(inp, max_rows, binary)?;
        let column = d.shape.len() == 1 || (d.shape.len() == 2 && d.shape[1] == 1);
        if !column {
            return Err(Error::bad(format!(
                "input {}: a column must have shape [N] or [N, 1]",
                quoted(&inp.name)
            )));
        }
        decoded.push((&inp.name, d));
    }
    let mut rows: Vec<usize> = decoded.iter().map(|(_, d)| d.shape[0]).collect();
    rows.sort_unstable();
    rows.dedup();
    if rows.len() > 1 {
        return Err(Error::bad(format!(
            "inputs disagree on the number of rows: {rows:?}"
        )));
    }
    let cells: BTreeMap<&str, Vec<Cell<'_>>> = decoded
        .iter()
        .map(|(name, d)| {
            (
                *name,
                (0..d.elements.len()).map(|i| d.elements.cell(i)).collect(),
            )
        })
        .collect();
    encode_cells(&cells, rows.first().copied().unwrap_or(0), inputs)
}

fn assemble_grouped(
    request: &InferenceRequest,
    inputs: &Inputs,
    max_rows: usize,
    binary: &BTreeMap<String, Decoded>,
) -> Result<Feed> {
    let mut feed = Feed::default();
    let mut seen_rows: Vec<usize> = Vec::new();
    let mut present = Vec::new();
    for inp in &request.inputs {
        let d = decode_tensor(inp, max_rows, binary)?;
        let numeric = inp.name == NUMERIC_INPUT;
        let width = if numeric {
            inputs.numeric.len()
        } else {
            inputs.categorical.len()
        };
        if d.shape.len() != 2 || d.shape[1] != width {
            return Err(Error::bad(format!(
                "input {}: shape must be [N, {width}], got {:?}",
                quoted(&inp.name),
                d.shape
            )));
        }
        seen_rows.push(d.shape[0]);
        present.push(inp.name.as_str());
        match (numeric, d.elements) {
            (true, Elements::Bytes(_)) => {
                return Err(Error::bad(
                    "input 'numeric' must be a numeric datatype (FP32), not BYTES",
                ))
            }
            (true, Elements::F32(v)) => feed.numeric = v,
            (true, Elements::F64(v)) => feed.numeric = v.into_iter().map(|x| x as f32).collect(),
            (true, Elements::Int(v)) => feed.numeric = v.into_iter().map(|x| x as f32).collect(),
            (true, Elements::Bool(v)) => {
                feed.numeric = v.into_iter().map(|x| f32::from(u8::from(x))).collect()
            }
            (false, Elements::Bytes(v)) => {
                let missing = &inputs.missing_text;
                feed.categorical = v
                    .into_iter()
                    .map(|s| s.unwrap_or_else(|| missing.clone()))
                    .collect();
            }
            (false, _) => return Err(Error::bad("input 'categorical' must be BYTES")),
        }
    }
    if let Some(missing) = inputs
        .tensors
        .iter()
        .find(|t| !present.contains(&t.name.as_str()))
    {
        return Err(Error::bad(format!(
            "missing input tensor {}",
            quoted(&missing.name)
        )));
    }
    seen_rows.dedup();
    if seen_rows.len() > 1 {
        return Err(Error::bad("inputs disagree on the number of rows"));
    }
    feed.rows = seen_rows.first().copied().unwrap_or(0);
    Ok(feed)
}

#[derive(Serialize)]
struct ResponseOutput<'a> {
    name: &'a str,
    shape: &'a [usize],
    datatype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<Value>,
}

#[derive(Serialize)]
struct InferenceResponse<'a> {
    model_name: &'a str,
    model_version: String,
    outputs: Vec<ResponseOutput<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
}

/// Elements as JSON, float32 widened to float64 so the text is Python's to the digit.
pub(crate) fn json_elements(data: &TensorData) -> Value {
    match data {
        TensorData::F32(v) => Value::Array(v.iter().map(|x| json_f64(f64::from(*x))).collect()),
        TensorData::I64(v) => Value::Array(v.iter().map(|x| Value::from(*x)).collect()),
        TensorData::Text(v) => Value::Array(v.iter().map(|x| Value::from(x.as_str())).collect()),
    }
}

pub(crate) fn json_f64(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

fn wants_binary(params: Option<&Map<String, Value>>, key: &str) -> bool {
    params
        .and_then(|p| p.get(key))
        .is_some_and(|v| v.as_bool().unwrap_or(false))
}

/// The encoded response and, when tensors travel as binary, the JSON header's length.
pub fn response(
    request: &InferenceRequest,
    name: &str,
    version: u64,
    outputs: &Outputs,
    manifest: &Manifest,
) -> Result<(Vec<u8>, Option<usize>)> {
    let wanted: Vec<&str> = match &request.outputs {
        Some(list) if !list.is_empty() => list.iter().map(|o| o.name.as_str()).collect(),
        _ => outputs.tensors.iter().map(|t| t.name.as_str()).collect(),
    };
    if let Some(unknown) = wanted.iter().find(|w| outputs.get(w).is_none()) {
        let names: Vec<&str> = outputs.tensors.iter().map(|t| t.name.as_str()).collect();
        return Err(Error::bad(format!(
            "unknown output {}; outputs: {}",
            quoted(unknown),
            names.join(", ")
        )));
    }
    let all_binary = wants_binary(request.parameters.as_ref(), "binary_data_output");
    let as_binary = |w: &str| {
        request
            .outputs
            .iter()
            .flatten()
            .any(|o| o.name == w && wants_binary(o.parameters.as_ref(), "binary_data"))
    };
    let mut blobs: Vec<u8> = Vec::new();
    let mut encoded = Vec::with_capacity(wanted.len());
    for w in wanted {
        let Some(t) = outputs.get(w) else { continue };
        let datatype = manifest.output_datatype(w).unwrap_or("FP32");
        if all_binary || as_binary(w) {
            let before = blobs.len();
            crate::wire::binary::write_tensor(&t.data, &mut blobs);
            let size = serde_json::json!({"binary_data_size": blobs.len() - before});
            encoded.push(ResponseOutput {
                name: w,
                shape: &t.shape,
                datatype,
                data: None,
                parameters: Some(size),
            });
        } else {
            let data = Some(json_elements(&t.data));
            encoded.push(ResponseOutput {
                name: w,
                shape: &t.shape,
                datatype,
                data,
                parameters: None,
            });
        }
    }
    let body = InferenceResponse {
        model_name: name,
        model_version: version.to_string(),
        outputs: encoded,
        id: request.id.as_deref(),
    };
    let mut head = serde_json::to_vec(&body).map_err(|e| Error::Runtime(e.to_string()))?;
    if blobs.is_empty() {
        return Ok((head, None));
    }
    let length = head.len();
    head.extend_from_slice(&blobs);
    Ok((head, Some(length)))
}

/// `GET /v2/models/{name}`: platform, tensors, columns and classes.
pub fn metadata(name: &str, versions: &[u64], manifest: &Manifest) -> Value {
    let tensors = |specs: &[crate::manifest::TensorSpec]| -> Vec<Value> {
        specs
            .iter()
            .map(|t| serde_json::json!({"name": t.name, "datatype": t.datatype, "shape": t.shape}))
            .collect()
    };
    let inputs = &manifest.inputs;
    serde_json::json!({
        "name": name,
        "versions": versions.iter().map(u64::to_string).collect::<Vec<_>>(),
        "platform": "onnx_onnxv1",
        "inputs": tensors(&inputs.tensors),
        "outputs": tensors(&manifest.outputs.tensors),
        "parameters": {
            "task": manifest.task.to_string(),
            "version": manifest.version.to_string(),
            "numeric_columns": inputs.numeric,
            "categorical_columns": inputs.categorical,
            "classes": manifest.outputs.classes,
        },
    })
}
