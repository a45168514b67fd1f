"""The hand-written peer: FastAPI + native LightGBM, as a team would write it.

Run by serve_bench.py as ``uvicorn fastapi_app:app --app-dir benchmarks/serve_bench ...`` with
``SERVE_BENCH_MODEL`` naming a LightGBM text model (``booster_.save_model``). ``POST /predict``
takes ``{"rows": [[30 floats], ...]}`` and returns ``{"proba": [P(positive class), ...]}``.
"""

from __future__ import annotations

import os

import lightgbm as lgb
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

booster = lgb.Booster(model_file=os.environ["SERVE_BENCH_MODEL"])
app = FastAPI()


class Rows(BaseModel):
    rows: list[list[float]]


class Proba(BaseModel):
    proba: list[float]


@app.get("/health")
def health() -> dict[str, bool]:
    return {"ready": True}


@app.post("/predict")
def predict(request: Rows) -> Proba:
    # A plain `def`: FastAPI runs it in its thread pool, so the event loop is never blocked.
    x = np.asarray(request.rows, dtype=np.float32)
    return Proba(proba=booster.predict(x).tolist())
