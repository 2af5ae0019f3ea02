"""Logging set-up for the dev host's entry points (the CLI and each worker)."""

from __future__ import annotations

import logging
import sys

__all__ = ["configure_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s [%(processName)s] %(name)s: %(message)s"

# Loggers that would write URLs (which contain blob names, and blob names may
# contain patient names) or request lines at INFO.
_QUIET_LOGGERS = ("azure", "aiohttp.access", "urllib3")


def configure_logging(level: int = logging.INFO) -> None:
    """Send log records to stderr, one line each, without URL-logging libraries."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
