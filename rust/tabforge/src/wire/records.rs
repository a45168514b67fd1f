//! KServe V1 records read straight into cells: keys borrowed from the body, values kept as
//! the few kinds a column cell can be, nothing built per record but one small vector. (A
//! `serde_json::Map` per record cost most of a V1 request's CPU: a heap key and a hashed
//! insert per column.)

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::contract::{encode_cells, Cell, Feed};
use crate::error::Result;
use crate::manifest::Inputs;
use crate::wire::json::marked;

/// One value of a record, as a column cell can take it.
#[derive(Debug)]
enum Lite<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(Cow<'a, str>),
    Nested,
}

impl Lite<'_> {
    fn cell(&self) -> Cell<'_> {
        match self {
            Lite::Null => Cell::Null,
            Lite::Bool(b) => Cell::Bool(*b),
            Lite::Int(i) => Cell::Int(*i),
            Lite::Float(f) => Cell::Float(*f),
            Lite::Text(t) => marked(t).map_or(Cell::Text(t), Cell::Float),
            Lite::Nested => Cell::Nested,
        }
    }
}

struct LiteVisitor;

impl<'de> Visitor<'de> for LiteVisitor {
    type Value = Lite<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column value")
    }
    fn visit_unit<E>(self) -> Result<Lite<'de>, E> {
        Ok(Lite::Null)
    }
    fn visit_none<E>(self) -> Result<Lite<'de>, E> {
        Ok(Lite::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Lite<'de>, E> {
        Ok(Lite::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Lite<'de>, E> {
        Ok(Lite::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Lite<'de>, E> {
        Ok(i64::try_from(v).map_or(Lite::Float(v as f64), Lite::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Lite<'de>, E> {
        Ok(Lite::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Lite<'de>, E> {
        Ok(Lite::Text(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Lite<'de>, E> {
        Ok(Lite::Text(Cow::Owned(v.to_string())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lite<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Lite::Nested)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Lite<'de>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Lite::Nested)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Lite<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LiteVisitor)
    }
}

/// A key, borrowed from the body unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a column name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// One record: its (column, value) pairs in body order.
pub(crate) struct Record<'a>(Vec<(Key<'a>, Lite<'a>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Record<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RecordVisitor;
        impl<'de> Visitor<'de> for RecordVisitor {
            type Value = Record<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object keyed by column")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record<'de>, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some(pair) = map.next_entry::<Key<'de>, Lite<'de>>()? {
                    pairs.push(pair);
                }
                Ok(Record(pairs))
            }
        }
        d.deserialize_map(RecordVisitor)
    }
}

/// `{"instances": [...]}`.
#[derive(Deserialize)]
pub(crate) struct PredictRequest<'a> {
    #[serde(borrow)]
    pub instances: Vec<Record<'a>>,
}

/// The feed for records, by the contract's rules (a key absent from a record is missing;
/// a column absent from every record is an error; the last of repeated keys wins).
pub(crate) fn encode(records: &[Record<'_>], inputs: &Inputs) -> Result<Feed> {
    let names: Vec<&str> = inputs
        .numeric
        .iter()
        .chain(&inputs.categorical)
        .map(String::as_str)
        .collect();
    let index: HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let rows = records.len();
    let mut cells: Vec<Vec<Cell<'_>>> = vec![vec![Cell::Null; rows]; names.len()];
    let mut seen = vec![false; names.len()];
    for (row, record) in records.iter().enumerate() {
        for (key, value) in &record.0 {
            if let Some(&column) = index.get(key.0.as_ref()) {
                cells[column][row] = value.cell();
                seen[column] = true;
            }
        }
    }
    let columns: BTreeMap<&str, Vec<Cell<'_>>> = names
        .into_iter()
        .zip(cells)
        .zip(seen)
        .filter_map(|(pair, seen)| seen.then_some(pair))
        .collect();
    encode_cells(&columns, rows, inputs)
}
