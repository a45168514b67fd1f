//! Flags and variables, named as `tabforge serve` names them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use tabforge::serve::{BatchPolicy, ServeConfig};
use tabforge::Options;

/// Serve a tabforge registry over Open Inference Protocol V2 and KServe V1.
#[derive(Debug, Parser)]
#[command(name = "tabforge-server", version)]
pub struct Settings {
    /// Registry directory.
    #[arg(long, env = "TABFORGE_REGISTRY", default_value = "./models")]
    pub registry: PathBuf,
    /// Models to serve, comma separated; all when empty.
    #[arg(
        long,
        env = "TABFORGE_SERVE_MODELS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub models: Vec<String>,
    /// Address to bind.
    #[arg(long, env = "TABFORGE_SERVE_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port, 1-65535; 0 picks a free one.
    #[arg(long, env = "TABFORGE_SERVE_PORT", default_value_t = 8000)]
    pub port: u16,
    /// ONNX Runtime intra-op threads per call (0 = 1).
    #[arg(long, env = "TABFORGE_SERVE_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Sessions (inference threads) per model version, each running one call at a time
    /// (0 = one per core).
    #[arg(long, env = "TABFORGE_SERVE_SESSIONS", default_value_t = 0)]
    pub sessions: usize,
    /// Threads answering HTTP (0 = half the cores, at least 1).
    #[arg(long, env = "TABFORGE_SERVE_IO_THREADS", default_value_t = 0)]
    pub io_threads: usize,
    /// Rows per request (413 above), at least 1.
    #[arg(long, env = "TABFORGE_SERVE_MAX_ROWS", default_value_t = 100_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_rows: u64,
    /// Request body in MiB (413 above), above 0.
    #[arg(long, env = "TABFORGE_SERVE_MAX_BODY_MB", default_value_t = 64.0)]
    pub max_body_mb: f64,
    /// Dynamic batching: rows per call; 0 off.
    #[arg(long, env = "TABFORGE_SERVE_MAX_BATCH_ROWS", default_value_t = 256)]
    pub max_batch_rows: usize,
    /// Dynamic batching: microseconds to wait for a fuller batch.
    #[arg(long, env = "TABFORGE_SERVE_MAX_DELAY_US", default_value_t = 0)]
    pub max_delay_us: u64,
    /// Batching for one model: NAME=ROWS[:DELAY_US], comma separated.
    #[arg(
        long,
        env = "TABFORGE_SERVE_MODEL_BATCHING",
        value_delimiter = ',',
        default_value = ""
    )]
    pub model_batching: Vec<String>,
    /// Follow registry changes while serving.
    #[arg(long, env = "TABFORGE_SERVE_WATCH", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub watch: bool,
    /// Turn reloading off.
    #[arg(long = "no-watch")]
    pub no_watch: bool,
    /// Seconds between two looks at the registry.
    #[arg(long, env = "TABFORGE_SERVE_WATCH_INTERVAL", default_value_t = 1.0)]
    pub watch_interval: f64,
    /// Seconds a shutdown waits for in-flight requests.
    #[arg(long, env = "TABFORGE_SERVE_SHUTDOWN_TIMEOUT", default_value_t = 30.0)]
    pub shutdown_timeout: f64,
    /// A listening socket handed over by `tabforge serve --engine rust` (host and port unused).
    #[arg(long, hide = true)]
    pub listen_fd: Option<i32>,
    /// Keys required on model and inference endpoints (no flag: never in a process list).
    #[arg(skip = std::env::var("TABFORGE_API_KEYS").unwrap_or_default())]
    pub api_keys: String,
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn policy(text: &str, base: BatchPolicy) -> anyhow::Result<(String, BatchPolicy)> {
    let bad = || anyhow::anyhow!("--model-batching {text:?}: use NAME=ROWS[:DELAY_US]");
    let (name, spec) = text.split_once('=').ok_or_else(bad)?;
    let (rows, delay) = spec
        .split_once(':')
        .map_or((spec, None), |(r, d)| (r, Some(d)));
    let rows = rows.trim().parse::<usize>().map_err(|_| bad())?;
    let delay = match delay {
        Some(d) => d.trim().parse::<u64>().map_err(|_| bad())?,
        None => base.max_delay.as_micros() as u64,
    };
    Ok((
        name.trim().to_string(),
        BatchPolicy {
            max_rows: rows,
            max_delay: Duration::from_micros(delay),
            ..base
        },
    ))
}

impl Settings {
    /// The serving configuration these settings describe.
    pub fn config(&self) -> anyhow::Result<ServeConfig> {
        if !(self.max_body_mb > 0.0 && self.max_body_mb.is_finite()) {
            anyhow::bail!(
                "--max-body-mb {} is out of range: must be above 0",
                self.max_body_mb
            );
        }
        if !(self.watch_interval > 0.0 && self.watch_interval <= 3600.0) {
            anyhow::bail!(
                "--watch-interval must be in (0, 3600], got {}",
                self.watch_interval
            );
        }
        let batch = BatchPolicy {
            max_rows: self.max_batch_rows,
            max_delay: Duration::from_micros(self.max_delay_us),
            ..BatchPolicy::default()
        };
        let mut model_batching = BTreeMap::new();
        for spec in self.model_batching.iter().filter(|s| !s.trim().is_empty()) {
            let (name, p) = policy(spec, batch)?;
            model_batching.insert(name, p);
        }
        Ok(ServeConfig {
            models: self
                .models
                .iter()
                .map(|m| m.trim().to_string())
                .filter(|m| !m.is_empty())
                .collect(),
            max_rows: self.max_rows as usize,
            max_body_bytes: (self.max_body_mb * 1024.0 * 1024.0) as usize,
            batch,
            model_batching,
            options: Options {
                sessions: self.sessions, // 0: tabforge::Options makes one per core
                intra_threads: self.threads.max(1),
            },
            api_keys: self
                .api_keys
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(String::from)
                .collect(),
        })
    }

    /// HTTP threads: as given, else half the cores. On 2 cores, 1 HTTP thread gave 54k
    /// single-row req/s against 51k for 2 (threads beyond the cores only take turns on
    /// them); see benchmarks/RESULTS.md, "Rust engine: designs".
    pub fn io_thread_count(&self) -> usize {
        if self.io_threads > 0 {
            return self.io_threads;
        }
        (cores() / 2).max(1)
    }

    /// The address to bind: an IP, or a host name that resolves.
    pub fn address(&self) -> anyhow::Result<SocketAddr> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, self.port));
        }
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--host {:?} is not an address or a known host name",
                    self.host
                )
            })
    }

    /// Whether to follow the registry.
    pub fn watching(&self) -> bool {
        self.watch && !self.no_watch
    }
}
