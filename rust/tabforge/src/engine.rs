//! ONNX Runtime through `ort` with `load-dynamic`: one library per process, a pool of
//! sessions per model version.
//!
//! The library is the one inside the Python onnxruntime wheel (or `ORT_DYLIB_PATH`), so
//! Python and Rust run one engine build. `Session::run` takes `&mut self`: a version holds
//! one session per core, sharing prepacked weights, and a run borrows a free one.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, OnceLock};

use ort::session::builder::{GraphOptimizationLevel, PrepackedWeights};
use ort::session::{Session, SessionInputValue};
use ort::value::{Tensor, TensorRef};

use crate::contract::Feed;
use crate::error::{Error, Result};
use crate::manifest::{Manifest, CATEGORICAL_INPUT, NUMERIC_INPUT};
use crate::outputs::{OutputTensor, Outputs, TensorData};

/// How sessions are made.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sessions per version, each able to run one call at a time; 0: one per core.
    pub sessions: usize,
    /// ONNX Runtime intra-op threads per call.
    pub intra_threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sessions: 0,
            intra_threads: 1,
        }
    }
}

impl Options {
    pub(crate) fn session_count(&self) -> usize {
        if self.sessions > 0 {
            return self.sessions;
        }
        std::thread::available_parallelism().map_or(1, usize::from)
    }
}

static ENVIRONMENT: OnceLock<std::result::Result<ort::environment::Environment, String>> =
    OnceLock::new();

fn python_wheel_library(site: &Path) -> Option<PathBuf> {
    let capi = site.join("onnxruntime").join("capi");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&capi)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libonnxruntime.so") || n == "libonnxruntime.dylib")
        })
        .collect();
    found.sort();
    found.pop()
}

fn in_venv(venv: &Path) -> Option<PathBuf> {
    let lib = venv.join("lib");
    std::fs::read_dir(&lib)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("python"))
        })
        .find_map(|p| python_wheel_library(&p.join("site-packages")))
}

/// Where the ONNX Runtime library is looked for: `ORT_DYLIB_PATH`, then the onnxruntime
/// wheel of `$VIRTUAL_ENV`, then of a `.venv` beside the working directory or the
/// executable or any folder above them.
pub fn find_library() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH") {
        return Ok(PathBuf::from(path));
    }
    let mut places: Vec<PathBuf> = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        places.push(PathBuf::from(venv));
    }
    let starts = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for start in starts.into_iter().flatten() {
        places.extend(start.ancestors().map(|p| p.join(".venv")));
    }
    places.iter().find_map(|v| in_venv(v)).ok_or_else(|| {
        Error::Runtime(
            "cannot find the ONNX Runtime library: set ORT_DYLIB_PATH to libonnxruntime.so \
             (pip install onnxruntime ships one in onnxruntime/capi/)"
                .into(),
        )
    })
}

/// Load ONNX Runtime once for the process; later calls return the first outcome, so a
/// missing or too-old library is the same clear error every time, never a panic.
pub fn init() -> Result<&'static ort::environment::Environment> {
    let outcome = ENVIRONMENT.get_or_init(|| {
        let path = find_library().map_err(|e| e.to_string())?;
        if !path.is_file() {
            return Err(format!(
                "ONNX Runtime library {} does not exist (ORT_DYLIB_PATH)",
                path.display()
            ));
        }
        let builder = ort::init_from(&path)
            .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))?;
        builder
            .with_name("tabforge")
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))
    });
    outcome.as_ref().map_err(|e| Error::Runtime(e.clone()))
}

/// A pool of sessions over one graph.
pub struct Engine {
    free: Mutex<Vec<Session>>,
    returned: Condvar,
    label_text: bool,
    outputs: Vec<String>,
    has_numeric: bool,
    has_categorical: bool,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

fn runtime(what: &str) -> impl Fn(ort::Error) -> Error + '_ {
    move |e| Error::Runtime(format!("{what}: {e}"))
}

