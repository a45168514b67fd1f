"""HTTP against a peer: readiness, and the check that its answers equal the reference's."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import POSITIVE  # benchmarks/common.py, beside the entry script

from .bodies import Body
from .config import AGREE
from .processes import last_line, read_log

Parse = Callable[[dict[str, str], bytes], list[float]]


def http(
    url: str, body: Body | None = None, timeout: float = 30.0
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of one request; status 0 and the reason when nothing answered."""
    headers = {}
    if body is not None:
        headers["Content-Type"] = body.content_type
        if body.header_len is not None:
            headers["Inference-Header-Content-Length"] = str(body.header_len)
    data = body.path.read_bytes() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
    except OSError as exc:  # URLError, refused, reset, timed out
        return 0, {}, str(exc).encode()


def wait_ready(
    proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float, workers: int
) -> str | None:
    """None once ``url`` answers 200; else why not (the process died or time ran out).

    Each request is a new connection, which any worker may accept: with several workers, ask
    until many answers in a row are 200, so that a worker still loading is unlikely to remain.
    """
    deadline = time.monotonic() + timeout
    need = 1 if workers == 1 else 8 * workers
    streak = 0
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited {proc.returncode}: {last_line(read_log(log))}"
        if http(url, timeout=2.0)[0] == 200:
            streak += 1
            if streak >= need:
                return None
            continue
        streak = 0
        time.sleep(0.2)
    return f"not ready after {timeout:g} s ({url})"


def _error_text(status: int, data: bytes) -> str:
    text = data.decode(errors="replace").strip()
    with contextlib.suppress(ValueError, AttributeError):
        text = str(json.loads(text).get("error", text))
    return f"HTTP {status}: {text[:200]}" if status else f"no answer: {text[:200]}"


def v2_parser(classes: list[str]) -> Parse:
    """P(yes) per row from a tabforge V2 response, JSON or binary tensor extension."""

    def parse(headers: dict[str, str], data: bytes) -> list[float]:
        import numpy as np

        head_len = headers.get("inference-header-content-length")
        head = json.loads(data[: int(head_len)] if head_len else data)
        at = int(head_len) if head_len else 0
        for out in head["outputs"]:
            size = (out.get("parameters") or {}).get("binary_data_size")
            raw = data[at : at + int(size)] if size is not None else None
            at += int(size or 0)
            if out["name"] != "probabilities":
                continue
            if raw is not None:
                values = np.frombuffer(raw, dtype="<f4")
            else:
                values = np.asarray(out["data"], dtype=np.float64)
            column = values.reshape(out["shape"])[:, classes.index(POSITIVE)]
            return [float(v) for v in column]
        raise ValueError(f"no probabilities output in {[o['name'] for o in head['outputs']]}")

    return parse


def v1_parse(headers: dict[str, str], data: bytes) -> list[float]:
    """P(yes) per row from a KServe V1 classification answer (``predictions``, one per row)."""
    return [float(p["probabilities"][POSITIVE]) for p in json.loads(data)["predictions"]]


def mlserver_parse(headers: dict[str, str], data: bytes) -> list[float]:
    """MLServer's LightGBM runtime answers one output, ``predict``: P(classes_[1]) per row."""
    out = json.loads(data)["outputs"][0]
    flat: list[Any] = out["data"]
    while flat and isinstance(flat[0], list):
        flat = [v for row in flat for v in row]
    return [float(v) for v in flat]


def fastapi_parse(headers: dict[str, str], data: bytes) -> list[float]:
    return [float(v) for v in json.loads(data)["proba"]]


@dataclass
class Check:
    path: str
    body: str  # key in the bodies dict
    parse: Parse
    expected: list[float]
    reference: str  # what ``expected`` came from


def check(url: str, body: Body, c: Check) -> tuple[str | None, str]:
    """(failure or None, note): one request must answer 200 with the expected probabilities.

    A 503 (a worker still loading) is asked again for up to a minute.
    """
    deadline = time.monotonic() + 60
    status, headers, data = http(url, body)
    while status == 503 and time.monotonic() < deadline:
        time.sleep(0.5)
        status, headers, data = http(url, body)
    if status != 200:
        return _error_text(status, data), ""
    try:
        got = c.parse(headers, data)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        return f"unreadable response ({type(exc).__name__}: {exc})"[:200], ""
    if len(got) != body.rows:
        return f"{len(got)} probabilities for {body.rows} rows", ""
    if not all(0.0 <= g <= 1.0 for g in got):
        return f"probabilities outside [0, 1]: {[g for g in got if not 0 <= g <= 1][:3]}", ""
    worst = max(abs(g - e) for g, e in zip(got, c.expected, strict=True))
    if worst > AGREE:
        return f"P({POSITIVE}) differs from {c.reference} by {worst:.2e} (> {AGREE:g})", ""
    return None, f"200, {body.rows:,} row(s), max |P - {c.reference}| = {worst:.1e}"
