//! Reading a filesystem registry the Python package wrote: versions, aliases, routes.
//!
//! `<root>/<name>/<version>/{model.onnx, manifest.json}`; aliases are replayed from
//! `<name>/aliases.json` and traffic routes read from `<name>/routes.json`, the same files
//! and rules as Python's registry. Rust only reads: Python owns every write.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{quoted, quoted_list, Error, Result};
use crate::model::Model;
use crate::refs::{validate_name, ModelRef, DEFAULT_ALIAS};
use crate::Options;

/// How a user points a command elsewhere; every "not found" message ends with it.
const ELSEWHERE: &str = "set --registry or TABFORGE_REGISTRY to use another";
/// The version file that makes a numbered folder a version.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The graph file of a version.
pub const MODEL_FILE: &str = "model.onnx";

/// A registry directory, read-only.
#[derive(Debug, Clone)]
pub struct Registry {
    root: PathBuf,
}

#[derive(Deserialize)]
struct AliasEvent {
    alias: String,
    action: String,
    version: Option<u64>,
}

#[derive(Deserialize)]
struct AliasFile {
    #[serde(default)]
    history: Vec<AliasEvent>,
}

fn version_folder(name: &str) -> Option<u64> {
    let ok = !name.is_empty()
        && name.len() <= 18
        && name.as_bytes()[0] != b'0'
        && name.bytes().all(|b| b.is_ascii_digit());
    if ok {
        name.parse().ok()
    } else {
        None
    }
}

