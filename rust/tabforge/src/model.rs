//! One stored version, loaded: its manifest, a pool of sessions, and `predict`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::contract::{self, Feed};
use crate::engine::{Engine, Options};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::outputs::{Outputs, Prediction};
use crate::refs::ModelRef;
use crate::registry::{MANIFEST_FILE, MODEL_FILE};

/// A loaded model version, safe to share between threads (`Arc<Model>`).
#[derive(Debug)]
pub struct Model {
    dir: PathBuf,
    manifest: Manifest,
    engine: Engine,
    reference: ModelRef,
    /// Output widths learned from the warm-up row (clustering scores are declared -1).
    empty: Outputs,
}

/// A file of a version; a missing one is the registry's "is missing", as Python says it.
fn read_version_file(path: &Path) -> Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::Registry(format!("{} is missing", path.display())))
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Model {
    /// Open one version folder (`model.onnx` + `manifest.json`) with default options.
    ///
    /// The manifest's format version must be one this crate reads, and `model.onnx` must
    /// match the manifest's sha256; the model then runs once on a row of missing values.
    pub fn open(dir: impl AsRef<Path>) -> Result<Model> {
        Model::open_with(dir, &Options::default())
    }

    /// [`Model::open`] with session options.
    pub fn open_with(dir: impl AsRef<Path>, options: &Options) -> Result<Model> {
        let dir = dir.as_ref().to_path_buf();
        let manifest_path = dir.join(MANIFEST_FILE);
        let raw = read_version_file(&manifest_path)?;
        let manifest = Manifest::from_json(&raw, &manifest_path.display().to_string())?;
        let model_path = dir.join(MODEL_FILE);
        let bytes = read_version_file(&model_path)?;
        if hex(&Sha256::digest(&bytes)) != manifest.model_sha256 {
            return Err(Error::Registry(format!(
                "{} is corrupt: its sha256 does not match the manifest",
                model_path.display()
            )));
        }
        let engine = Engine::new(&bytes, &manifest, options)?;
        let reference = ModelRef {
            name: manifest.name.clone(),
            version: Some(manifest.version),
            alias: None,
        };
        let mut model = Model {
            dir,
            manifest,
            engine,
            reference,
            empty: Outputs::default(),
        };
        let probe = model.run(&Feed::probe(&model.manifest.inputs))?;
        model.empty = probe.rows_between(0, 0);
        Ok(model)
    }

    pub(crate) fn set_reference(&mut self, reference: ModelRef) {
        self.reference = reference;
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// What this version was loaded as (`churn:4`, or `churn@production` resolved to 4).
    pub fn reference(&self) -> &ModelRef {
        &self.reference
    }

    /// The version number.
    pub fn version(&self) -> u64 {
        self.manifest.version
    }

    /// The folder it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Widths of the two input tensors (numeric columns, categorical columns).
    pub fn widths(&self) -> (usize, usize) {
        (
            self.manifest.inputs.numeric.len(),
            self.manifest.inputs.categorical.len(),
        )
    }

    /// Encode rows (your `#[derive(Serialize)]` structs, `serde_json` records, maps) by the
    /// contract's rules.
    pub fn encode<T: serde::Serialize>(&self, rows: &[T]) -> Result<Feed> {
        contract::encode_rows(rows, &self.manifest.inputs)
    }

    /// Run the graph on an encoded feed: the raw output tensors. Blocks the calling thread
    /// (use `tokio::task::spawn_blocking` from async code, or the router's batcher).
    pub fn run(&self, feed: &Feed) -> Result<Outputs> {
        let (k, m) = self.widths();
        if feed.numeric.len() != feed.rows * k || feed.categorical.len() != feed.rows * m {
            return Err(Error::bad(format!(
                "the feed holds {} numeric and {} categorical values for {} rows; the model takes \
                 {k} and {m} per row",
                feed.numeric.len(),
                feed.categorical.len(),
                feed.rows
            )));
        }
        if feed.rows == 0 && !self.empty.tensors.is_empty() {
            return Ok(self.empty.clone()); // some graphs (k-NN) fail on zero rows
        }
        if feed.categorical.iter().any(|s| s.contains('\0')) {
            return self.engine.run(&self.without_nul(feed)?, (k, m));
        }
        self.engine.run(feed, (k, m))
    }

    /// ONNX Runtime's C API takes strings NUL-terminated, so a text holding a NUL cannot
    /// reach the graph as it is. Such a text is no category the model knows (their lists
    /// hold none), so it is sent as another unseen text: the graph encodes every unseen
    /// category alike (all zeros), as Python's runtime does with the original.
    fn without_nul(&self, feed: &Feed) -> Result<Feed> {
        let inputs = &self.manifest.inputs;
        let m = inputs.categorical.len().max(1);
        let mut clean = feed.clone();
        for (i, (orig, text)) in feed
            .categorical
            .iter()
            .zip(clean.categorical.iter_mut())
            .enumerate()
        {
            if !orig.contains('\0') {
                continue;
            }
            let column = &inputs.categorical[i % m];
            let known = inputs.categories.get(column).map_or(&[][..], Vec::as_slice);
            if known.contains(orig) {
                return Err(Error::bad(format!(
                    "column {column:?}: a category holding a NUL character cannot be sent to ONNX Runtime"
                )));
            }
            let mut unseen = String::from("\u{fffd}");
            while known.contains(&unseen) || unseen == inputs.missing_text {
                unseen.push('\u{fffd}');
            }
            *text = unseen;
        }
        Ok(clean)
    }

    /// [`Model::predict`] from async code: encoded here, run on a blocking thread, so the
    /// executor never waits on inference.
    pub async fn predict_async<T>(self: &Arc<Self>, rows: Vec<T>) -> Result<Vec<Prediction>>
    where
        T: serde::Serialize + Send + 'static,
    {
        let feed = self.encode(&rows)?;
        let model = Arc::clone(self);
        tokio::task::spawn_blocking(move || model.run(&feed)?.predictions(&model.manifest))
            .await
            .map_err(|e| Error::Runtime(format!("the inference thread failed: {e}")))?
    }

    /// Encode, run and type: one [`Prediction`] per row.
    pub fn predict<T: serde::Serialize>(&self, rows: &[T]) -> Result<Vec<Prediction>> {
        let feed = self.encode(rows)?;
        self.run(&feed)?.predictions(&self.manifest)
    }
}
