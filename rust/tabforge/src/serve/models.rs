//! The models a server holds, kept in step with the registry.
//!
//! Every version of every served model is loaded once (sha256-checked, warmed up) with its
//! own batcher. `refresh` compares the registry with what is loaded and swaps in a new
//! snapshot: new versions appear, a moved alias changes the default, routes change the
//! split, deleted versions leave. A request keeps the version it started with. A version
//! that fails to load is reported once and skipped; whatever served before keeps serving.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{quoted, Error, Result};
use crate::model::Model;
use crate::refs::{validate_name, ModelRef};
use crate::registry::Registry;
use crate::serve::batcher::Batcher;
use crate::serve::metrics::Metrics;
pub use crate::serve::served::{route_point, Served, Version};
use crate::serve::ServeConfig;

/// The line the Python server logs when what it serves of a model changes, word for word:
/// tests and operators read it.
fn log_serving(
    name: &str,
    versions: &BTreeMap<u64, Arc<Version>>,
    default: u64,
    aliased: bool,
    route: &[(u64, u64)],
) {
    let numbers: Vec<String> = versions.keys().map(u64::to_string).collect();
    let mut shares = Vec::new();
    let mut before = 0;
    for (v, upto) in route {
        shares.push(format!("{v}={}", upto - before));
        before = *upto;
    }
    let route = if shares.is_empty() {
        String::new()
    } else {
        format!(" route {}", shares.join(","))
    };
    let alias = if aliased { ", production" } else { "" };
    tracing::info!(
        "serving {name} versions [{}] (default {default}{alias}){route}",
        numbers.join(", ")
    );
}

