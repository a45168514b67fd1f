//! HTTP pieces shared by the handlers: errors as responses, credentials, bounded bodies.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{quoted, Error, Result};

/// Content types a JSON body may come with (none at all is JSON too).
pub(crate) const JSON_TYPES: [&str; 2] = ["", "application/json"];
/// Content types a V2 body with binary tensors may come with.
pub(crate) const BINARY_TYPES: [&str; 3] = ["", "application/json", "application/octet-stream"];
/// Where a binary V2 body's JSON part ends.
pub(crate) const BINARY_HEADER: &str = "inference-header-content-length";
/// The header that pins a client to one version of a route.
pub(crate) const ROUTING_HEADER: &str = "x-routing-key";

/// An error on its way out: `{"error": ...}` with its status and the headers HTTP wants.
#[derive(Debug)]
pub struct ApiError(pub Error, pub Option<&'static str>);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e, None)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!("internal error: {}", self.0);
            "internal server error".to_string()
        } else {
            self.0.to_string()
        };
        let mut response = json(status, &serde_json::json!({ "error": message }));
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(allow) = self.1 {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}

/// A handler of your own can return `Result<_, tabforge::Error>`: an error answers with
/// its status and `{"error": ...}`, as the V2 and V1 routes do.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        ApiError(self, None).into_response()
    }
}

/// A JSON response.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    bytes(status, body, "application/json")
}

pub(crate) fn bytes(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// A header's value as text ("" when absent).
pub(crate) fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// 405 unless `method` is the route's; GET routes answer HEAD too.
pub(crate) fn allow(method: &Method, wanted: Method) -> std::result::Result<(), ApiError> {
    if *method == wanted || (wanted == Method::GET && *method == Method::HEAD) {
        return Ok(());
    }
    let (allow, name) = if wanted == Method::GET {
        ("GET, HEAD", "GET")
    } else {
        ("POST", "POST")
    };
    let message = format!("method {method} not allowed here; use {name}");
    Err(ApiError(Error::MethodNotAllowed(message), Some(allow)))
}

pub(crate) fn require_content_type(headers: &HeaderMap, allowed: &[&str]) -> Result<()> {
    let raw = header_text(headers, "content-type");
    let content_type = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if allowed.contains(&content_type.as_str()) {
        return Ok(());
    }
    Err(Error::UnsupportedMediaType(format!(
        "content type {} is not supported; send application/json",
        quoted(&content_type)
    )))
}

/// The whole body, refused (413) as soon as it is known to be over the limit.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<axum::body::Bytes> {
    let declared = header_text(headers, "content-length");
    if let Ok(n) = declared.parse::<u64>() {
        if n > limit as u64 {
            return Err(Error::TooLarge(format!(
                "request body of {n} bytes is over the limit of {limit}"
            )));
        }
    }
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // to_bytes fails for a body over the limit, and for one that breaks off.
        let over = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
            .any(|e| e.to_string().contains("length limit"));
        if over {
            Error::TooLarge(format!("request body is over the limit of {limit} bytes"))
        } else {
            Error::bad(format!("the request body could not be read: {e}"))
        }
    })
}

fn presented(headers: &HeaderMap) -> Option<String> {
    let auth = header_text(headers, "authorization").trim();
    if auth
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("bearer "))
    {
        return Some(auth[7..].trim().to_string());
    }
    let key = header_text(headers, "x-api-key").trim();
    (!key.is_empty()).then(|| key.to_string())
}

fn same(a: &[u8], b: &[u8]) -> bool {
    // Constant time in the secret's content: every byte is compared.
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// Refuse a model or inference request without a valid API key, when keys are set.
pub(crate) fn check_key(headers: &HeaderMap, keys: &[String]) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    let Some(given) = presented(headers) else {
        return Err(Error::Unauthorized {
            message: "an API key is required (Authorization: Bearer <key> or X-API-Key)".into(),
            status: 401,
        });
    };
    let mut ok = false;
    for key in keys {
        ok |= same(given.as_bytes(), key.as_bytes());
    }
    if ok {
        Ok(())
    } else {
        Err(Error::Unauthorized {
            message: "invalid credentials".into(),
            status: 403,
        })
    }
}
