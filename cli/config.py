"""Settings for CLI runs: the environment, then ``local.settings.json``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lib.errors import ConfigurationError
from lib.settings import Settings

LOCAL_SETTINGS = Path("local.settings.json")


def load_env(settings_file: Path | None = LOCAL_SETTINGS) -> dict[str, str]:
    """The process environment over the ``Values`` of a Functions settings file.

    Real environment variables win, as with Azure Functions Core Tools.
    """
    env: dict[str, str] = {}
    if settings_file is not None and settings_file.is_file():
        try:
            values = json.loads(settings_file.read_text()).get("Values", {})
        except (ValueError, AttributeError) as exc:
            raise ConfigurationError(
                f"{settings_file} is not a valid settings file (JSON with 'Values')"
            ) from exc
        env.update({str(k): str(v) for k, v in values.items()})
    env.update(os.environ)
    return env


def load_settings(
    settings_file: Path | None = LOCAL_SETTINGS, connection_string: str | None = None
) -> Settings:
    env = load_env(settings_file)
    if connection_string:
        env["MEDLAKE_STORAGE_CONNECTION"] = connection_string
    return Settings.from_env(env)
