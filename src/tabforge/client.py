"""A small HTTP client: ``tabforge.Client(url).predict("churn", rows)``.

Sends one V2 input per column (the server assembles the tensors) and returns the same
polars frame as ``tabforge.load(...).predict``.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import polars as pl

from tabforge.errors import TabforgeError
from tabforge.runtime.codec import outputs_frame, to_frame


class ServerError(TabforgeError):
    """The server answered with an error; the message is the server's."""


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
        response = self.http.request(method, path, **kwargs)
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
        frame = to_frame(data)
        inputs = [_column_input(frame.get_column(c)) for c in frame.columns]
        path = f"/v2/models/{name}" + (f"/versions/{version}" if version else "") + "/infer"
        result = self._call("POST", path, json={"inputs": inputs})
        served = result["model_version"]
        key = f"{name}:{served}"
        if key not in self._metadata:
            self._metadata[key] = self.metadata(name, served)
        return _frame(result["outputs"], self._metadata[key]["parameters"])


def _column_input(s: pl.Series) -> dict[str, Any]:
    if s.dtype.is_numeric():
        values = s.cast(pl.Float64).fill_nan(None).to_list()
        return {"name": s.name, "shape": [len(values)], "datatype": "FP64", "data": values}
    if s.dtype == pl.Boolean:
        return {"name": s.name, "shape": [s.len()], "datatype": "BOOL", "data": s.to_list()}
    values = s.cast(pl.String).to_list()
    return {"name": s.name, "shape": [len(values)], "datatype": "BYTES", "data": values}


def _frame(outputs: list[dict[str, Any]], params: dict[str, Any]) -> pl.DataFrame:
    """V2 response outputs -> the same frame as tabforge.load(...).predict."""
    dtypes = {"FP32": np.float32, "INT64": np.int64}
    arrays = {
        out["name"]: np.array(out["data"], dtype=dtypes.get(out["datatype"], object)).reshape(
            out["shape"]
        )
        for out in outputs
    }
    return outputs_frame(params["task"], params["classes"], arrays)
