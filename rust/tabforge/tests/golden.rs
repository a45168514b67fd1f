//! Golden vectors written by Python (`python -m tests.golden --out DIR`): for every catalog
//! model on real datasets, the input records, the feed Python's encoder made of them and
//! the outputs Python's runtime returned. Rust must encode the same records to the same
//! feed, bit for bit, and get the same outputs from the same engine build.
//!
//! `TABFORGE_GOLDEN_DIR` names the folder holding `golden/` and `registry/`; the pytest
//! `tests/test_golden.py` writes one and runs this test on it.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tabforge::outputs::TensorData;
use tabforge::{Feed, Model, Options, Registry};

fn golden_dir() -> Option<PathBuf> {
    std::env::var_os("TABFORGE_GOLDEN_DIR").map(PathBuf::from)
}

fn cases(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir.join("golden"))
        .expect("the golden folder")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json") && !p.ends_with("index.json"))
        .collect();
    found.sort();
    found
}

fn floats(value: &Value) -> Vec<f32> {
    let mut out = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter().rev()),
            Value::Null => out.push(f32::NAN),
            other => out.push(other.as_f64().expect("a number") as f32),
        }
    }
    out
}

fn strings(value: &Value) -> Vec<String> {
    let rows = value.as_array().map(Vec::as_slice).unwrap_or(&[]);
    rows.iter()
        .flat_map(|r| {
            r.as_array()
                .expect("a row")
                .iter()
                .map(|s| s.as_str().expect("text").to_string())
        })
        .collect()
}

fn same_bits(a: &[f32], b: &[f32]) -> Option<usize> {
    if a.len() != b.len() {
        return Some(usize::MAX);
    }
    a.iter()
        .zip(b)
        .position(|(x, y)| !(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())))
}

fn check_outputs(
    name: &str,
    model: &Model,
    feed: &Feed,
    expected: &Map<String, Value>,
) -> Result<(), String> {
    let got = model
        .run(feed)
        .map_err(|e| format!("{name}: run failed: {e}"))?;
    for (tensor, want) in expected {
        let out = got
            .get(tensor)
            .ok_or_else(|| format!("{name}: no output {tensor}"))?;
        match &out.data {
            TensorData::F32(values) => {
                let want = floats(want);
                if want.len() != values.len() {
                    return Err(format!(
                        "{name}/{tensor}: {} values, Python had {}",
                        values.len(),
                        want.len()
                    ));
                }
                for (i, (g, w)) in values.iter().zip(&want).enumerate() {
                    if (g - w).abs() > 1e-6 * w.abs().max(1.0) {
                        return Err(format!("{name}/{tensor}[{i}]: Rust {g}, Python {w}"));
                    }
                }
            }
            TensorData::I64(values) => {
                let want: Vec<i64> = want
                    .as_array()
                    .expect("labels")
                    .iter()
                    .map(|v| v.as_i64().expect("int"))
                    .collect();
                if *values != want {
                    return Err(format!("{name}/{tensor}: Rust {values:?}, Python {want:?}"));
                }
            }
            TensorData::Text(values) => {
                let want: Vec<&str> = want
                    .as_array()
                    .expect("labels")
                    .iter()
                    .map(|v| v.as_str().expect("text"))
                    .collect();
                if values.iter().map(String::as_str).ne(want.iter().copied()) {
                    return Err(format!("{name}/{tensor}: Rust {values:?}, Python {want:?}"));
                }
            }
        }
    }
    Ok(())
}

fn check_case(registry: &Registry, path: &Path) -> Result<(), String> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("?")
        .to_string();
    let raw = std::fs::read(path).map_err(|e| format!("{name}: {e}"))?;
    let case: Value = serde_json::from_slice(&raw).map_err(|e| format!("{name}: {e}"))?;
    let reference = case["ref"].as_str().ok_or("no ref")?;
    let options = Options {
        sessions: 1,
        intra_threads: 1,
    };
    let model = registry
        .load_with(reference, &options)
        .map_err(|e| format!("{name}: load: {e}"))?;
    let records: Vec<Map<String, Value>> = case["records"]
        .as_array()
        .ok_or("no records")?
        .iter()
        .map(|r| r.as_object().cloned().unwrap_or_default())
        .collect();
    let feed = model
        .encode(&records)
        .map_err(|e| format!("{name}: encode: {e}"))?;
    let python = Feed {
        rows: records.len(),
        numeric: if case["numeric"].is_null() {
            vec![]
        } else {
            floats(&case["numeric"])
        },
        categorical: if case["categorical"].is_null() {
            vec![]
        } else {
            strings(&case["categorical"])
        },
    };
    if let Some(i) = same_bits(&feed.numeric, &python.numeric) {
        let k = model.widths().0.max(1);
        return Err(format!(
            "{name}: numeric feed differs at row {} column {}: Rust {:?}, Python {:?}",
            i / k,
            i % k,
            feed.numeric.get(i),
            python.numeric.get(i)
        ));
    }
    if feed.categorical != python.categorical {
        let i = feed
            .categorical
            .iter()
            .zip(&python.categorical)
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        return Err(format!(
            "{name}: categorical feed differs at {i}: Rust {:?}, Python {:?}",
            feed.categorical.get(i),
            python.categorical.get(i)
        ));
    }
    let expected = case["outputs"].as_object().ok_or("no outputs")?;
    check_outputs(&name, &model, &feed, expected)
}

#[test]
fn every_golden_case_agrees_with_python() {
    let Some(dir) = golden_dir() else {
        eprintln!("TABFORGE_GOLDEN_DIR is not set: run `pytest tests/test_golden.py`, which writes the vectors");
        return;
    };
    let registry = Registry::open(dir.join("registry")).expect("the golden registry");
    let all = cases(&dir);
    assert!(!all.is_empty(), "no golden cases in {}", dir.display());
    let failures: Vec<String> = all
        .iter()
        .filter_map(|p| check_case(&registry, p).err())
        .collect();
    println!("{} golden cases, {} disagree", all.len(), failures.len());
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}
