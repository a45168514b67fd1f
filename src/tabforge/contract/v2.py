"""Open Inference Protocol (V2) REST, the contract on the wire: request decoding and
response encoding. The server's endpoints and the parity check both run these.

Two ways to send rows: the model's own tensors (``numeric`` FP32 [N, k], ``categorical``
BYTES [N, m]), or one input per column name (MLServer's pandas convention), which is
assembled into the same tensors by the shared codec.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import msgspec
import numpy as np
import polars as pl

from tabforge.contract.binary import binary_tensor
from tabforge.contract.encode import encode_strict
from tabforge.contract.manifest import Inputs, Manifest
from tabforge.contract.tensors import CATEGORICAL_INPUT, NUMERIC_INPUT
from tabforge.errors import DataError, PayloadTooLarge

WIRE_TYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": object,
}


# Documented, not enforced by the decoder: tensor() refuses these with clearer messages.
WireDatatype = Annotated[str, msgspec.Meta(extra_json_schema={"enum": list(WIRE_TYPES)})]
Size = Annotated[int, msgspec.Meta(extra_json_schema={"minimum": 0})]


class RequestInput(msgspec.Struct, forbid_unknown_fields=False):
    name: str
    shape: list[Size]
    datatype: WireDatatype
    data: Any = None  # absent when the tensor travels as binary
    parameters: dict[str, Any] | None = None

    def check_shape(self) -> None:
        if not self.shape or any(d < 0 for d in self.shape):
            raise DataError(f"input {self.name!r}: shape {self.shape} must have sizes >= 0")


class RequestOutput(msgspec.Struct):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(msgspec.Struct):
    inputs: list[RequestInput]
    id: str | None = None
    parameters: dict[str, Any] | None = None
    outputs: list[RequestOutput] | None = None


class ResponseOutput(msgspec.Struct, omit_defaults=True):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any] | None = None  # absent when the tensor travels as binary
    parameters: dict[str, Any] | None = None


class InferenceResponse(msgspec.Struct, omit_defaults=True):
    model_name: str
    model_version: str
    outputs: list[ResponseOutput]
    id: str | None = None
    parameters: dict[str, Any] | None = None


_decoder = msgspec.json.Decoder(InferenceRequest)
encoder = msgspec.json.Encoder()


def decode_json(body: bytes, decoder: msgspec.json.Decoder[Any], what: str) -> Any:
    """Strict and fast first; then the NaN/Infinity tokens real clients send.

    tritonclient (and Python's json.dumps) write a missing float as a bare ``NaN``, which
    strict JSON forbids; such bodies take the slower standard-library parser.
    """
    try:
        return decoder.decode(body)
    except RecursionError as exc:
        raise DataError("malformed JSON: nested too deeply") from exc
    except msgspec.ValidationError as exc:
        raise DataError(f"invalid {what}: {exc}") from exc
    except msgspec.DecodeError as exc:
        try:
            loose = json.loads(body)
        except (ValueError, RecursionError):
            raise DataError(f"malformed JSON: {exc}") from exc
        try:
            return msgspec.convert(loose, decoder.type)
        except msgspec.ValidationError as invalid:
            raise DataError(f"invalid {what}: {invalid}") from invalid


def decode_request(body: bytes) -> InferenceRequest:
    if not body.strip():
        raise DataError("empty request body: expected a JSON inference request")
    request: InferenceRequest = decode_json(body, _decoder, "inference request")
    if not request.inputs:
        raise DataError("the request has no inputs")
    names = [i.name for i in request.inputs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(f"duplicate input names: {', '.join(dupes)}")
    return request


def _flatten(data: Any) -> list[Any]:
    """Nested lists, row-major, into one flat list (iterative: any depth is safe)."""
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        else:
            out.append(item)
    return out


_END = object()


def tensor(
    inp: RequestInput, *, max_rows: int, binary: dict[str, np.ndarray] | None = None
) -> np.ndarray:
    """One input as a numpy array of its declared shape and datatype."""
    dtype = WIRE_TYPES.get(inp.datatype)
    if dtype is None:
        raise DataError(
            f"input {inp.name!r}: unknown datatype {inp.datatype!r} "
            f"(use one of {', '.join(WIRE_TYPES)})"
        )
    inp.check_shape()
    if inp.shape[0] > max_rows:
        raise PayloadTooLarge(
            f"input {inp.name!r}: {inp.shape[0]} rows, over the limit of {max_rows}"
        )
    expected = math.prod(inp.shape)
    if expected > max_rows * 10_000:
        raise PayloadTooLarge(f"input {inp.name!r}: shape {inp.shape} is too large")
    if binary is not None and inp.name in binary:
        arr = binary[inp.name]
        if arr.dtype.kind == "f" and np.isinf(arr).any():
            raise DataError(f"input {inp.name!r} holds Infinity; send NaN for a missing value")
        return arr
    if inp.data is None:
        raise DataError(f"input {inp.name!r} has no data")
    if dtype is object:
        values = _flatten(inp.data)
        _check_count(inp, len(values), expected)
        bad = next((v for v in values if v is not None and not isinstance(v, str)), None)
        if bad is not None:
            raise DataError(f"input {inp.name!r}: BYTES data must be strings, got {bad!r}")
        return np.array(values, dtype=object).reshape(inp.shape)
    target = np.float32 if dtype in (np.float16, np.float32) else dtype
    try:
        # One numpy call over the decoded (possibly nested) lists: no per-element work
        # in Python; null becomes NaN (missing) for floats.
        arr = np.array(inp.data, dtype=target)
    except (TypeError, ValueError, OverflowError) as exc:
        values = _flatten(inp.data)
        sample = next((v for v in values if isinstance(v, (str, list, dict))), None)
        if sample is None and len(values) != expected:
            _check_count(inp, len(values), expected)
        what = f"{sample!r}" if sample is not None else "a value that does not fit"
        raise DataError(f"input {inp.name!r}: {inp.datatype} data holds {what}") from exc
    _check_count(inp, arr.size, expected)
    # One sum first: it is finite unless some value is Infinity or NaN (or the sum is too
    # large), and only then is each value looked at.
    if arr.dtype.kind == "f" and not math.isfinite(arr.sum()) and np.isinf(arr).any():
        raise DataError(f"input {inp.name!r} holds Infinity; send null or NaN for a missing value")
    return arr.reshape(inp.shape)


def _check_count(inp: RequestInput, got: int, expected: int) -> None:
    if got != expected:
        raise DataError(f"input {inp.name!r}: shape {inp.shape} needs {expected} values, got {got}")


def assemble(
    request: InferenceRequest,
    inputs: Inputs,
    *,
    max_rows: int,
    binary: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The onnxruntime feed, from grouped tensors or from one input per column."""
    names = [i.name for i in request.inputs]
    plan = _plan(inputs)
    if all(n in plan.grouped for n in names):  # the usual request: the model's tensors
        return _grouped(request, inputs, plan, max_rows=max_rows, binary=binary)
    columns, tensor_names = plan.columns, plan.tensors
    unknown = [n for n in names if n not in columns and n not in tensor_names]
    if unknown:
        raise DataError(
            f"unknown input {unknown[0]!r}; send the tensors {sorted(tensor_names)} or one "
            f"input per column: {', '.join(columns)}"
        )
    if any(n in tensor_names and n not in columns for n in names):
        raise DataError("send either the model's tensors or one input per column, not both")
    arrays: dict[str, np.ndarray] = {}
    rows: set[int] = set()
    for inp in request.inputs:
        arr = tensor(inp, max_rows=max_rows, binary=binary)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise DataError(f"input {inp.name!r}: a column must have shape [N] or [N, 1]")
        arrays[inp.name] = arr
        rows.add(len(arr))
    if len(rows) > 1:
        raise DataError(f"inputs disagree on the number of rows: {sorted(rows)}")
    frame = pl.DataFrame({k: pl.Series(k, v, strict=False) for k, v in arrays.items()})
    return encode_strict(frame, inputs)


class _Plan:
    """What validating a request against a version's inputs needs, worked out once."""

    def __init__(self, inputs: Inputs) -> None:
        self.columns = {*inputs.numeric, *inputs.categorical}
        self.tensors = {t.name for t in inputs.tensors}
        self.grouped = self.tensors - self.columns  # tensor names that are not column names
        self.widths = {NUMERIC_INPUT: len(inputs.numeric),
                       CATEGORICAL_INPUT: len(inputs.categorical)}  # fmt: skip


_PLANS: dict[int, tuple[Inputs, _Plan]] = {}  # id -> (the inputs, kept so the id stays theirs)


def _plan(inputs: Inputs) -> _Plan:
    found = _PLANS.get(id(inputs))
    if found is None or found[0] is not inputs:
        if len(_PLANS) >= 256:
            _PLANS.clear()
        found = _PLANS[id(inputs)] = (inputs, _Plan(inputs))
    return found[1]


def _grouped(
    request: InferenceRequest,
    inputs: Inputs,
    plan: _Plan,
    *,
    max_rows: int,
    binary: dict[str, np.ndarray] | None,
) -> dict[str, np.ndarray]:
    feed: dict[str, np.ndarray] = {}
    for inp in request.inputs:
        arr = tensor(inp, max_rows=max_rows, binary=binary)
        width = plan.widths[inp.name]
        if arr.ndim != 2 or arr.shape[1] != width:
            raise DataError(
                f"input {inp.name!r}: shape must be [N, {width}], got {list(arr.shape)}"
            )
        if inp.name == NUMERIC_INPUT:
            if arr.dtype == object:
                raise DataError("input 'numeric' must be a numeric datatype (FP32), not BYTES")
            feed[inp.name] = np.ascontiguousarray(arr, dtype=np.float32)
        else:
            if arr.dtype != object:
                raise DataError("input 'categorical' must be BYTES")
            nulls = np.array([v is None for v in arr.reshape(-1)]).reshape(arr.shape)
            if nulls.any():
                arr = arr.copy()
                arr[nulls] = inputs.missing_text
            feed[inp.name] = arr
    missing = [t.name for t in inputs.tensors if t.name not in feed]
    if missing:
        raise DataError(f"missing input tensor {missing[0]!r}")
    if len({len(v) for v in feed.values()}) > 1:
        raise DataError("inputs disagree on the number of rows")
    return feed


def response(
    request: InferenceRequest,
    name: str,
    version: int,
    outputs: dict[str, np.ndarray],
    manifest: Manifest,
) -> tuple[bytes, int | None]:
    """The encoded response and, when tensors travel as binary, the JSON header's length."""
    wanted = [o.name for o in request.outputs] if request.outputs else list(outputs)
    unknown = [w for w in wanted if w not in outputs]
    if unknown:
        raise DataError(f"unknown output {unknown[0]!r}; outputs: {', '.join(outputs)}")
    all_binary = bool((request.parameters or {}).get("binary_data_output"))
    as_binary = {o.name for o in request.outputs or () if (o.parameters or {}).get("binary_data")}
    types = {t.name: t.datatype for t in manifest.outputs.tensors}
    blobs: list[bytes] = []
    encoded = []
    for w in wanted:
        arr = outputs[w]
        datatype = types[w]
        if all_binary or w in as_binary:
            blob = binary_tensor(arr, datatype)
            blobs.append(blob)
            encoded.append(
                ResponseOutput(
                    name=w, shape=list(arr.shape), datatype=datatype,
                    parameters={"binary_data_size": len(blob)},
                )
            )  # fmt: skip
        else:
            encoded.append(
                ResponseOutput(name=w, shape=list(arr.shape), datatype=datatype,
                               data=arr.reshape(-1).tolist())
            )  # fmt: skip
    head = encoder.encode(
        InferenceResponse(
            model_name=name, model_version=str(version), id=request.id, outputs=encoded
        )
    )
    if not blobs:
        return head, None
    return b"".join([head, *blobs]), len(head)


class MetadataTensor(msgspec.Struct):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(msgspec.Struct):
    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]
    parameters: dict[str, Any]


def metadata(name: str, versions: list[int], manifest: Manifest) -> ModelMetadata:
    inputs = manifest.inputs
    return ModelMetadata(
        name=name,
        versions=[str(v) for v in versions],
        platform="onnx_onnxv1",
        inputs=[MetadataTensor(t.name, t.datatype, t.shape) for t in inputs.tensors],
        outputs=[MetadataTensor(t.name, t.datatype, t.shape) for t in manifest.outputs.tensors],
        parameters={
            "task": manifest.task,
            "version": str(manifest.version),
            "numeric_columns": inputs.numeric,
            "categorical_columns": inputs.categorical,
            "classes": manifest.outputs.classes,
        },
    )
