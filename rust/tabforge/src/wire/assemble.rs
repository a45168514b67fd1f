//! A V2 request -> the model's feed: from the model's own tensors, or one input per column
//! (MLServer's pandas convention) through the contract's encoder.

use std::collections::BTreeMap;

use crate::contract::{encode_cells, Cell, Feed};
use crate::error::{quoted, Error, Result};
use crate::manifest::{Inputs, NUMERIC_INPUT};
use crate::wire::tensor::{Decoded, Elements};
use crate::wire::v2::{decode_tensor, InferenceRequest};

fn columns(inputs: &Inputs) -> impl Iterator<Item = &str> {
    inputs
        .numeric
        .iter()
        .chain(&inputs.categorical)
        .map(String::as_str)
}

/// The model's feed, from its own tensors or from one input per column.
pub fn assemble(
    request: &InferenceRequest,
    inputs: &Inputs,
    max_rows: usize,
    binary: &BTreeMap<String, Decoded>,
) -> Result<Feed> {
    let is_column = |n: &str| columns(inputs).any(|c| c == n);
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
        return Err(Error::bad(format!(
            "unknown input {}; send the tensors [{}] or one input per column: {}",
            quoted(&unknown.name),
            tensors.join(", "),
            columns(inputs).collect::<Vec<_>>().join(", ")
        )));
    }
    if request.inputs.iter().any(|i| grouped(&i.name)) {
        return Err(Error::bad(
            "send either the model's tensors or one input per column, not both",
        ));
    }
    per_column(request, inputs, max_rows, binary)
}

fn per_column(
    request: &InferenceRequest,
    inputs: &Inputs,
    max_rows: usize,
    binary: &BTreeMap<String, Decoded>,
) -> Result<Feed> {
    let mut decoded: Vec<(&str, Decoded)> = Vec::new();
    for inp in &request.inputs {
        let d = decode_tensor(inp, max_rows, binary)?;
        if !(d.shape.len() == 1 || (d.shape.len() == 2 && d.shape[1] == 1)) {
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
        grouped_tensor(&mut feed, numeric, d.elements, &inputs.missing_text)?;
    }
    let present = |name: &str| request.inputs.iter().any(|i| i.name == name);
    if let Some(missing) = inputs.tensors.iter().find(|t| !present(&t.name)) {
        return Err(Error::bad(format!(
            "missing input tensor {}",
            quoted(&missing.name)
        )));
    }
    seen_rows.sort_unstable();
    seen_rows.dedup();
    if seen_rows.len() > 1 {
        return Err(Error::bad("inputs disagree on the number of rows"));
    }
    feed.rows = seen_rows.first().copied().unwrap_or(0);
    Ok(feed)
}

/// One of the model's own tensors into the feed, in the type the graph takes.
fn grouped_tensor(feed: &mut Feed, numeric: bool, elements: Elements, missing: &str) -> Result<()> {
    match (numeric, elements) {
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
            feed.categorical = v
                .into_iter()
                .map(|s| s.unwrap_or_else(|| missing.to_string()))
                .collect()
        }
        (false, _) => return Err(Error::bad("input 'categorical' must be BYTES")),
    }
    Ok(())
}
