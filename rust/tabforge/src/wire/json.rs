//! Strict JSON first; then the bare `NaN` / `Infinity` tokens real clients write.
//!
//! tritonclient (and Python's `json.dumps`) write a missing float as a bare `NaN`, which
//! strict JSON forbids. Such bodies are rewritten once, outside strings: `NaN` becomes
//! `null` (missing) and `Infinity` a marker string the tensor decoder refuses by name.

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// What `Infinity` / `-Infinity` become, so the decoder can say which input held one.
pub(crate) const INFINITY_MARK: &str = "\u{0}Infinity";

/// Nesting deeper than this is refused before parsing (serde_json's own limit is 128).
const MAX_DEPTH: usize = 120;

fn too_deep(body: &[u8]) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Replace bare NaN/Infinity tokens outside strings; None if there were none.
fn loosen(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() + 16);
    let (mut in_string, mut escaped, mut changed) = (false, false, false);
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            out.push(b);
            i += 1;
            continue;
        }
        let rest = &body[i..];
        if b == b'"' {
            in_string = true;
        } else if rest.starts_with(b"NaN") || rest.starts_with(b"-NaN") {
            out.extend_from_slice(b"null");
            i += if b == b'-' { 4 } else { 3 };
            changed = true;
            continue;
        } else if rest.starts_with(b"Infinity") || rest.starts_with(b"-Infinity") {
            out.extend_from_slice(b"\"\\u0000Infinity\"");
            i += if b == b'-' { 9 } else { 8 };
            changed = true;
            continue;
        }
        out.push(b);
        i += 1;
    }
    changed.then_some(out)
}

/// Decode `body` as `T`; `what` names the document in the error ("inference request").
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    if too_deep(body) {
        return Err(Error::bad("malformed JSON: nested too deeply"));
    }
    match serde_json::from_slice::<T>(body) {
        Ok(value) => Ok(value),
        Err(e) if e.is_data() => Err(Error::bad(format!("invalid {what}: {e}"))),
        Err(e) => {
            let Some(loose) = loosen(body) else {
                return Err(Error::bad(format!("malformed JSON: {e}")));
            };
            serde_json::from_slice::<T>(&loose).map_err(|again| {
                if again.is_data() {
                    Error::bad(format!("invalid {what}: {again}"))
                } else {
                    Error::bad(format!("malformed JSON: {e}"))
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_outside_strings_is_null_and_inside_is_kept() {
        let v: serde_json::Value =
            decode(br#"{"a": [NaN, 1, "NaN"], "b": -Infinity}"#, "x").unwrap();
        assert_eq!(v["a"][0], serde_json::Value::Null);
        assert_eq!(v["a"][2], "NaN");
        assert_eq!(v["b"], INFINITY_MARK);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let body = "[".repeat(100_000);
        assert!(decode::<serde_json::Value>(body.as_bytes(), "x").is_err());
    }
}
