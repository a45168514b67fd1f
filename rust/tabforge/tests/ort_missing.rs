//! A missing ONNX Runtime library is one clear error, at every load, never a panic. (Its
//! own test binary: the library is loaded once per process.)

use std::path::PathBuf;

use tabforge::{Error, Model, Registry};

#[test]
fn a_missing_library_is_the_same_clear_error_every_time() {
    let Some(dir) = std::env::var_os("TABFORGE_GOLDEN_DIR").map(PathBuf::from) else {
        return;
    };
    std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so");
    let registry = Registry::open(dir.join("registry")).expect("the golden registry");
    let name = registry
        .names()
        .expect("names")
        .into_iter()
        .next()
        .expect("a model");
    for _ in 0..2 {
        let err = registry
            .load(&name)
            .expect_err("loaded without ONNX Runtime");
        assert!(matches!(err, Error::Runtime(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "ONNX Runtime library /nonexistent/libonnxruntime.so does not exist (ORT_DYLIB_PATH)"
        );
    }
    let version = registry.root().join(&name).join("1");
    assert!(matches!(Model::open(version), Err(Error::Runtime(_))));
}
