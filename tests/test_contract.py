"""One model contract: parity runs the encoder and the wire decoders production runs."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import polars as pl

import tabforge
from tabforge.contract import encode_strict, v2, v2client
from tests.helpers import Cli

WIRE = ["encode", "v2 json columns", "v2 json tensors", "v2 binary tensors", "v1 instances"]


def _codes_csv(path: Path) -> Path:
    """Integer codes that are categories (a store number), some of them missing."""
    rng = np.random.default_rng(3)
    n = 300
    store = rng.integers(1, 6, n)
    amount = rng.normal(100, 20, n).round(2)
    spend = amount * (store == 3) + rng.normal(0, 5, n)
    rows = pl.DataFrame({"store": store, "amount": amount, "spend": spend})
    rows = rows.with_columns(pl.when(pl.int_range(n) % 17 == 0).then(None).otherwise(
        pl.col("amount")).alias("amount"))  # fmt: skip
    rows.write_csv(path)
    return path


def test_parity_proves_every_wire_path_and_says_so(cli: Cli, data_dir: Path) -> None:
    run = cli("train", str(data_dir / "mixed.csv"), "--target", "label", "--model",
              "decision_tree", "--json")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    parity = run.json()["parity"]
    assert parity["passed"]
    assert parity["paths"] == WIRE
    text = cli("train", str(data_dir / "mixed.csv"), "--target", "label", "--model", "logistic")
    assert "as served (V2 JSON and binary, V1)" in text.stdout


def test_integer_codes_declared_categorical_train_and_answer_alike(
    cli: Cli, tmp_path: Path
) -> None:
    """The client once sent integer columns as FP64, so 3 arrived as "3.0", never a known
    category: the wire check in parity now refuses such a drift before anything is stored."""
    data = _codes_csv(tmp_path / "spend.csv")
    run = cli("train", str(data), "--target", "spend", "--categorical", "store",
              "--model", "decision_tree", "--json")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    assert run.json()["parity"]["paths"] == WIRE
    model = tabforge.load("spend", registry=tmp_path / "models")
    rows = pl.read_csv(data, schema_overrides={"store": pl.Int64}).head(20)
    # What the Python client sends for these rows decodes to the API's own feed.
    body = {"inputs": v2client.column_inputs(rows.select("store", "amount"))}
    sent = v2.assemble(v2.decode_request(msgspec.json.encode(body)), model.manifest.inputs,
                       max_rows=100)  # fmt: skip
    direct = encode_strict(rows, model.manifest.inputs)
    assert sent.keys() == direct.keys()
    assert np.array_equal(sent["numeric"], direct["numeric"], equal_nan=True)
    assert (sent["categorical"] == direct["categorical"]).all()
    assert set(direct["categorical"][:, 0]) <= {"1", "2", "3", "4", "5"}
