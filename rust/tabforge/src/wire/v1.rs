//! KServe V1: `{"instances": [{column: value, ...}, ...]}` -> `{"predictions": [...]}`.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::contract::Feed;
use crate::error::{Error, Result};
use crate::manifest::{Inputs, Manifest, Task};
use crate::outputs::{Outputs, TensorData};
use crate::wire::json;
use crate::wire::records::{self, PredictRequest};

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

/// The V1 answer, `{"predictions": [...]}`: one record per row, `label` and
/// `probabilities` as `{class: p}`, or `prediction`, or `label` and `scores`. Written by
/// its own serializer, row by row, with no JSON map built per row.
pub struct Predictions<'a> {
    outputs: &'a Outputs,
    task: Task,
    classes: Vec<String>,
    width: usize,
}

impl<'a> Predictions<'a> {
    /// The answer for `outputs` of the model `manifest` describes.
    pub fn new(outputs: &'a Outputs, manifest: &Manifest) -> Predictions<'a> {
        let values = match manifest.task {
            Task::Classification => "probabilities",
            Task::Regression => "prediction",
            Task::Clustering => "scores",
        };
        let width = outputs
            .get(values)
            .map_or(0, |t| t.shape.iter().skip(1).product());
        let classes = manifest.classes().iter().map(ToString::to_string).collect();
        Predictions {
            outputs,
            task: manifest.task,
            classes,
            width,
        }
    }

    fn floats(&self, name: &str) -> &[f32] {
        match self.outputs.get(name).map(|t| &t.data) {
            Some(TensorData::F32(v)) => v,
            _ => &[],
        }
    }
}

impl Serialize for Predictions<'_> {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        let mut map = out.serialize_map(Some(1))?;
        map.serialize_entry("predictions", &Rows(self))?;
        map.end()
    }
}

struct Rows<'a>(&'a Predictions<'a>);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        let rows = self.0.outputs.rows;
        let mut seq = out.serialize_seq(Some(rows))?;
        for i in 0..rows {
            seq.serialize_element(&Row(self.0, i))?;
        }
        seq.end()
    }
}

struct Row<'a>(&'a Predictions<'a>, usize);

/// One row's label, as the `label` tensor holds it.
struct LabelAt<'a>(&'a Outputs, usize);

impl Serialize for LabelAt<'_> {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        match self.0.get("label").map(|t| &t.data) {
            Some(TensorData::I64(v)) => out.serialize_i64(v[self.1]),
            Some(TensorData::Text(v)) => out.serialize_str(&v[self.1]),
            _ => out.serialize_none(),
        }
    }
}

/// Float32 values widened to float64, so the text is Python's to the digit.
struct Wide<'a>(&'a [f32]);

impl Serialize for Wide<'_> {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        out.collect_seq(self.0.iter().map(|x| f64::from(*x)))
    }
}

struct ByClass<'a>(&'a [String], &'a [f32]);

impl Serialize for ByClass<'_> {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        out.collect_map(self.0.iter().zip(self.1).map(|(c, p)| (c, f64::from(*p))))
    }
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, out: S) -> Result<S::Ok, S::Error> {
        let (p, i) = (self.0, self.1);
        let (from, to) = (i * p.width, (i + 1) * p.width);
        let mut map = out.serialize_map(Some(2))?;
        match p.task {
            Task::Classification => {
                let proba = p.floats("probabilities");
                map.serialize_entry("label", &LabelAt(p.outputs, i))?;
                map.serialize_entry("probabilities", &ByClass(&p.classes, &proba[from..to]))?;
            }
            Task::Regression => {
                map.serialize_entry("prediction", &f64::from(p.floats("prediction")[i]))?;
            }
            Task::Clustering => {
                let scores = p.floats("scores");
                map.serialize_entry("label", &LabelAt(p.outputs, i))?;
                map.serialize_entry("scores", &Wide(&scores[from..to]))?;
            }
        }
        map.end()
    }
}
