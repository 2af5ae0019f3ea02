"""load_deid_key against a local server speaking Key Vault's REST protocol.

The real ``SecretClient`` runs its full pipeline: TLS verification, the 401
challenge, a bearer token from the credential, and the secret bundle parsing.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions

from lib.deid import load_deid_key
from lib.deid.keys import KEYVAULT_SECRET_NAME
from lib.errors import ConfigurationError, TransientError
from tests.support.keyvault import (
    ACCEPTED_TOKEN,
    LocalVault,
    port_with_nothing_listening,
    running_keyvault,
)

OLD_SECRET = bytes(range(100, 132))
SECRET = bytes(range(32))
SECRET_HEX = SECRET.hex()
SECRET_BASE64 = base64.b64encode(SECRET).decode()
SECRET_BASE64URL = base64.urlsafe_b64encode(bytes(range(200, 232))).decode()


class StaticCredential:
    """A ``TokenCredential`` that hands out one fixed token and records scopes."""

    def __init__(self, token: str = ACCEPTED_TOKEN) -> None:
        self.token = token
        self.requests: list[tuple[tuple[str, ...], str | None]] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.requests.append((scopes, tenant_id))
        return AccessToken(self.token, int(time.time()) + 3600)

    def get_token_info(
        self, *scopes: str, options: TokenRequestOptions | None = None
    ) -> AccessTokenInfo:
        self.requests.append((scopes, (options or {}).get("tenant_id")))
        return AccessTokenInfo(self.token, int(time.time()) + 3600)


def client_options(vault: LocalVault, **extra: Any) -> dict[str, Any]:
    # The challenge names https://vault.azure.net, which 127.0.0.1 is not under.
    return {
        "connection_verify": vault.ca_path,
        "verify_challenge_resource": False,
        **extra,
    }


def vault_env(vault: LocalVault) -> dict[str, str]:
    return {"MEDLAKE_KEYVAULT_URL": vault.url}


@pytest.fixture
def vault() -> Iterator[LocalVault]:
    with running_keyvault(
        {KEYVAULT_SECRET_NAME: [OLD_SECRET.hex(), SECRET_HEX]}
    ) as running:
        yield running


def test_reads_latest_key_and_its_version_from_key_vault(vault: LocalVault) -> None:
    key = load_deid_key(
        vault_env(vault),
        credential=StaticCredential(),
        client_options=client_options(vault),
    )

    assert key.secret == SECRET
    assert key.version == vault.latest_version(KEYVAULT_SECRET_NAME)
    assert len(key.version) == 32


def test_answers_the_challenge_then_sends_the_bearer_token(vault: LocalVault) -> None:
    credential = StaticCredential()

    load_deid_key(
        vault_env(vault), credential=credential, client_options=client_options(vault)
    )

    assert [(r.method, r.authorized) for r in vault.requests] == [
        ("GET", False),
        ("GET", True),
    ]
    # The SDK asks for the latest version with an empty version segment.
    assert {r.path for r in vault.requests} == {f"/secrets/{KEYVAULT_SECRET_NAME}/"}
    assert all(r.query.get("api-version") for r in vault.requests)
    assert credential.requests == [
        (("https://vault.azure.net/.default",), "00000000-0000-0000-0000-000000000000")
    ]


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (SECRET_HEX, SECRET),
        (SECRET_HEX.upper(), SECRET),
        (SECRET_BASE64, SECRET),
        (SECRET_BASE64URL, bytes(range(200, 232))),
    ],
    ids=["hex", "upper-hex", "base64", "base64url"],
)
def test_accepts_the_encodings_local_settings_accept(
    stored: str, expected: bytes
) -> None:
    with running_keyvault({KEYVAULT_SECRET_NAME: [stored]}) as vault:
        key = load_deid_key(
            vault_env(vault),
            credential=StaticCredential(),
            client_options=client_options(vault),
        )
        local = load_deid_key({"MEDLAKE_DEID_KEY": stored})

    assert key.secret == expected == local.secret


def test_missing_secret_names_it_and_the_setting() -> None:
    with (
        running_keyvault({"some-other-secret": [SECRET_HEX]}) as vault,
        pytest.raises(ConfigurationError) as caught,
    ):
        load_deid_key(
            vault_env(vault),
            credential=StaticCredential(),
            client_options=client_options(vault),
        )

    message = str(caught.value)
    assert "deid-hmac-key" in message and "MEDLAKE_KEYVAULT_URL" in message
    assert "does not exist" in message


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("c0ffee" * 4, "at least 32 bytes"),
        ("not a key: " + SECRET_HEX, "hex or base64"),
    ],
    ids=["too-short", "not-an-encoding"],
)
def test_malformed_secret_is_refused_without_echoing_it(
    stored: str, expected: str
) -> None:
    with (
        running_keyvault({KEYVAULT_SECRET_NAME: [stored]}) as vault,
        pytest.raises(ConfigurationError, match=expected) as caught,
    ):
        load_deid_key(
            vault_env(vault),
            credential=StaticCredential(),
            client_options=client_options(vault),
        )

    message = str(caught.value)
    assert "deid-hmac-key" in message
    assert stored not in message and "c0ffee" not in message
    assert SECRET_HEX not in message


def test_rejected_token_is_an_authentication_error(vault: LocalVault) -> None:
    with pytest.raises(ConfigurationError, match="authentication failed") as caught:
        load_deid_key(
            vault_env(vault),
            credential=StaticCredential("wrong-token"),
            client_options=client_options(vault),
        )

    message = str(caught.value)
    assert "deid-hmac-key" in message and "MEDLAKE_KEYVAULT_URL" in message
    assert SECRET_HEX not in message and "wrong-token" not in message
    assert vault.requests and all(
        r.path == f"/secrets/{KEYVAULT_SECRET_NAME}/" for r in vault.requests
    )


def test_untrusted_certificate_is_refused(vault: LocalVault) -> None:
    # Without connection_verify the system trust store does not know the server.
    with pytest.raises(TransientError, match="MEDLAKE_KEYVAULT_URL") as caught:
        load_deid_key(
            vault_env(vault),
            credential=StaticCredential(),
            client_options={"verify_challenge_resource": False, "retry_total": 0},
        )

    assert vault.requests == []
    assert SECRET_HEX not in str(caught.value)


def test_unreachable_vault_is_transient() -> None:
    url = f"https://127.0.0.1:{port_with_nothing_listening()}"

    with pytest.raises(
        TransientError, match=r"cannot reach MEDLAKE_KEYVAULT_URL.*deid-hmac-key"
    ):
        load_deid_key(
            {"MEDLAKE_KEYVAULT_URL": url},
            credential=StaticCredential(),
            client_options={"verify_challenge_resource": False, "retry_total": 0},
        )
