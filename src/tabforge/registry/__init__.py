"""The model registry: immutable, versioned artifacts on disk."""

from tabforge.registry.store import FilesystemRegistry, validate_name

__all__ = ["FilesystemRegistry", "validate_name"]
