//! Rows -> the model's two tensors, by the rules Python's `contract/encode.py` applies.
//!
//! Numbers become float32 (null -> NaN; booleans 1/0; text is parsed, and text that is
//! not a number is refused naming its row and column). Categories become strings (null
//! -> the manifest's missing text; booleans `true`/`false`; numbers as polars writes them),
//! and numbers arriving where the model knows differently written text (`1` for `"001"`)
//! are refused, since they would silently become an unseen category.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{quoted, quoted_list, Error, Result};
use crate::manifest::Inputs;

/// The graph's input tensors for `rows` rows, row-major.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Feed {
    /// Number of rows.
    pub rows: usize,
    /// `numeric` float32 [rows, k]; NaN marks a missing value.
    pub numeric: Vec<f32>,
    /// `categorical` strings [rows, m]; the manifest's missing text marks a missing value.
    pub categorical: Vec<String>,
}

impl Feed {
    /// One row of missing values: every model imputes it (used to warm a session up).
    pub fn probe(inputs: &Inputs) -> Feed {
        Feed {
            rows: 1,
            numeric: vec![f32::NAN; inputs.numeric.len()],
            categorical: vec![inputs.missing_text.clone(); inputs.categorical.len()],
        }
    }

    /// Append another feed's rows (same model).
    pub fn extend(&mut self, other: &Feed) {
        self.rows += other.rows;
        self.numeric.extend_from_slice(&other.numeric);
        self.categorical.extend(other.categorical.iter().cloned());
    }
}

/// One value of a column, as the wire delivered it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// Missing.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float32 (a V2 `FP32` tensor): written as float32 when it becomes text.
    Float32(f32),
    /// A float64 (JSON numbers with a fraction or exponent).
    Float(f64),
    /// Text.
    Text(&'a str),
    /// Something that is not a value (a JSON list or object).
    Nested,
}

impl<'a> Cell<'a> {
    /// A JSON value as a cell.
    pub fn of(value: &'a Value) -> Cell<'a> {
        match value {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Cell::Int(i),
                None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => match crate::wire::json::marked(s) {
                Some(x) => Cell::Float(x),
                None => Cell::Text(s),
            },
            Value::Array(_) | Value::Object(_) => Cell::Nested,
        }
    }
}

/// The kind a column has as a whole, like the dtype polars gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ints,
    Floats,
    Floats32,
    Other,
}

fn kind(cells: &[Cell<'_>]) -> Kind {
    let mut found = Kind::Ints;
    let mut any = false;
    for cell in cells {
        match cell {
            Cell::Null => continue,
            Cell::Int(_) => {}
            Cell::Float(_) if found != Kind::Floats32 => found = Kind::Floats,
            Cell::Float32(_) if found == Kind::Ints => found = Kind::Floats32,
            Cell::Float32(_) | Cell::Float(_) => {}
            _ => return Kind::Other,
        }
        any = true;
    }
    if any {
        found
    } else {
        Kind::Other
    }
}

/// A numeric column, appended to `out` column-major; the first row holding text that is
/// not a number, if any.
///
/// A column holding any text is text as a whole (as polars reads it), so its numbers are
/// read back from how they are written: `39.1` parses to the float32 nearest 39.1, which
/// is not always the float32 nearest the float64 39.1.
fn numeric_column(name: &str, cells: &[Cell<'_>], out: &mut Vec<f32>) -> Result<Option<usize>> {
    let mut bad = None;
    let texty = cells.iter().any(|c| matches!(c, Cell::Text(_)));
    for (row, cell) in cells.iter().enumerate() {
        let value = match cell {
            Cell::Null => f32::NAN,
            Cell::Bool(b) => f32::from(u8::from(*b)),
            Cell::Int(i) => *i as f32,
            Cell::Float32(f) => *f,
            Cell::Float(f) if texty => float_text(*f, f.to_string()).parse().unwrap_or(*f as f32),
            Cell::Float(f) => *f as f32,
            Cell::Text(t) => match t.trim() {
                "" => f32::NAN,
                text => text.parse::<f32>().unwrap_or_else(|_| {
                    bad.get_or_insert(row);
                    f32::NAN
                }),
            },
            Cell::Nested => {
                return Err(Error::bad(format!(
                    "column {} holds lists or objects, not numbers",
                    quoted(name)
                )))
            }
        };
        out.push(value);
    }
    Ok(bad)
}

/// How polars writes a float as text: shortest round trip, `.0` on whole numbers.
fn float_text(value: f64, shortest: String) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e16 {
        format!("{value:.1}")
    } else if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        shortest
    }
}

