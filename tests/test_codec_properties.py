"""Property tests for the wire codecs: what is encoded decodes to the same values."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tabforge.contract.binary import binary_inputs, binary_tensor
from tabforge.contract.v2 import InferenceRequest, RequestInput, _flatten

NUMERIC = {"FP32": np.float32, "FP64": np.float64, "INT32": np.int32, "INT64": np.int64}


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(NUMERIC)),
    hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5),
    st.data(),
)
def test_numeric_binary_round_trip(
    datatype: str, shape: tuple[int, ...], data: st.DataObject
) -> None:
    dtype = NUMERIC[datatype]
    values = data.draw(hnp.arrays(dtype, shape))
    blob = binary_tensor(values, datatype)
    request = InferenceRequest(inputs=[
        RequestInput(name="x", shape=list(shape), datatype=datatype,
                     parameters={"binary_data_size": len(blob)})
    ])  # fmt: skip
    decoded = binary_inputs(request, memoryview(blob))["x"]
    np.testing.assert_array_equal(decoded, values)  # NaN compares equal here
    assert decoded.shape == values.shape


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(), min_size=0, max_size=12))
def test_bytes_binary_round_trip(strings: list[str]) -> None:
    values = np.array(strings, dtype=object)
    blob = binary_tensor(values, "BYTES")
    request = InferenceRequest(inputs=[
        RequestInput(name="s", shape=[len(strings)], datatype="BYTES",
                     parameters={"binary_data_size": len(blob)})
    ])  # fmt: skip
    assert binary_inputs(request, memoryview(blob))["s"].tolist() == strings


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=4, max_side=4)))
def test_flatten_is_row_major_like_numpy(values: npt.NDArray[np.float64]) -> None:
    flat = _flatten(values.tolist())
    assert len(flat) == values.size
    np.testing.assert_array_equal(np.array(flat, dtype=np.float64), values.reshape(-1))
