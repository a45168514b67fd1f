"""The model I/O contract, in one place: manifest types, tensor names and specs, rows ->
feed, outputs -> frame. Training, export, parity, runtime, batch scoring, the API, the
client and the server import it; none of them import each other for it.
"""

from tabforge.contract.encode import (
    BadValues,
    check_columns,
    empty_feed,
    encode,
    encode_strict,
    missing_columns,
    probe_feed,
    quoted,
    to_frame,
)
from tabforge.contract.manifest import (
    DATATYPES,
    TASKS,
    Datatype,
    Estimator,
    Inputs,
    Manifest,
    Outputs,
    Task,
    TensorSpec,
    sha256_bytes,
)
from tabforge.contract.outputs import empty_outputs, outputs_frame, score_columns
from tabforge.contract.reference import ColumnReference, Reference
from tabforge.contract.tensors import (
    CATEGORICAL_INPUT,
    MISSING_TEXT,
    NUMERIC_INPUT,
    NUMPY_TYPES,
    Tensors,
    input_specs,
    inputs,
    outputs,
)

__all__ = [
    "CATEGORICAL_INPUT",
    "DATATYPES",
    "MISSING_TEXT",
    "NUMERIC_INPUT",
    "NUMPY_TYPES",
    "TASKS",
    "BadValues",
    "ColumnReference",
    "Datatype",
    "Estimator",
    "Inputs",
    "Manifest",
    "Outputs",
    "Reference",
    "Task",
    "TensorSpec",
    "Tensors",
    "check_columns",
    "empty_feed",
    "empty_outputs",
    "encode",
    "encode_strict",
    "input_specs",
    "inputs",
    "missing_columns",
    "outputs",
    "outputs_frame",
    "probe_feed",
    "quoted",
    "score_columns",
    "sha256_bytes",
    "to_frame",
]