fn configured(
    env: &ort::environment::Environment,
    options: &Options,
    weights: &PrepackedWeights,
) -> Result<ort::session::builder::SessionBuilder> {
    let configure = |e: ort::Error<_>| Error::Runtime(format!("cannot configure a session: {e}"));
    let builder = Session::builder(env).map_err(runtime("cannot create a session"))?;
    let builder = builder
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(configure)?;
    let builder = builder
        .with_intra_threads(options.intra_threads.max(1))
        .map_err(configure)?;
    let builder = builder.with_inter_threads(1).map_err(configure)?;
    builder.with_prepacked_weights(weights).map_err(configure)
}

impl Engine {
    /// Sessions over `model` (the bytes of `model.onnx`) for the manifest's tensors.
    pub fn new(model: &[u8], manifest: &Manifest, options: &Options) -> Result<Engine> {
        let env = init()?;
        let weights = PrepackedWeights::new();
        let mut sessions = Vec::new();
        for _ in 0..options.session_count() {
            let session = configured(env, options, &weights)?
                .commit_from_memory(model)
                .map_err(runtime("ONNX Runtime refused the graph"))?;
            sessions.push(session);
        }
        let names = |s: &Session| {
            s.inputs()
                .iter()
                .map(|i| i.name().to_string())
                .collect::<Vec<_>>()
        };
        let inputs = sessions.first().map(names).unwrap_or_default();
        Ok(Engine {
            free: Mutex::new(sessions),
            returned: Condvar::new(),
            label_text: manifest.output_datatype("label") == Some("BYTES"),
            outputs: manifest
                .outputs
                .tensors
                .iter()
                .map(|t| t.name.clone())
                .collect(),
            has_numeric: inputs.iter().any(|n| n == NUMERIC_INPUT),
            has_categorical: inputs.iter().any(|n| n == CATEGORICAL_INPUT),
        })
    }

    fn take(&self) -> Session {
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(session) = free.pop() {
                return session;
            }
            free = self.returned.wait(free).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn give_back(&self, session: Session) {
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(session);
        self.returned.notify_one();
    }

    /// Run the graph on a feed. Blocks while every session is busy: call it from a
    /// blocking thread, never from an async task.
    pub fn run(&self, feed: &Feed, widths: (usize, usize)) -> Result<Outputs> {
        let mut session = self.take();
        let result = self.run_on(&mut session, feed, widths);
        self.give_back(session);
        result
    }

    fn run_on(
        &self,
        session: &mut Session,
        feed: &Feed,
        (k, m): (usize, usize),
    ) -> Result<Outputs> {
        let mut inputs: Vec<(Cow<'_, str>, SessionInputValue<'_>)> = Vec::with_capacity(2);
        if self.has_numeric {
            let view = TensorRef::from_array_view(([feed.rows, k], &feed.numeric[..]))
                .map_err(runtime("cannot build the numeric tensor"))?;
            inputs.push((NUMERIC_INPUT.into(), view.into()));
        }
        if self.has_categorical {
            let strings = Tensor::from_string_array(([feed.rows, m], &feed.categorical[..]))
                .map_err(runtime("cannot build the categorical tensor"))?;
            inputs.push((CATEGORICAL_INPUT.into(), strings.into()));
        }
        let outputs = session.run(inputs).map_err(runtime("inference failed"))?;
        let mut tensors = Vec::with_capacity(self.outputs.len());
        for name in &self.outputs {
            let value = outputs
                .get(name.as_str())
                .ok_or_else(|| Error::Runtime(format!("the graph has no output {name:?}")))?;
            let (shape, data) = if name == "label" && self.label_text {
                let (shape, v) = value
                    .try_extract_strings()
                    .map_err(runtime("label output"))?;
                (shape.clone(), TensorData::Text(v))
            } else if name == "label" {
                let (shape, v) = value
                    .try_extract_tensor::<i64>()
                    .map_err(runtime("label output"))?;
                (shape.clone(), TensorData::I64(v.to_vec()))
            } else {
                let (shape, v) = value
                    .try_extract_tensor::<f32>()
                    .map_err(runtime("output"))?;
                (shape.clone(), TensorData::F32(v.to_vec()))
            };
            let shape = shape
                .iter()
                .map(|d| usize::try_from(*d).unwrap_or(0))
                .collect();
            tensors.push(OutputTensor {
                name: name.clone(),
                shape,
                data,
            });
        }
        let result = Outputs {
            rows: feed.rows,
            tensors,
        };
        result.check_rows()?;
        Ok(result)
    }
}
