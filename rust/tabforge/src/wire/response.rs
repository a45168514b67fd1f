//! V2 responses (JSON, or JSON then binary tensors) and model metadata.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{quoted, Error, Result};
use crate::manifest::Manifest;
use crate::outputs::{Outputs, TensorData};
use crate::wire::v2::InferenceRequest;

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

/// The outputs a request asks for (all when it names none); an unknown name is refused.
fn wanted_outputs<'a>(request: &'a InferenceRequest, outputs: &'a Outputs) -> Result<Vec<&'a str>> {
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
    Ok(wanted)
}

/// The encoded response and, when tensors travel as binary, the JSON header's length.
pub fn response(
    request: &InferenceRequest,
    name: &str,
    version: u64,
    outputs: &Outputs,
    manifest: &Manifest,
) -> Result<(Vec<u8>, Option<usize>)> {
    let wanted = wanted_outputs(request, outputs)?;
    let all_binary = wants_binary(request.parameters.as_ref(), "binary_data_output");
    let mut blobs: Vec<u8> = Vec::new();
    let mut encoded = Vec::with_capacity(wanted.len());
    for w in wanted {
        let Some(t) = outputs.get(w) else { continue };
        let datatype = manifest.output_datatype(w).unwrap_or("FP32");
        let as_binary = all_binary
            || request
                .outputs
                .iter()
                .flatten()
                .any(|o| o.name == w && wants_binary(o.parameters.as_ref(), "binary_data"));
        let mut out = ResponseOutput {
            name: w,
            shape: &t.shape,
            datatype,
            data: None,
            parameters: None,
        };
        if as_binary {
            let before = blobs.len();
            crate::wire::binary::write_tensor(&t.data, &mut blobs);
            out.parameters = Some(serde_json::json!({"binary_data_size": blobs.len() - before}));
        } else {
            out.data = Some(json_elements(&t.data));
        }
        encoded.push(out);
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