/// A cell as text, as polars casts its column: in a column of floats an integer is a float.
fn cell_text(cell: &Cell<'_>, kind: Kind) -> Option<String> {
    match cell {
        Cell::Null => None,
        Cell::Bool(b) => Some(b.to_string()),
        Cell::Int(i) if kind == Kind::Floats => {
            Some(float_text(*i as f64, (*i as f64).to_string()))
        }
        Cell::Int(i) => Some(i.to_string()),
        Cell::Float32(f) => Some(float_text(f64::from(*f), f.to_string())),
        Cell::Float(f) => Some(float_text(*f, f.to_string())),
        Cell::Text(t) => Some((*t).to_string()),
        Cell::Nested => Some(String::new()),
    }
}

/// A categorical column as text, refusing numbers where the model knows other spellings.
fn categorical_column(
    name: &str,
    cells: &[Cell<'_>],
    known: &[String],
    missing: &str,
) -> Result<Vec<String>> {
    if cells.iter().any(|c| matches!(c, Cell::Nested)) {
        return Err(Error::bad(format!(
            "column {} holds lists or objects, not text",
            quoted(name)
        )));
    }
    let column_kind = kind(cells);
    let texts: Vec<Option<String>> = cells.iter().map(|c| cell_text(c, column_kind)).collect();
    if column_kind != Kind::Other && !known.is_empty() {
        check_spelling(name, &texts, known, column_kind)?;
    }
    Ok(texts
        .into_iter()
        .map(|t| t.unwrap_or_else(|| missing.to_string()))
        .collect())
}

fn check_spelling(
    name: &str,
    texts: &[Option<String>],
    known: &[String],
    kind: Kind,
) -> Result<()> {
    let mut unseen: Vec<&str> = Vec::new();
    for text in texts.iter().flatten() {
        if !known.contains(text) && !unseen.contains(&text.as_str()) {
            unseen.push(text);
        }
    }
    if unseen.is_empty() {
        return Ok(());
    }
    // How each numeric-looking category would read had it arrived as this column does.
    let differs: Vec<&str> = known
        .iter()
        .filter_map(|k| {
            let number = k.parse::<f64>().ok().filter(|n| n.is_finite())?;
            let rewritten = match kind {
                Kind::Ints => (number.trunc() as i64).to_string(),
                Kind::Floats32 => float_text(number, (number as f32).to_string()),
                _ => float_text(number, number.to_string()),
            };
            (rewritten != *k).then_some(k.as_str())
        })
        .collect();
    if differs.is_empty() {
        return Ok(()); // genuinely unseen categories: the one-hot encoder ignores them
    }
    let more = if unseen.len() > 2 { ", ..." } else { "" };
    Err(Error::bad(format!(
        "column {} arrived as numbers ({}{more}) but the model knows it as text such as {}; \
         read it as text (e.g. dtype=str / schema_overrides)",
        quoted(name),
        unseen[..unseen.len().min(2)].join(", "),
        quoted_list(differs.iter().take(2).copied())
    )))
}

/// Encode columns given as cells (`columns[name][row]`); every column must have `rows` cells.
pub fn encode_cells(
    columns: &BTreeMap<&str, Vec<Cell<'_>>>,
    rows: usize,
    inputs: &Inputs,
) -> Result<Feed> {
    let missing: Vec<&str> = inputs
        .numeric
        .iter()
        .chain(&inputs.categorical)
        .map(String::as_str)
        .filter(|c| !columns.contains_key(c))
        .collect();
    if !missing.is_empty() {
        return Err(Error::bad(format!(
            "missing required columns: {}",
            quoted_list(missing)
        )));
    }
    let k = inputs.numeric.len();
    let mut by_column = Vec::with_capacity(rows * k);
    let mut first_bad: Option<(usize, &str)> = None;
    for name in &inputs.numeric {
        let cells = &columns[name.as_str()];
        if let Some(row) = numeric_column(name, cells, &mut by_column)? {
            first_bad.get_or_insert((row, name));
        }
    }
    if let Some((row, name)) = first_bad {
        let shown = match columns[name][row] {
            Cell::Text(t) => quoted(t),
            _ => String::new(),
        };
        return Err(Error::bad(format!(
            "row {}: column {} holds {shown}, not a number",
            row + 1,
            quoted(name)
        )));
    }
    let mut numeric = vec![0f32; rows * k];
    for (j, column) in by_column.chunks(rows.max(1)).enumerate().take(k) {
        for (i, v) in column.iter().enumerate() {
            numeric[i * k + j] = *v;
        }
    }
    let m = inputs.categorical.len();
    let mut categorical = vec![String::new(); rows * m];
    for (j, name) in inputs.categorical.iter().enumerate() {
        let known = inputs.categories.get(name).map_or(&[][..], Vec::as_slice);
        let texts = categorical_column(name, &columns[name.as_str()], known, &inputs.missing_text)?;
        for (i, text) in texts.into_iter().enumerate() {
            categorical[i * m + j] = text;
        }
    }
    Ok(Feed {
        rows,
        numeric,
        categorical,
    })
}

/// Encode JSON records (`[{column: value, ...}, ...]`), as KServe V1 clients send them. A
/// key absent from a record is a missing value; a column absent from every record is an error.
pub fn encode_records(records: &[serde_json::Map<String, Value>], inputs: &Inputs) -> Result<Feed> {
    let mut columns: BTreeMap<&str, Vec<Cell<'_>>> = BTreeMap::new();
    for name in inputs.numeric.iter().chain(&inputs.categorical) {
        if records.iter().any(|r| r.contains_key(name)) {
            let cells = records
                .iter()
                .map(|r| r.get(name).map_or(Cell::Null, Cell::of))
                .collect();
            columns.insert(name, cells);
        }
    }
    encode_cells(&columns, records.len(), inputs)
}

/// Encode any rows serde can turn into JSON objects: a `Vec` of your own
/// `#[derive(Serialize)]` structs, `serde_json::Value` records, maps.
pub fn encode_rows<T: serde::Serialize>(rows: &[T], inputs: &Inputs) -> Result<Feed> {
    let records = rows
        .iter()
        .enumerate()
        .map(|(i, row)| match serde_json::to_value(row) {
            Ok(Value::Object(map)) => Ok(map),
            Ok(_) => Err(Error::bad(format!(
                "row {}: not a record of column values",
                i + 1
            ))),
            Err(e) => Err(Error::bad(format!("row {}: {e}", i + 1))),
        })
        .collect::<Result<Vec<_>>>()?;
    encode_records(&records, inputs)
}

/// Encode columns of JSON values (`{column: [v0, v1, ...]}`); all must be equally long.
pub fn encode_columns(columns: &BTreeMap<String, Vec<Value>>, inputs: &Inputs) -> Result<Feed> {
    let mut lengths: Vec<usize> = columns.values().map(Vec::len).collect();
    lengths.sort_unstable();
    lengths.dedup();
    if lengths.len() > 1 {
        return Err(Error::bad(format!(
            "columns disagree on the number of rows: {lengths:?}"
        )));
    }
    let cells = columns
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(Cell::of).collect()))
        .collect();
    encode_cells(&cells, lengths.first().copied().unwrap_or(0), inputs)
}
