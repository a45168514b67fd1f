//! The Axum router: Open Inference Protocol V2 and KServe V1, as the Python server answers.
//!
//! Merge it into your own `Router`; it has no fallback of its own, so yours stays yours.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use crate::error::Error;
use crate::serve::http::{
    allow, bytes, check_key, header_text, json, read_body, require_content_type, ApiError,
    BINARY_HEADER, BINARY_TYPES, JSON_TYPES, ROUTING_HEADER,
};
use crate::serve::models::Models;
use crate::wire::assemble::assemble;
use crate::wire::binary::{binary_inputs, split_body};
use crate::wire::response::{metadata, response};
use crate::wire::{v1, v2};

type Params = HashMap<String, String>;
type Reply = std::result::Result<Response, ApiError>;

/// What a request turned out to be, for its metrics line.
#[derive(Default)]
struct Call {
    model: String,
    version: String,
}

/// The V2 and V1 routes over `models`, ready to `merge` into an application's router.
pub fn router(models: Arc<Models>) -> Router {
    Router::new()
        .route("/v2/health/live", any(live))
        .route("/v2/health/ready", any(ready))
        .route("/v2", any(server_metadata))
        .route("/v2/models/{name}", any(model_metadata))
        .route("/v2/models/{name}/versions/{version}", any(model_metadata))
        .route("/v2/models/{name}/ready", any(model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            any(model_ready),
        )
        .route("/v2/models/{name}/infer", any(v2_infer))
        .route("/v2/models/{name}/versions/{version}/infer", any(v2_infer))
        .route("/v1/models/{target}", any(v1_entry))
        .route("/metrics", any(metrics))
        .route("/openapi.json", any(openapi))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(models)
}

/// Every route (method, path as OpenAPI writes it, summary): what `/openapi.json` lists.
/// The router test checks that each one answers.
pub const ROUTES: [(&str, &str, &str); 13] = [
    ("get", "/v2/health/live", "Liveness"),
    ("get", "/v2/health/ready", "Readiness"),
    ("get", "/v2", "Server metadata"),
    ("get", "/v2/models/{name}", "Model metadata"),
    (
        "get",
        "/v2/models/{name}/versions/{version}",
        "Model version metadata",
    ),
    ("get", "/v2/models/{name}/ready", "Model readiness"),
    (
        "get",
        "/v2/models/{name}/versions/{version}/ready",
        "Model version readiness",
    ),
    (
        "post",
        "/v2/models/{name}/infer",
        "Inference (Open Inference Protocol V2)",
    ),
    (
        "post",
        "/v2/models/{name}/versions/{version}/infer",
        "Inference on one version",
    ),
    ("post", "/v1/models/{name}:predict", "Predict (KServe V1)"),
    ("get", "/v1/models/{name}", "Model readiness (KServe V1)"),
    ("get", "/metrics", "Prometheus metrics"),
    ("get", "/openapi.json", "This document"),
];

async fn openapi(method: Method) -> Reply {
    allow(&method, Method::GET)?;
    let mut paths = serde_json::Map::new();
    for (verb, path, summary) in ROUTES {
        let entry = paths.entry(path).or_insert_with(|| serde_json::json!({}));
        entry[verb] =
            serde_json::json!({"summary": summary, "responses": {"200": {"description": "OK"}}});
    }
    ok_json(&serde_json::json!({
        "openapi": "3.1.0",
        "info": {"title": "tabforge-server", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
    }))
}

/// A path parameter that holds a `/` once decoded (`..%2F..%2Fetc`) names no model: the
/// path is no endpoint, as the Python server's router, which matches decoded paths, says.
fn plain(params: &Params, uri: &axum::http::Uri) -> std::result::Result<(), ApiError> {
    if params.values().all(|v| !v.contains('/')) {
        return Ok(());
    }
    Err(Error::NotFound(format!("no such endpoint: {}", decoded(uri.path()))).into())
}

fn decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The 404 for a path no route takes: a fallback for a server that is only this router.
pub async fn not_found(request: Request) -> Response {
    let path = request.uri().path().to_string();
    ApiError::from(Error::NotFound(format!("no such endpoint: {path}"))).into_response()
}

fn ok_json(value: &serde_json::Value) -> Reply {
    Ok(json(StatusCode::OK, value))
}

async fn live(method: Method) -> Reply {
    allow(&method, Method::GET)?;
    ok_json(&serde_json::json!({"live": true}))
}

async fn ready(State(models): State<Arc<Models>>, method: Method) -> Reply {
    allow(&method, Method::GET)?;
    if !models.is_ready() {
        return Err(Error::NotReady("models are still loading".into()).into());
    }
    ok_json(&serde_json::json!({"ready": true}))
}

async fn server_metadata(method: Method) -> Reply {
    allow(&method, Method::GET)?;
    ok_json(&serde_json::json!({
        "name": "tabforge",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
    }))
}

/// Time, count and label a V1/V2 request, whatever its outcome.
fn finish(
    models: &Models,
    protocol: &'static str,
    started: Instant,
    call: &Call,
    reply: Reply,
) -> Response {
    let response = reply.unwrap_or_else(IntoResponse::into_response);
    let code = response.status().as_u16();
    models.metrics.request(
        &call.model,
        &call.version,
        protocol,
        code,
        started.elapsed(),
    );
    models.metrics.in_progress(-1);
    response
}

async fn model_metadata(
    State(models): State<Arc<Models>>,
    Path(params): Path<Params>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    answer_get(&models, &params, &method, &uri, &headers, metadata_reply)
}

type GetReply = fn(&Models, &Params, &Method, &HeaderMap, &mut Call) -> Reply;

/// A V2 model GET (metadata, readiness), timed and counted like every V2 request.
fn answer_get(
    models: &Models,
    params: &Params,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    reply: GetReply,
) -> Response {
    let (started, mut call) = begin(models);
    let result =
        plain(params, uri).and_then(|()| reply(models, params, method, headers, &mut call));
    finish(models, "v2", started, &call, result)
}

fn begin(models: &Models) -> (Instant, Call) {
    models.metrics.in_progress(1);
    (Instant::now(), Call::default())
}

fn metadata_reply(
    models: &Models,
    params: &Params,
    method: &Method,
    headers: &HeaderMap,
    call: &mut Call,
) -> Reply {
    check_key(headers, &models.config().api_keys)?;
    allow(method, Method::GET)?;
    let name = params.get("name").cloned().unwrap_or_default();
    call.model.clone_from(&name);
    let served = models.served(&name)?;
    let (number, chosen) = served.pinned(params.get("version").map(String::as_str))?;
    call.version = number.to_string();
    let versions: Vec<u64> = served.versions.keys().copied().collect();
    ok_json(&metadata(&name, &versions, chosen.model.manifest()))
}

async fn model_ready(
    State(models): State<Arc<Models>>,
    Path(params): Path<Params>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    answer_get(&models, &params, &method, &uri, &headers, ready_reply)
}

fn ready_reply(
    models: &Models,
    params: &Params,
    method: &Method,
    headers: &HeaderMap,
    call: &mut Call,
) -> Reply {
    metadata_reply(models, params, method, headers, call)?;
    ok_json(&serde_json::json!({"name": call.model, "ready": true}))
}

async fn v2_infer(
    State(models): State<Arc<Models>>,
    Path(params): Path<Params>,
    request: Request,
) -> Response {
    let (started, mut call) = begin(&models);
    let reply = match plain(&params, request.uri()) {
        Ok(()) => v2_reply(&models, &params, request, &mut call).await,
        Err(e) => Err(e),
    };
    finish(&models, "v2", started, &call, reply)
}

async fn v2_reply(models: &Models, params: &Params, request: Request, call: &mut Call) -> Reply {
    let (parts, body) = request.into_parts();
    check_key(&parts.headers, &models.config().api_keys)?;
    allow(&parts.method, Method::POST)?;
    let name = params.get("name").cloned().unwrap_or_default();
    call.model.clone_from(&name);
    let served = models.served(&name)?; // unknown model: 404 before reading the body
    let version = params.get("version").map(String::as_str);
    if version.is_some() {
        call.version = served.choose(version, None)?.0.to_string();
    }
    let header_length = header_text(&parts.headers, BINARY_HEADER).to_string();
    let binary = !header_length.is_empty();
    require_content_type(
        &parts.headers,
        if binary { &BINARY_TYPES } else { &JSON_TYPES },
    )?;
    let body = read_body(&parts.headers, body, models.config().max_body_bytes).await?;
    let (decoded, tensors) = if binary {
        let (head, blob) = split_body(&body, &header_length)?;
        let decoded = v2::decode_request(head)?;
        let tensors = binary_inputs(&decoded, blob)?;
        (decoded, tensors)
    } else {
        (v2::decode_request(&body)?, Default::default())
    };
    let key = match header_text(&parts.headers, ROUTING_HEADER) {
        "" => decoded.routing_key(),
        key => Some(key.to_string()),
    };
    let (number, chosen) = served.choose(version, key.as_deref())?;
    call.version = number.to_string();
    let manifest = chosen.model.manifest();
    let feed = assemble(
        &decoded,
        &manifest.inputs,
        models.config().max_rows,
        &tensors,
    )?;
    let outputs = chosen.batcher.infer(feed).await?;
    let (encoded, json_length) = response(&decoded, &name, number, &outputs, manifest)?;
    let Some(length) = json_length else {
        return Ok(bytes(StatusCode::OK, encoded, "application/json"));
    };
    let mut response = bytes(StatusCode::OK, encoded, "application/octet-stream");
    response
        .headers_mut()
        .insert(BINARY_HEADER, HeaderValue::from(length));
    Ok(response)
}

async fn v1_entry(
    State(models): State<Arc<Models>>,
    Path(target): Path<String>,
    request: Request,
) -> Response {
    let (started, mut call) = begin(&models);
    let reply = match target.strip_suffix(":predict") {
        Some(name) => v1_predict(&models, name, request, &mut call).await,
        None if target.contains(':') => {
            Err(Error::NotFound(format!("no such endpoint: {}", request.uri().path())).into())
        }
        None => v1_ready(
            &models,
            &target,
            request.method(),
            request.headers(),
            &mut call,
        ),
    };
    finish(&models, "v1", started, &call, reply)
}

fn v1_ready(
    models: &Models,
    name: &str,
    method: &Method,
    headers: &HeaderMap,
    call: &mut Call,
) -> Reply {
    let params: Params = [("name".to_string(), name.to_string())].into();
    ready_reply(models, &params, method, headers, call)
}

async fn v1_predict(models: &Models, name: &str, request: Request, call: &mut Call) -> Reply {
    let (parts, body) = request.into_parts();
    check_key(&parts.headers, &models.config().api_keys)?;
    allow(&parts.method, Method::POST)?;
    call.model = name.to_string();
    let served = models.served(name)?;
    let key = header_text(&parts.headers, ROUTING_HEADER);
    let (number, chosen) = served.choose(None, (!key.is_empty()).then_some(key))?;
    call.version = number.to_string();
    require_content_type(&parts.headers, &JSON_TYPES)?;
    let body = read_body(&parts.headers, body, models.config().max_body_bytes).await?;
    let manifest = chosen.model.manifest();
    let feed = v1::assemble(&body, &manifest.inputs, models.config().max_rows)?;
    let outputs = chosen.batcher.infer(feed).await?;
    let predictions = v1::Predictions::new(&outputs, manifest);
    let mut response = json(StatusCode::OK, &predictions);
    response
        .headers_mut()
        .insert("x-model-version", HeaderValue::from(number));
    Ok(response)
}

async fn metrics(State(models): State<Arc<Models>>, method: Method) -> Reply {
    allow(&method, Method::GET)?;
    let text = models.metrics.render().into_bytes();
    Ok(bytes(StatusCode::OK, text, "text/plain; version=0.0.4"))
}
