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

fn python_feed(case: &Value, rows: usize) -> Feed {
    let numeric = &case["numeric"];
    let categorical = &case["categorical"];
    Feed {
        rows,
        numeric: if numeric.is_null() {
            vec![]
        } else {
            floats(numeric)
        },
        categorical: if categorical.is_null() {
            vec![]
        } else {
            strings(categorical)
        },
    }
}

fn compare_feeds(name: &str, feed: &Feed, python: &Feed, k: usize) -> Result<(), String> {
    if let Some(i) = same_bits(&feed.numeric, &python.numeric) {
        let k = k.max(1);
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
    compare_feeds(
        &name,
        &feed,
        &python_feed(&case, records.len()),
        model.widths().0,
    )?;
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

/// A copy of one golden model's version folder, to damage.
fn copied_version(dir: &Path, into: &Path) -> PathBuf {
    let registry = dir.join("registry");
    let name = std::fs::read_dir(&registry)
        .expect("registry")
        .flatten()
        .next()
        .expect("a model")
        .path();
    let from = name.join("1");
    let to = into.join(name.file_name().expect("a name")).join("1");
    std::fs::create_dir_all(&to).expect("a folder");
    for file in ["model.onnx", "manifest.json"] {
        std::fs::copy(from.join(file), to.join(file)).expect("a copy");
    }
    to
}

#[test]
fn a_corrupt_model_or_an_unknown_manifest_version_is_refused_with_a_clear_error() {
    let Some(dir) = golden_dir() else { return };
    let scratch = std::env::temp_dir().join(format!("tabforge-damaged-{}", std::process::id()));
    let version = copied_version(&dir, &scratch);
    assert!(Model::open(&version).is_ok());

    let mut onnx = std::fs::read(version.join("model.onnx")).expect("model");
    let middle = onnx.len() / 2;
    onnx[middle] ^= 0xff;
    std::fs::write(version.join("model.onnx"), &onnx).expect("write");
    let err = Model::open(&version).expect_err("a corrupt model loaded");
    assert!(
        err.to_string()
            .ends_with("is corrupt: its sha256 does not match the manifest"),
        "{err}"
    );

    let manifest = std::fs::read_to_string(version.join("manifest.json")).expect("manifest");
    let newer = manifest.replacen("\"manifest_version\": 1", "\"manifest_version\": 2", 1);
    std::fs::write(version.join("manifest.json"), newer).expect("write");
    let err = Model::open(&version).expect_err("an unknown manifest version loaded");
    assert!(
        err.to_string()
            .contains("has manifest_version 2; this tabforge crate reads version 1"),
        "{err}"
    );

    std::fs::remove_file(version.join("manifest.json")).expect("remove");
    let err = Model::open(&version).expect_err("a version without a manifest loaded");
    assert!(
        err.to_string().ends_with("manifest.json is missing"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn references_resolve_as_the_python_registry_resolves_them() {
    let Some(dir) = golden_dir() else { return };
    let scratch = std::env::temp_dir().join(format!("tabforge-refs-{}", std::process::id()));
    let version = copied_version(&dir, &scratch);
    let model_dir = version.parent().expect("the model folder").to_path_buf();
    let name = model_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name")
        .to_string();
    let mut manifest: Value =
        serde_json::from_slice(&std::fs::read(version.join("manifest.json")).expect("m"))
            .expect("json");
    manifest["version"] = Value::from(2);
    std::fs::create_dir_all(model_dir.join("2")).expect("v2");
    std::fs::copy(version.join("model.onnx"), model_dir.join("2/model.onnx")).expect("copy");
    std::fs::write(model_dir.join("2/manifest.json"), manifest.to_string()).expect("write");
    std::fs::create_dir_all(model_dir.join("07")).expect("a folder that is no version");
    let registry = Registry::open(&scratch).expect("registry");
    assert_eq!(registry.versions(&name).expect("versions"), vec![1, 2]);
    assert_eq!(registry.load(&name).expect("latest").version(), 2);
    let history = r#"{"history": [
        {"alias": "production", "action": "promote", "version": 2, "previous": null, "at": "", "by": ""},
        {"alias": "production", "action": "promote", "version": 1, "previous": 2, "at": "", "by": ""},
        {"alias": "staging", "action": "promote", "version": 2, "previous": null, "at": "", "by": ""},
        {"alias": "staging", "action": "remove", "version": null, "previous": 2, "at": "", "by": ""}]}"#;
    std::fs::write(model_dir.join("aliases.json"), history).expect("aliases");
    assert_eq!(registry.load(&name).expect("production").version(), 1);
    assert_eq!(
        registry.load(&format!("{name}:2")).expect("v2").version(),
        2
    );
    let err = registry
        .load(&format!("{name}@staging"))
        .expect_err("a removed alias resolved");
    assert_eq!(
        err.to_string(),
        format!("model {name} has no alias 'staging' (aliases: production)")
    );
    let err = registry
        .load(&format!("{name}:3"))
        .expect_err("a missing version resolved");
    assert_eq!(
        err.to_string(),
        format!("model {name} has no version 3 (versions: 1, 2)")
    );
    let err = registry
        .load("nope")
        .expect_err("an unknown model resolved");
    assert!(
        err.to_string()
            .starts_with("unknown model 'nope' in registry "),
        "{err}"
    );
    assert_eq!(err.status(), 404);
    let _ = std::fs::remove_dir_all(&scratch);
}
