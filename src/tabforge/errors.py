"""One root exception; each subclass knows its exit code and HTTP status.

The CLI and the server each have one place that turns these into an exit or a response,
so a message written here is exactly what the user reads.

Exit codes: 0 success; 1 out of memory; 2 bad input (the user can fix the command, the
file or the reference: every error here unless it says otherwise, and click's usage errors);
3 storage failure (the file system refused a write: full, read-only, permissions; the same
command may succeed once the disk is fixed); 130 interrupted.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TabforgeError(Exception):
    """Root of every error tabforge reports to a user."""

    exit_code: int = 2
    http_status: int = 400
    # Response headers HTTP requires with this status (Allow with 405, WWW-Authenticate with 401)
    http_headers: tuple[tuple[bytes, bytes], ...] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class DataError(TabforgeError):
    """The input file is missing, unreadable, empty or unusable."""


class SchemaError(TabforgeError):
    """Columns, target or overrides do not fit the data."""


class ConfigError(TabforgeError):
    """An option or hyper-parameter is unknown or has a bad value."""


class TrainingError(TabforgeError):
    """The estimator refused the data or its parameters while fitting."""


class ExportError(TabforgeError):
    """The fitted pipeline could not be turned into ONNX."""


class ParityError(ExportError):
    """ONNX predictions do not match the native model; nothing is stored."""


class ClusterError(TabforgeError):
    """A Dask cluster (``--dask``) could not be reached or started, or a task on it failed."""


class RegistryError(TabforgeError):
    """The model registry refused a read or a write."""


class StorageError(RegistryError):
    """The registry's file system refused a write (full, read-only, permissions).

    Nothing was changed. Not bad input: its own exit code, so a script can tell "fix the
    disk and retry" from "fix the command". Over HTTP it is the server's storage, not the
    request, at fault.
    """

    exit_code = 3
    http_status = 507


class NotFoundError(RegistryError):
    """A model, version or alias does not exist."""

    http_status = 404


class PayloadTooLarge(TabforgeError):
    """A request body or row count is over the server's limit."""

    http_status = 413


class UnsupportedMediaType(TabforgeError):
    """A request body in a content type the endpoint does not take."""

    http_status = 415


class NotReady(TabforgeError):
    """The server or a model is not ready to answer yet."""

    http_status = 503


class MethodNotAllowed(TabforgeError):
    """A method the endpoint does not answer; ``allow`` lists the ones it does."""

    http_status = 405

    def __init__(self, message: str, *, allow: str) -> None:
        super().__init__(message)
        self.http_headers = ((b"allow", allow.encode()),)


class Unauthorized(TabforgeError):
    """No credentials where some are required."""

    http_status = 401
    http_headers = ((b"www-authenticate", b"Bearer"),)


class Forbidden(TabforgeError):
    """Credentials refused, or the endpoint is disabled."""

    http_status = 403


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'X'?)' for the choice closest to ``name``, ignoring case; '' if none.

    Real files name their columns 'Diagnosis?' or 'Sepal.Length' while users type
    'diagnosis' or 'sepal_length': case, punctuation and separators are what differ.
    """
    listed = list(dict.fromkeys(choices))
    folded = {_folded(c): c for c in reversed(listed)}  # the first spelling wins
    key = _folded(name)
    if key in folded and folded[key] != name:
        return f" (did you mean {folded[key]!r}?)"
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.75)
    return f" (did you mean {folded[close[0]]!r}?)" if close and folded[close[0]] != name else ""


def _folded(text: str) -> str:
    """Lower case, letters and digits only: how two spellings of one name are compared."""
    return "".join(ch for ch in text.lower() if ch.isalnum())
