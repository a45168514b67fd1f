"""Reading tabular files and deciding what each column is."""

from tabforge.contract.manifest import Task
from tabforge.data.load import read_table
from tabforge.data.schema import Schema, infer_schema

__all__ = ["Schema", "Task", "infer_schema", "read_table"]
