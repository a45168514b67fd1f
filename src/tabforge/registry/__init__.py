"""The model registry: immutable, versioned artifacts with aliases, on disk."""

from tabforge.registry.policy import ServingPolicy
from tabforge.registry.refs import ModelRef, validate_alias, validate_name
from tabforge.registry.store import FilesystemRegistry

__all__ = ["FilesystemRegistry", "ModelRef", "ServingPolicy", "validate_alias", "validate_name"]