impl Registry {
    /// Open a registry directory; an error says why it cannot be one.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let given = root.as_ref();
        let root = std::path::absolute(given).unwrap_or_else(|_| given.to_path_buf());
        if !root.is_dir() {
            let state = if root.exists() {
                "is not a directory"
            } else {
                "does not exist"
            };
            return Err(Error::NotFound(format!(
                "registry directory {} {state} ({ELSEWHERE})",
                root.display()
            )));
        }
        Ok(Registry { root })
    }

    /// The directory, absolute.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Models with at least one complete version, sorted; foreign entries are skipped.
    pub fn names(&self) -> Result<Vec<String>> {
        let listing = std::fs::read_dir(&self.root).map_err(|e| Error::io(&self.root, e))?;
        let mut names: Vec<String> = listing
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| validate_name(name).is_ok())
            .filter(|name| self.versions(name).map(|v| !v.is_empty()).unwrap_or(false))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Complete versions of `name`, ascending; empty for an unknown model.
    pub fn versions(&self, name: &str) -> Result<Vec<u64>> {
        let dir = self.root.join(validate_name(name)?);
        let listing = match std::fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                return Ok(Vec::new())
            }
            Err(e) => {
                return Err(Error::Registry(format!(
                    "cannot read {}: {e}",
                    dir.display()
                )))
            }
        };
        let mut found: Vec<u64> = listing
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let number = version_folder(entry.file_name().to_str()?)?;
                entry.path().join(MANIFEST_FILE).is_file().then_some(number)
            })
            .collect();
        found.sort_unstable();
        Ok(found)
    }

    /// The alias table of `name`: alias -> version, replayed from its history.
    pub fn aliases(&self, name: &str) -> Result<BTreeMap<String, u64>> {
        let Some(raw) = self.model_file(name, "aliases.json")? else {
            return Ok(BTreeMap::new());
        };
        let file: AliasFile = serde_json::from_slice(&raw).map_err(|e| {
            Error::Registry(format!("unreadable aliases.json for model {name}: {e}"))
        })?;
        let mut stacks: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for event in file.history {
            let stack = stacks.entry(event.alias).or_default();
            match (event.action.as_str(), event.version) {
                ("promote", Some(v)) => stack.push(v),
                ("rollback", _) => {
                    stack.pop();
                }
                ("remove", _) => stack.clear(),
                _ => {}
            }
        }
        Ok(stacks
            .into_iter()
            .filter_map(|(a, s)| Some((a, *s.last()?)))
            .collect())
    }

    /// The traffic route of `name`: (target, weight) in the file's order, where a target
    /// is an alias or a version number. The order matters: it places the weights on the
    /// line a routing key's hash falls on.
    pub fn route(&self, name: &str) -> Result<Vec<(String, u64)>> {
        let Some(raw) = self.model_file(name, "routes.json")? else {
            return Ok(Vec::new());
        };
        let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&raw)
            .map_err(|e| {
                Error::Registry(format!("unreadable routes.json for model {name}: {e}"))
            })?;
        map.into_iter()
            .map(|(target, weight)| match weight.as_u64() {
                Some(w) => Ok((target, w)),
                None => Err(Error::Registry(format!(
                    "unreadable routes.json for model {name}: weight of {target:?} is {weight}"
                ))),
            })
            .collect()
    }

    fn model_file(&self, name: &str, file: &str) -> Result<Option<Vec<u8>>> {
        let path = self.root.join(validate_name(name)?).join(file);
        match std::fs::read(&path) {
            Ok(raw) => Ok(Some(raw)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Registry(format!(
                "unreadable {file} for model {name}: {e}"
            ))),
        }
    }

    /// The error for missing models: where we looked, what is there, where else.
    pub fn unknown(&self, name: &str) -> Error {
        self.unknown_many(&[name])
    }

    /// The same reference with its version filled in, by Python's rules: an explicit
    /// version must exist; an alias must be set; else `production` if set, else the latest.
    pub fn resolve(&self, reference: &ModelRef) -> Result<ModelRef> {
        let versions = self.versions(&reference.name)?;
        let Some(latest) = versions.last().copied() else {
            return Err(self.unknown(&reference.name));
        };
        let name = reference.name.clone();
        if let Some(v) = reference.version {
            if !versions.contains(&v) {
                let listed: Vec<String> = versions.iter().map(u64::to_string).collect();
                return Err(Error::NotFound(format!(
                    "model {name} has no version {v} (versions: {})",
                    listed.join(", ")
                )));
            }
            return Ok(reference.clone());
        }
        let table = self.aliases(&name)?;
        if let Some(alias) = &reference.alias {
            let Some(v) = table.get(alias) else {
                let known = if table.is_empty() {
                    "none".to_string()
                } else {
                    table.keys().cloned().collect::<Vec<_>>().join(", ")
                };
                return Err(Error::NotFound(format!(
                    "model {name} has no alias {} (aliases: {known})",
                    quoted(alias)
                )));
            };
            return Ok(ModelRef {
                name,
                version: Some(*v),
                alias: Some(alias.clone()),
            });
        }
        if let Some(v) = table.get(DEFAULT_ALIAS) {
            return Ok(ModelRef {
                name,
                version: Some(*v),
                alias: Some(DEFAULT_ALIAS.into()),
            });
        }
        Ok(ModelRef {
            name,
            version: Some(latest),
            alias: None,
        })
    }

    /// The folder of one version.
    pub fn version_dir(&self, name: &str, version: u64) -> PathBuf {
        self.root.join(name).join(version.to_string())
    }

    /// Load what `reference` (`"churn"`, `"churn:3"`, `"churn@production"`) resolves to,
    /// sha256-checked, with default options.
    pub fn load(&self, reference: &str) -> Result<Model> {
        self.load_with(reference, &Options::default())
    }

    /// [`Registry::load`] with session options.
    pub fn load_with(&self, reference: &str, options: &Options) -> Result<Model> {
        let parsed: ModelRef = reference.parse()?;
        let resolved = self.resolve(&parsed)?;
        let version = resolved.version.unwrap_or_default();
        let mut model = Model::open_with(self.version_dir(&resolved.name, version), options)?;
        model.set_reference(resolved);
        Ok(model)
    }

    /// The error for missing models, as Python words it: where we looked, what is there
    /// (at most ten names), where else to look.
    pub fn unknown_many(&self, names: &[&str]) -> Error {
        let held = self.names().unwrap_or_default();
        let there = match held.len() {
            0 => "it holds no models".to_string(),
            1..=10 => format!("models there: {}", held.join(", ")),
            n => format!("models there: {}, ... ({n} in all)", held[..10].join(", ")),
        };
        let what = if names.len() == 1 { "model" } else { "models" };
        Error::NotFound(format!(
            "unknown {what} {} in registry {} ({there}; {ELSEWHERE})",
            quoted_list(names.iter().copied()),
            self.root.display()
        ))
    }
}