/// Every served model, one consistent snapshot at a time.
#[derive(Debug)]
pub struct Models {
    registry: Option<Registry>,
    config: ServeConfig,
    snapshot: RwLock<Arc<BTreeMap<String, Arc<Served>>>>,
    ready: AtomicBool,
    failed: Mutex<BTreeMap<String, String>>,
    refreshing: Mutex<()>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Models {
    /// Models served from a registry; call [`Models::refresh`] (blocking) to load them.
    pub fn from_registry(registry: Registry, config: ServeConfig) -> Arc<Models> {
        Arc::new(Models::new(Some(registry), config))
    }

    /// Every model of a registry, loaded now (blocking: call it at start-up), served with
    /// `config`. Call [`Models::refresh`] again (on a blocking thread) to follow changes.
    pub fn load(registry: Registry, config: ServeConfig) -> Arc<Models> {
        let models = Models::from_registry(registry, config);
        models.refresh();
        models
    }

    /// Serve models you loaded yourself (no registry, no reload).
    pub fn from_models(models: Vec<Model>, config: ServeConfig) -> Result<Arc<Models>> {
        let me = Models::new(None, config);
        let mut table = BTreeMap::new();
        for model in models {
            let name = model.manifest().name.clone();
            let version = model.version();
            let loaded = me.start(Arc::new(model))?;
            let served = table.entry(name.clone()).or_insert_with(|| Served {
                name,
                versions: BTreeMap::new(),
                default: version,
                route: vec![],
            });
            served.versions.insert(version, loaded);
            served.default = served.default.max(version);
        }
        let table: BTreeMap<String, Arc<Served>> =
            table.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
        me.metrics
            .set_loaded(table.values().map(|s| s.versions.len()).sum(), 0);
        *me.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
        me.ready.store(true, Ordering::Release);
        Ok(Arc::new(me))
    }

    fn new(registry: Option<Registry>, config: ServeConfig) -> Models {
        Models {
            registry,
            config,
            snapshot: RwLock::new(Arc::new(BTreeMap::new())),
            ready: AtomicBool::new(false),
            failed: Mutex::new(BTreeMap::new()),
            refreshing: Mutex::new(()),
            metrics: Arc::new(Metrics::default()),
        }
    }

    /// The settings served with.
    pub fn config(&self) -> &ServeConfig {
        &self.config
    }

    /// Whether the first load is done.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<BTreeMap<String, Arc<Served>>> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The model as served right now.
    pub fn served(&self, name: &str) -> Result<Arc<Served>> {
        if !self.is_ready() {
            return Err(Error::NotReady("models are still loading".into()));
        }
        let found = validate_name(name)
            .ok()
            .and_then(|_| self.snapshot().get(name).cloned());
        found.ok_or_else(|| Error::NotFound(format!("unknown model {}", quoted(name))))
    }

    fn start(&self, model: Arc<Model>) -> Result<Arc<Version>> {
        let name = model.manifest().name.clone();
        let policy = self
            .config
            .model_batching
            .get(&name)
            .copied()
            .unwrap_or(self.config.batch);
        let threads = self.config.options.session_count();
        let batcher = Batcher::start(model.clone(), policy, threads, self.metrics.clone())?;
        Ok(Arc::new(Version { model, batcher }))
    }

    /// Apply registry changes (blocking: loads models); true if anything served changed.
    pub fn refresh(&self) -> bool {
        let Some(registry) = &self.registry else {
            return false;
        };
        let _one = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        let names = if self.config.models.is_empty() {
            match registry.names() {
                Ok(names) => names,
                Err(e) => {
                    self.fail("registry", &format!("cannot read registry: {e}"));
                    return false;
                }
            }
        } else {
            self.config.models.clone()
        };
        let before = self.snapshot();
        let mut table = BTreeMap::new();
        for name in &names {
            if let Some(served) = self.refresh_model(registry, name, before.get(name)) {
                table.insert(name.clone(), served);
            }
        }
        let changed = table.len() != before.len()
            || table
                .iter()
                .any(|(k, v)| before.get(k).is_none_or(|b| !Arc::ptr_eq(b, v)));
        if changed {
            let loaded = table.values().map(|s| s.versions.len()).sum();
            *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
            self.metrics
                .set_loaded(loaded, self.failed.lock().map(|f| f.len()).unwrap_or(0));
        }
        if !self.ready.swap(true, Ordering::AcqRel) {
            let failed = self.failed.lock().map(|f| f.len()).unwrap_or(0);
            tracing::info!("ready: {} model(s), {failed} failed", self.snapshot().len());
        }
        changed
    }

    fn fail(&self, key: &str, why: &str) {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if failed.insert(key.to_string(), why.to_string()).as_deref() != Some(why) {
            tracing::error!("not serving {key}: {why}");
        }
        self.metrics.set_loaded(
            self.snapshot().values().map(|s| s.versions.len()).sum(),
            failed.len(),
        );
    }

    /// Forget a failure that no longer holds (Python pops it the same way).
    fn clear(&self, key: &str) {
        let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
        if failed.remove(key).is_some() {
            self.metrics.set_loaded(
                self.snapshot().values().map(|s| s.versions.len()).sum(),
                failed.len(),
            );
        }
    }

    fn refresh_model(
        &self,
        registry: &Registry,
        name: &str,
        current: Option<&Arc<Served>>,
    ) -> Option<Arc<Served>> {
        let on_disk = match registry.versions(name) {
            Ok(v) => v,
            Err(e) => {
                self.fail(name, &e.to_string());
                return current.cloned();
            }
        };
        if on_disk.is_empty() {
            if current.is_some() {
                tracing::info!("{name} left the registry; no longer served");
            } else {
                self.fail(name, &registry.unknown(name).to_string());
            }
            return None;
        }
        let versions = self.load_versions(registry, name, &on_disk, current);
        if versions.is_empty() {
            return None;
        }
        self.clear(name); // served again: a failure of the model as a whole is over
        let resolved = registry.resolve(&ModelRef::latest(name)).ok();
        let wanted = resolved.as_ref().and_then(|r| r.version);
        let default = match wanted {
            Some(v) if versions.contains_key(&v) => v,
            _ => match current {
                Some(c) if versions.contains_key(&c.default) => c.default,
                _ => *versions.keys().last().unwrap_or(&0),
            },
        };
        let route = self.route(registry, name, &versions, current);
        let unchanged = current.is_some_and(|c| {
            c.default == default
                && c.route == route
                && c.versions.len() == versions.len()
                && c.versions
                    .iter()
                    .all(|(k, v)| versions.get(k).is_some_and(|n| Arc::ptr_eq(n, v)))
        });
        if unchanged {
            return current.cloned();
        }
        let aliased = wanted == Some(default) && resolved.is_some_and(|r| r.alias.is_some());
        log_serving(name, &versions, default, aliased, &route);
        Some(Arc::new(Served {
            name: name.to_string(),
            versions,
            default,
            route,
        }))
    }

    /// The versions on disk that run: kept from `current`, else loaded and warmed up; a
    /// version that failed once is not retried (its bytes never change).
    fn load_versions(
        &self,
        registry: &Registry,
        name: &str,
        on_disk: &[u64],
        current: Option<&Arc<Served>>,
    ) -> BTreeMap<u64, Arc<Version>> {
        let mut versions = BTreeMap::new();
        for v in on_disk {
            if let Some(loaded) = current.and_then(|c| c.versions.get(v)) {
                versions.insert(*v, loaded.clone());
                continue;
            }
            let key = format!("{name}:{v}");
            if self
                .failed
                .lock()
                .map(|f| f.contains_key(&key))
                .unwrap_or(false)
            {
                continue;
            }
            match Model::open_with(registry.version_dir(name, *v), &self.config.options) {
                Ok(model) => match self.start(Arc::new(model)) {
                    Ok(version) => {
                        tracing::info!("loaded {key}");
                        versions.insert(*v, version);
                    }
                    Err(e) => self.fail(&key, &format!("{key} failed to start: {e}")),
                },
                Err(e) => self.fail(&key, &format!("{key} failed to load: {e}")),
            }
        }
        versions
    }

    /// The registry's route resolved to loaded versions, as cumulative weights; an
    /// unreadable route file keeps the route served before, as in Python.
    fn route(
        &self,
        registry: &Registry,
        name: &str,
        versions: &BTreeMap<u64, Arc<Version>>,
        current: Option<&Arc<Served>>,
    ) -> Vec<(u64, u64)> {
        let key = format!("{name} route");
        let weights = match registry.route(name) {
            Ok(w) => w,
            Err(e) => {
                self.fail(&key, &e.to_string());
                return current.map(|c| c.route.clone()).unwrap_or_default();
            }
        };
        self.clear(&key);
        if weights.is_empty() {
            return vec![];
        }
        let aliases = registry.aliases(name).unwrap_or_default();
        let mut total = 0;
        let mut route = Vec::new();
        for (target, weight) in weights {
            let version = if target.bytes().all(|b| b.is_ascii_digit()) {
                target.parse::<u64>().ok()
            } else {
                aliases.get(&target).copied()
            };
            if let Some(v) = version.filter(|v| versions.contains_key(v) && weight > 0) {
                total += weight;
                route.push((v, total));
            }
        }
        route
    }
}
