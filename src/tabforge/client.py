"""A small HTTP client: ``tabforge.Client(url).predict("churn", rows)``.

Sends one V2 input per column (the server assembles the tensors) and returns the same
polars frame as ``tabforge.load(...).predict``.
"""

from __future__ import annotations

from typing import Any

import httpx
import polars as pl

from tabforge.contract import outputs_frame, to_frame
from tabforge.contract.v2client import column_inputs, output_arrays
from tabforge.errors import TabforgeError


class ServerError(TabforgeError):
    """The server answered with an error; the message is the server's."""


class ServerUnreachable(TabforgeError):
    """No answer from the server: nothing listens there, or the connection failed."""


class Client:
    def __init__(self, url: str = "http://127.0.0.1:8000", *, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=timeout)
        self._metadata: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise ServerUnreachable(
                f"cannot connect to a tabforge server at {self.url} ({exc}): is "
                "`tabforge serve` running there?"
            ) from exc
        except httpx.TransportError as exc:  # timeouts, a connection dropped mid-answer
            raise ServerUnreachable(f"{method} {self.url}{path} failed: {exc!r}") from exc
        if response.status_code >= 400:
            try:
                message = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:200]
            error = ServerError(f"{response.status_code}: {message}")
            error.http_status = response.status_code
            raise error
        return response.json()

    def metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "")
        return dict(self._call("GET", path))

    def ready(self) -> bool:
        try:
            return self.http.get("/v2/health/ready").status_code == 200
        except httpx.HTTPError:
            return False

    def predict(self, name: str, data: Any, *, version: str | None = None) -> pl.DataFrame:
        """Outputs for ``data``; like ``tabforge.load(...).predict``, columns the model does
        not take (an ID, the target) are left out, and a missing one is the server's error."""
        frame = to_frame(data)
        params = self._parameters(name, version)
        wanted = {*params["numeric_columns"], *params["categorical_columns"]}
        frame = frame.select([c for c in frame.columns if c in wanted])
        inputs = column_inputs(frame)
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"
        result = self._call("POST", path, json={"inputs": inputs})
        served = str(result["model_version"])
        if str(params.get("version")) != served:
            self._metadata.pop(f"{name}:{version}", None)  # moved on: ask again next time
        answered = self._parameters(name, served)
        return outputs_frame(
            answered["task"], answered["classes"], output_arrays(result["outputs"])
        )

    def _parameters(self, name: str, version: str | None) -> dict[str, Any]:
        """A model version's metadata parameters, asked once (unversioned: the version the
        server answers for by default, asked again when an answer came from another)."""
        key = f"{name}:{version}"
        if key not in self._metadata:
            self._metadata[key] = self.metadata(name, version)
        return dict(self._metadata[key]["parameters"])
