"""The bundled example: a realistic customer-churn table, generated deterministically.

Mixed types, missing values, an ID column (ignored by inference), a string target.
Generated rather than shipped: the same seed gives the same file on every machine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

EXAMPLE_ROWS = 3000


def churn_frame(rows: int = EXAMPLE_ROWS, *, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    contract = rng.choice(["month-to-month", "one-year", "two-year"], rows, p=[0.55, 0.25, 0.2])
    internet = rng.choice(["fiber", "dsl", "none"], rows, p=[0.45, 0.4, 0.15])
    payment = rng.choice(
        ["card", "bank-transfer", "electronic-check", "mailed-check"],
        rows,
        p=[0.3, 0.25, 0.3, 0.15],
    ).astype(object)
    region = rng.choice(["north", "south", "east", "west"], rows)
    senior = rng.random(rows) < 0.16
    tenure = np.clip(rng.gamma(2.0, 14.0, rows).round(), 0, 72).astype(np.int64)
    monthly = np.round(
        20 + (internet == "fiber") * 45 + (internet == "dsl") * 25 + rng.normal(0, 12, rows), 2
    ).clip(18.0, 120.0)
    total = np.round(monthly * tenure + rng.normal(0, 30, rows), 2).clip(0.0, None)
    calls = rng.poisson(1.2 + (internet == "fiber") * 0.8, rows)
    logit = (
        -1.0
        + 1.4 * (contract == "month-to-month")
        - 1.2 * (contract == "two-year")
        + 0.7 * (internet == "fiber")
        + 0.6 * (payment == "electronic-check")
        + 0.4 * senior
        - 0.04 * tenure
        + 0.012 * (monthly - 65)
        + 0.25 * calls
    )
    churn = np.where(rng.random(rows) < 1 / (1 + np.exp(-logit)), "yes", "no")

    total_col = total.astype(object)
    total_col[rng.random(rows) < 0.04] = None  # new customers with no bill yet
    payment[rng.random(rows) < 0.05] = None
    monthly_col = monthly.astype(object)
    monthly_col[rng.random(rows) < 0.02] = None
    return pl.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(rows)],
            "tenure_months": tenure,
            "monthly_charges": pl.Series(monthly_col.tolist(), dtype=pl.Float64),
            "total_charges": pl.Series(total_col.tolist(), dtype=pl.Float64),
            "support_calls": calls,
            "contract": contract,
            "internet_service": internet,
            "payment_method": pl.Series(payment.tolist(), dtype=pl.String),
            "region": region,
            "senior": senior,
            "churn": churn,
        }
    )


def write_example(path: str | Path, rows: int = EXAMPLE_ROWS) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    churn_frame(rows).write_csv(p)
    return p
