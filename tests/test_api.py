"""tabforge.load(...).predict(...) for every input type; thread-safe; never unpickles."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import tabforge
from tabforge.errors import DataError, NotFoundError
from tests.e2e.server import free_port


@pytest.fixture
def frame(data_dir: Path) -> pl.DataFrame:
    return pl.read_csv(data_dir / "mixed.csv")


def test_every_input_type_gives_identical_predictions(registry: Path, frame: pl.DataFrame) -> None:
    model = tabforge.load("mixed:1", registry=registry)
    # Missing values first: numpy object arrays that start with None become polars Object columns.
    frame = frame.sort("color", "a", nulls_last=False, maintain_order=True)
    assert frame["color"][0] is None
    assert frame["a"][0] is None
    expected = model.predict(frame)
    assert expected.columns == ["label", "proba_high", "proba_low", "proba_mid"]
    assert expected.height == frame.height
    inputs = {
        "pandas": frame.to_pandas(),
        "pyarrow": frame.to_arrow(),
        "dict": frame.to_dict(as_series=False),
        "records": frame.to_dicts(),
        "columns only": frame.select(model.schema.columns),
        "numpy object arrays": {
            c: np.array(frame[c].to_list(), dtype=object) for c in frame.columns
        },
    }
    for kind, data in inputs.items():
        assert_frame_equal(model.predict(data), expected, check_exact=True), kind


def test_attributes(registry: Path) -> None:
    model = tabforge.load("mixed", registry=registry)
    assert str(model.ref) == "mixed:2"
    assert model.schema.numeric == ("a", "b", "c")
    assert model.schema.categorical == ("color", "shape")
    assert model.schema.classes == ["high", "low", "mid"]
    assert model.manifest.estimator.name == "logistic"
    assert "mixed:2" in repr(model)


def test_the_manifest_gives_a_dict_and_json_as_stored(registry: Path) -> None:
    model = tabforge.load("mixed:1", registry=registry)
    stored = (registry / "mixed" / "1" / "manifest.json").read_text()
    assert model.manifest.to_json() == stored
    doc = model.manifest.to_dict()
    assert doc == json.loads(stored)
    assert json.loads(json.dumps(doc)) == doc  # plain dicts, lists and scalars
    assert doc["estimator"]["name"] == "lightgbm"


def test_a_client_of_a_server_that_is_not_running_names_its_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with tabforge.Client(url) as client, pytest.raises(tabforge.TabforgeError) as raised:
        client.predict("mixed", {"a": [1.0]})
    assert str(raised.value).startswith(f"cannot connect to a tabforge server at {url} (")
    assert str(raised.value).endswith("is `tabforge serve` running there?")


def test_missing_values_and_unseen_categories_are_fine(registry: Path) -> None:
    model = tabforge.load("mixed:1", registry=registry)
    out = model.predict(
        [
            {"a": None, "b": None, "c": None, "color": None, "shape": None},
            {"a": 1.0, "b": 50, "c": 2, "color": "purple", "shape": "star"},
        ]
    )
    assert out.height == 2
    assert set(out["label"]) <= {"high", "low", "mid"}


def test_bad_rows_are_refused_clearly(registry: Path) -> None:
    model = tabforge.load("mixed:1", registry=registry)
    with pytest.raises(DataError, match="missing required columns: 'shape'"):
        model.predict({"a": [1.0], "b": [1.0], "c": [1.0], "color": ["red"]})
    with pytest.raises(DataError, match=r"row 2: column 'b' holds 'lots', not a number"):
        model.predict({"a": [1, 2], "b": ["3", "lots"], "c": [1, 1], "color": ["red"] * 2,
                       "shape": ["sq"] * 2})  # fmt: skip
    with pytest.raises(DataError, match="cannot predict on int"):
        model.predict(42)
    with pytest.raises(NotFoundError):
        tabforge.load("mixed@production", registry=registry)


def test_one_model_shared_by_threads(registry: Path, frame: pl.DataFrame) -> None:
    model = tabforge.load("mixed:1", registry=registry)
    expected = model.predict(frame)
    chunks = [frame.slice(i, 37) for i in range(0, frame.height, 37)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(model.predict, chunks * 4))
    assert_frame_equal(pl.concat(results[: len(chunks)]), expected)
    for i, result in enumerate(results):
        assert_frame_equal(result, results[i % len(chunks)])


def test_prediction_paths_never_import_pickle_loaders(
    registry: Path, data_dir: Path, tmp_path: Path
) -> None:
    script = textwrap.dedent(f"""
        import pickle, sys
        def refuse(*args, **kwargs):
            raise AssertionError("something unpickled on a prediction path")
        pickle.load = pickle.loads = pickle.Unpickler = refuse
        try:
            import cloudpickle  # pyarrow imports it as its pickler when installed
            cloudpickle.load = cloudpickle.loads = refuse
        except ImportError:
            pass
        import tabforge
        model = tabforge.load("mixed:1", registry={str(registry)!r})
        model.predict({{"a": [1.0], "b": [2.0], "c": [0.0], "color": ["red"], "shape": ["sq"]}})
        from tabforge.cli import main
        from click.testing import CliRunner
        r = CliRunner().invoke(main, ["predict", "mixed:1", {str(data_dir / "mixed.csv")!r},
                                      "-o", {str(tmp_path / "o.parquet")!r},
                                      "--registry", {str(registry)!r}])
        assert r.exit_code == 0, r.output
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in
                        ("joblib", "sklearn", "lightgbm", "xgboost", "pandas", "skl2onnx"))
        print(",".join(loaded))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_pandas_is_only_needed_for_pandas_input(registry: Path) -> None:
    model = tabforge.load("mixed:1", registry=registry)
    out = model.predict(pd.DataFrame({"a": [1.0], "b": [2.0], "c": [0.0], "color": ["red"],
                                      "shape": [None]}))  # fmt: skip
    assert out.height == 1
