//! Strict JSON first; then the bare `NaN` / `Infinity` tokens real clients write.
//!
//! tritonclient (and Python's `json.dumps`) write a missing float as a bare `NaN`, which
//! strict JSON forbids. Such bodies are rewritten once, outside strings, each token into a
//! marker string that no client can send (it starts with a NUL); the decoders read the
//! markers back as the floats Python's parser makes of the tokens.

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// What a bare `NaN` becomes.
pub(crate) const NAN_MARK: &str = "\u{0}NaN";
/// What a bare `Infinity` becomes.
pub(crate) const INFINITY_MARK: &str = "\u{0}Infinity";
/// What a bare `-Infinity` becomes.
pub(crate) const NEG_INFINITY_MARK: &str = "\u{0}-Infinity";

/// The float a marker stands for, if `text` is one.
pub(crate) fn marked(text: &str) -> Option<f64> {
    match text {
        NAN_MARK => Some(f64::NAN),
        INFINITY_MARK => Some(f64::INFINITY),
        NEG_INFINITY_MARK => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// Nesting deeper than this is refused before parsing (serde_json's own limit is 128).
const MAX_DEPTH: usize = 120;

/// Tells, byte by byte, whether a byte of JSON text is inside a string (quotes included).
#[derive(Default)]
struct Strings {
    inside: bool,
    escaped: bool,
}

impl Strings {
    /// Whether `b` belongs to a string; call once per byte, in order.
    fn holds(&mut self, b: u8) -> bool {
        if self.inside {
            match (self.escaped, b) {
                (true, _) => self.escaped = false,
                (false, b'\\') => self.escaped = true,
                (false, b'"') => self.inside = false,
                _ => {}
            }
            return true;
        }
        self.inside = b == b'"';
        self.inside
    }
}

fn too_deep(body: &[u8]) -> bool {
    let mut strings = Strings::default();
    let mut depth = 0usize;
    for &b in body {
        if strings.holds(b) {
            continue;
        }
        match b {
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

/// Bare tokens and the JSON strings of their markers (longest first).
const TOKENS: [(&[u8], &[u8]); 4] = [
    (b"-Infinity", b"\"\\u0000-Infinity\""),
    (b"Infinity", b"\"\\u0000Infinity\""),
    (b"-NaN", b"\"\\u0000NaN\""),
    (b"NaN", b"\"\\u0000NaN\""),
];

/// Replace bare NaN/Infinity tokens outside strings; None if there were none.
fn loosen(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len() + 16);
    let mut strings = Strings::default();
    let mut changed = false;
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if !strings.holds(b) {
            if let Some((token, mark)) = TOKENS.iter().find(|(t, _)| body[i..].starts_with(t)) {
                out.extend_from_slice(mark);
                i += token.len();
                changed = true;
                continue;
            }
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

/// A body decoded in place, or the loosened text to decode again (then borrowed from it).
pub(crate) enum Decoded<T> {
    /// Decoded as it came.
    Strict(T),
    /// It held bare NaN/Infinity tokens: decode this text instead.
    Loose(Vec<u8>),
}

impl<T> Decoded<T> {
    /// The value; a body that still needed loosening is malformed.
    pub(crate) fn strict(self) -> Result<T> {
        match self {
            Decoded::Strict(value) => Ok(value),
            Decoded::Loose(_) => Err(Error::bad("malformed JSON")),
        }
    }
}

/// [`decode`] for a type that borrows from the body (strings are not copied).
pub(crate) fn decode_borrowed<'a, T: serde::Deserialize<'a>>(
    body: &'a [u8],
    what: &str,
) -> Result<Decoded<T>> {
    if too_deep(body) {
        return Err(Error::bad("malformed JSON: nested too deeply"));
    }
    match serde_json::from_slice::<T>(body) {
        Ok(value) => Ok(Decoded::Strict(value)),
        Err(e) if e.is_data() => Err(Error::bad(format!("invalid {what}: {e}"))),
        Err(e) => loosen(body)
            .map(Decoded::Loose)
            .ok_or_else(|| Error::bad(format!("malformed JSON: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_outside_strings_is_null_and_inside_is_kept() {
        let v: serde_json::Value =
            decode(br#"{"a": [NaN, 1, "NaN"], "b": -Infinity}"#, "x").unwrap();
        assert_eq!(v["a"][0], NAN_MARK);
        assert_eq!(v["a"][2], "NaN");
        assert_eq!(v["b"], NEG_INFINITY_MARK);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let body = "[".repeat(100_000);
        assert!(decode::<serde_json::Value>(body.as_bytes(), "x").is_err());
    }
}
