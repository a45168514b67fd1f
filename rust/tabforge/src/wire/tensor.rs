//! One V2 input tensor, decoded from JSON data or from the binary section.

use serde_json::Value;

use crate::contract::Cell;
use crate::error::{quoted, Error, Result};
use crate::wire::json::marked;
use crate::wire::v2::RequestInput;

/// Datatypes of the Open Inference Protocol.
pub(crate) const WIRE_TYPES: [&str; 13] = [
    "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP16",
    "FP32", "FP64", "BYTES",
];

/// A decoded tensor's elements, row-major.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Elements {
    F32(Vec<f32>),
    F64(Vec<f64>),
    Int(Vec<i64>),
    Bool(Vec<bool>),
    Bytes(Vec<Option<String>>),
}

impl Elements {
    pub(crate) fn len(&self) -> usize {
        match self {
            Elements::F32(v) => v.len(),
            Elements::F64(v) => v.len(),
            Elements::Int(v) => v.len(),
            Elements::Bool(v) => v.len(),
            Elements::Bytes(v) => v.len(),
        }
    }

    pub(crate) fn cell(&self, i: usize) -> Cell<'_> {
        match self {
            Elements::F32(v) => Cell::Float32(v[i]),
            Elements::F64(v) => Cell::Float(v[i]),
            Elements::Int(v) => Cell::Int(v[i]),
            Elements::Bool(v) => Cell::Bool(v[i]),
            Elements::Bytes(v) => v[i].as_deref().map_or(Cell::Null, Cell::Text),
        }
    }

    pub(crate) fn has_infinity(&self) -> bool {
        match self {
            Elements::F32(v) => v.iter().any(|x| x.is_infinite()),
            Elements::F64(v) => v.iter().any(|x| x.is_infinite()),
            _ => false,
        }
    }
}

/// A decoded tensor: shape and elements.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded {
    pub shape: Vec<usize>,
    pub elements: Elements,
}

/// Nested lists, row-major, into one flat list (iterative: any depth is safe).
fn flatten(data: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack = vec![data];
    while let Some(item) = stack.pop() {
        match item {
            Value::Array(items) => stack.extend(items.iter().rev()),
            other => out.push(other),
        }
    }
    out
}

fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => match marked(s) {
            Some(x) if x.is_nan() => "nan".into(),
            Some(x) if x > 0.0 => "inf".into(),
            Some(_) => "-inf".into(),
            None => quoted(s),
        },
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

pub(crate) fn check_count(inp: &RequestInput, got: usize, expected: usize) -> Result<()> {
    if got != expected {
        return Err(Error::bad(format!(
            "input {}: shape {:?} needs {expected} values, got {got}",
            quoted(&inp.name),
            inp.shape
        )));
    }
    Ok(())
}

fn infinity(inp: &RequestInput) -> Error {
    Error::bad(format!(
        "input {} holds Infinity; send null or NaN for a missing value",
        quoted(&inp.name)
    ))
}

fn number(inp: &RequestInput, v: &Value) -> Result<Option<f64>> {
    match v {
        Value::Number(n) => Ok(n.as_f64()),
        Value::Bool(b) => Ok(Some(f64::from(u8::from(*b)))),
        Value::Null => Ok(None),
        Value::String(s) => match marked(s) {
            Some(x) if x.is_infinite() => Err(infinity(inp)),
            Some(_) => Ok(None),
            None => match s.trim().parse::<f64>() {
                Ok(x) if x.is_infinite() => Err(infinity(inp)),
                Ok(x) => Ok(Some(x)),
                Err(_) => Err(holds(inp, v)),
            },
        },
        _ => Err(holds(inp, v)),
    }
}

fn holds(inp: &RequestInput, v: &Value) -> Error {
    Error::bad(format!(
        "input {}: {} data holds {}",
        quoted(&inp.name),
        inp.datatype,
        shown(v)
    ))
}

fn integers(inp: &RequestInput, values: &[&Value]) -> Result<Vec<i64>> {
    let (lo, hi) = match inp.datatype.as_str() {
        "INT8" => (i8::MIN as f64, i8::MAX as f64),
        "INT16" => (i16::MIN as f64, i16::MAX as f64),
        "INT32" => (i32::MIN as f64, i32::MAX as f64),
        "UINT8" => (0.0, u8::MAX as f64),
        "UINT16" => (0.0, u16::MAX as f64),
        "UINT32" => (0.0, u32::MAX as f64),
        _ => (i64::MIN as f64, i64::MAX as f64),
    };
    let misfit = || {
        Error::bad(format!(
            "input {}: {} data holds a value that does not fit",
            quoted(&inp.name),
            inp.datatype
        ))
    };
    values
        .iter()
        .map(|v| match v {
            Value::Number(n) if n.as_i64().is_some() => {
                let i = n.as_i64().unwrap_or_default();
                if (i as f64) < lo || (i as f64) > hi {
                    return Err(misfit());
                }
                Ok(i)
            }
            _ => match number(inp, v)? {
                Some(x) if x.is_finite() && x.trunc() >= lo && x.trunc() <= hi => {
                    Ok(x.trunc() as i64)
                }
                _ => Err(misfit()),
            },
        })
        .collect()
}

/// One input's JSON `data` as elements of its datatype (shape and limits already checked).
pub(crate) fn from_json(inp: &RequestInput, data: &Value, expected: usize) -> Result<Elements> {
    let values = flatten(data);
    if inp.datatype == "BYTES" {
        check_count(inp, values.len(), expected)?;
        return values
            .into_iter()
            .map(|v| match v {
                Value::String(s) if marked(s).is_none() => Ok(Some(s.clone())),
                Value::Null => Ok(None),
                other => Err(Error::bad(format!(
                    "input {}: BYTES data must be strings, got {}",
                    quoted(&inp.name),
                    shown(other)
                ))),
            })
            .collect::<Result<_>>()
            .map(Elements::Bytes);
    }
    if let Some(bad) = values.iter().find(|v| matches!(v, Value::Object(_))) {
        return Err(holds(inp, bad));
    }
    check_count(inp, values.len(), expected)?;
    let floats = |values: &[&Value]| -> Result<Vec<f64>> {
        values
            .iter()
            .map(|v| Ok(number(inp, v)?.unwrap_or(f64::NAN)))
            .collect()
    };
    let elements = match inp.datatype.as_str() {
        "FP16" | "FP32" => Elements::F32(floats(&values)?.into_iter().map(|x| x as f32).collect()),
        "FP64" => Elements::F64(floats(&values)?),
        "BOOL" => Elements::Bool(
            values
                .iter()
                .map(|v| match v {
                    Value::Bool(b) => Ok(*b),
                    Value::Number(n) => Ok(n.as_f64().is_some_and(|x| x != 0.0)),
                    other => Err(holds(inp, other)),
                })
                .collect::<Result<_>>()?,
        ),
        _ => Elements::Int(integers(inp, &values)?),
    };
    if elements.has_infinity() {
        return Err(infinity(inp));
    }
    Ok(elements)
}
