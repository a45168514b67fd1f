//! One error type for the crate; each variant knows the HTTP status it answers with.
//!
//! The wording follows the Python package's messages, so a client sees the same text from
//! either server.

use std::path::PathBuf;

/// Everything the crate reports; never a panic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request or the rows cannot be used as they are (HTTP 400).
    #[error("{0}")]
    BadInput(String),
    /// More rows or bytes than the limits allow (HTTP 413).
    #[error("{0}")]
    TooLarge(String),
    /// A model, version, alias or endpoint that does not exist (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// A method the endpoint does not take (HTTP 405).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// A body in a content type other than JSON (HTTP 415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The server is busy or still loading (HTTP 503).
    #[error("{0}")]
    NotReady(String),
    /// Missing or wrong credentials (HTTP 401 / 403).
    #[error("{message}")]
    Unauthorized {
        /// What the client reads.
        message: String,
        /// 401 (no credentials) or 403 (wrong ones).
        status: u16,
    },
    /// A stored model could not be read or trusted: missing file, bad sha256, unknown
    /// manifest version, malformed JSON.
    #[error("{0}")]
    Registry(String),
    /// ONNX Runtime could not be loaded, or refused a graph or a run.
    #[error("{0}")]
    Runtime(String),
    /// A file the registry holds could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadInput(_) => 400,
            Error::TooLarge(_) => 413,
            Error::NotFound(_) => 404,
            Error::UnsupportedMediaType(_) => 415,
            Error::MethodNotAllowed(_) => 405,
            Error::NotReady(_) => 503,
            Error::Unauthorized { status, .. } => *status,
            Error::Registry(_) | Error::Runtime(_) | Error::Io { .. } => 500,
        }
    }

    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Error::BadInput(message.into())
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A Python `repr()` of a string, as the Python server quotes names in its messages.
pub(crate) fn quoted(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// Names joined as the Python package shows them: quoted, comma separated.
pub(crate) fn quoted_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names.into_iter().map(quoted).collect::<Vec<_>>().join(", ")
}
