//! Property tests over the decoders: no input, however malformed, makes them panic, and
//! what they accept is well-formed (the feed has the declared width for every row).

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::manifest::{Inputs, TensorSpec};
use crate::wire::assemble::assemble;
use crate::wire::binary::{binary_inputs, split_body};
use crate::wire::{v1, v2};

fn inputs() -> Inputs {
    Inputs {
        numeric: vec!["a".into(), "b".into()],
        categorical: vec!["color".into()],
        categories: BTreeMap::from([(
            "color".to_string(),
            vec!["001".to_string(), "red".to_string()],
        )]),
        tensors: vec![
            TensorSpec {
                name: "numeric".into(),
                datatype: "FP32".into(),
                shape: vec![-1, 2],
            },
            TensorSpec {
                name: "categorical".into(),
                datatype: "BYTES".into(),
                shape: vec![-1, 1],
            },
        ],
        missing_text: String::new(),
    }
}

/// JSON-ish text built from the tokens real bodies are made of, so that the generator
/// reaches deep into the decoders instead of failing at the first byte.
fn jsonish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"inputs\"".to_string()),
        Just("\"name\"".to_string()),
        Just("\"numeric\"".to_string()),
        Just("\"categorical\"".to_string()),
        Just("\"shape\"".to_string()),
        Just("\"datatype\"".to_string()),
        Just("\"FP32\"".to_string()),
        Just("\"BYTES\"".to_string()),
        Just("\"data\"".to_string()),
        Just("\"instances\"".to_string()),
        Just("\"a\"".to_string()),
        Just("\"color\"".to_string()),
        Just("NaN".to_string()),
        Just("-Infinity".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
        "\"[a-z0-9\\\\\\u{0}]{0,6}\"".prop_map(|s| s),
    ];
    proptest::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

fn v2_body() -> impl Strategy<Value = String> {
    let shape = proptest::collection::vec(-2i64..5, 0..4);
    let value = prop_oneof![
        Just("null".to_string()),
        Just("NaN".to_string()),
        Just("\"red\"".to_string()),
        Just("\"001\"".to_string()),
        Just("1".to_string()),
        Just("2.5".to_string()),
        Just("true".to_string()),
        Just("[1, 2]".to_string()),
        Just("\"x\"".to_string()),
    ];
    let data = proptest::collection::vec(value, 0..12).prop_map(|v| format!("[{}]", v.join(",")));
    let name = prop_oneof![
        Just("numeric"),
        Just("categorical"),
        Just("a"),
        Just("b"),
        Just("color"),
        Just("zz")
    ];
    let datatype = prop_oneof![
        Just("FP32"),
        Just("BYTES"),
        Just("INT64"),
        Just("FP64"),
        Just("BOOL"),
        Just("UINT8"),
        Just("X")
    ];
    let input = (name, shape, datatype, data).prop_map(|(n, s, d, v)| {
        format!(r#"{{"name": "{n}", "shape": {s:?}, "datatype": "{d}", "data": {v}}}"#)
    });
    proptest::collection::vec(input, 0..4)
        .prop_map(|i| format!(r#"{{"inputs": [{}]}}"#, i.join(",")))
}

fn check_feed(feed: &crate::contract::Feed) {
    assert_eq!(feed.numeric.len(), feed.rows * 2);
    assert_eq!(feed.categorical.len(), feed.rows);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn v2_json_never_panics(body in prop_oneof![jsonish(), v2_body()]) {
        if let Ok(request) = v2::decode_request(body.as_bytes()) {
            if let Ok(feed) = assemble(&request, &inputs(), 1000, &BTreeMap::new()) {
                check_feed(&feed);
            }
        }
    }

    #[test]
    fn v1_never_panics(body in jsonish(), records in proptest::collection::vec(v2_body(), 0..2)) {
        let _ = records;
        if let Ok(feed) = v1::assemble(body.as_bytes(), &inputs(), 1000) {
            check_feed(&feed);
        }
    }

    #[test]
    fn binary_bodies_never_panic(head in v2_body(), blob in proptest::collection::vec(any::<u8>(), 0..64), size in 0usize..80) {
        let with_sizes = head.replace(r#""data""#, &format!(r#""parameters": {{"binary_data_size": {size}}}, "x""#));
        let mut body = with_sizes.clone().into_bytes();
        body.extend_from_slice(&blob);
        let length = with_sizes.len().to_string();
        if let Ok((json, rest)) = split_body(&body, &length) {
            if let Ok(request) = v2::decode_request(json) {
                if let Ok(tensors) = binary_inputs(&request, rest) {
                    if let Ok(feed) = assemble(&request, &inputs(), 1000, &tensors) {
                        check_feed(&feed);
                    }
                }
            }
        }
    }
}
