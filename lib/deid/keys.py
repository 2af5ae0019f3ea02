"""The de-identification key: a secret for keyed pseudonyms and its version.

In Azure the secret ``deid-hmac-key`` comes from Key Vault and its version is the
Key Vault secret version; locally it comes from the ``MEDLAKE_DEID_KEY`` setting.
The version is written into every instance's provenance so that output made with
a rotated key can be told apart (PS3.15 E.1.1: de-identification method).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from lib.errors import ConfigurationError

__all__ = [
    "KEYVAULT_SECRET_NAME",
    "MIN_KEY_BYTES",
    "DeidKey",
    "load_deid_key",
    "parse_key_text",
]

KEYVAULT_SECRET_NAME = "deid-hmac-key"
MIN_KEY_BYTES = 32
MAX_VERSION_CHARS = 48
DEFAULT_LOCAL_VERSION = "local"

_HEX_KEY = re.compile(r"[0-9a-fA-F]+")
# The version goes into De-identification Method (LO): no backslash (the value
# separator, PS3.5 6.4) and no control characters.
_VERSION = re.compile(r"[A-Za-z0-9._:/+=-]+")


@dataclass(frozen=True)
class DeidKey:
    """A secret of at least 32 bytes and the version that names it.

    Parameters
    ----------
    secret : bytes
        HMAC-SHA256 key; never printed (``repr`` redacts it).
    version : str
        Printable label recorded in the provenance, at most 48 characters.
    """

    secret: bytes = field(repr=False)
    version: str

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or len(self.secret) < MIN_KEY_BYTES:
            raise ValueError(
                f"the de-identification key must be at least {MIN_KEY_BYTES} bytes"
            )
        if not _VERSION.fullmatch(self.version) or len(self.version) > (
            MAX_VERSION_CHARS
        ):
            raise ValueError(
                "the key version must be 1 to 48 characters of letters, digits "
                "and ._:/+=-"
            )

    def __repr__(self) -> str:
        return f"DeidKey(version={self.version!r}, secret=<redacted>)"


def parse_key_text(text: str, setting: str) -> bytes:
    """Decode a key given as hex or base64 text.

    Parameters
    ----------
    text : str
        The secret as stored: hexadecimal, or standard/URL-safe base64.
    setting : str
        Name of the setting or secret it came from, for the error message.

    Raises
    ------
    ConfigurationError
        The text is neither encoding or decodes to fewer than 32 bytes.
    """
    text = text.strip()
    secret: bytes | None = None
    if _HEX_KEY.fullmatch(text) and len(text) % 2 == 0:
        secret = bytes.fromhex(text)
    else:
        try:
            secret = base64.b64decode(
                text.replace("-", "+").replace("_", "/"), validate=True
            )
        except (binascii.Error, ValueError):
            secret = None
    if secret is None:
        raise ConfigurationError(f"{setting} must be hex or base64 text")
    if len(secret) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"{setting} must decode to at least {MIN_KEY_BYTES} bytes "
            f"(generate one with: python -c 'import secrets; "
            f"print(secrets.token_hex(32))')"
        )
    return secret


def load_deid_key(env: Mapping[str, str]) -> DeidKey:
    """Read the key from Key Vault (Azure) or from local settings.

    Parameters
    ----------
    env : Mapping[str, str]
        Settings. ``MEDLAKE_KEYVAULT_URL`` selects Key Vault (secret
        ``deid-hmac-key`` read with ``DefaultAzureCredential``; its version is the
        key version). Otherwise ``MEDLAKE_DEID_KEY`` (hex or base64, at least 32
        bytes) and ``MEDLAKE_DEID_KEY_VERSION`` (default ``local``).

    Raises
    ------
    ConfigurationError
        Neither source is configured, or the secret is malformed.
    """
    vault_url = env.get("MEDLAKE_KEYVAULT_URL", "").strip()
    if vault_url:
        return _load_from_key_vault(vault_url)

    text = env.get("MEDLAKE_DEID_KEY", "")
    if not text.strip():
        raise ConfigurationError(
            "no de-identification key: set MEDLAKE_KEYVAULT_URL (Key Vault secret "
            f"{KEYVAULT_SECRET_NAME}) or MEDLAKE_DEID_KEY (hex or base64, at least "
            f"{MIN_KEY_BYTES} bytes) with MEDLAKE_DEID_KEY_VERSION"
        )
    version = env.get("MEDLAKE_DEID_KEY_VERSION", "").strip() or DEFAULT_LOCAL_VERSION
    secret = parse_key_text(text, "MEDLAKE_DEID_KEY")
    try:
        return DeidKey(secret=secret, version=version)
    except ValueError as exc:
        raise ConfigurationError(f"MEDLAKE_DEID_KEY_VERSION: {exc}") from exc


def _load_from_key_vault(vault_url: str) -> DeidKey:
    # Imported here so local runs and the CLI do not pay for the Azure SDK.
    from azure.core.exceptions import AzureError
    from azure.identity import DefaultAzureCredential
    from azure.keyvault.secrets import SecretClient

    client = SecretClient(vault_url=vault_url, credential=DefaultAzureCredential())
    try:
        secret = client.get_secret(KEYVAULT_SECRET_NAME)
    except AzureError as exc:
        raise ConfigurationError(
            f"cannot read secret {KEYVAULT_SECRET_NAME} from MEDLAKE_KEYVAULT_URL: "
            f"{type(exc).__name__}"
        ) from exc
    if not secret.value:
        raise ConfigurationError(f"Key Vault secret {KEYVAULT_SECRET_NAME} is empty")
    version = secret.properties.version or ""
    # Key Vault versions are 32 hex characters, well within the LO limit.
    return DeidKey(
        secret=parse_key_text(secret.value, KEYVAULT_SECRET_NAME),
        version=version,
    )
