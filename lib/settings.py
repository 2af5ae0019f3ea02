"""Every setting the app reads, parsed once and validated on construction.

Settings come from the process environment: the Functions host fills it from the
Function App's application settings in Azure and from ``local.settings.json``
locally (the dev host loads that file). ``local.settings.sample.json`` lists them
all and the README documents each one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from lib.errors import ConfigurationError

__all__ = ["AZURITE_CONNECTION_STRING", "Settings", "read_bool", "read_int"]

# Azurite's well-known development account (documented publicly by Microsoft;
# not a secret). Used only when no storage setting is given.
AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/"
    "K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
)

MIB = 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 2048 * MIB
DEFAULT_SPOOL_THRESHOLD_BYTES = 64 * MIB
DEFAULT_CLOSING_WAIT_MS = 100


def read_int(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    """Integer setting ``name``; ``default`` when unset; an error names it."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        # The value is not echoed: a mistyped setting may be a secret.
        raise ConfigurationError(f"setting {name} must be an integer") from exc
    if value < minimum:
        raise ConfigurationError(f"setting {name} must be at least {minimum}")
    return value


def read_bool(env: Mapping[str, str], name: str) -> bool:
    """Boolean setting ``name`` (true/false, 1/0, yes/no, on/off); false if unset."""
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigurationError(f"setting {name} must be true or false")


@dataclass(frozen=True)
class Settings:
    """The app's configuration.

    Parameters
    ----------
    storage_connection_string : str
        Connection string of the storage account holding every container.
        Empty when ``storage_account_url`` is used with a managed identity.
    storage_account_url : str
        Blob endpoint for identity-based access (``DefaultAzureCredential``).
    storage_api_version : str
        Blob REST API version to pin, or empty for the SDK default.
    max_upload_bytes : int
        Uploads larger than this are quarantined with ``SIZE_LIMIT_EXCEEDED``.
    spool_threshold_bytes : int
        Blobs up to this size are processed in memory; larger ones are streamed
        through a temporary file so memory stays bounded.
    validation_policy : str
        Overrides of the default verdict per finding code, ``CODE=reject|warn|pass``
        separated by commas.
    outcome_topic_endpoint, outcome_topic_key : str
        Event Grid topic that receives ``Medlake.Instance*`` outcome events.
        Empty endpoint: outcomes are only logged.
    dev_mode : bool
        Enables development-only behaviour (dev token issuer, fault injection).
    faults : str
        Dev mode only: fault points to trigger, ``POINT:COUNT`` comma-separated.
    fault_state_dir : str
        Dev mode only: folder that counts injected faults across processes.
    storage_proxy_from_env : bool
        Let the pipeline's storage clients honour ``HTTP(S)_PROXY``; off by
        default (see ``lib.storage.clients``).
    closing_wait_ms : int
        How long an upload's closing writes may wait for those of uploads still
        in progress in the same process, to share one request (0: never wait;
        see ``lib.ingest.group``).
    """

    storage_connection_string: str = AZURITE_CONNECTION_STRING
    storage_account_url: str = ""
    storage_api_version: str = ""
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    spool_threshold_bytes: int = DEFAULT_SPOOL_THRESHOLD_BYTES
    validation_policy: str = ""
    outcome_topic_endpoint: str = ""
    outcome_topic_key: str = ""
    dev_mode: bool = False
    faults: str = ""
    fault_state_dir: str = ""
    storage_proxy_from_env: bool = False
    closing_wait_ms: int = DEFAULT_CLOSING_WAIT_MS

    def __post_init__(self) -> None:
        if not self.storage_connection_string and not self.storage_account_url:
            raise ConfigurationError(
                "set MEDLAKE_STORAGE_CONNECTION (or AzureWebJobsStorage) or "
                "MEDLAKE_STORAGE_ACCOUNT_URL"
            )
        if self.faults and not self.dev_mode:
            raise ConfigurationError(
                "MEDLAKE_FAULTS is honoured only with MEDLAKE_DEV_MODE=true"
            )
        if self.outcome_topic_endpoint and not self.outcome_topic_key:
            raise ConfigurationError(
                "MEDLAKE_OUTCOME_TOPIC_KEY is required with "
                "MEDLAKE_OUTCOME_TOPIC_ENDPOINT"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (the process environment by default)."""
        env = os.environ if env is None else env
        connection = env.get("MEDLAKE_STORAGE_CONNECTION") or env.get(
            "AzureWebJobsStorage", ""
        )
        if connection == "UseDevelopmentStorage=true":
            connection = AZURITE_CONNECTION_STRING
        account_url = env.get("MEDLAKE_STORAGE_ACCOUNT_URL", "")
        if not connection and not account_url:
            connection = AZURITE_CONNECTION_STRING
        return cls(
            storage_connection_string=connection,
            storage_account_url=account_url,
            storage_api_version=env.get("MEDLAKE_STORAGE_API_VERSION", ""),
            max_upload_bytes=read_int(
                env, "MEDLAKE_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES, 1
            ),
            spool_threshold_bytes=read_int(
                env, "MEDLAKE_SPOOL_THRESHOLD_BYTES", DEFAULT_SPOOL_THRESHOLD_BYTES, 0
            ),
            validation_policy=env.get("MEDLAKE_VALIDATION_POLICY", ""),
            outcome_topic_endpoint=env.get("MEDLAKE_OUTCOME_TOPIC_ENDPOINT", ""),
            outcome_topic_key=env.get("MEDLAKE_OUTCOME_TOPIC_KEY", ""),
            dev_mode=read_bool(env, "MEDLAKE_DEV_MODE"),
            faults=env.get("MEDLAKE_FAULTS", ""),
            fault_state_dir=env.get("MEDLAKE_FAULT_STATE_DIR", ""),
            storage_proxy_from_env=read_bool(env, "MEDLAKE_STORAGE_PROXY_FROM_ENV"),
            closing_wait_ms=read_int(
                env, "MEDLAKE_CLOSING_WAIT_MS", DEFAULT_CLOSING_WAIT_MS, 0
            ),
        )
