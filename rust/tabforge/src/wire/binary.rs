//! The binary tensor data extension of V2 (what tritonclient sends with `binary_data=True`).
//!
//! `Inference-Header-Content-Length` says where the JSON ends; each input's
//! `binary_data_size` parameter how many of the following bytes are its own. Numbers are
//! little-endian; BYTES elements are a little-endian u32 length and then the UTF-8 bytes.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{quoted, Error, Result};
use crate::outputs::TensorData;
use crate::wire::tensor::{Decoded, Elements};
use crate::wire::v2::{InferenceRequest, RequestInput};

/// The JSON header and the binary section of a body, as the header length says.
pub fn split_body<'a>(body: &'a [u8], header_length: &str) -> Result<(&'a [u8], &'a [u8])> {
    let split = header_length
        .parse::<usize>()
        .ok()
        .filter(|n| header_length.bytes().all(|b| b.is_ascii_digit()) && *n <= body.len());
    let Some(split) = split else {
        return Err(Error::bad(format!(
            "Inference-Header-Content-Length {} does not fit a body of {} bytes",
            quoted(header_length),
            body.len()
        )));
    };
    Ok(body.split_at(split))
}

fn item_size(datatype: &str) -> Option<usize> {
    Some(match datatype {
        "BOOL" | "INT8" | "UINT8" => 1,
        "INT16" | "UINT16" | "FP16" => 2,
        "INT32" | "UINT32" | "FP32" => 4,
        "INT64" | "UINT64" | "FP64" => 8,
        _ => return None,
    })
}

fn half_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exp = u32::from((bits >> 10) & 0x1f);
    let frac = u32::from(bits & 0x3ff);
    let magnitude = match exp {
        0 => {
            return f32::from_bits(sign)
                + (frac as f32) * 2f32.powi(-24) * if sign != 0 { -1.0 } else { 1.0 }
        }
        0x1f => 0x7f80_0000 | (frac << 13),
        _ => ((exp + 112) << 23) | (frac << 13),
    };
    f32::from_bits(sign | magnitude)
}

fn numbers(datatype: &str, chunk: &[u8]) -> Elements {
    macro_rules! read {
        ($t:ty, $n:expr) => {
            chunk.chunks_exact($n).map(|c| {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                <$t>::from_le_bytes(a)
            })
        };
    }
    match datatype {
        "BOOL" => Elements::Bool(chunk.iter().map(|b| *b != 0).collect()),
        "INT8" => Elements::Int(read!(i8, 1).map(i64::from).collect()),
        "UINT8" => Elements::Int(chunk.iter().map(|b| i64::from(*b)).collect()),
        "INT16" => Elements::Int(read!(i16, 2).map(i64::from).collect()),
        "UINT16" => Elements::Int(read!(u16, 2).map(i64::from).collect()),
        "INT32" => Elements::Int(read!(i32, 4).map(i64::from).collect()),
        "UINT32" => Elements::Int(read!(u32, 4).map(i64::from).collect()),
        "INT64" => Elements::Int(read!(i64, 8).collect()),
        "UINT64" => Elements::Int(read!(u64, 8).map(|x| x as i64).collect()),
        "FP16" => Elements::F32(read!(u16, 2).map(half_to_f32).collect()),
        "FP32" => Elements::F32(read!(f32, 4).collect()),
        _ => Elements::F64(read!(f64, 8).collect()),
    }
}

fn bytes_elements(name: &str, raw: &[u8], count: usize) -> Result<Vec<Option<String>>> {
    let mut values = Vec::with_capacity(count.min(raw.len() / 4 + 1));
    let mut pos = 0usize;
    for _ in 0..count {
        let Some(len) = raw.get(pos..pos + 4) else {
            return Err(Error::bad(format!(
                "input {}: binary BYTES data ends early",
                quoted(name)
            )));
        };
        let length = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        pos += 4;
        let Some(text) = raw.get(pos..pos.saturating_add(length)) else {
            return Err(Error::bad(format!(
                "input {}: binary BYTES element runs past its data",
                quoted(name)
            )));
        };
        let text = std::str::from_utf8(text).map_err(|_| {
            Error::bad(format!(
                "input {}: BYTES element is not UTF-8 text",
                quoted(name)
            ))
        })?;
        values.push(Some(text.to_string()));
        pos += length;
    }
    if pos != raw.len() {
        return Err(Error::bad(format!(
            "input {}: {} bytes left after {count} elements",
            quoted(name),
            raw.len() - pos
        )));
    }
    Ok(values)
}

/// One input's bytes of the binary section, as a tensor of its shape and datatype.
fn decode_chunk(inp: &RequestInput, chunk: &[u8]) -> Result<Decoded> {
    let size = chunk.len();
    let shape = inp.check_shape()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .unwrap_or(usize::MAX);
    let elements = if inp.datatype == "BYTES" {
        Elements::Bytes(bytes_elements(&inp.name, chunk, count)?)
    } else {
        let Some(item) = item_size(&inp.datatype) else {
            return Err(Error::bad(format!(
                "input {}: unknown datatype {}",
                quoted(&inp.name),
                quoted(&inp.datatype)
            )));
        };
        if count.checked_mul(item) != Some(size) {
            return Err(Error::bad(format!(
                "input {}: shape {:?} {} needs {} bytes, binary_data_size is {size}",
                quoted(&inp.name),
                inp.shape,
                inp.datatype,
                count.saturating_mul(item)
            )));
        }
        numbers(&inp.datatype, chunk)
    };
    Ok(Decoded { shape, elements })
}

/// Inputs sent in the binary section, by name.
pub fn binary_inputs(request: &InferenceRequest, blob: &[u8]) -> Result<BTreeMap<String, Decoded>> {
    let mut out = BTreeMap::new();
    let mut offset = 0usize;
    for inp in &request.inputs {
        let Some(size) = inp
            .parameters
            .as_ref()
            .and_then(|p| p.get("binary_data_size"))
        else {
            continue;
        };
        let size = match size {
            Value::Number(n) if n.as_u64().is_some() => n.as_u64().unwrap_or_default() as usize,
            _ => {
                return Err(Error::bad(format!(
                    "input {}: binary_data_size must be a byte count",
                    quoted(&inp.name)
                )))
            }
        };
        if offset.saturating_add(size) > blob.len() {
            return Err(Error::bad(format!(
                "input {}: binary_data_size {size} runs past the end of the body ({} bytes left)",
                quoted(&inp.name),
                blob.len() - offset
            )));
        }
        let chunk = &blob[offset..offset + size];
        offset += size;
        out.insert(inp.name.clone(), decode_chunk(inp, chunk)?);
    }
    if offset != blob.len() {
        return Err(Error::bad(format!(
            "the binary section has {} bytes no input claims",
            blob.len() - offset
        )));
    }
    Ok(out)
}

/// Append one output tensor's elements in binary form.
pub fn write_tensor(data: &TensorData, out: &mut Vec<u8>) {
    match data {
        TensorData::F32(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::I64(v) => v
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        TensorData::Text(v) => v.iter().for_each(|s| {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }),
    }
}
