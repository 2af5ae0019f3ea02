"""The exception hierarchy shared by every stage.

Layers raise these; entry points (functions, CLI, dev host) translate them. Messages
name attributes by keyword or tag and settings by name, never a patient value.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "MedlakeError",
    "StorageError",
    "TransientError",
]


class MedlakeError(Exception):
    """Base class for every error Medlake raises on purpose."""


class ConfigurationError(MedlakeError, ValueError):
    """A setting is missing or malformed; the message names the setting."""


class StorageError(MedlakeError, OSError):
    """Blob storage refused or failed an operation that should have worked."""


class TransientError(MedlakeError, RuntimeError):
    """A failure worth retrying: the event is redelivered and the stage re-runs."""
