"""Where the Delta tables live and how delta-rs reaches them.

delta-rs talks to Blob Storage through the Rust ``object_store`` crate, which
takes its own options rather than an Azure SDK client. They are derived here, in
one place, from the same settings the blob clients use:

- a connection string with an account key (Azurite locally, or a key in Azure):
  ``account_name`` and ``account_key``, plus ``azure_storage_endpoint`` when the
  string names a ``BlobEndpoint``. Azurite on a random port needs the endpoint:
  the ``azure_storage_use_emulator`` option always means port 10000;
- an account URL (managed identity): a bearer token from
  ``DefaultAzureCredential``, fetched per call so it never outlives its hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from lib.errors import ConfigurationError
from lib.settings import Settings
from lib.storage import LAKE

__all__ = ["STAGING_PREFIX", "TABLES_PREFIX", "LakeLocation"]

TABLES_PREFIX = "tables"
STAGING_PREFIX = "staging"
LOCK_PREFIX = "_locks"
STORAGE_SCOPE = "https://storage.azure.com/.default"


def _parse_connection_string(connection_string: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for item in connection_string.split(";"):
        if "=" in item:
            key, _, value = item.partition("=")
            parts[key.strip().lower()] = value.strip()
    return parts


@dataclass(frozen=True)
class LakeLocation:
    """The ``lake`` container of one account, as delta-rs addresses it.

    Parameters
    ----------
    settings : Settings
        Storage settings (connection string or account URL).
    """

    settings: Settings

    def table_uri(self, table: str) -> str:
        """``az://lake/tables/{table}``: the account is in the storage options."""
        return f"az://{LAKE}/{TABLES_PREFIX}/{table}"

    def storage_options(self) -> dict[str, str]:
        """``object_store`` options for the account.

        Raises
        ------
        ConfigurationError
            The connection string carries no account key (SAS strings are not
            supported by the lake) or the account URL names no account.
        """
        connection = self.settings.storage_connection_string
        if connection:
            return self._key_options(connection)
        return self._identity_options(self.settings.storage_account_url)

    @staticmethod
    def _key_options(connection: str) -> dict[str, str]:
        parts = _parse_connection_string(connection)
        name, key = parts.get("accountname"), parts.get("accountkey")
        if not name or not key:
            raise ConfigurationError(
                "MEDLAKE_STORAGE_CONNECTION must carry AccountName and AccountKey "
                "for the lake, or use MEDLAKE_STORAGE_ACCOUNT_URL"
            )
        options = {"account_name": name, "account_key": key}
        endpoint = parts.get("blobendpoint", "").rstrip("/")
        if endpoint:
            options["azure_storage_endpoint"] = endpoint
            if endpoint.startswith("http://"):
                options["allow_http"] = "true"
        return options

    @staticmethod
    def _identity_options(account_url: str) -> dict[str, str]:
        host = urlparse(account_url).hostname or ""
        name = host.split(".", 1)[0]
        if not name:
            raise ConfigurationError(
                "MEDLAKE_STORAGE_ACCOUNT_URL must be https://ACCOUNT.blob.core..."
            )
        from azure.identity import DefaultAzureCredential

        token = DefaultAzureCredential().get_token(STORAGE_SCOPE).token
        return {"account_name": name, "bearer_token": token}
