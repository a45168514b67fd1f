"""The model registry: immutable, versioned artifacts with aliases, on disk or on S3."""

from tabforge.registry.backends import open_registry
from tabforge.registry.base import Registry
from tabforge.registry.policy import ServingPolicy
from tabforge.registry.refs import ModelRef, validate_alias, validate_name
from tabforge.registry.store import FilesystemRegistry

__all__ = [
    "FilesystemRegistry",
    "ModelRef",
    "Registry",
    "ServingPolicy",
    "open_registry",
    "validate_alias",
    "validate_name",
]
