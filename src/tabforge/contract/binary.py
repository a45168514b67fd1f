"""The binary tensor data extension of Open Inference Protocol V2 (what tritonclient sends).

A request's JSON header is followed by raw tensors: ``Inference-Header-Content-Length``
says where the JSON ends, and each input's ``binary_data_size`` parameter how many bytes
are its own. Numbers travel little-endian; BYTES as a uint32 length before each element.
Inputs are numpy views over the body: no copies.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from tabforge.errors import DataError

if TYPE_CHECKING:
    from tabforge.contract.v2 import InferenceRequest


def split_body(body: bytes, header_length: str) -> tuple[bytes, memoryview]:
    """The JSON header and the binary section of a body, as the header length says."""
    if not header_length.isdigit() or int(header_length) > len(body):
        raise DataError(
            f"Inference-Header-Content-Length {header_length!r} does not fit a body "
            f"of {len(body)} bytes"
        )
    split = int(header_length)
    return body[:split], memoryview(body)[split:]


LITTLE_ENDIAN: dict[str, str] = {
    "BOOL": "|b1", "INT8": "|i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8",
    "UINT8": "|u1", "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8",
    "FP16": "<f2", "FP32": "<f4", "FP64": "<f8",
}  # fmt: skip


def binary_inputs(request: InferenceRequest, blob: memoryview) -> dict[str, np.ndarray]:
    """Inputs sent in the binary section, in request order; views over the body, no copies."""
    out: dict[str, np.ndarray] = {}
    offset = 0
    for inp in request.inputs:
        size = (inp.parameters or {}).get("binary_data_size")
        if size is None:
            continue
        if not isinstance(size, int) or size < 0:
            raise DataError(f"input {inp.name!r}: binary_data_size must be a byte count")
        if offset + size > len(blob):
            raise DataError(
                f"input {inp.name!r}: binary_data_size {size} runs past the end of the body "
                f"({len(blob) - offset} bytes left)"
            )
        chunk = blob[offset : offset + size]
        offset += size
        inp.check_shape()
        count = math.prod(inp.shape)
        if inp.datatype == "BYTES":
            out[inp.name] = _bytes_elements(inp.name, chunk, count).reshape(inp.shape)
            continue
        dtype = LITTLE_ENDIAN.get(inp.datatype)
        if dtype is None:
            raise DataError(f"input {inp.name!r}: unknown datatype {inp.datatype!r}")
        if size != count * np.dtype(dtype).itemsize:
            raise DataError(
                f"input {inp.name!r}: shape {inp.shape} {inp.datatype} needs "
                f"{count * np.dtype(dtype).itemsize} bytes, binary_data_size is {size}"
            )
        out[inp.name] = np.frombuffer(chunk, dtype=dtype).reshape(inp.shape)
    if offset != len(blob):
        raise DataError(f"the binary section has {len(blob) - offset} bytes no input claims")
    return out


def _bytes_elements(name: str, chunk: memoryview, count: int) -> np.ndarray:
    """BYTES in the binary section: each element is a uint32 length then its bytes."""
    values = []
    pos = 0
    raw = bytes(chunk)
    for _ in range(count):
        if pos + 4 > len(raw):
            raise DataError(f"input {name!r}: binary BYTES data ends early")
        length = int.from_bytes(raw[pos : pos + 4], "little")
        pos += 4
        if pos + length > len(raw):
            raise DataError(f"input {name!r}: binary BYTES element runs past its data")
        try:
            values.append(raw[pos : pos + length].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DataError(f"input {name!r}: BYTES element is not UTF-8 text") from exc
        pos += length
    if pos != len(raw):
        raise DataError(f"input {name!r}: {len(raw) - pos} bytes left after {count} elements")
    return np.array(values, dtype=object)


def binary_tensor(arr: np.ndarray, datatype: str) -> bytes:
    if datatype == "BYTES":
        parts = []
        for value in arr.reshape(-1).tolist():
            data = str(value).encode()
            parts.append(len(data).to_bytes(4, "little"))
            parts.append(data)
        return b"".join(parts)
    return np.ascontiguousarray(arr, dtype=LITTLE_ENDIAN[datatype]).tobytes()
