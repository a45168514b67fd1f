//! A model as served right now: its loaded versions, the default, the traffic route, and
//! which version a request gets.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use blake2::digest::{Update, VariableOutput};

use crate::error::{quoted, Error, Result};
use crate::model::Model;
use crate::serve::batcher::Batcher;

/// One loaded version and its queue.
#[derive(Debug)]
pub struct Version {
    /// The model.
    pub model: Arc<Model>,
    /// Its batching queue.
    pub batcher: Batcher,
}

/// A model as served right now.
#[derive(Debug, Clone)]
pub struct Served {
    /// Model name.
    pub name: String,
    /// Loaded versions.
    pub versions: BTreeMap<u64, Arc<Version>>,
    /// What an unversioned request gets without a route.
    pub default: u64,
    /// Traffic route: (version, cumulative weight); empty sends everything to `default`.
    pub route: Vec<(u64, u64)>,
}

static SEED: AtomicU64 = AtomicU64::new(0x9E37_79B9_7F4A_7C15);

fn random_below(total: u64) -> u64 {
    // splitmix64 over a shared counter: cheap, and good enough to split traffic.
    let mut z = SEED.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % total
}

/// The point a routing key lands on: blake2b with an 8-byte digest, big-endian, modulo the
/// route's total weight, exactly as the Python server computes it.
pub fn route_point(key: &str, total: u64) -> u64 {
    let mut digest = [0u8; 8];
    if let Ok(mut hasher) = blake2::Blake2bVar::new(8) {
        hasher.update(key.as_bytes());
        let _ = hasher.finalize_variable(&mut digest);
    }
    u64::from_be_bytes(digest) % total.max(1)
}

impl Served {
    /// An explicit version, else the default: what metadata and readiness answer for
    /// (never routed, as in Python).
    pub fn pinned(&self, version: Option<&str>) -> Result<(u64, Arc<Version>)> {
        match version {
            Some(_) => self.choose(version, None),
            None => self
                .versions
                .get(&self.default)
                .map(|v| (self.default, v.clone()))
                .ok_or_else(|| {
                    Error::NotReady(format!(
                        "model {} has no version loaded",
                        quoted(&self.name)
                    ))
                }),
        }
    }

    /// An explicit version; else the route's pick (sticky per key); else the default.
    pub fn choose(&self, version: Option<&str>, key: Option<&str>) -> Result<(u64, Arc<Version>)> {
        if let Some(text) = version {
            let found = text
                .parse::<u64>()
                .ok()
                .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| Some((v, self.versions.get(&v)?.clone())));
            return found.ok_or_else(|| {
                Error::NotFound(format!(
                    "model {} has no version {}",
                    quoted(&self.name),
                    quoted(text)
                ))
            });
        }
        let number = match (self.route.last(), key) {
            (Some((_, total)), key) => {
                let point = key.map_or_else(|| random_below(*total), |k| route_point(k, *total));
                self.route
                    .iter()
                    .find(|(_, upto)| point < *upto)
                    .map_or(self.default, |(v, _)| *v)
            }
            (None, _) => self.default,
        };
        let chosen = self
            .versions
            .get(&number)
            .or_else(|| self.versions.get(&self.default));
        chosen.map(|v| (number, v.clone())).ok_or_else(|| {
            Error::NotReady(format!(
                "model {} has no version loaded",
                quoted(&self.name)
            ))
        })
    }
}
