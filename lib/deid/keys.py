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
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lib.errors import ConfigurationError, TransientError

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

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


def load_deid_key(
    env: Mapping[str, str],
    *,
    credential: TokenCredential | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> DeidKey:
    """Read the key from Key Vault (Azure) or from local settings.

    Parameters
    ----------
    env : Mapping[str, str]
        Settings. ``MEDLAKE_KEYVAULT_URL`` selects Key Vault (secret
        ``deid-hmac-key``, hex or base64; its latest version is read and the
        Key Vault version id is the key version). Otherwise ``MEDLAKE_DEID_KEY``
        (hex or base64, at least 32 bytes) and ``MEDLAKE_DEID_KEY_VERSION``
        (default ``local``).
    credential : TokenCredential, optional
        Credential for Key Vault; ``DefaultAzureCredential`` when omitted (as in
        production). Unused without ``MEDLAKE_KEYVAULT_URL``.
    client_options : Mapping[str, Any], optional
        Keyword arguments for ``SecretClient``, such as ``connection_verify`` or
        ``retry_total``. Unused without ``MEDLAKE_KEYVAULT_URL``.

    Raises
    ------
    ConfigurationError
        Neither source is configured, the secret is missing, malformed or empty,
        or Key Vault refuses the credential.
    TransientError
        Key Vault could not be reached or failed on its side; worth retrying.
    """
    vault_url = env.get("MEDLAKE_KEYVAULT_URL", "").strip()
    if vault_url:
        return _load_from_key_vault(vault_url, credential, client_options or {})

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


def _load_from_key_vault(
    vault_url: str,
    credential: TokenCredential | None,
    client_options: Mapping[str, Any],
) -> DeidKey:
    # Imported here so local runs and the CLI do not pay for the Azure SDK.
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.keyvault.secrets import SecretClient

    source = f"Key Vault secret {KEYVAULT_SECRET_NAME} (MEDLAKE_KEYVAULT_URL)"
    with ExitStack() as stack:
        # A credential made here is closed here; a caller's stays the caller's.
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = stack.enter_context(DefaultAzureCredential())
        client = stack.enter_context(
            SecretClient(vault_url=vault_url, credential=credential, **client_options)
        )
        try:
            secret = client.get_secret(KEYVAULT_SECRET_NAME)
        except ResourceNotFoundError as exc:
            raise ConfigurationError(
                f"{source} does not exist: create it (hex or base64, at least "
                f"{MIN_KEY_BYTES} bytes) or correct MEDLAKE_KEYVAULT_URL"
            ) from exc
        except ClientAuthenticationError as exc:
            # Raised both by the credential (no identity available) and for a 401
            # that survives Key Vault's challenge, i.e. a token the vault rejects.
            raise ConfigurationError(
                f"cannot read {source}: authentication failed "
                f"({type(exc).__name__}); check the managed identity or "
                "DefaultAzureCredential settings"
            ) from exc
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise TransientError(
                f"cannot reach MEDLAKE_KEYVAULT_URL to read {KEYVAULT_SECRET_NAME}: "
                f"{type(exc).__name__}"
            ) from exc
        except HttpResponseError as exc:
            status = exc.status_code or 0
            error_code = exc.error.code if exc.error is not None else None
            detail = f"HTTP {status}" + (f" {error_code}" if error_code else "")
            if status == 429 or status >= 500:
                raise TransientError(
                    f"Key Vault at MEDLAKE_KEYVAULT_URL failed to return "
                    f"{KEYVAULT_SECRET_NAME}: {detail}"
                ) from exc
            if status == 403:
                raise ConfigurationError(
                    f"cannot read {source}: access denied ({detail}); grant the "
                    "identity the Key Vault Secrets User role or get permission"
                ) from exc
            raise ConfigurationError(f"cannot read {source}: {detail}") from exc
        except AzureError as exc:
            raise ConfigurationError(
                f"cannot read {source}: {type(exc).__name__}"
            ) from exc

    if not secret.value:
        raise ConfigurationError(f"{source} is empty")
    key_bytes = parse_key_text(secret.value, source)
    # Key Vault versions are 32 hex characters, well within the LO limit.
    try:
        return DeidKey(secret=key_bytes, version=secret.properties.version or "")
    except ValueError as exc:
        raise ConfigurationError(f"{source} has no usable version: {exc}") from exc
