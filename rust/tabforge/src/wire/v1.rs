//! KServe V1: `{"instances": [{column: value, ...}, ...]}` -> `{"predictions": [...]}`.

use serde_json::{Map, Value};

use crate::contract::Feed;
use crate::error::{Error, Result};
use crate::manifest::{Inputs, Manifest, Task};
use crate::outputs::{Outputs, TensorData};
use crate::wire::json;
use crate::wire::records::{self, PredictRequest};
use crate::wire::response::json_f64;

/// The feed for a V1 body.
pub fn assemble(body: &[u8], inputs: &Inputs, max_rows: usize) -> Result<Feed> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad(
            "empty request body: expected {\"instances\": [...]}",
        ));
    }
    let what = "predict request (instances must be objects keyed by column)";
    let loose;
    let request: PredictRequest<'_> = match json::decode_borrowed(body, what)? {
        json::Decoded::Strict(request) => request,
        json::Decoded::Loose(text) => {
            loose = text;
            json::decode_borrowed::<PredictRequest<'_>>(&loose, what)?.strict()?
        }
    };
    if request.instances.len() > max_rows {
        return Err(Error::TooLarge(format!(
            "{} instances, over the limit of {max_rows}",
            request.instances.len()
        )));
    }
    if request.instances.is_empty() {
        return Ok(Feed {
            rows: 0,
            ..Feed::default()
        });
    }
    let feed = records::encode(&request.instances, inputs)?;
    refuse_infinity(&feed, inputs)?;
    Ok(feed)
}

/// Infinity is no value a model was trained on, and no way to say "missing": refused, as
/// V2 refuses it (and the Python server, by the same rule), naming the first row and column.
fn refuse_infinity(feed: &Feed, inputs: &Inputs) -> Result<()> {
    let k = inputs.numeric.len().max(1);
    if let Some(i) = feed.numeric.iter().position(|x| x.is_infinite()) {
        return Err(Error::bad(format!(
            "row {}: column {} holds Infinity; send null for a missing value",
            i / k + 1,
            crate::error::quoted(&inputs.numeric[i % k])
        )));
    }
    Ok(())
}

fn floats(outputs: &Outputs, name: &str) -> (Vec<f32>, usize) {
    match outputs.get(name) {
        Some(t) => match &t.data {
            TensorData::F32(v) => (v.clone(), t.shape.iter().skip(1).product()),
            _ => (vec![], 0),
        },
        None => (vec![], 0),
    }
}

fn labels(outputs: &Outputs) -> Vec<Value> {
    match outputs.get("label").map(|t| &t.data) {
        Some(TensorData::I64(v)) => v.iter().map(|x| Value::from(*x)).collect(),
        Some(TensorData::Text(v)) => v.iter().map(|x| Value::from(x.as_str())).collect(),
        _ => vec![],
    }
}

/// One record per row: `label` and `probabilities` as `{class: p}`; `prediction`; or
/// `label` and `scores`.
pub fn predictions(outputs: &Outputs, manifest: &Manifest) -> Vec<Value> {
    let row = |v: &[f32]| Value::Array(v.iter().map(|x| json_f64(f64::from(*x))).collect());
    match manifest.task {
        Task::Classification => {
            let classes: Vec<String> = manifest.classes().iter().map(ToString::to_string).collect();
            let (proba, w) = floats(outputs, "probabilities");
            labels(outputs)
                .into_iter()
                .enumerate()
                .map(|(i, label)| {
                    let p: Map<String, Value> = classes
                        .iter()
                        .zip(&proba[i * w..(i + 1) * w])
                        .map(|(c, p)| (c.clone(), json_f64(f64::from(*p))))
                        .collect();
                    serde_json::json!({"label": label, "probabilities": p})
                })
                .collect()
        }
        Task::Regression => {
            let (values, _) = floats(outputs, "prediction");
            values
                .iter()
                .map(|v| serde_json::json!({"prediction": json_f64(f64::from(*v))}))
                .collect()
        }
        Task::Clustering => {
            let (scores, w) = floats(outputs, "scores");
            labels(outputs)
                .into_iter()
                .enumerate()
                .map(|(i, label)| serde_json::json!({"label": label, "scores": row(&scores[i * w..(i + 1) * w])}))
                .collect()
        }
    }
}
