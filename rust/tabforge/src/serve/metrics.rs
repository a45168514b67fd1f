//! Prometheus metrics under the Python server's names, rendered as text on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const ROWS_BUCKETS: [f64; 13] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0, 16384.0,
];
const REQUESTS_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, buckets: &[f64], value: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; buckets.len()];
        }
        for (i, edge) in buckets.iter().enumerate() {
            if value <= *edge {
                self.counts[i] += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }
}

type Labels = Vec<(&'static str, String)>;

#[derive(Default)]
struct Family {
    counters: BTreeMap<Labels, f64>,
    histograms: BTreeMap<Labels, Histogram>,
}

/// Counters, gauges and histograms of one server.
#[derive(Default)]
pub struct Metrics {
    families: Mutex<BTreeMap<&'static str, Family>>,
    in_progress: AtomicI64,
    loaded: AtomicI64,
    failures: AtomicI64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

const HELP: [(&str, &str, &str); 9] = [
    (
        "tabforge_requests",
        "counter",
        "Requests by model, version, protocol and status code.",
    ),
    (
        "tabforge_request_duration_seconds",
        "histogram",
        "Whole request latency.",
    ),
    (
        "tabforge_inference_duration_seconds",
        "histogram",
        "onnxruntime run time.",
    ),
    (
        "tabforge_queue_duration_seconds",
        "histogram",
        "Wait between decoding and inference start.",
    ),
    (
        "tabforge_batch_rows",
        "histogram",
        "Rows per onnxruntime call.",
    ),
    (
        "tabforge_batch_requests",
        "histogram",
        "Requests per onnxruntime call.",
    ),
    ("tabforge_rows_predicted", "counter", "Rows predicted."),
    (
        "tabforge_requests_in_progress",
        "gauge",
        "V1/V2 requests being handled now.",
    ),
    (
        "tabforge_models_loaded",
        "gauge",
        "Model versions loaded and served (by every worker).",
    ),
];

fn buckets(name: &str) -> &'static [f64] {
    match name {
        "tabforge_batch_rows" => &ROWS_BUCKETS,
        "tabforge_batch_requests" => &REQUESTS_BUCKETS,
        _ => &LATENCY_BUCKETS,
    }
}

/// A value as prometheus_client writes it: `2.0`, `0.0005`, `+Inf`.
fn number(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

/// Labels sorted by name, as the Python server's exposition has them.
fn labels_text(labels: &Labels, extra: Option<(&str, String)>) -> String {
    let mut sorted: Vec<&(&str, String)> = labels.iter().collect();
    sorted.sort_by_key(|(k, _)| *k);
    let mut parts: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    if let Some((k, v)) = extra {
        parts.push(format!("{k}=\"{v}\""));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", parts.join(","))
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn render_family(out: &mut String, name: &str, family: &Family) {
    for (labels, value) in &family.counters {
        let _ = writeln!(
            out,
            "{name}_total{} {}",
            labels_text(labels, None),
            number(*value)
        );
    }
    for (labels, h) in &family.histograms {
        for (edge, count) in buckets(name).iter().zip(&h.counts) {
            let _ = writeln!(
                out,
                "{name}_bucket{} {}",
                labels_text(labels, Some(("le", number(*edge)))),
                number(*count as f64)
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{} {}",
            labels_text(labels, Some(("le", "+Inf".into()))),
            number(h.count as f64)
        );
        let _ = writeln!(
            out,
            "{name}_sum{} {}",
            labels_text(labels, None),
            number(h.sum)
        );
        let _ = writeln!(
            out,
            "{name}_count{} {}",
            labels_text(labels, None),
            number(h.count as f64)
        );
    }
}

impl Metrics {
    fn with<F: FnOnce(&mut Family)>(&self, name: &'static str, f: F) {
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        f(families.entry(name).or_default());
    }

    /// One answered V1/V2 request.
    pub fn request(
        &self,
        model: &str,
        version: &str,
        protocol: &'static str,
        code: u16,
        took: Duration,
    ) {
        let labels = vec![
            ("model", model.to_string()),
            ("version", version.to_string()),
            ("protocol", protocol.to_string()),
            ("code", code.to_string()),
        ];
        self.with("tabforge_requests", |f| {
            *f.counters.entry(labels).or_default() += 1.0
        });
        let by_protocol = vec![("protocol", protocol.to_string())];
        self.with("tabforge_request_duration_seconds", |f| {
            f.histograms
                .entry(by_protocol)
                .or_default()
                .observe(&LATENCY_BUCKETS, took.as_secs_f64())
        });
    }

    /// One onnxruntime call of `rows` rows for `requests` requests.
    pub fn observe_batch(
        &self,
        (model, version): (&str, u64),
        rows: usize,
        requests: usize,
        waited: Duration,
        took: Duration,
    ) {
        let labels: Labels = vec![
            ("model", model.to_string()),
            ("version", version.to_string()),
        ];
        let observe = |name: &'static str, value: f64| {
            self.with(name, |f| {
                f.histograms
                    .entry(labels.clone())
                    .or_default()
                    .observe(buckets(name), value)
            })
        };
        observe("tabforge_inference_duration_seconds", took.as_secs_f64());
        observe("tabforge_queue_duration_seconds", waited.as_secs_f64());
        observe("tabforge_queue_duration_seconds", waited.as_secs_f64());
        observe("tabforge_batch_rows", rows as f64);
        observe("tabforge_batch_requests", requests as f64);
        self.with("tabforge_rows_predicted", |f| {
            *f.counters.entry(labels.clone()).or_default() += rows as f64
        });
    }

    /// A request started (+1) or ended (-1).
    pub fn in_progress(&self, delta: i64) {
        self.in_progress.fetch_add(delta, Ordering::Relaxed);
    }

    /// Versions served and versions that failed to load, after a refresh.
    pub fn set_loaded(&self, loaded: usize, failures: usize) {
        self.loaded.store(loaded as i64, Ordering::Relaxed);
        self.failures.store(failures as i64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        for (name, kind, help) in HELP {
            let _ = writeln!(
                out,
                "# HELP {name}{} {help}",
                if kind == "counter" { "_total" } else { "" }
            );
            let _ = writeln!(
                out,
                "# TYPE {name}{} {kind}",
                if kind == "counter" { "_total" } else { "" }
            );
            match name {
                "tabforge_requests_in_progress" => {
                    let _ = writeln!(
                        out,
                        "{name} {}",
                        number(self.in_progress.load(Ordering::Relaxed) as f64)
                    );
                }
                "tabforge_models_loaded" => {
                    let _ = writeln!(
                        out,
                        "{name} {}",
                        number(self.loaded.load(Ordering::Relaxed) as f64)
                    );
                }
                _ => {}
            }
            if let Some(family) = families.get(name) {
                render_family(&mut out, name, family);
            }
        }
        let failures = self.failures.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP tabforge_model_load_failures Models or versions that failed to load (not served).");
        let _ = writeln!(
            out,
            "# TYPE tabforge_model_load_failures gauge\ntabforge_model_load_failures {}",
            number(failures as f64)
        );
        out
    }
}
